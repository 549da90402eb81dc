"""The memory-hierarchy cost model (issue 17): traffic computed by hand, monotonicity, conservation,
the built-in Eyeriss-like spec, grids over hierarchy fields, bad specs, and the exports that carry
the hierarchy (ZigZag's own validators re-read them where zigzag is installed)."""

import configparser
import functools

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import hwsim.costs.hierarchy as H
from hwsim.cli import app
from hwsim.config import HIERARCHY_FIELDS, load_spec
from hwsim.costs import SpecGrid, costs
from hwsim.errors import HwsimError
from hwsim.estimate import estimate_file, layer_table, load_model_and_spec
from hwsim.export import export

from .conftest import MODELS, one_line_error

EYERISS = "eyeriss-65nm"
R34 = MODELS / "resnet34-cifar10-pgdat.yaml"
SMALL = dict(out_channels=[4], in_channels=[2], groups=[1], out_h=[4], out_w=[4], kernel_h=[3], kernel_w=[3],
             stride_h=[1], stride_w=[1], dilation_h=[1], dilation_w=[1], padding_h=[1], padding_w=[1],
             in_h=[4], in_w=[4])  # fmt: skip


@functools.cache
def r34_table():
    config, _ = load_model_and_spec(R34)
    return layer_table(config)


def test_one_small_layer_at_every_level_by_hand():
    """A 3x3 conv, C 2 -> K 4 on a 4x4 map (padding 1), on a 2x2 weight-stationary array (rows C, columns
    K), 16-bit everything, a buffer that holds the whole layer and a PE store of exactly one kernel, its
    3x3 input window and one partial sum (9 + 9 + 1 words = 38 B), so T0 = 1.

    DRAM: every weight (4 x 2 x 9 = 72), every real input (2 x 4 x 4 = 32) once, every output (64) once.
    Buffer -> array: the weights stay in the PEs over the Y X loops (72 once); each input window is
    read once per column group of K (K / 2 = 2 trips): one pass over all 16 one-output tiles reads
    10 of the 6 padded rows' windows per axis (4 tiles x 3 - the 2 padding rows), 2 x 10 x 10 = 200,
    twice: 400. Inputs are broadcast to the 2 columns: 800 local writes. Each MAC (4 x 2 x 16 x 9 =
    1152) reads its weight and input (R, S change every MAC) and updates its partial sum. Compute:
    ceil(4/2) x ceil(2/2) x 16 x 9 = 288 cycles."""
    shapes = H.Shapes.of(SMALL)
    group = H.Group("weight-stationary", 2, 2, 4096, 38, 16, 16, 16)
    mapping = H.choose_mapping(shapes, group, np.ones(1))
    assert {d: int(mapping.pe_tile[d][0]) for d in H.DIMS} == {"K": 1, "C": 1, "Y": 1, "X": 1}
    t = H.count_traffic(shapes, mapping)
    got = {f: float(getattr(t, f)[0]) for f in H.TRAFFIC_FIELDS}
    assert got == {
        "dram_w": 72, "dram_i": 32, "dram_visits": 1, "array_w": 72, "array_i": 400, "array_visits": 1,
        "pe_fill_w": 72, "pe_fill_i": 800, "pe_read_w": 1152, "pe_read_i": 1152, "pe_psum": 1152,
        "outputs": 64, "macs": 1152, "compute": 288, "pes": 4,
    }  # fmt: skip
    # bits and energy: DRAM reads W I (72 + 32) x 16, writes 64 x 16; the buffer reads W I for the array
    # and the outputs for DRAM, writes what DRAM and the array send; local writes fills and psums
    widths = {
        k: np.array([[v]])
        for k, v in (("weight_bits", 16), ("activation_bits", 16), ("psum_bits", 16), ("pe_rows", 2), ("pe_cols", 2))
    }
    hw = {
        "clock_mhz": np.array([[100.0]]), "mac_pj": np.array([[1.0]]), "hier_noise_pj": np.array([[0.5]]),
        **{f"{lv}_{k}": np.array([[v]]) for lv in ("dram", "glb", "local") for k, v in
           (("word_bits", 16.0), ("bandwidth_bits", 16.0), ("read_pj", 2.0), ("write_pj", 3.0))},
    }  # fmt: skip
    zero = np.zeros(1)
    extras = H.Extras(weight_scale=np.ones(1), skip=np.ones(1), noise=zero, film_mod=zero, film_values=zero)
    bits = H.level_bits({f: np.array([[getattr(t, f)[0]]]) for f in H.TRAFFIC_FIELDS}, widths, extras)
    priced = H.price(bits, hw)
    value = {k: float(v[0, 0]) for k, v in priced.items()}
    assert value["dram_bits"] == (72 + 32 + 64) * 16
    assert value["glb_bits"] == (72 + 400 + 64) * 16 + (72 + 32 + 64) * 16
    local_write, local_read = (72 + 800 + 1152) * 16, (3 * 1152 + 64) * 16
    assert value["local_bits"] == local_write + local_read
    assert value["dram_pj"] == (104 * 2 + 64 * 3)  # per 16-bit access
    assert value["glb_pj"] == (72 + 400 + 64) * 2 + (72 + 32 + 64) * 3
    assert value["local_pj"] == local_read / 16 * 2 + local_write / 16 * 3
    assert value["compute_pj"] == 1152 * 1.0
    assert value["energy_pj"] == value["dram_pj"] + value["glb_pj"] + value["local_pj"] + value["compute_pj"]
    # latency: the largest of 288 compute cycles and each level's bits over its 16 bits per cycle
    cycles = max(288, value["dram_bits"] / 16, value["glb_bits"] / 16, value["local_bits"] / 4 / 16)
    assert value["latency_ns"] == pytest.approx(cycles * 10)  # 100 MHz: 10 ns a cycle
    # per busy PE (4), the four port streams: W reads 1152 x 16 / 4 = 4608 bits, I reads 4608, partial
    # sums read + outputs up (1152 + 64) x 16 / 4 = 4864, writes (72 + 800 + 1152) x 16 / 4 = 8096. One
    # 16-bit port moves them all: 22176 / 16 = 1386 cycles; at 64 bits (four 16-bit ports) the busiest
    # port, the writes, sets it: 8096 / 16 = 506 cycles
    assert value["local_cycles"] == (4608 + 4608 + 4864 + 8096) / 16
    wide = H.price(bits, {**hw, "local_bandwidth_bits": np.array([[64.0]])})
    assert wide["local_cycles"][0, 0] == 8096 / 16 and H.split_ports(64, 16) and not H.split_ports(48, 16)


