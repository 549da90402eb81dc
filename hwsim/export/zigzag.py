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
from .common import Layer, identifier, layers, readme, sparse

CONV_EQUATION = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
GEMM_EQUATION = "O[b][k]+=I[b][c]*W[c][k]"
ADD_EQUATION = "O[g][c][fy][fx]=W[g][c][fy][fx]+I[g][c][fy][fx]"
I_BITS, O_BITS, O_FINAL_BITS = 8, 16, 8  # a spec without a hierarchy section gives no activation widths


def precision_of(spec) -> dict[str, int]:
    """ZigZag's operand precisions: W the spec's weight_bits; I and O_final the hierarchy's
    activation_bits and O its psum_bits (without a hierarchy section: hwsim's choice of 8 / 16 / 8)."""
    h = spec.hierarchy
    if h is None:
        return {"W": spec.weight_bits, "I": I_BITS, "O": O_BITS, "O_final": O_FINAL_BITS}
    return {"W": spec.weight_bits, "I": h.activation_bits, "O": h.psum_bits, "O_final": h.activation_bits}


def entry(layer: Layer, source: int, precision: dict[str, int]) -> dict:
    precision = dict(precision)
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


def workload(table: LayerTable, precision: dict[str, int], noise: np.ndarray) -> list[dict]:
    """The entries in order: each layer's (id = its table row), each noisy layer's noise add just before
    it (id = number of rows + the layer's row). ``noise``: hwsim's noise_add_ops per row."""
    out, prev = [], None
    for layer in layers(table):
        if noise[layer.index] > 0:
            out.append(noise_add(layer, len(table) + layer.index, precision["W"]))
        chained = prev is not None and (prev.out_channels, prev.out_h, prev.out_w) == (
            layer.in_channels,
            layer.in_h,
            layer.in_w,
        )
        out.append(entry(layer, prev.index if chained else layer.index, precision))
        if layer.op != "film_linear":  # a FiLM MLP branches off: the main chain skips it
            prev = layer
    return out


MAPS = [
    "Every conv row -> a Conv entry; every linear and FiLM-linear row -> a Gemm entry (B = output positions).",
    "Loop sizes B K C OY OX FY FX (C = C_i / groups), strides and dilations in `dimension_relations`, "
    "unpadded input sizes in `pr_loop_sizes`, padding in `padding`.",
    "`operand_source`: I = the previous conv / linear layer (FiLM MLP rows skipped) when its output "
    "shape is this layer's input (a plain chain), else the layer itself (external input). Residual / FiLM wiring is not followed.",
]
PRECISION_MAPS = {
    False: f"`operand_precision`: W = the spec's weight_bits; I = {I_BITS}, O = {O_BITS}, O_final = {O_FINAL_BITS} "
    "(hwsim's choice: the spec has no hierarchy section, so no activation width).",
    True: "`operand_precision`: W = memory.weight_bits, I = O_final = hierarchy.activation_bits, O = hierarchy.psum_bits.",
}
HARDWARE_MAPS = [
    "`accelerator.yaml`: the spec's hierarchy as ZigZag memories, lowest first: `local` (capacity_bytes x 8 bits per "
    "PE, served_dimensions []), `global_buffer` and `dram` (served D1 D2; dram's size 2^40 bits: hwsim's DRAM is "
    "unbounded), each one memory shared by I1 I2 O as hwsim's capacities are; r_cost / w_cost = hwsim's pJ per "
    "word_bits access x the port's bandwidth_max / word_bits (ZigZag prices accesses of a port's width). A level "
    "of at least 4 words per cycle has four ports of a quarter of its bandwidth (weights read, inputs read, "
    "partial sums / outputs read, all writes), a narrower one a single read-write port. The operational array "
    "is `array.rows x array.cols` (D1 x D2) at `mac_pj` per MAC.",
    "`mapping.yaml`: the dataflow's spatial unroll, D1 (rows) and D2 (columns) at the array's sizes, for Conv "
    "(`default`), Gemm (output positions = B) and Add (FLOAT's noise: C on D1, G on D2); the temporal mapping is "
    "left to ZigZag's search (LOMA).",
    'Run: `python -c "from zigzag.api import get_hardware_performance_zigzag as run; '
    "print(run('workload.yaml', 'accelerator.yaml', 'mapping.yaml', opt='energy')[:2])\"` (zigzag-dse 3.9.1).",
]
NOISE_MAPS = (
    "**FLOAT noise add** (theta + lambda alpha eta) -> an `Add` entry `<layer>.noise_add` just before each "
    "noisy layer, over its weight tensor (loop dims G C FY FX = C_o, C_i / groups, k_h, k_w: one add per "
    "weight), id = number of layers + the layer's row. The conv / linear keeps its own W (not wired to the "
    "add's output). With masked noise (noise_on_pruned: false) hwsim counts adds on kept weights only, "
    "the Add the dense shape:"
)
NO_HARDWARE = (
    "**Architecture / mapping**: not written: spec `{spec}` has no hierarchy section (Eq. 7-9's flat memory has "
    "no levels or capacities to map). Export with `--spec eyeriss-65nm`, or a spec with a hierarchy section, for "
    "ZigZag to simulate hwsim's hardware."
)
DENSITY_CHANGED = (
    "**Irregular (FLOATS) density, written dense**: ZigZag's workload has no density field, so its layers are "
    "written dense, the nearest form, and ZigZag counts their dense MACs (hwsim's density per layer below)."
)
LIMITS = [
    "**Groups**: C = C_i / groups keeps the MACs; ZigZag's grouped-conv G dimension is not used in Conv entries.",
    "**OAT FiLM modulation**: ZigZag 3.9.1 has no element-wise multiply operator (its MLP linears are Gemm entries).",
]
# ZigZag's names for hwsim's loops (hwsim.costs.hierarchy.DIMS), per operator type: a Gemm entry's
# output positions are its B loop (Conv's OX / OY); FY FX are always 1 there.
ZIGZAG_DIM = {"Conv": {"K": "K", "C": "C", "X": "OX", "Y": "OY"}, "Gemm": {"K": "K", "C": "C", "X": "B", "Y": "B"}}
MEMORY_OPERANDS = {"O": "O", "W": "I2", "I": "I1"}  # ZigZag's memory operands of the layer operands


