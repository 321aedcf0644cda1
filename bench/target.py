"""The server a benchmark or load test talks to: `make serve`'s TorchServe by default
(addresses from config.properties, keys from ./key_file.json), or any other on 127.0.0.1.

Load is only ever sent to this machine's loopback interface.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import psutil
import requests
from pydantic import BaseModel, ValidationError

from scripts.torchserve import TorchServe, is_frontend

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WORKER_SCRIPT = "ts/model_service_worker.py"


@dataclass
class Target:
    inference: str
    management: str
    key_file: Path

    @classmethod
    def from_args(cls, url: str | None, management: str | None, key_file: str | None,
                  config: Path = REPO / "config.properties") -> Target:
        """The addresses given, else those of `make serve`'s TorchServe (from `config`)."""
        served = TorchServe(REPO, config)
        target = cls(
            (url or served.inference).rstrip("/"),
            (management or served.management).rstrip("/"),
            Path(key_file) if key_file else served.key_file,
        )
        for address in (target.inference, target.management):
            host = urlparse(address).hostname
            if host not in LOOPBACK:
                raise SystemExit(f"refusing to send load to {address}: only 127.0.0.1 is allowed")
        return target

    def auth(self, kind: str = "inference") -> dict[str, str]:
        from client import FaceClientError, read_key_file  # the one reader of TorchServe's key file

        try:
            return {"Authorization": f"Bearer {read_key_file(self.key_file, kind)}"}
        except FaceClientError as exc:
            raise SystemExit(f"{exc}: is the server running (`make serve`)? Pass --key-file for another "
                             "server.") from None

    def check_ping(self) -> None:
        """Exit with a clear message unless the inference address answers /ping."""
        try:
            ping = requests.get(f"{self.inference}/ping", headers=self.auth(), timeout=10)
        except requests.RequestException as exc:
            raise SystemExit(f"no server at {self.inference} ({exc.__class__.__name__}): run `make serve`") from None
        if ping.status_code != 200:
            raise SystemExit(f"{self.inference}/ping answered {ping.status_code}: {ping.text[:200]}")

    def check(self) -> None:
        """Exit with a clear message unless both models answer."""
        self.check_ping()
        for model in ("face-verify",):
            if not any(w["status"] == "READY" for w in self.workers(model)):
                raise SystemExit(f"{model} has no READY worker at {self.management}")

    def workers(self, model: str) -> list[dict]:
        response = requests.get(f"{self.management}/models/{model}", headers=self.auth("management"), timeout=10)
        response.raise_for_status()
        return response.json()[0]["workers"]

    def describe(self, model: str) -> dict:
        response = requests.get(f"{self.management}/models/{model}", headers=self.auth("management"), timeout=10)
        response.raise_for_status()
        info = response.json()[0]
        return {key: info.get(key) for key in ("modelName", "minWorkers", "maxWorkers", "batchSize",
                                                "maxBatchDelay", "responseTimeout")} | {
            "workers": [{k: w.get(k) for k in ("id", "pid", "status")} for w in info["workers"]]}

    def worker_process(self, model: str = "face-verify") -> psutil.Process:
        """The READY worker of `model`: a python `ts/model_service_worker.py` process whose parent
        is the TorchServe Java frontend (checked, so nothing else is ever signalled)."""
        for worker in self.workers(model):
            if worker["status"] != "READY" or not worker.get("pid"):
                continue
            process = psutil.Process(int(worker["pid"]))
            cmdline = process.cmdline()
            parent = process.parent()
            if any(part.endswith(WORKER_SCRIPT) for part in cmdline) and parent is not None and is_frontend(parent):
                return process
            raise SystemExit(f"pid {process.pid} is not a TorchServe worker: {cmdline[:3]}")
        raise SystemExit(f"{model} has no READY worker")


def machine_state() -> dict:
    """What else the machine was doing: figures from a busy machine are not representative."""
    cpus = os.cpu_count() or 1
    load = os.getloadavg()
    busy = []
    me = os.getpid()
    for process in psutil.process_iter(["pid", "cmdline", "cpu_percent"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
        except psutil.Error:
            continue
        if process.info["pid"] != me and re.search(r"-m (pretrain|finetune)\.", cmdline):
            busy.append(cmdline[:120])
    return {"cpus": cpus, "loadavg_1_5_15": [round(v, 2) for v in load],
            "training_running": busy,
            "idle": load[0] < 0.5 * cpus and not busy}


def write_report(path: Path, report: BaseModel | dict, shape: type[BaseModel] | None = None) -> None:
    """Every bench's JSON report: indent 2 and a final newline, its folder made if needed. The
    report may hold models (a LatencySummary, ...).

    `shape` is the model the report pages read the file with (report.results.SHAPES): a report
    they could not read is an error, raised after the file is written so a long run is not lost."""
    import json

    from report.results import first_problem

    def as_json(value: object) -> object:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(report, indent=2, default=as_json) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    if shape is not None:
        try:
            shape.model_validate_json(text)
        except ValidationError as error:
            raise SystemExit(f"{path}: the report pages cannot read it ({first_problem(error)})") from None
