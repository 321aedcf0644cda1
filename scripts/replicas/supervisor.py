"""The supervisor: restarts a replica whose TorchServe died, keeps the state file current.

The restart takes the replica out of nginx first (marked down), so no request meets the
restarted TorchServe before nginx knows its new key; it goes back in once both models are
ready. After a failed restart it tries again after RETRY_S seconds.
"""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from scripts.replicas import front, torchserve
from scripts.replicas.layout import load_state, now, save_state

INTERVAL_S = 2.0
RETRY_S = 30.0


class Supervisor:
    def __init__(self, state_dir: Path, venv_bin: Path, start_timeout: float) -> None:
        self.state_dir, self.venv_bin, self.start_timeout = state_dir, venv_bin, start_timeout
        self.prefix = state_dir / "nginx"
        self.stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        while not self.stopping:
            state = load_state(self.state_dir)
            if state is None:
                return  # stopped
            for replica in state["replicas"]:
                if self.stopping:
                    break
                self.check(state, replica)
            state["supervisor"]["checked_at"] = now()
            save_state(self.state_dir, state)
            time.sleep(INTERVAL_S)

    def check(self, state: dict, replica: dict) -> None:
        if torchserve.frontend_pid(replica) is not None:
            replica["health"] = "healthy" if torchserve.pings(replica) else "unhealthy"
            return
        if replica["health"] == "failed" and time.time() - replica.get("failed_at", 0) < RETRY_S:
            return
        self.restart(state, replica)

    def restart(self, state: dict, replica: dict) -> None:
        print(f"{now()} replica {replica['index']} (pid {replica['pid']}) is dead: restarting", flush=True)
        replica["health"] = "restarting"
        replica["restarts"] += 1
        self.publish(state)  # out of rotation before it comes back with a new key
        torchserve.stop(replica, self.venv_bin)  # orphaned workers, the old temp dir
        torchserve.launch(replica, self.venv_bin)
        replica["health"] = "restarting"
        save_state(self.state_dir, state)
        if torchserve.wait_ready(replica, self.start_timeout, lambda: self.stopping):
            replica["last_restart_seconds"] = replica["start_seconds"]
            print(f"{now()} replica {replica['index']} is back (pid {replica['pid']}, "
                  f"{replica['start_seconds']} s)", flush=True)
        elif self.stopping:
            return  # `stop` stops it (its temp dir is in the state file)
        else:
            torchserve.stop(replica, self.venv_bin)
            replica.update(health="failed", failed_at=time.time())
            print(f"{now()} replica {replica['index']} did not start; retrying in {RETRY_S:g} s", flush=True)
        self.publish(state)

    def publish(self, state: dict) -> None:
        """The nginx config for the current health, reloaded; then the state file."""
        front.write_config(state, self.prefix)
        try:
            front.reload(self.prefix)
        except RuntimeError as exc:
            print(f"{now()} {exc}", file=sys.stderr, flush=True)
        save_state(self.state_dir, state)
