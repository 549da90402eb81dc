"""Timeloop v0.4: one CNN-layer problem YAML per conv / linear / FiLM-linear row and, for a spec with a
``hierarchy`` section, the architecture, its Accelergy energy table (ERT) and a mapper file.

Problem files: the v0.4 CNN layer of upstream's examples, key for key:

* Accelergy-Project/timeloop-accelergy-exercises @ 2d5510807128e9bd5f1cad0705cdf2ec4612fd4e,
  ``workspace/example_designs/layer_shapes/CONV/AlexNet/AlexNet_layer1.yaml`` (the shape, ``name:
  CNN_Layer``: coefficients, ``data_spaces`` with ``read_write``, dimensions), and
  ``workspace/example_designs/example_designs/_include/default_problem.yaml`` (the instance keys C H
  Hdilation Hpad Hstride M N P Q R S W Wdilation Wpad Wstride, sorted as there: H, W the unpadded
  input height and width, Hpad, Wpad the padding per side; its 3 x 3 stride-2 layer on 224 x 224 with
  Hpad = 1 has P = Q = 112); ``.../sparseloop/04.2.1-eyeriss-like-gating/problem.yaml`` writes a pruned
  tensor's ``instance.densities``. (The older ``exercises/timeloop+accelergy/cnn-layer.prob.yaml``
  spells it ``data-spaces`` / ``read-write`` / ``CNN-Layer`` with K, no ``version``: the pre-v0.4
  format this module wrote before.)
* Timeloop's convention (from the projections): R, P are the filter and output WIDTH (with Wstride,
  Wdilation, W, Wpad), S, Q the HEIGHT; C input channels, M output channels, N batch (1). Timeloop's
  own parser (NVlabs/timeloop @ 4cf6d4c, ``src/workload/workload.cpp``) reads only the dimensions, the
  coefficients and ``densities``: H, W, Hpad, Wpad are for the reader, P and Q (the padded conv's output
  sizes) are what it computes with, reading ``(P - 1) * stride + (R - 1) * dilation + 1`` inputs per axis.
  Groups: C is ``C_i / groups`` (each output channel's inputs), so MACs = C M R S N P Q equal hwsim's;
  the grouping itself is not expressed (every shipped model has groups = 1). Irregular (FLOATS)
  weight density < 1: ``instance.densities.Weights = {distribution: fixed_structured, density:
  <hwsim's exact density>}``, as exercise 04.2.1 writes its pruned weights' density.

Hardware (``arch.yaml``, ``ERT.yaml``, ``mapper.yaml``; none for a spec without a hierarchy section):
the v0.4 architecture of the exercises' ``example_designs/{eyeriss_like,simple_weight_stationary}/
arch.yaml`` (``architecture: {version: 0.4, nodes: [!Container / !Component ...]}``): the system,
DRAM, the accelerator container (technology, clock), the global buffer, a ``PE`` container whose
spatial fanout is ``meshX = array.cols`` x ``meshY = array.rows``, each PE's local store and the MAC.
Storage attributes are Timeloop's (``src/model/buffer.cpp``): ``width`` bits per access and
``datawidth`` bits per word (block = width / datawidth words an access), ``depth`` rows (capacity =
depth x width bits), ``shared_bandwidth`` words per cycle for reads and writes together, as hwsim's
``bandwidth_bits`` is. The ERT is Accelergy's v0.4 output format (the exercises'
``tutorial_exercises/02_interface_and_design_space_exploration_2024/outputs/ERT.yaml``): per
component, ``read`` / ``write`` / ``update`` / ``leak`` per access of ``width`` bits and the MAC's
``compute``, which Timeloop uses instead of its own energy model (``src/model/topology.cpp``
ParseAccelergyERT; component names match on the last dotted part, ranges dropped).

:mod:`hwsim.export.timeloop_schema` holds upstream's key sets and the strict check the tests and
``benchmarks/timeloop_parse.py`` run (timeloopfe alone accepts invented instance and attribute keys);
``benchmarks/timeloop_run.py`` runs NVlabs/timeloop's ``timeloop-mapper`` (built from source) on the export.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..costs.metrics import count_columns
from ..workload.table import LayerTable
from .common import Layer, identifier, layers, readme, safe_name, sparse
from .timeloop_schema import Quoted, Tagged, dump

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
ARCH_FILE, ERT_FILE, MAPPER_FILE = "arch.yaml", "ERT.yaml", "mapper.yaml"


def instance(layer: Layer) -> dict:
    """The instance, keys in default_problem.yaml's (sorted) order; ``densities`` only when density < 1."""
    out: dict = {
        "C": layer.channels_per_group,
        "H": layer.in_h,
        "Hdilation": layer.dilation_h,
        "Hpad": layer.padding_h,
        "Hstride": layer.stride_h,
        "M": layer.out_channels,
        "N": 1,
        "P": layer.out_w,
        "Q": layer.out_h,
        "R": layer.kernel_w,
        "S": layer.kernel_h,
        "W": layer.in_w,
        "Wdilation": layer.dilation_w,
        "Wpad": layer.padding_w,
        "Wstride": layer.stride_w,
    }
    if layer.density < 1:
        out["densities"] = {"Weights": {"distribution": DISTRIBUTION, "density": layer.density}}
    return out