SPLIT_PORTS = (  # a level of 4 or more words per cycle: four ports, each a quarter of its bandwidth
    ("r_port_1", "read", ["I2, tl"]),  # weights to the level below (the MACs, or the PEs)
    ("r_port_2", "read", ["I1, tl"]),  # inputs to the level below
    ("r_port_3", "read", ["O, tl", "O, th"]),  # partial sums down, outputs up
    ("w_port_1", "write", ["O, fl", "O, fh", "I1, fh", "I2, fh"]),  # every write
)
ONE_PORT = ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"]


def ports(level) -> list[dict]:
    """ZigZag ports for an hwsim level of ``bandwidth_bits`` per cycle in accesses of ``word_bits``.
    ZigZag serialises the transfers that share a port, one access per cycle each, where hwsim's
    roofline divides all bits by the bandwidth; so a level of at least four words per cycle becomes
    four ports (weights, inputs, partial sums and outputs read, all writes) of a quarter of the
    bandwidth each, and a narrower level one read-write port of the whole bandwidth."""
    words = level.bandwidth_bits // level.word_bits
    if words >= len(SPLIT_PORTS):
        width = level.bandwidth_bits // len(SPLIT_PORTS)
        return [
            {"name": name, "type": kind, "bandwidth_min": min(level.word_bits, width), "bandwidth_max": width,
             "allocation": list(allocation)}
            for name, kind, allocation in SPLIT_PORTS
        ]  # fmt: skip
    return [
        {"name": "rw_port_1", "type": "read_write", "bandwidth_min": min(level.word_bits, level.bandwidth_bits),
         "bandwidth_max": level.bandwidth_bits, "allocation": list(ONE_PORT)}
    ]  # fmt: skip


def _memory(size_bits: int, level, served: list[str]) -> dict:
    """A ZigZag memory from an hwsim level, shared by W, I and O as hwsim's capacities are. ZigZag prices
    an access of a port's ``bandwidth_max`` bits at r_cost / w_cost: hwsim's pJ per ``word_bits`` access
    scaled to that width (the same pJ per bit)."""
    width = ports(level)[0]["bandwidth_max"] / level.word_bits
    return {
        "size": int(size_bits),
        "r_cost": round(level.read_pj.value * width, 6),
        "w_cost": round(level.write_pj.value * width, 6),
        "area": 0.0,
        "latency": 1,
        "operands": ["I1", "I2", "O"],
        "ports": ports(level),
        "served_dimensions": served,
    }


