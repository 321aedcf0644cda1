"""One replica: a whole TorchServe (scripts.torchserve) in its own folder, with its own
config, model store, logs, temp dir and keys."""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from scripts.replicas.state import Replica
from scripts.torchserve import TorchServe, key_in, model_archives, read_config, write_config

# The replicas' own keys never leave this machine (nginx adds them); they are renewed at
# every replica start, so they need not expire within a day like the single server's.
KEY_MINUTES = 525600
TMP_PREFIX = "face-replica."


def prepare(replica: Replica, source_config: Path, source_store: Path) -> Path:
    """The replica's folder: its config (source_config with its ports and store), its model
    store (hard links to the archives source_config loads), logs/. Returns the config."""
    folder = Path(replica.dir)
    store = folder / "model_store"
    store.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    for archive in model_archives(read_config(source_config)).values():
        source, target = source_store / archive, store / archive
        if not source.is_file():
            raise SystemExit(f"{source} is missing: run `make archive`")
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another file system
            shutil.copy2(source, target)
    return write_config(source_config, folder / "config.properties", inference=replica.inference,
                        management=replica.management, metrics=replica.metrics, grpc_ports=replica.grpc_ports,
                        model_store=store, extra={"token_expiration_min": KEY_MINUTES})


def server(replica: Replica, venv_bin: Path, workers: Mapping[str, int] | None = None) -> TorchServe:
    """The replica's TorchServe (its running one, found by the temp dir in its state)."""
    folder = Path(replica.dir)
    return TorchServe(folder, folder / "config.properties", venv_bin=venv_bin, tmpdir=replica.tmpdir,
                      workers=workers or {}, tmp_prefix=TMP_PREFIX)


def key(replica: Replica, kind: str = "inference") -> str | None:
    """The replica's own `kind` key, None while it has none."""
    return key_in(Path(replica.dir) / "key_file.json", kind)
