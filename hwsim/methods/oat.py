"""OAT (Wang et al. 2020): FiLM after every conditioned BN, dual BN, lambda as an input.

Conditioning: ``lambda`` feeds the FiLM encoders; BN_C at lambda = 0, BN_A for lambda > 0. A
per-sample lambda tensor lists its lambda = 0 rows first; they go through BN_C.

Training step (the reference ``OAT.py``): one clean pass over the whole batch (its ceil(B / |S|)
lambda = 0 rows through BN_C, the rest through BN_A); only the lambda != 0 rows are attacked and
passed again through BN_A; loss ``mean((1 - lambda_i) CE_c + lambda_i CE_a)``.

Delay: paper Eq. 9, the FiLM values ``F = 2 C_o + 4 C_o^2`` read and multiplied on top of Eq. 7;
which convs pay it is the ``attribution`` (see :mod:`hwsim.costs.delay`). Extra ops: the FiLM
modulation ``x * mu + sigma`` (``film_mod_ops``).
"""

from __future__ import annotations

import math

import numpy as np

from . import register_method
from .base import Cycles, DelayTerms, Method, _is_tensor, cross_entropy, padded


def sample_oat_lambdas(batch: int, choices: list[float], generator):
    """OAT's per-sample lambdas: ceil(B / |S|) rows at lambda = 0 first (they go through BN_C),
    the rest drawn uniformly from the non-zero values of S."""
    import torch

    nonzero = torch.tensor([c for c in choices if c != 0], dtype=torch.float32)
    n_zero = math.ceil(batch / len(choices)) if 0 in choices else 0
    if len(nonzero) == 0:
        return torch.zeros(batch)
    picks = nonzero[torch.randint(len(nonzero), (batch - n_zero,), generator=generator)]
    return torch.cat([torch.zeros(n_zero), picks])


@register_method
class OAT(Method):
    name = "oat"
    label = "OAT"
    color = "tab:blue"
    marker = "s"
    role = "film"
    film = True
    dual_bn_default = True
    delay_rule = "Eq. 9"
    extra_ops = ("film_mod_ops",)
    sparse_kinds = ("slim",)  # OAT slim ("OATS"): dense slimmable widths, the Fig. 9 baseline

    def condition(self, lam, lambda_th=0.0):
        from ..nets.conditioning import ConditionState

        if _is_tensor(lam) and lam.ndim > 0:
            n_clean = int((lam == 0).sum())
            if n_clean and not bool((lam[:n_clean] == 0).all()):
                raise ValueError("per-sample lambdas must list the lambda = 0 rows first")
            return ConditionState(lam=lam, bn=n_clean)
        value = float(lam)
        return ConditionState(lam=value, bn="clean" if value == 0 else "adv")

    def cycles(self, terms: DelayTerms, hw, *, attribution, noise_active):
        from ..costs.delay import eq9_cycles

        if attribution == "paper":  # every conv pays a FiLM of its own width (Fig. 8(c))
            film_c = np.where(terms.is_conv, terms.out_channels, 0)
        else:  # only the convs a FiLM really follows
            film_c = terms.film_channels
        return eq9_cycles(
            terms.weights, terms.outputs, film_c, hw, read_bits=terms.read_bits, mult_weights=terms.mult_weights
        )

    def training_loss(self, net, x, y, settings, generator, attack):
        batch = x.shape[0]
        lam = sample_oat_lambdas(batch, settings.oat_lambdas, generator).to(x.device)
        n_zero = int((lam == 0).sum())
        net.set_condition(lam)  # rows [0, n_zero) through BN_C, the rest through BN_A
        clean = cross_entropy(net(x), y)
        adv = clean.new_zeros(batch)
        if n_zero < batch:
            net.set_condition(lam[n_zero:])  # no zero left: every row through BN_A
            x_adv = attack(net, x[n_zero:], y[n_zero:])
            adv = padded(n_zero, cross_entropy(net(x_adv), y[n_zero:]))
        return ((1 - lam) * clean + lam * adv).mean()

    def find_unused_parameters(self, settings) -> bool:
        """A step leaves BN_C idle when S has no lambda = 0, and BN_A when S is only {0}."""
        return 0 not in settings.oat_lambdas or set(settings.oat_lambdas) == {0}

    def train_lambdas(self, settings) -> list[float]:
        return list(settings.oat_lambdas)


__all__ = ["OAT", "Cycles", "sample_oat_lambdas"]
