"""Network zoo: a registry of backbone families, each built for a method by one parameter.

>>> net = build_network("resnet34", method="float", num_classes=10, dual_bn=True)
>>> net.set_condition(lam=1.0)            # noisy weights, BN_A
>>> slim = build_network("resnet20", method="float", dual_bn=True, slim_factors=(1.0, 0.5))
>>> slim.set_slim(0.5)                    # the half-width sub-network (FLOAT slim)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .conditioning import (
    ConditionalNetwork,
    Conditioning,
    ConditionState,
    DualBatchNorm2d,
    FiLM,
    NoisyConv2d,
    SlimmableConv2d,
    SlimmableLinear,
    SwitchableBatchNorm2d,
    SwitchableFiLM,
    float_noise_scale,
    resolve_condition,
    set_condition,
)
from .resnet import ResNet
from .wrn import WideResNet

ArchBuilder = Callable[..., ConditionalNetwork]
ARCHS: dict[str, ArchBuilder] = {}


def register_arch(name: str) -> Callable[[ArchBuilder], ArchBuilder]:
    """Register a family builder ``(num_classes, conditioning, **options) -> network``."""

    def wrap(builder: ArchBuilder) -> ArchBuilder:
        ARCHS[name] = builder
        return builder

    return wrap


@register_arch("resnet20")
def resnet20(num_classes: int, conditioning: Conditioning, **options) -> ResNet:
    return ResNet((3, 3, 3), (16, 32, 64), num_classes, conditioning, **options)


@register_arch("resnet34")
def resnet34(num_classes: int, conditioning: Conditioning, **options) -> ResNet:
    return ResNet((3, 4, 6, 3), (64, 128, 256, 512), num_classes, conditioning, **options)


@register_arch("wrn16_8")
def wrn16_8(num_classes: int, conditioning: Conditioning, **options) -> WideResNet:
    return WideResNet(16, 8, num_classes, conditioning, **options)


@register_arch("wrn40_2")
def wrn40_2(num_classes: int, conditioning: Conditioning, **options) -> WideResNet:
    return WideResNet(40, 2, num_classes, conditioning, **options)


def build_network(
    arch: str,
    method: str = "pgdat",
    num_classes: int = 10,
    *,
    dual_bn: bool = False,
    film_dim: int = 1,
    alpha_init: float = 0.25,
    slim_factors: tuple[float, ...] = (1.0,),
    film_encoding: str | None = None,
    lambda_choices: tuple[float, ...] | None = None,
    seed: int = 0,
    float_variant: str = "noise",
    **options,
) -> ConditionalNetwork:
    """Build ``arch`` for ``method`` (any name in :func:`hwsim.methods.list_methods`). Extra options go to the family
    (``dropout`` for WRNs, ``in_channels`` for all). ``slim_factors`` with more than 1.0 builds a slimmable
    network (:mod:`hwsim.nets.conditioning`). ``film_encoding`` / ``lambda_choices`` / ``seed``: OAT's lambda
    encoding (:class:`~hwsim.nets.conditioning.LambdaEncoder`); ``seed`` also draws the masks of ``float_variant``
    ``rm`` (:class:`~hwsim.nets.conditioning.RandomMaskConv2d`)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(sorted(ARCHS))}")
    conditioning = Conditioning(
        method, dual_bn=dual_bn, film_dim=film_dim, alpha_init=alpha_init, slim_factors=tuple(slim_factors),
        film_encoding=film_encoding, lambda_choices=None if lambda_choices is None else tuple(lambda_choices),
        seed=seed, float_variant=float_variant,
    )  # fmt: skip
    return ARCHS[arch](num_classes, conditioning, **options)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "ARCHS",
    "ConditionState",
    "ConditionalNetwork",
    "Conditioning",
    "DualBatchNorm2d",
    "FiLM",
    "NoisyConv2d",
    "SlimmableConv2d",
    "SlimmableLinear",
    "SwitchableBatchNorm2d",
    "SwitchableFiLM",
    "build_network",
    "count_params",
    "float_noise_scale",
    "register_arch",
    "resolve_condition",
    "set_condition",
]
