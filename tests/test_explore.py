"""Design-space exploration (hwsim.explore, ``hwsim sweep``): axes, constraints, the chunked engine
against per-point estimates, the Pareto filter against a brute-force front, accuracy columns from
evaluated runs, the files, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import load_model_config, load_spec
from hwsim.errors import HwsimError
from hwsim.estimate import estimate_model
from hwsim.explore import pareto_front, plan_sweep, run_plan, sweep
from hwsim.explore.config import Log2Axis, RangeAxis, axis_values, parse_constraint
from hwsim.report.join import condition_config, report_frame

from .conftest import assert_same_sweep

REPO = Path(__file__).resolve().parent.parent
FLOAT = str(REPO / "models/resnet20-digits-float.yaml")
OAT = str(REPO / "models/resnet20-digits-oat.yaml")
RUNS = REPO / "tests/fixtures/digits-runs"
runner = CliRunner()


def small(**extra):
    """ResNet20 digits FLOAT and OAT over a 3 x 4 grid, at lambda 0 and 1."""
    return {
        "models": [FLOAT, OAT],
        "axes": {"n_multipliers": [8, 32, 128], "n_banks": {"log2": [1, 8]}},
        "conditions": [0.0, 1.0],
        "objectives": [{"min": "delay_ns"}, {"min": "weight_bytes"}, {"min": "n_multipliers"}, {"min": "io_bits"}],
        **extra,
    }


def brute_front(matrix: np.ndarray) -> np.ndarray:
    """O(n^2) reference: a row is on the front unless another is <= everywhere and < somewhere."""
    keep = np.ones(len(matrix), bool)
    for i, row in enumerate(matrix):
        for other in matrix:
            if np.all(other <= row) and np.any(other < row):
                keep[i] = False
                break
    return keep


def key_set(frame: pd.DataFrame) -> set:
    return set(zip(frame["model"].astype(str), frame["condition"], frame["point"]))


# ---------------------------------------------------------------------------------------------
# axes and constraints


def test_axis_values_by_hand():
    assert axis_values("n_banks", [4, 1, 4, 2]).tolist() == [4, 1, 2]  # order kept, duplicates dropped
    assert axis_values("n_multipliers", RangeAxis(range=(1, 10, 3))).tolist() == [1, 4, 7, 10]  # stop lands
    assert axis_values("n_multipliers", RangeAxis(range=(1, 10, 4))).tolist() == [1, 5, 9]  # stop does not
    assert axis_values("tau_read_ns", RangeAxis(range=(0.5, 1.5, 0.25))).tolist() == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert axis_values("tau_read_ns", RangeAxis(range=(0.1, 0.3, 0.1))).tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert axis_values("n_multipliers", Log2Axis(log2=(4, 4096))).tolist() == [
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        1024,
        2048,
        4096,
    ]
    assert axis_values("n_banks", Log2Axis(log2=(3, 20))).tolist() == [4, 8, 16]
    assert axis_values("n_banks", Log2Axis(log2=(1, 1))).tolist() == [1]
    assert axis_values("weight_bits", [4.0, 8.0]).dtype == np.int64  # whole floats on a count field
    assert axis_values("tau_mult_ns", [4]).dtype == np.float64
    for field, axis, fragment in [
        ("n_banks", [], "empty list"),
        ("n_banks", Log2Axis(log2=(5, 7)), "no power of two"),
        ("n_banks", RangeAxis(range=(4, 1, 1)), "is below start"),
        ("n_banks", RangeAxis(range=(1, 4, 0)), "step must be > 0"),
        ("weight_bits", [4.5], "whole numbers"),
        ("n_bank", [1], "unknown spec field"),
    ]:
        with pytest.raises(HwsimError, match=fragment):
            axis_values(field, axis)


def test_constraint_masks_by_hand():
    # weights per read = io / wb * banks: 32/8*1 = 4, 64/8*4 = 32, 128/4*2 = 64
    values = {
        "io_bandwidth_bits": np.array([32, 64, 128]),
        "weight_bits": np.array([8, 8, 4]),
        "n_banks": np.array([1, 4, 2]),
        "n_multipliers": np.array([1, 64, 16]),
        "tau_read_ns": 9.0,
        "tau_mult_ns": 4.0,
    }
    mask = lambda item: parse_constraint(item, 0).mask(values).tolist()  # noqa: E731
    assert mask("weights_per_read <= n_multipliers") == [False, True, False]  # 4 > 1, 32 <= 64, 64 > 16
    assert mask("weights_per_read>=n_multipliers") == [True, False, True]
    assert mask({"weights_per_read_ratio": 4}) == [True, False, True]  # 4 = 4 x 1, 32 != 256, 64 = 4 x 16
    assert mask({"max_total_io_bits": 256}) == [True, True, True]  # 32, 256, 256 bits
    assert mask({"max_total_io_bits": 255}) == [True, False, False]
    assert mask({"min": {"n_banks": 2}}) == [False, True, True]
    assert mask({"max": {"n_multipliers": 16}}) == [True, False, True]
    for item, fragment in [
        ("weights_per_read < n_multipliers", "unknown constraint"),
        ({"max_total_io_bits": 0}, "must be a number > 0"),
        ({"min": {"n_bank": 2}}, "unknown spec field"),
        ({"power_mw": 3}, "unknown constraint"),
    ]:
        with pytest.raises(HwsimError, match=fragment):
            parse_constraint(item, 0)


# ---------------------------------------------------------------------------------------------
# the engine


def test_small_sweep_equals_estimate_model_on_every_point():
    result = sweep(small(), keep_points=True)
    points = result.points
    assert result.counts["points"] == 12 and result.counts["jobs"] == 4 and len(points) == 48
    base = load_spec()
    configs = {load_model_config(p).name: load_model_config(p) for p in (FLOAT, OAT)}
    for row in points.itertuples():
        spec = base.model_copy(update={"n_multipliers": int(row.n_multipliers), "n_banks": int(row.n_banks)})
        config = condition_config(configs[row.model], row.condition, 0.0)
        est = estimate_model(config, spec).totals
        assert row.delay_ns == est.delay_ns and row.weight_bytes == est.weight_bytes
        assert row.io_bits == 64 * row.n_banks and row.weights_per_read == 64 / 8 * row.n_banks
    # FLOAT at lambda_n = 0 pays Eq. 7 (clean weights), at 1 Eq. 8: strictly more
    flt = points[points["model"] == "resnet20-digits-float"]
    clean = flt[flt["condition"] == 0.0].set_index("point")["delay_ns"]
    noisy = flt[flt["condition"] == 1.0].set_index("point")["delay_ns"]
    assert (noisy > clean).all()


def test_front_equals_brute_force_on_random_points():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.integers(0, 12, 300), "b": rng.integers(0, 12, 300), "c": rng.random(300)})
    df.loc[5] = df.loc[4]  # an exact duplicate: both or neither on the front
    for objectives in ([("a", False), ("b", False), ("c", False)], [("a", False), ("b", True)], ["a", "c"]):
        pairs = [(o, False) if isinstance(o, str) else o for o in objectives]
        signs = np.column_stack([(-1 if mx else 1) * df[c].to_numpy(float) for c, mx in pairs])
        expected = df[brute_front(signs)]
        assert pareto_front(df, objectives).index.tolist() == expected.index.tolist()
    with pytest.raises(HwsimError, match="no column"):
        pareto_front(df, ["d"])


def test_sweep_front_equals_brute_force_front():
    result = sweep(small(axes={"n_multipliers": {"log2": [4, 512]}, "n_banks": {"log2": [1, 32]},
                             "weight_bits": [4, 8]}), keep_points=True)  # fmt: skip
    points, objectives = result.points, result.plan.objectives
    assert len(points) == 8 * 6 * 2 * 4
    signs = np.column_stack([points[c].to_numpy(float) for c, _ in objectives])
    assert key_set(result.front) == key_set(points[brute_front(signs)])
    for model, front in result.model_fronts.items():
        mine = points[points["model"] == model]
        signs = np.column_stack([mine[c].to_numpy(float) for c, _ in objectives])
        assert key_set(front) == key_set(mine[brute_front(signs)])


def test_chunked_equals_single_chunk():
    config = small(axes={"n_multipliers": {"log2": [4, 512]}, "n_banks": {"log2": [1, 32]}, "weight_bits": [4, 8]},
                   constraints=["weights_per_read <= n_multipliers"])  # fmt: skip
    plan = plan_sweep(config, keep_points=True)
    one = run_plan(plan, chunk=1 << 20)
    many = run_plan(plan, chunk=7)
    assert one.counts["chunks"] == 1 and many.counts["chunks"] == 14
    assert_same_sweep(one, many)
    # without kept points the front is the same
    plan.keep_points = False
    lean = run_plan(plan, chunk=5)
    assert lean.points is None
    pd.testing.assert_frame_equal(one.front, lean.front)


def test_dask_engine_equals_the_local_engine():
    """``engine="dask"``: the same chunks as Dask tasks on an in-process LocalCluster of 2 workers
    give the very same front, points, aggregates and heatmap as the local engine."""
    config = small(axes={"n_multipliers": {"log2": [4, 512]}, "n_banks": {"log2": [1, 32]}, "weight_bits": [4, 8]},
                   constraints=["weights_per_read <= n_multipliers"])  # fmt: skip
    plan = plan_sweep(config, keep_points=True)
    local = run_plan(plan, chunk=9)
    dask = run_plan(plan, chunk=9, engine="dask", workers=2, processes=False)
    assert local.counts == dask.counts and dask.counts["chunks"] > 2
    pd.testing.assert_frame_equal(local.front, dask.front)
    pd.testing.assert_frame_equal(local.points, dask.points)
    for model in local.model_fronts:
        pd.testing.assert_frame_equal(local.model_fronts[model], dask.model_fronts[model])
    assert local.aggregates == dask.aggregates
    np.testing.assert_array_equal(local.heatmap["min"], dask.heatmap["min"])


def test_heatmap_is_the_oat_over_float_delay_ratio():
    result = sweep(small(conditions=None), keep_points=True)
    heat, points = result.heatmap, result.points
    assert (heat["x"], heat["y"]) == ("n_multipliers", "n_banks") and heat["others"] == []
    by = points.set_index(["model", "n_multipliers", "n_banks"])["delay_ns"]
    for i, banks in enumerate(heat["ys"]):
        for j, mult in enumerate(heat["xs"]):
            ratio = by[("resnet20-digits-oat", mult, banks)] / by[("resnet20-digits-float", mult, banks)]
            assert heat["min"][i, j] == pytest.approx(ratio, rel=1e-15)


def test_heatmap_cells_follow_an_unsorted_axis():
    """An axis listed out of order keeps its order in the heat map: the cells are the sorted axis's, permuted."""
    ordered = sweep(small(conditions=None)).heatmap
    shuffled = sweep(small(conditions=None, axes={"n_multipliers": [128, 8, 32], "n_banks": {"log2": [1, 8]}})).heatmap
    assert shuffled["xs"] == [128, 8, 32] and ordered["xs"] == [8, 32, 128]
    np.testing.assert_array_equal(shuffled["min"], ordered["min"][:, [2, 0, 1]])
    np.testing.assert_array_equal(shuffled["max"], ordered["max"][:, [2, 0, 1]])


