"""The JSON run outputs in reports/ that the figure pages read, as models: bench/ writes them
(bench.target.write_report checks a report against its model) and report/ reads them
(figure_table.Reports). They live in report/ because the layout lets report/ import nothing of
the benches, while bench/, the last package, may import anything before it.

Each model names only what some page or bench reads; `extra="allow"` keeps the rest, so
every committed report validates. A section a bench run may leave out (`--no-levers`, no
server, ...) is optional; `present` turns its absence into NotInReport for the page.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

T = TypeVar("T")


class Shape(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class NotInReport(LookupError):
    """A figure's section or field the report does not hold (a run with fewer parts)."""


def present(value: T | None, what: str) -> T:
    if value is None:
        raise NotInReport(what)
    return value


def first_problem(error: ValidationError) -> str:
    """One line for a page: where the report first differs from its model."""
    problem = error.errors()[0]
    return f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"


# -- latency ---------------------------------------------------------------------------------

UNITS = {"s": 1.0, "ms": 1000.0}
MICROSECOND_DIGITS = {"s": 6, "ms": 3}  # rounded to the microsecond: finer than any timer here repeats


class LatencySummary(Shape):
    """The latency of timed calls, in the unit the key holding it names (`latency_s`, `delay_ms`).

    Percentiles are numpy's default (linear interpolation between the two nearest samples), the
    one definition every bench uses. Reports written before this summary call p50 `median` and
    may lack n, p99, mean or min."""

    n: int | None = None
    p50: float = Field(validation_alias=AliasChoices("p50", "median"))
    p95: float
    p99: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, seconds: Sequence[float], unit: Literal["s", "ms"] = "s") -> LatencySummary:
        """The summary of durations measured in seconds, given in `unit`."""
        if len(seconds) == 0:
            raise ValueError("no durations to summarize")
        values = np.asarray(seconds, dtype=np.float64) * UNITS[unit]
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        digits = MICROSECOND_DIGITS[unit]
        return cls(n=len(values), **{name: round(float(value), digits) for name, value in (
            ("p50", p50), ("p95", p95), ("p99", p99), ("mean", values.mean()), ("min", values.min()),
            ("max", values.max()))})


# -- shared parts ----------------------------------------------------------------------------

class Machine(Shape):
    """bench.target.machine_state: what else the machine was doing."""

    cpus: int
    loadavg_1_5_15: list[float]
    idle: bool


class Report(Shape):
    generated: str | None = None
    command: str | None = None


# -- make bench: reports/bench.json ----------------------------------------------------------

class EndToEnd(Shape):
    requests: int
    model: str
    latency_s: LatencySummary


class InProcess(Shape):
    threads: int
    handle_s: LatencySummary
    stages_s: dict[str, LatencySummary]


class ServerOverhead(Shape):
    ratio: float
    extra_ms: float


class OpenCV(Shape):
    """OpenCV's YuNet + SFace in process; only `skipped` or `error` when the bench venv is missing."""

    threads: int | None = None
    sface_per_crop_s: float | None = None
    latency_s: LatencySummary | None = None
    end_to_end_over_opencv: float | None = None


class EmbedRate(Shape):
    faces: int
    median_s: float
    faces_per_s: float


class Embedding(Shape):
    served: EmbedRate
    two_threads: EmbedRate | None = Field(None, alias="2 threads")
    batch: int
    engine: str
    precision: str
    threads: int
    flip: bool


class Batching(Shape):
    faces: int
    one_forward_s: float
    forward_per_face_s: float
    speedup: float


class ServingLevers(Shape):
    """Named runs besides these: "embed 32 crops, flip=...", one EmbedRate each."""

    __pydantic_extra__: dict[str, EmbedRate] = Field(init=False)
    handle_s_by_threads: dict[str, LatencySummary]
    batching: Batching


class Levers(Shape):
    engines_ms_per_crop: dict[str, dict[str, dict[str, float | str]]]  # engine -> threads -> batch -> ms (or error)
    serving: ServingLevers


class EmbedderAccuracy(Shape):
    roc_auc: float
    accuracy: float | None = None
    best_accuracy: float
    within_tolerance: bool


class AccuracyBenchmark(Shape):
    pairs: int | None = None
    by_embedder: dict[str, EmbedderAccuracy] | None = None
    skipped: str | None = None


class Accuracy(Shape):
    """The stored threshold, the tolerance, and one AccuracyBenchmark per benchmark name."""

    __pydantic_extra__: dict[str, AccuracyBenchmark] = Field(init=False)
    stored_threshold: float
    tolerance: float