def test_the_refetch_rule_by_hand():
    """W under loops (K 2, Y 3, X 1): the innermost relevant loop of more than one trip is K, Y lies
    inside it: fetched once. Under (Y 3, K 2): Y is outside, three times. I ignores K: under (C 4, K 2)
    it stays over K (once), under (K 2, C 4) twice. A loop of one trip is transparent."""
    one = lambda n: np.array([n])  # noqa: E731
    assert H.multipliers([("K", one(2)), ("Y", one(3)), ("X", one(1))])["W"][0] == 1
    assert H.multipliers([("Y", one(3)), ("K", one(2))])["W"][0] == 3
    assert H.multipliers([("C", one(4)), ("K", one(2))])["I"][0] == 1
    assert H.multipliers([("K", one(2)), ("C", one(4))])["I"][0] == 2
    assert H.multipliers([("K", one(2)), ("C", one(1))])["I"][0] == 1  # C has one trip: K is innermost
    assert H.multipliers([("C", one(5)), ("K", one(2)), ("Y", one(3))])["O"][0] == 5  # psums revisited over C


@pytest.mark.parametrize("dataflow", ["weight-stationary", "output-stationary", "input-stationary"])
def test_conservation_every_operand_reaches_every_mac(dataflow):
    """Each MAC's weight and input come from local storage (reads x their reuse = MACs), every weight
    and input needed enters the chip and the array at least once, the array sees at least what DRAM
    sends (its loops are a superset), and every output leaves for DRAM."""
    spec = load_spec(EYERISS)
    spec = spec.model_copy(update={"hierarchy": spec.hierarchy.model_copy(update={"dataflow": dataflow})})
    grid = costs(r34_table(), spec, "pgdat")
    shapes = H.Shapes.of(grid._inputs.rows)
    group = H.Group(dataflow, 12, 14, 110592, 512, 16, 16, 16)
    t = H.count_traffic(shapes, H.choose_mapping(shapes, group, np.ones(len(shapes))))
    macs = shapes.macs.astype(float)
    assert np.all(t.pe_psum == macs) and np.all(t.macs == macs)
    assert np.all(t.pe_read_w <= macs) and np.all(t.pe_read_i <= macs)
    assert np.all(t.dram_w >= shapes.weights) and np.all(t.array_w >= t.dram_w)
    # inputs read at least once: every input row a kernel row touches (a strided 1 x 1 conv skips rows)
    needed = shapes.C * np.minimum(shapes.in_y, shapes.Y * shapes.R) * np.minimum(shapes.in_x, shapes.X * shapes.S)
    assert np.all(t.dram_i >= needed) and np.all(t.array_i >= t.dram_i)
    assert np.all(t.array_visits >= t.dram_visits) and np.all(t.dram_visits >= 1)
    assert np.all(t.pe_fill_w >= t.array_w) and np.all(t.pe_fill_i >= t.array_i)
    assert np.all(t.compute * t.pes >= macs)  # never more than one MAC per busy PE per cycle


