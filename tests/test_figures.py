"""hwsim figures: analytic data hand-checked, figures.md lists missing runs with their command,
byte-identical reruns, one-line errors, paper-check.md rows."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.estimate import estimate_file
from hwsim.figures import Context, get_figure, list_figures, write_figures

from .conftest import MODELS, REPO, one_line_error

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def est(stem, attribution="paper"):
    return estimate_file(MODELS / f"{stem}.yaml", attribution=attribution)


@pytest.fixture(scope="module")
def analytic(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    result = runner.invoke(app, ["figures", "--only", "fig8b,fig8c,table1-costs,fig1-memory", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_registry_lists_analytic_and_run_figures():
    names = list_figures()
    for name in ("fig8b", "fig8c", "table1-costs", "fig1-memory", "fig1", "fig6", "fig7", "fig8a", "fig9", "table1",
                 "fig3", "fig4", "fig10-autoattack"):  # fmt: skip
        assert name in names


def test_fig8b_oat_over_float_resnet34(analytic):
    data = pd.read_csv(analytic / "fig8b.csv")
    oat, flt = est("resnet34-cifar10-oat").totals, est("resnet34-cifar10-float").totals
    assert (oat.weight_bytes_fig8b, flt.weight_bytes_fig8b) == (31_386_954, 21_265_098)
    for key in ("weight_bytes_fig8b", "weight_bytes"):
        row = data[(data.model == "ResNet34") & (data.method == "oat") & (data.convention == key)].iloc[0]
        assert row["ratio_to_float"] == pytest.approx(getattr(oat, key) / getattr(flt, key), rel=1e-8)
        assert row["bytes"] == getattr(oat, key)
    assert set(data["model"]) == {"ResNet34", "WRN16-8", "WRN40-2"}
    assert (data[data.method == "float"]["ratio_to_float"] == 1).all()


def test_fig8_hierarchy_is_the_hierarchy_models_totals_on_the_spec_given(tmp_path):
    """fig8-hierarchy draws the hierarchy model's totals: on eyeriss-65nm by default (and when --spec
    has no hierarchy section), on the --spec given when it has one."""
    from hwsim.config import builtin_spec_text

    fig = get_figure("fig8-hierarchy")
    data = fig.data(Context())
    oat = estimate_file(MODELS / "resnet34-cifar10-oat.yaml", "eyeriss-65nm").totals
    flt = estimate_file(MODELS / "resnet34-cifar10-float.yaml", "eyeriss-65nm").totals
    row = data[(data.model == "ResNet34") & (data.method == "oat")].iloc[0]
    assert row["latency_ratio_to_float"] == pytest.approx(oat.hier_latency_ns / flt.hier_latency_ns, rel=1e-12)
    assert row["dram_uj"] == pytest.approx(oat.hier_dram_pj / 1e6, rel=1e-12)
    shares = [row[f"{k}_share_of_float"] for k in ("dram", "glb", "local", "compute")]
    assert sum(shares) == pytest.approx(row["energy_ratio_to_float"], rel=1e-12)
    assert set(data["spec"]) == {"eyeriss-65nm"}
    assert set(fig.data(Context(spec="asic-65nm"))["spec"]) == {"eyeriss-65nm"}
    bigger = tmp_path / "big-buffer.yaml"
    text = builtin_spec_text("eyeriss-65nm").replace("capacity_bytes: 110592", "capacity_bytes: 1048576")
    bigger.write_text(text.replace("name: eyeriss-65nm", "name: big-buffer"))
    other = fig.data(Context(spec=bigger))
    assert set(other["spec"]) == {"big-buffer"}
    assert (other["dram_uj"] <= data["dram_uj"] * (1 + 1e-12)).all()  # a larger buffer never adds DRAM traffic


def test_fig8c_max_oat_delay_both_attributions(analytic):
    data = pd.read_csv(analytic / "fig8c.csv")
    for attribution in ("paper", "structural"):
        flt = est("resnet34-cifar10-float", attribution).layer_frame().query("op == 'conv'")
        oat = est("resnet34-cifar10-oat", attribution).layer_frame().query("op == 'conv'")
        ratios = oat.set_index("name")["delay_ns"].loc[flt["name"]].to_numpy() / flt["delay_ns"].to_numpy()
        sel = data[(data.attribution == attribution) & (data.model == "ResNet34") & (data.method == "oat")]
        got = sel.set_index(["normalised_to", "stat"])["ratio"]
        assert got[("float", "max")] == pytest.approx(ratios.max(), rel=1e-8)
        assert got[("float", "min")] == pytest.approx(ratios.min(), rel=1e-8)
        own = oat["delay_ns"].to_numpy() / oat["delay_base_ns"].to_numpy()
        assert got[("eq7", "mean")] == pytest.approx(own.mean(), rel=1e-8)
    paper = data[(data.attribution == "paper") & (data.model == "ResNet34") & (data.method == "oat")]
    assert paper.query("normalised_to == 'float' and stat == 'max'")["ratio"].iloc[0] == pytest.approx(1.655, abs=5e-4)


def test_table1_costs_and_fig1_memory(analytic):
    data = pd.read_csv(analytic / "table1-costs.csv").set_index("label")
    s = est("resnet34-cifar10-floats-c").sparsity
    assert data.loc["FLOATS-c", "cr"] == pytest.approx(s.cr, rel=1e-8)
    assert data.loc["FLOATS-c", "crf"] == pytest.approx(s.crf, rel=1e-8)
    assert data.loc["FLOATS-c", "conv_storage_mb"] == pytest.approx(s.storage_bits / 8e6, rel=1e-8)
    assert data.loc["FLOATS-i", "cr"] == pytest.approx(10.0, rel=1e-4)
    assert data.loc["FLOATS slim", "paper_cr"] == 4.76
    mem = pd.read_csv(analytic / "fig1-memory.csv").set_index("label")
    assert mem.loc["OAT", "normalised_memory"] == 1.0
    assert mem.loc["FLOAT", "normalised_memory"] == pytest.approx(21_299_182 / 31_421_002, rel=1e-8)


def test_rerun_is_byte_identical(analytic, tmp_path):
    result = run("figures", "--only", "fig8b,fig8c", "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    for name in ("fig8b", "fig8c"):
        for suffix in (".csv", ".png", ".pdf"):
            assert (tmp_path / f"{name}{suffix}").read_bytes() == (analytic / f"{name}{suffix}").read_bytes()


def test_unknown_figure_is_one_line():
    result = run("figures", "--only", "fig8b,nope")
    assert result.exit_code == 2
    one_line_error(result)
    assert "nope" in result.output


def test_missing_runs_listed_with_command(tmp_path):
    runs = sorted((REPO / "reports/digits-floats").glob("*/"))[:1]
    write_figures(Context(runs=runs), tmp_path, ["fig3", "fig10-autoattack", "fig4"])
    index = (tmp_path / "figures.md").read_text()
    assert "**fig3**: NOT DRAWN (its runs are missing from the runs given)" in index
    assert "**fig10-autoattack**: NOT DRAWN" in index and "bash examples/digits_paper_figs.sh" in index
    assert not (tmp_path / "fig3.png").exists()
    write_figures(Context(runs=[]), tmp_path / "none", ["fig7"])
    assert "NOT DRAWN (no runs given)" in (tmp_path / "none" / "figures.md").read_text()
    write_figures(Context(root=tmp_path), tmp_path / "bare", ["fig9"])  # no tracked runs under root
    text = (tmp_path / "bare" / "figures.md").read_text()
    assert "NOT DRAWN (none of its tracked runs (reports/digits-floats/*/) found)" in text
    assert "bash examples/digits_floats.sh reports/digits-floats" in text


def test_run_figure_from_tracked_runs(tmp_path):
    runs = sorted((REPO / "reports/digits-floats").glob("*/"))
    result = run("figures", "--only", "fig7", "--runs", runs[0], "--runs", runs[1], "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    data = pd.read_csv(tmp_path / "fig7.csv")
    assert set(data["run"]) == {runs[0].name, runs[1].name} and set(data["attack"]) == {"pgd7"}
    assert (tmp_path / "fig7.png").stat().st_size > 0


def test_paper_check_rows(analytic):
    text = (analytic / "paper-check.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}

    def verdict(prefix):
        line = next(v for k, v in rows.items() if k.startswith(prefix))
        return line.split(" | ")[4]

    assert verdict("FLOAT ResNet34 memory") == "reproduced"
    assert verdict("OAT ResNet34 memory") == "reproduced"
    assert verdict("OAT / FLOAT memory") == "reproduced"
    assert verdict("max per-conv OAT / FLOAT delay, paper") == "reproduced"
    assert verdict("max per-conv OAT / FLOAT delay, structural") == "differs"
    assert verdict("ResNet34 compute") == "differs"
    assert "1,159,402,496" in text
    assert verdict("FLOAT noise-add overhead") == "differs" and "1.834%" in text
    assert verdict("OAT FLOPs overhead") == "differs"
    for label in ("FLOATS-i", "FLOATS-c", "FLOATS slim"):
        assert f"Table 1 CR of {label}" in text and f"Table 1 CRF of {label}" in text
    assert verdict("Table 1 CR of FLOATS-i") == "reproduced"
    assert verdict("Table 1 CRF of FLOATS-c") == "differs"


PAPER_FIGS = REPO / "reports/digits-paper-figs"


def test_fig3_groups_oat_runs_by_training_s_lambda(tmp_path):
    """The tracked OAT runs of examples/digits_paper_figs.sh: one curve per S_lambda, each tested at
    the paper's {0, 0.2, 0.7, 1}, at the last epoch's weights, values copied from results.json."""
    import json

    write_figures(Context(root=REPO), tmp_path, ["fig3"])
    data = pd.read_csv(tmp_path / "fig3.csv", dtype={"train_lambdas": str})
    assert list(dict.fromkeys(data["train_lambdas"])) == ["0,1", "0,0.5,1", "0,0.2,0.7,1", "0,0.1,0.2,0.3,0.4,1"]
    assert set(data["checkpoint"]) == {"last"} and set(data["attack"]) == {"pgd7"}
    for run, rows in data.groupby("run"):
        assert list(rows["lam"]) == [0, 0.2, 0.7, 1]
        points = json.loads((PAPER_FIGS / run / "results.json").read_text())["points"]
        want = {p["lam"]: p["robust_acc"] for p in points if p["checkpoint"] == "last" and p["attack"] == "pgd7"}
        assert list(rows["robust_acc"]) == pytest.approx([want[lam] for lam in rows["lam"]], abs=1e-6)
    s01 = data[data["train_lambdas"] == "0,1"].set_index("lam")
    assert s01.loc[0, "robust_acc"] < 5  # S = {0, 1}: no robustness at lambda = 0 (the paper's remark)
    assert "**fig3** (`fig3.png`" in (tmp_path / "figures.md").read_text()


def test_fig4_and_fig10_autoattack_from_tracked_runs(tmp_path):
    write_figures(Context(root=REPO), tmp_path, ["fig4", "fig10-autoattack"])
    fig4 = pd.read_csv(tmp_path / "fig4.csv")
    assert list(fig4["lam"]) == pytest.approx([i / 10 for i in range(11)]) and set(fig4["run"]) == {"float"}
    aa = pd.read_csv(tmp_path / "fig10-autoattack.csv")
    runs = {"float", "oat-S0_0.2_0.7_1", "pgdat-l0", "pgdat-l0.2", "pgdat-l0.7", "pgdat-l1"}
    assert set(aa["attack"]) == {"autoattack"} and set(aa["run"]) == runs and set(aa["images"]) == {50}
    assert (aa["robust_acc"] <= aa["clean_acc"]).all()
    fig = get_figure("fig10-autoattack").plot(aa)
    assert "(AutoAttack, 50 test images)" in fig.axes[0].get_title()  # the RA rests on 50 images only


def test_paper_check_rank_correlation_of_a_constant_curve_is_nan_without_warning():
    import math
    import warnings

    from hwsim.figures.paper_check import _rank_corr

    lam = pd.Series([0.0, 0.5, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an untrained run's flat RA used to warn (ConstantInputWarning)
        assert math.isnan(_rank_corr(pd.Series([10.0, 10.0, 10.0]), lam))
        assert _rank_corr(pd.Series([3.0, 2.0, 1.0]), lam) == pytest.approx(-1.0)


def test_paper_check_rows_measured_on_the_tracked_runs(tmp_path):
    """The run-based rows read each figure's tracked runs and judge the direction only."""
    write_figures(Context(root=REPO), tmp_path, ["fig8b"])
    rows = {}
    for line in (tmp_path / "paper-check.md").read_text().splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) == 6:
            rows[cells[0].lstrip("| ")] = cells
    verdict = {key.split(" (")[0]: cells[4] for key, cells in rows.items()}
    assert verdict["OAT's spread across training S_lambda"] == "trend"
    assert verdict["FLOAT over lambda_n"] == "trend weak"  # RA rho +0.17: the right sign, weakly
    assert verdict["FLOAT vs PGD-AT under AutoAttack"] == "trend differs"  # PGD-AT lambda 1 ties FLOAT at 14%
    assert verdict["Table 1 CRF of FLOATS-c with trained masks"] == "trend"
    spread = next(c for k, c in rows.items() if k.startswith("OAT's spread"))
    # oat-S0_0.5_1 collapsed at lambda 1 (it trained there): left out, and named (it gave RA 50.28% before)
    assert spread[2].startswith("86.94% (at lambda 0.2) / 39.72% (at lambda 0.7)")
    assert "left out, collapsed (at chance at a trained lambda): oat-S0_0.5_1 at lambda 1" in spread[5]

    def cells(prefix):
        return next(c for k, c in rows.items() if k.startswith(prefix))

    # every claim of Fig. 6-10, Table 1 and the abstract has a row, judged on the tracked runs
    assert verdict["FLOAT at lambda_n = 0.2, lambda_th 0.5 vs 0"] == "trend"
    assert cells("FLOAT at lambda_n = 0.2")[2] == "CA +0.56, RA -5.28 (points)"
    assert verdict["FLOAT vs OAT, same lambda"] == "trend"
    assert cells("FLOAT vs OAT, same lambda")[2].startswith("RA up to +6.20 (lambda 0.2), CA up to +1.11 (lambda 1)")
    assert verdict["FLOAT vs PGD-AT, same lambda"] == "trend"
    assert "RA up to +45.93 (lambda 0)" in cells("FLOAT vs PGD-AT, same lambda")[2]
    assert verdict["FLOAT vs OAT"] == "trend"  # the abstract's ~6% / ~10%
    assert verdict["OAT / FLOAT training time per epoch"] == "trend"
    assert cells("OAT / FLOAT training time")[2].startswith("1.40x (1.60 s / 1.15 s per epoch)")
    assert verdict["PGD-AT / FLOAT training time per epoch"] == "trend differs"  # FLOAT's noise on a CPU
    assert cells("PGD-AT / FLOAT training time")[2].startswith("0.60x")
    assert verdict["FLOAT slim vs OAT slim accuracy, same lambda and SF"] == "trend"
    assert cells("FLOAT slim vs OAT slim")[2].startswith("up to +20.56")
    assert verdict["OAT slim / FLOAT slim training time per epoch"] == "trend"
    assert cells("OAT slim / FLOAT slim")[2].startswith("1.65x")
    assert verdict["FLOAT vs OAT under PGD20"] == "trend" and verdict["FLOAT vs OAT under FGSM"] == "trend"
    assert verdict["Table 1 CA / RA of FLOAT"] == "measured"
    assert verdict["Table 1 CA / RA of FLOATS-i"] == "trend"
    assert verdict["Table 1 CA / RA of FLOATS-c"] == "trend differs"  # RA at lambda 0 15.56 points below FLOAT
    assert "+15.56 at ra_lam0" in cells("Table 1 CA / RA of FLOATS-c")[2]
    assert verdict["Table 1 CA / RA of FLOATS slim"] == "trend differs"
    slim_cr = cells("Table 1 CR of FLOATS slim with trained masks")
    assert slim_cr[4] == "differs" and slim_cr[2].startswith("7.220x trained masks, 13.320x analytic")
    assert verdict["FLOATS slim parameters"] == "differs"
    assert "OAT slim / FLOATS slim 4.880x" in cells("FLOATS slim parameters")[2]