def problem(layer: Layer) -> str:
    head = (
        f"# Timeloop v0.4 problem: hwsim layer {layer.name!r} ({layer.op}), row {layer.index}.\n"
        f"# Input H x W = {layer.in_h} x {layer.in_w}, padding Hpad x Wpad = {layer.padding_h} x {layer.padding_w} "
        f"(Timeloop computes with P, Q, the padded conv's outputs); groups = {layer.groups} (C is C_i / groups); "
        f"weight density {layer.density:.6g}{' (instance.densities)' if layer.density < 1 else ''}.\n"
    )
    return head + dump({"problem": {"version": 0.4, "instance": instance(layer), "shape": SHAPE}})


# --- hardware: the spec's hierarchy section ------------------------------------------------------
TIMELOOP_DIM = {"K": "M", "C": "C", "Y": "Q", "X": "P"}  # hwsim's loops (hierarchy.DIMS) in Timeloop's names
TOP_LEVEL = "system_top_level"  # timeloopfe's v4_to_v3 names the top level after the first container
# timeloopfe requires a depth for DRAM too, and Timeloop reads it as 32 bits (buffer.cpp): 2^31 words stand for
# hwsim's unbounded DRAM
DRAM_WORDS = 1 << 31
KEEP_ALL = {"dataspace": {"keep": ["Inputs", "Outputs", "Weights"]}}  # hwsim: every operand passes every level


@dataclass(frozen=True)
class Level:
    """An hwsim level in Timeloop's terms: ``width`` bits per access of ``block`` words of ``datawidth`` bits."""

    name: str
    source: object  # the spec's OffChip / OnChip entry
    datawidth: int
    instances: int

    @property
    def block(self) -> int:
        # Timeloop asserts width % datawidth == 0: the nearest whole number of words per access
        return max(1, round(self.source.word_bits / self.datawidth))

    @property
    def width(self) -> int:
        return self.block * self.datawidth

    @property
    def scale(self) -> float:
        """ERT energy per access of ``width`` bits / hwsim's per access of ``word_bits`` (same pJ per bit)."""
        return self.width / self.source.word_bits

    @property
    def depth(self) -> int:
        if not hasattr(self.source, "capacity_bytes"):  # DRAM: hwsim's is unbounded
            return DRAM_WORDS // self.block
        return self.source.capacity_bytes * 8 // self.width

    def attributes(self) -> dict:
        words = self.source.bandwidth_bits / self.datawidth
        return {
            "depth": self.depth,
            "width": self.width,
            "datawidth": self.datawidth,
            "shared_bandwidth": _number(words),
        }


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(float(x), 6)


def datawidth(spec) -> int:
    """Timeloop's one word width per level: the widest of hwsim's weight, activation and partial-sum bits."""
    h = spec.hierarchy
    return max(spec.weight_bits, h.activation_bits, h.psum_bits)


def levels(spec) -> list[Level]:
    h, bits = spec.hierarchy, datawidth(spec)
    pes = h.array.rows * h.array.cols
    return [
        Level("DRAM", h.dram, bits, 1),
        Level("global_buffer", h.global_buffer, bits, 1),
        Level("local", h.local, bits, pes),
    ]