def test_a_larger_buffer_never_raises_dram_traffic_and_more_bandwidth_never_raises_latency():
    base = load_spec(EYERISS)
    table = r34_table()
    sizes = [4096, 8192, 16384, 32768, 65536, 110592, 262144, 1 << 20]
    grid = costs(table, SpecGrid.from_base(base, glb_capacity_bytes=np.array(sizes)), "pgdat")
    dram = grid.layer("hier_dram_bits")
    assert np.all(np.diff(dram, axis=1) <= 1e-9 * dram[:, :-1])  # per layer, every buffer size
    assert dram.sum(axis=0)[-1] < dram.sum(axis=0)[0]  # and it does fall
    for field in ("dram_bandwidth_bits", "glb_bandwidth_bits", "local_bandwidth_bits"):
        bandwidths = np.array([8, 16, 64, 256, 4096])
        latency = costs(table, SpecGrid.from_base(base, **{field: bandwidths}), "pgdat").layer("hier_latency_ns")
        assert np.all(np.diff(latency, axis=1) <= 1e-9 * latency[:, :-1]), field


def test_eyeriss_spec_carries_the_published_figures_and_costs_resnet34():
    spec = load_spec(EYERISS)
    h = spec.hierarchy
    assert spec.cost_model == "hierarchy" and h.dataflow == "weight-stationary"
    assert (h.array.rows, h.array.cols, h.global_buffer.capacity_bytes) == (12, 14, 108 * 1024)  # Chen et al. 2017
    assert spec.weight_bits == h.activation_bits == h.psum_bits == 16 and h.clock_mhz == 200
    assert "CACTI" in h.global_buffer.read_pj.source and "LPDDR4" in h.dram.read_pj.source
    t = estimate_file(R34, EYERISS).totals
    parts = t.hier_dram_pj + t.hier_glb_pj + t.hier_local_pj + t.hier_compute_pj
    assert t.hier_energy_pj == pytest.approx(parts)
    assert t.hier_compute_pj == pytest.approx(t.macs * h.mac_pj.value)  # PGD-AT: MACs only
    # every weight is read from DRAM at least once, at 16 bits and 512 pJ per 64 bits
    weights = t.conv_linear_bytes * 8 / spec.weight_bits  # stored conv / linear parameters
    assert t.hier_dram_pj >= weights * 16 / 64 * 512
    assert t.hier_latency_ns >= t.hier_compute_cycles * 1e3 / h.clock_mhz


def test_hierarchy_totals_are_none_on_a_paper_spec_and_the_paper_model_is_unchanged():
    paper = estimate_file(R34)
    assert paper.spec.cost_model == "paper"
    assert all(getattr(paper.totals, f"hier_{k}") is None for k in ("latency_ns", "energy_pj", "dram_bits"))
    assert "hier_latency_ns" not in paper.layers[0]
    grid = costs(r34_table(), load_spec(), "pgdat")
    assert np.isnan(grid.layer("hier_energy_pj")).all()


