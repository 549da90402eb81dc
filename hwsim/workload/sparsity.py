"""Sparsity in the layer table: the ``density`` of each row, from a model's ``sparsity`` block.

Analytic, before any training: FLOATS-i keeps ``floor(d * card(theta_l))`` weights of every conv
(exactly what :class:`hwsim.runner.sparse.SparseMomentum` starts from, and the total it keeps
throughout), so a conv row's density is that count over its weights. Linear rows (the classifier,
FiLM MLPs) are never masked and stay at 1. After training, :func:`with_masks` takes each conv's
real kept fraction and kept input channels from the run's masks (``hwsim estimate RUN_DIR``).
Channel pruning (FLOATS-c) and slimming change the shapes themselves (C_i, C_o), so MACs and Eq. 7-9
follow; ``full_in_channels`` / ``full_out_channels`` keep the full network's widths (CR, CRF).
"""

from __future__ import annotations

import fnmatch
import math

import numpy as np

from ..errors import HwsimError
from .table import PARAM_COLUMNS, LayerTable


def slim_channels(channels: int, factor: float) -> int:
    """Channels of a layer of width ``channels`` at slimming factor ``factor`` (Yu et al. 2018): the
    nearest whole number, at least 1 (ties round up; SF 0.5 of 16, 64, 512 is 8, 32, 256). Every
    slimmable layer, the networks' and the cost tables', takes its width from here."""
    return max(1, math.floor(factor * channels + 0.5))


def _maskable(table: LayerTable, exclude: tuple[str, ...] = ()) -> np.ndarray:
    """Rows FLOATS masks: conv rows with stored weights whose name matches no ``exclude`` pattern."""
    names = [str(n) for n in table["name"]]
    weights = np.asarray(table["weight_params"], np.int64)
    excluded = np.array([any(fnmatch.fnmatchcase(n, p) for p in exclude) for n in names], bool)
    return (np.asarray(table["op"]) == "conv") & (weights > 0) & ~excluded


def irregular_densities(
    table: LayerTable, density: float, exclude: tuple[str, ...] = (), layer_density: dict[str, float] | None = None
) -> np.ndarray:
    """Per-row kept fraction under FLOATS-i at global density ``density`` (conv rows only; per-conv
    ``layer_density`` patterns in place of d where given), as :mod:`hwsim.runner.sparse` starts."""
    weights = np.asarray(table["weight_params"], np.int64)
    maskable = _maskable(table, exclude)
    names = [str(n) for n, m in zip(table["name"], maskable) if m]
    kept = np.zeros(len(weights), np.int64)
    kept[maskable] = initial_weight_counts(
        weights[maskable].tolist(), layer_densities(names, density, layer_density), density
    )
    return np.where(maskable, kept / np.maximum(weights, 1), 1.0)


def layer_densities(names: list[str], density: float, layer_density=()) -> list[float]:
    """Each masked conv's starting density: the first ``layer_density`` pattern (fnmatch) its name
    matches, else the global ``density`` (``layer_density``: a mapping or (pattern, d_l) pairs)."""
    patterns = list(dict(layer_density or ()).items())
    return [next((d for p, d in patterns if fnmatch.fnmatchcase(n, p)), density) for n in names]


def initial_weight_counts(sizes: list[int], densities: list[float], density: float) -> list[int]:
    """Weights FLOATS-i starts each maskable conv of ``sizes`` weights with: ``floor(d_l n_l)``.
    ``ValueError`` when per-layer densities keep more than Eq. 5's ``floor(d N)``."""
    counts = [math.floor(d * n) for d, n in zip(densities, sizes)]
    budget = math.floor(density * sum(sizes))
    if sum(counts) > budget:
        raise ValueError(
            f"the per-layer densities keep {sum(counts)} weights, more than Eq. 5 allows at density {density} ({budget})"
        )
    return counts


