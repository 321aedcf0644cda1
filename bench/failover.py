"""Failover through the nginx front (`make serve REPLICAS=N`, N >= 2; `make loadtest` runs it).

    python -m bench.failover                 # 2 raw + 2 FaceClient clients, 1 replica killed
    python -m bench.failover --kills 2 --settle 10

Clients send the same verify(1 + 15) request back to back through the front: raw requests
(one attempt, no retry) and FaceClient (as shipped: it retries connection errors, 502/503/504
and "Worker died."). Meanwhile one replica's TorchServe (its Java frontend, pid from the state
file) is killed with SIGKILL; the load goes on until the supervisor has restarted it and
`--settle` seconds more. Reported per kind of client: sent, correct answers, failures (wrong
answer or error status) and lost requests (no answer); at the front: requests nginx resent to
another replica; and whether the restarted replica took traffic again (requests the front
sent to it after its restart, from nginx's access log).

Writes the "failover" section of reports/load_replicas.json (where `make loadtest` with
replicas writes its load phases; the other sections are kept).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import requests

from bench.loadtest import Checker, Sender, run_clients, summarize
from bench.photos import PhotoSet, photo_set
from bench.target import REPO, Target, machine_state, write_report
from scripts.replicas.state import Replica, ServiceState, StateStore
from scripts.torchserve import is_frontend


def load_state(state_dir: Path) -> ServiceState:
    state = StateStore(state_dir).read()
    if state is None:
        raise SystemExit(f"no replicas state in {state_dir}: start them with `make serve REPLICAS=2`")
    return state


def kill_frontend(replica: Replica) -> int:
    """SIGKILL the replica's TorchServe frontend (checked to be one, so nothing else is hit)."""
    process = psutil.Process(int(replica.pid))
    if not is_frontend(process):
        raise SystemExit(f"pid {process.pid} is not a TorchServe frontend")
    process.send_signal(signal.SIGKILL)
    return process.pid


def wait_restarted(state_dir: Path, index: int, old_pid: int, timeout: float) -> Replica | None:
    """The replica's entry once the supervisor reports it healthy with a new process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            replica = load_state(state_dir).replica(index)
        except SystemExit:
            return None
        if replica.pid not in (None, old_pid) and replica.health == "healthy":
            return replica
        time.sleep(0.5)
    return None


def front_log(path: Path, since: str) -> list[dict]:
    """Lines of the front's access log at or after `since` (ISO time, second resolution)."""
    entries = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return entries
    for line in lines:
        try:
            stamp = line.split("[", 1)[1].split("]", 1)[0]
            upstream = line.split("upstream=", 1)[1].split(" upstream_status=", 1)
        except IndexError:
            continue
        if stamp >= since:
            entries.append({"at": stamp, "upstreams": upstream[0].split(", "),
                            "statuses": upstream[1].split(", "), "status": line.split('" ', 1)[1].split()[0]})
    return entries


