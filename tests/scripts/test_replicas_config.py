"""The generated configuration of the replica setup, checked without starting a TorchServe:
nginx accepts the front's config, and each replica keeps the service's security settings."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from replica_support import REPO, needs_nginx

from client import read_key_file
from scripts.replicas import front, torchserve
from scripts.replicas.layout import Ports, new_replica


def test_each_replica_has_its_own_ports(tmp_path):
    taken = [port for index in (1, 2, 3) for port in Ports.of(8100, index).all()]
    assert len(taken) == len(set(taken)) == 18
    assert 8080 not in taken


def test_replica_config_keeps_security_and_sets_its_own_addresses(tmp_path):
    replica = new_replica(tmp_path, 8100, 2)
    Path(replica["dir"]).mkdir(parents=True)
    text = torchserve.write_config(replica, REPO / "config.properties").read_text()
    for line in ("inference_address=http://127.0.0.1:8110", "management_address=http://127.0.0.1:8111",
                 "metrics_address=http://127.0.0.1:8112", "grpc_inference_port=8113",
                 "grpc_management_port=8114", "disable_token_authorization=false", "enable_model_api=false",
                 f"model_store={replica['dir']}/model_store"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert not re.search(r"^\w+_address=http://(?!127\.0\.0\.1)", text, re.M)  # loopback only


def test_replica_config_refuses_a_config_without_token_auth(tmp_path):
    source = tmp_path / "open.properties"
    source.write_text((REPO / "config.properties").read_text().replace(
        "disable_token_authorization=false", "disable_token_authorization=true"))
    replica = new_replica(tmp_path, 8100, 1)
    Path(replica["dir"]).mkdir(parents=True)
    try:
        torchserve.write_config(replica, source)
    except SystemExit as exc:
        assert "disable_token_authorization=false" in str(exc)
    else:
        raise AssertionError("a replica without token auth was configured")


def test_service_key_file_is_read_by_the_client_and_private(tmp_path):
    path = tmp_path / "key_file.json"
    key = front.new_service_key()
    front.write_key_file(path, key)
    assert read_key_file(path) == key
    assert path.stat().st_mode & 0o777 == 0o600


def _state(tmp_path: Path, healthy: tuple[bool, ...]) -> dict:
    replicas = []
    for index, ok in enumerate(healthy, start=1):
        replica = new_replica(tmp_path, 8100, index)
        Path(replica["dir"]).mkdir(parents=True)
        (Path(replica["dir"]) / "key_file.json").write_text(
            '{"inference": {"key": "replica%d"}, "management": {"key": "m"}}' % index)
        replica["health"] = "healthy" if ok else "restarting"
        replicas.append(replica)
    return {"front": {"listen": "127.0.0.1:8080"}, "service_key": "the-one-key", "replicas": replicas}


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