class BenchTargets(Shape):
    """Besides these: one "<benchmark>_served_within_0.1_point_met" flag per benchmark."""

    embedding_target: float
    embedding_met: bool
    end_to_end_target_s: float | None = None
    end_to_end_met: bool | None = None
    opencv_ratio_target: float | None = None
    opencv_ratio_met: bool | None = None


class BenchReport(Report):
    machine: Machine
    end_to_end: EndToEnd | None = None
    in_process: InProcess
    server_overhead: ServerOverhead | None = None
    opencv: OpenCV | None = None
    embedding: Embedding
    levers: Levers | None = None
    accuracy: Accuracy | None = None
    targets: BenchTargets


# -- make loadtest: reports/load.json, reports/load_replicas.json -----------------------------

class RunSummary(Shape):
    """bench.loadtest.summarize: one stretch of load; latency of the correct answers (none: no answer)."""

    sent: int
    ok: int
    errors: int
    lost: int
    errors_by_kind: dict[str, int] = {}
    throughput_rps: float
    latency_s: LatencySummary | None
    p95_over_p50: float | None = None


class LoadPhase(RunSummary):
    concurrency: int
    duration_s: float


class LoadTargets(Shape):
    zero_errors_and_lost_at_8: bool | None
    p95_within_3x_p50_at_8: bool | None


class LoadSection(Shape):
    phases: list[LoadPhase]
    targets: LoadTargets


class FaultRun(RunSummary):
    kills: list[dict]
    failed_total: int


class FaultSection(Shape):
    runs: dict[str, FaultRun]


class FailoverRun(RunSummary):
    failed_total: int


class Failover(Shape):
    replicas: int
    runs: dict[str, FailoverRun]


class LoadReport(Report):
    machine: Machine
    load: LoadSection | None = None
    fault: FaultSection | None = None
    failover: Failover | None = None  # bench.failover, in load_replicas.json


# -- python -m bench.capacity: reports/capacity.json ------------------------------------------

class CapacityPlan(Shape):
    per_core_rps: float
    replicas_for_at_70pct: dict[str, int | None]


class CapacityPlans(Shape):
    verify: CapacityPlan
    embed_one_face: CapacityPlan


class CapacityReport(Report):
    machine: Machine
    rows: list[dict]
    plan: CapacityPlans


# -- make bench-stream: reports/stream.json ---------------------------------------------------

class LiveRun(Shape):
    frames_per_s: float
    delay_ms: LatencySummary


class Live(Shape):
    one_face: LiveRun = Field(alias="1_face")
    three_faces: LiveRun = Field(alias="3_faces")


class ClipRun(Shape):
    right_frames: float


class LfwClip(Shape):
    with_tracking: ClipRun


class VideoIdentify(Shape):
    real_time_factor: float


class CameraShare(Shape):
    min: float
    mean: float


class CameraRun(Shape):
    cameras: int
    embed: str
    detected: str = "service"  # runs before detection moved next to the cameras
    identified_share: CameraShare
    keeps_up: bool
    event_latency_ms: LatencySummary | None


class Cameras(Shape):
    most_cameras_kept_up: int
    runs: list[CameraRun]

    def run(self, cameras: int) -> CameraRun | None:
        """The run with `cameras` cameras as `watch` runs them (faces due for a look-up
        embedded, frames detected next to the cameras)."""
        return next((r for r in self.runs if r.cameras == cameras and r.embed == "needed-faces"
                     and r.detected == "camera side"), None)


class StreamReport(Report):
    live: Live
    lfw_clip: LfwClip
    video_identify: VideoIdentify
    cameras: Cameras | None = None


# -- make gallery-bench: reports/gallery_scale.json -------------------------------------------

class ScaleRow(Shape):
    n: int
    backend: str
    insert_s: float
    index_s: float
    query_p95_ms: float
    recall_at_1: float
    recall_at_1_enrolled: float
    reopen_s: float


class DistractorRow(Shape):
    distractors: int
    top1_accuracy: float
    unknown_rejection: float


class Distractors(Shape):
    results: list[DistractorRow]


class GalleryScaleReport(Report):
    results: list[ScaleRow]
    distractors: Distractors


# -- make gallery-served-bench: reports/gallery_served.json ------------------------------------

class ClientsLoad(Shape):
    """`clients` callers back to back: completed calls per second of wall time."""

    clients: int
    per_second: float
    errors: int
    latency_s: LatencySummary | None = None  # None: no call completed


class IdentifySide(Shape):
    """One photo identified, one call at a time (`latency_s`) and under load."""

    latency_s: LatencySummary
    load: ClientsLoad