DRAM_BITS = 1 << 40  # ZigZag needs a size for its top memory: hwsim's DRAM is unbounded


def accelerator(spec) -> dict:
    """ZigZag's accelerator for a spec with a hierarchy section: each PE's local storage (served
    dimensions none: one per PE), the global buffer and DRAM (served D1 D2: shared by the array), lowest
    first, each one memory shared by W, I and O as hwsim's capacities are; the operational array
    ``rows x cols`` at ``mac_pj`` per MAC."""
    h = spec.hierarchy
    return {
        "name": identifier(spec.name),
        "memories": {
            "local": _memory(h.local.capacity_bytes * 8, h.local, []),
            "global_buffer": _memory(h.global_buffer.capacity_bytes * 8, h.global_buffer, ["D1", "D2"]),
            "dram": _memory(DRAM_BITS, h.dram, ["D1", "D2"]),
        },
        "operational_array": {
            "unit_energy": h.mac_pj.value,
            "unit_area": 0.0,
            "dimensions": ["D1", "D2"],
            "sizes": [h.array.rows, h.array.cols],
        },
    }


def mapping(spec) -> list[dict]:
    """ZigZag's mapping: the dataflow's spatial unroll (D1 = the array rows, D2 = its columns, at their
    sizes; ZigZag clips a loop shorter than its side), per operator type; the temporal mapping is left
    to ZigZag's own search."""
    from ..costs.hierarchy import SPATIAL

    h = spec.hierarchy
    rows, cols = SPATIAL[h.dataflow]
    out = []
    for op, names in ZIGZAG_DIM.items():
        out.append(
            {
                "name": "default" if op == "Conv" else op,
                "spatial_mapping": {"D1": [f"{names[rows]}, {h.array.rows}"], "D2": [f"{names[cols]}, {h.array.cols}"]},
                "memory_operand_links": dict(MEMORY_OPERANDS),
            }
        )
    out.append(
        {
            "name": "Add",  # FLOAT's noise add over a weight tensor: its C on the rows, its G (= C_o) on the columns
            "spatial_mapping": {"D1": [f"C, {h.array.rows}"], "D2": [f"G, {h.array.cols}"]},
            "memory_operand_links": dict(MEMORY_OPERANDS),
        }
    )
    return out


def export_zigzag(table: LayerTable, spec, *, name: str = "model") -> dict[str, str]:
    """``workload.yaml`` and README.md; with a hierarchy section in ``spec`` also ``accelerator.yaml``
    and ``mapping.yaml``, so that ZigZag simulates the spec's hardware."""
    hardware = spec.hierarchy is not None

    def head(what: str) -> str:
        return (
            f"# ZigZag (zigzag-dse 3.x) {what} written by `hwsim export` from {name} (spec {spec.name}).\n"
            "# See README.md for what maps and what is not expressed.\n"
        )

    def dump(data) -> str:
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)

    counts = count_columns(table)
    noise = np.asarray(counts["noise_add_ops"], np.int64)
    files = {
        "workload.yaml": head("workload: one entry per conv / linear / FiLM-linear layer, an Add per FLOAT noise add")
        + dump(workload(table, precision_of(spec), noise))
    }
    maps = [*MAPS, PRECISION_MAPS[hardware]]
    limits = list(LIMITS)
    if hardware:
        files["accelerator.yaml"] = head("accelerator") + dump(accelerator(spec))
        files["mapping.yaml"] = head("mapping") + dump(mapping(spec))
        maps += HARDWARE_MAPS
    else:
        limits.insert(0, NO_HARDWARE.format(spec=spec.name))
    files["README.md"] = readme(
        table, spec, name, f"ZigZag export of {name}", maps, limits, counts=counts,
        exported={"noise": NOISE_MAPS} if noise.any() else None,
        changed={"density": DENSITY_CHANGED} if sparse(table) else None,
    )  # fmt: skip
    return files
