"""python -m scripts.replicas start|stop|status|supervise (see the package docstring)."""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from scripts.replicas import front, replica
from scripts.replicas.layout import REPO, Ports, new_replica, port_of
from scripts.replicas.state import Front, ServiceState, StateStore, SupervisorInfo
from scripts.replicas.supervisor import Supervisor
from scripts.torchserve import ConfigError, ServeError, TorchServe, key_in

SUPERVISOR_MARK = "scripts.replicas supervise"


def busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(args) -> int:
    store = StateStore(args.state_dir)
    running = store.read()
    if running is not None and front.master_pid(args.state_dir / "nginx") is not None:
        print(f"{len(running.replicas)} replica(s) already running behind {running.front.url}; "
              "`make stop` first to change them.")
        return 0
    # The service address: config.properties' inference_address (127.0.0.1:8080).
    listen = args.front or TorchServe(REPO, args.config).inference.split("://", 1)[-1]
    ports = [port_of(listen)] + [p for i in range(1, args.replicas + 1) for p in Ports.of(args.base_port, i).all()]
    taken = [p for p in ports if busy(p)]
    if taken:
        raise SystemExit(f"ports in use: {taken} (another server? `make stop`, or --base-port/--front)")
    prefix = args.state_dir / "nginx"
    state = ServiceState(
        front=Front(listen=listen, url=f"http://{listen}", config=str(prefix / "nginx.conf"),
                    access_log=str(prefix / "access.log")),
        supervisor=SupervisorInfo(log=str(args.state_dir / "supervisor.log")),
        key_file=str(args.key_file), service_key=front.new_service_key(),
        workers={"face-embed": args.embed_workers} if args.embed_workers > 1 else {},
        gallery_replica=replica.gallery_replica(args.config),
        replicas=[new_replica(args.state_dir, args.base_port, i) for i in range(1, args.replicas + 1)])
    print(f"starting {args.replicas} TorchServe replica(s) (logs in {args.state_dir}/replicas/<n>/logs/) ...",
          flush=True)
    servers = {}
    for entry in state.replicas:
        replica.prepare(entry, args.config, args.model_store, loads_gallery=entry.index == state.gallery_replica)
        servers[entry.index] = server = replica.server(entry, args.venv_bin, state.workers)
        server.start()
        entry.tmpdir, entry.started_at = str(server.tmpdir), server.started_at
    store.create(state)
    for entry in state.replicas:
        server = servers[entry.index]
        try:
            seconds = server.wait_ready(args.timeout)
        except ServeError as exc:
            stop(args)
            raise SystemExit(f"replica {entry.index}: {exc}") from None
        if seconds is None:
            tail = server.log_tail()
            stop(args)
            raise SystemExit(f"replica {entry.index} was not ready after {args.timeout:g} s. Log tail:\n{tail}\n"
                             f"logs: {server.logs}/")
        store.update_replica(entry.index, pid=server.frontend_pid(), health="healthy", start_seconds=seconds)
        workers = "".join(f", {model}: {count} workers" for model, count in state.workers.items())
        gallery = ", the galleries' owner" if entry.index == state.gallery_replica else ""
        print(f"  replica {entry.index}: {entry.inference} ready after {seconds} s{workers}{gallery}", flush=True)
    front.write_key_file(args.key_file, state.service_key)
    with store.update() as current:
        front.write_config(current, prefix)
        current.front.pid = front.start(prefix)
    if not front.answers(state.front.url, state.service_key):
        stop(args)
        raise SystemExit(f"nginx does not answer on {state.front.url}; see {prefix / 'error.log'}")
    with store.update() as current:
        current.supervisor.pid = launch_supervisor(args)
    print(f"nginx on {state.front.url} in front of {args.replicas} replica(s); state: {store.path}")
    return 0


def launch_supervisor(args) -> int:
    log = open(args.state_dir / "supervisor.log", "a")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.replicas", "supervise", "--state-dir", str(args.state_dir),
         "--venv-bin", str(args.venv_bin), "--timeout", str(args.timeout)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return process.pid


def supervisor_process(state: ServiceState) -> psutil.Process | None:
    try:
        process = psutil.Process(state.supervisor.pid)
        return process if SUPERVISOR_MARK in " ".join(process.cmdline()) else None
    except (psutil.Error, TypeError, ValueError):
        return None


def stop(args) -> int:
    store = StateStore(args.state_dir)
    state = store.read()
    if state is None:
        print("no replicas running (no state file).")
        return 0
    supervisor = supervisor_process(state)
    if supervisor is not None:  # first, so it restarts nothing while the rest stops
        supervisor.terminate()
        psutil.wait_procs([supervisor], timeout=200)
        state = store.read() or state
    front.stop(args.state_dir / "nginx")
    for entry in state.replicas:
        replica.server(entry, args.venv_bin).stop()
    key_file = Path(state.key_file)
    if key_in(key_file) == state.service_key:
        key_file.unlink()  # only ours
    store.remove()
    print(f"stopped nginx and {len(state.replicas)} replica(s).")
    return 0


def status(args) -> int:
    state = StateStore(args.state_dir).read()
    if state is None:
        print("no replicas running (no state file).")
        return 1
    shown = state.model_dump(exclude={"service_key"})
    shown["front"]["running"] = front.master_pid(args.state_dir / "nginx") is not None
    shown["supervisor"]["running"] = supervisor_process(state) is not None
    for entry, row in zip(state.replicas, shown["replicas"], strict=True):
        server = replica.server(entry, args.venv_bin)
        alive = server.frontend_pid() is not None
        row["health_now"] = ("healthy" if server.pings() else "unhealthy") if alive else "dead"
        row["memory_mb"] = server.memory_mb() if alive else None
    print(json.dumps(shown, indent=2))
    return 0 if shown["front"]["running"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.replicas", description=__doc__)
    parser.add_argument("command", choices=("start", "stop", "status", "supervise"))
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", 2)))
    parser.add_argument("--embed-workers", type=int, default=int(os.environ.get("EMBED_WORKERS", 1)),
                        help="face-embed workers in each replica (default $EMBED_WORKERS or 1)")
    parser.add_argument("--front", default=None, help="HOST:PORT of nginx (default: config.properties' address)")
    parser.add_argument("--base-port", type=int, default=8100, help="replica n uses base + 10(n-1) ... +5")
    parser.add_argument("--state-dir", type=Path, default=REPO / ".serve")
    parser.add_argument("--key-file", type=Path, default=REPO / "key_file.json")
    parser.add_argument("--config", type=Path, default=REPO / "config.properties")
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store")
    parser.add_argument("--venv-bin", type=Path, default=Path(sys.executable).parent)
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("SERVE_TIMEOUT", 180)))
    args = parser.parse_args(argv)
    args.state_dir = args.state_dir.resolve()
    args.key_file, args.config = args.key_file.resolve(), args.config.resolve()
    args.model_store = args.model_store.resolve()
    if args.command == "start" and not 1 <= args.replicas <= 9:
        parser.error("--replicas must be 1 ... 9")
    if args.embed_workers < 1:
        parser.error("--embed-workers must be at least 1")
    if args.command == "supervise":
        Supervisor(args.state_dir, args.venv_bin, args.timeout).run()
        return 0
    try:
        return {"start": start, "stop": stop, "status": status}[args.command](args)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
