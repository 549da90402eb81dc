"""Timeloop v0.4: one CNN-layer problem YAML per conv / linear / FiLM-linear row.

Timeloop's convention: R, P are the filter and output WIDTH (with Wstride, Wdilation), S, Q the
HEIGHT (Hstride, Hdilation); C input channels, M output channels, N batch (1). The problem has no
padding field: the input it reads is ``(P - 1) * stride + (R - 1) * dilation + 1`` per axis, the
padding folded into the output size P, Q hwsim already computed. Groups: C is ``C_i / groups``
(each output channel's inputs), so MACs = C M R S N P Q equal hwsim's; the grouping itself (which
inputs each group reads) is not expressed (every shipped model has groups = 1).
"""

from __future__ import annotations

import yaml

from ..workload.table import LayerTable
from .common import Layer, layers, readme, safe_name

SHAPE = {
    "name": "CNN-Layer",
    "dimensions": ["C", "M", "R", "S", "N", "P", "Q"],
    "coefficients": [
        {"name": "Wstride", "default": 1},
        {"name": "Hstride", "default": 1},
        {"name": "Wdilation", "default": 1},
        {"name": "Hdilation", "default": 1},
    ],
    "data-spaces": [
        {"name": "Weights", "projection": [[["C"]], [["M"]], [["R"]], [["S"]]]},
        {
            "name": "Inputs",
            "projection": [
                [["N"]],
                [["C"]],
                [["R", "Wdilation"], ["P", "Wstride"]],
                [["S", "Hdilation"], ["Q", "Hstride"]],
            ],
        },
        {"name": "Outputs", "projection": [[["N"]], [["M"]], [["Q"]], [["P"]]], "read-write": True},
    ],
}


def instance(layer: Layer) -> dict[str, int]:
    return {
        "C": layer.channels_per_group,
        "M": layer.out_channels,
        "R": layer.kernel_w,
        "S": layer.kernel_h,
        "N": 1,
        "P": layer.out_w,
        "Q": layer.out_h,
        "Wstride": layer.stride_w,
        "Hstride": layer.stride_h,
        "Wdilation": layer.dilation_w,
        "Hdilation": layer.dilation_h,
    }


def problem(layer: Layer) -> str:
    head = (
        f"# Timeloop v0.4 problem: hwsim layer {layer.name!r} ({layer.op}), row {layer.index}.\n"
        f"# Padding {layer.padding_h} x {layer.padding_w} is folded into P, Q (no padding field); "
        f"groups = {layer.groups} (C is C_i / groups); density {layer.density:.6g} (dense shape; see README.md).\n"
    )
    return head + yaml.safe_dump(
        {"problem": {"shape": SHAPE, "instance": instance(layer)}}, sort_keys=False, default_flow_style=None
    )


MAPS = [
    "Every conv, linear and FiLM-linear row -> one `NNN_<layer>.yaml` CNN-layer problem (N = 1).",
    "R, S = kernel width, height; P, Q = output width, height; C = C_i / groups; M = C_o; strides, dilations.",
    "Padding: folded into P, Q (the problem reads (P-1) x stride + (R-1) x dilation + 1 inputs per axis).",
]
LIMITS = [
    "**Architecture**: no Timeloop architecture / mapper / constraints are written: hwsim's spec "
    "(banks, multipliers, ns timings, pJ energies) has no Timeloop arch counterpart here.",
    "**Groups**: C = C_i / groups keeps the MACs, but which inputs each group reads is not expressed.",
    "**Per-layer irregular density**: Timeloop's sparse extensions (Sparseloop) take a density per "
    "data space; it is not written (the README table below lists each layer's).",
]


def export_timeloop(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    files = {f"{layer.index:03d}_{safe_name(layer.name)}.yaml": problem(layer) for layer in layers(table)}
    files["README.md"] = readme(table, spec, name, f"Timeloop v0.4 export of {name}", MAPS, LIMITS)
    return files
