"""SCALE-Sim 3.x: topology CSV, layout CSV and ``.cfg`` from a layer table and a hardware spec.

* Topology: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num
  Filter, Strides,`` with a trailing comma on every row (SCALE-Sim's parser drops the last field).
  SCALE-Sim has no padding: the IFMAP is the padded input the kernel actually sweeps,
  ``(out - 1) * stride + kernel`` (= ``in + 2 * padding`` at stride 1; one less for a stride-2
  3x3 conv on an even map, whose last padded row PyTorch never reads). SCALE-Sim computes the output
  as ``ceil((IFMAP - kernel) / stride) + 1``; with this IFMAP the division is exact, so its output
  size and MACs equal PyTorch's (with ``in + 2 * padding`` a stride-2 layer got one row and column
  more: found by benchmarks/crossval.py). A linear (and an OAT FiLM linear) is a 1x1 conv on its
  ``in_h x in_w`` map (1 x 1 for a plain linear). Channels is ``C_i / groups`` (SCALE-Sim has no
  groups; the MACs stay hwsim's). A dilated conv (none in the shipped models) is written with the
  IFMAP its undilated kernel would sweep, so its MACs stay hwsim's; its dilation is listed in the
  README.
* Layout: the header plus one row of placeholder 1s per layer, which SCALE-Sim 3 requires even
  with custom layouts off (as benchmarks/peers/scalesim ran with SCALE-Sim 3.0.0).
* Config: a square-ish ``ArrayHeight x ArrayWidth`` array whose product is ``n_multipliers``
  (height: the largest divisor <= sqrt; a prime gives 1 x n), ``Bandwidth`` =
  ``io_bandwidth_bits * n_banks / weight_bits`` words (rounded down, at least 1); SRAM sizes,
  offsets, dataflow (ws) and the layout / sparsity / run sections are fixed defaults, as in the
  benchmark's ``scale.cfg``.
"""

from __future__ import annotations

import math

from ..workload.table import LayerTable
from .common import Layer, layers, readme, safe_name

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
LAYOUT_HEADER = "Layer name, a, b, c, d, e, f, g, h,"


def array_shape(n_multipliers: int) -> tuple[int, int]:
    """(ArrayHeight, ArrayWidth): product n_multipliers, height the largest divisor <= sqrt(n)."""
    height = max(d for d in range(1, math.isqrt(n_multipliers) + 1) if n_multipliers % d == 0)
    return height, n_multipliers // height


def bandwidth_words(spec) -> int:
    return max(1, (spec.io_bandwidth_bits * spec.n_banks) // spec.weight_bits)


def ifmap(layer: Layer, axis: str) -> int:
    """The IFMAP size SCALE-Sim gets on ``axis`` ('h' or 'w'): the padded input the kernel sweeps,
    ``(out - 1) * stride + kernel``, so that SCALE-Sim's ceil and PyTorch's floor give one output size."""
    get = lambda f: getattr(layer, f"{f}_{axis}")  # noqa: E731
    return (get("out") - 1) * get("stride") + get("kernel")


def topology(table: LayerTable) -> str:
    rows = [HEADER]
    for layer in layers(table):
        cells = [
            safe_name(layer.name),
            ifmap(layer, "h"),
            ifmap(layer, "w"),
            layer.kernel_h,
            layer.kernel_w,
            layer.channels_per_group,
            layer.out_channels,
            layer.stride_h,
        ]
        rows.append(", ".join(str(c) for c in cells) + ",")
    return "\n".join(rows) + "\n"


def layout(table: LayerTable) -> str:
    rows = [LAYOUT_HEADER] + [f"{safe_name(n)}, " + ", ".join(["1"] * 8) + "," for n in table["name"]]
    return "\n".join(rows) + "\n"


def config(spec, run_name: str) -> str:
    height, width = array_shape(spec.n_multipliers)
    return f"""# SCALE-Sim 3.x config written by `hwsim export` from spec {spec.name}.
# ArrayHeight x ArrayWidth = n_multipliers ({spec.n_multipliers}); Bandwidth = io_bandwidth_bits x n_banks
# / weight_bits = {spec.io_bandwidth_bits} x {spec.n_banks} / {spec.weight_bits} words (rounded down).
# Everything else is a default of hwsim's choosing (hwsim's spec has no SRAM sizes or dataflow).
# Per-layer irregular density (FLOATS) cannot be set here: see README.md.
[general]
run_name = {safe_name(run_name)}

[architecture_presets]
ArrayHeight:    {height}
ArrayWidth:     {width}
IfmapSramSzkB:    64
FilterSramSzkB:   64
OfmapSramSzkB:    64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth_words(spec)}
Dataflow : ws
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


MAPS = [
    "Every conv, linear and FiLM-linear row -> one topology row (a linear is a 1x1 conv on its map).",
    "IFMAP Height / Width = the padded input the kernel sweeps, (out - 1) x stride + kernel (SCALE-Sim has no padding field).",
    "Channels = C_i / groups (SCALE-Sim has no groups), Num Filter = C_o, Strides = stride_h.",
    "`n_multipliers` -> ArrayHeight x ArrayWidth (square-ish, product exact); io_bandwidth_bits x n_banks "
    "/ weight_bits -> Bandwidth (words). SRAM sizes, offsets, dataflow (ws): fixed defaults.",
    "`layout.csv`: the placeholder SCALE-Sim 3 requires with custom layouts off.",
]
LIMITS = [
    "**Timing / energy** (tau_read_ns, tau_mult_ns, pJ values): SCALE-Sim counts cycles, not ns or pJ.",
    "**Per-layer irregular density**: SCALE-Sim 3's `[sparsity]` section models N:M block sparsity "
    "(SparsitySupport, BlockSize) set for the whole run, not a per-layer unstructured density; "
    "it is left off (`SparsitySupport : false`).",
    "**Dilation, unequal strides**: one Strides column, no dilation (none in the shipped models).",
]


def export_scalesim(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    base = safe_name(name)
    return {
        f"{base}_topology.csv": topology(table),
        f"{base}_layout.csv": layout(table),
        f"{base}.cfg": config(spec, name),
        "README.md": readme(table, spec, name, f"SCALE-Sim 3.x export of {name}", MAPS, LIMITS),
    }
