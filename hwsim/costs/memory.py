"""Weight storage: parameters x B_W bits, split by component (paper section 4.3, Fig. 8(b)).

Components, one column each: ``conv_linear`` (conv and classifier weights and biases), ``film``
(OAT's FiLM MLPs), ``bn`` (BN affine parameters; a dual BN stores two sets), ``alpha`` (FLOAT's
per-layer noise scales). Running BN statistics are buffers, not parameters, and are not counted.

Two conventions:

* ``fig8b``: conv/linear + FiLM, neglecting BN and alpha, as the paper's Fig. 8(b) does;
* ``full``: every parameter.

Irregular sparsity stores only the kept weights: conv/linear weights are scaled by ``density``
(index overhead is not modelled).
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


def sparse_overhead_bits(table, sparse_format: str, index_bits: int, weight_bits) -> np.ndarray:
    """Bits a sparse layer's storage format adds to its kept values, per row (``weight_bits`` may be
    a (1, H) array -> (L, H)). Rows at density 1 are stored dense and add nothing, in every format.

    For a conv of ``n`` weights (a C_o x k^2 C_i matrix) keeping ``kept = density x n``:

    * ``values``: 0 (the kept values only: the paper's CR = 1/d);
    * ``dense``: the zeros too, ``(n - kept) x B_W``;
    * ``bitmap``: one bit per position, ``n``;
    * ``csr``: a column index per kept value and C_o + 1 row pointers, ``(kept + C_o + 1) x index_bits``;
    * ``coo``: a row and a column index per kept value, ``2 x kept x index_bits``.
    """
    n = np.asarray(table["weight_params"], np.int64)
    density = np.asarray(table["density"], np.float64)
    kept = np.rint(density * n).astype(np.int64)
    sparse = (density < 1.0) & (n > 0)
    bits = np.asarray(weight_bits, np.float64)
    rows = np.asarray(table["out_channels"], np.int64)
    per_row = {
        "values": np.zeros(len(n)),
        "bitmap": n.astype(np.float64),
        "csr": ((kept + rows + 1) * index_bits).astype(np.float64),
        "coo": (2 * kept * index_bits).astype(np.float64),
    }
    if sparse_format == "dense":
        zeros = np.where(sparse, n - kept, 0).astype(np.float64)
        return zeros[:, None] * bits if bits.ndim else zeros * bits
    overhead = np.where(sparse, per_row[sparse_format], 0.0)
    return overhead[:, None] * np.ones_like(bits) if bits.ndim else overhead
