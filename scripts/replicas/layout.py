"""Where things are: ports and folders of each replica, and the state file."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PORTS_PER_REPLICA = 10  # inference, management, metrics, gRPC x2, the nginx key adder
STATE_NAME = "replicas.json"


@dataclass(frozen=True)
class Ports:
    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int
    keyed: int  # nginx's per-replica server that adds the replica's own key

    @classmethod
    def of(cls, base: int, index: int) -> Ports:
        first = base + PORTS_PER_REPLICA * (index - 1)
        return cls(*(first + offset for offset in range(6)))

    def all(self) -> list[int]:
        return [self.inference, self.management, self.metrics, self.grpc_inference,
                self.grpc_management, self.keyed]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_replica(state_dir: Path, base_port: int, index: int) -> dict:
    """A replica's entry in the state file (everything but its process)."""
    ports = Ports.of(base_port, index)
    return {
        "index": index,
        "dir": str(state_dir / "replicas" / str(index)),
        "inference": f"http://127.0.0.1:{ports.inference}",
        "management": f"http://127.0.0.1:{ports.management}",
        "metrics": f"http://127.0.0.1:{ports.metrics}",
        "grpc_ports": [ports.grpc_inference, ports.grpc_management],
        "keyed": f"127.0.0.1:{ports.keyed}",
        "pid": None, "tmpdir": None, "health": "starting", "restarts": 0,
        "started_at": None, "start_seconds": None,
    }


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_NAME


def load_state(state_dir: Path) -> dict | None:
    try:
        return json.loads(state_path(state_dir).read_text())
    except (OSError, ValueError):
        return None


def save_state(state_dir: Path, state: dict) -> None:
    """Atomic: readers (status, tests, the load test) never see half a file."""
    state["updated"] = now()
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".replicas.", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, state_path(state_dir))
