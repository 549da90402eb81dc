"""Hardware specs: built-in names vs paths, sectioned vs flat files, package data, the wheel,
``hwsim specs`` and the calibration line of ``hwsim compare``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from importlib import resources

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from hwsim import cli
from hwsim.cli import app
from hwsim.config import (
    DEFAULT_SPEC,
    FLAT_KEYS,
    HardwareSpec,
    builtin_spec_names,
    load_model_config,
    load_spec,
    resolve_spec_path,
)
from hwsim.errors import HwsimError

from .conftest import MODELS, REPO, SPECS

runner = CliRunner()
FLOAT = str(MODELS / "resnet34-cifar10-float.yaml")
OAT = str(MODELS / "resnet34-cifar10-oat.yaml")
PACKAGED = resources.files("hwsim") / "specs"
VALUES = dict(tau_read_ns=9.0, tau_mult_ns=4.0, io_bandwidth_bits=64, weight_bits=8, n_banks=16, n_multipliers=32)
FLAT_TEXT = "".join(f"{key}: {value:g}\n" for key, value in VALUES.items())
SECTIONED_TEXT = """\
timing: {tau_read_ns: 9, tau_mult_ns: 4}
memory: {io_bandwidth_bits: 64, weight_bits: 8, n_banks: 16}
compute: {n_multipliers: 32}
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- names and paths ----------------------------------------------------------------------------


def test_builtin_names_are_the_packaged_files():
    assert DEFAULT_SPEC in builtin_spec_names() == ["asic-65nm", "eyeriss-65nm"]
    for name in builtin_spec_names():
        assert load_spec(name).name == name  # the file's own name: key agrees with its file name
    assert cli.DEFAULT_SPEC_HELP.endswith(DEFAULT_SPEC)


def test_repo_specs_are_byte_identical_to_the_packaged_ones():
    """One source of truth: hwsim/specs/*.yaml ships; specs/*.yaml is a copy for reading."""
    packaged = {p.name: p.read_bytes() for p in PACKAGED.iterdir() if p.name.endswith(".yaml")}
    repo = {p.name: p.read_bytes() for p in SPECS.glob("*.yaml")}
    assert sorted(repo) == sorted(packaged), "specs/ and hwsim/specs/ hold different files"
    for name, data in packaged.items():
        assert repo[name] == data, f"specs/{name} differs from hwsim/specs/{name}: cp hwsim/specs/{name} specs/{name}"


def test_name_and_path_give_the_same_spec():
    by_name, by_path = load_spec("asic-65nm"), load_spec(SPECS / "asic-65nm.yaml")
    assert by_name == by_path == load_spec() == load_spec(str(SPECS / "asic-65nm.yaml"))
    assert by_name.flat() == VALUES


def test_an_existing_file_wins_over_a_builtin_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "asic-65nm").write_text(SECTIONED_TEXT.replace("n_multipliers: 32", "n_multipliers: 64"))
    spec = load_spec("asic-65nm")
    assert spec.n_multipliers == 64 and spec.name == "asic-65nm" and spec.calibration is None


def test_unknown_name_is_one_line_listing_the_builtins(tmp_path):
    with pytest.raises(
        HwsimError, match=r"^asic-7nm: no such file, and not a built-in spec \(built-in: asic-65nm, eyeriss-65nm\)$"
    ):
        load_spec("asic-7nm")
    one_error_line(run("estimate", FLOAT, "--spec", "asic-7nm"), "asic-7nm: no such file", "built-in: asic-65nm")
    one_error_line(
        run("compare", FLOAT, OAT, "--spec", tmp_path / "x.yaml"), "x.yaml: no such file", "built-in: asic-65nm"
    )


def test_model_yaml_copied_elsewhere_finds_its_builtin_spec(tmp_path):
    copied = tmp_path / "elsewhere" / "m.yaml"
    copied.parent.mkdir()
    shutil.copy(FLOAT, copied)
    config = load_model_config(copied)
    assert config.spec == "asic-65nm"
    assert resolve_spec_path(copied, config) == "asic-65nm"
    assert load_spec(resolve_spec_path(copied, config)) == load_spec()
    here = json.loads(run("estimate", FLOAT, "-f", "json").output)
    there = json.loads(run("estimate", copied, "-f", "json").output)
    assert there["totals"] == here["totals"] and there["spec"] == here["spec"]


def test_model_yaml_spec_path_next_to_it_wins(tmp_path):
    (tmp_path / "asic-65nm").write_text(SECTIONED_TEXT.replace("n_banks: 16", "n_banks: 8"))
    model = tmp_path / "m.yaml"
    model.write_text("arch: resnet20\nmethod: pgdat\ndataset: cifar10\nspec: asic-65nm\n")
    spec = load_spec(resolve_spec_path(model, load_model_config(model)))
    assert spec.n_banks == 8


