"""On-disk cache of layer tables, so that repeated estimates skip building the network.

A layer table depends only on the network's shape-relevant settings and on hwsim's own code, so
the key hashes both: the model's arch, method, input shape, classes, dual BN and FiLM width, and
the source of *every* module of the installed ``hwsim`` package (found by walking it, so a new or
edited module is a new key, never a stale table). A cache hit spares ``import torch`` (most of a
cold ``hwsim estimate``).

Each entry stores its key and a SHA-256 checksum of its table, and is checked when read: the
checksum, then the schema (:func:`~hwsim.workload.table.check_table_json`: types, whole non-negative
counts, finite values, the attrs the costs read). A tampered, truncated or corrupt entry, or an
unwritable cache directory, is reported once as a :class:`CacheWarning` (one line on stderr from the
CLI) and the table is walked (and stored) again: never an error, never a silently wrong number. The
checksum catches corruption and hand edits, not a deliberate forger (who could recompute it).

Location: ``$HWSIM_CACHE_DIR`` or ``~/.cache/hwsim``; ``HWSIM_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

from .. import __version__
from ..config import ModelConfig
from ..errors import HwsimError, HwsimWarning
from ..io import atomic_write_text
from ..replay import cache_root, json_sha256
from .table import LayerTable, check_table_json

PACKAGE = Path(__file__).resolve().parent.parent
FORMAT = "hwsim-layer-table-v3"  # v3: with a checksum of the table


class CacheWarning(HwsimWarning):
    """The layer-table cache could not be read or written (the estimate goes on without it)."""


def cache_dir() -> Path | None:
    root = cache_root()
    return None if root is None else root / "tables"


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 over the path and bytes of every ``.py`` file in the hwsim package."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def table_key(config: ModelConfig) -> str:
    shape = dict(
        arch=config.arch, method=config.method, input=config.input_shape, classes=config.classes,
        dual_bn=config.uses_dual_bn, film_dim=config.film_dim,
    )  # fmt: skip
    if config.float_variant != "noise":  # FLOAT's rm convs are other rows (not noisy); today's keys unchanged
        shape["float_variant"] = config.float_variant
    # no sparsity here: the walked table is always the dense, full-width network (a slimmable model's
    # widths and a sparse model's masks are applied to it by hwsim.workload.sparsity)
    digest = hashlib.sha256(source_digest().encode())
    digest.update(json.dumps(shape, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def load_table(key: str) -> LayerTable | None:
    """The cached table for ``key``; None on a miss (or, with a warning, a corrupt entry)."""
    folder = cache_dir()
    path = folder / f"{key}.json" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
            raise ValueError("written by another hwsim version or for another key")
        if data.get("sha256") != checksum(data.get("table")):
            raise ValueError("checksum mismatch (the table was changed after it was written)")
        check_table_json(data["table"])
        return LayerTable.from_json(data["table"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        reason = str(exc).replace("\n", " ")[:200]
        warnings.warn(
            f"ignoring corrupt layer-table cache entry {path}: {reason}; rebuilding it", CacheWarning, stacklevel=2
        )
        return None


def checksum(table_json) -> str:
    """SHA-256 of a table's JSON form, canonical (sorted keys, no spaces): what is stored with it."""
    return json_sha256(table_json)


def store_table(key: str, table: LayerTable) -> None:
    folder = cache_dir()
    if folder is None:
        return
    body = table.to_json()
    data = {"format": FORMAT, "key": key, "sha256": checksum(body), "table": body}
    try:
        atomic_write_text(folder / f"{key}.json", json.dumps(data))
    except HwsimError as exc:  # a read-only home must not break an estimate, but is reported
        warnings.warn(f"layer-table cache not written: {exc}", CacheWarning, stacklevel=2)
