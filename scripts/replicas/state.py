"""The replicas' state (.serve/replicas.json): typed, and changed only under a lock.

`start`, `stop` and the supervisor each change the state; every change is a read-modify-write
inside an exclusive flock on .serve/replicas.lock (StateStore.update), so none of them loses
another's update. Readers (status, the load test, the tests) read without the lock: the file
is replaced atomically, so they never see half of one.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

STATE_NAME = "replicas.json"
LOCK_NAME = "replicas.lock"

Health = Literal["starting", "healthy", "unhealthy", "restarting", "failed", "stopped"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Replica(BaseModel):
    """One replica: where it is (folder, ports) and how its TorchServe is doing."""

    index: int
    dir: str
    inference: str
    management: str
    metrics: str
    grpc_ports: tuple[int, int]
    keyed: str  # HOST:PORT of nginx's server that adds this replica's own key
    pid: int | None = None
    tmpdir: str | None = None
    health: Health = "starting"
    restarts: int = 0
    started_at: float | None = None
    start_seconds: float | None = None
    last_restart_seconds: float | None = None
    failed_at: float | None = None


class Front(BaseModel):
    listen: str
    url: str
    config: str
    access_log: str
    pid: int | None = None


class SupervisorInfo(BaseModel):
    log: str
    pid: int | None = None
    checked_at: str | None = None


class ServiceState(BaseModel):
    front: Front
    supervisor: SupervisorInfo
    key_file: str
    service_key: str
    workers: dict[str, int] = Field(default_factory=dict)  # {model: workers} each replica gets
    # The replica that loads face-gallery, the galleries' one owner (None: the config loads none).
    gallery_replica: int | None = None
    replicas: list[Replica]
    started: str = Field(default_factory=now)
    updated: str | None = None

    def replica(self, index: int) -> Replica:
        return next(replica for replica in self.replicas if replica.index == index)


class StateMissing(LookupError):
    """No state file: the replicas were stopped (or never started)."""


class StateStore:
    """The state file of `state_dir` and its lock."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / STATE_NAME
        self.lock_path = self.state_dir / LOCK_NAME

    def read(self) -> ServiceState | None:
        try:
            return ServiceState.model_validate_json(self.path.read_text())
        except (OSError, ValueError):
            return None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive between processes (and between threads, each opening its own descriptor)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def update(self) -> Iterator[ServiceState]:
        """The current state to change in place; written back when the block ends without an
        error. Raises StateMissing when there is no state (stopped)."""
        with self.locked():
            state = self.read()
            if state is None:
                raise StateMissing(str(self.path))
            yield state
            self._write(state)

    def update_replica(self, index: int, **fields) -> ServiceState:
        """Set `fields` of replica `index` (under the lock); the state as written."""
        with self.update() as state:
            target = state.replica(index)
            for name, value in fields.items():
                setattr(target, name, value)
        return state

    def create(self, state: ServiceState) -> None:
        with self.locked():
            self._write(state)

    def remove(self) -> None:
        with self.locked():
            self.path.unlink(missing_ok=True)

    def _write(self, state: ServiceState) -> None:
        """Atomic: a reader sees the old file or the new one."""
        state.updated = now()
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".replicas.", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            handle.write(state.model_dump_json(indent=2) + "\n")
        os.replace(tmp, self.path)
