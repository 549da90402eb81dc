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
    spread = next(c for k, c in rows.items() if k.startswith("OAT's spread"))[2]
    assert spread.startswith("86.94% (at lambda 0.2) / 50.28% (at lambda 0.7)")


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
