"""Property-based fuzzing (Hypothesis) of the newer commands' options and files (issue 19).

``sweep`` (a fuzzed sweep YAML over the ResNet20 digits models, and fuzzed --chunk / --max-points /
--engine), ``figures --runs`` (a tracked run folder with fuzzed run.json / results.json, fuzzed
--only), ``export`` (a fuzzed model YAML, --to, --spec), ``train`` and ``evaluate`` (fuzzed option
values; train stops where training would begin: ``train_run`` is replaced by a stand-in, so the
fuzzer checks the validation only and never trains). Property: exit 0 with valid output, or exit
code 2 with exactly one ``error:`` line and no traceback; inputs are never changed. Deterministic
(``derandomize``), small example counts: the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hwsim.cli import app

from .test_fuzz import VALUE, WILD, model_doc

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
FLOAT = str(REPO / "models/resnet20-digits-float.yaml")
OAT = str(REPO / "models/resnet20-digits-oat.yaml")
RUN = REPO / "tests/fixtures/digits-runs/float-seed0"
SCALE = int(os.environ.get("HWSIM_FUZZ_SCALE", "1"))  # longer runs by hand: HWSIM_FUZZ_SCALE=10
FUZZ = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


def check(result, *, inputs: dict[Path, bytes] | None = None) -> int:
    """The contract; returns the exit code (0 or 2)."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for path, data in (inputs or {}).items():
        assert path.read_bytes() == data, f"{path} changed"
    event(f"exit {result.exit_code}")
    if os.environ.get("HWSIM_FUZZ_LOG"):
        with open(os.environ["HWSIM_FUZZ_LOG"], "a") as log:
            log.write(f"{result.exit_code} {result.stderr.strip()[:200]}\n")
    if result.exit_code != 0:
        assert result.exit_code == 2, (result.exit_code, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) <= 1000, lines
        event(classify(lines[0]))
    return result.exit_code


def classify(line: str) -> str:
    """A coarse class of an error line, for Hypothesis' statistics (``pytest --hypothesis-show-statistics``)."""
    for key in ("unknown key", "duplicate key", "YAML aliases", "Invalid value", "finite", "out of range",
                "unknown", "must be", "design points", "Input should", "corrupt", "no such", "empty"):  # fmt: skip
        if key in line:
            return f"error: {key}"
    return "error: other"


def strict(text: str):
    def refuse(token):
        raise AssertionError(f"non-JSON token {token}")

    return json.loads(text, parse_constant=refuse)


#: where a command is told to write: mostly a new folder, sometimes a name it must refuse or take
OUT = st.sampled_from(["new"] * 8 + ["empty", "empty", "file", "input", "below-file", "dangling", "loop", "odd", "-x"])
REFUSED_OUT = ("empty", "file", "input", "below-file", "dangling", "loop")


def out_dir(folder: Path, kind: str, input_file: Path) -> tuple[str, Path]:
    """(the --out-dir argument, the folder it names) for one of :data:`OUT`; run with ``folder`` as
    the working directory (``-x`` is relative: a folder name with a leading '-')."""
    event(f"out: {kind}")
    target = folder / "out"
    if kind == "empty":
        return "", folder
    if kind == "file":
        target.write_text("a file, not a folder\n")
    elif kind == "input":
        return str(input_file), input_file
    elif kind == "below-file":
        target.write_text("x\n")
        return str(target / "sub"), target / "sub"
    elif kind == "dangling":
        target.symlink_to(folder / "nowhere")
    elif kind == "loop":
        target.symlink_to(target)
    elif kind == "odd":
        target = folder / "ünï cødé"
    elif kind == "-x":
        return "-x", folder / "-x"
    return str(target), target


def invoke_in(folder: Path, args: list[str]):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        return runner.invoke(app, args)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def written_only_in(folder: Path, before: list[str], target: Path) -> None:
    """Nothing appeared in ``folder`` but under ``target``."""
    new = [n for n in listing(folder) if n not in before]
    inside = (
        target.resolve().relative_to(folder.resolve()) if target.resolve().is_relative_to(folder.resolve()) else None
    )
    assert inside is not None and all(Path(n).parts[: len(inside.parts)] == inside.parts for n in new), new


