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

FLOAT's noise add: an ``operator_type: Add`` entry ``<layer>.noise_add`` just before each noisy layer,
``O[g][c][fy][fx]=W[g][c][fy][fx]+I[g][c][fy][fx]`` over the weight tensor (G = C_o, C = C_i / groups,
FY FX), both operands its own (theta and the fresh noise eta); its id is the number of rows plus the
layer's row, so the layers keep id = row. The layer's W stays its own constant operand: with W wired to
the add, ZigZag 3.9.1 takes the first conv's external I as its constant operand instead (checked).
OAT's FiLM modulation (x * mu + sigma) is not written: ZigZag 3.9.1 has no element-wise multiply
operator (the README lists it with hwsim's film_mod_ops).

Verified against zigzag-dse 3.9.1 (installed): ``zigzag/parser/workload_validator.py`` (the schema:
``pr_loop_dims`` a list of names, ``pr_loop_sizes`` a list of ints of the same length, ``padding`` a
list of ``[low, high]`` pairs, one per pr dim; operator_type one of its ALLOWED_OPERATORS, ``Add``
among them; the equation regex accepts the Add form) and ``parser/workload_factory.py`` (pr sizes are
the unpadded input, the clip for the padded span); tests/test_export.py runs that validator and
WorkloadFactory (with ZigZag's shipped tpu_like mapping) on the exports, when zigzag is importable,
and checks each node's ``total_mac_count`` is hwsim's MACs (an Add's, hwsim's noise_add_ops).
benchmarks/crossval.py ran ``zigzag.api.get_hardware_performance_zigzag`` on six exported ResNet34
layers (padded stride-2 convs among them): MACs equal hwsim's; run by hand on the whole
``resnet20-digits-float`` export (22 layers + 21 Add entries, tpu_like): 43 nodes, 10,474,032
operations = hwsim's MACs + noise_add_ops. The Conv / Gemm / Add entry forms
follow ZigZag's own examples (KULeuven-MICAS/zigzag ``zigzag/inputs/workload/resnet18.yaml``; not
shipped in the 3.9.1 wheel) and its ONNX conv parser (``parser/onnx/conv_parser.py``: pr_loop_dims,
pr_loop_sizes = the input sizes, padding = [[begin, end], ...]).
"""

from __future__ import annotations

import numpy as np
import yaml

from ..costs.metrics import count_columns
from ..workload.table import LayerTable
from .common import Layer, layers, readme

CONV_EQUATION = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
GEMM_EQUATION = "O[b][k]+=I[b][c]*W[c][k]"
ADD_EQUATION = "O[g][c][fy][fx]=W[g][c][fy][fx]+I[g][c][fy][fx]"
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


def noise_add(layer: Layer, entry_id: int, weight_bits: int) -> dict:
    """FLOAT's noise add on ``layer``'s weights, ``theta + lambda alpha eta``, as a ZigZag ``Add`` over the
    weight tensor (the form of the Add entries of ZigZag's resnet18.yaml; G = the weight's output
    channels, so that the tpu_like mapping's ``Add`` entry unrolls it). Both operands are the entry's
    own (theta: the weights; eta: fresh noise, an external input). Its adds, C_o x C_i/groups x k_h x
    k_w, are hwsim's noise_add_ops unless the noise is masked (noise_on_pruned: false: kept weights only)."""
    shape = [layer.out_channels, layer.channels_per_group, layer.kernel_h, layer.kernel_w]
    return {
        "id": entry_id,
        "name": f"{layer.name}.noise_add",
        "operator_type": "Add",
        "equation": ADD_EQUATION,
        "dimension_relations": [],
        "loop_dims": ["G", "C", "FY", "FX"],
        "loop_sizes": shape,
        "operand_precision": {"W": weight_bits, "I": weight_bits, "O": weight_bits, "O_final": weight_bits},
        "operand_source": {"W": entry_id, "I": entry_id},
    }


def workload(table: LayerTable, weight_bits: int, noise: np.ndarray) -> list[dict]:
    """The entries in order: each layer's (id = its table row), each noisy layer's noise add just before
    it (id = number of rows + the layer's row). ``noise``: hwsim's noise_add_ops per row."""
    out, prev = [], None
    for layer in layers(table):
        if noise[layer.index] > 0:
            out.append(noise_add(layer, len(table) + layer.index, weight_bits))
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
NOISE_MAPS = (
    "**FLOAT noise add** (theta + lambda alpha eta) -> an `Add` entry `<layer>.noise_add` just before each "
    "noisy layer, over its weight tensor (loop dims G C FY FX = C_o, C_i / groups, k_h, k_w: one add per "
    "weight), id = number of layers + the layer's row. The conv / linear keeps its own W (not wired to the "
    "add's output). With masked noise (noise_on_pruned: false) hwsim counts adds on kept weights only, "
    "the Add the dense shape:"
)
LIMITS = [
    "**Architecture / mapping**: no ZigZag accelerator or mapping file is written (hwsim's spec has no "
    "memory hierarchy to map).",
    "**Groups**: C = C_i / groups keeps the MACs; ZigZag's grouped-conv G dimension is not used in Conv entries.",
    "**OAT FiLM modulation**: ZigZag 3.9.1 has no element-wise multiply operator (its MLP linears are Gemm entries).",
    "**Per-layer irregular density**: ZigZag's workload has no density field; it is listed below.",
]


def export_zigzag(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    head = (
        f"# ZigZag (zigzag-dse 3.x) workload written by `hwsim export` from {name} (spec {spec.name}).\n"
        "# One entry per conv / linear / FiLM-linear layer, and an Add per FLOAT noise add;\n"
        "# see README.md for what is not expressed.\n"
    )
    counts = count_columns(table)
    noise = np.asarray(counts["noise_add_ops"], np.int64)
    body = yaml.safe_dump(workload(table, spec.weight_bits, noise), sort_keys=False, default_flow_style=None)
    return {
        "workload.yaml": head + body,
        "README.md": readme(
            table,
            spec,
            name,
            f"ZigZag export of {name}",
            MAPS,
            LIMITS,
            counts=counts,
            exported={"noise": NOISE_MAPS} if noise.any() else None,
        ),
    }
