"""Conditioning layers shared by every backbone: FLOAT noisy convs, dual BN, OAT FiLM.

A network is built once per family; the *method* (``pgdat``, ``oat``, ``float``) only decides which of
these layers the backbone gets, through :class:`Conditioning`. All conditional layers of one network read
one shared :class:`ConditionState`, set with :func:`set_condition` (or ``net.set_condition``). Nothing
here depends on ``model.train()`` / ``model.eval()``: attack libraries switch modes freely, and the
noise and BN choice must stay exactly what the caller asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..methods import Method, get_method
from ..methods.float_ import float_noise_scale

# BN selection: one BN path for the whole batch, or the first `k` rows through BN_C and the rest
# through BN_A (OAT trains on one mixed batch).
BnChoice = Literal["clean", "adv"] | int


@dataclass
class ConditionState:
    """What the conditional layers of one network do on the next forward pass.

    Attributes:
        lam: OAT's lambda, a float or a per-sample tensor of shape (B,), fed to the FiLM encoders.
        bn: which BN of a dual BN to use ("clean" = BN_C, "adv" = BN_A, or an int k: rows [0, k)
            through BN_C, the rest through BN_A).
        noise_scale: FLOAT's effective lambda * (alpha rescale) multiplying alpha * eta (Eq. 4, 6);
            0 gives the clean weights theta.
    """

    lam: float | torch.Tensor = 0.0
    bn: BnChoice = "clean"
    noise_scale: float = 0.0


def resolve_condition(method: str, lam: float | torch.Tensor, lambda_th: float = 0.0) -> ConditionState:
    """Map the user's conditioning knob to what the layers do: the method's rule
    (:meth:`hwsim.methods.Method.condition`)."""
    return get_method(method).condition(lam, lambda_th)


class ConditionalModule(nn.Module):
    """Base of layers that read the network's shared :class:`ConditionState`."""

    def __init__(self, state: ConditionState) -> None:
        super().__init__()
        # A plain attribute, not a submodule: shared by reference, never saved in state_dict.
        object.__setattr__(self, "state", state)


class NoisyConv2d(nn.Conv2d):
    """FLOAT convolution: weight theta + lambda * alpha * eta (paper Eq. 4).

    eta ~ N(0, std(theta)^2) with std a detached scalar over the whole tensor, drawn fresh on every
    forward; alpha is one trainable scalar per layer (initialised to 0.25 as in He et al. 2019).
    """

    def __init__(self, state: ConditionState, *args, alpha_init: float = 0.25, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "state", state)
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def noisy_weight(self) -> torch.Tensor:
        scale = self.state.noise_scale
        if scale == 0.0:
            return self.weight
        eta = torch.randn_like(self.weight) * self.weight.detach().std()
        return self.weight + scale * self.alpha * eta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.noisy_weight(), self.bias)


