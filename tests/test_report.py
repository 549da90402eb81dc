"""The accuracy x cost report and its plots, on hand-written run directories (no training)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from hwsim.config import EvalCondition, ModelConfig, load_spec
from hwsim.errors import HwsimError
from hwsim.estimate import estimate_model
from hwsim.report import (
    COLUMNS,
    SEED_COLUMNS,
    aggregate_seeds,
    boundary_points,
    plot_memory_accuracy,
    plot_tradeoff,
    plotted_rows,
    report_frame,
    write_figure,
    write_report,
)  # fmt: skip
from hwsim.runfiles import AccuracyPoint, EvalResults, RunConfig

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


# "best" points (the per-lambda best-RA checkpoint) differ from the last epoch's by this (CA, RA) shift
BEST_SHIFT = (-1.0, 2.0)


def make_run(
    root, name, method, accs, lambdas, epoch_times, attacks=("pgd7",), lambda_th=0.0, results=True,
    seed=0, checkpoint=("last",), best_epoch=1, train=None, model=None, eps=8 / 255,
):  # fmt: skip
    """A run directory with run.json and (unless ``results`` is false) results.json. ``checkpoint``
    names the checkpoints evaluated ("last", "best" or both): "last" points carry no epoch of their
    own (the results' epoch, ``len(epoch_times)``, applies), "best" points are shifted by BEST_SHIFT
    and record ``best_epoch``. ``train`` / ``model`` update the train settings / model config."""
    checkpoints = (checkpoint,) if isinstance(checkpoint, str) else tuple(checkpoint)
    settings = {"epochs": max(len(epoch_times), 1), "seed": seed, **(train or {})}
    run = RunConfig.model_validate(
        {"name": name, "model": {**model_dict(name, method), **(model or {})}, "train": settings}
    )
    config = run.model_dump(mode="json", by_alias=True)
    run_dir = root / name
    run_dir.mkdir(parents=True)
    history = [
        {"epoch": i + 1, "loss": 1.0 / (i + 1), "lr": 0.1, "epoch_time_s": t, "clean_acc": 50.0, "robust_acc": 20.0}
        for i, t in enumerate(epoch_times)
    ]
    (run_dir / "run.json").write_text(json.dumps({"status": "done", "config": config, "history": history}))
    if results:
        points = []
        for ckpt in checkpoints:
            dca, dra = BEST_SHIFT if ckpt == "best" else (0.0, 0.0)
            epoch = best_epoch if ckpt == "best" else None
            points += [
                AccuracyPoint(
                    lam=lam,
                    lambda_th=lambda_th,
                    attack=attack,
                    clean_acc=ca + dca,
                    robust_acc=ra - k + dra,
                    images=512,
                    checkpoint=ckpt,
                    epoch=epoch,
                )  # fmt: skip
                for k, attack in enumerate(attacks)
                for lam, (ca, ra) in zip(lambdas, accs)
            ]
        res = EvalResults(
            hwsim_version="0.1.0", run=name, checkpoint=str(run_dir / "checkpoint.pt"), epoch=len(epoch_times),
            config=config, seed=0, eps=eps, points=points,
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
    cond = (
        EvalCondition(lambda_n=lam, lambda_th=lambda_th)
        if method == "float"
        else EvalCondition(lam=lam, lambda_th=lambda_th)
    )
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
        assert set(rows["checkpoint"]) == {"last"} and set(rows["seed"]) == {0}
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
    check_plot_files(write_figure(plot_tradeoff(frame, "pgd7"), tmp_path / "out" / "trade"), "trade")
    check_plot_files(write_figure(plot_memory_accuracy(frame, "pgd7"), tmp_path / "out" / "mem"), "mem")
    with pytest.raises(HwsimError, match="autoattack"):
        plot_tradeoff(frame, "autoattack")
    assert not (tmp_path / "nope").exists()


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
    assert "run_configs" not in data  # the configs kept for seed checks stay out of the JSON
    assert not (out / "report-seeds.csv").exists()  # no seed group: no aggregated report
    md, md_paths = write_report(dirs, out, spec=spec, fmt="markdown", plots=False)
    assert [p.name for p in md_paths] == ["report.csv", "report.json"]
    assert md.startswith("### ") and "| run | method | arch | checkpoint | lam |" in md and "r20-float-th" in md
    assert "seeds" not in md  # no seed group: the per-run table only
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
    # density and the sparsity summary's columns are blank for a dense model (FLOATS has none here)
    blank = ["lambda_th", "density", "cr", "effective_cr", "crf", "sparse_storage_bytes", "eq7_speedup", "speedup",
             "cr_analytic", "crf_analytic"]  # fmt: skip
    assert not numeric.drop(columns=blank).isna().any().any()
    # lambda_th (Eq. 6) belongs to FLOAT's lambda_n: blank for OAT and PGD-AT, whatever was recorded
    assert list(frame["lambda_th"].isna()) == list(frame["method"] != "float")
    assert all(math.isfinite(v) for v in frame["delay_ns"])


def test_training_time_plot_normalises_to_fastest(tmp_path, spec):
    from hwsim.report import plot_training_time, report_frame

    dirs = [make_run(tmp_path / "runs", name, *s) for name, s in RUNS.items()]
    frame = report_frame(dirs, spec=spec)
    timed = frame.drop_duplicates("run").dropna(subset=["mean_epoch_time_s"])
    assert len(timed) >= 2  # the fake runs carry per-epoch wall times
    fig = plot_training_time(frame)
    # mean epoch times 12, 21 and 9.5 s (RUNS), normalised to PGD-AT's 9.5 s
    assert [bar.get_height() for bar in fig.axes[0].patches] == pytest.approx([12.0 / 9.5, 21.0 / 9.5, 1.0])
    paths = write_figure(fig, tmp_path / "fig" / "training-time")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and paths[0].read_bytes().startswith(PNG_MAGIC)
    assert plot_training_time(frame.assign(mean_epoch_time_s=float("nan"))) is None


# ---------------------------------------------------------------------------------------------
# checkpoints, per-point epochs and seed aggregation

SEEDED = {  # three seeds of one FLOAT setting at lambda = 0 and 1: (CA, RA) per lambda, epoch times
    "r20-float-seed0": (0, [(90.0, 20.0), (80.0, 40.0)], [10.0, 12.0]),
    "r20-float-seed1": (1, [(91.0, 21.0), (81.0, 42.0)], [14.0]),
    "r20-float-seed2": (2, [(95.0, 25.0), (78.0, 47.0)], [9.0, 11.0, 13.0]),
}


def seeded_runs(root, **kwargs):
    """The three SEEDED runs (seed2 also evaluated with AutoAttack) and a single OAT run."""
    dirs = []
    for name, (seed, accs, times) in SEEDED.items():
        attacks = ("pgd7", "autoattack") if seed == 2 else ("pgd7",)
        # data_dir and device do not change results: they may differ between the seeds
        train = {"data_dir": f"/data/{seed}", "device": "cuda" if seed == 1 else "cpu", "epochs": 3}
        dirs.append(
            make_run(root, name, "float", accs, (0.0, 1.0), times, attacks=attacks, seed=seed, train=train, **kwargs)
        )
    dirs.append(make_run(root, "r20-oat", *RUNS["r20-oat"], seed=5, **kwargs))
    return dirs


def test_points_carry_checkpoint_and_epoch(tmp_path, spec):
    d = make_run(tmp_path, "r20-float", *RUNS["r20-float"], checkpoint=("last", "best"), best_epoch=2)
    frame = report_frame([d], spec)
    assert len(frame) == 8
    assert list(frame["checkpoint"]) == ["last"] * 4 + ["best"] * 4  # last first, then lambda order
    last, best = frame[frame["checkpoint"] == "last"], frame[frame["checkpoint"] == "best"]
    assert list(last["epoch"]) == [3] * 4  # no per-point epoch: the results' epoch
    assert list(best["epoch"]) == [2] * 4  # the best checkpoint's own epoch
    assert list(best["lam"]) == list(LAMBDAS)
    accs = RUNS["r20-float"][1]
    assert list(last["clean_acc"]) == [ca for ca, _ in accs]
    assert list(best["clean_acc"]) == [ca - 1.0 for ca, _ in accs]
    assert list(best["robust_acc"]) == [ra + 2.0 for _, ra in accs]
    assert list(best["delay_ns"]) == list(last["delay_ns"])  # same model, same cost


def test_aggregate_seeds_mean_and_sample_std(tmp_path, spec):
    frame = report_frame(seeded_runs(tmp_path), spec)
    agg = aggregate_seeds(frame)
    assert list(agg.columns) == SEED_COLUMNS
    assert list(dict.fromkeys(agg["run"])) == ["r20-float", "r20-oat"]  # base name; a single run keeps its own
    series = agg[(agg["run"] == "r20-float") & (agg["attack"] == "pgd7")].set_index("lam")
    assert list(series.index) == [0.0, 1.0] and set(series["checkpoint"]) == {"last"}
    assert set(series["seeds"]) == {3} and set(series["seed_list"]) == {"0,1,2"}
    at0, at1 = series.loc[0.0], series.loc[1.0]
    assert at0["clean_acc_mean"] == pytest.approx(92.0)  # (90 + 91 + 95) / 3
    assert at0["clean_acc_std"] == pytest.approx(math.sqrt(7.0)) == pytest.approx(2.6457513)  # (4 + 1 + 9) / 2
    assert at0["robust_acc_mean"] == pytest.approx(22.0)  # 20, 21, 25
    assert at0["robust_acc_std"] == pytest.approx(math.sqrt(7.0))
    assert at1["clean_acc_mean"] == pytest.approx(239.0 / 3)  # 80, 81, 78
    assert (
        at1["clean_acc_std"] == pytest.approx(math.sqrt(7.0 / 3.0)) == pytest.approx(1.5275252)
    )  # (1 + 16 + 25) / 9 / 2
    assert at1["robust_acc_mean"] == pytest.approx(43.0) and at1["robust_acc_std"] == pytest.approx(math.sqrt(13.0))
    # costs are the per-run costs (equal across seeds); the epoch time is the mean of 11, 14 and 11 s
    per_run = frame[(frame["run"] == "r20-float-seed1") & (frame["attack"] == "pgd7")].set_index("lam")
    for col in ("params", "weight_bytes", "memory_mb", "macs", "delay_ns", "delay_base_ns"):
        assert list(series[col]) == list(per_run[col])
    assert at1["delay_ns"] == expected_totals("float", 1.0, spec).delay_ns
    assert list(series["mean_epoch_time_s"]) == pytest.approx([12.0, 12.0])
    # mixed presence: only seed2 was attacked with AutoAttack
    aa = agg[agg["attack"] == "autoattack"].set_index("lam")
    assert set(aa["seeds"]) == {1} and set(aa["seed_list"]) == {"2"}
    assert list(aa["clean_acc_mean"]) == [95.0, 78.0] and list(aa["robust_acc_mean"]) == [24.0, 46.0]
    assert aa["clean_acc_std"].isna().all() and aa["robust_acc_std"].isna().all()
    # the single run: seeds = 1, its own seed, values copied, no spread
    oat = agg[agg["run"] == "r20-oat"]
    assert len(oat) == 4 and set(oat["seeds"]) == {1} and set(oat["seed_list"]) == {"5"}
    assert list(zip(oat["clean_acc_mean"], oat["robust_acc_mean"])) == RUNS["r20-oat"][1]
    assert oat["clean_acc_std"].isna().all() and set(oat["mean_epoch_time_s"]) == {21.0}


def test_aggregate_seeds_keeps_checkpoints_apart(tmp_path, spec):
    frame = report_frame(seeded_runs(tmp_path, checkpoint=("last", "best"), best_epoch=2), spec)
    agg = aggregate_seeds(frame)
    series = agg[(agg["run"] == "r20-float") & (agg["attack"] == "pgd7") & (agg["lam"] == 0.0)].set_index("checkpoint")
    assert list(series.index) == ["last", "best"]
    assert series.loc["last", "clean_acc_mean"] == pytest.approx(92.0)
    assert series.loc["best", "clean_acc_mean"] == pytest.approx(91.0)  # each seed's best CA is 1 lower
    assert series.loc["best", "robust_acc_mean"] == pytest.approx(24.0)  # and its RA 2 higher
    assert series.loc["best", "clean_acc_std"] == pytest.approx(math.sqrt(7.0))  # a shift keeps the spread


def test_seed_group_differing_in_a_setting_is_refused(tmp_path, spec):
    a = make_run(tmp_path, "r20-float-seed0", "float", [(90.0, 20.0)], (0.0,), [1.0, 1.0, 1.0], seed=0)
    b = make_run(
        tmp_path, "r20-float-seed1", "float", [(91.0, 21.0)], (0.0,), [1.0, 1.0], seed=1, model={"dropout": 0.3}
    )
    frame = report_frame([a, b], spec)  # the per-run frame is fine
    with pytest.raises(HwsimError) as info:
        aggregate_seeds(frame)
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "runs r20-float-seed0, r20-float-seed1 differ in more than the seed: model.dropout (0.0 vs 0.3), "
        "train.epochs (3 vs 2); aggregate only runs that differ in seed"
    )
    with pytest.raises(HwsimError, match=r"train\.epochs \(3 vs 2\)"):
        write_report([a, b], tmp_path / "out", spec=spec, plots=False)
    c = make_run(tmp_path, "r20-float-seed2", "float", [(92.0, 22.0)], (0.0,), [1.0, 1.0, 1.0], seed=2, eps=0.1)
    with pytest.raises(HwsimError) as info:
        aggregate_seeds(report_frame([a, c], spec))  # evaluated at another attack budget
    assert "eval.eps (0.03137254901960784 vs 0.1)" in str(info.value) and "\n" not in str(info.value)


def test_seed_group_with_a_repeated_seed_is_refused(tmp_path, spec):
    a = make_run(tmp_path, "r20-float-seed0", "float", [(90.0, 20.0)], (0.0,), [1.0], seed=0)
    b = make_run(
        tmp_path, "r20-float-seed1", "float", [(91.0, 21.0)], (0.0,), [1.0], seed=0
    )  # named seed1, trained with 0
    with pytest.raises(HwsimError) as info:
        aggregate_seeds(report_frame([a, b], spec))
    message = str(info.value)
    assert "\n" not in message and "r20-float-seed0, r20-float-seed1" in message
    assert "same seed (0)" in message and "'r20-float'" in message


def capture_figures(monkeypatch):
    """Record every figure write_report writes (and still write it)."""
    import hwsim.report.writer as writer

    figures = []
    original = writer.write_figure

    def save(fig, path_stem):
        figures.append(fig)
        return original(fig, path_stem)

    monkeypatch.setattr(writer, "write_figure", save)
    return figures


def test_write_report_aggregates_seeds(tmp_path, spec, monkeypatch):
    figures = capture_figures(monkeypatch)
    dirs = seeded_runs(tmp_path / "runs")
    out = tmp_path / "report"
    text, paths = write_report(dirs, out, spec=spec, fmt="markdown")
    names = [p.name for p in paths]
    assert names[:4] == ["report.csv", "report.json", "report-seeds.csv", "report-seeds.json"]
    assert sorted(names[4:]) == sorted(
        ["training-time.png", "training-time.pdf"]
        + [f"{kind}-{attack}.{ext}" for kind in ("tradeoff", "memory-accuracy") for attack in ("pgd7", "autoattack") for ext in ("png", "pdf")]
    )  # fmt: skip
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes().startswith(PNG_MAGIC) and p.stat().st_size > 1000
    assert (
        len(pd.read_csv(out / "report.csv")) == 3 * 2 + 2 + 4
    )  # per run: 3 seeds x 2 lambdas, AutoAttack of seed2, OAT
    seeds = pd.read_csv(out / "report-seeds.csv")
    assert list(seeds.columns) == SEED_COLUMNS and len(seeds) == 2 + 2 + 4
    row = seeds[(seeds["run"] == "r20-float") & (seeds["attack"] == "pgd7") & (seeds["lam"] == 0.0)].iloc[0]
    assert (row["seeds"], row["seed_list"]) == (3, "0,1,2")
    assert row["clean_acc_mean"] == pytest.approx(92.0) and row["clean_acc_std"] == pytest.approx(2.6457513)
    data = json.loads((out / "report-seeds.json").read_text())
    assert data["spec"] == "asic-65nm" and len(data["rows"]) == len(seeds) and "run_configs" not in data
    assert data["rows"][-1]["run"] == "r20-oat" and data["rows"][-1]["clean_acc_std"] is None  # NaN -> null
    # the text: the per-run table, then the aggregated view
    per_run, aggregated = text.split("\n### ")
    assert "| run | method | arch | checkpoint |" in per_run and "r20-float-seed2" in per_run
    assert aggregated.startswith("mean ± std over seeds: 2 series of 4 run(s)")
    assert (
        "| run | method | checkpoint | lam | lambda_th | attack | seeds | clean_acc_mean | clean_acc_std |"
        in aggregated
    )
    assert "| r20-float | float | last | 0 | 0 | pgd7 | 3 | 92 | 2.646 | 22 | 2.646 |" in aggregated
    # the plots draw the aggregated series: means with error bars, labelled with the seed count
    axes = {fig.axes[0].get_title(): fig.axes[0] for fig in figures}
    assert len(axes) == 5  # training time, and trade-off and memory per attack
    trade = axes["Accuracy-robustness trade-off across $\\lambda$ (PGD-7)"]  # no checkpoint note: last only
    lines = {line.get_label(): line for line in trade.get_lines() if not line.get_label().startswith("_")}
    assert set(lines) == {"r20-float (FLOAT), mean ± std over 3 seeds", "r20-oat (OAT)"}
    float_line = lines["r20-float (FLOAT), mean ± std over 3 seeds"]
    assert list(float_line.get_xdata()) == pytest.approx([92.0, 239.0 / 3])
    assert list(float_line.get_ydata()) == pytest.approx([22.0, 43.0])
    assert len(trade.containers) == 1  # one errorbar set: the FLOAT series (OAT is a single run)
    memory = axes["Memory vs accuracy (8-bit weights, PGD-7)"]
    assert len(memory.containers) == 2  # FLOAT's CA and RA error bars
    assert "mean ± std over 3 seeds" in [t.get_text() for t in memory.get_legend().get_texts()]
    # AutoAttack: seed2 only, so a plain series without error bars
    aa = axes["Accuracy-robustness trade-off across $\\lambda$ (AutoAttack)"]
    assert [ln.get_label() for ln in aa.get_lines()] == ["r20-float (FLOAT)"] and aa.containers == []
    assert axes["Memory vs accuracy (8-bit weights, AutoAttack)"].containers == []
    # csv and json text stay per run; a report without seed groups removes the stale aggregated files
    csv, _ = write_report(dirs, out, spec=spec, fmt="csv", plots=False)
    assert csv == (out / "report.csv").read_text()
    table, _ = write_report(dirs, out, spec=spec, plots=False)
    assert "mean ± std over seeds" in table and "clean_acc_mean" in table
    write_report(dirs[:1] + dirs[-1:], out, spec=spec, plots=False)
    assert not (out / "report-seeds.csv").exists() and not (out / "report-seeds.json").exists()


def test_plots_prefer_the_best_checkpoint(tmp_path, spec):
    both = make_run(tmp_path, "r20-float", *RUNS["r20-float"], checkpoint=("last", "best"))
    oat = make_run(tmp_path, "r20-oat", *RUNS["r20-oat"], checkpoint=("last", "best"))
    frame = report_frame([both, oat], spec)
    rows, note = plotted_rows(frame, "pgd7")
    assert set(rows["checkpoint"]) == {"best"} and len(rows) == 8 and note == "(best checkpoint per $\\lambda$)"
    points = boundary_points(frame, "pgd7").set_index("run")
    assert tuple(points.loc["r20-float", ["clean_acc", "robust_acc"]]) == (90.5, 49.75)  # 91.5 - 1, 47.75 + 2
    trade, memory = plot_tradeoff(frame, "pgd7").axes[0], plot_memory_accuracy(frame, "pgd7").axes[0]
    assert trade.get_title().endswith("(best checkpoint per $\\lambda$)")
    assert memory.get_title().endswith("(best checkpoint per $\\lambda$)")
    line = next(ln for ln in trade.get_lines() if ln.get_label() == "r20-float (FLOAT)")
    assert list(line.get_xdata()) == [ca - 1.0 for ca, _ in RUNS["r20-float"][1]]
    assert list(line.get_ydata()) == [ra + 2.0 for _, ra in RUNS["r20-float"][1]]
    assert trade.containers == []  # single runs: no error bars
    # a run evaluated at its last checkpoint only is still drawn, at that checkpoint
    pgdat = make_run(tmp_path, "r20-pgdat", *RUNS["r20-pgdat"])
    rows, note = plotted_rows(report_frame([both, pgdat], spec), "pgd7")
    assert rows.groupby("run")["checkpoint"].agg(set).to_dict() == {"r20-float": {"best"}, "r20-pgdat": {"last"}}
    assert "else last" in note
    rows, note = plotted_rows(report_frame([pgdat], spec), "pgd7")
    assert set(rows["checkpoint"]) == {"last"} and note == ""


def test_plotted_rows_can_prefer_the_last_checkpoint(tmp_path, spec):
    """prefer="last" (Fig. 3 / 4 / 6): a run evaluated at both is drawn at its last epoch's weights;
    a run with a best checkpoint only at that one, and the note says so."""
    both = make_run(tmp_path, "r20-float", *RUNS["r20-float"], checkpoint=("last", "best"))
    best_only = make_run(tmp_path, "r20-oat", *RUNS["r20-oat"], checkpoint=("best",))
    rows, note = plotted_rows(report_frame([both, best_only], spec), "pgd7", prefer="last")
    assert rows.groupby("run")["checkpoint"].agg(set).to_dict() == {"r20-float": {"last"}, "r20-oat": {"best"}}
    assert note == "(best checkpoint per $\\lambda$ where no last was evaluated)"
    mine = rows[rows["run"] == "r20-float"].sort_values("lam")
    assert list(zip(mine["clean_acc"], mine["robust_acc"])) == RUNS["r20-float"][1]  # last: as written
    with pytest.raises(ValueError, match="prefer"):
        plotted_rows(report_frame([both], spec), "pgd7", prefer="first")


def test_seed_check_treats_train_settings_as_a_dict():
    from hwsim.report import SEED_INSENSITIVE_TRAIN, check_seed_group

    assert SEED_INSENSITIVE_TRAIN == {"data_dir", "device", "workers"}

    def config(seed, **train):
        base = {"epochs": 10, "amp": False, "seed": seed, "workers": 0, "device": "cpu", "data_dir": None}
        return {"model": {"name": f"m{seed}", "arch": "resnet20", "dropout": 0.0}, "train": {**base, **train}}

    runs = ["x-seed0", "x-seed1", "x-seed2"]
    ok = {"x-seed0": config(0), "x-seed1": config(1, workers=8, device="cuda:1"), "x-seed2": config(2, data_dir="/d")}
    check_seed_group("x", runs, ok)  # seed, name, workers, device and data_dir may differ
    bad = {**ok, "x-seed2": config(2, amp=True, preset="paper")}
    with pytest.raises(HwsimError) as info:
        check_seed_group("x", runs, bad)
    assert str(info.value) == (
        "runs x-seed0, x-seed1, x-seed2 differ in more than the seed: train.amp (False vs False vs True), "
        "train.preset (unset vs unset vs 'paper'); aggregate only runs that differ in seed"
    )


# ---------------------------------------------------------------------------------------------
# files: reproducible bytes; the report without torch


def test_report_files_are_byte_identical_when_written_twice(tmp_path, spec, monkeypatch):
    dirs = seeded_runs(tmp_path / "runs", checkpoint=("last", "best"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # what matplotlib would stamp as the PDF's date
    _, first = write_report(dirs, tmp_path / "a", spec=spec)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")  # a day later
    _, second = write_report(dirs, tmp_path / "b", spec=spec)
    assert [p.name for p in first] == [p.name for p in second]
    assert {p.suffix for p in first} == {".csv", ".json", ".png", ".pdf"} and len(first) == 4 + 2 * 5
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    _, again = write_report(dirs, tmp_path / "a", spec=spec)  # over the old files: the same bytes
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in second]
    for pdf in (p.read_bytes() for p in first if p.suffix == ".pdf"):
        assert b"/CreationDate" not in pdf and b"/Producer" not in pdf and b"/Creator" not in pdf
    for png in (p.read_bytes() for p in first if p.suffix == ".png"):
        assert png.startswith(PNG_MAGIC) and b"Software" not in png and b"atplotlib" not in png


TORCH_FREE = """
import sys
from pathlib import Path

import hwsim.report
from hwsim.runfiles import read_results, read_run_file

assert "torch" not in sys.modules, "importing hwsim.report imported torch"
runs = [Path(a) for a in sys.argv[2:]]
assert read_results(runs[0]).points and read_run_file(runs[0])["history"]
assert "torch" not in sys.modules, "reading run files imported torch"
text, paths = hwsim.report.write_report(runs, Path(sys.argv[1]), fmt="csv")
print("torch" in sys.modules, len(paths))
"""


def test_report_needs_no_torch_once_the_layer_tables_are_cached(tmp_path):
    """The reader and the join import no torch; only costing a model whose layer table is not
    cached yet walks the network (with torch)."""
    import os
    import subprocess
    import sys

    from .conftest import REPO

    runs = [REPO / "tests" / "fixtures" / "digits-runs" / name for name in ("float-seed0", "float-seed1", "oat-seed0")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HWSIM_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HWSIM_NO_CACHE", None)

    def report(out: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", TORCH_FREE, str(tmp_path / out), *map(str, runs)],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert report("cold") == ["True", "18"]  # empty cache: the walk imports torch
    assert report("warm") == ["False", "18"]  # cached tables: no torch, the same report
    for name in ("report.csv", "report-seeds.csv", "tradeoff-pgd7.png", "memory-accuracy-fgsm.pdf"):
        assert (tmp_path / "cold" / name).read_bytes() == (tmp_path / "warm" / name).read_bytes()


def test_train_lambdas_column_records_what_training_sampled(spec):
    """OAT's S_lambda (here --preset paper), PGD-AT's fixed lambda, none for FLOAT; kept by the seed
    aggregate (what Fig. 3 groups by)."""
    from .conftest import REPO

    runs = sorted((REPO / "tests/fixtures/digits-runs").glob("*/"))
    frame = report_frame(runs, spec)
    got = frame.drop_duplicates("run").set_index("run")["train_lambdas"]
    assert got["oat-seed0"] == "0,0.2,0.7,1" and got["pgdat-l0.2-seed0"] == "0.2"
    assert pd.isna(got["float-seed0"]) and pd.isna(got["float-seed1"])
    agg = aggregate_seeds(frame).drop_duplicates("run").set_index("run")["train_lambdas"]
    assert agg["oat-seed0"] == "0,0.2,0.7,1" and pd.isna(agg["float"])
