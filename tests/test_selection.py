"""Best-checkpoint selection (TrainSettings.select) and the collapsed-run flags (issue 18).

The fixture is the tracked digits run ``reports/digits-paper-figs/oat-S0_0.5_1``: OAT trained on
S = {0, 0.5, 1} whose lambda = 1 branch never learned (CA 7-14% every epoch) and whose early epochs
are at chance at every lambda, so OAT.py's best-RA rule keeps epoch 1 at lambda 0 (RA 11% of a
network guessing, above the trained epochs' 0-2%).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from hwsim.errors import HwsimWarning
from hwsim.runfiles import (
    LEGACY_SELECT,
    TrainSettings,
    at_chance,
    chance_ceiling,
    parse_run_config,
    selection_key,
)

REPO = Path(__file__).resolve().parents[1]
COLLAPSED = REPO / "reports/digits-paper-figs/oat-S0_0.5_1"
OAT_S01 = REPO / "reports/digits-paper-figs/oat-S0_1"


def test_chance_ceiling_is_a_guess_plus_three_binomial_sd():
    # 10 classes, 300 images: 10% + 3 sqrt(0.1 * 0.9 / 300) = 10% + 5.196%
    assert chance_ceiling(10, 300) == pytest.approx(15.196152, abs=1e-6)
    assert chance_ceiling(2, 100) == pytest.approx(50 + 300 * 0.05, abs=1e-9)
    assert at_chance(15.0, 10, 300) and not at_chance(15.3, 10, 300)


@pytest.mark.parametrize(
    "rule, expected",
    [("weighted", (True, 0.3 * 95 + 0.7 * 2)), ("ra", (True, 2.0)), ("ca", (True, 95.0))],
)
def test_selection_key_scores(rule, expected):
    learned, score = selection_key({"lam": 0.7, "clean_acc": 95.0, "robust_acc": 2.0}, rule, 10, 300)
    assert learned is expected[0] and score == pytest.approx(expected[1], abs=1e-12)


def test_under_weighted_an_epoch_at_chance_never_beats_one_that_learned():
    guessing = {"lam": 1.0, "clean_acc": 10.0, "robust_acc": 10.0}  # one class everywhere: RA = CA
    learned = {"lam": 1.0, "clean_acc": 60.0, "robust_acc": 1.0}  # RA below chance at a large eps
    assert selection_key(learned, "weighted", 10, 300) > selection_key(guessing, "weighted", 10, 300)
    # OAT.py's best_ATA exactly: the guessing epoch wins
    assert selection_key(guessing, "ra", 10, 300) > selection_key(learned, "ra", 10, 300)


def _replay(history: list[dict], select: str) -> dict[str, dict]:
    """The training loop's best-epoch bookkeeping over a recorded history."""
    from hwsim.runner.train import update_best

    s = TrainSettings(select=select, eval_limit=300, val_split=300)
    best: dict[str, dict] = {}
    for record in history:
        update_best(best, record["eval"], record["epoch"], s, num_classes=10)
    return best


def test_best_ra_keeps_an_untrained_epoch_and_weighted_does_not():
    history = json.loads((COLLAPSED / "run.json").read_text())["history"]
    by_ra = _replay(history, "ra")
    # OAT.py's rule: lambda 0's best RA (11.0%) is epoch 1, a network guessing (CA 11.0%)
    assert by_ra["0"]["epoch"] == 1
    assert by_ra["0"]["clean_acc"] == pytest.approx(by_ra["0"]["robust_acc"])
    assert at_chance(by_ra["0"]["clean_acc"], 10, 300)
    weighted = _replay(history, "weighted")
    # (1 - 0) CA + 0 RA: lambda 0's best is epoch 13 (CA 95.7%, the highest; later epochs are lower)
    cas = [r["eval"][0]["clean_acc"] for r in history]
    assert weighted["0"]["epoch"] == 1 + max(range(len(cas)), key=lambda i: (cas[i], i))
    assert weighted["0"]["clean_acc"] == max(cas) > 90
    # lambda 0.7: 0.3 CA + 0.7 RA, never an epoch at chance
    for key in ("0.2", "0.7"):
        assert not at_chance(weighted[key]["clean_acc"], 10, 300)
    # lambda 1 never learned: every epoch is at chance, so the best is the best of those (ties: later)
    ones = [(r["eval"][-1]["robust_acc"], r["epoch"]) for r in history]
    assert weighted["1"]["epoch"] == max(ones)[1]
    assert by_ra["1"]["epoch"] == max(ones)[1]
    best_ca = _replay(history, "ca")
    assert best_ca["0"]["epoch"] == weighted["0"]["epoch"]  # lambda 0: the weighted score is CA