# ---------------------------------------------------------------------------------------------
# accuracy-aware sweeps


def test_accuracy_columns_from_evaluated_runs():
    config = {
        "models": [str(RUNS / "float-seed0"), str(RUNS / "oat-seed0")],
        "axes": {"n_multipliers": [16, 32, 64]},
        "objectives": [{"min": "delay_ns"}, {"max": "robust_acc@lam=1"}],
        "attack": "pgd7",
    }
    result = sweep(config, keep_points=True)
    frame = report_frame([RUNS / "float-seed0", RUNS / "oat-seed0"], spec=load_spec())
    frame = frame[(frame["checkpoint"] == "last") & (frame["attack"] == "pgd7")]
    points = result.points
    for run in ("float-seed0", "oat-seed0"):
        mine, ref = points[points["model"] == run], frame[frame["run"] == run].set_index("lam")
        for lam in (0.0, 0.2, 0.7, 1.0):
            assert (mine[f"clean_acc@lam={lam:g}"] == ref.loc[lam, "clean_acc"]).all()
            assert (mine[f"robust_acc@lam={lam:g}"] == ref.loc[lam, "robust_acc"]).all()
        assert (mine["robust_acc"] == ref.loc[1.0, "robust_acc"]).all()  # at the row's own condition (1)
        at_base = mine[mine["n_multipliers"] == 32]  # the base spec: the report's own cost
        assert at_base["delay_ns"].iloc[0] == ref.loc[1.0, "delay_ns"]
    signs = np.column_stack([points["delay_ns"], -points["robust_acc@lam=1"]])
    assert key_set(result.front) == key_set(points[brute_front(signs)])


