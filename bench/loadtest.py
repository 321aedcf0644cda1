"""Bounded load test against the running server (`make loadtest`; the server is `make serve`'s).

    python -m bench.loadtest                       # concurrency 4 and 8, 60 s each, then the fault phase
    python -m bench.loadtest --concurrency 2 --duration 10 --no-fault     # a quick look
    python -m bench.loadtest --only-fault          # `make faulttest`: the fault phase alone

Load phases: C clients (threads, one keep-alive connection each) send the same
verify(1 + 15) request back to back for T seconds, then stop by themselves (requests in
flight are waited for, at most --timeout s). Every answer is checked against the warm-up
answer (same photos -> same verdicts and scores). Reported per phase: throughput (correct
answers / s), latency p50/p95/p99 of correct answers, errors (answered, but not a correct
200) by kind, lost requests (sent but never answered: timeout or connection dropped), and
whether p95 <= 3 x p50.

Fault phase: load from C clients while the face-verify worker (the python
`ts/model_service_worker.py` child of the Java frontend, pid from the management API) is
killed with SIGKILL, --kills times, waiting each time until TorchServe has restarted it.
Run three ways: raw requests without retry; FaceClient as shipped (retries 502/503/504 and
connection errors); FaceClient whose caller also resends on TorchServe's "Worker died." answer
(500 or 507: what the request running in a killed worker gets). Reported: failures per kill,
recovery time, the slowest answer around the kill.

Writes reports/load.json (a section from an earlier run that this run did not redo is kept,
with its own timestamp). Only 127.0.0.1 is ever sent load.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from urllib3.filepost import encode_multipart_formdata

from bench.photos import PhotoSet, photo_set
from bench.target import REPO, Target, machine_state, write_report
from report.results import LatencySummary, LoadReport

RATIO_TARGET = 3.0  # p95 <= 3 x p50


@dataclass
class Sample:
    start: float
    end: float
    status: int | None  # HTTP status; None: no answer (lost)
    kind: str  # "ok", or what went wrong: "http_507", "wrong_answer", "ReadTimeout", ...
    attempts: int = 1
    detail: str = ""  # the answer's (or the exception's) text when it went wrong

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Checker:
    """Same photos -> the same answer: verdicts, face counts, boxes; scores to 1e-4."""

    expected: dict

    def kind(self, status: int | None, body: dict | None) -> str:
        if status != 200:
            return f"http_{status}"
        if not isinstance(body, dict) or "results" not in body:
            return "wrong_answer"
        got, want = body["results"], self.expected["results"]
        if len(got) != len(want):
            return "wrong_answer"
        for a, b in zip(got, want, strict=False):
            if (a["name"], a["match"], a["faces"]) != (b["name"], b["match"], b["faces"]):
                return "wrong_answer"
            if (a["score"] is None) != (b["score"] is None) or (
                    a["score"] is not None and abs(a["score"] - b["score"]) > 1e-4):
                return "wrong_answer"
        return "ok"


class Sender:
    """One client thread's way of sending the request."""

    def __init__(self, mode: str, target: Target, photos: PhotoSet, timeout: float, checker: Checker) -> None:
        self.mode, self.timeout, self.checker = mode, timeout, checker
        self.url = f"{target.inference}/predictions/face-verify"
        self.headers = target.auth()
        self.photos = photos
        fields = [(name, value) for name, value in photos.form_fields().items()]
        self.body, self.content_type = encode_multipart_formdata(fields)
        self.session = requests.Session()
        self.client = None
        if mode != "raw":
            from client import FaceClient

            self.client = FaceClient(target.inference, key_file=target.key_file, timeout=timeout, retries=2)
            self.client._session.request = self._counting(self.client._session.request)
        self.attempts = 0

    def _counting(self, request):
        def wrapped(*args, **kwargs):
            self.attempts += 1
            return request(*args, **kwargs)
        return wrapped

    def send(self) -> Sample:
        start = time.monotonic()
        if self.client is not None:
            return self._send_client(start)
        try:
            response = self.session.post(self.url, data=self.body, timeout=(5, self.timeout),
                                         headers={**self.headers, "Content-Type": self.content_type})
        except requests.RequestException as exc:
            return Sample(start, time.monotonic(), None, type(exc).__name__, detail=str(exc)[:200])
        try:
            body = response.json()
        except ValueError:
            body = None
        kind = self.checker.kind(response.status_code, body)
        return Sample(start, time.monotonic(), response.status_code, kind,
                      detail="" if kind == "ok" else " ".join(response.text.split())[:200])

    def _verify(self):
        """FaceClient.verify; in mode client_retry_worker_died also resent (twice at most) when
        TorchServe answers "Worker died." (500 or 507): what the client could do, not what it does."""
        from client import FaceClientError

        for retry in range(3):
            try:
                return self.client.verify(self.photos.reference, self.photos.tests)
            except FaceClientError as exc:
                if (self.mode != "client_retry_worker_died" or retry == 2 or exc.status not in (500, 507)
                        or "Worker died" not in str(exc)):
                    raise
                time.sleep(0.25 * 2 ** retry)

    def _send_client(self, start: float) -> Sample:
        from client import FaceClientError, RequestTimeoutError, ServerUnavailableError

        self.attempts = 0
        try:
            result = self._verify()
        except (RequestTimeoutError, ServerUnavailableError) as exc:
            lost = exc.status is None  # no HTTP answer at all
            return Sample(start, time.monotonic(), exc.status,
                          type(exc).__name__ if lost else f"http_{exc.status}", self.attempts, str(exc)[:200])
        except FaceClientError as exc:
            return Sample(start, time.monotonic(), exc.status, f"http_{exc.status}", self.attempts, str(exc)[:200])
        body = result.model_dump(mode="json")
        return Sample(start, time.monotonic(), 200, self.checker.kind(200, body), self.attempts)

    def close(self) -> None:
        self.session.close()
        if self.client is not None:
            self.client.close()