def test_a_grid_of_hierarchy_specs_equals_one_estimate_each():
    base = load_spec(EYERISS)
    h = base.hierarchy
    specs = [
        base,
        base.model_copy(update={"hierarchy": h.model_copy(update={"global_buffer": h.global_buffer.model_copy(
            update={"capacity_bytes": 32768})})}),
        base.model_copy(update={"hierarchy": h.model_copy(update={"array": h.array.model_copy(update={"rows": 8})})}),
    ]  # fmt: skip
    table = r34_table()
    grid = costs(table, specs, "float")
    for i, spec in enumerate(specs):
        one = costs(table, spec, "float")
        assert grid.totals_at(i) == one.totals_at(0)
    swept = costs(table, SpecGrid.from_base(base, glb_capacity_bytes=np.array([110592, 32768])), "float")
    assert swept.totals_at(1) == grid.totals_at(1)
    # a point of a grid is a valid spec again, its hierarchy included
    point = swept.specs.spec(1, base)
    assert point.hierarchy.global_buffer.capacity_bytes == 32768
    assert point.hierarchy.dram.read_pj == h.dram.read_pj  # provenance kept where the value is the base's
    assert set(HIERARCHY_FIELDS) <= set(swept.specs.fields)


def test_mixed_grids_are_refused():
    with pytest.raises(HwsimError, match="hierarchy"):
        SpecGrid.from_specs([load_spec(), load_spec(EYERISS)])


def test_sparse_reads_move_kept_weights_and_zero_skipping_scales_the_macs():
    from hwsim.estimate import load_model_and_spec as load

    config, _ = load(MODELS / "resnet34-cifar10-floats-i.yaml")
    table = layer_table(config)
    base = load_spec(EYERISS)
    dense = costs(table, base, "floats", noise_active=False).totals_at(0)
    memory = base.memory.model_copy(update={"sparse_reads": True, "sparse_format": "values"})
    sparse = costs(table, base.model_copy(update={"memory": memory}), "floats", noise_active=False).totals_at(0)
    assert sparse["hier_dram_pj"] < 0.5 * dense["hier_dram_pj"]  # d ~ 0.1: weights dominate DRAM
    compute = base.compute.model_copy(update={"zero_skipping": True})
    skipping = costs(table, base.model_copy(update={"compute": compute}), "floats", noise_active=False).totals_at(0)
    assert skipping["hier_compute_pj"] == pytest.approx(
        dense["hier_compute_pj"] * skipping["effective_macs"] / skipping["macs"], rel=1e-3
    )
    assert skipping["hier_compute_cycles"] < 0.2 * dense["hier_compute_cycles"]


def test_float_noise_and_oat_modulation_cost_extra():
    base = load_spec(EYERISS)
    totals = {}
    for stem in ("pgdat", "float", "oat"):
        config, _ = load_model_and_spec(MODELS / f"resnet34-cifar10-{stem}.yaml")
        totals[stem] = costs(layer_table(config), base, stem).totals_at(0)
    h = base.hierarchy
    noise = totals["float"]["hier_compute_pj"] - totals["pgdat"]["hier_compute_pj"]
    assert noise >= totals["float"]["noise_add_ops"] * h.noise_pj.value * 0.999  # every weight, at least once
    film = totals["oat"]["hier_compute_pj"] - totals["oat"]["macs"] * h.mac_pj.value
    assert film == pytest.approx(totals["oat"]["film_mod_ops"] / 2 * h.mac_pj.value)
    assert totals["oat"]["hier_dram_pj"] > totals["pgdat"]["hier_dram_pj"]  # its FiLM MLP weights come from DRAM
    # FLOAT moves what PGD-AT moves (the same convs, the same mapping) plus its 36 alphas, 16 bits each
    assert totals["float"]["hier_dram_bits"] - totals["pgdat"]["hier_dram_bits"] == 36 * 16


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"global_buffer": {"capacity_bytes": 0}}, "hierarchy.global_buffer.capacity_bytes"),
        ({"local": {"capacity_bytes": 4}}, "cannot hold one weight"),
        ({"dataflow": "row-stationary"}, "hierarchy.dataflow"),
        ({"dram": {"bandwidth_bits": -64}}, "hierarchy.dram.bandwidth_bits"),
        ({"dram": {"capacity_bytes": 1024}}, "unknown key"),
        ({"clock_mhz": float("nan")}, "hierarchy.clock_mhz"),
        ({"array": {"rows": 12.5}}, "hierarchy.array.rows"),
    ],
)
def test_bad_hierarchy_specs_are_one_line_exit_2(tmp_path, change, fragment):
    data = yaml.safe_load(load_spec_text())
    for key, value in change.items():
        if isinstance(value, dict):
            data["hierarchy"][key].update(value)
        else:
            data["hierarchy"][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["estimate", str(R34), "--spec", str(path)])
    one_line_error(result, str(path), fragment)


