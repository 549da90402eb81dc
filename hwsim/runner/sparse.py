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
  (The reference draws Bernoulli(d) per weight, ``initial_mask: bernoulli``, which can overshoot the
  budget by chance; a fixed count per layer is the same distribution conditioned on Eq. 5 holding.)
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
published FLOAT code (which decays it per minibatch: ``prune_decay_step`` below). This module is the
masking engine only; the FLOATS method and its costs build on it.

Divergences from the published code, as options of the model's ``sparsity:`` block (the default is
hwsim's rule above, the other value the reference's: shunlinlu/FLOAT_v2 ``OAT_sparse.py`` driving
``admm_core.py``'s ``Masking``, a copy of ``sparse_learning``'s, with ``funcs.py``; issue 18):

* ``prune_decay_step: epoch | minibatch`` (default ``epoch``): the linear decay of ``p`` steps once
  per epoch, ``p (1 - e / (E - 1))`` at the end of epoch ``e`` (0-based; 0 at the last), or once per
  minibatch as the reference's ``LinearDecay(prune_rate, len(train_loader) * epochs)``
  (OAT_sparse.py:197-200, its default ``--decay_schedule linear`` at :58; admm_core.py:46-62, stepped
  by every ``mask.step()``, admm_core.py:344-359, OAT_sparse.py:282), ``p (1 - (e + 1) / E)`` at the
  end of epoch ``e`` (:func:`minibatch_prune_rate`, the reference's float steps). The engine counts
  its steps (:meth:`_SparseEngine.step`); the count is checkpoint state (``payload["sparse_state"]``),
  so a resumed run decays from where it stopped. (The reference's ``CosineDecay``, admm_core.py:32-44,
  is not used by FLOAT_v2's runs and has no option here.)
* ``adjust_prune_rate: false | true`` (default ``false``): sparse_learning's
  ``Masking.adjust_prune_rate`` (admm_core.py:464-480, called by ``truncate_weights`` at :484): a
  layer under 20% sparse whose redistribution share is above ``1 / layers`` prunes at
  ``min(sparsity, p)`` (:meth:`_SparseEngine.layer_rates`).
* ``initial_mask: exact | bernoulli`` (default ``exact``): exact counts (above), or the reference's
  ``mode='constant'`` start, ``torch.rand(shape) < density`` per weight (admm_core.py:171-188;
  ``add_module``'s default ``sparse_init='constant'``, admm_core.py:369, the one OAT_sparse.py:205
  uses: a uniform d per layer, not ERK), drawn from the run's seeded generator layer by layer (with
  ``layer_density``, d_l). A draw over ``floor(d N)`` raises the engine's cap (:attr:`cap`) to what it
  drew, as the reference keeps it; FLOATS-i then keeps that total.
* ``channel_init: channels | reference`` (kind channel only; default ``channels``): FLOATS-c starts
  from whole channels (above), or, as the reference (its FLOATS-c is ``--prune channel --growth
  channel_momentum`` on the same irregular ``constant`` start), from FLOATS-i's irregular mask
  (``initial_mask`` exact or bernoulli), which the first end-of-epoch prune makes whole channels by
  the reference's ``channel_prune`` (funcs.py:144-177; :meth:`ChannelSparseMomentum._prune_layer`),
  trimmed to the cap if the whole channels overshoot (:meth:`ChannelSparseMomentum._fit_cap`); from
  then on the whole-channel rules above. ``initial_mask: bernoulli`` needs ``channel_init: reference``.
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


def minibatch_prune_rate(initial: float, total_steps: int, steps: int) -> float:
    """The prune rate after ``steps`` minibatches of ``total_steps`` (``prune_decay_step: minibatch``):
    FLOAT_v2's ``LinearDecay`` (admm_core.py:46-62, built with ``T_max = len(train_loader) * epochs``
    at OAT_sparse.py:199-200 and stepped by every ``mask.step()``, admm_core.py:344-359), the same
    float subtractions in the same order, so the numbers are the reference's to the last bit."""
    rate, decrement = initial, initial / float(total_steps)
    for _ in range(steps):
        rate -= decrement
    return rate


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
        decay_step: str = "epoch",
        adjust_rate: bool = False,
        initial_mask: str = "exact",
        channel_init: str = "channels",
    ) -> None:
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must lie in (0, 1], got {density}")
        for what, value, known in (
            ("prune_decay_step", decay_step, ("epoch", "minibatch")),
            ("initial_mask", initial_mask, ("exact", "bernoulli")),
            ("channel_init", channel_init, ("channels", "reference")),
        ):
            if value not in known:
                raise ValueError(f"{what}: unknown {value!r}; known: {', '.join(known)}")
        self.density, self.initial_rate, self.schedule = density, initial_rate, schedule
        self.exclude, self.noise_on_pruned = tuple(exclude), noise_on_pruned
        self.layer_density = dict(layer_density or ())
        self.decay_step, self.adjust_rate = decay_step, adjust_rate
        self.initial_mask, self.channel_init = initial_mask, channel_init
        #: optimizer steps taken (:meth:`step`): the clock of ``prune_decay_step: minibatch``
        self.steps = 0
        self.modules = {f"{name}.weight": m for name, m in masked_convs(net, self.exclude).items()}
        self.weights = {name: m.weight for name, m in self.modules.items()}
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.masks: dict[str, torch.Tensor] = self._initial_masks(gen)
        #: the most weights the masks may keep: Eq. 5's floor(d N), or more if a Bernoulli start drew more
        self.cap = max(math.floor(self.budget), self.nonzeros())
        self._link_noise()
        self.apply()

    def _initial_masks(self, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """The start masks, drawn from ``gen`` layer by layer in order (module docstring)."""
        masks = {}
        if self.initial_mask == "bernoulli":  # FLOAT_v2 admm_core.py:181, (torch.rand(shape) < density)
            for (name, weight), d in zip(self.weights.items(), self._densities()):
                masks[name] = (torch.rand(weight.shape, generator=gen) < d).to(weight.device)
            return masks
        irregular = self._irregular_start
        for (name, weight), count in zip(self.weights.items(), self._initial_counts()):
            keep = torch.zeros_like(weight, dtype=torch.bool, device="cpu", memory_format=torch.contiguous_format)
            if irregular:  # FLOATS-c from an irregular start: FLOATS-i's draw
                keep.view(-1)[torch.randperm(weight.numel(), generator=gen)[:count]] = True
            else:
                self._set(keep, torch.randperm(self._units(weight), generator=gen)[:count], True)
            masks[name] = keep.to(weight.device)
        return masks

    @property
    def _irregular_start(self) -> bool:
        """Whether the start masks are irregular (FLOATS-i, or FLOATS-c with ``channel_init: reference``)."""
        return self.unit == "weight" or self.channel_init == "reference"

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
        if sum(int(mask.to(torch.bool).sum()) for mask in masks.values()) > self.cap:
            raise ValueError("its sparsity masks keep more weights than the density allows (Eq. 5)")
        for name, mask in masks.items():
            self.masks[name].copy_(mask.to(dtype=torch.bool))  # in place: noise_mask stays the live mask
        self.apply()

    def step(self) -> None:
        """Count one optimizer step (call once per minibatch): the clock of ``prune_decay_step: minibatch``."""
        self.steps += 1

    def extra_state(self) -> dict[str, int]:
        """Engine state beyond the masks, for a checkpoint: the step count (a resumed run decays the
        prune rate from where it stopped)."""
        return {"steps": self.steps}

    def load_extra_state(self, state: dict | None) -> None:
        """:meth:`extra_state` from a checkpoint; ``None`` (a checkpoint from before the step count)
        is step 0, which only ``prune_decay_step: epoch`` (the only choice then) may take."""
        if state is None:
            if self.decay_step == "minibatch":
                raise ValueError("it has no prune-rate step count (prune_decay_step: minibatch)")
            self.steps = 0
            return
        steps = state.get("steps") if isinstance(state, dict) else None
        if not isinstance(steps, int) or steps < 0:
            raise ValueError("its sparsity step count is not a whole number >= 0")
        self.steps = steps

    def rate(self, epoch: int, epochs: int, steps_per_epoch: int | None = None) -> float:
        """The prune rate at the end of ``epoch`` (0-based) of ``epochs``: constant, or decayed
        linearly, once per epoch (:func:`prune_rate`, 0 at the last epoch) or once per minibatch
        (:func:`minibatch_prune_rate` after :attr:`steps` of ``steps_per_epoch * epochs``)."""
        if self.schedule != "linear":
            return self.initial_rate
        if self.decay_step == "epoch":
            return prune_rate(epoch, epochs, self.initial_rate)
        if not steps_per_epoch or steps_per_epoch < 1:
            raise ValueError("prune_decay_step minibatch needs the steps per epoch")
        return minibatch_prune_rate(self.initial_rate, steps_per_epoch * epochs, self.steps)

    def layer_rates(self, rate: float, shares: list[float]) -> dict[str, float]:
        """Each layer's prune rate: ``rate``, or with ``adjust_prune_rate`` sparse_learning's
        ``Masking.adjust_prune_rate`` (FLOAT_v2 admm_core.py:464-480): a layer whose sparsity
        ``zeros / numel`` is under 0.2 and whose redistribution share is above ``1 / layers``
        (``expected / actual < 1``: still growing) prunes at ``min(sparsity, rate)``. A share of 0
        (where the reference would divide by zero) counts as not growing."""
        rates = {n: rate for n in self.weights}
        if not self.adjust_rate:
            return rates
        expected = 1.0 / len(rates) if rates else 0.0
        for (n, mask), share in zip(self.masks.items(), shares):
            sparsity = (mask.numel() - int(mask.sum())) / float(mask.numel())
            if sparsity < 0.2 and share > 0 and expected / share < 1.0:
                rates[n] = min(sparsity, rates[n])
        return rates

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
        rates = self.layer_rates(rate, shares)
        removed = {n: self._prune_layer(n, rates[n]) for n in names}
        self._fit_cap(removed)
        regrown = {}
        for n, g in zip(names, self._regrow_counts(names, removed, shares)):
            regrown[n] = g
            if g:
                score = self._score(momenta[n]).masked_fill(self._active(self.masks[n]), -1.0)
                self._set(self.masks[n], torch.topk(score, g).indices, True)
        self.apply()  # pruned weights become zero; regrown ones start from zero
        return PruneStats(removed, regrown, dict(zip(names, shares)))

    def _prune_layer(self, n: str, rate: float) -> int:
        """Prune ``ceil(rate * active units)`` of layer ``n``'s active units, the smallest by score."""
        mask, weight = self.masks[n], self.weights[n]
        active = self._active(mask)
        count = int(active.sum())
        k = max(math.ceil(rate * count), 0)  # a minibatch-decayed rate may end a hair below 0
        if self.keep_one:
            k = min(k, max(count - 1, 0))
        if k:
            score = self._score(weight).masked_fill(~active, float("inf"))
            self._set(mask, torch.topk(score, k, largest=False).indices, False)
            weight.mul_(mask)  # a unit regrown below starts afresh, from zero (the paper)
        return k

    def _fit_cap(self, removed: dict[str, int]) -> None:
        """After pruning: nothing to do (pruning never adds weights) but for FLOATS-c's first prune of
        an irregular start."""


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
        if self.channel_init == "reference":
            return super()._initial_counts()
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
        total = max(self.cap - self.nonzeros(), 0)
        share = _whole_shares(total, shares, [f * s for f, s in zip(free, sizes)])
        grow = [g // s for g, s in zip(share, sizes)]
        left = total - sum(g * s for g, s in zip(grow, sizes))
        for i in sorted(range(len(names)), key=lambda i: share[i] / sizes[i] - grow[i], reverse=True):
            if share[i] > grow[i] * sizes[i] and grow[i] < free[i] and sizes[i] <= left:
                grow[i] += 1
                left -= sizes[i]
        return grow

    @staticmethod
    def _whole(mask: torch.Tensor) -> bool:
        """Whether ``mask`` is whole input channels, each all on or all off."""
        per_channel = mask.transpose(0, 1).flatten(1)
        return bool((per_channel.all(1) | ~per_channel.any(1)).all())

    def _prune_layer(self, n: str, rate: float) -> int:
        """Whole channels: the engine's rule; an irregular mask (``channel_init: reference``, first
        prune): FLOAT_v2's ``channel_prune`` (funcs.py:144-177). With ``nonzeros`` kept weights,
        ``num_remove = ceil(rate * nonzeros)`` and ``q = (zeros + num_remove) / numel``, the layer keeps
        exactly the input channels whose Frobenius norm ``||theta[:, c]||_F`` (of the masked weights)
        lies strictly above the q-quantile of all channel norms (``np.percentile``'s linear
        interpolation, as ``torch.quantile``), whole; at least the channel of largest norm (the engine
        never leaves a layer without one). Kept channels' masked weights come back from zero. Unlike
        the reference (funcs.py:148, which leaves the mask irregular when ``num_remove == 0``), a rate
        of 0 converts too. Returns the channels that lost all their weights."""
        mask, weight = self.masks[n], self.weights[n]
        if self._whole(mask):
            return super()._prune_layer(n, rate)
        nonzeros = int(mask.sum())
        num_remove = max(math.ceil(rate * nonzeros), 0)
        q = min((mask.numel() - nonzeros + num_remove) / mask.numel(), 1.0)
        norms = (weight.detach() * mask).double().pow(2).sum(dim=(0, *range(2, weight.ndim))).sqrt()
        keep = norms > torch.quantile(norms, q)
        if not keep.any():
            keep[int(norms.argmax())] = True
        before = int(self._active(mask).sum())
        mask.zero_()
        mask[:, keep.to(mask.device)] = True
        weight.mul_(mask)
        return before - int(keep.sum())

    def _fit_cap(self, removed: dict[str, int]) -> None:
        """After an irregular start's first prune (kept channels come back whole, so a layer can end
        over its share): while the total is over :attr:`cap`, one channel, the one of smallest score,
        comes off the layer holding the most kept weights among those with more than one active
        channel (the first on ties), as :func:`~hwsim.workload.sparsity.initial_channel_counts`."""
        while self.nonzeros() > self.cap:
            over = [n for n in self.masks if int(self._active(self.masks[n]).sum()) > 1]
            if not over:
                break
            n = max(over, key=lambda n: int(self.masks[n].sum()))
            active = self._active(self.masks[n])
            score = self._score(self.weights[n]).masked_fill(~active, float("inf"))
            self._set(self.masks[n], score.argmin().view(1), False)
            self.weights[n].mul_(self.masks[n])
            removed[n] += 1

    def _check_mask(self, name: str, mask: torch.Tensor) -> None:
        per_channel = mask.transpose(0, 1).flatten(1)
        if self.channel_init == "channels" and not (per_channel.all(1) | ~per_channel.any(1)).all():
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
            decay_step=getattr(sparsity, "prune_decay_step", "epoch"),
            adjust_rate=getattr(sparsity, "adjust_prune_rate", False),
            initial_mask=getattr(sparsity, "initial_mask", "exact"),
            channel_init=getattr(sparsity, "channel_init", "channels"),
        )
    except ValueError as exc:  # the densities do not fit Eq. 5: one line, as the estimate says it
        from ..errors import HwsimError

        raise HwsimError(f"sparsity: {exc}") from None
