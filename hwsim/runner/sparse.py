"""FLOATS sparse training engines (paper Sec. 3.2, Eq. 5, Algorithm 1): FLOATS-i (irregular) and
FLOATS-c (channel), both by sparse momentum (Kundu & Sundaresan 2021, the scheme of Dettmers &
Zettlemoyer 2019, ``sparse_learning``).

Both keep a boolean mask per conv weight, shaped like the weight (stem and shortcuts included;
linear layers, BN, alpha and biases are never masked), and differ only in the *unit* they prune and
regrow: one weight (:class:`SparseMomentum`, FLOATS-i) or one input channel, the ``C_o x k x k``
weights ``theta[:, c, :, :]`` (:class:`ChannelSparseMomentum`, FLOATS-c). A FLOATS-c mask is still
weight-shaped, whole input channels on or off, so checkpoints (``payload["masks"]``), :meth:`apply`
and ``hwsim estimate RUN_DIR`` (per-layer kept fractions) read both kinds alike.

Convs whose module name matches a ``sparsity.exclude`` pattern (fnmatch, e.g. ``conv1`` for the
stem) are never masked: they stay dense, have no mask, and count on neither side of Eq. 5 (the
budget is d times the weights of the *masked* convs only).

The global budget of Eq. 5, ``sum_l card(theta_l * pi_l) <= d * sum_l card(theta_l)``, holds at
every step:

* **every optimizer step**: :meth:`apply` zeroes the masked weights, so they stay exactly zero. Their
  momentum is left alone: gradients keep flowing into the momentum of masked positions, and that is
  what regrowth ranks them by (as ``sparse_learning``).
* **end of every epoch** (:meth:`prune_and_regrow`): each layer loses ``ceil(p * active units)`` of
  its active units, the smallest by magnitude; the regrowth is shared across layers in proportion
  to the mean |momentum| of each layer's active weights (measured before pruning), each layer
  regrowing its inactive units of largest momentum. Regrown units start from zero weights.

FLOATS-i (unit: one weight)

* init: every layer keeps ``floor(d * card(theta_l))`` weights at uniformly random positions.
  (``sparse_learning`` draws Bernoulli(d) per weight, which can overshoot the budget by chance; a
  fixed count per layer is the same distribution conditioned on Eq. 5 holding.)
* prune by |theta|, regrow by |momentum|; exactly as many weights are regrown as were pruned (whole
  numbers by largest remainder, a full layer's surplus passed on to the others), so the kept total
  never changes.

FLOATS-c (unit: one input channel, ``s_l = C_o * k * k`` weights)

* score of channel c: ``f_c = ||theta[:, c, :, :]||_F^2`` (pruning: lowest first); regrowth ranks
  a layer's inactive channels by the squared F-norm of their momentum (largest first).
* init: every layer keeps ``max(1, floor(d * C_i))`` random input channels. ``floor`` alone keeps
  every layer within ``d * card(theta_l)``; only the 1-channel floor (layers with ``C_i < 1/d``, e.g.
  the 3-channel stem at d = 0.3) can overshoot. While the total is over ``floor(d * N)``, one channel
  is taken from the layer holding the most kept weights among those with more than one channel
  (the first such layer on ties); if every layer is down to one channel and it still does not fit,
  ``ValueError`` (d too low for channel pruning of this network).
* the last active channel of a layer is never pruned (a layer with no input channel would cut the
  network): a layer prunes ``min(ceil(p * a_l), a_l - 1)`` of its ``a_l`` active channels.
* regrowth budget: everything Eq. 5 allows after pruning, ``floor(d * N) - kept``, i.e. the pruned
  weights plus any slack left by earlier rounds (channels come in lumps of ``s_l`` weights, so
  "regrow what was pruned" would lose weights every epoch). It is split in weights across layers by
  the momentum shares (largest remainder, capped at each layer's inactive weights, a full layer's
  surplus passed on); layer l regrows ``floor(g_l / s_l)`` channels of its share ``g_l``; then,
  layers in order of largest fractional channel ``g_l / s_l - floor(g_l / s_l)`` (ties: layer
  order) regrow one more channel each if it still fits in the unspent budget. A channel is regrown
  only if all of its ``s_l`` weights fit: the kept total never exceeds ``floor(d * N)``; what is left
  over is slack the next round may use.

``noise_on_pruned: false`` (masked noise): the engine sets on every masked ``NoisyConv2d`` a plain
attribute ``noise_mask``, the live mask tensor itself (not in the state dict; it follows every
prune / regrow and :meth:`load_state_dict`, which update the masks in place), for the conv to mask
its noise with. ``p`` defaults to 0.5 decayed linearly to 0 over training (:func:`prune_rate`), as the
published FLOAT code. This module is the masking engine only; the FLOATS method and its costs build
on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase

import torch
from torch import nn


def prune_rate(epoch: int, epochs: int, initial: float = 0.5) -> float:
    """The prune rate after ``epoch`` (0-based) of ``epochs``: ``initial`` decayed linearly to 0."""
    if epochs <= 1:
        return 0.0
    return initial * max(0.0, 1.0 - epoch / (epochs - 1))


def masked_convs(net: nn.Module, exclude: tuple[str, ...] | list[str] = ()) -> dict[str, nn.Conv2d]:
    """The convs FLOATS masks, by module name: every conv not matching an ``exclude`` pattern."""
    return {
        name: m
        for name, m in net.named_modules()
        if isinstance(m, nn.Conv2d) and not any(fnmatchcase(name, pattern) for pattern in exclude)
    }


def masked_weights(net: nn.Module, exclude: tuple[str, ...] | list[str] = ()) -> dict[str, nn.Parameter]:
    """The weights FLOATS masks: every conv's weight (except ``exclude``d convs), by parameter name."""
    return {f"{name}.weight": m.weight for name, m in masked_convs(net, exclude).items()}


