"""The calibrated threshold file: written by `face-verify calibrate --save`, read by FaceClient.

    {"threshold": 0.31, "model": "face-verify:<version>", "target_far": 0.001, "far": ..., ...}

Found, first wins: the `threshold_file=` argument, $FACE_VERIFY_THRESHOLD_FILE, then
./face-verify-threshold.json in the working directory. Without one the server's threshold
is used.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import FaceClientError

THRESHOLD_FILE_NAME = "face-verify-threshold.json"
THRESHOLD_FILE_ENV = "FACE_VERIFY_THRESHOLD_FILE"


class CalibrationFileError(FaceClientError, ValueError):
    """The threshold file cannot be read or holds no usable threshold."""


def find_threshold_file(explicit: str | os.PathLike | None = None) -> Path | None:
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(THRESHOLD_FILE_ENV)
    if env:
        return Path(env)
    local = Path.cwd() / THRESHOLD_FILE_NAME
    return local if local.is_file() else None


def read_threshold_file(path: str | os.PathLike) -> dict:
    """The file's JSON; `threshold` is checked to be a number in [-1, 1]."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalibrationFileError(f"cannot read the threshold file {path}: {exc}",
                                   code="threshold_file_unreadable") from exc
    except ValueError as exc:
        raise CalibrationFileError(f"{path} is not JSON: {exc}", code="threshold_file_invalid") from exc
    value = data.get("threshold") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or isinstance(value, bool) or not isinstance(value, (int, float))
            or not -1.0 <= value <= 1.0):
        raise CalibrationFileError(f"{path} has no threshold in [-1, 1]", code="threshold_file_invalid")
    return data


def write_threshold_file(path: str | os.PathLike, choice: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(choice, indent=2) + "\n", encoding="utf-8")
    return path
