"""One TorchServe: its config.properties, start, health, keys, workers and stop.

`make serve`'s single server (scripts/serve.py), each replica of `make serve REPLICAS=N`
(scripts/replicas/), the test servers (tests/conftest.py) and the benchmarks' target
(bench/target.py) all go through this module: config.properties is parsed here, ports are
rewritten here, and the frontend is recognised here.

    server = TorchServe(folder, folder / "config.properties")
    server.start()
    if server.wait_ready(timeout=180) is None: print(server.log_tail())
    server.stop()
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

# The Java class of TorchServe's frontend: how its process is told apart from any other java.
FRONTEND_CLASS = "org.pytorch.serve.ModelServer"
# Settings every server of this project keeps, whatever config it is started with.
SECURITY_SETTINGS = {"disable_token_authorization": "false", "enable_model_api": "false"}
KEY_KINDS = ("inference", "management", "API")
DEFAULT_ADDRESSES = {"inference_address": "http://127.0.0.1:8080", "management_address": "http://127.0.0.1:8081",
                     "metrics_address": "http://127.0.0.1:8082"}
# Seconds a frontend may take to write its pid file before a missing one means it died.
START_GRACE_S = 10.0


class ConfigError(ValueError):
    """A config.properties this project does not start a server with."""


class ServeError(RuntimeError):
    """A server that cannot be started or scaled (the message says why)."""


def read_config(path: Path) -> dict[str, str]:
    """config.properties as {key: value}: `key=value` lines, comments and blank lines skipped;
    when a key appears twice the last one wins (as in Java's Properties)."""
    settings = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        settings[key.strip()] = value.strip()
    return settings


def model_archives(settings: Mapping[str, str]) -> dict[str, str]:
    """The models `load_models` names, {name: archive file}, in order: `name=file.mar` or
    `file.mar` (its name is the file's stem)."""
    archives = {}
    for entry in filter(None, (part.strip() for part in settings.get("load_models", "").split(","))):
        if entry == "all":
            raise ConfigError("load_models=all: name the models (name=file.mar,...) so health checks know them")
        name, _, archive = entry.rpartition("=")
        archives[name or Path(archive).stem] = archive
    return archives


def check_security(settings: Mapping[str, str], source: Path | str) -> None:
    for key, value in SECURITY_SETTINGS.items():
        if settings.get(key) != value:
            raise ConfigError(f"{source} lacks {key}={value}: every server keeps the service's security settings")


def write_config(source: Path, target: Path, *, inference: str, management: str, metrics: str,
                 grpc_ports: tuple[int, int], model_store: Path, extra: Mapping[str, object] | None = None) -> Path:
    """`source` with other addresses, gRPC ports and model store (and `extra` settings) written
    to `target`; every other line kept. The security settings are checked first."""
    check_security(read_config(source), source)
    values = {"inference_address": inference, "management_address": management, "metrics_address": metrics,
              "grpc_inference_port": grpc_ports[0], "grpc_management_port": grpc_ports[1],
              "model_store": model_store, **(extra or {})}
    lines, seen = [], set()
    for line in Path(source).read_text().splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith(("#", "!")) else None
        if key in values:
            seen.add(key)
            line = f"{key}={values[key]}"
        lines.append(line)
    lines += [f"{key}={value}" for key, value in values.items() if key not in seen]
    Path(target).write_text("\n".join(lines) + "\n")
    return Path(target)


def is_frontend(process: psutil.Process) -> bool:
    """Whether `process` is a TorchServe frontend (its Java command line names the class)."""
    try:
        return any(FRONTEND_CLASS in part for part in process.cmdline())
    except psutil.Error:
        return False


def key_in(key_file: Path, kind: str = "inference") -> str | None:
    """The `kind` key of a TorchServe key file, None while there is none."""
    from client import FaceClientError, read_key_file  # the one reader of TorchServe's key file

    try:
        return read_key_file(key_file, kind)
    except FaceClientError:
        return None


@dataclass
class TorchServe:
    """A TorchServe started from `folder` (so its key_file.json is written there) with `config`.

    Addresses, model store and models come from `config`. `tmpdir` is the server's private
    temp dir (pid file, worker sockets, unpacked archives); start() makes a new one, and a
    server started earlier is found again by passing its tmpdir. `workers`: {model: n} given
    to the models once they are ready (e.g. {"face-embed": 2}).
    """

    folder: Path
    config: Path
    venv_bin: Path = field(default_factory=lambda: Path(sys.executable).parent)
    logs: Path | None = None  # default: folder / "logs"
    tmpdir: Path | None = None
    workers: Mapping[str, int] = field(default_factory=dict)
    tmp_prefix: str = "face-serve."  # short (unix socket paths are limited) and only ever removed by us
    started_at: float | None = None  # time.time() of the last start()

    def __post_init__(self) -> None:
        self.folder, self.config = Path(self.folder), Path(self.config)
        self.logs = Path(self.logs) if self.logs else self.folder / "logs"
        self.tmpdir = Path(self.tmpdir) if self.tmpdir else None
        self.settings = read_config(self.config)
        check_security(self.settings, self.config)
        self.models = model_archives(self.settings)

    # -- where things are

    def _address(self, key: str) -> str:
        return self.settings.get(key, DEFAULT_ADDRESSES[key]).rstrip("/")

    @property
    def inference(self) -> str:
        return self._address("inference_address")

    @property
    def management(self) -> str:
        return self._address("management_address")

    @property
    def metrics(self) -> str:
        return self._address("metrics_address")

    @property
    def model_store(self) -> Path:
        return self.folder / self.settings.get("model_store", "model_store")  # an absolute path stays as is

    @property
    def key_file(self) -> Path:
        return self.folder / "key_file.json"

    @property
    def env(self) -> dict[str, str]:
        """The environment TorchServe's commands run in: its temp dir, logs, the venv first on PATH."""
        env = {**os.environ, "LOG_LOCATION": str(self.logs), "METRICS_LOCATION": str(self.logs),
               "PATH": f"{self.venv_bin}:{os.environ.get('PATH', '')}"}
        if self.tmpdir is not None:
            env.update(TMPDIR=str(self.tmpdir), TEMP=str(self.tmpdir))
        return env

    # -- keys

    def key(self, kind: str = "inference") -> str | None:
        """The server's `kind` key ("inference", "management" or "API"); None before it wrote them."""
        return key_in(self.key_file, kind)

    def headers(self, kind: str = "inference") -> dict[str, str]:
        """The Authorization header with the `kind` key."""
        return {"Authorization": f"Bearer {self.key(kind)}"}

    # -- life cycle

    def start(self) -> None:
        """`torchserve --start` in the background with a new private temp dir; returns at once
        (wait_ready() waits for the models)."""
        missing = [archive for archive in self.models.values() if not (self.model_store / archive).is_file()]
        if missing:
            raise ServeError(f"{', '.join(missing)} missing in {self.model_store}: run `make archive`")
        self.logs.mkdir(parents=True, exist_ok=True)
        self.key_file.unlink(missing_ok=True)
        self.tmpdir = Path(tempfile.mkdtemp(prefix=self.tmp_prefix, dir="/tmp"))
        self.started_at = time.time()
        command = [str(self.venv_bin / "torchserve"), "--start", "--ncs", "--ts-config", str(self.config),
                   "--model-store", str(self.model_store)]
        if self.models:
            command += ["--models", *(f"{name}={archive}" for name, archive in self.models.items())]
        with open(self.logs / "serve.out", "w") as out:
            subprocess.run(command, cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                           check=False, timeout=60)

    def frontend_pid(self) -> int | None:
        """The Java frontend's pid while this server runs (checked: its pid file, and the process
        is a TorchServe frontend), else None."""
        if self.tmpdir is None:
            return None
        try:
            pid = int((self.tmpdir / ".model_server.pid").read_text())
            return pid if is_frontend(psutil.Process(pid)) else None
        except (OSError, ValueError, psutil.Error):
            return None

    def pings(self, timeout: float = 5.0) -> bool:
        """/ping answers Healthy (with the inference key)."""
        inference_key = self.key("inference")
        if inference_key is None:
            return False
        try:
            answer = requests.get(f"{self.inference}/ping", headers={"Authorization": f"Bearer {inference_key}"},
                                  timeout=timeout)
            return answer.status_code == 200 and answer.json().get("status") == "Healthy"
        except (requests.RequestException, ValueError):
            return False

    def ready(self) -> bool:
        """/ping says Healthy and every model has a READY worker (ping alone is early at start)."""
        if not self.pings():
            return False
        try:
            return all(any(worker["status"] == "READY" for worker in self.describe(model)["workers"])
                       for model in self.models)
        except (requests.RequestException, ValueError, KeyError, IndexError, TypeError):
            return False

    def describe(self, model: str) -> dict:
        response = requests.get(f"{self.management}/models/{model}", headers=self.headers("management"), timeout=5)
        response.raise_for_status()
        return response.json()[0]

    def wait_ready(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> float | None:
        """Seconds from start() until ready() (then `workers` applied), or None when the server
        died, `timeout` seconds passed or `cancelled()` said so."""
        started = self.started_at or time.time()
        while time.time() - started < timeout and not cancelled():
            alive = self.frontend_pid() is not None
            if not alive and time.time() - started > START_GRACE_S:
                return None
            if alive and self.ready():
                self.scale(self.workers)
                return round(time.time() - started, 1)
            time.sleep(0.5)
        return None

    def scale(self, workers: Mapping[str, int]) -> None:
        """Give each model in `workers` exactly that many workers; returns once they run."""
        for model, count in workers.items():
            if model not in self.models:
                raise ServeError(f"{model} is not one of the models ({', '.join(self.models)})")
            try:
                response = requests.put(f"{self.management}/models/{model}", headers=self.headers("management"),
                                        params={"min_worker": count, "max_worker": count, "synchronous": "true"},
                                        timeout=300)
            except requests.RequestException as exc:
                raise ServeError(f"could not give {model} {count} workers: {exc}") from None
            if response.status_code != 200:
                raise ServeError(f"could not give {model} {count} workers: {response.status_code} "
                                 f"{response.text[:200]}")

    def processes(self) -> list[psutil.Process]:
        """This server's processes: its frontend and the python workers, which name its temp dir
        (their sockets are there), even when a SIGKILLed frontend left them orphaned."""
        if self.tmpdir is None:
            return []
        tmp, frontend, found = str(self.tmpdir), self.frontend_pid(), []
        for process in psutil.process_iter(["pid", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if process.pid == frontend or any(tmp in part for part in cmdline):
                found.append(process)
        return found

    def stop(self, timeout: float = 30.0) -> bool:
        """`torchserve --stop` for this server, then whatever is left of it is killed and its
        temp dir removed. Whether it was running."""
        running = self.frontend_pid() is not None
        if running:
            subprocess.run([str(self.venv_bin / "torchserve"), "--stop"], cwd=self.folder, env=self.env,
                           capture_output=True, check=False, timeout=60)
        processes = self.processes()
        _, alive = psutil.wait_procs(processes, timeout=timeout if running else 1)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=10)
        if self.tmpdir is not None and self.tmpdir.name.startswith(self.tmp_prefix):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None
        return running

    # -- reports

    def memory_mb(self) -> float | None:
        """Resident memory of frontend + workers, MiB (proportional set size: shared pages count once)."""
        total = 0
        for process in self.processes():
            try:
                info = process.memory_full_info()
                total += getattr(info, "pss", info.rss)
            except psutil.Error:
                continue
        return round(total / 2**20, 1) if total else None

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of serve.out, ts_log.log and model_log.log (what a failed start shows)."""
        out = []
        for name in ("serve.out", "ts_log.log", "model_log.log"):
            path = self.logs / name
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(out)
