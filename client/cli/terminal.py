"""What the client's command-line front ends share (`face-verify`, and the demo built on the
client): the exit code of each error, `--token` values starting with "-", the verdict table."""
from __future__ import annotations

from ..errors import (
    AuthenticationError,
    BadInputError,
    FaceClientError,
    PhotoInputError,
    RequestTimeoutError,
    ServerUnavailableError,
)
from ..models import VerificationResult

EXIT_CODES = ((AuthenticationError, 4), (BadInputError, 5), (PhotoInputError, 5),
              (ServerUnavailableError, 3), (RequestTimeoutError, 3), (FaceClientError, 1))


def exit_code(exc: FaceClientError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(exc, kind))


def fmt_box(box) -> str:
    # round() first: f"{-0.3:.0f}" would print "-0"
    return "-" if box is None else "[" + ", ".join(f"{round(v):d}" for v in box) + "]"


def format_table(result: VerificationResult, reference: str, files: list[str],
                 threshold_source: str = "server") -> str:
    source = "" if threshold_source == "server" else f" (from {threshold_source})"
    lines = [
        f"model: {result.model}   threshold: {result.threshold:.4f}{source}",
        f"reference: {reference}   box {fmt_box(result.reference.box)}   "
        f"confidence {result.reference.confidence:.2f}",
        "",
    ]
    width = max([4] + [len(f) for f in files])
    header = f"{'#':>3}  {'name':<8}  {'file':<{width}}  {'match':<5}  {'score':>6}  {'box':<22}  faces"
    lines += [header, "-" * len(header)]
    for i, (item, file) in enumerate(zip(result.results, files, strict=False), start=1):
        score = "-" if item.score is None else f"{item.score:.3f}"
        verdict = "ERROR" if item.error else ("YES" if item.match else "no")
        faces = item.error.code if item.error else item.faces
        lines.append(f"{i:>3}  {item.name:<8}  {file:<{width}}  {verdict:<5}  "
                     f"{score:>6}  {fmt_box(item.box):<22}  {faces}")
    lines += ["", f"matched {len(result.matches)} of {len(result.results)} test photos"]
    if result.errors:
        lines.append(f"{len(result.errors)} could not be used:")
        lines += [f"  {item.error.message} ({item.error.code})" for item in result.errors if item.error]
    return "\n".join(lines)


def glue_token(argv: list[str]) -> list[str]:
    """`--token VALUE` -> `--token=VALUE`: TorchServe keys are URL-safe base64 and may start
    with '-', which argparse would otherwise take for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--token" and i + 1 < len(argv):
            out.append(f"--token={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out