def _fake_figure(monkeypatch, name, frame):
    """paper-check reading ``frame`` as the data of figure ``name`` (the verdict logic alone)."""
    from hwsim.figures import paper_check

    real = paper_check._figure_data
    monkeypatch.setattr(paper_check, "_figure_data", lambda ctx, n: (frame, "cmd") if n == name else real(ctx, n))


def _fake_final(monkeypatch, frame):
    from hwsim.figures import paper_check

    monkeypatch.setattr(paper_check, "_final_rows", lambda ctx, name, attack="pgd7": (frame, "", "cmd"))


def test_paper_check_fig6_verdict_follows_the_signs(monkeypatch):
    from hwsim.figures.paper_check import _fig6_row

    def frame(ca_th5):
        return pd.DataFrame({
            "run": ["f"] * 2, "lam": [0.2, 0.2], "lambda_th": [0.0, 0.5], "clean_acc": [90.0, ca_th5],
            "robust_acc": [50.0, 40.0], "collapsed": [False, False],
        })  # fmt: skip

    _fake_figure(monkeypatch, "fig6", frame(92.5))
    row = _fig6_row(None)
    assert row["verdict"] == "trend" and row["hwsim"] == "CA +2.50, RA -10.00 (points)"
    _fake_figure(monkeypatch, "fig6", frame(89.0))  # BN_C below lambda_th should raise CA
    assert _fig6_row(None)["verdict"] == "trend differs"


