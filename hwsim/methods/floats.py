"""FLOATS (paper Sec. 3.2, Algorithm 1 "FLOATS"): FLOAT with sparse weights.

Everything FLOAT does (noisy convs, dual BN, lambda_n / lambda_th, the training step, Eq. 8), on
conv weights masked to a global density d (Eq. 5). Training implements ``irregular`` (FLOATS-i),
``channel`` (FLOATS-c, whole input channels ranked by F-norm) and ``slim`` (FLOATS slim, Sec. 3.2 /
Fig. 9: a slimmable network, :mod:`hwsim.nets.conditioning`, trained at every width of
``slim_factors`` each batch, with FLOATS-i masks over its full-width conv weights). The masks are the
sparse-momentum engines of :mod:`hwsim.runner.sparse`, applied after every optimizer step and pruned /
regrown at the end of every epoch by the training loop; convs named in ``sparsity.exclude`` stay dense.

Costs (:mod:`hwsim.workload.sparsity`, :mod:`hwsim.costs`): irregular sparsity thins the stored
weights (the layer table's ``density``); channel pruning and slimming change the shapes (C_i, C_o), so
MACs and Eq. 7-9 follow. Eq. 7-9 stay dense for irregular sparsity unless the spec turns on
``memory.sparse_reads`` / ``compute.zero_skipping`` (off by default: Table 1's "no speed-up" for
FLOATS-i). Noise is dense by default, as the published code adds it to pruned weights too
(``noise_on_pruned: true``): one noise add per weight, and under zero skipping a noisy layer at
lambda_n > 0 is dense again (Eq. 8 gains nothing); ``noise_on_pruned: false`` masks the noise (each
masked conv's ``noise_mask``), so its noise adds and Eq. 8's multiplies count kept weights only.
"""

from __future__ import annotations

from . import register_method
from .float_ import FLOAT


@register_method
class FLOATS(FLOAT):
    name = "floats"
    label = "FLOATS"
    color = "tab:orange"
    marker = "D"
    role = "proposed_sparse"
    family = "float"
    family_shade = 0.3  # a FLOATS model of no known kind
    label_shades = {"FLOATS-i": 0.3, "FLOATS-c": 0.5, "FLOATS slim": 0.7}  # noqa: RUF012
    sparse_kinds = ("irregular", "channel", "slim")
    prunes = True
    requires_sparsity = True