def test_hierarchy_model_without_a_section_and_a_buffer_too_small_for_a_tile_are_one_line(tmp_path):
    data = yaml.safe_load(load_spec_text())
    del data["hierarchy"]
    path = tmp_path / "none.yaml"
    path.write_text(yaml.safe_dump(data))
    one_line_error(CliRunner().invoke(app, ["estimate", str(R34), "--spec", str(path)]), "needs a hierarchy section")
    data = yaml.safe_load(load_spec_text())
    data["hierarchy"]["global_buffer"]["capacity_bytes"] = 256  # fits a word of each, not a 12 x 14 tile
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    line = one_line_error(CliRunner().invoke(app, ["estimate", str(R34), "--spec", str(path)]), "256 B cannot hold")
    assert "hierarchy.global_buffer.capacity_bytes" in line


def load_spec_text() -> str:
    from hwsim.config import builtin_spec_text

    return builtin_spec_text(EYERISS)


def test_zigzag_export_carries_the_hierarchy():
    files = export(R34, "zigzag", EYERISS)
    assert {"workload.yaml", "accelerator.yaml", "mapping.yaml", "README.md"} <= set(files)
    acc = yaml.safe_load(files["accelerator.yaml"])
    h = load_spec(EYERISS).hierarchy
    mem = acc["memories"]
    assert list(mem) == ["local", "global_buffer", "dram"]  # lowest first, as ZigZag reads them
    assert mem["local"]["size"] == 512 * 8 and mem["global_buffer"]["size"] == 110592 * 8
    assert mem["local"]["served_dimensions"] == [] and mem["dram"]["served_dimensions"] == ["D1", "D2"]
    # local: 64 bits per cycle of 16-bit words = four 16-bit ports; r_cost per port access = pJ per word
    assert [p["bandwidth_max"] for p in mem["local"]["ports"]] == [16] * 4
    assert mem["local"]["r_cost"] == pytest.approx(h.local.read_pj.value)
    # buffer: 512 bits of 64-bit words = four 128-bit ports at 2 words' energy each
    assert mem["global_buffer"]["r_cost"] == pytest.approx(2 * h.global_buffer.read_pj.value)
    assert len(mem["dram"]["ports"]) == 1 and mem["dram"]["ports"][0]["bandwidth_max"] == 64
    assert acc["operational_array"] == {"unit_energy": h.mac_pj.value, "unit_area": 0.0, "dimensions": ["D1", "D2"],
                                        "sizes": [12, 14]}  # fmt: skip
    mapping = yaml.safe_load(files["mapping.yaml"])
    default = next(m for m in mapping if m["name"] == "default")
    assert default["spatial_mapping"] == {"D1": ["C, 12"], "D2": ["K, 14"]}
    assert next(m for m in mapping if m["name"] == "Gemm")["spatial_mapping"] == {"D1": ["C, 12"], "D2": ["K, 14"]}
    entry = yaml.safe_load(files["workload.yaml"])[0]
    assert entry["operand_precision"] == {"W": 16, "I": 16, "O": 16, "O_final": 16}
    assert "accelerator.yaml" in files["README.md"] and "Architecture / mapping" not in files["README.md"]
    paper = export(R34, "zigzag")
    assert "accelerator.yaml" not in paper and "has no hierarchy section" in paper["README.md"]


def test_zigzag_own_accelerator_and_mapping_parsers_accept_the_export():
    """ZigZag's AcceleratorValidator and AcceleratorFactory, and its mapping parser, on the exported files
    (zigzag-dse comes with the test extra; where it is not installed, this skips)."""
    pytest.importorskip("six")
    pytest.importorskip("zigzag")
    from zigzag.parser.accelerator_factory import AcceleratorFactory
    from zigzag.parser.accelerator_validator import AcceleratorValidator
    from zigzag.parser.mapping_validator import MappingValidator

    files = export(R34, "zigzag", EYERISS)
    validator = AcceleratorValidator(yaml.safe_load(files["accelerator.yaml"]))
    assert validator.validate()
    accelerator = AcceleratorFactory(validator.normalized_data).create()
    assert accelerator.operational_array.total_unit_count == 168
    levels = accelerator.memory_hierarchy.mem_level_list
    assert [lv.memory_instance.size for lv in levels] == [4096, 884736, 1 << 40]
    mapping = MappingValidator(yaml.safe_load(files["mapping.yaml"]))
    assert mapping.validate()


