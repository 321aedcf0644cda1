"""What the Verify tab computes from an answer: the table, the tally against the user's
marks and the JSON offered for download. No Gradio here, so it is testable on its own."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from client import FaceClient, VerificationResult

TABLE_HEADERS = ["#", "photo", "match", "score", "faces", "error"]


def photo_label(path: str | Path) -> str:
    """How the page names an uploaded photo: its file name (uploads keep the user's name)."""
    return Path(path).name


def verify(client: FaceClient, reference: str | Path, tests: Sequence[str | Path],
           threshold: float | None) -> VerificationResult:
    """One answer for all the tests; the client splits them into requests within the
    server's limits and gives a photo it could not use its own `error`, whose message the
    client words with the photo's path: here the upload's temporary path, so it is shortened
    to the file name the user knows."""
    result = client.verify(reference, list(tests), threshold=threshold)
    results = []
    for item, path in zip(result.results, tests, strict=False):
        if item.error is not None:
            message = item.error.message.replace(str(path), photo_label(path))
            item = item.model_copy(update={"error": item.error.model_copy(update={"message": message})})
        results.append(item)
    return result.model_copy(update={"results": results})


def verdict(item) -> str:
    if item.error is not None:
        return "error"
    return "MATCH" if item.match else "no match"


def table(result: VerificationResult, labels: Sequence[str]) -> list[list]:
    rows = []
    for i, (item, label) in enumerate(zip(result.results, labels, strict=False), start=1):
        score = "" if item.score is None else round(item.score, 3)
        faces = "" if item.faces is None else item.faces
        error = "" if item.error is None else f"{item.error.code}: {item.error.message}"
        rows.append([i, label, verdict(item), score, faces, error])
    return rows


def tally(result: VerificationResult, marked_same: set[int]) -> str:
    """"accepted x / rejected y" against the user's marks (0-based indices of the tests that
    show the reference person); photos with an error count in neither."""
    same = [r for i, r in enumerate(result.results) if i in marked_same and r.error is None]
    others = [r for i, r in enumerate(result.results) if i not in marked_same and r.error is None]
    accepted = sum(bool(r.match) for r in same)
    rejected = sum(not r.match for r in others)
    text = f"accepted {accepted} / {len(same)} of the same person, rejected {rejected} / {len(others)} others"
    errors = len(result.errors)
    if errors:
        text += f" ({errors} photo{'' if errors == 1 else 's'} not used)"
    return text


def answer_json(result: VerificationResult, reference: str | Path, tests: Sequence[str | Path]) -> dict:
    """The service's answer, with the file each `test_N` was."""
    return result.model_dump(mode="json") | {
        "files": {"reference": photo_label(reference)} | {
            item.name: photo_label(path) for item, path in zip(result.results, tests, strict=False)}}