# sweep -------------------------------------------------------------------------------------------

FIELD = st.sampled_from(["n_multipliers", "n_banks", "weight_bits", "io_bandwidth_bits", "tau_read_ns", "tau_mult_ns", "read_pj", "glb_capacity_bytes", "nope"])  # fmt: skip
GOOD_AXIS = st.one_of(
    st.lists(st.sampled_from([1, 2, 4, 8, 16, 32, 64]), min_size=1, max_size=3),
    st.builds(lambda lo, hi: {"log2": [lo, hi]}, st.sampled_from([1, 2, 4]), st.sampled_from([4, 16, 64])),
    st.builds(lambda a, n: {"range": [a, a + n, 1]}, st.sampled_from([1, 2]), st.integers(0, 3)),
)
WILD_AXIS = st.one_of(
    st.lists(WILD, max_size=3),
    st.builds(lambda *r: {"range": list(r)}, WILD, WILD, WILD),
    st.builds(lambda lo, hi: {"log2": [lo, hi]}, WILD, WILD),
    st.sampled_from([{"range": [1, 1e300, 1e-300]}, {"log2": [1, 2**100]}, {"range": [1, 10**30, 1]}]),
    VALUE,
)
EDGE_AXIS = st.sampled_from([
    {"range": [1, 1e300, 1e-300]}, {"range": [1, 10**400, 1]}, {"range": [1.0, 1e308, 1e-10]}, {"log2": [1, 2**100]},
    {"log2": [2**62, 2**63]}, [float("inf")], [float("nan")], [-(10**400)], [2**63], [1.5], [0], [True],
])  # fmt: skip
CONSTRAINT = st.one_of(
    st.sampled_from(["weights_per_read <= n_multipliers", "weights_per_read >= n_multipliers", "x < y"]),
    st.builds(
        lambda k, v: {k: v},
        st.sampled_from(["max_total_io_bits", "weights_per_read_ratio", "bogus"]),
        WILD | st.just(10**400),
    ),
    st.builds(lambda k, f, v: {k: {f: v}}, st.sampled_from(["min", "max"]), FIELD, WILD),
)
OBJECTIVE = st.sampled_from(["delay_ns", "weight_bytes", "macs", "n_multipliers", "io_bits", "robust_acc@lam=1", "energy", "hier_latency_ns"])  # fmt: skip
SWEEP_KEY = st.sampled_from(["models", "spec", "axes", "constraints", "conditions", "objectives", "outputs", "attribution", "max_points", "checkpoint", "attack", "colour"])  # fmt: skip