class ServedIdentify(Shape):
    size: int  # faces in the gallery
    served: IdentifySide  # POST /predictions/face-gallery
    in_process: IdentifySide  # Gallery(folder).identify in the caller's process


class EnrolmentSide(Shape):
    photos_per_second: float


class ServedEnrolment(Shape):
    photos: int
    served: EnrolmentSide
    in_process: EnrolmentSide


class GalleryServedReport(Report):
    smoke: bool  # a check that the bench runs: never figures
    machine: Machine
    identify: list[ServedIdentify]
    enrolment: ServedEnrolment


# -- make gallery-eval: reports/gallery.json --------------------------------------------------

class GalleryRow(Shape):
    photos_per_person: int
    people: int
    top1_accuracy: float
    identified_accuracy: float
    unknown_rejection: float
    search_ms_median: float


class GalleryReport(Report):
    results: list[GalleryRow]


# -- make cluster-eval: reports/clusters.json ------------------------------------------------

class ClusterScores(Shape):
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_f: float
    groups: int


class ClusterResult(ClusterScores):
    method: str
    setting: str


class ClusterChoice(Shape):
    algorithm: str
    setting: str


class ClusterMeasured(Shape):
    results: list[ClusterResult]


class ScaleScores(Shape):
    all: ClusterScores
    measured_faces: ClusterScores  # the real faces among the synthetic ones


class ScaleStages(Shape):
    grouped: ScaleScores
    after_adding: ScaleScores


class ClusterScaleSize(Shape):
    """A collection of `faces` grouped from nothing, then `added_faces` placed; peak memory:
    the process's resident high-water mark during each step, GB."""

    faces: int
    threshold: float
    pairs: Literal["exact", "approximate"]
    groups: int
    group_seconds: float
    collection_rss_gb: float  # the peak while the collection was made, before grouping
    group_peak_rss_gb: float
    added_faces: int
    add_seconds: float
    add_peak_rss_gb: float
    scores: ScaleStages


class PairCheck(Shape):
    """The nearest-neighbour index's pairs against all pairs at or above the threshold."""

    faces: int
    pairs: int
    found: int
    recall: float
    not_among_all_pairs: int
    all_pairs_seconds: float
    approximate_seconds: float


class ClusterScale(Shape):
    real_faces: int
    synthetic_spread: float
    added_faces: int
    sizes: list[ClusterScaleSize]
    pair_check: PairCheck | None = None


class ClustersReport(Report):
    served_threshold: float
    chosen: ClusterChoice
    measured: ClusterMeasured
    scale: ClusterScale | None = None  # only with --scale


# -- make evaluate: reports/metrics.json ------------------------------------------------------

class PairScores(Shape):
    pairs: int
    accuracy: float
    roc_auc: float


class Trials(Shape):
    passed: int
    trials: int


class Heldout(Shape):
    people: int
    pairs: PairScores
    trials_plain: Trials
    trials_composited: Trials


class FarThreshold(Shape):
    far: float
    threshold: float


class Calibration(Shape):
    far: float
    people: int
    impostor_pairs: int
    far_thresholds: list[FarThreshold]


class MetricsReport(Report):
    model: str
    pairs: int
    accuracy: float
    roc_auc: float
    tar_at_far_0_1pct: float = Field(alias="tar_at_far_0.1pct")
    threshold: float
    heldout_celeba: Heldout
    calibration: Calibration


# -- make demo-eval: reports/demo_eval.json ---------------------------------------------------

class Protocol(Shape):
    same: int
    others: int
    required_accepted: int
    required_rejected: int


class DemoEvalReport(Report):
    sets: int
    protocol: Protocol
    share_meeting_requirement: float
    share_perfect: float


# -- the UI tests: reports/ui/browser.json ----------------------------------------------------

class Clicks(Shape):
    first: float
    warm: list[float]


class BrowserReport(Report):
    photos: str
    click_to_verdicts_s: Clicks


# file under reports/ -> its model
SHAPES: dict[str, type[Report]] = {
    "bench.json": BenchReport,
    "load.json": LoadReport,
    "load_replicas.json": LoadReport,
    "capacity.json": CapacityReport,
    "stream.json": StreamReport,
    "gallery_scale.json": GalleryScaleReport,
    "gallery_served.json": GalleryServedReport,
    "gallery.json": GalleryReport,
    "clusters.json": ClustersReport,
    "metrics.json": MetricsReport,
    "demo_eval.json": DemoEvalReport,
    "ui/browser.json": BrowserReport,
}
