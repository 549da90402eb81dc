"""Timeloop v0.4: one CNN-layer problem YAML per conv / linear / FiLM-linear row.

Checked against (neither ``timeloopfe``, ``pytimeloop`` nor ``accelergy-timeloop-infrastructure`` is
on PyPI, so the tests compare keys with the reference files below; ``benchmarks/timeloop_parse.py``
parses every shipped model's export with timeloopfe's v4 ``Problem`` run from source: all 1128 files
parse and their C M R S N P Q and densities give hwsim's MACs and densities):

* Accelergy-Project/timeloop-accelergy-exercises @ 2d5510807128e9bd5f1cad0705cdf2ec4612fd4e,
  ``workspace/example_designs/layer_shapes/CONV/AlexNet/AlexNet_layer1.yaml`` (a dense v0.4 conv) and
  ``workspace/example_designs/example_designs/sparseloop/04.2.1-eyeriss-like-gating/problem.yaml``
  (the same CNN_Layer with ``instance.densities``): ``problem: {version: 0.4, instance, shape}``, the
  shape (coefficients, ``data_spaces`` with ``read_write``, dimensions, ``name: CNN_Layer``) key for
  key, and the instance keys C Hdilation Hstride M N P Q R S Wdilation Wstride. tests/test_export.py
  holds both files' key sets and shape. (An older exercise, ``exercises/timeloop+accelergy/
  cnn-layer.prob.yaml``, spells it ``data-spaces`` / ``read-write`` / ``CNN-Layer`` with K, no
  ``version``: the pre-v0.4 format this module wrote before.)
* Accelergy-Project/timeloop-python @ b8aaf2cde220df7c2ba9d051984fc360f20b57b2,
  ``pytimeloop/timeloopfe/v4/problem.py`` (timeloopfe's v0.4 schema; run by the benchmark): Problem
  {version (must be "0.4"), instance, shape}; Shape {name, dimensions, data_spaces, coefficients};
  DataSpace {name, projection, read_write}; Instance: int entries plus ``densities``, one
  {density, distribution in fixed_structured / hypergeometric / banded} per data space.

Timeloop's convention (from the projections): R, P are the filter and output WIDTH (with Wstride,
Wdilation), S, Q the HEIGHT (Hstride, Hdilation); C input channels, M output channels, N batch (1).
The problem has no padding field: P, Q are the output sizes, so the padding is folded into them (as
the exercises' ``layer_shapes/resnet18/00.yaml`` does: a 7 x 7 stride-2 conv on 224 x 224 with
P = Q = 112); the input it reads is ``(P - 1) * stride + (R - 1) * dilation + 1`` per axis. Groups: C
is ``C_i / groups`` (each output channel's inputs), so MACs = C M R S N P Q equal hwsim's; the
grouping itself is not expressed (every shipped model has groups = 1). Irregular (FLOATS) weight
density < 1: ``instance.densities.Weights = {distribution: fixed_structured, density: <hwsim's exact
density>}``, as exercise 04.2.1 writes its pruned weights' density (fixed_structured: every tile at
that density; hwsim's masks are unstructured, the README says so).
"""

from __future__ import annotations

import yaml

from ..costs.metrics import count_columns
from ..workload.table import LayerTable
from .common import Layer, layers, readme, safe_name, sparse

SHAPE = {  # key for key the shape of the reference files named in the module docstring
    "coefficients": [
        {"default": 1, "name": "Wstride"},
        {"default": 1, "name": "Hstride"},
        {"default": 1, "name": "Wdilation"},
        {"default": 1, "name": "Hdilation"},
    ],
    "data_spaces": [
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
        {"name": "Outputs", "projection": [[["N"]], [["M"]], [["Q"]], [["P"]]], "read_write": True},
    ],
    "dimensions": ["C", "M", "R", "S", "N", "P", "Q"],
    "name": "CNN_Layer",
}
DISTRIBUTION = "fixed_structured"  # as the reference's pruned-weight density (Sparseloop exercise 04.2.1)


def instance(layer: Layer) -> dict:
    """The instance, keys in the reference's (sorted) order; ``densities`` only when density < 1."""
    out: dict = {
        "C": layer.channels_per_group,
        "Hdilation": layer.dilation_h,
        "Hstride": layer.stride_h,
        "M": layer.out_channels,
        "N": 1,
        "P": layer.out_w,
        "Q": layer.out_h,
        "R": layer.kernel_w,
        "S": layer.kernel_h,
        "Wdilation": layer.dilation_w,
        "Wstride": layer.stride_w,
    }
    if layer.density < 1:
        out["densities"] = {"Weights": {"distribution": DISTRIBUTION, "density": layer.density}}
    return out


def problem(layer: Layer) -> str:
    head = (
        f"# Timeloop v0.4 problem: hwsim layer {layer.name!r} ({layer.op}), row {layer.index}.\n"
        f"# Padding {layer.padding_h} x {layer.padding_w} is folded into P, Q (no padding field); "
        f"groups = {layer.groups} (C is C_i / groups); weight density {layer.density:.6g}"
        f"{' (instance.densities)' if layer.density < 1 else ''}.\n"
    )
    return head + yaml.safe_dump(
        {"problem": {"version": 0.4, "instance": instance(layer), "shape": SHAPE}},
        sort_keys=False,
        default_flow_style=None,
    )


MAPS = [
    "Every conv, linear and FiLM-linear row -> one `NNN_<layer>.yaml` CNN-layer problem (N = 1).",
    "R, S = kernel width, height; P, Q = output width, height; C = C_i / groups; M = C_o; strides, dilations.",
    "Padding: folded into P, Q (the problem reads (P-1) x stride + (R-1) x dilation + 1 inputs per axis).",
]
DENSE_LIMIT = (  # a dense export's density line; dropped when instance.densities is written
    "**Per-layer irregular density**: Timeloop's sparse extensions (Sparseloop) take a density per "
    "data space; it is not written (the README table below lists each layer's)."
)
LIMITS = [
    "**Architecture**: no Timeloop architecture / mapper / constraints are written: hwsim's spec "
    "(banks, multipliers, ns timings, pJ energies) has no Timeloop arch counterpart here.",
    "**Groups**: C = C_i / groups keeps the MACs, but which inputs each group reads is not expressed.",
    DENSE_LIMIT,
]
DENSITY_MAPS = (
    "**Irregular (FLOATS) density** -> `instance.densities: {Weights: {distribution: fixed_structured, "
    "density: <hwsim's exact density>}}` on each layer with density < 1 (Sparseloop's field; fixed_structured, "
    "as the Timeloop exercises write pruned weights, spreads the density evenly over every tile, where "
    "hwsim's masks are unstructured):"
)


def export_timeloop(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    files = {f"{layer.index:03d}_{safe_name(layer.name)}.yaml": problem(layer) for layer in layers(table)}
    title = f"Timeloop v0.4 export of {name}"
    counts = count_columns(table)
    if sparse(table):
        limits, exported = [m for m in LIMITS if m != DENSE_LIMIT], {"density": DENSITY_MAPS}
    else:
        limits, exported = LIMITS, None
    files["README.md"] = readme(table, spec, name, title, MAPS, limits, counts=counts, exported=exported)
    return files
