"""ZigZag (zigzag-dse 3.x): the workload YAML, a list with one entry per conv / linear / FiLM-linear row.

Conv rows: ``operator_type: Conv``, ``O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]``,
``ix = stride_w * ox + dilation_w * fx`` (and iy), loop dims B K C OY OX FY FX with C = C_i / groups,
``pr_loop_dims [IY, IX]`` with the unpadded input sizes and ``padding [[pad_h, pad_h], [pad_w, pad_w]]``.
Linear and FiLM-linear rows: ``operator_type: Gemm``, ``O[b][k]+=I[b][c]*W[c][k]``, loop dims B C K with
B = the row's output positions (1 for a plain linear).

``operand_precision``: W = the spec's weight_bits; I = 8, O (partial sums) = 16, O_final = 8 are
hwsim's choice (its spec has no activation width). ``operand_source``: I is the id of the
previous conv / linear row (FiLM MLP rows skipped) when that row's output shape (C_o, H_o, W_o) is
exactly this row's input shape (a plain chain), else the row's own id (an external input, as
ZigZag takes the first layer's); residual and FiLM wiring is not followed. W is the row's own id
(its constant weights).

Checked against ZigZag's own examples (zigzag/inputs/workload/resnet18.yaml, gemm_layer.yaml): id,
name, operator_type, equation, dimension_relations, loop_dims, loop_sizes, operand_precision,
operand_source. NOT checked against a ZigZag 3.x parser or example: ``pr_loop_dims``,
``pr_loop_sizes`` and ``padding`` (as issue 11 names them).
"""

from __future__ import annotations

import yaml

from ..workload.table import LayerTable
from .common import Layer, layers, readme

CONV_EQUATION = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
GEMM_EQUATION = "O[b][k]+=I[b][c]*W[c][k]"
I_BITS, O_BITS, O_FINAL_BITS = 8, 16, 8


def entry(layer: Layer, source: int, weight_bits: int) -> dict:
    precision = {"W": weight_bits, "I": I_BITS, "O": O_BITS, "O_final": O_FINAL_BITS}
    if layer.op == "conv":
        return {
            "id": layer.index,
            "name": layer.name,
            "operator_type": "Conv",
            "equation": CONV_EQUATION,
            "dimension_relations": [
                f"ix={layer.stride_w}*ox+{layer.dilation_w}*fx",
                f"iy={layer.stride_h}*oy+{layer.dilation_h}*fy",
            ],
            "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
            "loop_sizes": [
                1,
                layer.out_channels,
                layer.channels_per_group,
                layer.out_h,
                layer.out_w,
                layer.kernel_h,
                layer.kernel_w,
            ],
            "operand_precision": precision,
            "operand_source": {"I": source, "W": layer.index},
            "pr_loop_dims": ["IY", "IX"],
            "pr_loop_sizes": [layer.in_h, layer.in_w],
            "padding": [[layer.padding_h, layer.padding_h], [layer.padding_w, layer.padding_w]],
        }
    return {
        "id": layer.index,
        "name": layer.name,
        "operator_type": "Gemm",
        "equation": GEMM_EQUATION,
        "dimension_relations": [],
        "loop_dims": ["B", "C", "K"],
        "loop_sizes": [layer.out_h * layer.out_w, layer.in_channels, layer.out_channels],
        "operand_precision": precision,
        "operand_source": {"I": source, "W": layer.index},
    }


def workload(table: LayerTable, weight_bits: int) -> list[dict]:
    out, prev = [], None
    for layer in layers(table):
        chained = prev is not None and (prev.out_channels, prev.out_h, prev.out_w) == (
            layer.in_channels,
            layer.in_h,
            layer.in_w,
        )
        out.append(entry(layer, prev.index if chained else layer.index, weight_bits))
        if layer.op != "film_linear":  # a FiLM MLP branches off: the main chain skips it
            prev = layer
    return out


MAPS = [
    "Every conv row -> a Conv entry; every linear and FiLM-linear row -> a Gemm entry (B = output positions).",
    "Loop sizes B K C OY OX FY FX (C = C_i / groups), strides and dilations in `dimension_relations`, "
    "unpadded input sizes in `pr_loop_sizes`, padding in `padding`.",
    f"`operand_precision`: W = the spec's weight_bits; I = {I_BITS}, O = {O_BITS}, O_final = {O_FINAL_BITS} "
    "(hwsim's choice: the spec has no activation width).",
    "`operand_source`: I = the previous conv / linear layer (FiLM MLP rows skipped) when its output "
    "shape is this layer's input (a plain chain), else the layer itself (external input). Residual / FiLM wiring is not followed.",
]
LIMITS = [
    "**Architecture / mapping**: no ZigZag accelerator or mapping file is written (hwsim's spec has no "
    "memory hierarchy to map).",
    "**Groups**: C = C_i / groups keeps the MACs; ZigZag's grouped-conv G dimension is not used.",
    "**Per-layer irregular density**: ZigZag's workload has no density field; it is listed below.",
]


def export_zigzag(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    head = (
        f"# ZigZag (zigzag-dse 3.x) workload written by `hwsim export` from {name} (spec {spec.name}).\n"
        "# One entry per conv / linear / FiLM-linear layer; see README.md for what is not expressed.\n"
    )
    body = yaml.safe_dump(workload(table, spec.weight_bits), sort_keys=False, default_flow_style=None)
    return {
        "workload.yaml": head + body,
        "README.md": readme(table, spec, name, f"ZigZag export of {name}", MAPS, LIMITS),
    }
