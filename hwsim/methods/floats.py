"""FLOATS (paper Sec. 3.2, Algorithm 1 "FLOATS"): FLOAT with sparse weights.

Everything FLOAT does (noisy convs, dual BN, lambda_n / lambda_th, the training step, Eq. 8), on
conv weights masked to a global density d (Eq. 5). Implemented: ``irregular`` (FLOATS-i, the
sparse-momentum masks of :mod:`hwsim.runner.sparse`, applied after every optimizer step and
pruned / regrown at the end of every epoch by the training loop) and, for training and evaluation,
``slim`` (FLOATS slim, Sec. 3.2 / Fig. 9: a slimmable network, :mod:`hwsim.nets.conditioning`, trained
at every width of ``slim_factors`` each batch, with the FLOATS-i masks over its full-width conv
weights; at density 1.0 it is FLOAT slim). Channel sparsity is to come, and so is the cost table
of the slim widths. Costs of FLOATS-i: memory stores the kept weights (the layer table's ``density``); MACs and Eq. 7-9 stay
dense (no zero skipping: Table 1's "no speed-up" for FLOATS-i); noise is dense, as the published code
adds it to pruned weights too (``noise_on_pruned: true``), so FLOAT's noise adds stay one per weight.
"""

from __future__ import annotations

from . import register_method
from .float_ import FLOAT


@register_method
class FLOATS(FLOAT):
    name = "floats"
    label = "FLOATS"
    color = "tab:orange"
    sparse_kinds = ("irregular", "channel", "slim")
    prunes = True
    requires_sparsity = True
