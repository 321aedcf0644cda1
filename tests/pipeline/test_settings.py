"""Every documented setting acts: each key of params.yaml is read by the code of the stage that
owns it (or names a path that dvc.yaml / the Makefile use), each key an ablation variant sets
is one the fine-tuning code reads, and handler/model-config.yaml holds only what the handler
reads. A key that nothing reads (a copy of a fact the weights carry, a leftover) fails here."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from pipeline_support import REPO, local_imports, real_params

# section -> the entry points whose code reads it (params.yaml's own comments name them)
READERS = {
    "data": ["data.face_cache"],
    "pretrain": ["pretrain.train"],
    "finetune": ["finetune.train", "finetune.ablation", "finetune.transfer_ablation", "evaluation.evaluate"],
    "ablations": ["finetune.ablation", "finetune.train"],
    "transfer_ablations": ["finetune.transfer_ablation", "finetune.train"],
}


def keys_read(modules: list[str]) -> set[str]:
    """String keys the code looks up: x["key"], x.get("key"), x.pop("key"), load_params("key"),
    and the parameters of functions a dict is splatted into (f(**section["calibration"]))."""
    found = set()
    files = {path for module in modules for path in local_imports(module)}
    for path in files:
        tree = ast.parse(path.read_text())
        splatted = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name) and any(k.arg is None for k in node.keywords)}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in splatted:
                found |= {arg.arg for arg in node.args.args + node.args.kwonlyargs}
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                found.add(node.slice.value)
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("get", "pop", "load_params", "setdefault"):
                    found.add(node.args[0].value)
    return {key for key in found if isinstance(key, str)}


def interpolated() -> set[str]:
    """`${section.key}` paths of dvc.yaml, and params.yaml keys the Makefile reads."""
    used = set(re.findall(r"\$\{([^}]+)\}", (REPO / "dvc.yaml").read_text()))
    used |= {f"data.{key}" for key in re.findall(r"s/\^  (\w+): \*//p", (REPO / "Makefile").read_text())}
    return used


def unread(section: str, values: dict, read: set[str], outside: set[str], prefix: str = "") -> list[str]:
    """The dotted keys of `values` (nested dicts included, `smoke` overrides too) nothing reads."""
    missing = []
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if key == "smoke":
            missing += unread(section, value or {}, read, outside, prefix)
            continue
        if key not in read and f"{section}.{dotted}" not in outside:
            missing.append(f"{section}.{dotted}")
        if isinstance(value, dict) and key not in ("variants", "base", "budget"):
            missing += unread(section, value, read, outside, f"{dotted}.")
    return missing


@pytest.mark.parametrize("section", sorted(READERS))
def test_every_params_key_is_read_by_its_stage(section):
    params = real_params()
    assert set(params) == set(READERS), "a new params.yaml section needs its readers here"
    assert unread(section, params[section], keys_read(READERS[section]), interpolated()) == []


def test_every_key_a_variant_sets_is_a_setting_the_training_reads():
    params = real_params()
    read = keys_read(["finetune.train"])
    for section in ("ablations", "transfer_ablations"):
        for part in ("base", "budget"):
            for block in (params[section].get(part) or {}, (params[section].get("smoke") or {}).get(part) or {}):
                assert set(block) <= read, f"{section}.{part}: {sorted(set(block) - read)} act nowhere"
        for name, variant in params[section]["variants"].items():
            assert set(variant) <= read, f"{section}.variants.{name}: {sorted(set(variant) - read)} act nowhere"


def test_the_check_finds_a_setting_that_acts_nowhere():
    read = keys_read(READERS["finetune"])
    params = real_params()["finetune"] | {"input_size": 112, "smoke": {"workers": 0, "arch": "sface"}}
    assert sorted(unread("finetune", params, read, interpolated())) == ["finetune.arch", "finetune.input_size"]


def test_model_facts_live_in_the_weights_not_in_the_settings():
    """What the model is (input size, flip fusion, embedding size, threshold) is no setting:
    the weights carry it (model.embedder.ModelFacts, BackboneConfig)."""
    facts = {"input_size", "flip", "embedding_dim", "threshold", "far_thresholds", "arch"}
    config = yaml.safe_load((REPO / "handler/model-config.yaml").read_text())
    assert not facts & set(config["handler"])
    params = real_params()
    assert not {"input_size", "arch", "threshold"} & (set(params["pretrain"]) | set(params["finetune"]))
    assert not {"input_size", "arch"} & set(params["ablations"]["base"])


def test_the_handler_reads_every_model_config_setting():
    from handler.protocol import Settings

    config = yaml.safe_load((REPO / "handler/model-config.yaml").read_text())
    read = keys_read(["handler.face_handler"]) | {f for f in Settings.__dataclass_fields__}
    assert set(config["handler"]) <= read
    handler_code = Path(REPO / "handler/face_handler.py").read_text()
    for name in config["handler"]:  # each one used by the handler, not only parsed
        assert f"settings.{name}" in handler_code or name == "mode", name
