"""The replicas' state file: typed, and changed under a lock, so `start`, `stop` and the
supervisor (separate processes) cannot lose each other's updates."""
from __future__ import annotations

import subprocess
import sys

from replica_support import REPO

from scripts.replicas.layout import new_replica
from scripts.replicas.state import Front, ServiceState, StateMissing, StateStore, SupervisorInfo

# Each writer process: read-modify-write of one replica's restart count, with a pause between
# the read and the write (where an unlocked writer would lose the other writers' updates).
WRITER = """
import sys, time
from scripts.replicas.state import StateStore
store = StateStore(sys.argv[1])
for step in range(int(sys.argv[2])):
    with store.update() as state:
        replica = state.replica(1 + step % 2)
        seen = replica.restarts
        time.sleep(0.002)
        replica.restarts = seen + 1
"""


def _state(tmp_path) -> ServiceState:
    return ServiceState(
        front=Front(listen="127.0.0.1:8080", url="http://127.0.0.1:8080", config="n.conf", access_log="a.log"),
        supervisor=SupervisorInfo(log="s.log"), key_file="key_file.json", service_key="k",
        workers={"face-embed": 2}, replicas=[new_replica(tmp_path, 8100, index) for index in (1, 2)])


def test_state_round_trips_typed(tmp_path):
    store = StateStore(tmp_path / "state")
    store.create(_state(tmp_path))
    state = store.read()
    assert state.workers == {"face-embed": 2}
    assert state.replica(2).inference == "http://127.0.0.1:8110" and state.replica(2).grpc_ports == (8113, 8114)
    assert state.replica(1).health == "starting" and state.updated is not None
    store.update_replica(2, health="healthy", pid=1234)
    assert store.read().replica(2).pid == 1234 and store.read().replica(1).pid is None


def test_concurrent_updates_from_several_processes_are_all_kept(tmp_path):
    store = StateStore(tmp_path / "state")
    store.create(_state(tmp_path))
    writers, steps = 4, 30
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, str(store.state_dir), str(steps)], cwd=REPO)
                 for _ in range(writers)]
    assert [process.wait(timeout=120) for process in processes] == [0] * writers
    state = store.read()
    assert sum(replica.restarts for replica in state.replicas) == writers * steps
    assert [replica.restarts for replica in state.replicas] == [writers * steps // 2] * 2


def test_update_after_stop_says_so_and_writes_nothing(tmp_path):
    store = StateStore(tmp_path / "state")
    store.create(_state(tmp_path))
    store.remove()
    try:
        store.update_replica(1, health="healthy")
    except StateMissing:
        pass
    else:
        raise AssertionError("an update recreated a removed state")
    assert store.read() is None and not store.path.exists()
