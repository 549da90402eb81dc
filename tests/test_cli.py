"""CLI (typer's CliRunner): every format, compare, and bad input -> one line, exit 2, no traceback."""

import json
import shutil

import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from hwsim.cli import _option_error, app
from hwsim.runfiles import TrainSettings

from .conftest import MODELS, REPO, SPECS, one_line_error

runner = CliRunner()
# Four real digits runs (eps 0.1, issue 6): FLOAT seeds 0 and 1, OAT seed 0, PGD-AT lambda 0.2 seed 0.
RUNS = REPO / "tests" / "fixtures" / "digits-runs"
FLOAT = str(MODELS / "resnet34-cifar10-float.yaml")
OAT = str(MODELS / "resnet34-cifar10-oat.yaml")
SPEC_TEXT = (SPECS / "asic-65nm.yaml").read_text()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_estimate_table_shows_totals():
    result = run("estimate", FLOAT)
    assert result.exit_code == 0, result.output
    assert "21,299,182" in result.output and "1,159,402,496" in result.output
    assert "149.078 ms" in result.output  # Eq. 8 total on the default spec


def test_estimate_json_contract():
    result = run("estimate", FLOAT, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert set(data) >= {"model", "spec", "totals", "layers", "attribution"}
    assert set(data["totals"]) >= {"params", "weight_bytes", "macs", "flops", "delay_ns"}
    assert data["totals"]["macs"] == 1_159_402_496 and data["totals"]["flops"] == 2 * 1_159_402_496
    first = data["layers"][0]
    for column in (
        "name",
        "op",
        "kernel_h",
        "in_channels",
        "out_h",
        "weight_params",
        "macs",
        "noisy",
        "density",
        "delay_ns",
        "delay_base_ns",
    ):
        assert column in first
    assert first["delay_ns"] == 221_526.0 and first["delay_base_ns"] == 221_310.0
    assert data["spec"]["timing"]["tau_read_ns"] == 9 and data["attribution"] == "paper"


def test_estimate_csv_markdown_and_output_file(tmp_path):
    csv = run("estimate", FLOAT, "--per-layer", "-f", "csv")
    lines = csv.output.strip().splitlines()
    assert csv.exit_code == 0 and len(lines) == 1 + 37 and lines[0].startswith("name,op,")
    md = run("estimate", OAT, "--per-layer", "-f", "markdown")
    assert md.exit_code == 0 and "| film1.fc1 | film_linear |" in md.output
    out = tmp_path / "sub" / "r.json"
    result = run("estimate", FLOAT, "-f", "json", "-o", out)
    assert result.exit_code == 0 and json.loads(out.read_text())["totals"]["params"] == 21_299_182
    assert not list(out.parent.glob(".*tmp"))  # atomic write leaves no temp file


def test_compare_reports_fig8_view():
    result = run("compare", FLOAT, OAT, "-f", "json")
    assert result.exit_code == 0
    rows = {r["method"]: r for r in json.loads(result.output)["rows"]}
    assert rows["oat"]["conv_delay_vs_first_max"] == pytest.approx(1.655, abs=1e-3)
    assert rows["oat"]["memory_ratio"] == pytest.approx(31_421_002 / 21_299_182)
    table = run("compare", FLOAT, OAT)
    assert table.exit_code == 0 and "conv_delay_vs_first_max" in table.output


def test_spec_option_overrides(tmp_path):
    spec = tmp_path / "fast.yaml"
    spec.write_text(SPEC_TEXT.replace("n_multipliers: 32", "n_multipliers: 64"))
    default = json.loads(run("estimate", FLOAT, "-f", "json").output)["totals"]["delay_ns"]
    faster = json.loads(run("estimate", FLOAT, "-f", "json", "--spec", spec).output)["totals"]["delay_ns"]
    assert faster < default


def _bad(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "spec_text, fragment",
    [
        ("tau_read_ns: [9\n", "malformed YAML"),
        (SPEC_TEXT + "n_lanes: 4\n", "n_lanes: unknown key"),
        (SPEC_TEXT.replace("n_banks: 16", "n_banks: 0"), "n_banks: Input should be greater than 0"),
        (SPEC_TEXT.replace("n_banks: 16", "n_banks: -4"), "n_banks"),
        (SPEC_TEXT.replace("n_banks: 16", "n_banks: 2.5"), "n_banks: Input should be a valid integer"),
        (SPEC_TEXT.replace("n_multipliers: 32", "n_multipliers: many"), "n_multipliers"),
        (SPEC_TEXT.replace("tau_read_ns: 9", "tau_read_ns: -9"), "tau_read_ns"),
        (SPEC_TEXT.replace("weight_bits: 8", "weight_bits: 0"), "weight_bits"),
        (SPEC_TEXT.replace("tau_mult_ns: 4", "tau_mult_ns: .nan"), "tau_mult_ns"),
        ("- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_bad_spec_one_line_exit_2(tmp_path, spec_text, fragment):
    spec = _bad(tmp_path, "bad.yaml", spec_text)
    result = run("estimate", FLOAT, "--spec", spec)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert str(spec) in lines[0] and fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "model_text, fragment",
    [
        ("arch: resnet34\nmethod: float\ndataset: cifar10\ncolour: red\n", "colour: unknown key"),
        ("arch: vgg16\nmethod: float\ndataset: cifar10\n", "arch"),
        ("arch: resnet34\nmethod: fancy\ndataset: cifar10\n", "method"),
        ("arch: resnet34\nmethod: float\ndataset: imagenet\n", "unknown 'imagenet'"),
        ("arch: resnet34\nmethod: float\n", "give either dataset"),
        ("arch: resnet34\nmethod: oat\ndataset: cifar10\nfilm_dim: 0\n", "film_dim"),
        ("arch: resnet34\nmethod: oat\ndataset: cifar10\neval: {lambda: 2}\n", "eval.lambda"),
        ("arch: resnet34\nmethod: oat\ndataset: cifar10\neval: {lambda_n: 0.5}\n", "only FLOAT / FLOATS has lambda_n"),
        ("arch: resnet34\nmethod: float\ndataset: cifar10\nspec: nowhere.yaml\n", "nowhere.yaml: no such file"),
        ("arch: resnet34\n  method: float\n", "malformed YAML"),
    ],
)
def test_bad_model_one_line_exit_2(tmp_path, model_text, fragment):
    model = _bad(tmp_path, "m.yaml", model_text)
    result = run("estimate", model)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert fragment in lines[0], lines[0]


def test_missing_files_and_bad_options(tmp_path):
    for args in (
        ["estimate", tmp_path / "none.yaml"],
        ["estimate", FLOAT, "--spec", tmp_path / "none.yaml"],
        ["compare", FLOAT, tmp_path / "x.yaml"],
    ):
        result = run(*args)
        assert result.exit_code == 2 and "no such file" in result.output and "Traceback" not in result.output
    assert run("estimate", FLOAT, "-f", "xml").exit_code == 2
    assert run("estimate", FLOAT, "-a", "nowhere").exit_code == 2


def test_every_shipped_model_estimates():
    for path in sorted(MODELS.glob("*.yaml")):
        result = run("estimate", path, "-f", "json")
        assert result.exit_code == 0, (path, result.output)
        totals = json.loads(result.output)["totals"]
        assert totals["macs"] > 0 and totals["delay_ns"] >= totals["delay_base_ns"]


def test_report_command_on_example_runs(tmp_path):
    out = tmp_path / "out"
    result = run("report", RUNS / "float-seed0", RUNS / "pgdat-l0.2-seed0", "--out-dir", out, "-f", "csv", "--no-plots")
    assert result.exit_code == 0, result.output
    assert result.stdout == (out / "report.csv").read_text()  # the printed text is the CSV
    rows = [line.split(",") for line in (out / "report.csv").read_text().strip().splitlines()]
    header, body = rows[0], rows[1:]
    assert len(body) == 2 * (4 * 3 + 3)  # last and best; FLOAT: 4 lambdas x 3 attacks; PGD-AT: 3 attacks
    params = {r[header.index("method")]: int(r[header.index("params")]) for r in body}
    assert params == {"float": 274_063, "pgdat": 272_474}
    assert {r[header.index("spec")] for r in body} == {"asic-65nm"}
    empty = tmp_path / "empty-run"
    empty.mkdir()
    one_line_error(run("report", empty, "--out-dir", out), empty, "no results.json")


def test_report_output_is_a_file_and_out_dir_a_folder(tmp_path):
    out, text = tmp_path / "figures", tmp_path / "text" / "report.md"
    args = ["report", RUNS / "float-seed0", RUNS / "float-seed1", "--out-dir", out, "-f", "markdown", "--no-plots"]
    shown = run(*args)
    result = run(*args, "-o", text)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and f"wrote {text}" in result.stderr
    assert text.read_text() == shown.stdout and text.read_text().startswith(
        "### accuracy and cost of 2 run(s) on asic-65nm"
    )
    assert not list(text.parent.glob(".*tmp"))  # written atomically
    assert sorted(p.name for p in out.iterdir()) == [
        "report-seeds.csv",
        "report-seeds.json",
        "report.csv",
        "report.json",
    ]
    # the seed group float-seed0/1: mean CA at lambda_n = 0 (last checkpoint, PGD-7) of 99.444 and 99.722
    seeds = pd.read_csv(out / "report-seeds.csv")
    row = seeds[(seeds["checkpoint"] == "last") & (seeds["attack"] == "pgd7") & (seeds["lam"] == 0.0)].iloc[0]
    assert (row["run"], row["seeds"]) == ("float", 2)
    assert row["clean_acc_mean"] == pytest.approx((99.44444444444444 + 99.72222222222223) / 2)
    assert row["robust_acc_mean"] == pytest.approx((83.33333333333333 + 84.44444444444444) / 2)
    assert "| float | float | last | 0 | 0 | pgd7 | 2 | 99.58 |" in text.read_text()
    # -o names a file: an existing folder is refused in one line, not written into
    one_line_error(run(*args, "-o", out), out, "is a folder")
    # -o onto a file the report reads or writes is refused before anything is written
    copied = tmp_path / "runs" / "float-seed0"
    shutil.copytree(RUNS / "float-seed0", copied)
    before = (copied / "results.json").read_bytes()
    fresh = tmp_path / "fresh"
    for target in (copied / "results.json", fresh / "report.csv"):
        base = ["report", copied, "--out-dir", fresh, "--no-plots"]
        one_line_error(run(*base, "-o", target), target, "which this command reads or writes")
    assert (copied / "results.json").read_bytes() == before and not fresh.exists()


def copy_run(root, name, spec=None, **edits):
    """A copy of the fixture run ``name`` whose stored model config names ``spec``; ``edits`` maps a
    dotted key of results.json to a new value."""
    run_dir = root / name
    shutil.copytree(RUNS / name, run_dir)
    for file in ("run.json", "results.json"):
        data = json.loads((run_dir / file).read_text())
        data["config"]["model"]["spec"] = spec
        if file == "results.json":
            for key, value in edits.items():
                *parents, last = key.split(".")
                node = data
                for part in parents:
                    node = node[int(part)] if isinstance(node, list) else node[part]
                node[last] = value
        (run_dir / file).write_text(json.dumps(data))
    return run_dir


def report_json(*args):
    result = run("report", *args, "-f", "json", "--no-plots")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_report_costs_each_run_on_its_model_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = ["--out-dir", tmp_path / "out"]
    default = report_json(RUNS / "float-seed0", *out)
    full = default["rows"][0]["weight_bytes"]
    assert default["spec"] == "asic-65nm" and default["weight_bits"] == 8
    four_bit = SPEC_TEXT.replace("weight_bits: 8", "weight_bits: 4").replace("name: asic-65nm", "name: four")
    # relative to the run directory
    near = copy_run(tmp_path / "a", "float-seed0", spec="four.yaml")
    (near / "four.yaml").write_text(four_bit)
    data = report_json(near, RUNS / "pgdat-l0.2-seed0", *out)
    assert data["spec"] == "four, asic-65nm" and data["weight_bits"] == "4/8"
    by_run = {r["run"]: r for r in data["rows"]}
    assert by_run["float-seed0"]["spec"] == "four" and by_run["float-seed0"]["weight_bytes"] == full / 2
    assert by_run["pgdat-l0.2-seed0"]["spec"] == "asic-65nm"
    # --spec wins for every run
    forced = report_json(near, "--spec", SPECS / "asic-65nm.yaml", *out)
    assert {r["spec"] for r in forced["rows"]} == {"asic-65nm"} and forced["rows"][0]["weight_bytes"] == full
    # relative to the current directory
    (tmp_path / "specs-here").mkdir()
    (tmp_path / "specs-here" / "four.yaml").write_text(four_bit)
    here = copy_run(tmp_path / "b", "float-seed0", spec="specs-here/four.yaml")
    assert report_json(here, *out)["rows"][0]["weight_bytes"] == full / 2
    # a shipped model file's own "../specs/asic-65nm.yaml" (relative to hwsim's models/)
    shipped = copy_run(tmp_path / "c", "float-seed0", spec="../specs/asic-65nm.yaml")
    assert report_json(shipped, *out)["rows"][0]["weight_bytes"] == full
    # a built-in spec's name, as the shipped ResNet34 models now give it
    named = copy_run(tmp_path / "e", "float-seed0", spec="asic-65nm")
    assert report_json(named, *out)["rows"][0]["weight_bytes"] == full
    # nowhere: one line naming the run, the path and the way out
    lost = copy_run(tmp_path / "d", "float-seed0", spec="nowhere.yaml")
    one_line_error(run("report", lost, *out), "run float-seed0", lost, "'nowhere.yaml' is not found", "--spec")


@pytest.mark.parametrize(
    "edits, fragment",
    [
        ({"points.0.clean_acc": "high"}, "results.json: points.0.clean_acc: Input should be a valid number"),
        (
            {"points.3.checkpoint": "newest"},
            "results.json: points.3.checkpoint: Input should be 'last' or 'best' (got 'newest')",
        ),
        (
            {"config.model.arch": "vgg16"},
            "results.json: config.model.arch: Input should be 'resnet20', 'resnet34', 'wrn16_8' or 'wrn40_2' (got 'vgg16')",
        ),
        ({"config.train.epochs": 0}, "results.json: config.train.epochs: Input should be greater than 0 (got 0)"),
        ({"config.train.colour": "red"}, "results.json: config.train.colour: unknown key"),
    ],
)
def test_report_invalid_run_files_name_the_field(tmp_path, edits, fragment):
    bad = copy_run(tmp_path, "float-seed0", **edits)
    one_line_error(run("report", bad, "--out-dir", tmp_path / "out"), bad, fragment)
    assert not (tmp_path / "out").exists()


def test_train_option_errors_keep_pydantic_message():
    result = run("train", MODELS / "resnet20-digits-float.yaml", "--limit-test", "0", "--out-dir", "/nonexistent")
    assert one_line_error(result) == "error: --limit-test: Input should be greater than 0 (got 0)"
    # only the option name is rewritten: the underscore in the value stays
    with pytest.raises(ValidationError) as info:
        TrainSettings(image_size="big_one")
    assert _option_error(info.value) == "--image-size: Input should be a valid integer (got 'big_one')"
    with pytest.raises(ValidationError) as info:
        TrainSettings(oat_lambdas=[0.0, "x_y"])
    assert _option_error(info.value).startswith(
        "--oat-lambdas.1: Input should be a valid number"
    ) and "'x_y'" in _option_error(info.value)


def test_gc_paused_restores_the_collector_state():
    import gc

    from hwsim.cli import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller who had it off keeps it off
    finally:
        gc.enable()


def test_the_start_up_pause_ends_frozen_when_the_command_begins(monkeypatch):
    import gc

    import hwsim.cli as cli

    gc.disable()
    try:
        cli._end_startup_gc_pause()  # not the hwsim process (a test, a notebook): left as it is
        assert not gc.isenabled() and gc.get_freeze_count() == 0
        monkeypatch.setattr(cli, "_one_command_process", True)
        cli._end_startup_gc_pause()
        frozen = gc.get_freeze_count()
        assert gc.isenabled() and frozen > 0
        cli._end_startup_gc_pause()  # the pause ends once: a second call changes nothing
        assert gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        gc.enable()


def test_console_exit_without_torch_teardown_loses_no_output(tmp_path):
    """The entry point leaves with os._exit once torch is loaded: what was printed (a pipe, not a
    terminal: block-buffered) and the --output file must all be there, and the exit codes kept."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HWSIM_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}  # empty cache: torch
    model = str(MODELS / "resnet20-cifar10-float.yaml")
    cmd = [sys.executable, "-m", "hwsim", "estimate", model, "--per-layer"]  # what the hwsim script runs
    shown = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()  # totals, then the per-layer table, whose last row is the fc layer
    assert "layers (conv)" in shown.stdout and shown.stdout.endswith("\n"), shown.stdout[-800:]
    assert lines[-2].strip("│| ").startswith("fc"), lines[-3:]
    out = tmp_path / "est.json"
    written = subprocess.run([*cmd[:-1], "-f", "json", "-o", str(out)], capture_output=True, text=True, env=env)
    assert written.returncode == 0 and out.is_file(), written.stderr
    assert json.loads(out.read_text())["totals"]
    bad = subprocess.run([*cmd[:-2], str(tmp_path / "missing.yaml")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
