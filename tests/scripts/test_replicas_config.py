"""The generated configuration of the replica setup, checked without starting a TorchServe:
nginx accepts the front's config, and each replica keeps the service's security settings."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from replica_support import REPO, needs_nginx

from client import read_key_file
from scripts.replicas import front, replica
from scripts.replicas.layout import Ports, new_replica
from scripts.replicas.state import Front, ServiceState, SupervisorInfo
from scripts.torchserve import ConfigError, model_archives, read_config


def test_each_replica_has_its_own_ports(tmp_path):
    taken = [port for index in (1, 2, 3) for port in Ports.of(8100, index).all()]
    assert len(taken) == len(set(taken)) == 18
    assert 8080 not in taken


def _archives(tmp_path: Path) -> Path:
    """A model store with (stand-ins for) the archives config.properties loads."""
    store = tmp_path / "store"
    store.mkdir()
    for archive in model_archives(read_config(REPO / "config.properties")).values():
        (store / archive).write_bytes(b"archive")
    return store


def test_replica_config_keeps_security_and_sets_its_own_addresses(tmp_path):
    entry = new_replica(tmp_path, 8100, 2)
    text = replica.prepare(entry, REPO / "config.properties", _archives(tmp_path)).read_text()
    for line in ("inference_address=http://127.0.0.1:8110", "management_address=http://127.0.0.1:8111",
                 "metrics_address=http://127.0.0.1:8112", "grpc_inference_port=8113",
                 "grpc_management_port=8114", "disable_token_authorization=false", "enable_model_api=false",
                 f"model_store={entry.dir}/model_store"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert not re.search(r"^\w+_address=http://(?!127\.0\.0\.1)", text, re.M)  # loopback only
    store = Path(entry.dir) / "model_store"
    assert sorted(path.name for path in store.iterdir()) == sorted(path.name for path in (tmp_path / "store").iterdir())


def test_replica_config_refuses_a_config_without_token_auth(tmp_path):
    source = tmp_path / "open.properties"
    source.write_text((REPO / "config.properties").read_text().replace(
        "disable_token_authorization=false", "disable_token_authorization=true"))
    with pytest.raises(ConfigError, match="disable_token_authorization=false"):
        replica.prepare(new_replica(tmp_path, 8100, 1), source, _archives(tmp_path))


def test_service_key_file_is_read_by_the_client_and_private(tmp_path):
    path = tmp_path / "key_file.json"
    key = front.new_service_key()
    front.write_key_file(path, key)
    assert read_key_file(path) == key
    assert path.stat().st_mode & 0o777 == 0o600


def _state(tmp_path: Path, healthy: tuple[bool, ...]) -> ServiceState:
    replicas = []
    for index, ok in enumerate(healthy, start=1):
        entry = new_replica(tmp_path, 8100, index)
        Path(entry.dir).mkdir(parents=True)
        (Path(entry.dir) / "key_file.json").write_text(
            json.dumps({"inference": {"key": f"replica{index}"}, "management": {"key": "m"}}))
        entry.health = "healthy" if ok else "restarting"
        replicas.append(entry)
    return ServiceState(front=Front(listen="127.0.0.1:8080", url="http://127.0.0.1:8080", config="", access_log=""),
                        supervisor=SupervisorInfo(log=""), key_file="", service_key="the-one-key", replicas=replicas)


def test_front_config_balances_retries_once_and_adds_each_replica_key(tmp_path):
    text = front.render(_state(tmp_path, (True, False)), tmp_path / "nginx")
    assert "listen 127.0.0.1:8080;" in text
    assert '"Bearer the-one-key" 1;' in text
    assert re.search(r"server 127\.0\.0\.1:8105 max_fails=1 fail_timeout=\d+s;", text)
    assert re.search(r"server 127\.0\.0\.1:8115 max_fails=1 fail_timeout=\d+s down;", text)  # restarting
    assert "proxy_next_upstream error timeout http_502 http_503 non_idempotent;" in text
    assert "proxy_next_upstream_tries 2;" in text
    assert 'proxy_set_header Authorization "Bearer replica1";' in text
    assert 'proxy_set_header Authorization "Bearer replica2";' in text
    assert not re.search(r"listen (?!127\.0\.0\.1:)", text)  # loopback only


@needs_nginx
def test_nginx_accepts_the_front_config(tmp_path):
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    path = front.write_config(_state(tmp_path, (True, True, True)), prefix)
    assert path.stat().st_mode & 0o777 == 0o600  # it holds keys
    result = subprocess.run([front.nginx_binary(), "-t", "-p", str(prefix), "-c", str(path), "-e",
                             str(prefix / "error.log")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
