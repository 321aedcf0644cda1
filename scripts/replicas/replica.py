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
# The galleries' owner (handler/gallery.py): the embedded store admits one process, so one
# replica loads it and nginx sends every gallery request there.
GALLERY_MODEL = "face-gallery"
GALLERY_REPLICA = 1


def gallery_replica(source_config: Path) -> int | None:
    """The index of the replica that loads face-gallery; None when source_config loads none."""
    return GALLERY_REPLICA if GALLERY_MODEL in model_archives(read_config(source_config)) else None


def prepare(replica: Replica, source_config: Path, source_store: Path, *, loads_gallery: bool = True) -> Path:
    """The replica's folder: its config (source_config with its ports and store), its model
    store (hard links to the archives source_config loads), logs/. Returns the config.

    `loads_gallery`: False leaves face-gallery out of the replica's load_models (and store),
    so that only the gallery's one replica opens the gallery root."""
    folder = Path(replica.dir)
    store = folder / "model_store"
    store.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    archives = model_archives(read_config(source_config))
    left_out = None if loads_gallery else archives.pop(GALLERY_MODEL, None)
    if left_out is not None:
        (store / left_out).unlink(missing_ok=True)
    for archive in archives.values():
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
                        model_store=store,
                        extra={"token_expiration_min": KEY_MINUTES,
                               "load_models": ",".join(f"{name}={archive}" for name, archive in archives.items())})


def server(replica: Replica, venv_bin: Path, workers: Mapping[str, int] | None = None) -> TorchServe:
    """The replica's TorchServe (its running one, found by the temp dir in its state)."""
    folder = Path(replica.dir)
    return TorchServe(folder, folder / "config.properties", venv_bin=venv_bin, tmpdir=replica.tmpdir,
                      workers=workers or {}, tmp_prefix=TMP_PREFIX)


def key(replica: Replica, kind: str = "inference") -> str | None:
    """The replica's own `kind` key, None while it has none."""
    return key_in(Path(replica.dir) / "key_file.json", kind)
