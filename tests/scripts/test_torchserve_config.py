"""scripts/torchserve.py's config handling, checked without starting a TorchServe: the one
config.properties parser, the port rewrite, the model list and the security settings."""
from __future__ import annotations

from pathlib import Path

import pytest
from replica_support import REPO

from scripts.torchserve import ConfigError, TorchServe, model_archives, read_config, write_config


def test_parser_skips_comments_and_the_last_value_wins(tmp_path):
    path = tmp_path / "c.properties"
    path.write_text("# inference_address=http://0.0.0.0:1\ninference_address=http://127.0.0.1:1\n\n"
                    "load_models = a=a.mar, b.mar\ninference_address=http://127.0.0.1:2\n")
    settings = read_config(path)
    assert settings["inference_address"] == "http://127.0.0.1:2"
    assert model_archives(settings) == {"a": "a.mar", "b": "b.mar"}


def test_the_repository_config_names_its_models_and_keeps_security():
    settings = read_config(REPO / "config.properties")
    models = model_archives(settings)
    assert {"face-verify", "face-embed"} <= models.keys()
    assert all(archive == f"{name}.mar" for name, archive in models.items())  # what `make archive` writes
    assert settings["disable_token_authorization"] == "false" and settings["enable_model_api"] == "false"


def _rewritten(tmp_path: Path, source: Path) -> Path:
    return write_config(source, tmp_path / "out.properties", inference="http://127.0.0.1:9001",
                        management="http://127.0.0.1:9002", metrics="http://127.0.0.1:9003",
                        grpc_ports=(9004, 9005), model_store=tmp_path / "store", extra={"token_expiration_min": 7})


def test_rewrite_changes_ports_and_store_and_keeps_every_other_line(tmp_path):
    source = REPO / "config.properties"
    out = _rewritten(tmp_path, source)
    before, after = read_config(source), read_config(out)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {"inference_address", "management_address", "metrics_address", "grpc_inference_port",
                       "grpc_management_port", "model_store", "token_expiration_min"}
    assert after["inference_address"] == "http://127.0.0.1:9001" and after["grpc_management_port"] == "9005"
    assert after["model_store"] == str(tmp_path / "store")
    assert [line for line in out.read_text().splitlines() if line.startswith("#")] == [
        line for line in source.read_text().splitlines() if line.startswith("#")]  # comments kept


def test_a_model_added_to_the_config_is_started_and_waited_for(tmp_path):
    source = tmp_path / "config.properties"
    source.write_text((REPO / "config.properties").read_text().replace(
        "face-embed=face-embed.mar", "face-embed=face-embed.mar,face-extra=extra.mar"))
    server = TorchServe(tmp_path, _rewritten(tmp_path, source))
    assert server.models["face-extra"] == "extra.mar"
    assert server.models.keys() == model_archives(read_config(REPO / "config.properties")).keys() | {"face-extra"}
    assert server.inference == "http://127.0.0.1:9001" and server.model_store == tmp_path / "store"


@pytest.mark.parametrize("setting", ["disable_token_authorization=false", "enable_model_api=false"])
def test_rewrite_refuses_a_config_without_a_security_setting(tmp_path, setting):
    source = tmp_path / "open.properties"
    key = setting.split("=")[0]
    source.write_text((REPO / "config.properties").read_text().replace(setting, f"{key}=true"))
    with pytest.raises(ConfigError, match=setting):
        _rewritten(tmp_path, source)
    with pytest.raises(ConfigError, match=setting):
        TorchServe(tmp_path, source)
