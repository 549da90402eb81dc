"""One conv layer's trained weights and sparsity mask from a run's checkpoint, for the paper's
Fig. 5(a) channel heatmap (:func:`hwsim.report.plots.plot_channel_heatmap`).

The only part of the report that reads a checkpoint, so the only part that needs torch; torch (and
the runner) are imported when :func:`load_conv_layer` is called, never with the report package:
``hwsim report`` without ``--heatmap`` stays torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HwsimError

#: How many valid conv names an unknown-layer error lists.
NAMES_SHOWN = 6


@dataclass(frozen=True)
class ConvLayer:
    """One conv of one run: ``weight`` (C_o x C_i x k x k, numpy), ``mask`` (same shape, bool, or
    None for a run without masks), the run's name and how its model is shown (FLOATS-i, ...)."""

    run: str
    label: str
    layer: str
    weight: Any
    mask: Any | None


def conv_names(state: dict[str, Any]) -> list[str]:
    """The conv layer names of a state dict (4-D ``.weight`` tensors, ``.weight`` dropped)."""
    return [k.removesuffix(".weight") for k, v in state.items() if k.endswith(".weight") and getattr(v, "ndim", 0) == 4]


def load_conv_layer(run_dir: Path | str, layer: str) -> ConvLayer | None:
    """``layer``'s weights and mask from the checkpoint of ``run_dir`` (``checkpoint.pt``). Returns
    None for a dense run (no sparsity masks in its checkpoint); an unknown layer is one
    :class:`HwsimError` line listing a few valid names."""
    from ..runner.train import load_checkpoint, run_config_of
    from .join import method_label

    payload = load_checkpoint(run_dir)
    run = run_config_of(payload)
    masks = payload.get("masks") or {}
    if not masks:
        return None
    state = payload["model"]
    names = conv_names(state)
    if layer not in names:
        shown = ", ".join(names[:NAMES_SHOWN]) + (f", ... ({len(names)} convs)" if len(names) > NAMES_SHOWN else "")
        raise HwsimError(f"--heatmap: run {run.name} has no conv layer {layer!r}; its convs: {shown or 'none'}")
    weight = state[f"{layer}.weight"].detach().float().cpu().numpy()
    mask = masks.get(f"{layer}.weight", masks.get(layer))
    mask = mask.detach().bool().cpu().numpy() if mask is not None else None
    return ConvLayer(run.name, method_label(run.model.method, run.model.sparsity), layer, weight, mask)


__all__ = ["ConvLayer", "conv_names", "load_conv_layer"]
