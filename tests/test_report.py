"""The accuracy x cost report and its plots, on hand-written run directories (no training)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from hwsim.config import EvalCondition, ModelConfig, load_spec
from hwsim.errors import HwsimError
from hwsim.estimate import estimate_model
from hwsim.report import COLUMNS, boundary_points, plot_memory_accuracy, plot_tradeoff, report_frame, write_report
from hwsim.runner.evaluate import AccuracyPoint, EvalResults
from hwsim.runner.train import RunConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAMBDAS = (0.0, 0.2, 0.7, 1.0)

# (run name, method, per-lambda (CA, RA), lambdas, per-epoch seconds)
RUNS = {
    "r20-float": ("float", [(91.5, 20.25), (88.0, 35.5), (80.125, 44.0), (76.0, 47.75)], LAMBDAS, [10.0, 12.0, 14.0]),
    "r20-oat": ("oat", [(92.0, 18.0), (87.5, 36.25), (79.0, 45.5), (75.5, 48.0)], LAMBDAS, [20.0, 22.0]),
    "r20-pgdat": ("pgdat", [(81.0, 41.5)], (0.5,), [9.5]),
}


def model_dict(name: str, method: str) -> dict:
    return {
        "name": name, "arch": "resnet20", "method": method, "dataset": "digits",
        "input": {"channels": 3, "height": 16, "width": 16}, "num_classes": 10,
    }  # fmt: skip


def make_run(root, name, method, accs, lambdas, epoch_times, attacks=("pgd7",), lambda_th=0.0, results=True):
    run = RunConfig.model_validate({"name": name, "model": model_dict(name, method), "train": {"epochs": max(len(epoch_times), 1)}})
    config = run.model_dump(mode="json", by_alias=True)
    run_dir = root / name
    run_dir.mkdir(parents=True)
    history = [
        {"epoch": i + 1, "loss": 1.0 / (i + 1), "lr": 0.1, "epoch_time_s": t, "clean_acc": 50.0, "robust_acc": 20.0}
        for i, t in enumerate(epoch_times)
    ]
    (run_dir / "run.json").write_text(json.dumps({"status": "done", "config": config, "history": history}))
    if results:
        points = [
            AccuracyPoint(lam=lam, lambda_th=lambda_th, attack=attack, clean_acc=ca, robust_acc=ra - k, images=512)
            for k, attack in enumerate(attacks)
            for lam, (ca, ra) in zip(lambdas, accs)
        ]
        res = EvalResults(
            hwsim_version="0.1.0", run=name, checkpoint=str(run_dir / "checkpoint.pt"), epoch=len(epoch_times),
            config=config, seed=0, eps=8 / 255, points=points,
        )  # fmt: skip
        (run_dir / "results.json").write_text(res.model_dump_json(indent=2))
    return run_dir


@pytest.fixture
def run_dirs(tmp_path):
    return [make_run(tmp_path / "runs", name, *spec) for name, spec in RUNS.items()]


@pytest.fixture(scope="module")
def spec():
    return load_spec()


def expected_totals(method: str, lam: float, spec, lambda_th: float = 0.0):
    config = ModelConfig.model_validate(model_dict("x", method))
    cond = EvalCondition(lambda_n=lam, lambda_th=lambda_th) if method == "float" else EvalCondition(lam=lam, lambda_th=lambda_th)
    return estimate_model(config.model_copy(update={"eval": cond}), spec, attribution="paper").totals


def test_frame_joins_accuracy_with_cost(run_dirs, spec):
    frame = report_frame(run_dirs, spec)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 4 + 4 + 1
    assert frame.attrs["spec"] == "asic-65nm" and frame.attrs["attribution"] == "paper"
    for name, (method, accs, lambdas, times) in RUNS.items():
        rows = frame[frame["run"] == name].sort_values("lam")
        assert list(rows["lam"]) == list(lambdas)
        assert list(zip(rows["clean_acc"], rows["robust_acc"])) == accs  # copied exactly
        assert set(rows["method"]) == {method} and set(rows["arch"]) == {"resnet20"}
        assert set(rows["dataset"]) == {"digits"} and set(rows["attack"]) == {"pgd7"}
        assert set(rows["images"]) == {512} and set(rows["epoch"]) == {len(times)}
        assert set(rows["spec"]) == {"asic-65nm"}
        assert set(rows["mean_epoch_time_s"]) == {sum(times) / len(times)}
        for _, row in rows.iterrows():
            t = expected_totals(method, row["lam"], spec)
            assert row["params"] == t.params
            assert row["weight_bytes"] == t.weight_bytes
            assert row["memory_mb"] == t.weight_bytes / 1e6
            assert row["macs"] == t.macs and row["flops"] == t.flops == 2 * t.macs
            assert row["delay_ns"] == t.delay_ns and row["delay_base_ns"] == t.delay_base_ns


def test_float_delay_follows_eq7_then_eq8(run_dirs, spec):
    frame = report_frame(run_dirs, spec).set_index(["run", "lam"])
    at0, at1 = frame.loc[("r20-float", 0.0)], frame.loc[("r20-float", 1.0)]
    assert at0["delay_ns"] == at0["delay_base_ns"]  # lambda_n = 0: clean weights, Eq. 7
    assert at1["delay_ns"] > at1["delay_base_ns"] == at0["delay_base_ns"]  # Eq. 8: noise
    assert at1["delay_ns"] == expected_totals("float", 1.0, spec).delay_ns
    assert frame.loc[("r20-float", 0.2), "delay_ns"] == at1["delay_ns"]  # any lambda_n > 0 pays Eq. 8
    pgdat = frame.loc[("r20-pgdat", 0.5)]
    assert pgdat["delay_ns"] == pgdat["delay_base_ns"] == at0["delay_base_ns"]


def test_memory_ratio_oat_over_float(run_dirs, spec):
    frame = report_frame(run_dirs, spec)
    mem = frame.groupby("run")["weight_bytes"].agg(["min", "max"])
    assert (mem["min"] == mem["max"]).all()  # memory does not depend on lambda
    ratio = mem.loc["r20-oat", "min"] / mem.loc["r20-float", "min"]
    exact = expected_totals("oat", 1.0, spec).weight_bytes / expected_totals("float", 1.0, spec).weight_bytes
    assert ratio == exact and ratio > 1.4
    points = boundary_points(frame, "pgd7").set_index("run")
    assert points.loc["r20-oat", "memory_norm"] == 1.0
    assert points.loc["r20-float", "memory_norm"] == pytest.approx(1 / exact)
    # Fig. 1 boundary conditions: CA at lambda = 0, RA at lambda = 1; PGD-AT's single point
    assert tuple(points.loc["r20-float", ["clean_acc", "robust_acc"]]) == (91.5, 47.75)
    assert tuple(points.loc["r20-oat", ["ca_lam", "ra_lam"]]) == (0.0, 1.0)
    assert tuple(points.loc["r20-pgdat", ["clean_acc", "robust_acc"]]) == (81.0, 41.5)


def test_weight_bits_follow_the_spec(run_dirs, spec):
    four_bit = spec.model_copy(update={"weight_bits": 4, "name": "asic-4bit"})
    a, b = report_frame(run_dirs, spec), report_frame(run_dirs, four_bit)
    assert (b["weight_bytes"] * 2 == a["weight_bytes"]).all()
    assert set(b["spec"]) == {"asic-4bit"}


def check_plot_files(paths, stem):
    assert [p.name for p in paths] == [stem + ".png", stem + ".pdf"]
    png, pdf = (p.read_bytes() for p in paths)
    assert png.startswith(PNG_MAGIC) and len(png) > 1000
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


def test_plots_are_written(run_dirs, spec, tmp_path):
    frame = report_frame(run_dirs, spec)
    check_plot_files(plot_tradeoff(frame, "pgd7", tmp_path / "out" / "trade"), "trade")
    check_plot_files(plot_memory_accuracy(frame, "pgd7", tmp_path / "out" / "mem"), "mem")
    with pytest.raises(HwsimError, match="autoattack"):
        plot_tradeoff(frame, "autoattack", tmp_path / "nope")


def test_write_report_every_format(tmp_path, spec):
    root = tmp_path / "runs"
    dirs = [make_run(root, name, *s, attacks=("pgd7", "autoattack")) for name, s in RUNS.items()]
    dirs.append(make_run(root, "r20-float-th", "float", RUNS["r20-float"][1], LAMBDAS, [], lambda_th=0.5))
    out = tmp_path / "report"
    text, paths = write_report(dirs, out, spec=spec, fmt="csv")
    names = sorted(p.name for p in paths)
    expected = ["report.csv", "report.json", "training-time.pdf", "training-time.png"] + [
        f"{kind}-{attack}.{ext}" for kind in ("memory-accuracy", "tradeoff") for attack in ("autoattack", "pgd7") for ext in ("pdf", "png")
    ]  # fmt: skip
    assert names == sorted(expected)
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes().startswith(PNG_MAGIC)
        if p.suffix == ".pdf":
            assert p.read_bytes().startswith(b"%PDF")
    csv = pd.read_csv(out / "report.csv")
    assert text == (out / "report.csv").read_text()
    assert len(csv) == 2 * 9 + 4  # the extra run was evaluated with pgd7 only
    assert csv["mean_epoch_time_s"].isna().sum() == 4  # no finished epoch yet
    data = json.loads((out / "report.json").read_text())  # valid JSON: NaN written as null
    assert data["spec"] == "asic-65nm" and len(data["rows"]) == len(csv)
    th = [r for r in data["rows"] if r["run"] == "r20-float-th"]
    assert {r["lambda_th"] for r in th} == {0.5} and all(r["mean_epoch_time_s"] is None for r in th)
    md, md_paths = write_report(dirs, out, spec=spec, fmt="markdown", plots=False)
    assert [p.name for p in md_paths] == ["report.csv", "report.json"]
    assert md.startswith("### ") and "| run | method |" in md and "r20-float-th" in md
    table, _ = write_report(dirs, out, spec=spec, plots=False)
    assert "r20-oat" in table
    js, _ = write_report(dirs, out, spec=spec, fmt="json", plots=False)
    assert json.loads(js)["rows"][0]["run"] == "r20-float"
    with pytest.raises(HwsimError, match="unknown format"):
        write_report(dirs, out, fmt="xlsx")


def test_missing_results_names_the_run_dir(tmp_path, run_dirs):
    bare = make_run(tmp_path / "runs", "r20-untested", "float", [], LAMBDAS, [5.0], results=False)
    with pytest.raises(HwsimError, match="r20-untested") as info:
        report_frame(run_dirs + [bare])
    assert "\n" not in str(info.value) and "results.json" in str(info.value)


def test_duplicate_run_names_are_refused(tmp_path, run_dirs):
    other = make_run(tmp_path / "elsewhere", "r20-oat", *RUNS["r20-oat"])
    assert len(report_frame(run_dirs + [run_dirs[0]])) == 9  # the same dir twice counts once
    with pytest.raises(HwsimError, match="r20-oat"):
        report_frame(run_dirs + [other])


def test_nan_free_values_are_exact_numbers(run_dirs, spec):
    frame = report_frame(run_dirs, spec)
    numeric = frame.select_dtypes("number")
    assert not numeric.isna().any().any()
    assert all(math.isfinite(v) for v in frame["delay_ns"])


def test_training_time_plot_normalises_to_fastest(tmp_path, spec):
    from hwsim.report import plot_training_time, report_frame

    dirs = [make_run(tmp_path / "runs", name, *s) for name, s in RUNS.items()]
    frame = report_frame(dirs, spec=spec)
    timed = frame.drop_duplicates("run").dropna(subset=["mean_epoch_time_s"])
    assert len(timed) >= 2  # the fake runs carry per-epoch wall times
    paths = plot_training_time(frame, tmp_path / "fig" / "training-time")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and paths[0].read_bytes().startswith(PNG_MAGIC)
    assert plot_training_time(frame.assign(mean_epoch_time_s=float("nan")), tmp_path / "none") == []