def run_clients(make_sender, concurrency: int, stop: threading.Event, deadline: float | None) -> list[Sample]:
    samples: list[Sample] = []
    lock = threading.Lock()

    def loop() -> None:
        sender = make_sender()
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                sample = sender.send()
                with lock:
                    samples.append(sample)
        finally:
            sender.close()

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    if deadline is not None:
        while time.monotonic() < deadline:
            time.sleep(0.1)
    for thread in threads:
        thread.join()
    return samples


def summarize(samples: list[Sample], started: float) -> dict:
    ok = [s for s in samples if s.ok]
    answered = [s for s in samples if s.status is not None]
    errors: dict[str, int] = {}
    lost: dict[str, int] = {}
    examples: dict[str, str] = {}
    for s in samples:
        if s.ok:
            continue
        target = errors if s.status is not None else lost
        target[s.kind] = target.get(s.kind, 0) + 1
        examples.setdefault(s.kind, s.detail)
    wall = (max(s.end for s in samples) - started) if samples else 0.0
    lat = LatencySummary.of([s.seconds for s in ok]) if ok else None  # None: no correct answer to time
    summary = {
        "sent": len(samples), "answered": len(answered), "ok": len(ok),
        "errors": sum(errors.values()), "errors_by_kind": errors,
        "lost": sum(lost.values()), "lost_by_kind": lost, "failure_examples": examples,
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(ok) / wall, 3) if wall else 0.0,
        "latency_s": lat,
    }
    if lat is not None:
        summary["p95_over_p50"] = round(lat.p95 / lat.p50, 3)
        summary["p95_within_3x_p50"] = lat.p95 <= RATIO_TARGET * lat.p50
    return summary


def load_phase(target: Target, photos: PhotoSet, checker: Checker, concurrency: int, duration: float,
               timeout: float) -> dict:
    print(f"load: concurrency {concurrency}, {duration:g} s ...", flush=True)
    started = time.monotonic()
    samples = run_clients(lambda: Sender("raw", target, photos, timeout, checker), concurrency,
                          threading.Event(), started + duration)
    summary = {"concurrency": concurrency, "duration_s": duration} | summarize(samples, started)
    lat = summary["latency_s"]
    print(f"  {summary['ok']} ok, {summary['errors']} errors, {summary['lost']} lost; "
          f"{summary['throughput_rps']} req/s; p50 {lat and lat.p50} s p95 {lat and lat.p95} s "
          f"p99 {lat and lat.p99} s", flush=True)
    return summary