def spatial_dims(spec) -> tuple[str, str]:
    """Timeloop's names of the loops the dataflow unrolls over the array (rows, columns)."""
    from ..costs.hierarchy import SPATIAL

    rows, cols = SPATIAL[spec.hierarchy.dataflow]
    return TIMELOOP_DIM[rows], TIMELOOP_DIM[cols]


def architecture(spec) -> dict:
    """The v0.4 architecture of a spec with a hierarchy section (the exercises' node layout)."""
    h = spec.hierarchy
    dram, glb, local = levels(spec)
    rows, cols = spatial_dims(spec)
    others = [d for d in SHAPE["dimensions"] if d not in (rows, cols)]
    # every dimension listed: timeloopfe's permutation optimizer puts unlisted unit loops first, which
    # would move the split; the split puts the first entry on X (columns), the rest on Y (uber.cpp)
    spatial = {"permutation": [cols, rows, *others], "split": 1, "factors": [f"{d}=1" for d in others]}
    nodes = [
        Tagged("!Container", {"name": "system"}),
        Tagged("!Component", {"name": dram.name, "class": "DRAM", "attributes": dram.attributes()}),
        Tagged("!Container", {"name": identifier(spec.name), "attributes": {
            "technology": Quoted(h.mac_pj.node), "global_cycle_seconds": 1e-6 / h.clock_mhz}}),
        Tagged("!Component", {"name": glb.name, "class": "SRAM", "attributes": glb.attributes(),
                              "constraints": KEEP_ALL}),
        Tagged("!Container", {"name": "PE", "spatial": {"meshX": h.array.cols, "meshY": h.array.rows},
                              "constraints": {"spatial": spatial}}),
        Tagged("!Component", {"name": local.name, "class": "SRAM", "attributes": local.attributes(),
                              "constraints": KEEP_ALL}),
        Tagged("!Component", {"name": "mac", "class": "intmac", "attributes": {
            "multiplier_width": max(spec.weight_bits, h.activation_bits), "adder_width": h.psum_bits}}),
    ]  # fmt: skip
    return {"architecture": {"version": 0.4, "nodes": nodes}}


def energy_table(spec) -> dict:
    """Accelergy's ERT (v0.4) of the spec's own energies: per level read / write / update (a partial-sum
    update is a write in hwsim) per access of ``width`` bits, no leakage (hwsim has none); the MAC's compute."""
    h = spec.hierarchy
    tables = []
    for level in levels(spec):
        read = level.source.read_pj.value * level.scale
        write = level.source.write_pj.value * level.scale
        actions = [("read", read), ("write", write), ("update", write), ("leak", 0.0)]
        tables.append({
            "name": f"{TOP_LEVEL}.{level.name}[1..{level.instances}]",
            "actions": [{"name": a, "arguments": {}, "energy": round(e, 6)} for a, e in actions],
        })  # fmt: skip
    mac = [("compute", h.mac_pj.value), ("leak", 0.0)]
    tables.append({
        "name": f"{TOP_LEVEL}.mac[1..{h.array.rows * h.array.cols}]",
        "actions": [{"name": a, "arguments": {}, "energy": e} for a, e in mac],
    })  # fmt: skip
    return {"ERT": {"version": "0.4", "tables": tables}}


MAPPER = {  # the exercises' _include/mapper.yaml, but delay first, then energy: hwsim unrolls the dataflow's loops
    # over the whole array, then picks the tiles of least traffic (energy first, the mapper kept 4 of 168 PEs busy)
    "mapper": {"version": 0.4, "optimization_metrics": ["delay", "energy"], "live_status": False, "timeout": 10000,
               "victory_condition": 100, "algorithm": "random", "diagnostics": False}
}  # fmt: skip