def test_spec_option_takes_a_name():
    by_name = json.loads(run("estimate", FLOAT, "-f", "json", "--spec", "asic-65nm").output)
    by_path = json.loads(run("estimate", FLOAT, "-f", "json", "--spec", SPECS / "asic-65nm.yaml").output)
    assert by_name["totals"] == by_path["totals"] and by_name["totals"]["conv_delay_ns"] == pytest.approx(
        149_077_014, abs=1
    )


# --- sections -----------------------------------------------------------------------------------


def test_flat_and_sectioned_files_load_to_the_same_values(tmp_path):
    flat, sectioned = tmp_path / "flat.yaml", tmp_path / "sectioned.yaml"
    flat.write_text(FLAT_TEXT)
    sectioned.write_text(SECTIONED_TEXT)
    a, b = load_spec(flat), load_spec(sectioned)
    assert a.flat() == b.flat() == VALUES
    assert a.model_dump(exclude={"name"}) == b.model_dump(exclude={"name"})
    assert a.weights_per_read == b.weights_per_read == 128
    assert HardwareSpec(**VALUES, name="sectioned") == HardwareSpec.model_validate(
        b.model_dump()
    )  # flat keyword construction
    assert set(a.model_dump()) == {
        "name", "description", "calibration", "timing", "memory", "compute", "energy", "cost_model", "hierarchy",
    }  # fmt: skip
    assert a.cost_model == "paper" and a.hierarchy is None
    # flat and sectioned keys for different values may be combined
    half = tmp_path / "half.yaml"
    half.write_text(
        "tau_read_ns: 9\ntau_mult_ns: 4\nmemory: {io_bandwidth_bits: 64, weight_bits: 8, n_banks: 16}\nn_multipliers: 32\n"
    )
    assert load_spec(half).flat() == VALUES


def test_estimate_json_shows_sections_and_numbers_do_not_change(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text(FLAT_TEXT)
    default = json.loads(run("estimate", FLOAT, "-f", "json").output)
    old = json.loads(run("estimate", FLOAT, "-f", "json", "--spec", flat).output)
    assert default["spec"]["timing"] == {"tau_read_ns": 9.0, "tau_mult_ns": 4.0}
    assert default["spec"]["memory"] == {
        "io_bandwidth_bits": 64, "weight_bits": 8, "n_banks": 16, "sparse_format": "values", "index_bits": 16,
        "sparse_reads": False,
    }  # fmt: skip
    assert default["spec"]["compute"] == {"n_multipliers": 32, "zero_skipping": False}
    assert old["totals"] == default["totals"] and old["layers"] == default["layers"]


def test_flat_properties_and_model_copy_with_flat_keys():
    spec = load_spec()
    for key, value in VALUES.items():
        assert getattr(spec, key) == value
        assert key in type(getattr(spec, FLAT_KEYS[key])).model_fields
    four = spec.model_copy(update={"weight_bits": 4, "n_multipliers": 8, "name": "x"})
    assert (four.weight_bits, four.n_multipliers, four.name, four.n_banks) == (4, 8, "x", 16)
    assert spec.weight_bits == 8  # frozen original untouched
    with pytest.raises(ValidationError, match="frozen"):
        spec.timing.tau_read_ns = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, fragment",
    [
        (
            "n_banks: 16\n" + SECTIONED_TEXT,
            "memory.n_banks: given twice, as flat key n_banks and in section memory; keep one",
        ),
        ("tau_read_ns: 9\n" + SECTIONED_TEXT, "timing.tau_read_ns: given twice"),
        (SECTIONED_TEXT.replace("tau_read_ns", "tau_raed_ns"), "timing.tau_raed_ns: unknown key"),
        (SECTIONED_TEXT.replace("n_banks: 16}", "n_banks: 16, n_lanes: 4}"), "memory.n_lanes: unknown key"),
        (SECTIONED_TEXT + "pipeline: {depth: 3}\n", "pipeline: unknown key"),
        (
            SECTIONED_TEXT.replace("n_multipliers: 32", "n_multipliers: 0"),
            "compute.n_multipliers: Input should be greater than 0",
        ),
        (SECTIONED_TEXT.replace("compute: {n_multipliers: 32}\n", ""), "compute: Field required"),
        (
            SECTIONED_TEXT.replace("compute: {n_multipliers: 32}", "compute: 32"),
            "compute: Input should be a valid dictionary",
        ),
        (FLAT_TEXT.replace("weight_bits: 8", "weight_bits: 0"), "memory.weight_bits: Input should be greater than 0"),
    ],
)
def test_bad_sections_are_one_line_with_the_field_path(tmp_path, text, fragment):
    spec = tmp_path / "x.yaml"
    spec.write_text(text)
    with pytest.raises(HwsimError) as err:
        load_spec(spec)
    assert str(err.value).startswith(f"{spec}: ") and fragment in str(err.value) and "\n" not in str(err.value)
    one_error_line(run("estimate", FLOAT, "--spec", spec), str(spec), fragment)