@dataclass
class PruneStats:
    """One end-of-epoch update: units (weights or channels) removed and regrown per layer, and the
    momentum shares the regrowth was split by."""

    removed: dict[str, int]
    regrown: dict[str, int]
    shares: dict[str, float]


def _whole_shares(total: int, shares: list[float], capacity: list[int]) -> list[int]:
    """``total`` split in proportion to ``shares`` as whole numbers (largest remainder), none above
    its ``capacity``; what a full entry cannot take goes to the others, again by share."""
    out = [0] * len(shares)
    left, open_ = total, [i for i, c in enumerate(capacity) if c > 0]
    while left > 0 and open_:
        weight = sum(shares[i] for i in open_)
        ideal = {i: left * (shares[i] / weight if weight > 0 else 1 / len(open_)) for i in open_}
        give = {i: math.floor(ideal[i]) for i in open_}
        for i in sorted(open_, key=lambda i: ideal[i] - give[i], reverse=True)[: left - sum(give.values())]:
            give[i] += 1
        for i in open_:
            take = min(give[i], capacity[i] - out[i])
            out[i] += take
            left -= take
        open_ = [i for i in open_ if out[i] < capacity[i]]
    return out


class _SparseEngine:
    """Masks of the conv weights of ``net`` at global density ``density`` (Eq. 5), pruned and
    regrown by sparse momentum; subclasses say what one unit of pruning is."""

    #: what one unit of pruning is (messages)
    unit = "weight"
    #: never prune a layer's last active unit
    keep_one = False

    def __init__(
        self,
        net: nn.Module,
        density: float,
        *,
        generator: torch.Generator | None = None,
        initial_rate: float = 0.5,
        schedule: str = "linear",
        exclude: tuple[str, ...] | list[str] = (),
        noise_on_pruned: bool = True,
        layer_density=(),
    ) -> None:
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must lie in (0, 1], got {density}")
        self.density, self.initial_rate, self.schedule = density, initial_rate, schedule
        self.exclude, self.noise_on_pruned = tuple(exclude), noise_on_pruned
        self.layer_density = dict(layer_density or ())
        self.modules = {f"{name}.weight": m for name, m in masked_convs(net, self.exclude).items()}
        self.weights = {name: m.weight for name, m in self.modules.items()}
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.masks: dict[str, torch.Tensor] = {}
        for (name, weight), count in zip(self.weights.items(), self._initial_counts()):
            keep = torch.zeros_like(weight, dtype=torch.bool, device="cpu", memory_format=torch.contiguous_format)
            self._set(keep, torch.randperm(self._units(weight), generator=gen)[:count], True)
            self.masks[name] = keep.to(weight.device)
        self._link_noise()
        self.apply()

    # ---- the unit of pruning (FLOATS-i: one weight) ------------------------------------------

    @staticmethod
    def _units(weight: torch.Tensor) -> int:
        return weight.numel()

    @staticmethod
    def _unit_size(weight: torch.Tensor) -> int:
        return 1

    @staticmethod
    def _active(mask: torch.Tensor) -> torch.Tensor:
        """Per unit: on (a flat bool vector)."""
        return mask.flatten()

    @staticmethod
    def _set(mask: torch.Tensor, units: torch.Tensor, value: bool) -> None:
        mask.view(-1)[units] = value

    @staticmethod
    def _score(tensor: torch.Tensor) -> torch.Tensor:
        """Per unit: the size of ``tensor`` (a weight or its momentum) that pruning and regrowth rank."""
        return tensor.abs().flatten()

    def _initial_counts(self) -> list[int]:
        from ..workload.sparsity import initial_weight_counts

        sizes = [w.numel() for w in self.weights.values()]
        return initial_weight_counts(sizes, self._densities(), self.density)

    def _densities(self) -> list[float]:
        """Each masked conv's starting density (``layer_density`` patterns, else d)."""
        from ..workload.sparsity import layer_densities

        return layer_densities([n.removesuffix(".weight") for n in self.weights], self.density, self.layer_density)

    def _regrow_counts(self, names: list[str], removed: dict[str, int], shares: list[float]) -> list[int]:
        """Units each layer regrows: as many weights as were pruned, split by the shares."""
        capacity = [int((~self.masks[n]).sum()) for n in names]
        return _whole_shares(sum(removed.values()), shares, capacity)

    # ---- the shared engine -------------------------------------------------------------------

    def _link_noise(self) -> None:
        """Masked noise: each masked NoisyConv2d reads its live mask as ``noise_mask``."""
        if self.noise_on_pruned:
            return
        from ..nets.conditioning import NoisyConv2d

        for name, module in self.modules.items():
            if isinstance(module, NoisyConv2d):
                object.__setattr__(module, "noise_mask", self.masks[name])  # not in the state dict

    @property
    def budget(self) -> float:
        """Eq. 5's right-hand side: d times the number of maskable weights (excluded convs not counted)."""
        return self.density * sum(w.numel() for w in self.weights.values())

    def nonzeros(self) -> int:
        return sum(int(m.sum()) for m in self.masks.values())

    def global_density(self) -> float:
        return self.nonzeros() / max(sum(m.numel() for m in self.masks.values()), 1)

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the masked weights: call after every optimizer step."""
        for name, weight in self.weights.items():
            weight.mul_(self.masks[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The masks, for a checkpoint (a resumed run continues with the same ones)."""
        return {name: mask.detach().cpu().clone() for name, mask in self.masks.items()}

    def _check_mask(self, name: str, mask: torch.Tensor) -> None:
        """``ValueError`` if a loaded mask is not one this engine could have made."""

    @torch.no_grad()
    def load_state_dict(self, masks: dict[str, torch.Tensor]) -> None:
        """Masks from a checkpoint, copied into the live ones; ``ValueError`` naming the first one
        that does not fit."""
        if not isinstance(masks, dict) or set(masks) != set(self.masks):
            raise ValueError("its sparsity masks do not match the network's conv layers")
        for name, mask in masks.items():
            if not isinstance(mask, torch.Tensor) or mask.shape != self.masks[name].shape:
                raise ValueError(f"sparsity mask {name} does not fit the layer")
            self._check_mask(name, mask.to(torch.bool))
        if sum(int(mask.to(torch.bool).sum()) for mask in masks.values()) > self.budget:
            raise ValueError("its sparsity masks keep more weights than the density allows (Eq. 5)")
        for name, mask in masks.items():
            self.masks[name].copy_(mask.to(dtype=torch.bool))  # in place: noise_mask stays the live mask
        self.apply()

    def rate(self, epoch: int, epochs: int) -> float:
        """The prune rate after ``epoch``: decayed linearly to 0, or constant."""
        return prune_rate(epoch, epochs, self.initial_rate) if self.schedule == "linear" else self.initial_rate

    @staticmethod
    def momentum_of(optimizer: torch.optim.Optimizer, weight: torch.Tensor) -> torch.Tensor:
        """SGD's momentum buffer of ``weight`` (zeros before the first step)."""
        buffer = optimizer.state.get(weight, {}).get("momentum_buffer")
        return torch.zeros_like(weight) if buffer is None else buffer

    @torch.no_grad()
    def prune_and_regrow(self, optimizer: torch.optim.Optimizer, rate: float) -> PruneStats:
        """One end-of-epoch update (see the module docstring); counts are in units."""
        names = list(self.weights)
        momenta = {n: self.momentum_of(optimizer, self.weights[n]) for n in names}
        # redistribution shares: mean |momentum| over each layer's active weights (before pruning)
        raw = [float(momenta[n].abs()[self.masks[n]].mean()) if self.masks[n].any() else 0.0 for n in names]
        if sum(raw) <= 0 or any(math.isnan(v) for v in raw):
            raw = [float(self.masks[n].sum()) for n in names]  # no momentum yet: keep the layer sizes
        shares = [v / sum(raw) for v in raw]
        removed = {}
        for n in names:
            mask, weight = self.masks[n], self.weights[n]
            active = self._active(mask)
            count = int(active.sum())
            k = math.ceil(rate * count)
            if self.keep_one:
                k = min(k, max(count - 1, 0))
            removed[n] = k
            if k:
                score = self._score(weight).masked_fill(~active, float("inf"))
                self._set(mask, torch.topk(score, k, largest=False).indices, False)
                weight.mul_(mask)  # a unit regrown below starts afresh, from zero (the paper)
        regrown = {}
        for n, g in zip(names, self._regrow_counts(names, removed, shares)):
            regrown[n] = g
            if g:
                score = self._score(momenta[n]).masked_fill(self._active(self.masks[n]), -1.0)
                self._set(self.masks[n], torch.topk(score, g).indices, True)
        self.apply()  # pruned weights become zero; regrown ones start from zero
        return PruneStats(removed, regrown, dict(zip(names, shares)))


