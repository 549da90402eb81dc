"""Issue 8, estimate side: bad input is one line and exit 2, outputs never overwrite inputs, no number
that is not exact, strict JSON, bounded YAML, a cache that does not trust its files."""

import json
import math
import os
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import HARDWARE_RANGES, HardwareSpec, ModelConfig
from hwsim.costs import SpecGrid, costs
from hwsim.costs.delay import InexactError
from hwsim.errors import HwsimError
from hwsim.estimate import layer_table
from hwsim.workload.cache import cache_dir, checksum, load_table, table_key
from hwsim.workload.table import SCHEMA, LayerTable

from .conftest import MODELS, SPECS, one_line_error

runner = CliRunner()
SMALL = "arch: resnet20\nmethod: {method}\ninput: {{height: 8, width: 8}}\nnum_classes: 10\n"
SPEC_TEXT = (SPECS / "asic-65nm.yaml").read_text()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def strict_json(text):
    def refuse(token):
        raise ValueError(f"non-JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def small_model(tmp_path, method="float", extra="", name="m.yaml"):
    path = tmp_path / name
    path.write_text(SMALL.format(method=method) + extra)
    return path


# 1. outputs never overwrite inputs ---------------------------------------------------------------


def test_output_onto_any_input_is_refused_and_the_file_is_kept(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC_TEXT)
    model = small_model(tmp_path, extra="spec: s.yaml\n")
    other = small_model(tmp_path, "oat", name="o.yaml")
    (tmp_path / "link.yaml").symlink_to(model)
    os.link(model, tmp_path / "hard.yaml")
    before = {p: p.read_bytes() for p in (model, other, spec)}
    cases = [
        ("estimate", model, "-o", model),
        ("estimate", model, "-o", tmp_path / "link.yaml"),  # a symlink to the model
        ("estimate", model, "-o", tmp_path / "hard.yaml"),  # a hard link to the model
        ("estimate", model, "-o", spec),  # the model's own spec: file
        ("estimate", other, "--spec", spec, "-o", spec),  # the --spec file
        ("compare", model, other, "-o", other),
        ("compare", model, other, "-o", spec),
        ("compare", model, other, "-f", "json", "-o", tmp_path / "link.yaml"),
    ]
    for args in cases:
        one_line_error(run(*args), "--output", "which this command reads")
    assert {p: p.read_bytes() for p in before} == before
    assert not list(tmp_path.glob(".*tmp"))


def test_output_onto_a_builtin_spec_file_a_folder_or_nothing_is_refused(tmp_path):
    from hwsim.config import spec_file

    builtin = spec_file("asic-65nm")
    text = builtin.read_bytes()
    model = small_model(tmp_path)
    one_line_error(run("estimate", model, "-o", builtin), "which this command reads")
    assert builtin.read_bytes() == text
    one_line_error(run("estimate", model, "-o", ""), "--output: empty file name")
    one_line_error(run("estimate", model, "-o", tmp_path), "is a folder")
    result = run("estimate", model, "-o", tmp_path / "out" / "r.json", "-f", "json")  # a new file is fine
    assert result.exit_code == 0 and strict_json((tmp_path / "out" / "r.json").read_text())["totals"]


# 2. numbers: ranges (one source), exactness, strict JSON --------------------------------------------

SECTION = {"tau_read_ns": "timing", "tau_mult_ns": "timing", "n_multipliers": "compute"}


@pytest.mark.parametrize(
    "field, value",
    [
        ("n_banks", "9223372036854775807"),
        ("weight_bits", "4611686018427387904"),
        ("n_multipliers", str(10**30)),
        ("io_bandwidth_bits", "0"),
        ("tau_read_ns", "1e308"),
        ("tau_read_ns", ".nan"),
        ("tau_mult_ns", ".inf"),
        ("weight_bits", "65"),
    ],
)
def test_out_of_range_spec_values_are_one_line(tmp_path, field, value):
    spec = tmp_path / "s.yaml"
    spec.write_text(re.sub(rf"{field}: [^,}}]+", f"{field}: {value}", SPEC_TEXT))
    section = SECTION.get(field, "memory")
    one_line_error(run("estimate", small_model(tmp_path), "--spec", spec), str(spec), f"{section}.{field}")


def test_spec_files_and_spec_grids_share_the_ranges():
    """Both accept each field's bounds and refuse one step beyond: the ranges have one source."""
    base = HardwareSpec.model_validate(
        {"timing": {"tau_read_ns": 9, "tau_mult_ns": 4}, "memory": {"io_bandwidth_bits": 64, "weight_bits": 8, "n_banks": 16}, "compute": {"n_multipliers": 32}}
    ).flat()  # fmt: skip
    for field, bounds in HARDWARE_RANGES.items():
        step = 1e-9 if field.startswith("tau") else 1
        low = bounds.low + step if bounds.low_open else bounds.low
        for value, ok in (
            (low, True),
            (bounds.high, True),
            (bounds.low if bounds.low_open else low - step, False),
            (bounds.high + (1e3 if step < 1 else 1), False),
        ):
            values = {**base, field: value}
            grid_ok = spec_ok = True
            try:
                SpecGrid.from_arrays(**values)
            except HwsimError:
                grid_ok = False
            try:
                HardwareSpec(**values)
            except ValueError:
                spec_ok = False
            assert grid_ok == spec_ok == ok, (field, value)


def _table(kernel=3, channels=2**14, size=2**12):
    row = {c.name: {"int": 0, "float": 1.0, "bool": False, "str": ""}[c.dtype] for c in SCHEMA}
    row.update(
        name="big", op="conv", kernel_h=kernel, kernel_w=kernel, in_channels=channels, out_channels=channels,
        groups=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, in_h=size, in_w=size, out_h=size, full_in_channels=channels, full_out_channels=channels,
        out_w=size, weight_params=kernel * kernel * channels * channels,
    )  # fmt: skip
    return LayerTable({k: [v] for k, v in row.items()}, {"model_params": row["weight_params"], "other_params": 0})


@pytest.mark.parametrize("method", ["pgdat", "oat", "float"])
def test_cycle_counts_beyond_2_53_are_refused_naming_the_field(method):
    spec = dict(tau_read_ns=9, tau_mult_ns=4, io_bandwidth_bits=64, weight_bits=8, n_banks=16)
    with pytest.raises(InexactError, match=r"^compute\.n_multipliers: .*2\^53"):
        costs(_table(), SpecGrid.from_arrays(n_multipliers=1, **spec), method)
    # the same table with enough multipliers stays below 2^53 and is exact
    grid = costs(_table(), SpecGrid.from_arrays(n_multipliers=2**16, **spec), method)
    assert math.isfinite(grid.totals["delay_ns"][0])
    with pytest.raises(InexactError, match=r"^memory\.weight_bits: K x weight_bits"):
        costs(_table(kernel=2**12, channels=2**13, size=1), SpecGrid.from_arrays(n_multipliers=2**31, **spec), method)


def test_compare_of_different_conv_counts_is_null_with_a_note():
    models = [MODELS / "resnet20-digits-float.yaml", MODELS / "wrn16_8-svhn-float.yaml"]
    data = strict_json(run("compare", *models, "-f", "json").stdout)
    second = data["rows"][1]
    assert second["conv_delay_vs_first_max"] is None and second["conv_delay_vs_eq7_max"] is not None
    assert "conv counts differ (16 vs 21" in data["notes"][0]
    table = run("compare", *models)
    assert table.exit_code == 0 and "n/a" in table.stdout and "nan" not in table.stdout.lower()
    assert "conv counts differ (16 vs 21" in table.stdout
    csv = run("compare", *models, "-f", "csv").stdout.splitlines()
    header, row = csv[0].split(","), csv[2].split(",")
    assert row[header.index("conv_delay_vs_first_max")] == "" and "nan" not in csv[2].lower()


def test_json_writer_is_strict():
    from hwsim.formats import json_text

    text = json_text({"a": float("nan"), "b": [float("inf"), np.float64(-np.inf), 1.5], "c": np.int64(3)})
    assert strict_json(text) == {"a": None, "b": [None, None, 1.5], "c": 3}


# 3. resource bombs ---------------------------------------------------------------------------------


def test_billion_laughs_is_one_short_line(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    model = tmp_path / "bomb.yaml"
    model.write_text("\n".join(lines) + "\narch: *i\n")
    assert len(model.read_bytes()) < 1024
    line = one_line_error(run("estimate", model), str(model), "YAML aliases")
    assert len(line) < 300


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("arch: resnet20\n" + "# pad\n" * 200_000, "at most 1,048,576"),
        ("arch: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 32"),
        ("arch: &x resnet20\nmethod: *x\n", "YAML aliases"),
        ("self: &s [*s]\n", "YAML aliases"),
        ("arch: " + "x" * 100_000 + "\nmethod: float\ndataset: cifar10\n", "..."),
        ('arch: resnet20\nmethod: float\ndataset: cifar10\n"k\\ney": 1\n', "unknown key"),
    ],
)
def test_oversized_nested_aliased_or_long_yaml_is_one_short_line(tmp_path, text, fragment):
    model = tmp_path / "m.yaml"
    model.write_text(text)
    line = one_line_error(run("estimate", model), str(model), fragment)
    assert len(line) < 400


