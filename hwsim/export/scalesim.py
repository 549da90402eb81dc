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
* Hardware: with a hierarchy section (``hwsim.costs.hierarchy``) the cfg carries the spec's array
  (``ArrayHeight x ArrayWidth`` = ``array.rows x array.cols``), its dataflow (ws / os / is), its
  global buffer split in three equal SRAMs (SCALE-Sim has separate ifmap, filter and ofmap SRAMs;
  hwsim's buffer is shared) in SCALE-Sim's 1-byte words (``capacity_bytes / 3 / bytes per element``),
  and its DRAM bandwidth as ``Bandwidth`` words per cycle (``dram.bandwidth_bits / activation_bits``,
  ``InterfaceBandwidth: USER``). Without one, the array is square-ish with ``n_multipliers`` PEs
  (height: the largest divisor <= sqrt; a prime gives 1 x n), ``Bandwidth`` =
  ``io_bandwidth_bits * n_banks / weight_bits`` words (rounded down, at least 1), SRAMs of 64 KB,
  ws, ``InterfaceBandwidth: CALC``: defaults of hwsim's choosing, as in benchmarks/peers/scalesim.
* Sparsity: never written. SCALE-Sim 3.0.0's N:M sparsity (a ``Sparsity`` topology column, the cfg's
  ``[sparsity]``) reports its ``Overall Util %`` as the dense work over the sparse cycles: the
  nearest N:8 of FLOATS-i's density (1:8) gave 758.52% and 426.67% on two ResNet34 layers (run here,
  scalesim 3.0.0). So sparse layers are written dense, ``SparsitySupport : false``, and README.md
  says so with hwsim's exact density and effective MACs per layer.

Verified against scalesim 3.0.0 (the PyPI wheel, read): ``topology_utils.load_arrays_conv`` (the last
field, after the trailing comma, dropped), ``scale_config.read_conf_file`` (every key written here),
``single_layer_sim.calc_report_data`` (``overall_util = num_compute / (total_cycles x PEs)``, with
``num_compute`` the dense ofmap pixels x window), ``memory/read_buffer.py`` (``word_size = 1`` byte);
run in benchmarks/crossval.py on the exported cfg of the hierarchy spec.
"""

from __future__ import annotations

import math

from ..costs.metrics import count_columns
from ..workload.table import LayerTable
from .common import Layer, layers, readme, safe_name, sparse

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
LAYOUT_HEADER = "Layer name, a, b, c, d, e, f, g, h,"
DATAFLOW = {"weight-stationary": "ws", "output-stationary": "os", "input-stationary": "is"}
DEFAULT_SRAM_KB = 64  # each of the three SRAMs, without a hierarchy section


def array_shape(n_multipliers: int) -> tuple[int, int]:
    """(ArrayHeight, ArrayWidth): product n_multipliers, height the largest divisor <= sqrt(n)."""
    height = max(d for d in range(1, math.isqrt(n_multipliers) + 1) if n_multipliers % d == 0)
    return height, n_multipliers // height


def bandwidth_words(spec) -> int:
    """DRAM words per cycle: the hierarchy's DRAM bandwidth over its activation width, else Eq. 7's
    io_bandwidth_bits x n_banks over weight_bits (rounded down, at least 1)."""
    h = spec.hierarchy
    if h is not None:
        return max(1, h.dram.bandwidth_bits // h.activation_bits)
    return max(1, (spec.io_bandwidth_bits * spec.n_banks) // spec.weight_bits)


def sram_kb(spec) -> dict[str, int]:
    """SCALE-Sim's three SRAM sizes in KB of its 1-byte words: the hierarchy's global buffer split in
    three (elements of ceil(bits / 8) bytes each), else 64 KB each."""
    h = spec.hierarchy
    if h is None:
        return dict.fromkeys(("Ifmap", "Filter", "Ofmap"), DEFAULT_SRAM_KB)
    share = h.global_buffer.capacity_bytes / 3
    size = lambda bits: max(1, int(share // -(-bits // 8) // 1024))  # noqa: E731
    return {"Ifmap": size(h.activation_bits), "Filter": size(spec.weight_bits), "Ofmap": size(h.activation_bits)}


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
    h = spec.hierarchy
    height, width = (h.array.rows, h.array.cols) if h is not None else array_shape(spec.n_multipliers)
    sram = sram_kb(spec)
    if h is not None:
        source = (
            f"# Carries spec {spec.name}'s hardware: its {height} x {width} PE array, its dataflow ({h.dataflow}),\n"
            f"# its {h.global_buffer.capacity_bytes} B global buffer split in three SRAMs of 1-byte words\n"
            f"# (hwsim's buffer is shared; SCALE-Sim's three are separate) and its DRAM bandwidth\n"
            f"# {h.dram.bandwidth_bits} bits per cycle as {bandwidth_words(spec)} words of {h.activation_bits} bits."
        )
        dataflow, interface = DATAFLOW[h.dataflow], "USER"
    else:
        source = (
            f"# ArrayHeight x ArrayWidth = n_multipliers ({spec.n_multipliers}); Bandwidth = io_bandwidth_bits x n_banks\n"
            f"# / weight_bits = {spec.io_bandwidth_bits} x {spec.n_banks} / {spec.weight_bits} words (rounded down).\n"
            "# SRAM sizes and the dataflow are defaults of hwsim's choosing (the spec has no hierarchy section)."
        )
        dataflow, interface = "ws", "CALC"
    return f"""# SCALE-Sim 3.x config written by `hwsim export` from spec {spec.name}.
{source}
# Sparsity is never written (SCALE-Sim 3.0.0 reports N:M layers above 100% utilisation): see README.md.
[general]
run_name = {safe_name(run_name)}

