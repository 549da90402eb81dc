"""Conditioning layers shared by every backbone: FLOAT noisy convs, dual BN, OAT FiLM, slimmable widths.

A network is built once per family; the *method* (``pgdat``, ``oat``, ``float``, ``floats``) only decides
which of these layers the backbone gets, through :class:`Conditioning`. All conditional layers of one
network read one shared :class:`ConditionState`, set with :func:`set_condition` (or
``net.set_condition``). Nothing here depends on ``model.train()`` / ``model.eval()``: attack libraries
switch modes freely, and the noise and BN choice must stay exactly what the caller asked for.

Slimmable networks (Yu et al. 2018, ``JiahuiYu/slimmable_networks``; the paper's FLOAT slim, FLOATS slim
and OAT slim, Sec. 3.2 and Fig. 9): built when ``Conditioning.slim_factors`` lists more than 1.0. The
width of the next forward is ``state.width`` (``net.set_slim(sf)``). Every conv then runs on the
sub-tensor ``weight[:slim_channels(C_o, sf), :C_i_of_its_input]`` of its full weight (a view: the
sub-networks share storage with the full one; the image channels of the stem are never slimmed), the
classifier reads the first ``x.shape[1]`` of its inputs and keeps every output, and every BN (or
BN_C / BN_A pair) and OAT FiLM is *switchable*: one private layer of width ``slim_channels(C, sf)`` per
slimming factor, chosen by ``state.width``. A network with ``slim_factors == (1.0,)`` is built from the
plain layers exactly as before (same classes, state_dict keys and numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..methods import Method, get_method
from ..methods.float_ import float_noise_scale
from ..workload.sparsity import slim_channels

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
        width: the slimming factor SF of the next forward (slimmable networks; 1.0 = full width).
    """

    lam: float | torch.Tensor = 0.0
    bn: BnChoice = "clean"
    noise_scale: float = 0.0
    width: float = 1.0


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


