"""python -m scripts.serve start|stop|status: `make serve`, `make stop`, `make status`.

start: TorchServe with the models config.properties loads, from the repository root (so its
       key file is ./key_file.json), logs in logs/; waits until /ping says Healthy and every
       model has a READY worker (--timeout, default $SERVE_TIMEOUT or 180 s), then prints the
       URL, the key file and a curl example. On failure it shows the log tail, stops what it
       started and exits 1. Already running and healthy: says so (and applies --embed-workers).
stop:  the replicas (if any), then the single server of this clone, and ./key_file.json.
status: the replicas' state checked live, or the single server's health.

The single server's temp dir (pid file, worker sockets, unpacked archives) is private to this
clone and recorded in .serve/tmpdir, so `stop` finds this server and no other.
--replicas N (N > 1): N TorchServe replicas behind nginx on the same address, one service key
in ./key_file.json (python -m scripts.replicas; state in .serve/replicas.json).
--embed-workers N: face-embed with N workers (bulk enrolment; docs/gallery.md), in the single
server or in each replica.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

from scripts.replicas import front
from scripts.replicas.__main__ import main as replicas_main
from scripts.replicas.state import StateStore
from scripts.torchserve import ConfigError, ServeError, TorchServe

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".serve"
TMPDIR_RECORD = STATE_DIR / "tmpdir"
LOGS = REPO / "logs"


def single_server(config: Path, venv_bin: Path, embed_workers: int = 1) -> TorchServe:
    """`make serve`'s one TorchServe (the one running, if its temp dir is recorded)."""
    recorded = TMPDIR_RECORD.read_text().strip() if TMPDIR_RECORD.is_file() else None
    return TorchServe(REPO, config, venv_bin=venv_bin, logs=LOGS, tmpdir=recorded or None,
                      workers={"face-embed": embed_workers} if embed_workers > 1 else {})


def in_use(address: str) -> bool:
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def print_usage(inference: str, served_by: str, logs: str) -> None:
    examples = STATE_DIR / "examples"
    if not (examples / "cat.jpg").is_file():
        subprocess.run([sys.executable, str(REPO / "scripts" / "example_photos.py"), str(examples)],
                       check=True, stdout=subprocess.DEVNULL)
    shown = os.path.relpath(examples, Path.cwd())
    print(f"""
{served_by}
Token file: {REPO / 'key_file.json'}  (the inference key is its ["inference"]["key"])
Logs: {logs}  (ts_log.log, model_log.log, access_log.log)

Try it (sample photos in {shown}/):
  KEY=$(python3 -c 'import json; print(json.load(open("key_file.json"))["inference"]["key"])')
  curl -H "Authorization: Bearer $KEY" {inference}/predictions/face-verify \\
       -F reference=@{shown}/reference.jpg -F test_1=@{shown}/group.jpg \\
       -F test_2=@{shown}/other.jpg -F test_3=@{shown}/cat.jpg

Stop it with: make stop""")


def replicas_recorded() -> bool:
    return StateStore(STATE_DIR).read() is not None


def replicas_running() -> bool:
    """Replicas recorded and their nginx front up (a state left by a crash does not count)."""
    return replicas_recorded() and front.master_pid(STATE_DIR / "nginx") is not None


def start(args) -> int:
    if args.replicas > 1 or replicas_running():  # (also when replicas already run: it says so)
        return start_replicas(args)
    server = single_server(args.config, args.venv_bin, args.embed_workers)
    pid = server.frontend_pid()
    if pid is not None:
        if not server.ready():
            print(f"A TorchServe of this clone is running (pid {pid}) but not healthy: run 'make stop'.",
                  file=sys.stderr)
            return 1
        print(f"TorchServe is already running (pid {pid}); 'make stop' first to reload the models.")
        server.scale(server.workers)
        report_workers(server)
        print_usage(server.inference, served_by(server), f"{LOGS}/")
        return 0
    for address in (server.inference, server.management, server.metrics):
        if in_use(address):
            print(f"serve: {address} is already in use (another TorchServe? 'make stop', or change {args.config})",
                  file=sys.stderr)
            return 1
    print(f"starting TorchServe ({args.config.name}, logs in {LOGS}/) ...", flush=True)
    try:
        server.start()
        TMPDIR_RECORD.parent.mkdir(parents=True, exist_ok=True)
        TMPDIR_RECORD.write_text(f"{server.tmpdir}\n")
        seconds = server.wait_ready(args.timeout)
    except ServeError as exc:
        return fail(server, str(exc))
    if seconds is None:
        return fail(server, "TorchServe exited during start-up" if server.frontend_pid() is None
                    else f"TorchServe was not healthy after {args.timeout:g}s")
    report_workers(server)
    print(f"healthy after {seconds:g}s")
    print_usage(server.inference, served_by(server), f"{LOGS}/")
    return 0


