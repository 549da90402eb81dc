"""What a run's sparsity masks say about each conv, in plain numbers (no tensors): the per-layer
record the run file keeps every epoch and ``hwsim estimate RUN_DIR`` / ``hwsim report`` cost with."""

from __future__ import annotations

from typing import Any


def mask_summary(masks: dict[str, Any], slim_factor: float = 1.0) -> dict[str, dict[str, float | int]]:
    """Per conv (layer name, ``.weight`` dropped): ``density``, the kept fraction of its weights;
    ``in_channels``, its input channels C_i; ``kept_in_channels``, the input channels with at least
    one kept weight (all of them under irregular pruning, fewer under FLOATS-c).

    ``slim_factor`` < 1 (FLOATS slim): each mask cut to the sub-network's slice, the first
    ``slim_channels(C, SF)`` outputs and inputs (the stem, the first mask, keeps its image inputs),
    as :func:`hwsim.workload.sparsity.with_slim` shapes the table."""
    from ..workload.sparsity import slim_channels

    out: dict[str, dict[str, float | int]] = {}
    for index, (name, mask) in enumerate(masks.items()):
        if slim_factor != 1.0 and mask.dim() > 1:
            inputs = mask.shape[1] if index == 0 else slim_channels(mask.shape[1], slim_factor)
            mask = mask[: slim_channels(mask.shape[0], slim_factor), :inputs]
        if mask.numel() == 0:
            continue
        per_channel = mask.transpose(0, 1).reshape(mask.shape[1], -1).any(dim=1) if mask.dim() > 1 else mask
        out[name.removesuffix(".weight")] = {
            "density": float(mask.sum()) / mask.numel(),
            "in_channels": int(per_channel.numel()),
            "kept_in_channels": int(per_channel.sum()),
        }
    return out
