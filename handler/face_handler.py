"""TorchServe handler for `face-verify` and `face-embed`: decode, detect, align, embed, verify.
`face-gallery` (the worker that owns the galleries: enrol, identify) is this handler too, its
actions in handler/gallery.py.

One request = one handler call (batch size 1), but a list of requests is handled too, each
with its own status. preprocess decodes every photo and detects/aligns its faces (model/),
inference embeds every face of every request in ONE batched forward pass, postprocess scores
and writes the JSON. A test photo that cannot be used gets its own `error` in its result;
other client errors become 4xx JSON {"error", "message"}; nothing a client sends can take
the worker down. Contract and limits: handler/protocol.py, docs/serving.md.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler

from handler.gallery_protocol import parse_gallery
from handler.protocol import PHOTO_ERRORS, Photo, RequestError, Settings, parse_embed, parse_verify
from model.detection import FaceDetector, yunet_model_path
from model.embedder import ModelFacts, load_backbone
from model.image_io import ImageError
from model.onnx_embedder import engine_embedder
from model.pipeline import FacePipeline

logger = logging.getLogger(__name__)


class FaceHandler(BaseHandler):
    def initialize(self, context) -> None:
        """Weights = the .mar's serialized file; YuNet = the .mar's extra ONNX file (the
        installed package's copy when run outside an archive, e.g. in tests)."""
        self.context, self.manifest = context, context.manifest
        model_dir = Path(context.system_properties["model_dir"])
        self.name = self.manifest["model"]["modelName"]
        self.settings = Settings.load(getattr(context, "model_yaml_config", None), os.environ)
        self.mode = self.settings.mode_for(self.name)
        torch.set_num_threads(self.settings.threads)
        backbone, meta = load_backbone(model_dir / self.manifest["model"]["serializedFile"])
        # version (a hash of the tensors), flip, threshold, FAR table: as the weights were evaluated
        facts = ModelFacts.of(meta, backbone.state_dict())
        most_faces = max(self.settings.max_tests + 1, self.settings.max_photos) * self.settings.max_faces
        # The network exported once, here, to the engine `make bench` found fastest on this CPU
        # (same embeddings within float rounding); all faces of a request in one run.
        settings = self.settings
        self.embedder = engine_embedder(backbone, settings.engine, settings.threads, settings.precision,
                                        flip=facts.flip, batch_size=most_faces)
        onnx = sorted(model_dir.glob("*yunet*.onnx"))
        self.pipeline = FacePipeline(FaceDetector(model_path=onnx[0] if onnx else yunet_model_path()),
                                     size=backbone.config.input_size)  # crops of the size the weights take
        self.threshold = facts.threshold
        self.far_thresholds = facts.far_thresholds  # [{"far", "threshold"}] on the calibration people
        self.label = f"{self.name}:{facts.version}"
        # earlier names of the same weights: a gallery keyed by one of them is still this model's
        self.aliases = [f"{self.name}:{alias}" for alias in facts.aliases]
        if self.mode == "gallery":
            self.galleries = self._open_galleries()
        self.initialized = True
        logger.info("%s ready: mode=%s threshold=%.4f flip=%s %s", self.label, self.mode, self.threshold,
                    facts.flip, self.settings)

    def _open_galleries(self):
        # imported here: only face-gallery's worker loads the client package and the vector store
        from handler.gallery import Galleries, PipelineClient

        client = PipelineClient(self.embed_photo, self.name)
        return Galleries(self.settings.gallery_root, self.settings.gallery_url, client, self.far_thresholds,
                         max_galleries=self.settings.max_galleries)

    def handle(self, data, context):
        self.context = context
        start = time.perf_counter()
        try:
            output = self.postprocess(self.inference(self.preprocess(data)))
        except Exception:  # a bug, not the client's fault: 500 JSON, the worker lives on
            logger.exception("face handler failed")
            error = RequestError("internal_error", "the server failed on this request; see its log")
            output = [self._error(idx, error) for idx in range(len(data))]
        metrics = getattr(context, "metrics", None)
        if metrics is not None:
            metrics.add_time("HandlerTime", round((time.perf_counter() - start) * 1000, 2), None, "ms")
        return output

    def preprocess(self, data: list) -> list[dict | RequestError]:
        """Per request: a RequestError, or {"threshold", "photos": [{"name", "faces"}]}
        with the aligned faces of each photo (verify: reference first, its largest face)."""
        items: list[dict | RequestError] = []
        for request in data:
            try:
                items.append(self._prepare(request))
            except RequestError as error:
                items.append(error)
        return items

    def _prepare(self, request) -> dict:
        if self.mode == "gallery":  # its photos are embedded as the gallery's action needs them
            return {"gallery": parse_gallery(request, self.settings.max_photos)}
        if self.mode == "embed":
            parsed = parse_embed(request, self.settings.max_photos)
            if parsed.many:  # each photo answered on its own, like verify's test photos
                return {"threshold": None, "many": True, "photos": [self._test_faces(p) for p in parsed.photos],
                        "embeddings": parsed.embeddings}
            return {"threshold": None, "many": False, "photos": [self._faces(parsed.photos[0])],
                    "embeddings": parsed.embeddings}
        verify = parse_verify(request, self.settings.max_tests)
        reference = self._faces(verify.reference, max_faces=1)
        if not reference["faces"]:
            raise RequestError("no_face_in_reference", "reference: no face found in the photo")
        # The served threshold (4 decimals, from the weights) is used and echoed: what the caller reads decides.
        threshold = self.threshold if verify.threshold is None else verify.threshold
        return {"threshold": threshold, "photos": [reference] + [self._test_faces(p) for p in verify.tests]}

    def _test_faces(self, photo: Photo) -> dict:
        """A test photo that cannot be used is answered in its own result; the others stand."""
        try:
            if photo.error is not None:
                raise photo.error
            return self._faces(photo)
        except RequestError as error:
            if error.code not in PHOTO_ERRORS:
                raise
            return {"name": photo.name, "faces": [], "error": error}

    def _faces(self, photo: Photo, max_faces: int | None = None) -> dict:
        try:
            faces, size = self.pipeline.photo_faces(photo.data, self.settings.max_pixels,
                                                    max_faces or self.settings.max_faces)
        except ImageError as exc:
            raise RequestError(exc.code, f"{photo.name}: {exc}") from None
        return {"name": photo.name, "faces": faces, "size": size}

    def embed_photo(self, data: bytes, name: str) -> dict:
        """face-embed's answer for one photo, computed in this worker (face-gallery's embeddings)."""
        photo = self._faces(Photo(name, data))
        photo["embeddings"] = self.embedder.embed([found.crop for found in photo["faces"]])
        return self._embed_response({"many": False, "photos": [photo], "embeddings": True})

    def inference(self, items: list) -> list:
        """Every face of every photo of every request through the network at once
        (face-gallery: each request's action, one after the other)."""
        if self.mode == "gallery":
            return [self._gallery_answer(item) if isinstance(item, dict) else item for item in items]
        photos = [p for item in items if isinstance(item, dict) for p in item["photos"]]
        for item in items:  # boxes only: the network is not run for these faces
            if isinstance(item, dict) and not item.get("embeddings", True):
                for photo in item["photos"]:
                    photo["embeddings"] = [[] for _ in photo["faces"]]
        photos = [photo for photo in photos if "embeddings" not in photo]
        crops = [face.crop for photo in photos for face in photo["faces"]]
        embeddings = self.embedder.embed(crops)
        start = 0
        for photo in photos:
            photo["embeddings"] = embeddings[start : start + len(photo["faces"])]
            start += len(photo["faces"])
        return items

    def postprocess(self, items: list) -> list:
        output = []
        for idx, item in enumerate(items):
            if isinstance(item, RequestError):
                output.append(self._error(idx, item))
                continue
            self._set_status(idx, 200, "OK")
            if self.mode == "gallery":
                output.append(item["answer"])
            elif self.mode == "embed":
                output.append(self._embed_response(item))
            else:
                output.append(self._verify_response(item))
        return output

    def _verify_response(self, item: dict) -> dict:
        reference, *tests = item["photos"]
        anchor, threshold = reference["embeddings"][0], item["threshold"]
        results = [_test_result(photo, anchor, threshold) for photo in tests]
        face = reference["faces"][0].face
        return {"model": self.label, "aliases": self.aliases, "threshold": threshold,
                "reference": {"box": _box(face.box), "confidence": round(face.confidence, 4)},
                "results": results}

    def _embed_response(self, item: dict) -> dict:
        # The calibrated threshold rides along so a caller comparing embeddings itself (the
        # client's gallery) decides exactly as face-verify does; the thresholds of stricter
        # false-match rates let a 1:N search keep its strangers out as the gallery grows.
        head = {"model": self.label, "aliases": self.aliases, "threshold": self.threshold,
                "far_thresholds": self.far_thresholds}
        if not item["many"]:
            photo = item["photos"][0]
            if not item["embeddings"]:
                # boxes only (a stream's frames): the detector's settings ride along, so a caller
                # detecting the next frames itself finds the faces this server would
                detector = self.pipeline.detector.settings_for(*photo["size"])
                head |= {"detector": detector | {"max_faces": self.settings.max_faces}}
            return head | {"faces": _embedded_faces(photo)}
        return head | {"photos": [
            {"name": photo["name"], "faces": [],
             "error": {"code": photo["error"].code, "message": photo["error"].message}}
            if "error" in photo else {"name": photo["name"], "faces": _embedded_faces(photo), "error": None}
            for photo in item["photos"]]}

    def _gallery_answer(self, item: dict) -> dict | RequestError:
        try:
            return {"answer": self.galleries.run(item["gallery"])}
        except RequestError as error:
            return error

    def _error(self, idx: int, error: RequestError) -> dict:
        self._set_status(idx, error.status, error.phrase)
        return error.to_json()

    def _set_status(self, idx: int, code: int, phrase: str) -> None:
        context = self.context
        if context is None or getattr(context, "request_processor", None) is None:
            return  # called outside a server (tests): the JSON says it all
        context.set_response_status(code, phrase, idx)
        context.set_response_content_type(idx, "application/json")


def _test_result(photo: dict, anchor: np.ndarray, threshold: float) -> dict:
    """One test photo's verdict: the best-matching face (score, box) and every face found
    ("detections", largest first: box, score, detector confidence); or its own error."""
    if "error" in photo:
        error = photo["error"]
        return {"name": photo["name"], "match": None, "score": None, "box": None, "faces": None,
                "detections": [], "error": {"code": error.code, "message": error.message}}
    result = {"name": photo["name"], "match": False, "score": None, "box": None,
              "faces": len(photo["faces"]), "detections": [], "error": None}
    if photo["faces"]:
        scores = [round(float(s), 6) for s in photo["embeddings"] @ anchor]
        best = int(np.argmax(scores))
        result.update(match=scores[best] >= threshold, score=scores[best],
                      box=_box(photo["faces"][best].face.box))
        result["detections"] = [
            {"box": _box(found.face.box), "score": score, "confidence": round(found.face.confidence, 4)}
            for found, score in zip(photo["faces"], scores, strict=False)]
    return result


def _embedded_faces(photo: dict) -> list[dict]:
    return [{"box": _box(found.face.box), "confidence": round(found.face.confidence, 4),
             "embedding": [round(float(v), 6) for v in embedding]}
            for found, embedding in zip(photo["faces"], photo["embeddings"], strict=False)]


def _box(box) -> list[float]:
    # + 0.0 turns -0.0 (a box edge rounded from just left of the photo) into 0.0
    return [round(float(v), 1) + 0.0 for v in box]