def _slim_weight(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The part of ``conv.weight`` a slimmable conv uses at ``state.width``: its first
    ``slim_channels(C_o, width)`` filters over the first ``x.shape[1]`` input channels (a view)."""
    out = slim_channels(conv.out_channels, conv.state.width)
    return conv.weight[:out, : x.shape[1]]


class SlimmableConv2d(nn.Conv2d):
    """A conv of a slimmable network (``SlimmableConv2d`` of Yu et al.): at width SF it runs on
    ``weight[:slim_channels(C_o, SF), :x.shape[1]]``, a view of the full weight. Bias-free only (hwsim's
    convs are)."""

    def __init__(self, state: ConditionState, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.bias is not None:
            raise ValueError("slimmable convs are bias-free")
        object.__setattr__(self, "state", state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, _slim_weight(self, x), None)


class NoisyConv2d(nn.Conv2d):
    """FLOAT convolution: weight theta + lambda * alpha * eta (paper Eq. 4).

    eta ~ N(0, std(theta)^2) with std a detached scalar over the whole tensor, drawn fresh on every
    forward; alpha is one trainable scalar per layer (initialised to 0.25 as in He et al. 2019).

    ``slimmable`` (FLOAT slim / FLOATS slim): the conv runs on the sub-tensor of :class:`SlimmableConv2d`,
    and eta is drawn for that sub-tensor only, its std taken over the sub-tensor (a choice: the paper
    does not say; it is the noise the sub-network would get were it a network of its own).

    ``noise_mask`` (a plain attribute, never in ``state_dict``; set by the sparsity engine): a bool
    tensor shaped like the full weight, or None. When set, eta is zero where the mask is off and its
    std is taken over the kept weights only; None (the default) is dense noise with the std over the
    whole (sub-)tensor, pruned zeros included.
    """

    def __init__(
        self, state: ConditionState, *args, alpha_init: float = 0.25, slimmable: bool = False, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "slimmable", slimmable)
        object.__setattr__(self, "noise_mask", None)
        if slimmable and self.bias is not None:
            raise ValueError("slimmable convs are bias-free")
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def used_weight(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """theta of the next forward: the whole weight, or a slimmable conv's sub-tensor for input ``x``."""
        if not self.slimmable:
            return self.weight
        if x is None:
            raise ValueError("a slimmable conv's weight depends on its input: pass x")
        return _slim_weight(self, x)

    def _noise_std(self, detached: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """The std of eta: unbiased, over the whole (sub-)tensor, or over its kept weights only (0 when
        fewer than 2 are kept); a 0-d tensor, no host sync."""
        if keep is None:
            return detached.std()
        n = keep.sum()
        mean = (detached * keep).sum() / n.clamp(min=1)
        var = (((detached - mean) * keep) ** 2).sum() / (n - 1).clamp(min=1)
        return torch.where(n > 1, var.sqrt(), torch.zeros_like(var))

    def _std_and_keep(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """std(theta) and the float keep mask (or None) of the sub-tensor ``weight``. Inside
        :func:`frozen_noise_std` both are computed once per (sub-tensor shape, mask) and reused, as long
        as the weight's version counter says the weight was not changed in place."""
        mask = getattr(self, "noise_mask", None)
        cache = getattr(self, "_std_cache", None)
        key = (tuple(weight.shape), None if mask is None else id(mask))
        version = (self.weight._version, None if mask is None else mask._version)
        if cache is not None:
            hit = cache.get(key)
            if hit is not None and hit[0] == version:
                return hit[1], hit[2]
        keep = None
        if mask is not None:
            keep = mask[: weight.shape[0], : weight.shape[1]].to(device=weight.device, dtype=weight.dtype)
        std = self._noise_std(weight.detach(), keep)
        if cache is not None:
            cache[key] = (version, std, keep)
        return std, keep

    def noisy_weight(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """theta + noise_scale * alpha * eta with a fresh eta (theta itself when noise_scale is 0).

        One draw ``torch.randn_like`` of the (sub-)tensor from the global RNG per forward, as before
        (same samples for the same seed); the std and mask are scaled into the draw in place and the
        add is one ``addcmul`` with the 0-d factor ``noise_scale * alpha * std``, so autograd sees
        d/dtheta = identity and d/dalpha = noise_scale * std * sum(grad * eta / std), the formula of the
        reference path (:meth:`noisy_weight_reference`).
        """
        if _NOISE_IMPL == "reference":
            return self.noisy_weight_reference(x)
        weight = self.used_weight(x)
        scale = self.state.noise_scale
        if scale == 0.0:
            return weight
        std, keep = self._std_and_keep(weight)
        draw = torch.randn_like(weight)  # unit normal; no autograd history
        if keep is not None:
            draw.mul_(keep)
        return torch.addcmul(weight, draw, (scale * std) * self.alpha)

    def noisy_weight_reference(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The noise path before issue 18 (kept for the benchmark toggle and the tests): eta scaled by
        the std in a separate op, std recomputed on every forward, the add and two muls apart."""
        weight = self.used_weight(x)
        scale = self.state.noise_scale
        if scale == 0.0:
            return weight
        mask = getattr(self, "noise_mask", None)
        detached = weight.detach()
        if mask is None:
            eta = torch.randn_like(weight) * detached.std()
        else:
            keep = mask[: weight.shape[0], : weight.shape[1]].to(device=weight.device, dtype=weight.dtype)
            eta = torch.randn_like(weight) * self._noise_std(detached, keep) * keep
        return weight + scale * self.alpha * eta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.noisy_weight(x), self.bias)


class RandomMaskConv2d(NoisyConv2d):
    """FLOAT_v2's ``noise_Conv2d_rm`` with ``use_rm=True`` (``models/noise_layer.py:112-177``), the convs of
    the deeper stages of its CIFAR-10 network ``ResNet34OAT_rm`` (``OAT_sparse.py:14, 95``;
    ``models/cifar10/resnet_OAT_mask.py:123-125``): no weight noise at all; instead two complementary
    random masks, ``mask_c = (rand(weight.shape) > 0.5)`` and ``mask_a = 1 - mask_c``
    (``noise_layer.py:128-130``), drawn once at construction: the clean condition (``w_noise`` False:
    FLOAT's clean pass, lambda_n = 0) convolves with ``weight * mask_c``, the noisy one (``w_noise``
    True: the attack, the adversarial pass, lambda_n > 0) with ``weight * mask_a``
    (``noise_layer.py:158-167``). Only *whether* noise is on picks the mask, never lambda's size
    (the reference's ``mod_lambda`` noise is computed and then overwritten). In hwsim's terms: mask_a
    where ``state.noise_scale != 0``, else mask_c.

    Each weight is in exactly one mask; each mask keeps ~50% (independent Bernoulli(1/2) per weight, as
    ``torch.rand > 0.5``, not an exact half). hwsim draws them from the network's seeded generator
    (the reference: the global RNG after ``torch.manual_seed(seed)``) and keeps ``mask_c`` as a
    persistent bool buffer (the reference's masks are plain attributes, not saved). ``alpha`` exists,
    as ``alpha_w`` in the reference, but no forward uses it (no gradient; it is decayed only with
    ``alpha_weight_decay``). A slimmable conv uses the masks' sub-tensor.

    Cost (the layer table, :mod:`hwsim.workload.extract`): a dense conv (Eq. 7, no noise adds, not
    ``noisy``), its alpha still counted as a parameter: the two masks together use every weight, so all
    are stored, and the masked zeros of one forward are not skipped (density 1.0).
    """

    random_masks = True

    def __init__(self, state: ConditionState, *args, generator: torch.Generator | None = None, **kwargs) -> None:
        super().__init__(state, *args, **kwargs)
        draw = torch.rand(self.weight.shape, generator=generator, device="cpu")
        self.register_buffer("mask_c", (draw > 0.5).to(self.weight.device))

    def masked_weight(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """theta * mask_c (noise off) or theta * mask_a (noise on), on the used (sub-)tensor."""
        weight = self.used_weight(x)
        keep = self.mask_c[: weight.shape[0], : weight.shape[1]]
        if self.state.noise_scale != 0.0:
            keep = ~keep
        return weight * keep.to(weight.dtype)

    def noisy_weight(self, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.masked_weight(x)

    def noisy_weight_reference(self, x: torch.Tensor | None = None) -> torch.Tensor:
        return self.masked_weight(x)


#: "fast" (default) or "reference": which noise path every NoisyConv2d runs (a benchmark / test toggle).
_NOISE_IMPL: Literal["fast", "reference"] = "fast"


def set_noise_impl(impl: Literal["fast", "reference"]) -> str:
    """Switch every NoisyConv2d between the fast noise path and the pre-issue-18 reference path (same
    draws from the global RNG, same distribution); returns the previous choice."""
    global _NOISE_IMPL
    if impl not in ("fast", "reference"):
        raise ValueError(f"noise impl must be 'fast' or 'reference', got {impl!r}")
    previous, _NOISE_IMPL = _NOISE_IMPL, impl
    return previous


@contextmanager
def frozen_noise_std(net: nn.Module) -> Iterator[None]:
    """Within the block, each noisy conv of ``net`` computes std(theta) (and its keep mask) once per
    sub-tensor and mask and reuses it: for the forwards of one training loss (the attack's and the
    noisy pass), where the parameters do not change. eta is still drawn fresh on every forward. A
    weight or mask changed in place inside the block (its version counter moves) is recomputed;
    nested blocks share the outer cache."""
    convs = [m for m in net.modules() if isinstance(m, NoisyConv2d) and getattr(m, "_std_cache", None) is None]
    for conv in convs:
        object.__setattr__(conv, "_std_cache", {})
    try:
        yield
    finally:
        for conv in convs:
            object.__setattr__(conv, "_std_cache", None)


class SlimmableLinear(nn.Linear):
    """The classifier of a slimmable network: reads the first ``x.shape[-1]`` inputs, keeps every output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight[:, : x.shape[-1]], self.bias)


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


#: OAT's lambda encodings (``OAT.py:44``, ``--encoding``) and hwsim's two older ones.
FilmEncoding = Literal["scalar", "interp", "rand", "onehot", "dct"]
#: The encodings that feed row j of a dim x dim matrix for the j-th training lambda (OAT.py:103-116).
MATRIX_ENCODINGS = ("rand", "onehot", "dct")
#: OAT.py:42's default ``--lambda_choices`` (= TrainSettings.oat_lambdas' default): the choices a network
#: built without training settings (costing, a checkpoint before its state is loaded) encodes.
OAT_DEFAULT_CHOICES = (0.0, 0.1, 0.2, 0.3, 0.4, 1.0)


def dct_matrix(dim: int) -> np.ndarray:
    """``scipy.fftpack.dct(np.eye(dim), axis=0)`` (OAT.py:108-109) without scipy: the unnormalised
    DCT-II, ``D[k, n] = 2 cos(pi k (2n + 1) / (2 dim))``."""
    k = np.arange(dim)[:, None]
    n = np.arange(dim)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * dim))


def encoding_matrix(encoding: str, dim: int, seed: int = 0) -> np.ndarray:
    """OAT's ``encoding_mat`` (OAT.py:103-116): ``onehot`` the identity, ``dct`` :func:`dct_matrix`,
    ``rand`` the Q of ``np.linalg.qr`` of a standard-normal dim x dim matrix. OAT draws that matrix
    from numpy's unseeded global RNG (``np.random.randn``, saved to rand_mat.npy); hwsim draws it from
    ``np.random.default_rng(seed)`` (``standard_normal``), so the same seed gives the same matrix."""
    if encoding == "onehot":
        return np.eye(dim)
    if encoding == "dct":
        return dct_matrix(dim)
    if encoding == "rand":
        q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
        return q
    raise ValueError(f"film encoding {encoding!r} has no matrix; matrix encodings: {', '.join(MATRIX_ENCODINGS)}")


class LambdaEncoder(nn.Module):
    """Encodes lambda as OAT's FiLM input of width ``dim``.

    ``encoding`` (None: today's choice, ``scalar`` at dim 1, ``interp`` at dim > 1):

    * ``scalar`` (dim 1) feeds lambda itself (the setting behind the paper's 31.4 MB OAT ResNet34);
    * ``interp`` (dim > 1): lambda interpolates between two fixed, seeded unit vectors, a deterministic
      stand-in for OAT's lambda encoding that keeps the FiLM input width configurable;
    * ``rand`` / ``onehot`` / ``dct``: OAT's own (``OAT.py:103-116``, default ``rand`` at dim 128,
      ``OAT.py:44-45``): the j-th lambda of the training choices ``lambda_choices`` (OAT's
      ``--lambda_choices``, hwsim's ``oat_lambdas``, in their given order) is fed row j of
      :func:`encoding_matrix`, in training (``utils/sample_lambda.py:35-42``) and in validation
      (``OAT.py:245-249``). A lambda listed twice gets the row of its last place (sample_lambda.py's
      index loop overwrites earlier ones). **Declared extension** for a lambda that is not a training
      choice (Fig. 3 evaluates S = {0, 0.2, 0.7, 1} on nets trained with other sets; OAT cannot): the
      piecewise-linear interpolation, in lambda, between the codes of the neighbouring choices; below
      the smallest / above the largest choice, that choice's code. The matrix (``matrix``), the choices
      in order (``choices``) and the per-value table (``code_lambdas`` sorted, ``codes``) are persistent
      buffers, saved in the network's state_dict (under ``lambda_encoder.``), so a checkpoint is
      evaluated with the codes it was trained with. They are buffers, not parameters: not in the
      parameter count or the model size (as OAT's thop count leaves the matrix out).

    ``dim`` must be at least the number of training lambdas (row j of a dim x dim matrix for the j-th).
    """

    def __init__(
        self,
        dim: int = 1,
        seed: int = 0,
        *,
        encoding: FilmEncoding | None = None,
        choices: tuple[float, ...] | None = None,
        matrix_seed: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        if encoding is None:
            encoding = "scalar" if dim == 1 else "interp"
        if encoding == "scalar" and dim != 1:
            raise ValueError(f"film encoding 'scalar' feeds lambda itself: film_dim must be 1, got {dim}")
        if encoding == "interp" and dim == 1:
            raise ValueError("film encoding 'interp' needs film_dim > 1 (at 1 it is 'scalar')")
        self.encoding = encoding
        if encoding == "interp":
            gen = torch.Generator().manual_seed(seed)
            basis = torch.randn(2, dim, generator=gen)
            self.register_buffer("basis", basis / basis.norm(dim=1, keepdim=True), persistent=False)
        elif encoding in MATRIX_ENCODINGS:
            # no training lambdas given (costing; a checkpoint's network before its buffers are loaded):
            # OAT's default choices as a placeholder, as many as the matrix has rows
            choices = tuple(float(c) for c in (OAT_DEFAULT_CHOICES[:dim] if choices is None else choices))
            if not choices:
                raise ValueError("film encoding needs at least one training lambda")
            if len(choices) > dim:
                raise ValueError(
                    f"film encoding {encoding!r}: {len(choices)} training lambdas need film_dim >= {len(choices)} "
                    f"(lambda j is fed row j of a {dim} x {dim} matrix), got film_dim {dim}"
                )
            matrix = torch.tensor(encoding_matrix(encoding, dim, matrix_seed), dtype=torch.float32)
            row_of = {c: j for j, c in enumerate(choices)}  # the last place of a repeated lambda wins
            values = sorted(row_of)
            self.register_buffer("matrix", matrix)
            self.register_buffer("choices", torch.tensor(choices, dtype=torch.float32))
            self.register_buffer("code_lambdas", torch.tensor(values, dtype=torch.float32))
            self.register_buffer("codes", matrix[[row_of[v] for v in values]].clone())
        elif encoding != "scalar":
            raise ValueError(
                f"film encoding: unknown {encoding!r}; known: scalar, interp, {', '.join(MATRIX_ENCODINGS)}"
            )

    @property
    def saved(self) -> bool:
        """Whether the encoder holds state the network must save (the matrix encodings)."""
        return self.encoding in MATRIX_ENCODINGS

    def encode_matrix(self, lam: torch.Tensor) -> torch.Tensor:
        """Codes of lambdas ``lam`` (shape (B,)) under a matrix encoding: a training choice's row exactly,
        other lambdas interpolated between their neighbouring choices' rows (clamped at the ends)."""
        values, codes = self.code_lambdas.to(lam.device), self.codes.to(lam.device)
        k = values.shape[0]
        if k == 1:
            return codes[0].expand(lam.shape[0], -1)
        lam32 = lam.float().contiguous()
        right = torch.searchsorted(values, lam32).clamp(1, k - 1)
        lo, hi = values[right - 1], values[right]
        w = ((lam32 - lo) / (hi - lo)).clamp(0.0, 1.0)[:, None]
        return (1 - w) * codes[right - 1] + w * codes[right]  # w = 0 or 1: a row exactly

    def forward(self, lam: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
        lam_t = torch.as_tensor(lam, dtype=like.dtype, device=like.device).reshape(-1, 1)
        lam_t = lam_t.expand(batch, 1) if lam_t.shape[0] == 1 else lam_t
        if self.encoding == "scalar":
            return lam_t
        if self.encoding == "interp":
            basis = self.basis.to(device=like.device, dtype=like.dtype)
            return (1 - lam_t) * basis[0] + lam_t * basis[1]
        exact = torch.as_tensor(lam, dtype=torch.float32, device=like.device).reshape(-1)
        exact = exact.expand(batch) if exact.shape[0] == 1 else exact
        return self.encode_matrix(exact).to(dtype=like.dtype)


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


class _Switchable(ConditionalModule):
    """One private layer per slimming factor, chosen by ``state.width`` (Yu et al.'s
    ``SwitchableBatchNorm2d``, generalised to OAT's FiLM). ``per_width[i]`` belongs to ``factors[i]``
    and has ``slim_channels(C, factors[i])`` channels."""

    def __init__(self, state: ConditionState, factors: tuple[float, ...], layers: list[nn.Module]) -> None:
        super().__init__(state)
        self.factors = tuple(float(f) for f in factors)
        self.per_width = nn.ModuleList(layers)

    def active(self) -> nn.Module:
        """The layer of the current width."""
        try:
            return self.per_width[self.factors.index(self.state.width)]
        except ValueError:
            raise ValueError(f"width {self.state.width} is not one of the slim factors {list(self.factors)}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.active()(x)


class SwitchableBatchNorm2d(_Switchable):
    """A BN (or BN_C / BN_A pair) per slimming factor."""


class SwitchableFiLM(_Switchable):
    """An OAT FiLM per slimming factor."""


@dataclass
class Conditioning:
    """Layer factory chosen by the method: the one thing that differs between PGD-AT, OAT and FLOAT.

    Args:
        method: ``pgdat``, ``oat`` or ``float``.
        dual_bn: two BNs (BN_C, BN_A) in place of each BN (OAT and FLOAT only).
        film_dim: OAT's lambda-encoding width d (FiLM input features).
        alpha_init: FLOAT's initial noise scale alpha.
        slim_factors: the widths of a slimmable network (1.0 among them); ``(1.0,)`` = not slimmable.
        film_encoding: OAT's lambda encoding (:class:`LambdaEncoder`; None: scalar at dim 1, interp above).
        lambda_choices: the training lambdas a matrix encoding maps to rows (OAT's ``--lambda_choices``,
            hwsim's ``oat_lambdas``; None: OAT's default).
        seed: the seed of the ``rand`` encoding's matrix and of the ``rm`` variant's masks.
        float_variant: FLOAT's conditioning of the convs: ``noise`` (Eq. 4, hwsim's) or ``rm``
            (FLOAT_v2's ``ResNet34OAT_rm``: :class:`RandomMaskConv2d` in the deeper stages).
        stage / n_stages: set by the backbone while it builds stage ``stage`` of ``n_stages`` (which
            convs the ``rm`` variant masks; None outside the stages: the stem).
    """

    method: str | Method = "pgdat"
    dual_bn: bool = False
    film_dim: int = 1
    alpha_init: float = 0.25
    slim_factors: tuple[float, ...] = (1.0,)
    state: ConditionState = field(default_factory=ConditionState)
    film_encoding: FilmEncoding | None = None
    lambda_choices: tuple[float, ...] | None = None
    seed: int = 0
    float_variant: Literal["noise", "rm"] = "noise"
    stage: int | None = None
    n_stages: int | None = None

    def __post_init__(self) -> None:
        self.rule = get_method(self.method)
        self.method = self.rule.name
        if self.film_dim < 1:
            raise ValueError(f"film_dim must be >= 1, got {self.film_dim}")
        factors = tuple(float(f) for f in self.slim_factors)
        if 1.0 not in factors or len(set(factors)) != len(factors) or not all(0 < f <= 1 for f in factors):
            raise ValueError(f"slim_factors must list each factor in (0, 1] once, 1.0 included; got {list(factors)}")
        self.slim_factors = tuple(sorted(factors, reverse=True))
        if self.float_variant not in ("noise", "rm"):
            raise ValueError(f"float_variant: unknown {self.float_variant!r}; known: noise, rm")
        if self.float_variant == "rm" and not self.rule.noisy_convs:
            raise ValueError(f"float_variant 'rm': {self.rule.name} has no noisy convs (FLOAT / FLOATS only)")
        self._mask_gen = torch.Generator().manual_seed(self.seed)  # the rm masks, in construction order
        self.encoder = LambdaEncoder(
            self.film_dim, encoding=self.film_encoding, choices=self.lambda_choices, matrix_seed=self.seed
        )

    @property
    def slimmable(self) -> bool:
        return len(self.slim_factors) > 1

    def rm_stage(self) -> bool:
        """Whether the conv being built now is a random-mask conv of the ``rm`` variant: FLOAT_v2's
        ResNet34OAT_rm masks every conv of its bundles 3 and 4 (of 4; ``resnet_OAT_mask.py:119-125``,
        shortcuts included) and keeps the stem and bundles 1-2 noisy. hwsim's rule for any backbone:
        stages with index >= n_stages // 2 (0-based), i.e. ResNet34 stages 3-4 exactly as the
        reference; for the 3-stage ResNet20 and WRNs (a **declared extension**, FLOAT_v2 has no
        ``_rm`` for them) stages 2-3."""
        return self.float_variant == "rm" and self.stage is not None and self.stage >= (self.n_stages or 0) // 2

    def conv(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Conv2d:
        """A bias-free 'same'-padded conv; FLOAT's convs all carry weight noise (stem and shortcuts too),
        or, in the ``rm`` variant's deeper stages, a random mask pair (:class:`RandomMaskConv2d`)."""
        args = dict(kernel_size=kernel, stride=stride, padding=kernel // 2, bias=False)
        if self.rule.noisy_convs and self.rm_stage():
            return RandomMaskConv2d(
                self.state, in_ch, out_ch, alpha_init=self.alpha_init, slimmable=self.slimmable,
                generator=self._mask_gen, **args,
            )  # fmt: skip
        if self.rule.noisy_convs:
            if self.slimmable:
                return NoisyConv2d(self.state, in_ch, out_ch, alpha_init=self.alpha_init, slimmable=True, **args)
            return NoisyConv2d(self.state, in_ch, out_ch, alpha_init=self.alpha_init, **args)
        if self.slimmable:
            return SlimmableConv2d(self.state, in_ch, out_ch, **args)
        return nn.Conv2d(in_ch, out_ch, **args)

    def _one_norm(self, channels: int) -> nn.Module:
        if self.dual_bn and self.rule.allows_dual_bn:
            return DualBatchNorm2d(self.state, channels)
        return nn.BatchNorm2d(channels)

    def norm(self, channels: int) -> nn.Module:
        if self.slimmable:
            layers = [self._one_norm(slim_channels(channels, f)) for f in self.slim_factors]
            return SwitchableBatchNorm2d(self.state, self.slim_factors, layers)
        return self._one_norm(channels)

    def film(self, channels: int) -> nn.Module:
        """FiLM for OAT; identity (no layer at all in the table) for the other methods."""
        if not self.rule.film:
            return nn.Identity()
        if self.slimmable:
            layers = [FiLM(self.state, slim_channels(channels, f), self.encoder) for f in self.slim_factors]
            return SwitchableFiLM(self.state, self.slim_factors, layers)
        return FiLM(self.state, channels, self.encoder)

    def classifier(self, in_features: int, num_classes: int) -> nn.Linear:
        """The final linear layer (a slimmable network's reads only the inputs its width has)."""
        if self.slimmable:
            return SlimmableLinear(in_features, num_classes)
        return nn.Linear(in_features, num_classes)


class ConditionalNetwork(nn.Module):
    """Mixin-style base for the backbones: owns the conditioning and exposes the conditioning API."""

    def __init__(self, conditioning: Conditioning) -> None:
        super().__init__()
        object.__setattr__(self, "conditioning", conditioning)
        if conditioning.rule.film and conditioning.encoder.saved:
            # OAT's encoding matrix and lambda table belong to the checkpoint (a submodule only for the
            # matrix encodings: the networks of every other setting keep their state_dict keys)
            self.lambda_encoder = conditioning.encoder

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

    @property
    def slim_factors(self) -> tuple[float, ...]:
        """The widths this network runs at, largest first (``(1.0,)`` unless slimmable)."""
        return self.conditioning.slim_factors

    @property
    def slimmable(self) -> bool:
        return self.conditioning.slimmable

    def set_slim(self, sf: float) -> ConditionState:
        """Run the next forwards at slimming factor ``sf`` (one of :attr:`slim_factors`)."""
        value = float(sf)
        if value not in self.slim_factors:
            raise ValueError(f"slim factor {sf} is not one of this network's {list(self.slim_factors)}")
        self.conditioning.state.width = value
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
        """FLOAT's per-layer noise scales (empty for other methods); trained without weight decay unless
        ``TrainSettings.alpha_weight_decay`` (see :func:`hwsim.runner.train.make_optimizer`)."""
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
    "FilmEncoding",
    "LambdaEncoder",
    "dct_matrix",
    "encoding_matrix",
    "NoisyConv2d",
    "RandomMaskConv2d",
    "SlimmableConv2d",
    "SlimmableLinear",
    "SwitchableBatchNorm2d",
    "SwitchableFiLM",
    "float_noise_scale",
    "frozen_noise_std",
    "resolve_condition",
    "set_noise_impl",
    "set_condition",
]