def test_zigzag_runs_the_export_of_a_small_layer_within_1_5x_of_hwsim(tmp_path):
    """ZigZag's whole API (LOMA search) on one exported layer of the Eyeriss-like spec: the same MACs, and
    an energy within the 1.5x of issue 17 (benchmarks/crossval.py runs every layer)."""
    pytest.importorskip("six")
    pytest.importorskip("zigzag")
    import logging

    from zigzag.api import get_hardware_performance_zigzag

    from hwsim.export import source_table, write_export
    from hwsim.workload.table import LayerTable

    table, spec, _ = source_table(MODELS / "resnet20-digits-pgdat.yaml", load_spec(EYERISS))
    row = list(table["name"]).index("layers.0.0.conv1")  # a 3x3 conv, 16 -> 16 channels on 16 x 16: ~10 s of LOMA
    one = LayerTable({c: table[c][row : row + 1] for c in table.columns}, table.attrs)
    write_export(export(one, "zigzag", spec, name="one"), tmp_path)
    logging.disable(logging.WARNING)
    try:
        _, _, cmes = get_hardware_performance_zigzag(
            workload=str(tmp_path / "workload.yaml"), accelerator=str(tmp_path / "accelerator.yaml"),
            mapping=str(tmp_path / "mapping.yaml"), opt="energy", dump_folder=str(tmp_path / "out"),
            loma_show_progress_bar=False,
        )  # fmt: skip
    finally:
        logging.disable(logging.NOTSET)
    cme = cmes[0][1][0][0]
    grid = costs(one, spec, "pgdat")
    assert int(cme.layer.total_mac_count) == int(grid.layer("macs")[0])
    ratio = float(grid.layer("hier_energy_pj")[0, 0]) / float(cme.energy_total)
    assert 1 / 1.5 <= ratio <= 1.5, ratio


def test_scalesim_export_carries_the_hierarchy():
    files = export(R34, "scalesim", EYERISS)
    cfg = configparser.ConfigParser()
    cfg.read_string(files["resnet34-cifar10-pgdat.cfg"])
    arch = cfg["architecture_presets"]
    assert (int(arch["ArrayHeight"]), int(arch["ArrayWidth"]), arch["Dataflow"]) == (12, 14, "ws")
    # 110592 B / 3 / 2 bytes per 16-bit element = 18432 one-byte words = 18 KB each
    assert [int(arch[f"{k}SramSzkB"]) for k in ("Ifmap", "Filter", "Ofmap")] == [18, 18, 18]
    assert int(arch["Bandwidth"]) == 64 // 16 and cfg["run_presets"]["InterfaceBandwidth"] == "USER"
    assert "global buffer split in three" in files["README.md"]


def test_compare_and_specs_show_the_hierarchy_model():
    import json

    models = [str(MODELS / f"resnet34-cifar10-{m}.yaml") for m in ("float", "oat")]
    result = CliRunner().invoke(app, ["compare", *models, "--spec", EYERISS, "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads(result.stdout)["rows"]}
    flt, oat = (estimate_file(m, EYERISS).totals for m in models)
    assert rows["oat"]["hier_latency_ratio"] == pytest.approx(oat.hier_latency_ns / flt.hier_latency_ns, rel=1e-12)
    assert rows["oat"]["hier_dram_ratio"] == pytest.approx(oat.hier_dram_pj / flt.hier_dram_pj, rel=1e-12)
    paper = CliRunner().invoke(app, ["compare", *models, "-f", "json"])
    assert "hier_latency_ratio" not in json.loads(paper.stdout)["rows"][0]
    import csv
    import io

    listed = CliRunner().invoke(app, ["specs", "-f", "csv"])
    header, asic, eyeriss = list(csv.reader(io.StringIO(listed.stdout)))[:3]
    assert header[-1] == "calibrated" and "glb_capacity_bytes" in header
    assert eyeriss[header.index("glb_capacity_bytes")] == "110592" and asic[header.index("glb_capacity_bytes")] == ""
    assert (asic[header.index("cost_model")], eyeriss[header.index("cost_model")]) == ("paper", "hierarchy")
    table = CliRunner().invoke(app, ["specs"]).stdout
    assert "110592" in table and "nan" not in table and "<NA>" not in table