[architecture_presets]
ArrayHeight:    {height}
ArrayWidth:     {width}
IfmapSramSzkB:    {sram["Ifmap"]}
FilterSramSzkB:   {sram["Filter"]}
OfmapSramSzkB:    {sram["Ofmap"]}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth_words(spec)}
Dataflow : {dataflow}
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
InterfaceBandwidth: {interface}
UseRamulatorTrace: False
"""


MAPS = [
    "Every conv, linear and FiLM-linear row -> one topology row (a linear is a 1x1 conv on its map).",
    "IFMAP Height / Width = the padded input the kernel sweeps, (out - 1) x stride + kernel (SCALE-Sim has no padding field).",
    "Channels = C_i / groups (SCALE-Sim has no groups), Num Filter = C_o, Strides = stride_h.",
    "`layout.csv`: the placeholder SCALE-Sim 3 requires with custom layouts off.",
]
HARDWARE_MAPS = {
    True: "The cfg carries the spec's hierarchy: ArrayHeight x ArrayWidth = array.rows x array.cols, Dataflow = "
    "the dataflow (weight- / output- / input-stationary -> ws / os / is), the global buffer split in three equal "
    "SRAMs (Ifmap, Filter, Ofmap; SCALE-Sim's are separate, hwsim's is shared) in SCALE-Sim's 1-byte words "
    "(capacity_bytes / 3 / bytes per element), Bandwidth = dram.bandwidth_bits / activation_bits words per cycle "
    "(InterfaceBandwidth USER). SCALE-Sim's systolic mapping is its own (ws: filter rows R x S x C on the rows), "
    "not hwsim's unroll.",
    False: "`n_multipliers` -> ArrayHeight x ArrayWidth (square-ish, product exact); io_bandwidth_bits x n_banks "
    "/ weight_bits -> Bandwidth (words). SRAM sizes, offsets, dataflow (ws): fixed defaults (the spec has no "
    "hierarchy section).",
}
LIMITS = [
    "**Timing / energy** (tau_read_ns, tau_mult_ns, clock, pJ values): SCALE-Sim counts cycles, not ns or pJ.",
    "**Dilation, unequal strides**: one Strides column, no dilation (none in the shipped models).",
]
DENSITY_CHANGED = (
    "**Irregular (FLOATS) density, written dense**: SCALE-Sim 3.0.0's N:M sparsity reports its Overall Util % "
    "as the dense work over the sparse cycles (a 1:8 layer, the nearest N:8 of density 0.0999, gave 426.67%), "
    "so no Sparsity column is written and SCALE-Sim simulates these layers' dense MACs (hwsim's density per "
    "layer in the table below)."
)


def export_scalesim(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    base = safe_name(name)
    counts = count_columns(table)
    maps = [*MAPS, HARDWARE_MAPS[spec.hierarchy is not None]]
    changed = {"density": DENSITY_CHANGED} if sparse(table) else None
    text = readme(table, spec, name, f"SCALE-Sim 3.x export of {name}", maps, LIMITS, counts=counts, changed=changed)
    return {
        f"{base}_topology.csv": topology(table),
        f"{base}_layout.csv": layout(table),
        f"{base}.cfg": config(spec, name),
        "README.md": text,
    }