def test_paper_check_fig7_verdict_needs_float_ahead_and_never_far_behind(monkeypatch):
    from hwsim.figures.paper_check import _fig7_rows

    def frame(oat_ra_at_1):
        return pd.DataFrame({
            "run": ["float", "float", "oat", "oat", "pgdat-l0", "pgdat-l1"],
            "method": ["float", "float", "oat", "oat", "pgdat", "pgdat"], "lam": [0.0, 1.0] * 3,
            "clean_acc": [95.0, 90.0, 94.0, 89.0, 96.0, 85.0], "robust_acc": [30.0, 55.0, 25.0, oat_ra_at_1, 0.0, 50.0],
        })  # fmt: skip

    _fake_final(monkeypatch, frame(54.0))
    oat, pgd, abstract = _fig7_rows(None)
    assert oat["verdict"] == "trend" and oat["hwsim"].startswith("RA up to +5.00 (lambda 0), CA up to +1.00 (lambda 0)")
    assert pgd["verdict"] == "trend" and "RA up to +30.00 (lambda 0), CA up to +5.00 (lambda 1)" in pgd["hwsim"]
    assert abstract["hwsim"] == oat["hwsim"]
    _fake_final(monkeypatch, frame(58.5))  # OAT 3.5 RA above FLOAT at lambda 1 (CA + RA: -2.5 < -2)
    assert _fig7_rows(None)[0]["verdict"] == "trend differs"