def wait_for_new_worker(target: Target, old_pid: int, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            ready = [w for w in target.workers("face-verify") if w["status"] == "READY" and w.get("pid") != old_pid]
        except requests.RequestException:
            ready = []
        if ready:
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def fault_phase(target: Target, photos: PhotoSet, checker: Checker, mode: str, concurrency: int, kills: int,
                settle: float, timeout: float) -> dict:
    print(f"fault ({mode}): concurrency {concurrency}, {kills} worker kill(s) ...", flush=True)
    stop = threading.Event()
    samples: list[Sample] = []
    started = time.monotonic()
    runner = threading.Thread(target=lambda: samples.extend(run_clients(
        lambda: Sender(mode, target, photos, timeout, checker), concurrency, stop, None)), daemon=True)
    runner.start()
    time.sleep(settle)
    events = []
    for _ in range(kills):
        process = target.worker_process("face-verify")
        killed_at = time.monotonic()
        process.send_signal(signal.SIGKILL)
        recovery = wait_for_new_worker(target, process.pid, timeout=180)
        events.append({"pid": process.pid, "at": killed_at, "recovery_s": recovery})
        print(f"  killed worker {process.pid}; new worker ready after "
              f"{'-' if recovery is None else f'{recovery:.1f}'} s", flush=True)
        time.sleep(settle)
    stop.set()
    runner.join()
    summary = {"mode": mode, "concurrency": concurrency} | summarize(samples, started)
    per_kill = []
    for event in events:
        end = event["at"] + (event["recovery_s"] or 0) + settle
        window = [s for s in samples if s.end >= event["at"] and s.start <= end]
        per_kill.append({
            "worker_pid": event["pid"],
            "recovery_s": None if event["recovery_s"] is None else round(event["recovery_s"], 2),
            "requests_in_window": len(window),
            "failed": sum(not s.ok for s in window),
            "failed_by_kind": _count(s.kind for s in window if not s.ok),
            "slowest_answer_s": round(max((s.seconds for s in window), default=0.0), 2),
        })
    summary["kills"] = per_kill
    summary["failed_total"] = summary["errors"] + summary["lost"]
    if mode != "raw":
        summary["retried_requests"] = sum(s.attempts > 1 for s in samples)
    print(f"  {summary['failed_total']} failed of {summary['sent']} "
          f"({summary['errors_by_kind'] | summary['lost_by_kind']})", flush=True)
    return summary


def _count(kinds) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind in kinds:
        out[kind] = out.get(kind, 0) + 1
    return out


def fault_section(target, photos, checker, args) -> dict:
    import client.client as client_module

    shipped = sorted(client_module.RETRY_STATUSES)
    runs = {"raw": fault_phase(target, photos, checker, "raw", args.fault_concurrency, args.kills,
                               args.settle, args.timeout),
            "client": fault_phase(target, photos, checker, "client", args.fault_concurrency, args.kills,
                                  args.settle, args.timeout)}
    runs["client_retry_worker_died"] = fault_phase(target, photos, checker, "client_retry_worker_died",
                                                   args.fault_concurrency, args.kills, args.settle, args.timeout)
    raw, client = runs["raw"]["failed_total"], runs["client"]["failed_total"]
    section = {
        "generated": _now(), "how": "SIGKILL of the face-verify worker process under load, "
        f"{args.kills} time(s) per run; each run waits for TorchServe to restart the worker",
        "client_retry_statuses_shipped": shipped, "runs": runs,
        "raw_failures": raw, "client_failures": client,
        "client_hides_worker_crashes": client == 0,
    }
    section["client_retry_worker_died_failures"] = runs["client_retry_worker_died"]["failed_total"]
    section["note"] = ("the request running in a killed worker is answered 500 or 507 'Worker died.' "
                       "(TorchServe 0.12); FaceClient retries only connection errors and 502/503/504, so it "
                       "passes that failure on. Requests queued meanwhile wait for the restarted worker and "
                       "succeed. client_retry_worker_died: the same FaceClient with the caller resending "
                       "on 'Worker died.' (safe: verify is idempotent).")
    return section


def front_of_replicas(target: Target) -> int:
    """How many replicas stand behind `target` when it is `make serve REPLICAS=N`'s nginx, else 0."""
    try:
        state = json.loads((REPO / ".serve" / "replicas.json").read_text())
    except (OSError, ValueError):
        return 0
    return len(state["replicas"]) if state["front"]["url"].rstrip("/") == target.inference else 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8], help="clients per phase (4 8)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per load phase (60)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a request may take (120)")
    parser.add_argument("--no-fault", action="store_true", help="skip the worker-kill phase")
    parser.add_argument("--only-fault", action="store_true", help="only the worker-kill phase")
    parser.add_argument("--fault-concurrency", type=int, default=4, help="clients during the kills (4)")
    parser.add_argument("--kills", type=int, default=2, help="worker kills per fault run (2)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of load before/after each kill (5)")
    parser.add_argument("--data-dir", default=None, help="folder holding lfw/ (default $DATA_DIR)")
    parser.add_argument("--url", default=None, help="inference address (default: config.properties)")
    parser.add_argument("--management", default=None, help="management address (default: config.properties)")
    parser.add_argument("--key-file", default=None, help="TorchServe key_file.json (default ./key_file.json)")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "load.json")
    args = parser.parse_args(argv)

    target = Target.from_args(args.url, args.management, args.key_file)
    replicas = front_of_replicas(target)
    if replicas:
        target.check_ping()
    else:
        target.check()
    photos = photo_set(args.data_dir)
    machine = machine_state()
    if not machine["idle"]:
        print(f"warning: the machine is busy (load {machine['loadavg_1_5_15']}, training: "
              f"{len(machine['training_running'])} process(es)): figures are not representative", flush=True)
    warm = requests.Session()
    headers = target.auth()
    expected = None
    for _ in range(3):  # warm-up; the answer every later one must equal
        response = warm.post(f"{target.inference}/predictions/face-verify", files=photos.form_fields(),
                             headers=headers, timeout=args.timeout)
        if response.status_code != 200:
            raise SystemExit(f"warm-up request failed: {response.status_code} {response.text[:300]}")
        expected = response.json()
    checker = Checker(expected)

    report: dict = {}
    if args.out.is_file():
        try:
            report = json.loads(args.out.read_text())
        except ValueError:
            report = {}
    report |= {
        "generated": _now(), "target": target.inference, "request": f"verify 1 + {len(photos.tests)}",
        "photos": photos.source, "machine": machine,
        "server": ({"replicas": replicas, "front": "nginx (make serve REPLICAS=N)"} if replicas
                   else {"face-verify": target.describe("face-verify")}),
    }
    if not args.only_fault:
        phases = [load_phase(target, photos, checker, c, args.duration, args.timeout) for c in args.concurrency]
        at8 = next((p for p in phases if p["concurrency"] == 8), None)
        report["load"] = {"generated": _now(), "phases": phases, "targets": {
            "zero_errors_and_lost_at_8": None if at8 is None else (at8["errors"] == 0 and at8["lost"] == 0),
            "p95_within_3x_p50_at_8": None if at8 is None else at8.get("p95_within_3x_p50"),
        }}
    if replicas and not args.no_fault:
        print("worker-kill phase skipped: the target is the replicas' front (their failover: "
              "python -m bench.failover, which `make loadtest` runs next)", flush=True)
    elif not args.no_fault:
        report["fault"] = fault_section(target, photos, checker, args)
    report["machine_after"] = machine_state()
    write_report(args.out, report, LoadReport)
    return 0


if __name__ == "__main__":
    sys.exit(main())