MAPS = [
    "Every conv, linear and FiLM-linear row -> one `NNN_<layer>.yaml` CNN-layer problem (N = 1).",
    "R, S = kernel width, height; P, Q = output width, height; C = C_i / groups; M = C_o; strides, dilations.",
    "Input size and padding: `W`, `H` = the unpadded input width, height and `Wpad`, `Hpad` = the padding per "
    "side, the keys of upstream's v0.4 example problem (`_include/default_problem.yaml`). Timeloop's parser reads "
    "only the dimensions and coefficients: P, Q (the padded conv's outputs) are what it computes with, reading "
    "(P-1) x stride + (R-1) x dilation + 1 inputs per axis.",
]
DENSE_LIMIT = (  # a dense export's density line; dropped when instance.densities is written
    "**Per-layer irregular density**: Timeloop's sparse extensions (Sparseloop) take a density per "
    "data space; it is not written (the README table below lists each layer's)."
)
NO_HARDWARE = (
    "**Architecture / energy table / mapper**: not written: spec `{spec}` has no hierarchy section (Eq. 7-9's flat "
    "memory has no levels or capacities to map). Export with `--spec eyeriss-65nm`, or a spec with a hierarchy "
    "section, for Timeloop to model hwsim's hardware."
)
LIMITS = [
    "**Groups**: C = C_i / groups keeps the MACs, but which inputs each group reads is not expressed.",
    DENSE_LIMIT,
]
DENSITY_MAPS = (
    "**Irregular (FLOATS) density** -> `instance.densities: {Weights: {distribution: fixed_structured, "
    "density: <hwsim's exact density>}}` on each layer with density < 1 (Sparseloop's field; fixed_structured, "
    "as the Timeloop exercises write pruned weights, spreads the density evenly over every tile, where "
    "hwsim's masks are unstructured):"
)
CHECKED = (
    "**Checked**: timeloopfe (Timeloop's v0.4 front-end, Accelergy-Project/timeloop-python @ b8aaf2c) parses every "
    "file and `hwsim.export.timeloop_schema`'s strict check of upstream's key sets passes "
    "(`benchmarks/timeloop_parse.py`; timeloopfe alone accepts invented instance and attribute keys)."
)
CHECKED_RUN = (
    "**Run with the real Timeloop**: NVlabs/timeloop's `timeloop-mapper` (@ 4cf6d4c, built from source) maps "
    "exported ResNet34 layers with this architecture and ERT (`benchmarks/timeloop_run.py`): its MAC energy is "
    "hwsim's to the pJ; levels and cycles differ by the mapping each tool picks (hwsim's README has the table)."
)


def hardware_maps(spec) -> list[str]:
    h = spec.hierarchy
    dram, glb, local = levels(spec)
    rows, cols = spatial_dims(spec)
    bits = datawidth(spec)

    def level_line(level: Level, what: str) -> str:
        a = level.attributes()
        size = f"depth {a['depth']} rows" + (
            "" if hasattr(level.source, "capacity_bytes") else " (2^31 words: hwsim's DRAM is unbounded, "
            "timeloopfe requires a depth and Timeloop reads it as 32 bits)")  # fmt: skip
        return (f"`{level.name}` ({what}): width {a['width']} bits per access (hwsim's word_bits "
                f"{level.source.word_bits}), {size}, shared_bandwidth {a['shared_bandwidth']} words of {bits} bits "
                f"per cycle (hwsim's {level.source.bandwidth_bits} bits per cycle, reads and writes together)")  # fmt: skip

    return [
        f"`{ARCH_FILE}` (v0.4 `architecture.nodes`): system -> "
        + level_line(dram, "class DRAM")
        + f" -> accelerator container `{identifier(spec.name)}` (technology `{h.mac_pj.node}`, global_cycle_seconds = "
        f"1 / {h.clock_mhz:g} MHz) -> "
        + level_line(glb, f"class SRAM, {glb.source.capacity_bytes} B")
        + f" -> container `PE`, spatial meshX {h.array.cols} (array.cols) x meshY {h.array.rows} (array.rows) -> "
        + level_line(local, f"class SRAM, {local.source.capacity_bytes} B per PE")
        + f" -> `mac` (intmac). datawidth = {bits} bits (memory.weight_bits {spec.weight_bits}, activation_bits "
        f"{h.activation_bits}, psum_bits {h.psum_bits}). The global buffer and the local store keep Inputs, Outputs "
        "and Weights (hwsim moves every operand through every level).",
        f"Dataflow `{h.dataflow}` -> the `PE` container's spatial constraint: {cols} over the columns (meshX), "
        f"{rows} over the rows (meshY) (permutation [{cols}, {rows}, ...], split 1), every other dimension 1; the temporal "
        "mapping is left to Timeloop's mapper.",
        f"`{ERT_FILE}` (Accelergy's v0.4 energy reference table, which Timeloop uses instead of its own models): per "
        "level `read` = hierarchy read_pj, `write` = `update` = write_pj per access of `width` bits, `leak` 0; "
        f"`mac` `compute` = mac_pj ({h.mac_pj.value:g} pJ). So Timeloop prices the accesses at hwsim's energies.",
        f"`{MAPPER_FILE}`: the exercises' mapper settings with optimization_metrics [delay, energy] (hwsim unrolls the dataflow's loops over the whole array, then takes the tiles of least traffic).",
        "Run (timeloopfe + timeloop-mapper): `Specification.from_yaml_files(['arch.yaml', 'mapper.yaml', "
        "'NNN_<layer>.yaml'])`, then `call_mapper(spec, out_dir, extra_input_files=['ERT.yaml'])`; latency = "
        f"Timeloop's cycles x {1e3 / h.clock_mhz:g} ns.",
    ]