def test_paper_check_fig8a_ratios_of_mean_epoch_times(monkeypatch):
    from hwsim.figures.paper_check import _fig8a_rows

    frame = pd.DataFrame({
        "run": ["float", "oat", "pgdat-l0", "pgdat-l1"], "method": ["float", "oat", "pgdat", "pgdat"],
        "train_lambdas": [None, "0,1", "0", "1"], "mean_epoch_time_s": [2.0, 3.0, 1.0, 3.0],
    })  # fmt: skip
    _fake_figure(monkeypatch, "fig8a", frame)
    oat, pgd = _fig8a_rows(None)
    assert oat["verdict"] == "trend" and oat["hwsim"] == "1.50x (3.00 s / 2.00 s per epoch)"
    # PGD-AT mean (1 + 3) / 2 = 2 s: 1.00x, not slower; at lambda > 0 alone 1.50x
    assert pgd["verdict"] == "trend differs"
    assert pgd["hwsim"] == "1.00x (2.00 s / 2.00 s per epoch; 1.50x over the PGD-AT runs at lambda > 0)"


def test_paper_check_table1_accuracy_drop_rule(monkeypatch):
    from hwsim.figures.paper_check import TABLE1_DROP, _table1_rows

    def row(run, method, ra0, cr=float("nan"), analytic=float("nan")):
        return {"run": run, "method": method, "ca_lam0": 95.0, "ra_lam0": ra0, "ca_lam1": 90.0, "ra_lam1": 55.0,
                "sf": 1.0, "checkpoint": "last", "cr": cr, "cr_analytic": analytic, "crf": 1.0, "crf_analytic": 1.0,
                "density": 0.3}  # fmt: skip

    frame = pd.DataFrame([
        row("f", "FLOAT", 30.0), row("i", "FLOATS-i", 30.0 - TABLE1_DROP), row("c", "FLOATS-c", 30.0 - TABLE1_DROP - 0.5),
        row("s", "FLOATS slim", 29.0, cr=7.0, analytic=13.3),
    ])  # fmt: skip
    _fake_figure(monkeypatch, "table1", frame)
    out = {r["quantity"].split(" (")[0]: r for r in _table1_rows(None)}
    assert out["Table 1 CA / RA of FLOAT"]["verdict"] == "measured"
    assert out["Table 1 CA / RA of FLOATS-i"]["verdict"] == "trend"  # exactly the allowed drop
    assert out["Table 1 CA / RA of FLOATS-c"]["verdict"] == "trend differs"
    assert "+6.50 at ra_lam0" in out["Table 1 CA / RA of FLOATS-c"]["hwsim"]
    slim = out["Table 1 CR of FLOATS slim with trained masks"]
    assert slim["hwsim"].startswith("7.000x trained masks, 13.300x analytic") and slim["verdict"] == "differs"


