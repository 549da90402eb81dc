"""hwsim export: SCALE-Sim 3.x, Timeloop v0.4 and ZigZag 3.x files of every shipped model parse back,
and the MACs recomputed from the exported dimensions are hwsim's, layer by layer."""

import configparser
import csv
import functools
import io
import math

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import load_spec
from hwsim.costs import count_columns
from hwsim.costs.compute import layer_macs
from hwsim.errors import HwsimError
from hwsim.estimate import layer_table, load_model_and_spec
from hwsim.export import EXPORTERS, export, write_export
from hwsim.export.scalesim import array_shape, bandwidth_words

from .conftest import MODELS, one_line_error

MODEL_FILES = sorted(MODELS.glob("*.yaml"))
IDS = [p.stem for p in MODEL_FILES]


@functools.cache
def table_and_spec(path):
    config, spec = load_model_and_spec(path)
    return layer_table(config), spec, config.name


@functools.cache
def exported(path, to):
    table, spec, name = table_and_spec(path)
    return export(table, to, spec, name=name)


def hwsim_macs(path):
    return layer_macs(table_and_spec(path)[0]).tolist()


@pytest.mark.parametrize("path", MODEL_FILES, ids=IDS)
def test_scalesim_topology_layout_and_cfg_parse_and_give_hwsims_macs(path):
    files = exported(path, "scalesim")
    table, spec, name = table_and_spec(path)
    topo = list(csv.reader(io.StringIO(files[f"{name}_topology.csv"]), skipinitialspace=True))
    assert [c.strip() for c in topo[0]] == [
        "Layer name",
        "IFMAP Height",
        "IFMAP Width",
        "Filter Height",
        "Filter Width",
        "Channels",
        "Num Filter",
        "Strides",
        "",
    ]  # fmt: skip  (no Sparsity column, sparse models included: see test_scalesim_writes_sparse_layers_dense)
    macs = []
    for row in topo[1:]:
        assert len(row) == 9 and row[-1] == ""  # the trailing comma SCALE-Sim's parser drops
        ih, iw, r, s, c, m, stride = map(int, row[1:8])
        p, q = -(-(ih - r) // stride) + 1, -(-(iw - s) // stride) + 1  # SCALE-Sim rounds up
        assert (ih - r) % stride == 0 and (iw - s) % stride == 0  # ...exactly: floor and ceil agree
        macs.append(r * s * c * m * p * q)
    assert macs == hwsim_macs(path)
    assert [row[0] for row in topo[1:]] == [str(n) for n in table["name"]]
    layout = list(csv.reader(io.StringIO(files[f"{name}_layout.csv"]), skipinitialspace=True))
    assert len(layout) == len(topo) and all(row[1:9] == ["1"] * 8 and row[-1] == "" for row in layout[1:])
    cfg = configparser.ConfigParser()
    cfg.read_string(files[f"{name}.cfg"])
    arch = cfg["architecture_presets"]
    assert int(arch["ArrayHeight"]) * int(arch["ArrayWidth"]) == spec.n_multipliers
    assert int(arch["Bandwidth"]) == spec.io_bandwidth_bits * spec.n_banks // spec.weight_bits
    assert cfg["sparsity"]["SparsitySupport"] == "false"
    assert cfg["run_presets"]["InterfaceBandwidth"] == "CALC" and arch["Dataflow"] == "ws"


# The v0.4 CNN_Layer of Accelergy-Project/timeloop-accelergy-exercises @ 2d5510807128e9bd5f1cad0705cdf2ec4612fd4e,
# workspace/example_designs/layer_shapes/CONV/AlexNet/AlexNet_layer1.yaml and (with instance.densities)
# workspace/example_designs/example_designs/sparseloop/04.2.1-eyeriss-like-gating/problem.yaml: both have this
# shape and these instance keys, under problem: {version: 0.4, instance, shape}. Copied here: no Timeloop
# parser is installable from PyPI (timeloopfe, pytimeloop: no distribution).
TIMELOOP_REFERENCE_SHAPE = yaml.safe_load("""
coefficients:
- default: 1
  name: Wstride
- default: 1
  name: Hstride
- default: 1
  name: Wdilation
- default: 1
  name: Hdilation
data_spaces:
- name: Weights
  projection:
  - - - C
  - - - M
  - - - R
  - - - S
- name: Inputs
  projection:
  - - - N
  - - - C
  - - - R
      - Wdilation
    - - P
      - Wstride
  - - - S
      - Hdilation
    - - Q
      - Hstride
- name: Outputs
  projection:
  - - - N
  - - - M
  - - - Q
  - - - P
  read_write: true
dimensions:
- C
- M
- R
- S
- N
- P
- Q
name: CNN_Layer
""")
# ...and the input size and padding keys H W Hpad Wpad of the same repository's
# workspace/example_designs/example_designs/_include/default_problem.yaml (see tests/test_export_timeloop.py)
TIMELOOP_REFERENCE_INSTANCE_KEYS = {"C", "H", "Hdilation", "Hpad", "Hstride", "M", "N", "P", "Q", "R", "S", "W",
                                    "Wdilation", "Wpad", "Wstride"}  # fmt: skip


@pytest.mark.parametrize("path", MODEL_FILES, ids=IDS)
def test_timeloop_problems_parse_and_give_hwsims_macs(path):
    files = exported(path, "timeloop")
    table = table_and_spec(path)[0]
    problems = [yaml.safe_load(text)["problem"] for name, text in files.items() if name != "README.md"]
    assert all(list(yaml.safe_load(text)["problem"]) == ["version", "instance", "shape"] for fname, text in files.items()
               if fname != "README.md")  # fmt: skip
    assert len(problems) == len(table)
    macs = []
    for i, problem in enumerate(problems):
        assert problem["shape"] == TIMELOOP_REFERENCE_SHAPE and problem["version"] == 0.4
        d = problem["instance"]
        assert set(d) - {"densities"} == TIMELOOP_REFERENCE_INSTANCE_KEYS
        density = float(table["density"][i])
        assert d.get("densities") == (
            {"Weights": {"distribution": "fixed_structured", "density": density}} if density < 1 else None
        )
        macs.append(d["C"] * d["M"] * d["R"] * d["S"] * d["N"] * d["P"] * d["Q"])
        # padding folded into P, Q: the input the problem reads fits the padded map
        span = (d["P"] - 1) * d["Wstride"] + (d["R"] - 1) * d["Wdilation"] + 1
        assert span <= int(table["in_w"][i]) + 2 * int(table["padding_w"][i])
    assert macs == hwsim_macs(path)


@pytest.mark.parametrize("path", MODEL_FILES, ids=IDS)
def test_zigzag_workload_parses_and_gives_hwsims_macs(path):
    files = exported(path, "zigzag")
    table, spec, _ = table_and_spec(path)
    entries = yaml.safe_load(files["workload.yaml"])
    workload = [e for e in entries if e["operator_type"] != "Add"]
    assert [e["id"] for e in workload] == list(range(len(table)))
    assert [math.prod(e["loop_sizes"]) for e in workload] == hwsim_macs(path)
    ids = {e["id"] for e in workload}
    for e, op in zip(workload, table["op"]):
        assert e["operator_type"] == ("Conv" if op == "conv" else "Gemm")
        assert len(e["loop_dims"]) == len(e["loop_sizes"])
        assert e["operand_precision"]["W"] == spec.weight_bits
        assert e["operand_source"]["I"] in ids and e["operand_source"]["I"] <= e["id"]
        assert e["operand_source"]["W"] == e["id"]
        if op == "conv":
            assert e["dimension_relations"][0].startswith("ix=")
            assert e["pr_loop_dims"] == ["IY", "IX"] and len(e["pr_loop_sizes"]) == 2
            assert all(len(pair) == 2 for pair in e["padding"]) and len(e["padding"]) == 2
    # FLOAT's noise add: one Add per noisy layer, just before it, one add per weight (hwsim's count)
    noise = count_columns(table)["noise_add_ops"].tolist()
    adds = {e["name"]: e for e in entries if e["operator_type"] == "Add"}
    names = [str(n) for n in table["name"]]
    assert sorted(adds) == sorted(f"{n}.noise_add" for n, k in zip(names, noise) if k > 0)
    for i, (n, k) in enumerate(zip(names, noise)):
        if k > 0:
            add = adds[f"{n}.noise_add"]
            assert math.prod(add["loop_sizes"]) == k and add["id"] == len(table) + i
            assert entries[entries.index(add) + 1]["id"] == i
            assert add["operand_source"] == {"W": add["id"], "I": add["id"]}


# A padded stride-2 conv, a 1x1 shortcut and a linear (pgdat); FLOAT's noise adds; OAT's FiLM linears;
# irregular density and a slim model.
ZIGZAG_VALIDATED = ["resnet34-cifar10-pgdat", "resnet20-digits-float", "resnet20-digits-oat", "resnet34-cifar10-floats-i",
                    "resnet20-digits-floats-slim"]  # fmt: skip


@pytest.mark.parametrize("stem", ZIGZAG_VALIDATED)
def test_zigzag_own_validator_and_factory_accept_the_workload(stem):
    """ZigZag's own schema (zigzag.parser.workload_validator) and LayerNode factory, on the exported
    workload: valid, and every node's total_mac_count is hwsim's MACs (an Add's, hwsim's noise adds).
    No mapping search (fast). zigzag-dse comes with the test extra; without it this test skips."""
    pytest.importorskip("six")
    zigzag = pytest.importorskip("zigzag")
    import logging
    import os

    from zigzag.parser.workload_factory import WorkloadFactory
    from zigzag.parser.workload_validator import WorkloadValidator
    from zigzag.stages.parser.workload_parser import WorkloadParserStage

    path = MODELS / f"{stem}.yaml"
    table = table_and_spec(path)[0]
    data = yaml.safe_load(exported(path, "zigzag")["workload.yaml"])
    validator = WorkloadValidator(data)
    assert validator.validate(), stem
    mapping = os.path.join(os.path.dirname(zigzag.__file__), "inputs", "mapping", "tpu_like.yaml")
    logging.getLogger("zigzag").setLevel(logging.ERROR)  # "Conv not defined in mapping: default used"
    nodes = WorkloadFactory(validator.normalized_data, WorkloadParserStage.parse_mapping_data(mapping)).create()
    macs = {node.name: int(node.total_mac_count) for node in nodes.layer_node_list}
    counts = count_columns(table)
    names = [str(n) for n in table["name"]]
    assert [macs[n] for n in names] == counts["macs"].tolist()
    noisy = {f"{n}.noise_add": int(k) for n, k in zip(names, counts["noise_add_ops"]) if k > 0}
    assert {n: macs[n] for n in noisy} == noisy
    assert len(macs) == len(names) + len(noisy)
    if stem.endswith("-oat"):
        assert (table["op"] == "film_linear").sum() > 0
    if stem.endswith("-pgdat"):
        strided = [e for e in validator.normalized_data if e.get("padding") and "ix=2*" in e["dimension_relations"][0]]
        assert strided and all(e["padding"] == [[1, 1], [1, 1]] for e in strided if e["loop_sizes"][5] == 3)


def test_scalesim_ifmap_is_the_swept_padded_input_by_hand():
    path = MODELS / "resnet34-cifar10-float.yaml"
    topo = exported(path, "scalesim")["resnet34-cifar10-float_topology.csv"].splitlines()
    assert topo[1] == "conv1, 34, 34, 3, 3, 3, 64, 1,"  # 32 x 32 input, padding 1 each side
    stride2 = next(line for line in topo if line.startswith("layers.1.0.conv1,"))
    # 32 -> 16 at stride 2 reads rows -1 .. 31 of the padded map: 33, not 34 (34 would give SCALE-Sim
    # ceil(31 / 2) + 1 = 17 outputs and 13% more MACs, as benchmarks/crossval.py found)
    assert stride2 == "layers.1.0.conv1, 33, 33, 3, 3, 64, 128, 2,"  # (33 - 3) / 2 + 1 = 16


@pytest.mark.parametrize("stem", ["resnet34-cifar10-floats-i", "resnet20-digits-floats", "wrn40_2-stl10-floats-i"])
def test_scalesim_writes_sparse_layers_dense_and_says_so(stem):
    """SCALE-Sim 3.0.0 reports an N:M layer's utilisation as dense work over sparse cycles (426.67% for a
    1:8 ResNet34 layer, run by hand): sparse layers go out dense, the cfg's sparsity off, and the
    README says what was changed, with hwsim's density of every sparse layer."""
    path = MODELS / f"{stem}.yaml"
    table, _, name = table_and_spec(path)
    files = exported(path, "scalesim")
    rows = list(csv.reader(io.StringIO(files[f"{name}_topology.csv"]), skipinitialspace=True))
    assert all(len(row) == 9 for row in rows)  # no Sparsity column
    cfg = configparser.ConfigParser()
    cfg.read_string(files[f"{name}.cfg"])
    assert cfg["sparsity"]["SparsitySupport"] == "false"
    text = files["README.md"]
    changed = text.split("## What was changed", 1)[1].split("## What this format cannot express")[0]
    assert "written dense" in changed and "426.67%" in changed
    effective = int(count_columns(table)["effective_macs"].sum())
    assert f"`effective_macs` = {effective} of" in changed
    assert "exported shapes are dense" not in text  # said once, under "What was changed"
    for density, layer in zip(table["density"], table["name"]):
        if density < 1:
            assert f"| `{layer}` |" in text and f"| {float(density):.6g} |" in text


def test_dense_models_scalesim_export_says_nothing_was_changed():
    path = MODELS / "resnet34-cifar10-pgdat.yaml"
    files = exported(path, "scalesim")
    assert files["resnet34-cifar10-pgdat_topology.csv"].splitlines()[0].endswith("Num Filter, Strides,")
    assert "SparsitySupport : false" in files["resnet34-cifar10-pgdat.cfg"]
    assert "## What was changed" not in files["README.md"] and "exported shapes are dense" in files["README.md"]


def test_array_shape_is_square_ish_with_the_exact_product():
    assert array_shape(32) == (4, 8) and array_shape(64) == (8, 8) and array_shape(7) == (1, 7)
    for n in (1, 12, 96, 1000, 4099):
        h, w = array_shape(n)
        assert h * w == n and h <= w
    spec = load_spec().model_copy(
        update={"n_multipliers": 96, "io_bandwidth_bits": 12, "n_banks": 1, "weight_bits": 16}
    )
    assert bandwidth_words(spec) == 1  # 12 / 16 words rounded down, at least 1
    cfg = configparser.ConfigParser()
    table, _, _ = table_and_spec(MODELS / "resnet20-digits-pgdat.yaml")
    cfg.read_string(export(table, "scalesim", spec)["model.cfg"])
    assert (int(cfg["architecture_presets"]["ArrayHeight"]), int(cfg["architecture_presets"]["ArrayWidth"])) == (8, 12)


@pytest.mark.parametrize("to", sorted(EXPORTERS))
def test_readme_lists_noise_film_density_and_bn_with_hwsims_counts(to):
    for stem, column in (("resnet20-digits-float", "noise_add_ops"), ("resnet20-digits-oat", "film_mod_ops")):
        path = MODELS / f"{stem}.yaml"
        counts = count_columns(table_and_spec(path)[0])
        text = exported(path, to)["README.md"]
        total = int(np.sum(counts[column]))
        assert total > 0 and f"`{column}` = {total} in all" in text
        assert "**BN**" in text and "cannot express" in text
    path = MODELS / "resnet34-cifar10-floats-i.yaml"
    counts = count_columns(table_and_spec(path)[0])
    text = exported(path, to)["README.md"]
    assert f"`effective_macs` = {int(counts['effective_macs'].sum())} of {int(counts['macs'].sum())}" in text
    assert "| `layers.0.0.conv1` |" in text  # the per-layer table, density < 1


def test_slim_and_channel_pruned_models_export_their_real_shapes():
    for stem in ("resnet20-digits-floats-slim", "resnet34-cifar10-floats-c"):
        path = MODELS / f"{stem}.yaml"
        table = table_and_spec(path)[0]
        workload = [e for e in yaml.safe_load(exported(path, "zigzag")["workload.yaml"]) if e["operator_type"] != "Add"]
        assert [dict(zip(e["loop_dims"], e["loop_sizes"]))["C"] for e in workload] == table[
            "in_channels"
        ].tolist()  # C: the kept channels


def test_cli_writes_the_files_atomically_into_the_folder(tmp_path):
    out = tmp_path / "tl"
    result = CliRunner().invoke(
        app, ["export", str(MODELS / "resnet20-digits-oat.yaml"), "--to", "timeloop", "--out-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    files = exported(MODELS / "resnet20-digits-oat.yaml", "timeloop")
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    assert (out / "README.md").read_text() == files["README.md"]
    assert f"wrote {len(files)} files" in result.stderr


def test_cli_bad_input_is_one_line(tmp_path):
    model = str(MODELS / "resnet20-digits-float.yaml")
    run = lambda *args: CliRunner().invoke(app, ["export", *args])  # noqa: E731
    one_line_error(run(model, "--to", "onnx", "--out-dir", str(tmp_path)), "unknown format 'onnx'", "scalesim")
    one_line_error(run(str(tmp_path / "none.yaml"), "--to", "zigzag", "--out-dir", str(tmp_path)), "none.yaml")
    afile = tmp_path / "f.txt"
    afile.write_text("x")
    one_line_error(run(model, "--to", "zigzag", "--out-dir", str(afile)), "is a file")
    one_line_error(run(model, "--to", "zigzag", "--spec", "nope", "--out-dir", str(tmp_path)), "nope")


def test_write_export_refuses_paths_as_file_names(tmp_path):
    with pytest.raises(HwsimError, match="not a plain file name"):
        write_export({"../x.csv": ""}, tmp_path)


def test_run_dir_exports_the_masks_densities(tmp_path):
    from hwsim.config import ModelConfig
    from hwsim.estimate import estimate_run
    from hwsim.runner.train import train_run

    from .conftest import tiny_run

    model = ModelConfig(arch="resnet20", method="floats", dataset="digits", input={"height": 8, "width": 8},
                        num_classes=10, sparsity={"kind": "irregular", "density": 0.3})  # fmt: skip
    train_run(tiny_run("sparse", model, epochs=1), tmp_path, progress=False)
    estimate = estimate_run(tmp_path / "sparse")
    files = export(tmp_path / "sparse", "zigzag")
    workload = [e for e in yaml.safe_load(files["workload.yaml"]) if e["operator_type"] != "Add"]
    assert [math.prod(e["loop_sizes"]) for e in workload] == [layer["macs"] for layer in estimate.layers]
    effective = sum(layer["effective_macs"] for layer in estimate.layers)
    assert f"`effective_macs` = {effective} of" in files["README.md"]
    # the masks' per-layer density -> SCALE-Sim's README (written dense) and Timeloop's Weights density
    from hwsim.export import source_table

    table = source_table(tmp_path / "sparse")[0]
    assert (table["density"] < 1).any()
    scalesim = export(tmp_path / "sparse", "scalesim")
    for density, layer in zip(table["density"], table["name"]):
        if density < 1:
            assert f"| `{layer}` |" in scalesim["README.md"] and f"| {float(density):.6g} |" in scalesim["README.md"]
    timeloop = export(tmp_path / "sparse", "timeloop")
    densities = [
        yaml.safe_load(t)["problem"]["instance"].get("densities") for f, t in timeloop.items() if f != "README.md"
    ]
    assert [d["Weights"]["density"] if d else 1.0 for d in densities] == [float(d) for d in table["density"]]


def test_readme_drops_the_dense_density_limit_when_the_format_writes_density():
    """ "cannot express" is in every README (its heading); what tells Timeloop's sparse export apart is
    that its dense density line, and readme's "exported shapes are dense", are gone."""
    from hwsim.export.timeloop import DENSE_LIMIT

    sparse_text = exported(MODELS / "resnet34-cifar10-floats-i.yaml", "timeloop")["README.md"]
    dense_text = exported(MODELS / "resnet34-cifar10-pgdat.yaml", "timeloop")["README.md"]
    assert DENSE_LIMIT not in sparse_text and "exported shapes are dense" not in sparse_text
    assert DENSE_LIMIT in dense_text and "exported shapes are dense" in dense_text


@pytest.mark.parametrize("to", ["scalesim", "zigzag"])
def test_formats_without_density_say_what_was_changed(to):
    sparse_text = exported(MODELS / "resnet34-cifar10-floats-i.yaml", to)["README.md"]
    dense_text = exported(MODELS / "resnet34-cifar10-pgdat.yaml", to)["README.md"]
    assert "## What was changed" in sparse_text and "written dense" in sparse_text
    assert "## What was changed" not in dense_text
