"""MACs, FLOPs and extra op counts. THE counting rules of hwsim, all in one place.

Counts are for one input sample (batch 1) at inference.

=================  ==========================================================================
MAC                one multiply-accumulate of a conv or linear layer (dense: zeros count):
                   conv ``k_h * k_w * (C_in / groups) * C_out * H_out * W_out``,
                   linear ``in_features * out_features`` (times any extra leading positions).
effective MAC      a MAC whose weight is nonzero: kept weights x output positions (sparse FLOATS;
                   equals MAC on a dense layer). What a zero-skipping multiplier array would run.
FLOP               ``2 * MAC`` (a multiply and an add). Nothing else is folded into FLOPs.
bias               not counted (its add merges into the accumulation), as fvcore does.
BN                 0: at inference it folds into the preceding conv's weights and bias.
ReLU, LeakyReLU    0: comparisons, not arithmetic.
residual add       0 MACs; it is an element-wise add outside the MAC array.
pooling            0 (global average pooling is ``C * H * W`` adds; counted as nothing).
FLOAT noise-add    ``noise_add_ops`` column, not in MACs: one add per weight per forward pass
                   (theta + lambda*alpha*eta; drawing eta with std lambda*alpha*sigma folds the scale
                   multiply into noise generation). The paper neglects it (section 4.3). FLOATS
                   with ``noise_on_pruned: false`` (masked noise): one add per kept weight.
FiLM               its two MLP linears are ordinary MACs on their ``film_linear`` rows (included in
                   the totals); the modulation ``x * mu + sigma`` is ``film_mod_ops`` =
                   ``2 * C * H * W`` on the conv row it modulates, not in MACs.
=================  ==========================================================================
"""

from __future__ import annotations

import numpy as np

FLOPS_PER_MAC = 2


def _col(table, name: str, dtype=np.int64) -> np.ndarray:
    return np.asarray(table[name], dtype=dtype)


def layer_macs(table) -> np.ndarray:
    """MACs per row: a linear is a 1 x 1 conv on a 1 x 1 map, so one formula serves both."""
    kernel = _col(table, "kernel_h", np.int64) * _col(table, "kernel_w", np.int64)
    per_output = kernel * (_col(table, "in_channels", np.int64) // _col(table, "groups", np.int64))
    outputs = _col(table, "out_channels", np.int64) * _col(table, "out_h", np.int64) * _col(table, "out_w", np.int64)
    return per_output * outputs


def effective_macs(table) -> np.ndarray:
    """MACs with nonzero weights only: kept weights (``density`` x K, a whole number) times output
    positions. Equals :func:`layer_macs` on a dense row; what a zero-skipping array would run."""
    macs = layer_macs(table)
    positions = _col(table, "out_h", np.int64) * _col(table, "out_w", np.int64)
    weights = macs // np.maximum(positions, 1)
    kept = np.rint(_col(table, "density", np.float64) * weights).astype(np.int64)
    return kept * positions


def noise_add_ops(table, *, dense: bool = True) -> np.ndarray:
    """One add per weight of each noisy (FLOAT) layer; ``dense=False`` (``noise_on_pruned: false``,
    masked noise): one per kept weight."""
    weights = _col(table, "weight_params", np.int64)
    if not dense:
        weights = np.rint(_col(table, "density", np.float64) * weights).astype(np.int64)
    return np.where(_col(table, "noisy", bool), weights, 0)


def film_modulation_ops(table) -> np.ndarray:
    """``x * mu + sigma``: 2 ops per element of the modulated output map."""
    return 2 * _col(table, "film_channels", np.int64) * _col(table, "out_h", np.int64) * _col(table, "out_w", np.int64)