class DualBatchNorm2d(ConditionalModule):
    """Two BNs, BN_C (clean) and BN_A (adversarial), chosen by the shared state."""

    def __init__(self, state: ConditionState, num_features: int) -> None:
        super().__init__(state)
        self.bn_clean = nn.BatchNorm2d(num_features)
        self.bn_adv = nn.BatchNorm2d(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        choice = self.state.bn
        if choice == "clean":
            return self.bn_clean(x)
        if choice == "adv":
            return self.bn_adv(x)
        k = int(choice)
        if k <= 0:
            return self.bn_adv(x)
        if k >= x.shape[0]:
            return self.bn_clean(x)
        return torch.cat([self.bn_clean(x[:k]), self.bn_adv(x[k:])], dim=0)


class LambdaEncoder(nn.Module):
    """Encodes lambda as OAT's FiLM input of width ``dim``.

    dim = 1 feeds lambda itself (the setting behind the paper's 31.4 MB OAT ResNet34). For dim > 1
    lambda interpolates between two fixed, seeded unit vectors, a deterministic stand-in for OAT's
    lambda encoding that keeps the FiLM input width configurable.
    """

    def __init__(self, dim: int = 1, seed: int = 0) -> None:
        super().__init__()
        self.dim = dim
        if dim > 1:
            gen = torch.Generator().manual_seed(seed)
            basis = torch.randn(2, dim, generator=gen)
            self.register_buffer("basis", basis / basis.norm(dim=1, keepdim=True), persistent=False)

    def forward(self, lam: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
        lam_t = torch.as_tensor(lam, dtype=like.dtype, device=like.device).reshape(-1, 1)
        lam_t = lam_t.expand(batch, 1) if lam_t.shape[0] == 1 else lam_t
        if self.dim == 1:
            return lam_t
        basis = self.basis.to(device=like.device, dtype=like.dtype)
        return (1 - lam_t) * basis[0] + lam_t * basis[1]


class FiLM(ConditionalModule):
    """OAT's feature-wise linear modulation after a BN (Wang et al. 2020, Perez et al. 2018).

    MLP: Linear(d -> 2C) -> LeakyReLU -> Linear(2C -> 2C); split into mu, sigma;
    out = x * leaky_relu(mu) + leaky_relu(sigma), per channel.
    """

    def __init__(self, state: ConditionState, channels: int, encoder: LambdaEncoder) -> None:
        super().__init__(state)
        self.channels = channels
        object.__setattr__(self, "encoder", encoder)  # shared, parameter-free
        self.fc1 = nn.Linear(encoder.dim, 2 * channels)
        self.act = nn.LeakyReLU()
        self.fc2 = nn.Linear(2 * channels, 2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encoder(self.state.lam, x.shape[0], x)
        mu, sigma = self.fc2(self.act(self.fc1(code))).split(self.channels, dim=1)
        mu = F.leaky_relu(mu)[:, :, None, None]
        sigma = F.leaky_relu(sigma)[:, :, None, None]
        return x * mu + sigma


@dataclass
class Conditioning:
    """Layer factory chosen by the method: the one thing that differs between PGD-AT, OAT and FLOAT.

    Args:
        method: ``pgdat``, ``oat`` or ``float``.
        dual_bn: two BNs (BN_C, BN_A) in place of each BN (OAT and FLOAT only).
        film_dim: OAT's lambda-encoding width d (FiLM input features).
        alpha_init: FLOAT's initial noise scale alpha.
    """

    method: str | Method = "pgdat"
    dual_bn: bool = False
    film_dim: int = 1
    alpha_init: float = 0.25
    state: ConditionState = field(default_factory=ConditionState)

    def __post_init__(self) -> None:
        self.rule = get_method(self.method)
        self.method = self.rule.name
        if self.film_dim < 1:
            raise ValueError(f"film_dim must be >= 1, got {self.film_dim}")
        self.encoder = LambdaEncoder(self.film_dim)

    def conv(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Conv2d:
        """A bias-free 'same'-padded conv; FLOAT's convs all carry weight noise (stem and shortcuts too)."""
        args = dict(kernel_size=kernel, stride=stride, padding=kernel // 2, bias=False)
        if self.rule.noisy_convs:
            return NoisyConv2d(self.state, in_ch, out_ch, alpha_init=self.alpha_init, **args)
        return nn.Conv2d(in_ch, out_ch, **args)

    def norm(self, channels: int) -> nn.Module:
        if self.dual_bn and self.rule.allows_dual_bn:
            return DualBatchNorm2d(self.state, channels)
        return nn.BatchNorm2d(channels)

    def film(self, channels: int) -> nn.Module:
        """FiLM for OAT; identity (no layer at all in the table) for the other methods."""
        if self.rule.film:
            return FiLM(self.state, channels, self.encoder)
        return nn.Identity()


class ConditionalNetwork(nn.Module):
    """Mixin-style base for the backbones: owns the conditioning and exposes the conditioning API."""

    def __init__(self, conditioning: Conditioning) -> None:
        super().__init__()
        object.__setattr__(self, "conditioning", conditioning)

    @property
    def method(self) -> str:
        return self.conditioning.method

    @property
    def rule(self) -> Method:
        """The registered method object (what differs by method)."""
        return self.conditioning.rule

    @property
    def state(self) -> ConditionState:
        return self.conditioning.state

    def set_condition(self, lam: float | torch.Tensor = 0.0, lambda_th: float = 0.0) -> ConditionState:
        """Condition the network: lambda (OAT, PGD-AT) or lambda / lambda_n (FLOAT, Eq. 6)."""
        new = self.rule.condition(lam, lambda_th)
        state = self.conditioning.state
        state.lam, state.bn, state.noise_scale = new.lam, new.bn, new.noise_scale
        return state

    def set_state(
        self, *, lam: float | torch.Tensor = 0.0, bn: BnChoice = "clean", noise_scale: float = 0.0
    ) -> ConditionState:
        """Set the conditional layers directly, bypassing the method's lambda rule.

        Training steps need states no single lambda gives: FLOAT's clean pass of the reference code
        runs clean weights with the batch split between BN_C and BN_A (``bn=k``, ``noise_scale=0``).
        """
        state = self.conditioning.state
        state.lam, state.bn, state.noise_scale = lam, bn, float(noise_scale)
        return state

    def alphas(self) -> list[nn.Parameter]:
        """FLOAT's per-layer noise scales (empty for other methods); trained without weight decay."""
        return [m.alpha for m in self.modules() if isinstance(m, NoisyConv2d)]


def set_condition(model: nn.Module, lam: float | torch.Tensor = 0.0, lambda_th: float = 0.0):
    """Condition any hwsim network (no-op for plain modules)."""
    if isinstance(model, ConditionalNetwork):
        return model.set_condition(lam, lambda_th)
    return None


__all__ = [
    "ConditionState",
    "Conditioning",
    "ConditionalNetwork",
    "DualBatchNorm2d",
    "FiLM",
    "LambdaEncoder",
    "NoisyConv2d",
    "float_noise_scale",
    "resolve_condition",
    "set_condition",
]
