"""CLI (typer's CliRunner): every format, compare, and bad input -> one line, exit 2, no traceback."""

import json

import pytest
from typer.testing import CliRunner

from hwsim.cli import app

from .conftest import MODELS, SPECS

runner = CliRunner()
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
    for column in ("name", "op", "kernel_h", "in_channels", "out_h", "weight_params", "macs", "noisy", "density", "delay_ns", "delay_base_ns"):
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
        ("arch: resnet34\nmethod: oat\ndataset: cifar10\neval: {lambda_n: 0.5}\n", "only FLOAT has lambda_n"),
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
    for args in (["estimate", tmp_path / "none.yaml"], ["estimate", FLOAT, "--spec", tmp_path / "none.yaml"], ["compare", FLOAT, tmp_path / "x.yaml"]):
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


def test_report_command_on_shipped_example_runs(tmp_path):
    runs = MODELS.parent / "reports" / "digits-seeds" / "eps0.1"
    result = run("report", runs / "float-seed0", runs / "pgdat-l0.2-seed0", "-o", tmp_path, "-f", "csv", "--no-plots")
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in (tmp_path / "report.csv").read_text().strip().splitlines()]
    header, body = rows[0], rows[1:]
    assert len(body) == 2 * (4 * 3 + 3)  # last and best; FLOAT: 4 lambdas x 3 attacks; PGD-AT: 3 attacks
    params = {r[header.index("method")]: int(r[header.index("params")]) for r in body}
    assert params == {"float": 274_063, "pgdat": 272_474}
    empty = tmp_path / "empty-run"
    empty.mkdir()
    bad = run("report", empty, "-o", tmp_path)
    assert bad.exit_code == 2 and "Traceback" not in bad.output