# --- hwsim specs, calibration ---------------------------------------------------------------------


def test_specs_command_lists_builtins():
    table = run("specs")
    assert table.exit_code == 0, table.output
    for text in (
        "asic-65nm",
        "timing.tau_read_ns",
        "memory.n_banks",
        "compute.n_multipliers",
        "65 nm Von-Neumann ASIC",
        "calibration of spec asic-65nm",
    ):
        assert text in table.output, text
    rows = run("specs", "-f", "csv").output.strip().splitlines()
    assert rows[0].startswith(
        "name,description,cost_model,tau_read_ns,tau_mult_ns,io_bandwidth_bits,weight_bits,n_banks,n_multipliers,"
    ) and rows[0].endswith(",calibrated")
    # asic-65nm: the paper model's values, its hierarchy cells empty (it has no hierarchy section)
    assert rows[1].startswith("asic-65nm,") and ",paper,9.0,4.0,64,8,16,32," in rows[1]
    from hwsim.config import HIERARCHY_FIELDS

    empty = 1 + len(HIERARCHY_FIELDS)  # dataflow and every hierarchy field
    assert rows[1].endswith(",32," + "," * (empty - 1) + ",True")
    data = json.loads(run("specs", "-f", "json").output)
    assert [d["name"] for d in data] == builtin_spec_names()
    assert HardwareSpec.model_validate(data[0]) == load_spec()
    assert "| memory.weight_bits | 8 |" in run("specs", "-f", "markdown").output


def test_shipped_spec_states_its_calibration():
    spec = load_spec()
    for key in (
        "io_bandwidth_bits",
        "weight_bits",
        "n_banks",
        "n_multipliers",
        "1.66x",
        "tau_read_ns = 9",
        "tau_mult_ns = 4",
    ):
        assert key in spec.calibration, key


@pytest.mark.parametrize("attribution, peak", [("paper", 1.655), ("structural", 1.022)])
def test_compare_prints_the_calibration_line(attribution, peak):
    table = run("compare", FLOAT, OAT, "-a", attribution)
    assert table.exit_code == 0, table.output
    last = table.output.strip().splitlines()[-1]
    assert last.startswith("calibration of spec asic-65nm: ") and "not in the paper" in last
    data = json.loads(run("compare", FLOAT, OAT, "-a", attribution, "-f", "json").output)
    assert data["calibration"] == last
    oat = data["rows"][1]
    assert oat["conv_delay_vs_first_max"] == pytest.approx(peak, abs=1e-3)
    assert oat["conv_delay_ratio"] == pytest.approx({"paper": 0.9972, "structural": 0.9954}[attribution], abs=1e-4)
    assert last in run("compare", FLOAT, OAT, "-a", attribution, "-f", "markdown").output


def test_compare_without_calibration_prints_no_line(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(SECTIONED_TEXT)
    table = run("compare", FLOAT, OAT, "--spec", plain)
    assert table.exit_code == 0 and "calibration" not in table.output
    assert "calibration" not in json.loads(run("compare", FLOAT, OAT, "--spec", plain, "-f", "json").output)


# --- packaging ----------------------------------------------------------------------------------


def test_wheel_ships_the_specs_and_loads_them_by_name(tmp_path):
    """Build a wheel offline from a copy of the sources, check it holds hwsim/specs/*.yaml, and load
    a spec by name from the unpacked wheel (no checkout on the path)."""
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(REPO / "hwsim", src / "hwsim", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if build.returncode != 0 and ("No module named" in build.stderr or "invalid command 'bdist_wheel'" in build.stderr):
        pytest.skip(f"cannot build a wheel offline here: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    (wheel,) = out.glob("hwsim-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = sorted(n for n in zf.namelist() if n.startswith("hwsim/specs/"))
        assert shipped == [f"hwsim/specs/{name}.yaml" for name in builtin_spec_names()]
        for name in shipped:
            assert zf.read(name) == (SPECS / name.rsplit("/", 1)[1]).read_bytes()
        zf.extractall(tmp_path / "site")
    probe = "import hwsim.config as c; s = c.load_spec('asic-65nm'); print(c.__file__, s.n_multipliers, c.builtin_spec_names())"
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    where, n_mult, names = done.stdout.split(" ", 2)
    assert where.startswith(str(tmp_path / "site")) and n_mult == "32" and "asic-65nm" in names
