"""The report's FLOATS views: method labels, the paper's Table 1 view, the Fig. 9 slim plot, Fig. 1
with sparse runs and the Fig. 5(a) channel heatmap, on hand-written run directories (no training).

The sparsity summary of an estimate (CR, CRF, storage, Eq. 7 speed-up) and the cost of channel /
slim models are computed elsewhere; these tests stand in a fake ``estimate_model`` where they need
those numbers, so they check what the report does with them, not the cost model."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.estimate import SparsitySummary
from hwsim.report import (
    COLUMNS,
    PAPER_TABLE1,
    TABLE1_COLUMNS,
    boundary_points,
    channel_densities,
    channel_heatmap_values,
    join,
    method_label,
    plot_channel_heatmap,
    plot_memory_accuracy,
    plot_slim,
    report_frame,
    table1_frame,
    write_report,
)  # fmt: skip
from hwsim.runfiles import AccuracyPoint, EvalResults, RunConfig

from .conftest import one_line_error

LAMBDAS = (0.0, 0.5, 1.0)


def sparsity(kind, density, factors=(1.0,), eval_sf=1.0):
    return {"kind": kind, "density": density, "slim_factors": list(factors), "eval_slim_factor": eval_sf}


def make_run(
    root, name, method, *, arch="resnet34", dataset="cifar10", sparse=None, points=(), layers=None, model=None
):
    """A run directory: run.json (one epoch; ``layers``: the mask summary of its history entry) and
    results.json with ``points`` as (lam, lambda_th, slim_factor, CA, RA) on PGD-7."""
    cfg = {"name": name, "arch": arch, "method": method, "dataset": dataset, **(model or {})}
    if sparse is not None:
        cfg["sparsity"] = sparse
    run = RunConfig.model_validate({"name": name, "model": cfg, "train": {"epochs": 1}})
    config = run.model_dump(mode="json", by_alias=True)
    run_dir = root / name
    run_dir.mkdir(parents=True)
    entry = {"epoch": 1, "loss": 1.0, "lr": 0.1, "epoch_time_s": 10.0, "clean_acc": 50.0, "robust_acc": 20.0}
    if layers is not None:
        entry.update({"density": 0.5, "layers": layers})
    (run_dir / "run.json").write_text(json.dumps({"status": "done", "config": config, "history": [entry]}))
    pts = [
        AccuracyPoint(
            lam=lam, lambda_th=th, attack="pgd7", clean_acc=ca, robust_acc=ra, images=100, slim_factor=sf
        )  # fmt: skip
        for lam, th, sf, ca, ra in points
    ]
    res = EvalResults(
        hwsim_version="0.1.0", run=name, checkpoint=str(run_dir / "checkpoint.pt"), epoch=1, config=config,
        seed=0, eps=8 / 255, points=pts,
    )  # fmt: skip
    (run_dir / "results.json").write_text(res.model_dump_json(indent=2))
    return run_dir


def curve(ca0, ra0, ca1, ra1, lambda_th=None, sf=1.0):
    """Points at lambda 0, 0.5, 1: (ca0, ra0), the mean, (ca1, ra1)."""
    mid = ((ca0 + ca1) / 2, (ra0 + ra1) / 2)
    return [
        (lam, lambda_th, sf, ca, ra)
        for lam, (ca, ra) in zip(LAMBDAS, [(ca0, ra0), mid, (ca1, ra1)])
    ]  # fmt: skip


class FakeEstimates:
    """Stands in for hwsim.estimate.estimate_model: totals and a sparsity summary that are simple
    functions of the config (so that a test can tell which density / SF / masks were costed)."""

    def __init__(self):
        self.calls = []

    def __call__(self, config, spec, *, attribution="paper", masks=None):
        self.calls.append((config, masks))
        s = config.sparsity
        density = 1.0 if s is None else s.density
        sf = 1.0 if s is None or s.kind != "slim" else s.eval_slim_factor
        dense = 1000
        kept = round(dense * density * sf * sf)
        totals = SimpleNamespace(
            params=kept + 10, weight_bytes=kept + 10, storage_bytes=2 * kept + 10, macs=kept * 7, flops=kept * 14,
            delay_ns=float(kept), delay_base_ns=float(kept),
        )  # fmt: skip
        summary = None
        if s is not None:
            summary = SparsitySummary(
                kind=s.kind, target_density=density, slim_factor=sf, dense_conv_weights=dense, kept_conv_weights=kept,
                cr=dense / kept, effective_cr=dense / (2 * kept), crf=1 / sf, storage_format="csr",
                storage_bits=16 * kept, dense_storage_bits=8 * dense, eq7_speedup=dense / kept, speedup=dense / kept,
            )  # fmt: skip
        layers = [{"op": "conv", "conv_linear_bits": 8 * dense}, {"op": "linear", "conv_linear_bits": 80}]
        return SimpleNamespace(totals=totals, sparsity=summary, layers=layers)


@pytest.fixture
def fake(monkeypatch):
    join._cost.cache_clear()
    estimates = FakeEstimates()
    monkeypatch.setattr(join, "estimate_model", estimates)
    yield estimates
    join._cost.cache_clear()


# ---------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    "method, sparse, label",
    [
        ("float", None, "FLOAT"),
        ("oat", None, "OAT"),
        ("pgdat", None, "PGD-AT"),
        ("floats", sparsity("irregular", 0.1), "FLOATS-i"),
        ("floats", sparsity("channel", 0.34), "FLOATS-c"),
        ("floats", sparsity("slim", 0.3, (1.0, 0.5), 0.5), "FLOATS slim"),
        ("float", sparsity("slim", 1.0, (1.0, 0.5)), "FLOAT slim"),
        ("oat", sparsity("slim", 1.0, (1.0, 0.5)), "OAT slim"),
        ("my-method", None, "my-method"),
    ],
)
def test_method_label(method, sparse, label):
    assert method_label(method, sparse) == label


def test_method_label_takes_a_sparsity_config():
    from hwsim.config import SparsityConfig

    assert method_label("floats", SparsityConfig(kind="channel", density=0.5)) == "FLOATS-c"


# ---------------------------------------------------------------------------------------------
# the joined frame and Table 1


@pytest.fixture
def table_runs(tmp_path):
    root = tmp_path / "runs"
    layers = {"conv1": {"density": 0.25, "in_channels": 3, "kept_in_channels": 3}}
    return [
        # FLOAT at two thresholds: Table 1 reads lambda_th = 0
        make_run(root, "r34-float", "float", points=curve(94.0, 22.0, 89.0, 56.0, 0.0) + curve(90.0, 30.0, 80.0, 60.0, 0.5)),
        make_run(root, "r34-floats-i", "floats", sparse=sparsity("irregular", 0.1), points=curve(93.0, 18.0, 88.0, 55.0, 0.0), layers=layers),
        make_run(root, "r34-floats-i-d02", "floats", sparse=sparsity("irregular", 0.2), points=curve(92.0, 17.0, 87.0, 54.0, 0.0)),
        make_run(root, "r34-floats-c", "floats", sparse=sparsity("channel", 0.34), points=curve(91.0, 16.0, 86.0, 53.0, 0.0)),
        make_run(
            root, "r34-floats-slim", "floats", sparse=sparsity("slim", 0.3, (1.0, 0.5), 0.5),
            points=curve(95.0, 20.0, 90.0, 57.0, 0.0, sf=1.0) + curve(94.5, 19.5, 89.5, 55.5, 0.0, sf=0.5),
        ),
        make_run(root, "r20-floats-i", "floats", arch="resnet20", dataset="digits", sparse=sparsity("irregular", 0.1), points=curve(80.0, 10.0, 70.0, 40.0, 0.0)),
    ]  # fmt: skip


def test_frame_carries_label_slim_factor_and_cost_at_that_sf(fake, table_runs):
    frame = report_frame(table_runs)
    assert list(frame.columns) == COLUMNS
    slim = frame[frame["run"] == "r34-floats-slim"]
    assert sorted(set(slim["slim_factor"])) == [0.5, 1.0] and set(slim["eval_slim_factor"]) == {0.5}
    assert set(slim["label"]) == {"FLOATS slim"} and set(frame[frame["run"] == "r34-float"]["slim_factor"]) == {1.0}
    # the cost of a slim row is the cost at its SF: 1000 x 0.3 x SF^2 kept weights in the fake
    for sf, kept in ((1.0, 300), (0.5, 75)):
        rows = slim[slim["slim_factor"] == sf]
        assert set(rows["weight_bytes"]) == {kept + 10} and set(rows["cr"]) == {1000 / kept}
        assert set(rows["storage_bytes"]) == {2 * kept + 10} and set(rows["crf"]) == {1 / sf}
    dense = frame[frame["run"] == "r34-float"]
    # a dense model is its own reference: CR / CRF / speed-ups 1, its conv weights stored dense
    assert set(dense["cr"]) == set(dense["crf"]) == set(dense["eq7_speedup"]) == {1.0} and dense["density"].isna().all()
    assert set(dense["storage_format"]) == {"dense"} and set(dense["sparse_storage_bytes"]) == {1000.0}
    # the last history entry's mask summary is what a sparse run is costed with
    masks = [m for config, m in fake.calls if config.sparsity is not None and config.sparsity.density == 0.1]
    assert {"conv1": {"density": 0.25, "in_channels": 3, "kept_in_channels": 3}} in masks


def test_table1_picks_lambda_0_and_1_at_threshold_0_and_eval_sf(fake, table_runs):
    table = table1_frame(report_frame(table_runs)).set_index("run")
    assert list(table.reset_index().columns) == TABLE1_COLUMNS
    assert len(table) == len(table_runs)
    expect = {
        "r34-float": ("FLOAT", 1.0, (94.0, 22.0, 89.0, 56.0)),  # lambda_th 0, not 0.5's (90, 30, 80, 60)
        "r34-floats-i": ("FLOATS-i", 1.0, (93.0, 18.0, 88.0, 55.0)),
        "r34-floats-c": ("FLOATS-c", 1.0, (91.0, 16.0, 86.0, 53.0)),
        "r34-floats-slim": ("FLOATS slim", 0.5, (94.5, 19.5, 89.5, 55.5)),  # SF 0.5, not SF 1.0's
    }
    for run, (label, sf, accs) in expect.items():
        row = table.loc[run]
        assert row["method"] == label and row["sf"] == sf
        assert (row["ca_lam0"], row["ra_lam0"], row["ca_lam1"], row["ra_lam1"]) == accs
        assert row["lambda_th"] == 0.0 and row["attack"] == "pgd7"
    slim = table.loc["r34-floats-slim"]
    assert slim["cr"] == pytest.approx(1000 / 75) and slim["crf"] == 2.0 and slim["storage_format"] == "csr"
    assert slim["storage_bytes"] == 16 * 75 / 8 and slim["eq7_speedup"] == pytest.approx(1000 / 75)
    assert table.loc["r34-float", "cr"] == 1.0 and table.loc["r34-float", "storage_format"] == "dense"


def test_table1_paper_columns_only_for_matching_runs(fake, table_runs):
    table = table1_frame(report_frame(table_runs)).set_index("run")
    paper = {p["label"]: p for p in PAPER_TABLE1}
    for run, label in (("r34-float", "FLOAT"), ("r34-floats-i", "FLOATS-i"), ("r34-floats-c", "FLOATS-c"), ("r34-floats-slim", "FLOATS slim")):  # fmt: skip
        row = table.loc[run]
        for c in ("ca_lam0", "ra_lam0", "ca_lam1", "ra_lam1", "cr", "crf"):
            assert row[f"paper_{c}"] == paper[label][c]
    assert (table.loc["r34-floats-slim", "paper_cr"], table.loc["r34-floats-slim", "paper_crf"]) == (4.76, 2.0)
    assert table.loc["r34-floats-i", "paper_ca_lam0"] == 94.12 and table.loc["r34-floats-c", "paper_cr"] == 2.94
    # another density, another arch / data set: no paper values (and hwsim's own are never replaced)
    for run in ("r34-floats-i-d02", "r20-floats-i"):
        assert table.loc[run, [c for c in TABLE1_COLUMNS if c.startswith("paper_")]].isna().all()
        assert not math.isnan(table.loc[run, "ca_lam0"])


def test_table1_slim_at_another_sf_has_no_paper_values(fake, tmp_path):
    run = make_run(
        tmp_path, "r34-floats-slim-sf1", "floats", sparse=sparsity("slim", 0.3, (1.0, 0.5), 1.0),
        points=curve(95.0, 20.0, 90.0, 57.0, 0.0, sf=1.0) + curve(94.5, 19.5, 89.5, 55.5, 0.0, sf=0.5),
    )  # fmt: skip
    row = table1_frame(report_frame([run])).iloc[0]
    assert row["sf"] == 1.0 and row["ca_lam0"] == 95.0 and math.isnan(row["paper_cr"])


def test_write_report_writes_and_prints_table1_for_sparse_runs(fake, table_runs, tmp_path):
    out = tmp_path / "out"
    text, paths = write_report(table_runs, out, fmt="markdown", plots=False)
    assert out / "table1.csv" in paths and out / "table1.json" in paths
    assert "Table 1" in text and "FLOATS slim" in text and "4.76" in text and "n/a" in text
    assert "dense conv weights / kept conv weights" in text and "neither 1/0.3" in text
    rows = json.loads((out / "table1.json").read_text())["rows"]
    assert [r["run"] for r in rows] == [d.name for d in table_runs]
    # a dense-only report afterwards: no Table 1, and the stale one is gone
    text, paths = write_report([table_runs[0]], out, fmt="markdown", plots=False)
    assert "Table 1" not in text and not (out / "table1.csv").exists() and not (out / "table1.json").exists()


# ---------------------------------------------------------------------------------------------
# figures


@pytest.fixture
def slim_runs(tmp_path):
    root = tmp_path / "runs"
    two = lambda base, th: (
        curve(base, 20.0, base - 5, 55.0, th, sf=1.0) + curve(base - 1, 18.0, base - 6, 52.0, th, sf=0.5)
    )  # noqa: E731
    return [
        make_run(root, "float-slim", "float", sparse=sparsity("slim", 1.0, (1.0, 0.5)), points=two(94.0, 0.0)),
        make_run(root, "floats-slim", "floats", sparse=sparsity("slim", 0.3, (1.0, 0.5), 0.5), points=two(93.0, 0.0)),
        make_run(root, "oat-slim", "oat", sparse=sparsity("slim", 1.0, (1.0, 0.5)), points=two(91.0, None)),
        make_run(root, "float", "float", points=curve(94.0, 22.0, 89.0, 56.0, 0.0)),
    ]


def test_plot_slim_one_line_per_run_and_sf(fake, slim_runs):
    frame = report_frame(slim_runs)
    fig = plot_slim(frame, "pgd7")
    ca_ax, ra_ax = fig.axes[:2]
    for ax in (ca_ax, ra_ax):
        lines = ax.get_lines()
        assert len(lines) == 3 * 2  # three slimmable runs x two SFs; the dense FLOAT run is not drawn
        labels = [line.get_label() for line in lines]
        assert sum("SF=0.5" in lab for lab in labels) == 3 and sum("SF=1" in lab for lab in labels) == 3
        assert {lab.split(" (")[0] for lab in labels} == {"FLOAT slim", "FLOATS slim", "OAT slim"}
        for line in lines:  # SF by line style
            assert line.get_linestyle() == ("-" if "SF=1" in line.get_label() else "--")
            assert list(line.get_xdata()) == list(LAMBDAS)
    floats_sf05 = next(line for line in ca_ax.get_lines() if line.get_label() == "FLOATS slim (floats-slim), SF=0.5")
    assert list(floats_sf05.get_ydata()) == [92.0, 89.5, 87.0]
    assert plot_slim(frame[frame["run"] == "float"], "pgd7") is None


def test_report_figures_add_the_slim_plot_only_for_slimmable_runs(fake, slim_runs):
    from hwsim.report import report_figures

    frame = report_frame(slim_runs)
    assert "slim-pgd7" in report_figures(frame)
    assert "slim-pgd7" not in report_figures(frame[frame["run"] == "float"])


def test_memory_accuracy_includes_floats_i_at_its_storage(fake, table_runs):
    frame = report_frame(table_runs[:2])  # FLOAT and FLOATS-i (d = 0.1)
    points = boundary_points(frame, "pgd7").set_index("run")
    assert points.loc["r34-floats-i", "label"] == "FLOATS-i"
    # memory = storage in the spec's sparse format (the fake's 2 x kept + 10 bytes), not the dense weights
    assert points.loc["r34-floats-i", "storage_bytes"] == 2 * 100 + 10
    assert points.loc["r34-floats-i", "memory_norm"] == pytest.approx(210 / 2010)
    fig = plot_memory_accuracy(frame, "pgd7")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "FLOATS-i" in texts and "FLOAT" in texts
    offsets = [tuple(c.get_offsets()[0]) for c in ax.collections if len(c.get_offsets())]
    assert (pytest.approx(210 / 2010), 93.0) in offsets and (1.0, 94.0) in offsets


def test_slim_run_in_fig1_is_drawn_at_its_eval_sf(fake, slim_runs):
    points = boundary_points(report_frame(slim_runs[1:2]), "pgd7").iloc[0]
    assert points["label"] == "FLOATS slim" and points["clean_acc"] == 92.0  # SF 0.5's CA at lambda 0


# ---------------------------------------------------------------------------------------------
# channel heatmap


def hand_layer():
    """A 2 x 3 conv (C_o = 2, C_i = 3) with 2 x 2 kernels; input channel 2 is pruned away."""
    w = np.zeros((2, 3, 2, 2))
    w[0, 0] = [[1.0, -2.0], [0.0, 0.5]]  # |w| sum 3.5
    w[0, 1] = [[0.0, 0.0], [0.0, -1.0]]  # 1
    w[1, 0] = [[0.25, 0.25], [-0.25, 0.25]]  # 1
    w[1, 1] = [[-3.0, 0.0], [0.0, 0.0]]  # 3
    return w


def test_heatmap_values_sum_abs_over_kernel():
    values = channel_heatmap_values(hand_layer())
    assert values.shape == (2, 3)
    assert values.tolist() == [[3.5, 1.0, 0.0], [1.0, 3.0, 0.0]]


def test_channel_and_weight_density():
    w = hand_layer()
    channel, weight = channel_densities(w)
    assert channel == 2 / 3 and weight == 9 / 24  # nonzero weights: 3 + 1 + 4 + 1
    mask = w != 0
    mask[1, 2, 0, 0] = True  # a kept weight (trained to 0) keeps its channel present
    assert channel_densities(w, mask) == (1.0, 10 / 24)


def test_heatmap_figure_marks_zeros_and_titles_densities():
    w = hand_layer()
    fig = plot_channel_heatmap(
        "layer1.0.conv1", [("FLOATS-i (a)", np.ones((2, 3, 2, 2)), None), ("FLOATS-c (b)", w, None)]
    )
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2
    shown = images[1].get_array()
    assert shown.mask.tolist() == [[False, False, True], [False, False, True]]  # zeros drawn in the "bad" colour
    assert images[1].get_cmap().get_bad().tolist() == [1.0, 1.0, 1.0, 1.0]  # white
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert "channel density 100.0%" in titles[0] and "channel density 66.7%, weight density 37.5%" in titles[1]


def write_checkpoint(run_dir, masked: bool):
    """A small hand-made checkpoint: two convs and a classifier, with masks when ``masked``."""
    from hwsim.runner.train import CHECKPOINT_FORMAT

    config = json.loads((run_dir / "run.json").read_text())["config"]
    model = {
        "conv1.weight": torch.ones(4, 3, 3, 3),
        "layer1.0.conv1.weight": torch.from_numpy(hand_layer()).float(),
        "fc.weight": torch.ones(10, 4),
    }
    payload = {
        "format": CHECKPOINT_FORMAT, "config": config, "epoch": 1, "model": model, "optimizer": {}, "scheduler": {},
        "history": [], "best": {},
        "masks": {"layer1.0.conv1.weight": torch.from_numpy(hand_layer() != 0)} if masked else None,
    }  # fmt: skip
    torch.save(payload, run_dir / "checkpoint.pt")


@pytest.fixture
def checkpoint_runs(tmp_path):
    root = tmp_path / "runs"
    sparse = make_run(
        root, "r20-floats-i", "floats", arch="resnet20", dataset="digits", sparse=sparsity("irregular", 0.5),
        points=curve(80.0, 10.0, 70.0, 40.0, 0.0),
    )  # fmt: skip
    dense = make_run(
        root, "r20-float", "float", arch="resnet20", dataset="digits", points=curve(81.0, 11.0, 71.0, 41.0, 0.0)
    )
    write_checkpoint(sparse, masked=True)
    write_checkpoint(dense, masked=False)
    return sparse, dense


def test_cli_heatmap_unknown_layer_is_one_line(checkpoint_runs, tmp_path):
    sparse, _ = checkpoint_runs
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(sparse), "--out-dir", str(out), "--heatmap", "layer9.conv"])
    one_line_error(result, "layer9.conv", "conv1", "layer1.0.conv1")
    assert not out.exists() or not any(out.iterdir())  # refused before anything is written


def test_cli_heatmap_draws_sparse_runs_and_skips_dense(checkpoint_runs, tmp_path):
    sparse, dense = checkpoint_runs
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["report", str(sparse), str(dense), "--out-dir", str(out), "--heatmap", "layer1.0.conv1"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "heatmap-layer1_0_conv1.png").is_file() and (out / "heatmap-layer1_0_conv1.pdf").is_file()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "r20-float" in warnings[0] and "dense" in warnings[0]


def test_report_without_heatmap_stays_torch_free(tmp_path):
    import subprocess
    import sys

    code = "import sys, hwsim.report, hwsim.report.masks; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_table1_trained_mask_cr_beside_the_analytic_one():
    """The tracked FLOATS slim digits run (d = 0.3, SF 0.5): its trained masks keep unequal densities
    per conv, so the SF 0.5 slice keeps more than d of its weights: CR 7.22x, not the analytic 13.32x
    (every conv at d). A dense run has no analytic CR."""
    from pathlib import Path

    from hwsim.report import report_frame, table1_frame

    root = Path(__file__).resolve().parents[1] / "reports/digits-floats"
    table = table1_frame(report_frame([root / "resnet20-digits-floats-slim", root / "resnet20-digits-float"]))
    slim = table[table["method"] == "FLOATS slim"].iloc[0]
    assert slim["cr"] == pytest.approx(7.2195, abs=1e-3) and slim["cr_analytic"] == pytest.approx(13.3203, abs=1e-3)
    assert slim["crf"] == pytest.approx(slim["crf_analytic"])  # SF 0.5 keeps half the channels either way
    dense = table[table["method"] == "FLOAT"].iloc[0]
    assert math.isnan(dense["cr_analytic"]) and dense["cr"] == 1.0
