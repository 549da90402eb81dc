"""Issue 19: sweep, figures, export and the Dask engine under the contract of ``estimate``: bad input
is exactly one ``error:`` line and exit code 2 (no traceback), the inputs are byte-identical after,
nothing is written outside the out folder (and nothing at all when the input is refused), and a
sweep interrupted on the way leaves only whole files and no summary that claims them."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hwsim.cli import app

from .conftest import MODELS, SPECS, one_line_error

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
FLOAT = str(MODELS / "resnet20-digits-float.yaml")
OAT = str(MODELS / "resnet20-digits-oat.yaml")
RUNS = REPO / "tests/fixtures/digits-runs"
SMALL = {"models": [FLOAT, OAT], "axes": {"n_multipliers": [8, 32], "n_banks": [1, 2]}, "conditions": [0.0, 1.0]}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (symlinks not followed) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}  # fmt: skip


def sweep_text(**edit) -> str:
    return yaml.safe_dump({**SMALL, **edit})


# 1. malformed sweep files ------------------------------------------------------------------------

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
)
TEN_AXES = {
    **{f: {"range": [1.0, 10000.0, 1.0]} for f in ("tau_read_ns", "tau_mult_ns", "read_pj", "mult_pj", "add_pj", "noise_pj")},
    **{f: {"range": [1, 10000, 1]} for f in ("n_banks", "n_multipliers", "io_bandwidth_bits")},
    "weight_bits": {"range": [1, 64, 1]},
}  # fmt: skip
SWEEPS = {
    "unknown key": (sweep_text(colour="red"), "colour: unknown key"),
    "wrong type": (sweep_text(axes={"n_banks": "many"}), "axes.n_banks"),
    "models not a list": (sweep_text(models="x"), "models: Input should be a valid list"),
    "empty axes": (sweep_text(axes={}), "axes: Dictionary should have at least 1 item"),
    "empty axis": (sweep_text(axes={"n_banks": []}), "axes.n_banks: empty list"),
    "duplicate axis": (f"models: [{FLOAT}]\naxes:\n  n_banks: [1]\n  n_banks: [2]\n", "duplicate key 'n_banks' (line 4)"),
    "duplicate top key": (f"models: [{FLOAT}]\naxes: {{n_banks: [1]}}\nmodels: [{OAT}]\n", "duplicate key 'models' (line 3)"),
    "nan value": ("models: [" + FLOAT + "]\naxes: {tau_read_ns: [.nan]}\n", "axes.tau_read_ns: values must be finite numbers (got nan)"),
    "inf value": ("models: [" + FLOAT + "]\naxes: {n_banks: [1.0e+400]}\n", "axes.n_banks: values must be finite numbers (got inf)"),
    "negative value": (sweep_text(axes={"n_banks": [-1]}), "axes.n_banks: n_banks must be >= 1"),
    "nan range": (sweep_text(axes={"tau_read_ns": {"range": [1, float("nan"), 1]}}), "must be finite numbers"),
    "range count overflow": (sweep_text(axes={"tau_read_ns": {"range": [1, 1e300, 1e-300]}}), "axes.tau_read_ns: range: more than 1,048,576 values"),
    "range of huge ints": ("models: [" + FLOAT + "]\naxes: {n_banks: {range: [1, 1" + "0" * 400 + ", 1]}}\n", "axes.n_banks: range: start, stop and step must be finite numbers"),
    "log2 overflow": (sweep_text(axes={"n_banks": {"log2": [1, 2**100]}}), "axes.n_banks: log2: 1267650600228229401496703205376 is out of range (at most 2^62)"),
    "constraint of a huge int": ("models: [" + FLOAT + "]\naxes: {n_banks: [1]}\nconstraints: [{max_total_io_bits: 1" + "0" * 400 + "}]\n", "constraints[0]: max_total_io_bits: must be a number > 0"),
    "10 axes x 10^4 values": (sweep_text(axes=TEN_AXES), "design points, more than the limit 100,000,000"),
    "billion laughs": (LAUGHS + "\nmodels: *i\n", "YAML aliases"),
    "non-mapping": ("- 1\n- 2\n", "expected a mapping of keys to values at the top level"),
    "empty file": ("", "expected a mapping of keys to values at the top level"),
    "binary garbage": (b"\x00\xff\xfe\x89PNG\r\n\x1a\n", "cannot read: 'utf-8' codec can't decode"),
    "missing model": (sweep_text(models=["missing.yaml"]), "models[0]: "),
    "malformed model": (None, "m.yaml: malformed YAML (line 2, column 1)"),
    "model file is a sweep": (None, "unknown key"),
    "not a number of points": (sweep_text(max_points=True), "max_points: Input should be a valid integer"),
    "nan condition": ("models: [" + FLOAT + "]\naxes: {n_banks: [1]}\nconditions: [.nan]\n", "conditions.0: Input should be a finite number"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SWEEPS))
def test_malformed_sweep_files_are_one_line(tmp_path, case):
    text, fragment = SWEEPS[case]
    if case == "malformed model":
        (tmp_path / "m.yaml").write_text("arch: [\n")
        text = sweep_text(models=["m.yaml"])
    if case == "model file is a sweep":
        (tmp_path / "m.yaml").write_text(sweep_text())
        text = sweep_text(models=["m.yaml"])
    path = tmp_path / "sweep.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = snapshot(tmp_path)
    line = one_line_error(run("sweep", path, "--out-dir", tmp_path / "out", "--quiet"), fragment)
    assert len(line) <= 1000
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_duplicate_keys_are_refused_in_model_files_too(tmp_path):
    model = tmp_path / "m.yaml"
    model.write_text("arch: resnet20\nmethod: float\nmethod: oat\ninput: {height: 8, width: 8}\nnum_classes: 10\n")
    one_line_error(run("estimate", model), str(model), "duplicate key 'method' (line 3)")


# 2. out folders -----------------------------------------------------------------------------------


def test_out_dir_onto_inputs_or_files_is_refused_before_anything_is_written(tmp_path):
    model = tmp_path / "workload.yaml"  # the name of ZigZag's own output file
    shutil.copy(FLOAT, model)
    spec = tmp_path / "fig8b.csv"
    shutil.copy(SPECS / "asic-65nm.yaml", spec)
    as_json = tmp_path / "summary.json"  # a sweep file in JSON, named like the sweep's summary
    as_json.write_text(json.dumps(SMALL))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    readme = tmp_path / "README.md"
    shutil.copy(SPECS / "asic-65nm.yaml", readme)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    before = snapshot(tmp_path)
    cases = [
        (("export", model, "--to", "zigzag", "--out-dir", tmp_path), "its workload.yaml would be"),
        (("export", FLOAT, "--to", "scalesim", "--spec", readme, "--out-dir", tmp_path), "its README.md would be"),
        (("sweep", as_json, "--out-dir", tmp_path), "its summary.json would be"),
        (("figures", "--only", "fig8b", "--spec", spec, "--out-dir", tmp_path), "its fig8b.csv would be"),
        (("sweep", sweep, "--out-dir", sweep), "is a file; give a folder"),
        (("export", FLOAT, "--to", "zigzag", "--out-dir", model), "is a file; give a folder"),
        (("figures", "--only", "fig8b", "--out-dir", spec), "is a file; give a folder"),
        (("sweep", sweep, "--out-dir", sweep / "sub"), f"{sweep} is a file, not a folder"),
        (("export", FLOAT, "--to", "zigzag", "--out-dir", tmp_path / "dangling"), "which does not exist"),
        (("sweep", sweep, "--out-dir", tmp_path / "loop"), "is a symlink loop"),
        (("figures", "--only", "fig8b", "--out-dir", tmp_path / "loop"), "is a symlink loop"),
        (("sweep", sweep, "--out-dir", ""), "--out-dir': empty folder name"),
        (("export", FLOAT, "--to", "zigzag", "--out-dir", ""), "empty folder name"),
        (("figures", "--only", "fig8b", "--out-dir", ""), "empty folder name"),
        (("sweep", sweep, "--out-dir", "a\x00b"), "a NUL byte in the folder name"),
    ]
    for args, fragment in cases:
        one_line_error(run(*args), fragment)
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "dangling", "loop"])


def test_read_only_out_folder_is_one_line(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.geteuid() != 0:
            fragment = "(permission denied)"  # the up-front check
        else:  # root writes into a 0o500 folder: refuse the temporary file as a read-only folder would
            import hwsim.io

            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(hwsim.io.tempfile, "mkstemp", refuse)
            fragment = "cannot write: Permission denied"
        for args in (
            ("sweep", sweep, "--out-dir", locked / "sub", "--no-plots", "--quiet"),
            ("export", FLOAT, "--to", "zigzag", "--out-dir", locked),
            ("figures", "--only", "fig8b", "--out-dir", locked),
        ):
            one_line_error(run(*args), fragment)
        assert list(locked.iterdir()) in ([], [locked / "sub"])
    finally:
        os.chmod(locked, 0o700)


def test_odd_folder_names_and_a_symlinked_folder_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    for name in ("with space", "ünïcødé", "-lead", "link"):
        result = run("sweep", sweep, f"--out-dir={name}", "--no-plots", "--quiet")
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / name / "summary.json").read_text())["counts"]["points"] == 4
        result = run("export", FLOAT, "--to", "zigzag", f"--out-dir={name}")
        assert result.exit_code == 0 and (tmp_path / name / "workload.yaml").is_file(), result.output
    assert (elsewhere / "summary.json").is_file() and (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["sweep.yaml", "elsewhere", "link", "with space", "ünïcødé", "-lead"])  # fmt: skip


# 3. figures' runs, export's sources ----------------------------------------------------------------


def _edit_points(key, value):
    def edit(data):
        for point in data["points"]:
            point[key] = value
        return data

    return edit


def _method(data):
    data["config"]["model"]["method"] = "bogus"
    return data


RUN_CASES = {
    "truncated run.json": ("run.json", lambda text: text[:500], "run.json: corrupt run file"),
    "non-JSON results": ("results.json", lambda text: "not json", "results.json: corrupt results file"),
    "empty results": ("results.json", lambda text: "", "results.json: corrupt results file"),
    "NaN accuracy": ("results.json", lambda t: re.sub(r'"clean_acc": [0-9.]+', '"clean_acc": NaN', t, count=1), "points.0.clean_acc: Input should be a finite number"),
    "clean_acc 150": ("results.json", _edit_points("clean_acc", 150), "points.0.clean_acc: Input should be less than or equal to 100"),
    "points of strings": ("results.json", lambda d: {**d, "points": ["a", "b"]}, "points.0: Input should be a valid dictionary"),
    "unknown method": ("results.json", _method, "config.model.method: unknown method 'bogus'"),
    "config.model not a mapping": ("results.json", lambda d: {**d, "config": {**d["config"], "model": 5}}, "results.json: config.model"),
    "run.json a list": ("run.json", lambda text: "[1, 2]", "expected a JSON mapping at the top level"),
}  # fmt: skip


TEXT_EDITS = ("truncated run.json", "non-JSON results", "empty results", "NaN accuracy", "run.json a list")


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_tampered_runs_are_one_line_in_figures(tmp_path, case):
    name, tamper, fragment = RUN_CASES[case]
    run_dir = tmp_path / "runs" / "float-seed0"
    shutil.copytree(RUNS / "float-seed0", run_dir)
    path = run_dir / name
    if case not in TEXT_EDITS:
        path.write_text(json.dumps(tamper(json.loads(path.read_text()))))
    else:
        path.write_text(tamper(path.read_text()))
    before = snapshot(tmp_path)
    one_line_error(run("figures", "--runs", run_dir, "--only", "fig6", "--out-dir", tmp_path / "out"), fragment)
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_figures_and_export_bad_options_are_one_line(tmp_path):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(RUNS / "float-seed0", corrupt)
    (corrupt / "checkpoint.pt").write_bytes(b"not a checkpoint\x00" * 8)
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    for args, fragment in [
        (("figures", "--runs", tmp_path / "none", "--out-dir", out), "--runs"),
        (("figures", "--only", "fig99", "--out-dir", out), "--only: unknown figure 'fig99'"),
        (("figures", "--only", ",", "--out-dir", out), "--only: no figure names"),
        (("export", FLOAT, "--to", "onnx", "--out-dir", out), "--to: unknown format 'onnx'"),
        (("export", FLOAT, "--out-dir", out), "Missing option '--to'"),
        (("export", RUNS / "float-seed0", "--to", "zigzag", "--out-dir", out), "checkpoint.pt: no such checkpoint"),
        (("export", corrupt, "--to", "timeloop", "--out-dir", out), "corrupt or unreadable checkpoint"),
        (
            ("export", corrupt / "checkpoint.pt", "--to", "scalesim", "--out-dir", out),
            "corrupt or unreadable checkpoint",
        ),
    ]:
        one_line_error(run(*args), fragment)
    assert snapshot(tmp_path) == before and not out.exists()


def test_click_refusals_are_one_line_too():
    for args, fragment in [
        (("train", FLOAT, "--epochs", "abc"), "Invalid value for '--epochs'"),
        (("evaluate", RUNS / "float-seed0", "--limit", "1.5"), "Invalid value for '--limit'"),
        (("sweep", "x.yaml", "--chunk", "many"), "Invalid value for '--chunk'"),
        (("sweep",), "Missing argument"),
        (("estimate", FLOAT, "--bogus"), "No such option: --bogus"),
        (("nocommand",), "No such command 'nocommand'"),
    ]:
        one_line_error(run(*args), fragment, "--help')")
    result = run()
    assert result.exit_code in (0, 2) and "Usage" in result.output and "error:" not in result.output  # help


# 4. Dask ---------------------------------------------------------------------------------------


def test_bad_scheduler_addresses_are_one_line(tmp_path):
    pytest.importorskip("distributed")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def answer():  # not Dask: distributed reads these bytes as a frame length (a MemoryError)
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + b"\xff" * 64)
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    port = server.getsockname()[1]
    try:
        for address, fragment in [
            ("tcp://127.0.0.1:notaport", "not a Dask scheduler address"),
            ("foo://x", "unknown address scheme 'foo'"),
            ("", "missing port number"),
            (f"tcp://127.0.0.1:{port}", "does not speak Dask's protocol"),
        ]:
            args = ("sweep", sweep, "--engine", "dask", "--scheduler", address, "--out-dir", tmp_path / "out")
            one_line_error(run(*args), "--scheduler", fragment)
    finally:
        server.close()
    assert not (tmp_path / "out").exists()


# 5. faults ---------------------------------------------------------------------------------------


def _outputs(folder: Path, only: str | None = None) -> dict[str, object]:
    """The sweep's files, parsed (summary.json without its wall-clock seconds); ``only``: one of them."""
    import pandas as pd

    parsed = {}
    for path in sorted(folder.iterdir()):
        if only is not None and path.name != only:
            continue
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            data.pop("seconds", None)
            parsed[path.name] = data
        elif path.suffix == ".csv":
            parsed[path.name] = path.read_text()
        elif path.suffix == ".parquet":
            parsed[path.name] = pd.read_parquet(path).to_json()
        else:
            parsed[path.name] = path.read_bytes()
    return parsed