def test_sparse_run_is_costed_with_its_masks():
    run = REPO / "reports/digits-floats/resnet20-digits-floats"
    result = sweep(
        {"models": [str(run)], "axes": {"n_multipliers": [32, 64]}, "conditions": [0.0, 1.0]}, keep_points=True
    )
    ref = report_frame([run], spec=load_spec()).query("checkpoint == 'last'").drop_duplicates("lam").set_index("lam")
    mine = result.points[result.points["n_multipliers"] == 32].set_index("condition")
    for lam in (0.0, 1.0):
        assert mine.loc[lam, "delay_ns"] == ref.loc[lam, "delay_ns"]
        assert mine.loc[lam, "weight_bytes"] == ref.loc[lam, "weight_bytes"]


# ---------------------------------------------------------------------------------------------
# the command


def write(tmp_path: Path, data: dict, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_writes_the_files(tmp_path):
    out = tmp_path / "out"
    result = invoke("sweep", write(tmp_path, small()), "--out-dir", out, "--chunk", 5)
    assert result.exit_code == 0, result.output
    assert "feasible points" in result.stdout and "best min delay_ns" in result.stdout
    names = {p.name for p in out.iterdir()}
    assert {"points.parquet", "points.csv", "front.parquet", "front.csv", "front.json", "summary.json"} <= names
    assert {"front-delay_ns-vs-weight_bytes.png", "delay-ratio-oat-float.pdf"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["points"] == 12 and summary["counts"]["rows"] == 48
    front = pd.read_csv(out / "front.csv")
    parquet = pd.read_parquet(out / "front.parquet")
    parquet = parquet.astype({c: str for c in parquet.columns if isinstance(parquet[c].dtype, pd.CategoricalDtype)})
    pd.testing.assert_frame_equal(parquet, front, check_dtype=False)
    assert len(front) == summary["counts"]["front"] == len(json.loads((out / "front.json").read_text())["rows"])
    assert len(pd.read_parquet(out / "points.parquet")) == 48
    # again without points: the stale points files go
    result = invoke("sweep", write(tmp_path, small()), "--out-dir", out, "--no-keep-points", "--no-plots", "--quiet")
    assert result.exit_code == 0, result.output
    assert not (out / "points.parquet").exists() and not (out / "points.csv").exists()


def test_example_sweep_relative_paths(tmp_path):
    result = invoke("sweep", REPO / "examples/dse/sweep-resnet34.yaml", "--out-dir", tmp_path, "--no-plots", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["points"] == 11 * 7 * 3 * 2 and summary["counts"]["jobs"] == 3
    assert 0 < summary["counts"]["feasible"] < summary["counts"]["points"]


def test_max_points_refusal(tmp_path):
    result = invoke("sweep", write(tmp_path, small()), "--out-dir", tmp_path / "o", "--max-points", 11)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "12 design points" in result.stderr and "--max-points 12" in result.stderr
    result = invoke("sweep", write(tmp_path, small(max_points=10)), "--out-dir", tmp_path / "o")
    assert result.exit_code == 2 and "more than the limit 10" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "edit, fragment",
    [
        ({"axes": {"n_banks": []}}, "axes.n_banks: empty list"),
        ({"axes": {"n_banks": [0, 2]}}, "axes.n_banks: n_banks must be >= 1"),
        (
            {"axes": {"weight_bits": {"log2": [64, 128]}}},
            "axes.weight_bits: weight_bits must be >= 1 and <= 64 (got 128)",
        ),
        ({"axes": {"tau_read_ns": [0.0]}}, "axes.tau_read_ns: tau_read_ns must be > 0"),
        ({"axes": {"n_bank": [1]}}, "axes.n_bank: unknown spec field"),
        ({"objectives": [{"min": "latency"}]}, "objectives[0]: unknown 'latency'"),
        ({"objectives": [{"min": "delay_ns", "max": "delay_ns"}]}, "give exactly one of min: or max:"),
        ({"objectives": [{"max": "robust_acc@lam=1"}]}, "need every model to be an evaluated run directory"),
        ({"constraints": ["weights_per_read < n_multipliers"]}, "constraints[0]: unknown constraint"),
        ({"constraints": [{"max_total_io_bits": 16}]}, "no point satisfies 'n_banks x io_bandwidth_bits <= 16'"),
        ({"models": [FLOAT, "missing.yaml"]}, "models[1]:"),
        ({"models": []}, "models"),
        ({"spec": "no-such-spec"}, "no-such-spec: no such file"),
        ({"colour": "red"}, "colour: unknown key"),
        ({"outputs": ["energy"]}, "outputs[0]: unknown total 'energy'"),
        ({"conditions": [1.5]}, "conditions.0"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, edit, fragment):
    result = invoke("sweep", write(tmp_path, {**small(), **edit}), "--out-dir", tmp_path / "o")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert not (tmp_path / "o").exists()


def test_missing_sweep_file_and_bad_options(tmp_path):
    for args, fragment in [
        (["sweep", tmp_path / "nope.yaml"], "no such file"),
        (["sweep", write(tmp_path, small()), "--chunk", 0], "--chunk: must be >= 1"),
        (["sweep", write(tmp_path, small()), "--max-points", 0], "--max-points: must be >= 1"),
        (["sweep", write(tmp_path, small()), "--engine", "spark"], "--engine: unknown 'spark'"),
        (
            ["sweep", write(tmp_path, small()), "--scheduler", "tcp://127.0.0.1:1"],
            "--scheduler: only with --engine dask",
        ),
        (["sweep", write(tmp_path, small()), "--engine", "dask", "--workers", 0], "--workers: must be >= 1"),
        (
            ["sweep", write(tmp_path, small()), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"],
            "cannot reach the Dask scheduler",
        ),
    ]:
        result = invoke(*args)
        assert result.exit_code == 2 and fragment in result.stderr and result.stderr.count("\n") == 1
    (tmp_path / "file").write_text("x")
    result = invoke("sweep", write(tmp_path, small()), "--out-dir", tmp_path / "file")
    assert result.exit_code == 2 and "is a file" in result.stderr


def test_folding_keeps_memory_bounded_and_the_result(monkeypatch):
    """Chunk fronts folded as they arrive (every 3 rows here) give the same sweep as holding all."""
    import hwsim.explore.engine as engine

    config = small(axes={"n_multipliers": {"log2": [4, 512]}, "n_banks": {"log2": [1, 32]}, "weight_bits": [4, 8]},
                   constraints=["weights_per_read <= n_multipliers"])  # fmt: skip
    plan = plan_sweep(config, keep_points=True)
    whole = run_plan(plan, chunk=1 << 20)
    monkeypatch.setattr(engine, "FOLD_ROWS", 3)
    folded = run_plan(plan, chunk=5)
    assert folded.counts == {**whole.counts, "chunks": 20}
    pd.testing.assert_frame_equal(whole.front, folded.front)
    pd.testing.assert_frame_equal(whole.points, folded.points)
    assert whole.aggregates == folded.aggregates and whole.constraint_passing == folded.constraint_passing


def test_dask_engine_without_the_extra_is_one_line(tmp_path, monkeypatch):
    """Without dask installed (a fresh `.[runner]` install), --engine dask asks for the extra in one
    line instead of a ModuleNotFoundError traceback (found in a fresh venv)."""
    import sys

    for name in [m for m in sys.modules if m == "dask" or m.startswith(("dask.", "distributed"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dask", None)  # import dask -> ImportError
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    result = invoke("sweep", write(tmp_path, small()), "--engine", "dask", "--out-dir", tmp_path / "out")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert 'pip install "hwsim[dask]"' in result.stderr and "Traceback" not in result.output