# 4. the layer-table cache does not trust its files -----------------------------------------------


def _tamper_nan(t):
    t["columns"]["out_h"][0] = float("nan")


def _tamper_kernel(t):
    t["columns"]["kernel_h"] = [2 * k for k in t["columns"]["kernel_h"]]  # doubles every MAC count


def _tamper_strings(t):
    t["columns"]["in_channels"] = [str(v) for v in t["columns"]["in_channels"]]


def _tamper_attrs(t):
    t["attrs"] = {}


def _tamper_negative(t):
    t["columns"]["out_w"][3] = -64


def _tamper_groups(t):
    t["columns"]["groups"][0] = 0


@pytest.mark.parametrize(
    "tamper", [_tamper_nan, _tamper_kernel, _tamper_strings, _tamper_attrs, _tamper_negative, _tamper_groups]
)
@pytest.mark.parametrize("fix_checksum", [False, True])
def test_tampered_cache_entries_are_rebuilt_with_one_warning(tmp_path, monkeypatch, tamper, fix_checksum):
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(tmp_path / "cache"))
    model = small_model(tmp_path, "oat")
    fresh = run("estimate", model, "-f", "json")
    assert fresh.exit_code == 0
    config = ModelConfig(arch="resnet20", method="oat", input={"height": 8, "width": 8}, num_classes=10, name="m")
    path = cache_dir() / f"{table_key(config)}.json"
    data = json.loads(path.read_text())
    tamper(data["table"])
    if fix_checksum:  # a careful edit that recomputes the checksum: the schema check still catches it
        data["sha256"] = (
            checksum(json.loads(json.dumps(data["table"]).replace("NaN", "0")))
            if tamper is _tamper_nan
            else checksum(data["table"])
        )
    path.write_text(json.dumps(data))
    result = run("estimate", model, "-f", "json")
    assert result.exit_code == 0 and "Traceback" not in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "ignoring corrupt layer-table cache entry" in warnings[0], result.stderr
    assert strict_json(result.stdout) == strict_json(fresh.stdout)  # rebuilt: the same numbers
    assert load_table(table_key(config)).equals(layer_table(config, use_cache=False))  # and stored again


# 6. help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["estimate"], ["compare"], ["train"]])
def test_help_shows_no_type_for_flags(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "<bool>" not in result.stdout
    if command == ["estimate"]:
        assert "<str>" in result.stdout  # options that take a value keep their type
