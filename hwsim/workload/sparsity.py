"""Sparsity in the layer table: the ``density`` of each row, from a model's ``sparsity`` block.

Analytic, before any training: FLOATS-i keeps ``floor(d * card(theta_l))`` weights of every conv
(exactly what :class:`hwsim.runner.sparse.SparseMomentum` starts from, and the total it keeps
throughout), so a conv row's density is that count over its weights. Linear rows (the classifier,
FiLM MLPs) are never masked and stay at 1. After training, :func:`with_densities` takes each conv's
real kept fraction from the run's masks (``hwsim estimate RUN_DIR``).
"""

from __future__ import annotations

import math

import numpy as np

from .table import LayerTable


def slim_channels(channels: int, factor: float) -> int:
    """Channels of a layer of width ``channels`` at slimming factor ``factor`` (Yu et al. 2018): the
    nearest whole number, at least 1 (ties round up; SF 0.5 of 16, 64, 512 is 8, 32, 256). Every
    slimmable layer, the networks' and the cost tables', takes its width from here."""
    return max(1, math.floor(factor * channels + 0.5))


def irregular_densities(table: LayerTable, density: float) -> np.ndarray:
    """Per-row kept fraction under FLOATS-i at global density ``density`` (conv rows only)."""
    weights = np.asarray(table["weight_params"], np.int64)
    conv = (np.asarray(table["op"]) == "conv") & (weights > 0)
    kept = np.floor(density * weights)
    return np.where(conv, kept / np.maximum(weights, 1), 1.0)


def with_sparsity(table: LayerTable, sparsity) -> LayerTable:
    """``table`` with its ``density`` column set by ``sparsity`` (a SparsityConfig, or None)."""
    if sparsity is None:
        return table
    if sparsity.kind != "irregular":
        from ..errors import HwsimError

        raise HwsimError(f"sparsity.kind: {sparsity.kind} is not implemented yet (implemented: irregular)")
    columns = {name: table[name] for name in table.columns}
    columns["density"] = irregular_densities(table, sparsity.density)
    return LayerTable(columns, {**table.attrs, "sparsity": sparsity.kind, "target_density": sparsity.density})


def with_densities(table: LayerTable, densities: dict[str, float]) -> LayerTable:
    """``table`` with the densities of a trained run's masks (row name -> kept fraction)."""
    columns = {name: table[name] for name in table.columns}
    names = [str(n) for n in table["name"]]
    columns["density"] = np.array([densities.get(n, d) for n, d in zip(names, table["density"])], np.float64)
    return LayerTable(columns, {**table.attrs, "densities": "from the run's masks"})
