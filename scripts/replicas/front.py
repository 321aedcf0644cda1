"""The front: nginx on the service address, the one service key, its key file."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from string import Template

import psutil
import requests

from scripts.replicas.replica import key as replica_key_of
from scripts.replicas.state import ServiceState

HERE = Path(__file__).resolve().parent
MAX_BODY = "32m"  # config.properties max_request_size (33554432)
READ_TIMEOUT = "130s"  # longer than TorchServe's default_response_timeout (120 s)
FAIL_TIMEOUT = "10s"
# The galleries' owner: one replica opens the gallery root (the embedded store admits one
# process), so its requests have their own upstream, that replica alone.
GALLERY_UPSTREAM = """
    # replica $index loads face-gallery: every gallery request goes there, and only there.
    upstream gallery {
        $server
        keepalive 4;
    }
"""


def new_service_key() -> str:
    return secrets.token_urlsafe(24)


def write_key_file(path: Path, service_key: str) -> None:
    """TorchServe's key-file format, so the SDK, CLI, web page and README lines read it as is."""
    data = {"inference": {"key": service_key, "expiration time": "until make stop"},
            "note": "the service key checked by nginx in front of the replicas (make serve REPLICAS=N); "
                    "each replica's own keys are in .serve/replicas/<n>/key_file.json"}
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


def render(state: ServiceState, prefix: Path) -> str:
    """nginx.conf for the replicas in `state`; a replica not healthy is marked down. Gallery
    requests go to the one replica that loads face-gallery (state.gallery_replica), only there."""
    servers, keyed, owner = [], [], None
    for replica in state.replicas:
        replica_key = replica_key_of(replica)
        down = replica.health not in ("healthy", "unhealthy") or replica_key is None
        server = f"server {replica.keyed} max_fails=1 fail_timeout={FAIL_TIMEOUT}{' down' if down else ''};"
        servers.append(f"        {server}  # replica {replica.index}")
        if replica.index == state.gallery_replica:
            owner = server
        keyed.append(Template((HERE / "keyed_server.conf.in").read_text()).substitute(
            index=replica.index, keyed=replica.keyed, inference=replica.inference,
            replica_key=replica_key or "none"))
    gallery_upstream = gallery_location = ""
    if owner is not None:
        gallery_upstream = Template(GALLERY_UPSTREAM).substitute(index=state.gallery_replica, server=owner)
        gallery_location = Template((HERE / "gallery_location.conf.in").read_text()).substitute(
            index=state.gallery_replica)
    return Template((HERE / "nginx.conf.in").read_text()).substitute(
        prefix=prefix, max_body=MAX_BODY, read_timeout=READ_TIMEOUT, service_key=state.service_key,
        servers="\n".join(servers), front=state.front.listen, keyed="".join(keyed),
        gallery_upstream=gallery_upstream, gallery_location=gallery_location)


def write_config(state: ServiceState, prefix: Path) -> Path:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(render(state, prefix))
    os.replace(path.with_suffix(".tmp"), path)
    return path


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if found is None:
        raise SystemExit("nginx is missing: make serve REPLICAS=N installs it when run as root "
                         "(scripts/check_nginx.sh), else: sudo apt-get install nginx")
    return found


def _nginx(prefix: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                           "-e", str(prefix / "error.log"), *args],
                          capture_output=True, text=True, check=False, timeout=30)


def check(prefix: Path) -> None:
    result = _nginx(prefix, "-t")
    if result.returncode != 0:
        raise SystemExit(f"nginx rejects {prefix / 'nginx.conf'}:\n{result.stderr}")


def start(prefix: Path) -> int:
    check(prefix)
    result = _nginx(prefix)
    if result.returncode != 0:
        raise SystemExit(f"nginx did not start:\n{result.stderr}")
    for _ in range(50):
        pid = master_pid(prefix)
        if pid is not None:
            return pid
        time.sleep(0.1)
    raise SystemExit(f"nginx did not start; see {prefix / 'error.log'}")


def reload(prefix: Path) -> None:
    """Graceful: requests in flight finish on the old workers."""
    check(prefix)
    result = _nginx(prefix, "-s", "reload")
    if result.returncode != 0:
        raise RuntimeError(f"nginx reload failed: {result.stderr}")


def master_pid(prefix: Path) -> int | None:
    """The nginx master of this front (checked: its command line names this prefix)."""
    try:
        pid = int((prefix / "nginx.pid").read_text())
        if any(str(prefix) in part for part in psutil.Process(pid).cmdline()):
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def stop(prefix: Path) -> None:
    pid = master_pid(prefix)
    if pid is None:
        return
    os.kill(pid, signal.SIGQUIT)  # graceful shutdown
    try:
        psutil.Process(pid).wait(timeout=20)
    except psutil.TimeoutExpired:
        os.kill(pid, signal.SIGTERM)
    except psutil.Error:
        pass


def answers(url: str, service_key: str, timeout: float = 5.0) -> bool:
    try:
        response = requests.get(f"{url}/ping", headers={"Authorization": f"Bearer {service_key}"},
                                timeout=timeout)
        return response.status_code == 200
    except requests.RequestException:
        return False
