"""The supervisor: restarts a replica whose TorchServe died, keeps the state file current.

The restart takes the replica out of nginx first (marked down), so no request meets the
restarted TorchServe before nginx knows its new key; it goes back in once both models are
ready. After a failed restart it tries again after `retry_s` seconds. Every change to the
state is made under the state's lock (StateStore), field by field, so a concurrent `stop`
or `start` loses nothing; a restart itself runs outside the lock.
"""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from scripts.replicas import front, replica
from scripts.replicas.state import Replica, ServiceState, StateMissing, StateStore, now
from scripts.torchserve import ServeError


class Supervisor:
    """`interval_s`: seconds between checks; `retry_s`: seconds before a failed restart is retried."""

    def __init__(self, state_dir: Path, venv_bin: Path, start_timeout: float, interval_s: float = 2.0,
                 retry_s: float = 30.0) -> None:
        self.store = StateStore(state_dir)
        self.venv_bin, self.start_timeout = venv_bin, start_timeout
        self.interval_s, self.retry_s = interval_s, retry_s
        self.prefix = Path(state_dir) / "nginx"
        self.stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        try:
            while not self.stopping:
                state = self.store.read()
                if state is None:
                    return  # stopped
                for entry in state.replicas:
                    if self.stopping:
                        break
                    self.check(entry, state.workers)
                with self.store.update() as current:
                    current.supervisor.checked_at = now()
                time.sleep(self.interval_s)
        except StateMissing:
            return  # stopped meanwhile

    def check(self, entry: Replica, workers: dict[str, int]) -> None:
        server = replica.server(entry, self.venv_bin, workers)
        if server.frontend_pid() is not None:
            health = "healthy" if server.pings() else "unhealthy"
            if health != entry.health:
                self.store.update_replica(entry.index, health=health)
            return
        if entry.health == "failed" and time.time() - (entry.failed_at or 0) < self.retry_s:
            return
        self.restart(entry, workers)

    def restart(self, entry: Replica, workers: dict[str, int]) -> None:
        index = entry.index
        print(f"{now()} replica {index} (pid {entry.pid}) is dead: restarting", flush=True)
        with self.store.update() as state:
            state.replica(index).health = "restarting"
            state.replica(index).restarts += 1
        self.publish(state)  # out of rotation before it comes back with a new key
        server = replica.server(entry, self.venv_bin, workers)
        server.stop()  # orphaned workers, the old temp dir
        server.start()
        self.store.update_replica(index, pid=None, tmpdir=str(server.tmpdir), started_at=server.started_at)
        try:
            seconds = server.wait_ready(self.start_timeout, lambda: self.stopping)
        except ServeError as exc:
            print(f"{now()} replica {index}: {exc}", file=sys.stderr, flush=True)
            seconds = None
        if seconds is not None:
            state = self.store.update_replica(index, pid=server.frontend_pid(), health="healthy",
                                              start_seconds=seconds, last_restart_seconds=seconds)
            print(f"{now()} replica {index} is back (pid {state.replica(index).pid}, {seconds} s)", flush=True)
        elif self.stopping:
            return  # `stop` stops it (its temp dir is in the state file)
        else:
            server.stop()
            state = self.store.update_replica(index, pid=None, tmpdir=None, health="failed", failed_at=time.time())
            print(f"{now()} replica {index} did not start; retrying in {self.retry_s:g} s", flush=True)
        self.publish(state)

    def publish(self, state: ServiceState) -> None:
        """The nginx config for the health in `state`, reloaded."""
        front.write_config(state, self.prefix)
        try:
            front.reload(self.prefix)
        except RuntimeError as exc:
            print(f"{now()} {exc}", file=sys.stderr, flush=True)
