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
        "Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
        "Channels", "Num Filter", "Strides", "",
    ]  # fmt: skip
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


@pytest.mark.parametrize("path", MODEL_FILES, ids=IDS)
def test_timeloop_problems_parse_and_give_hwsims_macs(path):
    files = exported(path, "timeloop")
    table = table_and_spec(path)[0]
    problems = [yaml.safe_load(text)["problem"] for name, text in files.items() if name != "README.md"]
    assert len(problems) == len(table)
    macs = []
    for i, problem in enumerate(problems):
        assert problem["shape"]["name"] == "CNN-Layer"
        d = problem["instance"]
        macs.append(d["C"] * d["M"] * d["R"] * d["S"] * d["N"] * d["P"] * d["Q"])
        # padding folded into P, Q: the input the problem reads fits the padded map
        span = (d["P"] - 1) * d["Wstride"] + (d["R"] - 1) * d["Wdilation"] + 1
        assert span <= int(table["in_w"][i]) + 2 * int(table["padding_w"][i])
    assert macs == hwsim_macs(path)


@pytest.mark.parametrize("path", MODEL_FILES, ids=IDS)
def test_zigzag_workload_parses_and_gives_hwsims_macs(path):
    files = exported(path, "zigzag")
    table, spec, _ = table_and_spec(path)
    workload = yaml.safe_load(files["workload.yaml"])
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
            assert e["dimension_relations"][0].startswith("ix=") and len(e["padding"]) == 2


def test_scalesim_ifmap_is_the_swept_padded_input_by_hand():
    path = MODELS / "resnet34-cifar10-float.yaml"
    topo = exported(path, "scalesim")["resnet34-cifar10-float_topology.csv"].splitlines()
    assert topo[1] == "conv1, 34, 34, 3, 3, 3, 64, 1,"  # 32 x 32 input, padding 1 each side
    stride2 = next(line for line in topo if line.startswith("layers.1.0.conv1,"))
    # 32 -> 16 at stride 2 reads rows -1 .. 31 of the padded map: 33, not 34 (34 would give SCALE-Sim
    # ceil(31 / 2) + 1 = 17 outputs and 13% more MACs, as benchmarks/crossval.py found)
    assert stride2 == "layers.1.0.conv1, 33, 33, 3, 3, 64, 128, 2,"  # (33 - 3) / 2 + 1 = 16


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
        workload = yaml.safe_load(exported(path, "zigzag")["workload.yaml"])
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
    workload = yaml.safe_load(files["workload.yaml"])
    assert [math.prod(e["loop_sizes"]) for e in workload] == [layer["macs"] for layer in estimate.layers]
    effective = sum(layer["effective_macs"] for layer in estimate.layers)
    assert f"`effective_macs` = {effective} of" in files["README.md"]