@st.composite
def sweep_doc(draw):
    """Mostly a small valid sweep of the digits FLOAT and OAT models, with a few wild fields."""
    fields = draw(st.lists(FIELD.filter(lambda f: f != "nope"), min_size=1, max_size=2, unique=True))
    doc = {
        "models": draw(st.sampled_from([[FLOAT], [OAT], [FLOAT, OAT]])),
        "axes": {f: draw(GOOD_AXIS) for f in fields},
    }
    if draw(st.booleans()):
        doc["conditions"] = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        doc["spec"] = draw(st.sampled_from(["asic-65nm", "eyeriss-65nm", "nope"]))
    if draw(st.integers(0, 3)) == 0:
        doc["constraints"] = draw(st.lists(CONSTRAINT, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        names = draw(st.lists(OBJECTIVE, min_size=1, max_size=3))
        doc["objectives"] = [{draw(st.sampled_from(["min", "max"])): n} for n in names]
    if draw(st.integers(0, 4)) == 0:  # an axis at the edge of what numbers can hold
        doc["axes"][fields[0]] = draw(EDGE_AXIS)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # most stay valid
        wild = draw(st.integers(0, 2))
        if wild == 0:
            if not isinstance(doc.get("axes"), dict):  # a wild value replaced the axes earlier
                doc["axes"] = {}
            doc["axes"][draw(FIELD)] = draw(WILD_AXIS)
        elif wild == 1:
            doc[draw(SWEEP_KEY)] = draw(VALUE)
        else:
            doc["max_points"] = draw(WILD)
    return doc


def sweep_text(draw_doc, trick: int) -> str:
    text = yaml.safe_dump(draw_doc, allow_unicode=True)
    if trick == 1:
        text = "shared: &s [1, 2]\nagain: *s\n" + text  # an alias
    elif trick == 2:
        text += "axes: {n_banks: [1]}\n"  # a key given twice
    elif trick == 3:
        text = text.encode("utf-8").decode("latin-1")[: len(text) // 2]  # truncated
    return text


@settings(FUZZ, max_examples=100 * SCALE)
@given(
    doc=sweep_doc(),
    trick=st.sampled_from([0] * 9 + [1, 2, 3]),
    chunk=st.sampled_from([None, None, "1", "3", "0", "-1", "x", "1e3", str(2**70)]),
    max_points=st.sampled_from([None, None, "1", "5", "0", "nan"]),
    engine=st.sampled_from([None, None, None, "spark"]),
    out=OUT,
)
def test_sweep_is_valid_output_or_one_error_line(tmp_path_factory, doc, trick, chunk, max_points, engine, out):
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "sweep.yaml"
    path.write_text(sweep_text(doc, trick), encoding="utf-8")
    arg, target = out_dir(folder, out, path)
    inputs, before = {path: path.read_bytes()}, listing(folder)
    args = ["sweep", str(path), "--out-dir", arg, "--no-plots", "--quiet"]
    if arg.startswith("-"):
        args[2:4] = [f"--out-dir={arg}"]
    for option, value in (("--chunk", chunk), ("--max-points", max_points), ("--engine", engine)):
        if value is not None:
            args += [option, value]
    code = check(invoke_in(folder, args), inputs=inputs)
    if trick == 2 or out in REFUSED_OUT:  # a key given twice, an out folder that cannot be one: refused
        assert code == 2
    if code == 0:
        summary = strict((target / "summary.json").read_text())
        assert summary["counts"]["points"] >= 1 and (target / "front.parquet").is_file()
        written_only_in(folder, before, target)
    else:
        assert listing(folder) == before


# figures --runs ----------------------------------------------------------------------------------

POINT_KEY = st.sampled_from(["lam", "lambda_th", "attack", "clean_acc", "robust_acc", "images", "checkpoint", "epoch", "slim_factor", "junk"])  # fmt: skip
TOP_KEY = st.sampled_from(["hwsim_version", "run", "checkpoint", "epoch", "config", "seed", "eps", "points"])
CONFIG_PATH = st.sampled_from([("model", "method"), ("model", "arch"), ("model", "num_classes"), ("train", "eps"), ("train", "select"), ("model", "input"), ("name",), ("model",)])  # fmt: skip
RUN_KEY = st.sampled_from(["status", "config", "history", "epochs_done", "junk"])


@st.composite
def run_edits(draw):
    """A list of edits to the tracked run's results.json / run.json (most runs get none or one)."""
    edits = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
        kind = draw(st.sampled_from([0, 0, 1, 2, 2, 2, 3, 4, 5]))
        if kind == 0:
            edits.append(("point", draw(st.integers(0, 30)), draw(POINT_KEY), draw(VALUE)))
        elif kind == 1:
            edits.append(("top", draw(TOP_KEY), draw(VALUE)))
        elif kind == 2:
            edits.append(("config", draw(CONFIG_PATH), draw(VALUE)))
        elif kind == 3:
            edits.append(("run", draw(RUN_KEY), draw(VALUE)))
        elif kind == 4:
            edits.append(("text", draw(st.sampled_from(["results.json", "run.json"])), draw(st.sampled_from(["truncate", "nan", "empty", "binary", "list"]))))  # fmt: skip
        else:
            edits.append(("accuracy", draw(st.sampled_from(["clean_acc", "robust_acc"])), draw(st.sampled_from([150, -1, 100, 0, 1e308, float("nan"), "50"]))))  # fmt: skip
    return edits


def apply_edits(run_dir: Path, edits) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    run_file = json.loads((run_dir / "run.json").read_text())
    texts = {}
    for edit in edits:
        if edit[0] == "point" and results.get("points"):
            points = results["points"]
            points[edit[1] % len(points)][edit[2]] = edit[3]
        elif edit[0] == "top":
            results[edit[1]] = edit[2]
        elif edit[0] == "config" and isinstance(results.get("config"), dict):
            target = results["config"]
            for key in edit[1][:-1]:
                target = target.setdefault(key, {}) if isinstance(target, dict) else None
            if isinstance(target, dict):
                target[edit[1][-1]] = edit[2]
        elif edit[0] == "run":
            run_file[edit[1]] = edit[2]
        elif edit[0] == "accuracy" and results.get("points"):
            for point in results["points"]:
                if isinstance(point, dict):
                    point[edit[1]] = edit[2]
        elif edit[0] == "text":
            texts[edit[1]] = edit[2]
    for name, data in (("results.json", results), ("run.json", run_file)):
        text = json.dumps(data, allow_nan=True)
        how = texts.get(name)
        text = {
            "truncate": text[: len(text) // 2], "nan": text.replace("0.", "NaN, \"z\": 0.", 1), "empty": "",
            "binary": "\x00\xff\x89", "list": "[1, 2]",
        }.get(how, text)  # fmt: skip
        (run_dir / name).write_text(text, encoding="utf-8", errors="surrogateescape")


FIGURE = st.sampled_from(["fig6", "fig7", "fig1", "table1", "fig3", "fig9", "fig4", "fig8a", "fig10-fgsm"])


@settings(FUZZ, max_examples=60 * SCALE)
@given(edits=run_edits(), only=st.lists(FIGURE, min_size=1, max_size=2), wild_only=st.sampled_from([None] * 6 + ["", ",", "fig99", "FIG6", "fig6,,fig7", "\x00"]), out=OUT)  # fmt: skip
def test_figures_is_valid_output_or_one_error_line(tmp_path_factory, edits, only, wild_only, out):
    folder = tmp_path_factory.mktemp("figs")
    run_dir = folder / "float-seed0"
    shutil.copytree(RUN, run_dir)
    apply_edits(run_dir, edits)
    arg, target = out_dir(folder, out, run_dir / "results.json")
    inputs, before = {p: p.read_bytes() for p in run_dir.iterdir()}, listing(folder)
    names = ",".join(only) if wild_only is None else wild_only
    code = check(
        invoke_in(folder, ["figures", "--runs", str(run_dir), "--only", names, f"--out-dir={arg}"]), inputs=inputs
    )
    if out in REFUSED_OUT:
        assert code == 2
    if code == 0:
        index = (target / "figures.md").read_text()
        for name in [n for n in names.split(",") if n]:
            assert f"**{name}**" in index
            if (target / f"{name}.csv").exists():
                assert (target / f"{name}.png").stat().st_size > 0
        written_only_in(folder, before, target)
    else:
        assert listing(folder) == before


# export ------------------------------------------------------------------------------------------


class TaggedLoader(yaml.SafeLoader):
    """Safe loading that takes Timeloop's node tags (``!Container``, ``!Component``) as plain data."""


def _untagged(loader, tag, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


TaggedLoader.add_multi_constructor("!", _untagged)


@settings(FUZZ, max_examples=80 * SCALE)
@given(
    model=model_doc(),
    to=st.sampled_from(["scalesim", "timeloop", "zigzag", "scalesim", "zigzag", "onnx", "", "ZIGZAG"]),
    spec=st.sampled_from([None, None, "asic-65nm", "eyeriss-65nm", "nope", "own"]),
    source=st.sampled_from(["model"] * 6 + ["run", "checkpoint", "missing"]),
    out=OUT,
)
def test_export_is_valid_output_or_one_error_line(tmp_path_factory, model, to, spec, source, out):
    folder = tmp_path_factory.mktemp("export")
    path = folder / "m.yaml"
    path.write_text(yaml.safe_dump(model, allow_unicode=True), encoding="utf-8")
    if source == "run":
        shutil.copytree(RUN, folder / "run")
        path = folder / "run"
    elif source == "checkpoint":
        shutil.copytree(RUN, folder / "run")
        (folder / "run" / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
        path = folder / "run" / "checkpoint.pt"
    elif source == "missing":
        path = folder / "none.yaml"
    arg, target = out_dir(folder, out, folder / "m.yaml")
    inputs, before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}, listing(folder)
    args = ["export", str(path), "--to", to, f"--out-dir={arg}"]
    if spec == "own":
        args += ["--spec", str(folder / "m.yaml")]  # a model file is not a spec
    elif spec is not None:
        args += ["--spec", spec]
    code = check(invoke_in(folder, args), inputs=inputs)
    if out in REFUSED_OUT:
        assert code == 2
    if code == 0:
        written = sorted(p.name for p in target.iterdir())
        assert "README.md" in written and len(written) >= 2
        for name in written:
            if name.endswith((".yaml", ".yml")):
                yaml.load((target / name).read_text(), Loader=TaggedLoader)  # noqa: S506 - a safe loader
        written_only_in(folder, before, target)
    else:
        assert listing(folder) == before


# train / evaluate option values ------------------------------------------------------------------


class WouldTrain(Exception):
    """Raised instead of training: the options got past validation."""


OPTION_VALUE = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "nan", "inf", "-inf", "1e308", "1e400", "0.5", "abc", "", " ", "1,2", "2" * 40]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)  # fmt: skip
TRAIN_OPTIONS = st.sampled_from(["--epochs", "--batch-size", "--lr", "--weight-decay", "--eps", "--attack-steps", "--pgdat-lambda", "--oat-lambdas", "--image-size", "--limit-train", "--limit-test", "--val-split", "--eval-limit", "--eval-lambdas", "--select", "--eval-lambda-th", "--eval-every", "--seed", "--device", "--preset", "--name", "--stop-after"])  # fmt: skip
EVAL_OPTIONS = st.sampled_from(["--lambdas", "--lambda-th", "--attacks", "--limit", "--batch-size", "--seed", "--device", "--checkpoint", "--format", "--slim-factor"])  # fmt: skip


@settings(FUZZ, max_examples=60 * SCALE)
@given(options=st.lists(st.tuples(TRAIN_OPTIONS, OPTION_VALUE), min_size=1, max_size=3))
def test_train_options_are_refused_in_one_line_before_training(tmp_path_factory, options):
    folder = tmp_path_factory.mktemp("train")
    args = ["train", FLOAT, "--out-dir", str(folder / "runs"), "--quiet"]
    for option, value in options:
        args += [option, value]
    with pytest.MonkeyPatch.context() as patch:
        import hwsim.runner.train

        def would_train(*args, **kwargs):
            raise WouldTrain

        patch.setattr(hwsim.runner.train, "train_run", would_train)
        result = runner.invoke(app, args)
    if isinstance(result.exception, WouldTrain):
        event("accepted by validation")
        assert "Traceback" not in result.output
    else:
        check(result)
    assert not (folder / "runs").exists()  # nothing trained, nothing written


@settings(FUZZ, max_examples=40 * SCALE)
@given(options=st.lists(st.tuples(EVAL_OPTIONS, OPTION_VALUE), min_size=1, max_size=3), output=st.booleans())
def test_evaluate_options_are_one_line(tmp_path_factory, options, output):
    """The tracked run has no checkpoint: valid options end in 'no such checkpoint', never evaluate."""
    folder = tmp_path_factory.mktemp("evaluate")
    run_dir = folder / "run"
    shutil.copytree(RUN, run_dir)
    inputs = {p: p.read_bytes() for p in run_dir.iterdir()}
    args = ["evaluate", str(run_dir), "--quiet", *(["-o", str(run_dir / "results.json")] if output else [])]
    for option, value in options:
        args += [option, value]
    assert check(runner.invoke(app, args), inputs=inputs) == 2
