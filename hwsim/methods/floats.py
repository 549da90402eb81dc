"""FLOATS (paper Sec. 3.2, Algorithm 1 "FLOATS"): FLOAT with sparse weights.

Everything FLOAT does (noisy convs, dual BN, lambda_n / lambda_th, the training step, Eq. 8), on
conv weights masked to a global density d (Eq. 5). Training implements ``irregular`` (FLOATS-i) and
``channel`` (FLOATS-c, whole input channels ranked by F-norm), the sparse-momentum engines of
:mod:`hwsim.runner.sparse`, applied after every optimizer step and pruned / regrown at the end of
every epoch by the training loop; convs named in ``sparsity.exclude`` stay dense. Slim sparsity is
to come. Costs (irregular): memory stores the kept weights (the layer table's ``density``); MACs and
Eq. 7-9 stay dense (no zero skipping: Table 1's "no speed-up" for FLOATS-i). Noise is dense by
default, as the published code adds it to pruned weights too (``noise_on_pruned: true``), so FLOAT's
noise adds stay one per weight; ``noise_on_pruned: false`` hands each masked conv its mask as
``noise_mask``, for the conv to mask its noise with (masked noise).
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
