"""hwsim export --to timeloop with hardware: the v0.4 problem's input size and padding keys, the architecture,
the Accelergy energy table and the mapper of a spec with a hierarchy section (hand-computed expectations
for eyeriss-65nm), and the strict check of hwsim.export.timeloop_schema, which must refuse what timeloopfe
lets through (an invented instance key, attribute or ERT action)."""

import functools
import importlib.util
import re

import pytest
import yaml
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import load_spec
from hwsim.costs.compute import layer_macs
from hwsim.estimate import layer_table, load_model_and_spec
from hwsim.export import export
from hwsim.export.common import Layer
from hwsim.export.timeloop import ARCH_FILE, ERT_FILE, MAPPER_FILE, instance
from hwsim.export.timeloop_schema import Tagged, export_errors, file_errors, load

from .conftest import MODELS

PGDAT = MODELS / "resnet34-cifar10-pgdat.yaml"
HARDWARE = ["resnet34-cifar10-pgdat", "resnet20-digits-float", "resnet20-digits-oat", "resnet34-cifar10-floats-i"]


@functools.cache
def table_of(stem):
    return layer_table(load_model_and_spec(MODELS / f"{stem}.yaml")[0])


@functools.cache
def eyeriss_export(stem="resnet34-cifar10-pgdat", spec=None):
    return export(table_of(stem), "timeloop", spec or load_spec("eyeriss-65nm"), name=stem)


def with_hierarchy(**changes):
    """eyeriss-65nm with some hierarchy fields changed (``local_word_bits``: the local store's)."""
    spec = load_spec("eyeriss-65nm")
    h = spec.hierarchy
    if "local_word_bits" in changes:
        h = h.model_copy(update={"local": h.local.model_copy(update={"word_bits": changes.pop("local_word_bits")})})
    return spec.model_copy(update={"hierarchy": h.model_copy(update=changes)})


def nodes(files):
    return load(files[ARCH_FILE])["architecture"]["nodes"]


def node(files, name):
    return next(n for n in nodes(files) if n.get("name") == name)


# --- problem files ---------------------------------------------------------------------------------

# Accelergy-Project/timeloop-accelergy-exercises @ 2d5510807128e9bd5f1cad0705cdf2ec4612fd4e,
# workspace/example_designs/example_designs/_include/default_problem.yaml: its instance, copied (keys in its order)
DEFAULT_PROBLEM_INSTANCE = {"C": 3, "H": 224, "Hdilation": 1, "Hpad": 1, "Hstride": 2, "M": 32, "N": 1, "P": 112,
                            "Q": 112, "R": 3, "S": 3, "W": 224, "Wdilation": 1, "Wpad": 1, "Wstride": 2}  # fmt: skip


def test_upstreams_example_layer_gives_upstreams_instance_key_for_key():
    layer = Layer(index=0, name="conv", op="conv", kernel_h=3, kernel_w=3, in_channels=3, out_channels=32, groups=1,
                  stride_h=2, stride_w=2, padding_h=1, padding_w=1, dilation_h=1, dilation_w=1, in_h=224, in_w=224,
                  out_h=112, out_w=112, density=1.0)  # fmt: skip
    got = instance(layer)
    assert got == DEFAULT_PROBLEM_INSTANCE and list(got) == list(DEFAULT_PROBLEM_INSTANCE)


@pytest.mark.parametrize("stem", ["resnet34-cifar10-pgdat", "wrn16_8-svhn-float", "resnet20-digits-oat"])
def test_input_size_and_padding_keys_give_the_output_size_timeloop_computes_with(stem):
    """W, Wpad (H, Hpad) are the layer's unpadded input and padding, and the conv arithmetic over them gives
    P (Q): floor((W + 2 Wpad - Wdilation (R - 1) - 1) / Wstride) + 1."""
    table = table_of(stem)
    files = export(table, "timeloop", None, name=stem)
    problems = [yaml.safe_load(t)["problem"]["instance"] for f, t in files.items() if f[:3].isdigit()]
    assert len(problems) == len(table)
    for i, d in enumerate(problems):
        assert (d["H"], d["W"]) == (int(table["in_h"][i]), int(table["in_w"][i]))
        assert (d["Hpad"], d["Wpad"]) == (int(table["padding_h"][i]), int(table["padding_w"][i]))
        assert d["P"] == (d["W"] + 2 * d["Wpad"] - d["Wdilation"] * (d["R"] - 1) - 1) // d["Wstride"] + 1
        assert d["Q"] == (d["H"] + 2 * d["Hpad"] - d["Hdilation"] * (d["S"] - 1) - 1) // d["Hstride"] + 1
    assert [d["C"] * d["M"] * d["R"] * d["S"] * d["N"] * d["P"] * d["Q"] for d in problems] == layer_macs(
        table
    ).tolist()