def test_paper_check_fig3_leaves_out_a_collapsed_run(monkeypatch):
    from hwsim.figures.paper_check import _fig3_row

    frame = pd.DataFrame({
        "run": ["a", "a", "b", "b", "c", "c"], "train_lambdas": ["0,1", "0,1", "0,0.5,1", "0,0.5,1", "0,0.2,1", "0,0.2,1"],
        "lam": [0.0, 1.0] * 3, "clean_acc": [95.0, 90.0, 94.0, 10.0, 93.0, 88.0],
        "robust_acc": [1.0, 50.0, 2.0, 10.0, 3.0, 40.0], "collapsed": [False, False, False, True, False, False],
    })  # fmt: skip
    _fake_figure(monkeypatch, "fig3", frame)
    row = _fig3_row(None)
    assert row["hwsim"].startswith("2.00% (at lambda 0) / 10.00% (at lambda 1)")  # a vs c only
    assert (
        "oat" not in row["hwsim"]
        and "left out, collapsed (at chance at a trained lambda): b at lambda 1" in row["reason"]
    )


def test_fig6_float_at_both_thresholds(tmp_path):
    """Fig. 6: the tracked FLOAT run over 11 lambda_n at lambda_th 0 and 0.5; with lambda_th = 0.5 a
    lambda_n at or below it runs through BN_C, so its RA is the lambda_n = 0 RA (44.7%), not BN_A's."""
    write_figures(Context(root=REPO), tmp_path, ["fig6"])
    data = pd.read_csv(tmp_path / "fig6.csv")
    assert sorted(set(data["lambda_th"])) == [0.0, 0.5] and set(data["checkpoint"]) == {"last"}
    for _, rows in data.groupby("lambda_th"):
        assert list(rows["lam"]) == pytest.approx([i / 10 for i in range(11)])
    th05 = data[data["lambda_th"] == 0.5].set_index("lam")["robust_acc"]
    th0 = data[data["lambda_th"] == 0.0].set_index("lam")["robust_acc"]
    assert th05.loc[0.0] == th0.loc[0.0]  # lambda_n = 0: BN_C either way
    assert th05.loc[0.2] < th0.loc[0.2] - 3  # BN_C below the threshold, BN_A above zero


