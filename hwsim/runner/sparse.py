"""FLOATS-i: irregular sparsity by sparse momentum (paper Sec. 3.2, Eq. 5; Kundu & Sundaresan 2021,
the scheme of Dettmers & Zettlemoyer 2019, ``sparse_learning``).

A boolean mask per conv weight (stem and shortcuts included; linear layers, BN, alpha and biases are
never masked). The global budget of Eq. 5, ``sum_l card(theta_l * pi_l) <= d * sum_l card(theta_l)``,
holds at every step:

* **init**: every layer keeps ``floor(d * card(theta_l))`` weights at uniformly random positions.
  (``sparse_learning`` draws Bernoulli(d) per weight, which can overshoot the budget by chance; a
  fixed count per layer is the same distribution conditioned on Eq. 5 holding.)
* **every optimizer step**: :meth:`SparseMomentum.apply` zeroes the masked weights, so they stay
  exactly zero. Their momentum is left alone: gradients keep flowing into the momentum of masked
  positions, and that is what regrowth ranks them by (as ``sparse_learning``).
* **end of every epoch** (:meth:`SparseMomentum.prune_and_regrow`): each layer loses
  ``ceil(p * nnz_l)`` of its active weights, the smallest by magnitude; the same total is regrown,
  shared across layers in proportion to the mean |momentum| of each layer's active weights (whole
  numbers by largest remainder, a full layer's surplus passed on to the others), each layer at its
  inactive positions of largest |momentum|. The total number of kept weights never changes.

``p`` defaults to 0.5 decayed linearly to 0 over training (:func:`prune_rate`), as the published
FLOAT code. This module is the masking engine only; the FLOATS method and its costs build on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def prune_rate(epoch: int, epochs: int, initial: float = 0.5) -> float:
    """The prune rate after ``epoch`` (0-based) of ``epochs``: ``initial`` decayed linearly to 0."""
    if epochs <= 1:
        return 0.0
    return initial * max(0.0, 1.0 - epoch / (epochs - 1))


def masked_weights(net: nn.Module) -> dict[str, nn.Parameter]:
    """The weights FLOATS-i masks: every conv's weight, by parameter name."""
    return {f"{name}.weight": m.weight for name, m in net.named_modules() if isinstance(m, nn.Conv2d)}


@dataclass
class PruneStats:
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


class SparseMomentum:
    """Masks of the conv weights of ``net`` at global density ``density`` (Eq. 5)."""

    def __init__(
        self,
        net: nn.Module,
        density: float,
        *,
        generator: torch.Generator | None = None,
        initial_rate: float = 0.5,
        schedule: str = "linear",
    ) -> None:
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must lie in (0, 1], got {density}")
        self.density, self.initial_rate, self.schedule = density, initial_rate, schedule
        self.weights = masked_weights(net)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.masks: dict[str, torch.Tensor] = {}
        for name, weight in self.weights.items():
            n = weight.numel()
            keep = torch.zeros(n, dtype=torch.bool)
            keep[torch.randperm(n, generator=gen)[: math.floor(density * n)]] = True
            self.masks[name] = keep.view_as(weight).to(weight.device)
        self.apply()

    @property
    def budget(self) -> float:
        """Eq. 5's right-hand side: d times the number of maskable weights."""
        return self.density * sum(w.numel() for w in self.weights.values())

    def nonzeros(self) -> int:
        return sum(int(m.sum()) for m in self.masks.values())

    def global_density(self) -> float:
        return self.nonzeros() / sum(m.numel() for m in self.masks.values())

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the masked weights: call after every optimizer step."""
        for name, weight in self.weights.items():
            weight.mul_(self.masks[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The masks, for a checkpoint (a resumed run continues with the same ones)."""
        return {name: mask.detach().cpu().clone() for name, mask in self.masks.items()}

    def load_state_dict(self, masks: dict[str, torch.Tensor]) -> None:
        """Masks from a checkpoint; ``ValueError`` naming the first one that does not fit."""
        if not isinstance(masks, dict) or set(masks) != set(self.masks):
            raise ValueError("its sparsity masks do not match the network's conv layers")
        for name, mask in masks.items():
            if not isinstance(mask, torch.Tensor) or mask.shape != self.masks[name].shape:
                raise ValueError(f"sparsity mask {name} does not fit the layer")
            self.masks[name] = mask.to(dtype=torch.bool, device=self.masks[name].device)
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
        """One end-of-epoch update (see the module docstring); the kept total is unchanged."""
        names = list(self.weights)
        momenta = {n: self.momentum_of(optimizer, self.weights[n]).abs() for n in names}
        # redistribution shares: mean |momentum| over each layer's active weights (before pruning)
        raw = [float(momenta[n][self.masks[n]].mean()) if self.masks[n].any() else 0.0 for n in names]
        if sum(raw) <= 0 or any(math.isnan(v) for v in raw):
            raw = [float(self.masks[n].sum()) for n in names]  # no momentum yet: keep the layer sizes
        shares = [v / sum(raw) for v in raw]
        removed = {}
        for n in names:
            mask, weight = self.masks[n], self.weights[n]
            active = int(mask.sum())
            k = math.ceil(rate * active)
            removed[n] = k
            if k:
                magnitude = torch.where(mask, weight.abs(), torch.full_like(weight, float("inf")))
                drop = torch.topk(magnitude.flatten(), k, largest=False).indices
                mask.view(-1)[drop] = False
                weight.mul_(mask)  # a weight regrown below starts afresh, from zero (the paper)
        capacity = [int((~self.masks[n]).sum()) for n in names]
        grow = _whole_shares(sum(removed.values()), shares, capacity)
        regrown = {}
        for n, g in zip(names, grow):
            regrown[n] = g
            if g:
                score = torch.where(self.masks[n], torch.full_like(momenta[n], -1.0), momenta[n])
                mask = self.masks[n]
                mask.view(-1)[torch.topk(score.flatten(), g).indices] = True
        self.apply()  # pruned weights become zero; regrown ones start from zero
        return PruneStats(removed, regrown, dict(zip(names, shares)))


def sparse_training(model_config, net: nn.Module, seed: int) -> SparseMomentum | None:
    """The masks a run trains with: None for a dense model (a dense slimmable one, FLOAT / OAT slim,
    included); FLOATS-i masks from the model's ``sparsity`` block, drawn from ``seed`` (the same on
    every DDP rank), for kind irregular and for FLOATS slim (kind slim at density < 1: the masks lie
    over the full, SF 1.0, conv weights, which every width's sub-tensors are views of)."""
    sparsity = model_config.sparsity
    if sparsity is None:
        return None
    if sparsity.kind == "slim" and sparsity.density >= 1.0:
        return None
    if sparsity.kind not in ("irregular", "slim"):
        from ..errors import HwsimError

        raise HwsimError(
            f"sparsity.kind: training {sparsity.kind} sparsity is not implemented yet (implemented: irregular, slim)"
        )
    return SparseMomentum(
        net,
        sparsity.density,
        generator=torch.Generator().manual_seed(
            seed + 7919
        ),  # its own stream: the seed's other draws stay as they were
        initial_rate=sparsity.prune_rate,
        schedule=sparsity.prune_schedule,
    )
