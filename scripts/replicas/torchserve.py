"""One replica: a whole TorchServe with its own config, model store, logs, temp dir and keys."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import requests

MODELS = ("face-verify", "face-embed")
FRONTEND = "org.pytorch.serve.ModelServer"
# The replicas' own keys never leave this machine (nginx adds them); they are renewed at
# every replica start, so they need not expire within a day like the one TorchServe's.
KEY_MINUTES = 525600


def write_config(replica: dict, source: Path) -> Path:
    """config.properties with the replica's ports and store; every other setting kept."""
    text = source.read_text()
    values = {
        "inference_address": replica["inference"], "management_address": replica["management"],
        "metrics_address": replica["metrics"], "model_store": str(Path(replica["dir"]) / "model_store"),
        "grpc_inference_port": replica["grpc_ports"][0], "grpc_management_port": replica["grpc_ports"][1],
        "token_expiration_min": KEY_MINUTES,
    }
    for key, value in values.items():
        text, count = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        if count == 0:
            text += f"\n{key}={value}\n"
    for key in ("disable_token_authorization=false", "enable_model_api=false"):
        if not re.search(rf"^{re.escape(key)}$", text, re.M):
            raise SystemExit(f"{source} lacks {key}: a replica keeps the service's security settings")
    path = Path(replica["dir"]) / "config.properties"
    path.write_text(text)
    return path


def prepare(replica: dict, source_config: Path, source_store: Path) -> None:
    """The replica's folder: config, model store (hard links to the .mar files), logs."""
    folder = Path(replica["dir"])
    store = folder / "model_store"
    store.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    for model in MODELS:
        source, target = source_store / f"{model}.mar", store / f"{model}.mar"
        if not source.is_file():
            raise SystemExit(f"{source} is missing: run `make archive`")
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another file system
            shutil.copy2(source, target)
    write_config(replica, source_config)


def launch(replica: dict, venv_bin: Path) -> None:
    """Start TorchServe in the background (cwd = its folder: its key_file.json lands there)."""
    folder = Path(replica["dir"])
    (folder / "key_file.json").unlink(missing_ok=True)
    tmp = tempfile.mkdtemp(prefix="face-replica.", dir="/tmp")  # short: worker unix sockets live here
    replica.update(tmpdir=tmp, pid=None, health="starting", started_at=time.time(), start_seconds=None)
    env = {**os.environ, "TMPDIR": tmp, "TEMP": tmp, "LOG_LOCATION": str(folder / "logs"),
           "METRICS_LOCATION": str(folder / "logs"), "PATH": f"{venv_bin}:{os.environ['PATH']}"}
    with open(folder / "logs" / "serve.out", "w") as out:
        subprocess.run([str(venv_bin / "torchserve"), "--start", "--ncs", "--ts-config", "config.properties",
                        "--model-store", "model_store", "--models",
                        *(f"{model}={model}.mar" for model in MODELS)],
                       cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=60)


def frontend_pid(replica: dict) -> int | None:
    """The Java frontend's pid while this replica's TorchServe runs, else None."""
    if not replica.get("tmpdir"):
        return None
    try:
        pid = int((Path(replica["tmpdir"]) / ".model_server.pid").read_text())
        if any(FRONTEND in part for part in psutil.Process(pid).cmdline()):
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def key(replica: dict, kind: str = "inference") -> str | None:
    try:
        return json.loads((Path(replica["dir"]) / "key_file.json").read_text())[kind]["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pings(replica: dict, timeout: float = 5.0) -> bool:
    inference_key = key(replica)
    if inference_key is None:
        return False
    try:
        answer = requests.get(f"{replica['inference']}/ping", timeout=timeout,
                              headers={"Authorization": f"Bearer {inference_key}"})
        return answer.status_code == 200 and answer.json().get("status") == "Healthy"
    except (requests.RequestException, ValueError):
        return False


def ready(replica: dict) -> bool:
    """/ping says Healthy and each model has a READY worker (ping alone is early at start)."""
    management_key = key(replica, "management")
    if not pings(replica) or management_key is None:
        return False
    try:
        for model in MODELS:
            described = requests.get(f"{replica['management']}/models/{model}", timeout=5,
                                     headers={"Authorization": f"Bearer {management_key}"}).json()
            if not any(worker["status"] == "READY" for worker in described[0]["workers"]):
                return False
    except (requests.RequestException, ValueError, KeyError, IndexError, TypeError):
        return False
    return True


def wait_ready(replica: dict, timeout: float, cancelled=lambda: False) -> bool:
    started = replica["started_at"]
    while time.time() - started < timeout and not cancelled():
        pid = frontend_pid(replica)
        if pid is None and time.time() - started > 10:
            return False  # died during start-up
        if pid is not None and ready(replica):
            replica.update(pid=pid, health="healthy", start_seconds=round(time.time() - started, 1))
            return True
        time.sleep(0.5)
    return False


def leftovers(replica: dict) -> list[psutil.Process]:
    """This replica's processes: its frontend and the python workers, which live in its temp
    dir (their sockets are there), even after a SIGKILL of the frontend left them orphaned."""
    tmp = replica.get("tmpdir")
    if not tmp:
        return []
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = process.info["cmdline"] or []
            if any(tmp in part for part in cmdline) or (
                    process.pid == replica.get("pid") and any(FRONTEND in part for part in cmdline)):
                found.append(process)
        except psutil.Error:
            continue
    return found


def stop(replica: dict, venv_bin: Path) -> None:
    """`torchserve --stop` for this replica, then whatever of it is left is killed."""
    tmp = replica.get("tmpdir")
    if tmp and frontend_pid(replica) is not None:
        env = {**os.environ, "TMPDIR": tmp, "PATH": f"{venv_bin}:{os.environ['PATH']}"}
        subprocess.run([str(venv_bin / "torchserve"), "--stop"], cwd=replica["dir"], env=env,
                       capture_output=True, check=False, timeout=60)
    processes = leftovers(replica)
    _, alive = psutil.wait_procs(processes, timeout=20)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=10)
    if tmp and Path(tmp).name.startswith("face-replica."):
        shutil.rmtree(tmp, ignore_errors=True)
    replica.update(pid=None, tmpdir=None, health="stopped")


def memory_mb(replica: dict) -> float | None:
    """Resident memory of the replica (frontend + workers), MiB (proportional set size, so
    pages shared between processes count once)."""
    total = 0
    for process in leftovers(replica):
        try:
            info = process.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except psutil.Error:
            continue
    return round(total / 2**20, 1) if total else None
