"""The generated configuration of the replica setup, checked without starting a TorchServe:
nginx accepts the front's config, and each replica keeps the service's security settings."""
from __future__ import annotations

import http.client
import json
import re
import subprocess
from pathlib import Path

import pytest
from replica_support import REPO, free_block, needs_nginx

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


def test_only_the_gallery_replica_loads_face_gallery(tmp_path):
    store = _archives(tmp_path)
    assert replica.gallery_replica(REPO / "config.properties") == 1
    for index, loads in ((1, True), (2, False)):
        entry = new_replica(tmp_path, 8100, index)
        config = replica.prepare(entry, REPO / "config.properties", store, loads_gallery=loads)
        models = model_archives(read_config(config))
        assert ("face-gallery" in models) is loads, models
        assert {"face-verify", "face-embed"} <= set(models)
        assert (Path(entry.dir) / "model_store" / "face-gallery.mar").exists() is loads
    # a config without face-gallery has no gallery replica
    plain = tmp_path / "plain.properties"
    plain.write_text(re.sub(r",face-gallery=face-gallery\.mar", "", (REPO / "config.properties").read_text()))
    assert replica.gallery_replica(plain) is None


def _state(tmp_path: Path, healthy: tuple[bool, ...], base_port: int = 8100, front_port: int = 8080,
           gallery_replica: int | None = None) -> ServiceState:
    replicas = []
    for index, ok in enumerate(healthy, start=1):
        entry = new_replica(tmp_path, base_port, index)
        Path(entry.dir).mkdir(parents=True)
        (Path(entry.dir) / "key_file.json").write_text(
            json.dumps({"inference": {"key": f"replica{index}"}, "management": {"key": "m"}}))
        entry.health = "healthy" if ok else "restarting"
        replicas.append(entry)
    listen = f"127.0.0.1:{front_port}"
    return ServiceState(front=Front(listen=listen, url=f"http://{listen}", config="", access_log=""),
                        supervisor=SupervisorInfo(log=""), key_file="", service_key="the-one-key", replicas=replicas,
                        gallery_replica=gallery_replica)


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


def _upstream(text: str, name: str) -> list[str]:
    block = re.search(rf"upstream {name} {{(.*?)}}", text, re.S)
    return re.findall(r"^\s*server (\S+)", block.group(1), re.M) if block else []


def test_gallery_requests_go_to_the_gallery_replica_only(tmp_path):
    text = front.render(_state(tmp_path, (True, True, True), gallery_replica=1), tmp_path / "nginx")
    assert _upstream(text, "gallery") == ["127.0.0.1:8105"]  # replica 1's key-adding server
    assert _upstream(text, "replicas") == ["127.0.0.1:8105", "127.0.0.1:8115", "127.0.0.1:8125"]
    gallery = re.search(r"location /predictions/face-gallery {(.*?)\n        }", text, re.S).group(1)
    assert "proxy_pass http://gallery;" in gallery and "proxy_next_upstream off;" in gallery
    assert "if ($service_key_ok = 0)" in gallery
    # the owner restarting: marked down there too, so nothing else gets its requests
    restarting = front.render(_state(tmp_path / "b", (False, True), gallery_replica=1), tmp_path / "nginx")
    assert re.match(r"127\.0\.0\.1:8105 .* down;", re.search(r"upstream gallery {\s*server (.*)", restarting).group(1))
    # no face-gallery loaded: no gallery route of its own
    plain = front.render(_state(tmp_path / "c", (True, True)), tmp_path / "nginx")
    assert "upstream gallery" not in plain and "face-gallery" not in plain


def _ask(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, str]:
    """One raw request (a Content-Length without its body is enough for nginx's 413)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.getheader("Content-Type")
    finally:
        connection.close()


@needs_nginx
def test_every_error_of_the_front_is_the_services_json(tmp_path):
    """Real nginx with every replica down: the front's own errors are JSON {code, type, message}."""
    base = free_block(30)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    front.write_config(_state(tmp_path, (False, False), base_port=base, front_port=base + 25, gallery_replica=1),
                       prefix)
    front.start(prefix)
    key = {"Authorization": "Bearer the-one-key"}
    try:
        cases = [
            ("GET", "/ping", {}, 401, "InvalidKeyException"),
            ("GET", "/ping", {"Authorization": "Bearer wrong"}, 401, "InvalidKeyException"),
            ("POST", "/predictions/face-verify", {"Authorization": "the-one-key"}, 401, "InvalidKeyException"),
            ("POST", "/predictions/face-gallery", {}, 401, "InvalidKeyException"),
            ("GET", "/models", key, 404, "ResourceNotFoundException"),
            ("GET", "/nothing/here", {}, 401, "InvalidKeyException"),  # the key first, on every route
            ("TRACE", "/ping", key, 405, "MethodNotAllowedException"),
            ("POST", "/predictions/face-verify", {**key, "Content-Length": str(40 * 2**20)}, 413,
             "RequestEntityTooLargeException"),
            ("POST", "/predictions/face-gallery", {**key, "Content-Length": str(40 * 2**20)}, 413,
             "RequestEntityTooLargeException"),
            ("GET", "/ping", key, 502, "ServiceUnavailableException"),  # no replica up
            ("POST", "/predictions/face-gallery", {**key, "Content-Length": "0"}, 502, "ServiceUnavailableException"),
        ]
        for method, path, headers, status, kind in cases:
            got, body, content_type = _ask(base + 25, method, path, headers)
            assert (got, body["code"], body["type"]) == (status, status, kind), (method, path, headers, body)
            assert set(body) == {"code", "type", "message"} and body["message"], body
            assert content_type == "application/json", (method, path, content_type)
    finally:
        front.stop(prefix)