# --- architecture, ERT, mapper ----------------------------------------------------------------------


def test_eyeriss_architecture_has_the_specs_levels_array_and_widths():
    files = eyeriss_export()
    assert [(n.tag, n.get("name")) for n in nodes(files)] == [
        ("!Container", "system"),
        ("!Component", "DRAM"),
        ("!Container", "eyeriss_65nm"),
        ("!Component", "global_buffer"),
        ("!Container", "PE"),
        ("!Component", "local"),
        ("!Component", "mac"),
    ]
    assert load(files[ARCH_FILE])["architecture"]["version"] == 0.4
    # 16-bit data: words of 16 bits; 64-bit accesses are 4 words. Bandwidth in words per cycle, reads + writes.
    assert node(files, "global_buffer")["attributes"] == {
        "depth": 110592 * 8 // 64,  # 13824 rows of 64 bits = 108 KB
        "width": 64,
        "datawidth": 16,
        "shared_bandwidth": 512 // 16,
    }
    assert node(files, "local")["attributes"] == {"depth": 512 * 8 // 16, "width": 16, "datawidth": 16,
                                                  "shared_bandwidth": 64 // 16}  # fmt: skip
    assert node(files, "DRAM")["attributes"] == {"depth": 2**31 // 4, "width": 64, "datawidth": 16,
                                                 "shared_bandwidth": 64 // 16}  # fmt: skip
    assert node(files, "DRAM")["class"] == "DRAM" and node(files, "global_buffer")["class"] == "SRAM"
    assert node(files, "eyeriss_65nm")["attributes"] == {"technology": "65nm", "global_cycle_seconds": 5e-9}
    assert '"65nm"' in files[ARCH_FILE]  # quoted: timeloopfe evaluates unquoted strings as expressions
    pe = node(files, "PE")
    assert pe["spatial"] == {"meshX": 14, "meshY": 12}
    # weight-stationary: C over the 12 rows (meshY), K = Timeloop's M over the 14 columns (meshX, before the split)
    spatial = pe["constraints"]["spatial"]
    assert spatial["permutation"][:2] == ["M", "C"] and spatial["split"] == 1
    assert sorted(spatial["permutation"]) == sorted("CMRSNPQ")
    assert sorted(spatial["factors"]) == ["N=1", "P=1", "Q=1", "R=1", "S=1"]
    for name in ("global_buffer", "local"):
        assert node(files, name)["constraints"] == {"dataspace": {"keep": ["Inputs", "Outputs", "Weights"]}}
    assert node(files, "mac") == {"name": "mac", "class": "intmac",
                                  "attributes": {"multiplier_width": 16, "adder_width": 16}}  # fmt: skip


@pytest.mark.parametrize(
    ("dataflow", "columns", "rows"),
    [("weight-stationary", "M", "C"), ("output-stationary", "M", "P"), ("input-stationary", "P", "C")],
)
def test_the_dataflow_picks_the_spatial_loops(dataflow, columns, rows):
    spatial = node(eyeriss_export(spec=with_hierarchy(dataflow=dataflow)), "PE")["constraints"]["spatial"]
    assert spatial["permutation"][:2] == [columns, rows]
    assert f"{columns}=1" not in spatial["factors"] and f"{rows}=1" not in spatial["factors"]
    assert len(spatial["factors"]) == 5


def test_energy_table_prices_every_level_at_the_specs_energies():
    ert = load(eyeriss_export()[ERT_FILE])["ERT"]
    assert str(ert["version"]) == "0.4"
    energy = {(t["name"], a["name"]): a["energy"] for t in ert["tables"] for a in t["actions"]}
    assert energy == {
        ("system_top_level.DRAM[1..1]", "read"): 512.0,
        ("system_top_level.DRAM[1..1]", "write"): 512.0,
        ("system_top_level.DRAM[1..1]", "update"): 512.0,
        ("system_top_level.DRAM[1..1]", "leak"): 0.0,
        ("system_top_level.global_buffer[1..1]", "read"): 54.302,
        ("system_top_level.global_buffer[1..1]", "write"): 46.003,
        ("system_top_level.global_buffer[1..1]", "update"): 46.003,
        ("system_top_level.global_buffer[1..1]", "leak"): 0.0,
        ("system_top_level.local[1..168]", "read"): 1.177,
        ("system_top_level.local[1..168]", "write"): 3.418,
        ("system_top_level.local[1..168]", "update"): 3.418,
        ("system_top_level.local[1..168]", "leak"): 0.0,
        ("system_top_level.mac[1..168]", "compute"): 4.826,
        ("system_top_level.mac[1..168]", "leak"): 0.0,
    }
    # Timeloop matches a table to a level by the last dotted part without the range: every leaf has one
    leaves = {n["name"] for n in nodes(eyeriss_export()) if n.tag == "!Component"}
    assert {re.sub(r"\[\d+\.\.\d+\]", "", t["name"]).split(".")[-1] for t in ert["tables"]} == leaves


def test_a_word_that_is_not_whole_datawidth_words_is_rounded_and_its_energy_kept_per_bit():
    files = eyeriss_export(spec=with_hierarchy(local_word_bits=24))  # 1.5 words of 16 bits
    assert node(files, "local")["attributes"]["width"] == 32 and node(files, "local")["attributes"]["depth"] == 128
    ert = load(files[ERT_FILE])["ERT"]
    local = next(t for t in ert["tables"] if ".local[" in t["name"])
    assert {a["name"]: a["energy"] for a in local["actions"]}["read"] == pytest.approx(1.177 * 32 / 24, abs=1e-6)
    assert "## What was changed (hardware)" in files["README.md"] and "word_bits 24" in files["README.md"]
    assert export_errors(files) == []
    assert "What was changed (hardware)" not in eyeriss_export()["README.md"]


def test_mapper_file_is_the_exercises_settings_with_delay_first():
    mapper = load(eyeriss_export()[MAPPER_FILE])["mapper"]
    assert mapper["optimization_metrics"] == ["delay", "energy"] and mapper["algorithm"] == "random"


def test_a_spec_without_hierarchy_writes_problems_only_and_says_so():
    files = export(table_of("resnet34-cifar10-pgdat"), "timeloop", load_spec("asic-65nm"), name="r34")
    assert not {ARCH_FILE, ERT_FILE, MAPPER_FILE} & set(files)
    assert (
        "**Architecture / energy table / mapper**: not written: spec `asic-65nm` has no hierarchy" in files["README.md"]
    )
    assert export_errors(files) == []


def test_readme_states_what_maps_and_what_cannot_be_expressed():
    text = eyeriss_export()["README.md"]
    assert "depth 13824 rows" in text and "meshX 14 (array.cols) x meshY 12 (array.rows)" in text
    assert "`mac` `compute` = mac_pj (4.826 pJ)" in text and "latency = Timeloop's cycles x 5 ns" in text
    maps, limits = text.split("## What this format cannot express")
    for limit in ("**hwsim's mapping**", "**Per-operand word widths**", "**Clock**", "**hwsim's method extras"):
        assert limit in limits
    assert "**Checked**: timeloopfe" in maps and "**Run with the real Timeloop**" in maps
    flat = export(table_of("resnet34-cifar10-pgdat"), "timeloop", load_spec("asic-65nm"), name="r34")["README.md"]
    assert "**Checked**: timeloopfe" in flat and "**Run with the real Timeloop**" not in flat


def test_cli_writes_the_hardware_files(tmp_path):
    out = tmp_path / "tl"
    result = CliRunner().invoke(
        app, ["export", str(PGDAT), "--to", "timeloop", "--spec", "eyeriss-65nm", "--out-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {ARCH_FILE, ERT_FILE, MAPPER_FILE, "README.md"} <= names and len(names) == 37 + 4
    assert (out / ARCH_FILE).read_text() == eyeriss_export()[ARCH_FILE]


# --- the strict check ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", HARDWARE)
def test_every_exported_file_passes_the_strict_check(stem):
    files = eyeriss_export(stem)
    assert export_errors(files) == []
    assert sum(name.endswith(".yaml") for name in files) == len(table_of(stem)) + 3


def mutate(name, old, new):
    files = dict(eyeriss_export())
    name = next(n for n in files if n.startswith(name))
    assert old in files[name]
    return file_errors(name, files[name].replace(old, new, 1))


@pytest.mark.parametrize(
    ("file", "old", "new", "error"),
    [
        ("001", "Wstride: 1", "Wstride: 1, Wstrde: 2", "problem.instance: unknown key 'Wstrde'"),
        ("001", "Wstride: 1", "Wstride: 1, ignore_me: 2", "problem.instance: unknown key 'ignore_me'"),
        ("001", "Wstride: 1", "Wstride: 1.5", "problem.instance.Wstride: 1.5 is not an integer"),
        ("001", "version: 0.4", "version: 0.3", "problem.version: 0.3, not 0.4"),
        ("001", "read_write: true", "read_write: true\n      readwrite: true", "data_spaces[2]: unknown key 'readwrite'"),
        (ARCH_FILE, "depth: 13824,", "dept: 13824, depth: 13824,", "(global_buffer).attributes: unknown key 'dept'"),
        (ARCH_FILE, "depth: 13824,", "", "(global_buffer).attributes: no depth"),
        (ARCH_FILE, "width: 64, datawidth: 16, shared_bandwidth: 32", "width: 60, datawidth: 16, shared_bandwidth: 32",
         "width 60 is not a multiple of the datawidth 16"),
        (ARCH_FILE, "!Container\n    name: PE", "!Containr\n    name: PE", "tag '!Containr'"),
        (ARCH_FILE, "meshX: 14", "meshZ: 14", "(PE).spatial: unknown key 'meshZ'"),
        (ARCH_FILE, "split: 1", "splt: 1", "(PE).constraints.spatial: unknown key 'splt'"),
        (ARCH_FILE, "class: intmac", "class: multiplier", "class 'multiplier' is neither storage"),
        (ERT_FILE, "name: read", "name: raed", "action 'raed' is not one Timeloop prices"),
        (ERT_FILE, "energy: 512.0", "energy: lots", "energy: 'lots' is not a number"),
        (MAPPER_FILE, "optimization_metrics", "optimisation_metrics", "mapper: unknown key 'optimisation_metrics'"),
        (MAPPER_FILE, "algorithm: random", "algorithm: greedy", "mapper.algorithm: 'greedy'"),
    ],
)  # fmt: skip
def test_the_strict_check_refuses_what_timeloopfe_lets_through(file, old, new, error):
    errors = mutate(file, old, new)
    assert len(errors) >= 1 and any(error in e for e in errors), errors


def test_the_last_node_must_compute():
    files = eyeriss_export()
    arch = load(files[ARCH_FILE])
    arch["architecture"]["nodes"] = arch["architecture"]["nodes"][:-1]
    from hwsim.export.timeloop_schema import dump

    assert file_errors(ARCH_FILE, dump(arch)) == [
        f"{ARCH_FILE}: architecture.nodes: the last node is not a compute component"
    ]
    assert isinstance(arch["architecture"]["nodes"][0], Tagged)


# --- re-read by Timeloop's own front-end, where it is importable (not on PyPI: CI skips) -----------------

TIMELOOPFE = importlib.util.find_spec("pytimeloop") is not None


@pytest.mark.skipif(not TIMELOOPFE, reason="timeloopfe (Accelergy-Project/timeloop-python) is not importable")
def test_timeloopfe_parses_and_processes_the_export(tmp_path):
    from pytimeloop.timeloopfe.common.version_transpilers import v4_to_v3
    from pytimeloop.timeloopfe.v4 import Specification
    from pytimeloop.timeloopfe.v4.ert import Ert

    from hwsim.export import write_export

    files = eyeriss_export()
    write_export(files, tmp_path)
    Ert(**load(files[ERT_FILE])["ERT"]).check_unrecognized()
    spec = Specification.from_yaml_files([str(tmp_path / ARCH_FILE), str(tmp_path / MAPPER_FILE),
                                          str(tmp_path / "001_layers.0.0.conv1.yaml")])._process()  # fmt: skip
    spec.check_unrecognized()
    levels = [n["name"] for n in v4_to_v3.transpile(spec)["architecture"]["subtree"][0]["local"]]
    assert levels == ["DRAM[1..1]", "global_buffer[1..1]", "inter_PE_spatial[1..1]", "local[1..168]", "mac[1..168]"]