class SparseMomentum(_SparseEngine):
    """FLOATS-i: irregular masks of the conv weights of ``net`` at global density ``density`` (Eq. 5)."""


class ChannelSparseMomentum(_SparseEngine):
    """FLOATS-c: whole input channels of the conv weights of ``net`` kept at global density
    ``density`` (Eq. 5 in weights); the rules are in the module docstring."""

    unit = "input channel"
    keep_one = True

    @staticmethod
    def _units(weight: torch.Tensor) -> int:
        return weight.shape[1]

    @staticmethod
    def _unit_size(weight: torch.Tensor) -> int:
        return weight.numel() // weight.shape[1]

    @staticmethod
    def _active(mask: torch.Tensor) -> torch.Tensor:
        return mask.transpose(0, 1).flatten(1).any(1)

    @staticmethod
    def _set(mask: torch.Tensor, units: torch.Tensor, value: bool) -> None:
        mask[:, units] = value

    @staticmethod
    def _score(tensor: torch.Tensor) -> torch.Tensor:
        """Squared F-norm of each input channel's sub-matrix, ``||theta[:, c, :, :]||_F^2``."""
        return tensor.float().pow(2).sum(dim=(0, *range(2, tensor.ndim)))

    def _initial_counts(self) -> list[int]:
        from ..workload.sparsity import initial_channel_counts

        weights = list(self.weights.values())
        return initial_channel_counts(
            [w.shape[1] for w in weights], [self._unit_size(w) for w in weights], self.density, self._densities()
        )

    def _regrow_counts(self, names: list[str], removed: dict[str, int], shares: list[float]) -> list[int]:
        """Channels each layer regrows: the whole Eq. 5 slack, split in weights by the shares, in
        whole channels that fit (module docstring)."""
        sizes = [self._unit_size(self.weights[n]) for n in names]
        free = [int((~self._active(self.masks[n])).sum()) for n in names]
        total = max(math.floor(self.budget) - self.nonzeros(), 0)
        share = _whole_shares(total, shares, [f * s for f, s in zip(free, sizes)])
        grow = [g // s for g, s in zip(share, sizes)]
        left = total - sum(g * s for g, s in zip(grow, sizes))
        for i in sorted(range(len(names)), key=lambda i: share[i] / sizes[i] - grow[i], reverse=True):
            if share[i] > grow[i] * sizes[i] and grow[i] < free[i] and sizes[i] <= left:
                grow[i] += 1
                left -= sizes[i]
        return grow

    def _check_mask(self, name: str, mask: torch.Tensor) -> None:
        per_channel = mask.transpose(0, 1).flatten(1)
        if not (per_channel.all(1) | ~per_channel.any(1)).all():
            raise ValueError(f"sparsity mask {name} is not whole input channels (FLOATS-c)")
        if not per_channel.any():
            raise ValueError(f"sparsity mask {name} keeps no input channel")


#: the training engine of each sparsity kind (FLOATS slim: FLOATS-i masks over the full-width weights)
ENGINES: dict[str, type[_SparseEngine]] = {
    "irregular": SparseMomentum,
    "channel": ChannelSparseMomentum,
    "slim": SparseMomentum,
}


def sparse_training(model_config, net: nn.Module, seed: int) -> _SparseEngine | None:
    """The masks a run trains with: None for a dense model (a dense slimmable one, FLOAT / OAT slim,
    included); FLOATS-i or FLOATS-c masks from the model's ``sparsity`` block, drawn from ``seed``
    (the same on every DDP rank). FLOATS slim (kind slim at density < 1) trains FLOATS-i masks over
    the full, SF 1.0, conv weights, which every width's sub-tensors are views of."""
    sparsity = model_config.sparsity
    if sparsity is None or not sparsity.masked:
        return None
    try:
        return ENGINES[sparsity.kind](
            net,
            sparsity.density,
            generator=torch.Generator().manual_seed(seed + 7919),  # its own stream: other draws stay as they were
            initial_rate=sparsity.prune_rate,
            schedule=sparsity.prune_schedule,
            exclude=sparsity.exclude,
            noise_on_pruned=sparsity.noise_on_pruned,
            layer_density=sparsity.layer_density,
        )
    except ValueError as exc:  # the densities do not fit Eq. 5: one line, as the estimate says it
        from ..errors import HwsimError

        raise HwsimError(f"sparsity: {exc}") from None
