"""The import rules of the layout (photos -> data/ -> pretrain/ -> finetune/ -> weights/ ->
archive/ -> handler/ -> client/): each package imports only what comes before it."""
from __future__ import annotations

import pytest
from pipeline_support import REPO, local_imports

SETTINGS = {"training/__init__.py", "training/params.py", "training/outputs.py"}  # params.yaml and the output rule
SHARED_READERS = {"evaluation/__init__.py", "evaluation/predictions.py"}  # csv + numpy only
# the FAR threshold rule: pure Python, the client ships it, the evaluation fits with it
SHARED_RULES = {"client/far.py"}


def imported_files(package: str) -> set[str]:
    files = set()
    for path in (REPO / package).glob("*.py"):
        module = f"{package}.{path.stem}" if path.stem != "__init__" else package
        files |= {str(p.relative_to(REPO)) for p in local_imports(module)}
    return files


def outside(files: set[str], *allowed: str) -> set[str]:
    return {f for f in files if f.split("/")[0] not in allowed and f not in SETTINGS | SHARED_READERS | SHARED_RULES}


@pytest.mark.parametrize("package, allowed", [
    ("model", ()),  # no stage, no server
    ("data", ("model",)),
    ("evaluation", ("model", "data")),
    ("report", ("model",)),  # and evaluation/predictions.py (the predictions CSV), nothing of the stages
])
def test_package_imports_only_what_comes_before_it(package, allowed):
    assert outside(imported_files(package), package, *allowed) == set()


def test_model_knows_no_settings_either():
    assert {f for f in imported_files("model") if not f.startswith("model/")} == set()


def test_the_shared_rule_imports_nothing():
    """client/far.py is imported by the evaluation and shipped with the client: standard library only."""
    assert local_imports("client.far") == {REPO / "client/far.py"}