def test_two_identical_sweeps_into_one_folder_at_once(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "hwsim.cli", "sweep", str(sweep), "--out-dir", str(tmp_path / "both"), "--quiet"]
    procs = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    alone = run("sweep", sweep, "--out-dir", tmp_path / "alone", "--quiet")
    assert alone.exit_code == 0, alone.output
    assert _outputs(tmp_path / "both") == _outputs(tmp_path / "alone")
    assert not [p for p in (tmp_path / "both").iterdir() if p.name.endswith(".tmp")]


def test_a_sweep_killed_mid_write_leaves_whole_files_and_a_rerun_rewrites(tmp_path, monkeypatch):
    """Killed after two files (KeyboardInterrupt raised from inside the third write, as a signal
    would): the files there are whole, summary.json (the completion mark) is absent, and a rerun
    writes every file again, equal to a clean sweep's."""
    import hwsim.explore.output as output

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    out = tmp_path / "out"
    assert run("sweep", sweep, "--out-dir", out, "--no-plots", "--quiet").exit_code == 0
    clean = _outputs(out)
    other = tmp_path / "other.yaml"  # a different sweep into the same folder, killed on the way
    other.write_text(sweep_text(axes={"n_multipliers": [8, 16, 64], "n_banks": [4]}))
    real, count = output.atomic_write_bytes, [0]

    def dies(path, data):
        count[0] += 1
        if count[0] == 3:
            raise KeyboardInterrupt
        return real(path, data)

    monkeypatch.setattr(output, "atomic_write_bytes", dies)
    result = run("sweep", other, "--out-dir", out, "--no-plots", "--quiet")
    assert result.exit_code == 130 and "Traceback" not in result.output
    monkeypatch.setattr(output, "atomic_write_bytes", real)
    assert not (out / "summary.json").exists()  # no summary claims the half-written folder
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    _outputs(out)  # every file there parses
    assert run("sweep", sweep, "--out-dir", out, "--no-plots", "--quiet").exit_code == 0
    assert _outputs(out) == clean