def hardware_limits(spec) -> list[str]:
    h = spec.hierarchy
    out = [
        "**hwsim's mapping**: its tiles and loop orders (hwsim.costs.hierarchy) are not written; Timeloop's mapper "
        "searches its own. Timeloop factorises each loop exactly, so a loop the array side does not divide uses "
        "fewer PEs (e.g. C = 64 on 12 rows: 8), where hwsim's ceil tiles use all and idle the last.",
        "**Per-operand word widths**: Timeloop has one datawidth per storage level; hwsim's weight / activation / "
        f"partial-sum widths are {spec.weight_bits} / {h.activation_bits} / {h.psum_bits} bits.",
        "**Clock**: Timeloop counts cycles (global_cycle_seconds is Accelergy's, for leakage); hwsim's latency is "
        "cycles at `clock_mhz`.",
        "**hwsim's method extras on this hardware** (FLOAT's noise on weights entering the array, OAT's FiLM "
        "modulation, `memory.sparse_reads`, `compute.zero_skipping`): no Timeloop component or Sparseloop "
        "`sparse_optimizations` is written, so Timeloop skips no zero MAC and compresses no tensor.",
    ]
    return out


def hardware_changed(spec) -> list[str]:
    """Levels whose word_bits is not a whole number of datawidth words (Timeloop asserts it): the width used."""
    return [
        f"**{level.name} access width**: hwsim's word_bits {level.source.word_bits} is not a multiple of the "
        f"datawidth {level.datawidth}; written width {level.width} bits, its ERT energies scaled x{level.scale:.4g} "
        "(the same pJ per bit)."
        for level in levels(spec)
        if level.width != level.source.word_bits
    ]


def export_timeloop(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    """A problem file per layer and README.md; with a hierarchy section in ``spec`` also the architecture,
    its energy table and a mapper file, so that Timeloop models the spec's hardware."""
    files = {f"{layer.index:03d}_{safe_name(layer.name)}.yaml": problem(layer) for layer in layers(table)}
    title = f"Timeloop v0.4 export of {name}"
    counts = count_columns(table)
    limits, exported = (LIMITS, None) if not sparse(table) else (
        [m for m in LIMITS if m != DENSE_LIMIT], {"density": DENSITY_MAPS})  # fmt: skip
    maps, extra = [*MAPS, CHECKED], None
    if spec.hierarchy is None:
        limits = [NO_HARDWARE.format(spec=spec.name), *limits]
    else:
        head = f"# Timeloop v0.4 {{}} written by `hwsim export` from {name} (spec {spec.name}); see README.md.\n"
        files[ARCH_FILE] = head.format("architecture") + dump(architecture(spec))
        files[ERT_FILE] = head.format("energy reference table (Accelergy ERT)") + dump(energy_table(spec))
        files[MAPPER_FILE] = head.format("mapper settings") + dump(MAPPER)
        maps += [*hardware_maps(spec), CHECKED_RUN]
        limits = [*hardware_limits(spec), *limits]
        changed = hardware_changed(spec)
        extra = ["## What was changed (hardware)", "", *[f"- {c}" for c in changed], ""] if changed else None
    files["README.md"] = readme(table, spec, name, title, maps, limits, counts=counts, exported=exported, extra=extra)
    return files