def initial_channel_counts(
    channels: list[int], sizes: list[int], density: float, densities: list[float] | None = None
) -> list[int]:
    """Input channels FLOATS-c starts each maskable conv with (:mod:`hwsim.runner.sparse`, and the
    analytic estimate): ``max(1, floor(d_l C_i))`` (``densities``: per layer, default the global d);
    while that overshoots Eq. 5's ``floor(d N)`` (``sizes``: weights per channel, C_o k^2), one
    channel comes off the layer holding the most kept weights among those with more than one (the
    first on ties). ``ValueError`` when one channel per conv does not fit."""
    densities = densities if densities is not None else [density] * len(channels)
    counts = [max(1, math.floor(d * c)) for d, c in zip(densities, channels)]
    budget = math.floor(density * sum(c * s for c, s in zip(channels, sizes)))
    while sum(c * s for c, s in zip(counts, sizes)) > budget:
        over = [i for i, c in enumerate(counts) if c > 1]
        if not over:
            raise ValueError(
                f"density {density} is too low for channel pruning: one input channel per conv "
                f"needs {sum(sizes)} weights, Eq. 5 allows {budget}"
            )
        counts[max(over, key=lambda i: counts[i] * sizes[i])] -= 1  # max: the first on ties
    return counts


def _columns(table: LayerTable) -> dict[str, np.ndarray]:
    return {name: np.array(table[name], copy=True) for name in table.columns}


