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
  offsets, dataflow (ws) and the layout / run sections are fixed defaults, as in the benchmark's
  ``scale.cfg``.
* Sparsity (only when some layer has density < 1; a dense model's files are byte for byte what they
  were before sparsity was written): the topology gets SCALE-Sim 3's ``Sparsity`` column, ``N:M`` per
  row, with M = BLOCK_SIZE (8) and N = ``max(1, round(density * M))`` (the nearest N:M; Python's
  round, halves to even; at most M), and the cfg ``[sparsity]`` turns on: ``SparsitySupport : true``,
  ``SparseRep : ellpack_block``, ``OptimizedMapping : false`` (SCALE-Sim then uses each layer's
  N:M; with true it ignores them and draws a random N in 1..BlockSize/2 per filter column),
  ``BlockSize : 8`` (read by SCALE-Sim only with OptimizedMapping true; written as the M used).
  README.md lists hwsim's exact density next to the exported N:M for every layer.

Verified against scalesim 3.0.0 (the PyPI wheel, read): ``topology_utils.load_arrays_conv`` (a 9th
field ``N:M`` after Strides, default ``1:1``; the last field, after the trailing comma, dropped),
``scale_config.read_conf_file`` (the ``[sparsity]`` keys above) and
``compute/operand_matrix.py`` (the N-ones-then-zeros pattern per block of M filter rows); the header
spelling follows scalesim-project/scale-sim-v2 ``topologies/sparsity/conv.csv``. Run by hand in a
numpy-1.26.4 venv with scalesim 3.0.0: resnet20-digits-floats' export (conv1, layers.1.0.conv1, fc:
2:8, 2:8, 8:8) parses (``get_layer_sparsity_ratio`` gives (2, 8), (2, 8), (8, 8)) and runs to a
SPARSE_REPORT with ellpack_block storage; the dense exports ran in benchmarks/crossval.py.
"""

from __future__ import annotations

import math

import numpy as np

from ..costs.metrics import count_columns
from ..workload.table import LayerTable
from .common import Layer, layers, readme, safe_name, sparse

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
SPARSE_HEADER = HEADER + " Sparsity,"  # as scale-sim-v2's topologies/sparsity/conv.csv
BLOCK_SIZE = 8  # M of every layer's N:M (and the cfg's BlockSize)
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


def n_of_m(density: float, block: int = BLOCK_SIZE) -> int:
    """N of the N:M (M = ``block``) nearest ``density``: ``max(1, round(density * M))`` (Python's
    round: halves to even), at most M. An irregular density has no exact N:M; README.md lists both."""
    return min(block, max(1, round(density * block)))


def topology(table: LayerTable) -> str:
    with_sparsity = sparse(table)
    rows = [SPARSE_HEADER if with_sparsity else HEADER]
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
        if with_sparsity:
            cells.append(f"{n_of_m(layer.density)}:{BLOCK_SIZE}")
        rows.append(", ".join(str(c) for c in cells) + ",")
    return "\n".join(rows) + "\n"


def layout(table: LayerTable) -> str:
    rows = [LAYOUT_HEADER] + [f"{safe_name(n)}, " + ", ".join(["1"] * 8) + "," for n in table["name"]]
    return "\n".join(rows) + "\n"


DENSE_SPARSITY = """# Per-layer irregular density (FLOATS) cannot be set here: see README.md."""
DENSE_SPARSITY_SECTION = """[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40"""
SPARSE_SPARSITY = f"""# Per-layer density: the topology's Sparsity column, N:{BLOCK_SIZE} with N = max(1, round(density x {BLOCK_SIZE}))
# (the nearest N:M, not hwsim's exact density: see README.md). OptimizedMapping is false so that
# SCALE-Sim uses each layer's N:M (with true it ignores them and draws a random N per column);
# BlockSize is then not read by SCALE-Sim 3.0.0 and is written as the M used."""
SPARSE_SPARSITY_SECTION = f"""[sparsity]
SparsitySupport : true
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : {BLOCK_SIZE}
RandomNumberGeneratorSeed : 40"""


