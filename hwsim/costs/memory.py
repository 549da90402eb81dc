"""Weight storage: parameters x B_W bits, split by component (paper section 4.3, Fig. 8(b)).

Components, one column each: ``conv_linear`` (conv and classifier weights and biases), ``film``
(OAT's FiLM MLPs), ``bn`` (BN affine parameters; a dual BN stores two sets), ``alpha`` (FLOAT's
per-layer noise scales). Running BN statistics are buffers, not parameters, and are not counted.

Two conventions:

* ``fig8b``: conv/linear + FiLM, neglecting BN and alpha, as the paper's Fig. 8(b) does;
* ``full``: every parameter.

Irregular sparsity stores only the kept weights: conv/linear weights are scaled by ``density``.
What a sparse storage format adds (index words, a bitmap, the zeros) is :func:`sparse_overhead_bits`,
by the spec's ``memory.sparse_format`` (:func:`format_bits`).
"""

from __future__ import annotations

import numpy as np

COMPONENTS = ("conv_linear", "film", "bn", "alpha")
FIG8B_COMPONENTS = ("conv_linear", "film")


def component_params(table) -> dict[str, np.ndarray]:
    """Stored parameters per row: one entry per component, plus the ``fig8b`` and ``full`` sums
    (floats, since density may thin the weights)."""
    own = np.asarray(table["weight_params"], np.float64) * np.asarray(table["density"], np.float64)
    own = own + np.asarray(table["bias_params"], np.float64)
    is_film = np.asarray(table["op"]) == "film_linear"
    parts = {
        "conv_linear": np.where(is_film, 0.0, own),
        "film": np.where(is_film, own, 0.0),
        "bn": np.asarray(table["bn_params"], np.float64),
        "alpha": np.asarray(table["alpha_params"], np.float64),
    }
    parts["fig8b"] = sum(parts[c] for c in FIG8B_COMPONENTS)
    parts["full"] = sum(parts[c] for c in COMPONENTS)
    return parts


def memory_bits(table, weight_bits) -> dict[str, np.ndarray]:
    """Bits per row for each entry of :func:`component_params`; ``weight_bits`` may be a (1, H)
    array for a sweep -> (L, H)."""
    bits = np.asarray(weight_bits, dtype=np.float64)
    return {
        name: params[:, None] * bits if bits.ndim else params * bits for name, params in component_params(table).items()
    }


def channel_pruned(table) -> np.ndarray:
    """Conv rows with input channels pruned away (FLOATS-c): fewer C_i than the full network at the
    full C_o (a slimmed row has fewer C_o too, and a slimmed sub-network needs no index)."""
    return (
        (np.asarray(table["op"]) == "conv")
        & (np.asarray(table["in_channels"], np.int64) < np.asarray(table["full_in_channels"], np.int64))
        & (np.asarray(table["out_channels"], np.int64) == np.asarray(table["full_out_channels"], np.int64))
    )


def format_bits(table, positions, sparse_format: str, index_bits: int, weight_bits) -> np.ndarray:
    """Bits to store each row's weights in ``sparse_format`` when the row has ``positions`` weight
    positions (its weights, or K for the read term): kept values x B_W plus the format's overhead.
    ``weight_bits`` may be a (1, H) array -> (L, H). Dense rows store ``positions x B_W`` in every format.

    With ``kept = density x n`` (n = positions, a C_o x k^2 C_i matrix):

    * ``values``: the kept values only (the paper's CR = 1/d);
    * ``dense``: the zeros too, ``n x B_W``; a channel-pruned row also the zeros of its pruned channels;
    * ``bitmap``: one bit per position, ``+ n``;
    * ``csr``: a column index per kept value and C_o + 1 row pointers, ``+ (kept + C_o + 1) x index_bits``;
    * ``coo``: a row and a column index per kept value, ``+ 2 x kept x index_bits``;
    * ``channel-list``: built for channel pruning: a channel-pruned row (FLOATS-c) stores its kept
      input-channel indices, ``+ C_i x index_bits``, and its weights dense; an irregularly sparse row
      falls back to a bitmap.

    Every format but ``values`` and ``dense`` stores a channel-pruned row's kept channels as a list
    (``+ C_i x index_bits``) on top of its own overhead; a slimmed row needs no index (its channels
    are the first SF x C).
    """
    n = np.asarray(positions, np.int64)
    density = np.asarray(table["density"], np.float64)
    kept = np.rint(density * n).astype(np.int64)
    sparse = (density < 1.0) & (n > 0)
    pruned = channel_pruned(table) & (n > 0)
    rows = np.asarray(table["out_channels"], np.int64)
    groups = np.asarray(table["groups"], np.int64)
    full_n = (
        np.asarray(table["kernel_h"], np.int64) * np.asarray(table["kernel_w"], np.int64)
        * (np.asarray(table["full_in_channels"], np.int64) // groups) * np.asarray(table["full_out_channels"], np.int64)
    )  # fmt: skip
    channel_list = np.where(pruned, np.asarray(table["in_channels"], np.int64) * index_bits, 0)
    if sparse_format == "values":
        values, extra = kept, np.zeros(len(n), np.int64)
    elif sparse_format == "dense":
        values, extra = np.where(pruned & (n < full_n), full_n, n), np.zeros(len(n), np.int64)
    else:
        irregular = {
            "bitmap": n,
            "channel-list": n,
            "csr": (kept + rows + 1) * index_bits,
            "coo": 2 * kept * index_bits,
        }[sparse_format]
        values, extra = kept, np.where(sparse, irregular, 0) + channel_list
    bits = np.asarray(weight_bits, np.float64)
    values, extra = values.astype(np.float64), extra.astype(np.float64)
    if bits.ndim:
        return values[:, None] * bits + extra[:, None]
    return values * bits + extra


def sparse_overhead_bits(table, sparse_format: str, index_bits: int, weight_bits) -> np.ndarray:
    """Bits a sparse layer's storage format adds to its kept values, per row (``weight_bits`` may be
    a (1, H) array -> (L, H)); the formats are those of :func:`format_bits`. Rows at density 1 that are
    not channel-pruned are stored dense and add nothing, in every format."""
    n = np.asarray(table["weight_params"], np.int64)
    kept = np.rint(np.asarray(table["density"], np.float64) * n)
    bits = np.asarray(weight_bits, np.float64)
    kept_bits = kept[:, None] * bits if bits.ndim else kept * bits
    return format_bits(table, n, sparse_format, index_bits, weight_bits) - kept_bits
