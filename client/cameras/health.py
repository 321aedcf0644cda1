"""`--health FILE`: each camera's state as JSON, rewritten (atomically) every few seconds and
at the end, for a monitor or a container's health check to read.

    {"updated": 1765000000.1, "cameras": {"door": {"source": "rtsp://...", "connected": true,
     "frames": 1200, "processed": 600, "last_frame_time": 1765000000.0, "reconnects": 1,
     "last_error": null, "events": 4, "present": ["Ada"]}}}
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path


def write_health(path: str | os.PathLike, cameras: dict[str, dict]) -> None:
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps({"updated": round(time.time(), 3), "cameras": cameras}, indent=2) + "\n")
    os.replace(temporary, target)
