"""PGD-AT (Madry et al. 2018): one network trained at one fixed lambda of Eq. 3, single BN path.

Training step (the OAT repository's ``PGDAT.py``): attack in eval mode, then the adversarial pass,
then the clean pass; loss ``(1 - lambda) CE(x) + lambda CE(x_adv)``; no attack at lambda = 0.
Delay: paper Eq. 7 on every conv and linear row.
"""

from __future__ import annotations

from . import register_method
from .base import Method, cross_entropy


@register_method
class PGDAT(Method):
    name = "pgdat"
    label = "PGD-AT"
    color = "tab:green"
    marker = "^"
    role = "at"
    allows_dual_bn = False
    single_lambda = True
    delay_rule = "Eq. 7"

    def training_loss(self, net, x, y, settings, generator, attack):
        lam = settings.pgdat_lambda
        net.set_condition(lam)
        if lam == 0:
            return cross_entropy(net(x), y).mean()
        x_adv = attack(net, x, y)
        adv = cross_entropy(net(x_adv), y).mean()
        return (1 - lam) * cross_entropy(net(x), y).mean() + lam * adv

    def train_lambdas(self, settings) -> list[float]:
        return [settings.pgdat_lambda]
