"""python -m scripts.replicas start|stop|status|supervise (see the package docstring)."""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from scripts.replicas import front, torchserve
from scripts.replicas.layout import REPO, Ports, load_state, new_replica, now, port_of, save_state, state_path
from scripts.replicas.supervisor import Supervisor

SUPERVISOR_MARK = "scripts.replicas supervise"


def config_front(config: Path) -> str:
    """The service address: config.properties' inference_address (127.0.0.1:8080)."""
    found = re.findall(r"^inference_address=https?://(\S+)$", config.read_text(), re.M)
    return found[-1] if found else "127.0.0.1:8080"


def busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(args) -> int:
    state_dir = args.state_dir
    running = load_state(state_dir)
    if running is not None and front.master_pid(state_dir / "nginx") is not None:
        print(f"{len(running['replicas'])} replica(s) already running behind {running['front']['url']}; "
              "`make stop` first to change them.")
        return 0
    listen = args.front or config_front(args.config)
    ports = [port_of(listen)] + [p for i in range(1, args.replicas + 1) for p in Ports.of(args.base_port, i).all()]
    taken = [p for p in ports if busy(p)]
    if taken:
        raise SystemExit(f"ports in use: {taken} (another server? `make stop`, or --base-port/--front)")
    state = {"front": {"listen": listen, "url": f"http://{listen}", "pid": None,
                       "config": str(state_dir / "nginx" / "nginx.conf"),
                       "access_log": str(state_dir / "nginx" / "access.log")},
             "supervisor": {"pid": None, "log": str(state_dir / "supervisor.log")},
             "key_file": str(args.key_file), "service_key": front.new_service_key(), "started": now(),
             "replicas": [new_replica(state_dir, args.base_port, i) for i in range(1, args.replicas + 1)]}
    print(f"starting {args.replicas} TorchServe replica(s) (logs in {state_dir}/replicas/<n>/logs/) ...", flush=True)
    for replica in state["replicas"]:
        torchserve.prepare(replica, args.config, args.model_store)
        torchserve.launch(replica, args.venv_bin)
    save_state(state_dir, state)
    for replica in state["replicas"]:
        if not torchserve.wait_ready(replica, args.timeout):
            save_state(state_dir, state)
            stop(args)
            log = Path(replica["dir"]) / "logs"
            raise SystemExit(f"replica {replica['index']} was not ready after {args.timeout:g} s; "
                             f"logs: {log}/ (serve.out, ts_log.log, model_log.log)")
        print(f"  replica {replica['index']}: {replica['inference']} ready after {replica['start_seconds']} s",
              flush=True)
    front.write_key_file(args.key_file, state["service_key"])
    prefix = state_dir / "nginx"
    front.write_config(state, prefix)
    state["front"]["pid"] = front.start(prefix)
    save_state(state_dir, state)
    if not front.answers(state["front"]["url"], state["service_key"]):
        stop(args)
        raise SystemExit(f"nginx does not answer on {state['front']['url']}; see {prefix / 'error.log'}")
    state["supervisor"]["pid"] = launch_supervisor(args)
    save_state(state_dir, state)
    print(f"nginx on {state['front']['url']} in front of {args.replicas} replica(s); "
          f"state: {state_path(state_dir)}")
    return 0


def launch_supervisor(args) -> int:
    log = open(args.state_dir / "supervisor.log", "a")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.replicas", "supervise", "--state-dir", str(args.state_dir),
         "--venv-bin", str(args.venv_bin), "--timeout", str(args.timeout)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return process.pid


def supervisor_process(state: dict) -> psutil.Process | None:
    try:
        process = psutil.Process(state["supervisor"]["pid"])
        return process if SUPERVISOR_MARK in " ".join(process.cmdline()) else None
    except (psutil.Error, TypeError, KeyError):
        return None


def stop(args) -> int:
    state = load_state(args.state_dir)
    if state is None:
        print("no replicas running (no state file).")
        return 0
    supervisor = supervisor_process(state)
    if supervisor is not None:  # first, so it restarts nothing while the rest stops
        supervisor.terminate()
        psutil.wait_procs([supervisor], timeout=200)
        state = load_state(args.state_dir) or state
    front.stop(args.state_dir / "nginx")
    for replica in state["replicas"]:
        torchserve.stop(replica, args.venv_bin)
    key_file = Path(state["key_file"])
    try:
        if json.loads(key_file.read_text())["inference"]["key"] == state["service_key"]:
            key_file.unlink()  # only ours
    except (OSError, ValueError, KeyError, TypeError):
        pass
    state_path(args.state_dir).unlink(missing_ok=True)
    print(f"stopped nginx and {len(state['replicas'])} replica(s).")
    return 0


def status(args) -> int:
    state = load_state(args.state_dir)
    if state is None:
        print("no replicas running (no state file).")
        return 1
    state["front"]["running"] = front.master_pid(args.state_dir / "nginx") is not None
    state["supervisor"]["running"] = supervisor_process(state) is not None
    for replica in state["replicas"]:
        alive = torchserve.frontend_pid(replica) is not None
        replica["health_now"] = ("healthy" if torchserve.pings(replica) else "unhealthy") if alive else "dead"
        replica["memory_mb"] = torchserve.memory_mb(replica) if alive else None
    state.pop("service_key")
    print(json.dumps(state, indent=2))
    return 0 if state["front"]["running"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.replicas", description=__doc__)
    parser.add_argument("command", choices=("start", "stop", "status", "supervise"))
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", 2)))
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
    if args.command == "supervise":
        Supervisor(args.state_dir, args.venv_bin, args.timeout).run()
        return 0
    return {"start": start, "stop": stop, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