def test_list_names_every_figure_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("figures", "--list")
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == list_figures() and "fig6" in names and "fig3" in names
    assert "analytic" in result.output.splitlines()[0] and list(tmp_path.iterdir()) == []


def test_fig1_reads_the_seed_runs_and_a_floats_i_run_trained_alike(tmp_path):
    """Without --runs each figure reads its own experiment: Fig. 1 the 15-epoch seed series plus the
    FLOATS-i run trained with their settings (not the 10-epoch FLOATS comparison)."""
    import json

    write_figures(Context(root=REPO), tmp_path, ["fig1", "fig7"])
    fig1 = pd.read_csv(tmp_path / "fig1.csv")
    series = {"float", "oat", "pgdat-l0", "pgdat-l0.2", "pgdat-l0.7", "pgdat-l1"}
    assert set(fig1["run"]) == series | {"floats-i"}
    assert set(pd.read_csv(tmp_path / "fig7.csv")["run"]) == series
    config = json.loads((PAPER_FIGS / "floats-i" / "run.json").read_text())["config"]["train"]
    seeds = json.loads((REPO / "reports/digits-seeds/eps0.2/float-seed0/run.json").read_text())["config"]["train"]
    for key in ("epochs", "batch_size", "eps", "val_split", "eval_limit", "attack_steps", "lr"):
        assert config[key] == seeds[key], key


def test_tracked_runs_are_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no reports/ here: the source tree's tracked runs are used
    result = run("figures", "--only", "fig3", "--out-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "fig3.png").is_file() and "NOT DRAWN" not in (
        tmp_path / "out" / "figures.md"
    ).read_text()