def config(spec, run_name: str, with_sparsity: bool = False) -> str:
    height, width = array_shape(spec.n_multipliers)
    note, section = (
        (SPARSE_SPARSITY, SPARSE_SPARSITY_SECTION) if with_sparsity else (DENSE_SPARSITY, DENSE_SPARSITY_SECTION)
    )
    return f"""# SCALE-Sim 3.x config written by `hwsim export` from spec {spec.name}.
# ArrayHeight x ArrayWidth = n_multipliers ({spec.n_multipliers}); Bandwidth = io_bandwidth_bits x n_banks
# / weight_bits = {spec.io_bandwidth_bits} x {spec.n_banks} / {spec.weight_bits} words (rounded down).
# Everything else is a default of hwsim's choosing (hwsim's spec has no SRAM sizes or dataflow).
{note}
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

{section}

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
DENSE_LIMIT = (  # a dense export's density line; SPARSE_LIMIT replaces it when the Sparsity column is written
    "**Per-layer irregular density**: SCALE-Sim 3's `[sparsity]` section models N:M block sparsity "
    "(SparsitySupport, BlockSize) set for the whole run, not a per-layer unstructured density; "
    "it is left off (`SparsitySupport : false`)."
)
LIMITS = [
    "**Timing / energy** (tau_read_ns, tau_mult_ns, pJ values): SCALE-Sim counts cycles, not ns or pJ.",
    DENSE_LIMIT,
    "**Dilation, unequal strides**: one Strides column, no dilation (none in the shipped models).",
]


SPARSE_LIMIT = (
    "**Per-layer irregular density**: SCALE-Sim 3's sparsity is N:M block-structured; hwsim's FLOATS "
    "density is unstructured, so each layer gets the nearest N:M, not its exact density (table below)."
)
DENSITY_MAPS = (
    f"**Irregular (FLOATS) density** -> each topology row's `Sparsity` column, `N:{BLOCK_SIZE}` with "
    f"N = max(1, round(density x {BLOCK_SIZE})) (Python round, halves to even; M = {BLOCK_SIZE} = the cfg's "
    "BlockSize), and `[sparsity]` on (SparsitySupport true, SparseRep ellpack_block, OptimizedMapping "
    "false: SCALE-Sim uses each layer's N:M):"
)


def sparsity_table(table: LayerTable, counts: dict[str, np.ndarray]) -> list[str]:
    """README lines: hwsim's exact density and effective MACs (``counts``: the table's count_columns)
    next to the exported N:M, per layer."""
    eff = np.asarray(counts["effective_macs"], np.int64)
    macs = np.asarray(counts["macs"], np.int64)
    lines = ["## Exported N:M per layer (hwsim's exact density vs SCALE-Sim's N:M)", ""]
    lines += ["| layer | hwsim density | exported N:M | N / M | hwsim effective_macs | MACs x N / M |"]
    lines += ["|---|---|---|---|---|---|"]
    for layer in layers(table):
        n = n_of_m(layer.density)
        lines.append(
            f"| `{layer.name}` | {layer.density:.6g} | {n}:{BLOCK_SIZE} | {n / BLOCK_SIZE:.6g} | "
            f"{eff[layer.index]} | {macs[layer.index] * n // BLOCK_SIZE} |"
        )
    return lines + [""]


def export_scalesim(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    base = safe_name(name)
    title = f"SCALE-Sim 3.x export of {name}"
    counts = count_columns(table)
    with_sparsity = sparse(table)
    if with_sparsity:
        limits = [SPARSE_LIMIT if m == DENSE_LIMIT else m for m in LIMITS]
        exported, extra = {"density": DENSITY_MAPS}, sparsity_table(table, counts)
    else:
        limits, exported, extra = LIMITS, None, None
    text = readme(table, spec, name, title, MAPS, limits, counts=counts, exported=exported, extra=extra)
    return {
        f"{base}_topology.csv": topology(table),
        f"{base}_layout.csv": layout(table),
        f"{base}.cfg": config(spec, name, with_sparsity),
        "README.md": text,
    }