def iso_now() -> str:
    """Local time with its offset, as nginx's $time_iso8601 writes it (so they compare)."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def run(front: str, key_file: Path, state_dir: Path, photos: PhotoSet, *, clients: int = 2, kills: int = 1,
        settle: float = 5.0, restart_timeout: float = 240.0, timeout: float = 120.0) -> dict:
    """Load through the front while `kills` replicas (1, 2, ... in turn) are SIGKILLed."""
    target = Target(front.rstrip("/"), "", key_file)
    warm = requests.post(f"{target.inference}/predictions/face-verify", files=photos.form_fields(),
                         headers=target.auth(), timeout=timeout)
    if warm.status_code != 200:
        raise SystemExit(f"warm-up through {front} failed: {warm.status_code} {warm.text[:300]}")
    checker = Checker(warm.json())
    stop = threading.Event()
    samples: dict[str, list] = {"raw": [], "client": []}
    runners = [threading.Thread(target=lambda mode=mode: samples[mode].extend(run_clients(
        lambda: Sender(mode, target, photos, timeout, checker), clients, stop, None)), daemon=True)
        for mode in samples]
    started, since = time.monotonic(), iso_now()
    for runner in runners:
        runner.start()
    events = []
    try:
        for kill in range(kills):
            time.sleep(settle)
            state = load_state(state_dir)
            replica = state.replicas[kill % len(state.replicas)]
            pid, killed_at = kill_frontend(replica), time.monotonic()
            print(f"  killed replica {replica.index} (TorchServe pid {pid})", flush=True)
            back = wait_restarted(state_dir, replica.index, pid, restart_timeout)
            recovery = None if back is None else round(time.monotonic() - killed_at, 1)
            back_at = iso_now()
            print(f"  replica {replica.index} back in rotation after {recovery} s", flush=True)
            time.sleep(settle)
            events.append({"replica": replica.index, "killed_pid": pid, "new_pid": back and back.pid,
                           "back_after_s": recovery, "back_at": back_at, "keyed": replica.keyed})
    finally:
        stop.set()
        for runner in runners:
            runner.join()
    log = front_log(Path(load_state(state_dir).front.access_log), since)
    for event in events:
        after = [e for e in log if e["at"] >= event["back_at"]]
        event["front_requests_after_back"] = len(after)
        event["answered_by_it_after_back"] = sum(
            1 for e in after if event["keyed"] in e["upstreams"] and e["statuses"][-1] == "200"
            and e["upstreams"][-1] == event["keyed"])
        event["takes_traffic_again"] = event["answered_by_it_after_back"] > 0
    runs = {mode: summarize(found, started) for mode, found in samples.items()}
    for mode, found in samples.items():
        runs[mode]["failed_total"] = runs[mode]["errors"] + runs[mode]["lost"]
        runs[mode]["clients"] = clients
        if mode == "client":
            runs[mode]["retried_requests"] = sum(s.attempts > 1 for s in found)
    return {
        "generated": iso_now(), "front": front, "replicas": len(load_state(state_dir).replicas),
        "request": f"verify 1 + {len(photos.tests)}", "photos": photos.source,
        "how": f"{clients} raw + {clients} FaceClient clients through nginx; SIGKILL of a replica's TorchServe "
               f"frontend, {kills} time(s); load until the supervisor restarted it and {settle:g} s more",
        "runs": runs, "kills": events,
        "front_resent": sum(1 for e in log if len(e["upstreams"]) > 1),
        "front_requests": len(log),
        "raw_failures": runs["raw"]["failed_total"], "client_failures": runs["client"]["failed_total"],
        "replicas_back_in_rotation": all(e["takes_traffic_again"] for e in events),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=REPO / ".serve")
    parser.add_argument("--clients", type=int, default=2, help="raw clients, and as many FaceClient ones (2)")
    parser.add_argument("--kills", type=int, default=1, help="replica kills, one replica after another (1)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of load before and after each kill")
    parser.add_argument("--data-dir", default=None, help="folder holding lfw/ (default $DATA_DIR)")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "load_replicas.json")
    args = parser.parse_args(argv)
    state = load_state(args.state_dir)
    if len(state.replicas) < 2:
        raise SystemExit("failover needs at least 2 replicas: make serve REPLICAS=2")
    print(f"failover: {len(state.replicas)} replicas behind {state.front.url} ...", flush=True)
    section = run(state.front.url, Path(state.key_file), args.state_dir, photo_set(args.data_dir),
                  clients=args.clients, kills=args.kills, settle=args.settle)
    section["machine"] = machine_state()
    for mode, summary in section["runs"].items():
        print(f"  {mode}: {summary['ok']} ok of {summary['sent']}, {summary['errors']} failed, "
              f"{summary['lost']} lost", flush=True)
    print(f"  front resent {section['front_resent']} request(s); replicas back in rotation: "
          f"{section['replicas_back_in_rotation']}", flush=True)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report["failover"] = section
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
