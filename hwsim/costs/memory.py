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
    """Stored parameters per row and component (floats, since density may thin the weights)."""
    own = np.asarray(table["weight_params"], np.float64) * np.asarray(table["density"], np.float64)
    own = own + np.asarray(table["bias_params"], np.float64)
    is_film = np.asarray(table["op"]) == "film_linear"
    return {
        "conv_linear": np.where(is_film, 0.0, own),
        "film": np.where(is_film, own, 0.0),
        "bn": np.asarray(table["bn_params"], np.float64),
        "alpha": np.asarray(table["alpha_params"], np.float64),
    }


def memory_bits(table, weight_bits) -> dict[str, np.ndarray]:
    """Bits per row and component; ``weight_bits`` may be a (1, H) array for a sweep -> (L, H).

    Adds ``fig8b`` and ``full`` totals per row.
    """
    bits = np.asarray(weight_bits, dtype=np.float64)
    parts = {
        name: params[:, None] * bits if bits.ndim else params * bits for name, params in component_params(table).items()
    }
    parts["fig8b"] = sum(parts[c] for c in FIG8B_COMPONENTS)
    parts["full"] = sum(parts[c] for c in COMPONENTS)
    return parts
