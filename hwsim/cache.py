"""On-disk cache of layer tables, so that repeated estimates skip building the network.

A layer table depends only on the network's shape-relevant settings and on hwsim's own code, so the
key hashes both: the model's arch, method, input shape, classes, dual BN and FiLM width, the hwsim
version and the source of the modules that define networks, the walk and the counting rules. Any
edit to those files is a new key, never a stale table. A cache hit spares ``import torch`` (most
of a cold ``hwsim estimate``).

Location: ``$HWSIM_CACHE_DIR`` or ``~/.cache/hwsim``; ``HWSIM_NO_CACHE=1`` turns it off. An
unwritable or corrupt cache is ignored, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from . import __version__
from .config import ModelConfig
from .io import atomic_write_text

_PACKAGE = Path(__file__).resolve().parent
_SOURCES = ("nets/__init__.py", "nets/conditioning.py", "nets/resnet.py", "nets/wrn.py", "shapes.py", "costs/compute.py")


def cache_dir() -> Path | None:
    if os.environ.get("HWSIM_NO_CACHE"):
        return None
    return Path(os.environ.get("HWSIM_CACHE_DIR") or Path.home() / ".cache" / "hwsim") / "tables"


def table_key(config: ModelConfig) -> str:
    digest = hashlib.sha256(__version__.encode())
    for rel in _SOURCES:
        digest.update((_PACKAGE / rel).read_bytes())
    shape = dict(
        arch=config.arch, method=config.method, input=config.input_shape, classes=config.classes,
        dual_bn=config.uses_dual_bn, film_dim=config.film_dim,
    )  # fmt: skip
    digest.update(json.dumps(shape, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def load_table(key: str) -> pd.DataFrame | None:
    folder = cache_dir()
    path = folder / f"{key}.json" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        table = pd.DataFrame(data["rows"], columns=data["columns"])
        table.attrs.update({k: tuple(v) if isinstance(v, list) else v for k, v in data["attrs"].items()})
        return table
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_table(key: str, table: pd.DataFrame) -> None:
    folder = cache_dir()
    if folder is None:
        return
    data = {"columns": list(table.columns), "rows": table.to_numpy().tolist(), "attrs": dict(table.attrs)}
    try:
        atomic_write_text(folder / f"{key}.json", json.dumps(data))
    except Exception:  # a read-only home must not break an estimate
        pass