def _refit_weights(columns: dict[str, np.ndarray], rows: np.ndarray) -> None:
    """Recompute ``weight_params`` (and biases, one per output) of ``rows`` from their channels."""
    c = columns
    weights = c["kernel_h"] * c["kernel_w"] * (c["in_channels"] // c["groups"]) * c["out_channels"]
    stored = c["weight_params"] > 0
    c["weight_params"] = np.where(rows & stored, weights, c["weight_params"])
    c["bias_params"] = np.where(rows & (c["bias_params"] > 0), c["out_channels"], c["bias_params"])


def with_channels(table: LayerTable, kept: np.ndarray) -> LayerTable:
    """``table`` with each conv's input channels cut to ``kept`` (FLOATS-c): K, MACs, Eq. 7-9 and the
    stored weights follow the kept C_i; ``full_in_channels`` keeps the original."""
    columns = _columns(table)
    kept = np.asarray(kept, np.int64)
    rows = kept != columns["in_channels"]
    columns["in_channels"] = kept
    _refit_weights(columns, rows)
    return _reshaped(columns, table.attrs)


def _reshaped(columns: dict[str, np.ndarray], attrs: dict) -> LayerTable:
    """A table whose shapes changed: its parameter count is what its rows now hold (plus what no row
    accounts for), the deployed network's, not the full one's."""
    out = LayerTable(columns, dict(attrs))
    attributed = int(sum(out[c].sum() for c in PARAM_COLUMNS))
    out.attrs["model_params"] = attributed + int(attrs.get("other_params", 0))
    return out


def with_slim(table: LayerTable, factor: float) -> LayerTable:
    """The sub-network at slimming factor SF (Yu et al. 2018): every width W becomes
    :func:`slim_channels` (W, SF), except the image channels into the stem (the first conv row) and
    the classifier's outputs. FiLM MLPs (Linear d -> 2C -> 2C) follow their FiLM's width; BN and FiLM
    parameters follow the channels (one switchable BN / FiLM per SF: the SF's own is deployed)."""
    columns = _columns(table)
    c = columns
    op = np.asarray(c["op"])
    conv, linear, film = op == "conv", op == "linear", op == "film_linear"
    slim = np.vectorize(lambda w: slim_channels(int(w), factor) if w > 0 else 0, otypes=[np.int64])
    first_conv = np.flatnonzero(conv)[:1]
    new_in = np.where(conv | linear, slim(c["in_channels"]), c["in_channels"])
    new_in[first_conv] = c["in_channels"][first_conv]
    new_out = np.where(conv, slim(c["out_channels"]), c["out_channels"])
    # FiLM MLP: fc1 d -> 2C (input d unchanged), fc2 2C -> 2C
    half = c["out_channels"] // 2
    film_out = 2 * slim(half)
    fc2 = film & (c["in_channels"] == c["out_channels"])
    new_in = np.where(fc2, film_out, new_in)
    new_out = np.where(film, film_out, new_out)
    per_channel_bn = np.where(c["out_channels"] > 0, c["bn_params"] // np.maximum(c["out_channels"], 1), 0)
    c["bn_params"] = np.where(conv | linear, per_channel_bn * new_out, c["bn_params"])
    width = slim(c["film_channels"])  # a FiLM of width w: fc1 (d -> 2w) + fc2 (2w -> 2w), d its input
    fc1_in = {str(t): int(i) for t, i, is_fc1 in zip(c["conditions"], c["in_channels"], film & ~fc2) if is_fc1}
    dims = np.array([fc1_in.get(str(n), 0) for n in c["name"]], np.int64)
    c["film_params"] = np.where(width > 0, (dims + 1) * 2 * width + (2 * width + 1) * 2 * width, 0)
    c["film_channels"] = width
    c["in_channels"], c["out_channels"] = new_in, new_out
    _refit_weights(columns, conv | linear | film)
    return _reshaped(columns, table.attrs)


def with_sparsity(table: LayerTable, sparsity, masks: dict[str, dict] | None = None) -> LayerTable:
    """``table`` (the dense walk) as the model's ``sparsity`` block makes it (a SparsityConfig, or None).

    Analytic, before any training: ``irregular``: each maskable conv keeps floor(d n) of its n weights
    (``density``); ``channel``: each keeps :func:`initial_channel_counts` input channels (shapes
    change); ``slim``: the sub-network at ``eval_slim_factor`` (shapes change), with irregular density
    d on top (FLOATS slim). With a trained run's ``masks`` summary (taken at ``eval_slim_factor`` for a
    slimmable run), each conv's kept channels and density come from the masks instead."""
    if sparsity is None:
        return table
    exclude = tuple(sparsity.exclude)
    if masks:
        out = with_slim(table, sparsity.eval_slim_factor) if sparsity.kind == "slim" else table
        out = with_masks(out, masks)
    elif sparsity.kind == "channel":
        maskable = _maskable(table, exclude)
        kept = np.array(table["in_channels"], np.int64)
        channels = kept[maskable]
        sizes = (table["weight_params"] // np.maximum(table["in_channels"], 1))[maskable]
        names = [str(n) for n, m in zip(table["name"], maskable) if m]
        densities = layer_densities(names, sparsity.density, sparsity.layer_density)
        try:
            kept[maskable] = initial_channel_counts(channels.tolist(), sizes.tolist(), sparsity.density, densities)
        except ValueError as exc:
            raise HwsimError(f"sparsity.density: {exc}") from None
        out = with_channels(table, kept)
    else:
        out = with_slim(table, sparsity.eval_slim_factor) if sparsity.kind == "slim" else table
        columns = _columns(out)
        if sparsity.density < 1.0 or sparsity.layer_density:
            try:
                columns["density"] = irregular_densities(out, sparsity.density, exclude, sparsity.layer_density)
            except ValueError as exc:
                raise HwsimError(f"sparsity.layer_density: {exc}") from None
        out = LayerTable(columns, dict(out.attrs))
    out.attrs.update(
        sparsity=sparsity.kind,
        target_density=sparsity.density,
        noise_on_pruned=sparsity.noise_on_pruned,
        **({"slim_factor": sparsity.eval_slim_factor} if sparsity.kind == "slim" else {}),
    )
    return out


def with_masks(table: LayerTable, layers: dict[str, dict]) -> LayerTable:
    """``table`` as a trained run's masks make it (``layers``: :func:`hwsim.runner.masks.mask_summary`):
    each conv's kept input channels (a channel no kept weight reads is gone: FLOATS-c) and its kept
    fraction of the remaining weights. Rows the masks do not name keep their values."""
    names = [str(n) for n in table["name"]]
    kept_in = np.array(
        [layers[n]["kept_in_channels"] if n in layers else c for n, c in zip(names, table["in_channels"])], np.int64
    )
    out = with_channels(table, kept_in) if np.any(kept_in != table["in_channels"]) else table
    columns = _columns(out)
    full = np.asarray(table["weight_params"], np.int64)
    fractions = []
    for n, d, now, before in zip(names, table["density"], columns["weight_params"], full):
        if n not in layers:
            fractions.append(d)
            continue
        kept = round(layers[n]["density"] * before)  # kept weights, all inside the kept channels
        fractions.append(kept / now if now else 1.0)
    columns["density"] = np.array(fractions, np.float64)
    return LayerTable(columns, {**out.attrs, "densities": "from the run's masks"})