@pytest.mark.parametrize("kill_when", ["first temporary file", "first whole file"])
def test_a_sweep_killed_with_sigkill_leaves_nothing_a_rerun_trusts(tmp_path, kill_when):
    """A real `kill -9` of `python -m hwsim sweep` while it writes (as soon as the first temporary
    file, or the first renamed file, appears in the out folder): no summary.json, every file under
    its final name whole, and a rerun finishes with the files of a clean sweep."""
    import signal
    import time

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "hwsim", "sweep", str(sweep), "--out-dir", str(out), "--quiet"]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    wanted = (lambda name: name.endswith(".tmp")) if kill_when == "first temporary file" else (lambda n: n[0] != ".")
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if out.is_dir() and any(wanted(entry.name) for entry in os.scandir(out)):
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.0005)
    proc.wait(timeout=60)
    if proc.returncode != -signal.SIGKILL:
        pytest.fail(f"the sweep ended ({proc.returncode}) before it could be killed {kill_when}")
    names = sorted(os.listdir(out))
    assert "summary.json" not in names, names  # nothing claims the folder complete
    final = [name for name in names if not name.startswith(".")]
    # killed after a rename: that file is there. (Killed at a temporary file, a final one may be there
    # too: on a fast file system the first write can be renamed between two looks at the folder.)
    assert final or kill_when == "first temporary file", names
    alone = run("sweep", sweep, "--out-dir", tmp_path / "alone", "--quiet")
    assert alone.exit_code == 0, alone.output
    clean = _outputs(tmp_path / "alone")
    for name in final:  # what is there under a final name is a whole file: a clean sweep's
        assert _outputs_of(out / name) == clean[name], name
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    kept = {name: value for name, value in _outputs(out).items() if not name.endswith(".tmp")}
    assert kept == clean  # the killed write's young .tmp may stay (it could be a write in flight)


def _outputs_of(path: Path):
    return _outputs(path.parent, only=path.name)[path.name]


def test_a_rerun_removes_the_hour_old_temporary_files_of_a_killed_sweep(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(sweep_text())
    out = tmp_path / "out"
    out.mkdir()
    old, young, other = out / ".points.parquet.abc123.tmp", out / ".front.csv.def456.tmp", out / ".mine.x.tmp"
    for path in (old, young, other):
        path.write_bytes(b"half a file")
    os.utime(old, (0, 0))
    os.utime(other, (0, 0))
    assert run("sweep", sweep, "--out-dir", out, "--no-plots", "--quiet").exit_code == 0
    assert not old.exists() and young.exists() and other.exists()  # a young one may be a write in flight