def served_by(server: TorchServe) -> str:
    return f"TorchServe is up: {server.inference}  (management {server.management}, metrics {server.metrics})"


def report_workers(server: TorchServe) -> None:
    for model, count in server.workers.items():
        print(f"{model}: {count} workers")


def fail(server: TorchServe, reason: str) -> int:
    print(f"serve: {reason}. Log tail:\n{server.log_tail()}", file=sys.stderr)
    stop_single(server)
    print(f"serve: stopped what was started; full logs in {LOGS}/", file=sys.stderr)
    return 1


def start_replicas(args) -> int:
    subprocess.run(["bash", str(REPO / "scripts" / "check_nginx.sh")], check=True)
    if single_server(args.config, args.venv_bin).frontend_pid() is not None:
        print("serve: a single TorchServe of this clone is running: 'make stop' first.", file=sys.stderr)
        return 1
    code = replicas_main(["start", "--replicas", str(args.replicas), "--embed-workers", str(args.embed_workers),
                          "--config", str(args.config), "--timeout", str(args.timeout),
                          "--venv-bin", str(args.venv_bin)])
    if code == 0:
        state = StateStore(STATE_DIR).read()
        print_usage(state.front.url, f"nginx is up: {state.front.url}, in front of the TorchServe replicas "
                    "(ports, pids, health: make status)", f"{STATE_DIR}/replicas/<n>/logs/")
    return code


def stop_single(server: TorchServe) -> bool:
    """Stop the single server (if it runs) and remove its record and key file; whether it ran."""
    ran = server.stop()
    TMPDIR_RECORD.unlink(missing_ok=True)
    server.key_file.unlink(missing_ok=True)
    return ran


def stop(args) -> int:
    if replicas_recorded():
        replicas_main(["stop", "--venv-bin", str(args.venv_bin)])
    if stop_single(single_server(args.config, args.venv_bin)):
        print("TorchServe stopped.")
    else:
        print("TorchServe (this clone) is not running.")
    return 0


def status(args) -> int:
    if replicas_recorded():
        return replicas_main(["status", "--venv-bin", str(args.venv_bin)])
    server = single_server(args.config, args.venv_bin)
    pid = server.frontend_pid()
    if pid is not None and server.ready():
        print(f"healthy (pid {pid}) at {server.inference}")
        return 0
    print("not running")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", 1)),
                        help="TorchServe replicas behind nginx (default $REPLICAS or 1: a single server)")
    parser.add_argument("--embed-workers", type=int, default=int(os.environ.get("EMBED_WORKERS", 1)),
                        help="face-embed workers (default $EMBED_WORKERS or 1)")
    parser.add_argument("--config", type=Path, default=Path(os.environ.get("TS_CONFIG", REPO / "config.properties")),
                        help="TorchServe settings (default $TS_CONFIG or config.properties)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("SERVE_TIMEOUT", 180)),
                        help="seconds to wait for the models (default $SERVE_TIMEOUT or 180)")
    parser.add_argument("--venv-bin", type=Path, default=Path(sys.executable).parent,
                        help="where torchserve is (default: this interpreter's folder)")
    args = parser.parse_args(argv)
    args.config = args.config.resolve()
    try:
        return {"start": start, "stop": stop, "status": status}[args.command](args)
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
