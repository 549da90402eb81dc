"""FLOAT (Kundu et al.): noisy weights ``theta + lambda * alpha * eta`` with a trainable alpha per
layer, dual BN, and inference rescaling by lambda_n / lambda_th (paper Eq. 4, 6).

Conditioning: ``lambda`` (training, binary) or ``lambda_n`` (inference) picks BN_A when
lambda_n > lambda_th, else BN_C; the noise is scaled by :func:`float_noise_scale`.

Training step (the authors' ``OAT_sparse.py``): one clean-weight pass over the whole batch (rows
[0, B/2) through BN_C, the rest through BN_A); the second half is attacked and passed with noisy
weights through BN_A; loss ``mean(0.5 CE_c + 0.5 CE_a)``, CE_a = 0 on the first half.

Delay: paper Eq. 8 on the noisy convs when the costed condition adds noise (lambda_n > 0), else
Eq. 7. Extra ops: one noise add per weight per forward (``noise_add_ops``).
"""

from __future__ import annotations

import numpy as np

from . import register_method
from .base import Cycles, DelayTerms, Method, cross_entropy, padded


def float_noise_scale(lambda_n: float, lambda_th: float) -> float:
    """Factor applied to alpha at inference for FLOAT (paper Eq. 6).

    For lambda_th = 0.5 this is Eq. 6 exactly: 2*lambda_n below the threshold, 2*(lambda_n - 0.5)
    above. For lambda_th = 0 it is the plain rescaling lambda_n * alpha of section 3.1. Other
    thresholds use the same piecewise-linear rule (lambda_n / lambda_th below, (lambda_n - lambda_th) /
    (1 - lambda_th) above), which reproduces both cases the paper defines.
    """
    if not 0.0 <= lambda_n <= 1.0:
        raise ValueError(f"lambda_n must lie in [0, 1], got {lambda_n}")
    if not 0.0 <= lambda_th < 1.0:
        raise ValueError(f"lambda_th must lie in [0, 1), got {lambda_th}")
    if lambda_n <= lambda_th:
        return lambda_n / lambda_th if lambda_th > 0 else 0.0
    return (lambda_n - lambda_th) / (1.0 - lambda_th)


@register_method
class FLOAT(Method):
    name = "float"
    label = "FLOAT"
    color = "tab:red"
    marker = "o"
    role = "proposed"
    noisy_convs = True
    dual_bn_default = True
    has_lambda_n = True
    delay_rule = "Eq. 8"
    extra_ops = ("noise_add_ops",)
    sparse_kinds = ("slim",)  # FLOAT slim: dense slimmable widths (paper Fig. 9)

    def condition(self, lam, lambda_th=0.0):
        from ..nets.conditioning import ConditionState

        value = float(lam)
        bn = "adv" if value > lambda_th else "clean"
        return ConditionState(lam=value, bn=bn, noise_scale=float_noise_scale(value, lambda_th))

    def noise_active(self, knob: float) -> bool:
        # Eq. 6 scales alpha by a factor that is zero exactly when lambda_n = 0 (for every lambda_th)
        return knob > 0

    def threshold_matters(self, lam: float) -> bool:
        return 0 < lam < 1

    def eval_condition(self, lam, lambda_th):
        return {"lambda_n": lam, "lambda_th": lambda_th}

    def cycles(self, terms: DelayTerms, hw, *, attribution, noise_active):
        from ..costs.delay import eq7_cycles

        # Eq. 8 is Eq. 7 with the multiply term run (1 + H_o W_o) times on the noisy rows
        noisy = terms.noisy & noise_active
        extra = noisy.astype(np.int64)
        mults = terms.mult_weights
        if mults is not None and terms.dense_noise:  # dense noise fills the pruned zeros: nothing to skip
            mults = np.where(noisy, terms.weights, mults)
        return eq7_cycles(terms.weights, terms.outputs + extra, hw, read_bits=terms.read_bits, mult_weights=mults)

    def training_loss(self, net, x, y, settings, generator, attack):
        from ..nets.conditioning import frozen_noise_std

        half = x.shape[0] // 2
        if settings.float_loss == "algorithm1":  # the paper's Algorithm 1, lines 5-9
            net.set_state(bn="clean", noise_scale=0.0)  # L_C: the first half only, clean weights, BN_C
            clean = cross_entropy(net(x[:half]), y[:half]).mean()
            net.set_condition(1.0)
            with frozen_noise_std(net):
                x_adv = attack(net, x[half:], y[half:])
                adv = cross_entropy(net(x_adv), y[half:]).mean()  # L_A over the second half
            return 0.5 * clean + 0.5 * adv
        net.set_state(bn=half, noise_scale=0.0)  # clean weights; rows [0, B/2) BN_C, the rest BN_A
        clean = cross_entropy(net(x), y)
        net.set_condition(1.0)  # theta + alpha * eta, BN_A
        # the parameters do not change during the loss: std(theta) once per layer for the 8 noisy
        # forwards (7 attack steps + the noisy pass); eta is still drawn fresh on each
        with frozen_noise_std(net):
            x_adv = attack(net, x[half:], y[half:])
            adv = padded(half, cross_entropy(net(x_adv), y[half:]))
        return (0.5 * clean + 0.5 * adv).mean()


__all__ = ["FLOAT", "Cycles", "float_noise_scale"]