def test_runs_stored_before_the_rule_read_as_best_ra():
    stored = json.loads((COLLAPSED / "run.json").read_text())["config"]
    assert "select" not in stored["train"]
    assert parse_run_config(stored, "run.json").train.select == LEGACY_SELECT == "ra"
    stored["train"]["select"] = "ca"
    assert parse_run_config(stored, "run.json").train.select == "ca"
    assert TrainSettings().select == "weighted"


def test_select_option_errors_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from hwsim.cli import app

    result = CliRunner().invoke(
        app, ["train", str(REPO / "models/resnet20-digits-oat.yaml"), "--select", "best", "--out-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--select" in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def _frame(*runs: Path):
    from hwsim.report import report_frame

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = report_frame(list(runs))
    return frame, [str(w.message) for w in caught if issubclass(w.category, HwsimWarning)]


def test_report_flags_collapsed_points_at_trained_lambdas_only():
    frame, messages = _frame(COLLAPSED, OAT_S01)
    pgd = frame[frame["attack"] == "pgd7"]
    flagged = {(r.run, r.checkpoint, r.lam) for r in pgd.itertuples() if r.collapsed}
    assert flagged == {
        ("oat-S0_0.5_1", "last", 1.0),  # the lambda = 1 branch never learned
        ("oat-S0_0.5_1", "best", 0.0),  # best-RA kept epoch 1
        ("oat-S0_0.5_1", "best", 1.0),
        ("oat-S0_1", "best", 0.0),  # best-RA kept epoch 2 at lambda 0
    }
    # oat-S0_1 guesses at lambda 0.2, a lambda it never trained: at chance, not collapsed
    row = pgd[(pgd["run"] == "oat-S0_1") & (pgd["checkpoint"] == "last") & (pgd["lam"] == 0.2)].iloc[0]
    assert bool(row["at_chance"]) and not bool(row["collapsed"])
    collapsed_msg = next(m for m in messages if m.startswith("run oat-S0_0.5_1:"))
    assert "last weights at lambda 1: the training collapsed" in collapsed_msg
    assert "best checkpoint at lambda 0 (epoch 1), lambda 1 (epoch 4)" in collapsed_msg
    assert "--select weighted" in collapsed_msg
    assert any(m.startswith("run oat-S0_1:") and "lambda 0 (epoch 2)" in m for m in messages)


def test_seed_aggregate_counts_collapsed_seeds():
    from hwsim.report import aggregate_seeds

    frame, _ = _frame(COLLAPSED)
    out = aggregate_seeds(frame)
    last1 = out[(out["checkpoint"] == "last") & (out["lam"] == 1.0) & (out["attack"] == "pgd7")].iloc[0]
    assert last1["collapsed"] == 1
    last0 = out[(out["checkpoint"] == "last") & (out["lam"] == 0.0) & (out["attack"] == "pgd7")].iloc[0]
    assert last0["collapsed"] == 0


def test_figures_cross_out_collapsed_points():
    from hwsim.plotting import COLLAPSED_LABEL
    from hwsim.report import plot_tradeoff

    frame, _ = _frame(COLLAPSED, OAT_S01)
    fig = plot_tradeoff(frame, "pgd7")
    crosses = [c for ax in fig.axes for c in ax.collections if c.get_label() == COLLAPSED_LABEL]
    assert len(crosses) == 1
    drawn = crosses[0].get_offsets()
    best = frame[(frame["attack"] == "pgd7") & (frame["checkpoint"] == "best") & frame["collapsed"]]
    assert len(drawn) == len(best) == 3  # the trade-off draws best checkpoints
    assert all(math.isclose(x, 10.0, abs_tol=0.5) for x, _ in drawn)


def test_fig3_crosses_out_the_collapsed_s_lambda_run():
    from hwsim.figures.registry import Context
    from hwsim.figures.runs import _s_lambda_data, _s_lambda_plot
    from hwsim.plotting import COLLAPSED_LABEL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HwsimWarning)
        data = _s_lambda_data(Context(runs=[COLLAPSED, OAT_S01]))
    assert data[data["collapsed"]][["run", "lam"]].values.tolist() == [["oat-S0_0.5_1", 1.0]]
    fig = _s_lambda_plot(data)
    labels = [c.get_label() for ax in fig.axes for c in ax.collections]
    assert labels.count(COLLAPSED_LABEL) == 1  # one legend entry for the figure
    assert sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections) == 2  # CA and RA panels
