"""Run-based figures: the report's figures (hwsim.report) of evaluated runs, registered beside the
analytic ones; a figure whose run kind is absent has no data and is listed with its command."""

from __future__ import annotations

import pandas as pd

from ..plotting import new_figure, plot_function, run_styles
from .registry import Context, FigureDef, register

MAIN_ATTACK = "pgd7"
TRAIN = "hwsim train models/resnet20-digits-{float,oat,pgdat}.yaml --out-dir reports/runs"
EVALUATE = "hwsim evaluate reports/runs/<run> --attacks pgd7"
BASE_COMMAND = f"{TRAIN}; {EVALUATE}"


def _attack_rows(ctx: Context, attack: str):
    frame = ctx.frame()
    if frame is None or attack not in set(frame["attack"]):
        return None
    return frame[frame["attack"] == attack].reset_index(drop=True)


def _tradeoff(attack):
    from ..report import plot_tradeoff

    return lambda data: plot_tradeoff(data, attack)


def _memory(data):
    from ..report import plot_memory_accuracy

    return plot_memory_accuracy(data, MAIN_ATTACK)


def _slim_data(ctx: Context):
    from ..report.plots import slim_rows

    rows = _attack_rows(ctx, MAIN_ATTACK)
    if rows is None or slim_rows(rows).empty:
        return None
    return rows


def _slim_plot(data):
    from ..report import plot_slim

    return plot_slim(data, MAIN_ATTACK)


def _timing_data(ctx: Context):
    frame = ctx.frame()
    if frame is None or frame["mean_epoch_time_s"].dropna().empty:
        return None
    return frame.drop_duplicates("run").dropna(subset=["mean_epoch_time_s"]).reset_index(drop=True)


def _timing_plot(data):
    from ..report import plot_training_time

    return plot_training_time(data)


def _table1_data(ctx: Context):
    from ..report import is_sparse, table1_frame

    frame = ctx.frame()
    if frame is None or not is_sparse(frame) or MAIN_ATTACK not in set(frame["attack"]):
        return None
    return table1_frame(frame, MAIN_ATTACK)


@plot_function
def _table1_plot(data: pd.DataFrame):
    fig, (ax,) = new_figure(width=6.4, height=3.4)
    columns = [("ca_lam0", "CA, $\\lambda$=0"), ("ra_lam0", "RA, $\\lambda$=0"), ("ca_lam1", "CA, $\\lambda$=1"),
               ("ra_lam1", "RA, $\\lambda$=1")]  # fmt: skip
    width = 0.8 / len(columns)
    labels = [f"{r}" for r in data["run"]]
    for i, (column, label) in enumerate(columns):
        xs = [x + (i - 1.5) * width for x in range(len(data))]
        ax.bar(xs, pd.to_numeric(data[column], errors="coerce"), width, label=label, color=f"C{i}")
    ax.grid(False, axis="x")
    ax.set_xticks(range(len(data)), labels, rotation=30, ha="right")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title("Table 1 view of the sparse / slimmable runs")
    ax.legend(loc="lower right")
    return fig


def _lambda_sweep_data(ctx: Context):
    rows = _attack_rows(ctx, MAIN_ATTACK)
    if rows is None:
        return None
    rows = rows[rows["method"] == "float"]
    if rows.empty or rows["lam"].nunique() < 6:  # Fig. 4 needs a fine lambda_n grid, not the 4 default points
        return None
    return rows.reset_index(drop=True)


@plot_function
def _lambda_sweep_plot(data: pd.DataFrame):
    fig, (ax,) = new_figure(width=4.6, height=3.2)
    runs = list(dict.fromkeys(data["run"]))
    labels = dict(zip(data["run"], data["label"])) if "label" in data.columns else None
    styles = run_styles(runs, dict(zip(data["run"], data["method"])), labels)
    for run, rows in data.groupby("run", sort=False):
        rows = rows.sort_values("lam")
        colour, mark = styles[run]
        ax.plot(rows["lam"], rows["clean_acc"], marker=mark, color=colour, label=f"{run} CA")
        ax.plot(rows["lam"], rows["robust_acc"], marker=mark, color=colour, markerfacecolor="white", linestyle="--",
                label=f"{run} RA")  # fmt: skip
    ax.set_xlabel("$\\lambda_n$")
    ax.set_ylabel("Accuracy (%)")
    ax.legend()
    return fig


def _never(ctx: Context):
    return None  # no run kind of this figure is recognised yet: always listed with its command


register(FigureDef(
    "fig1", "memory (normalised to the largest run) vs CA / RA of the runs (paper Fig. 1)",
    lambda ctx: _attack_rows(ctx, MAIN_ATTACK), _memory, "runs: report frame rows at pgd7 (hwsim report)",
    needs_runs=True, command=BASE_COMMAND,
))  # fmt: skip
register(FigureDef(
    "fig6-7", "CA vs RA across lambda, one curve per run (paper Fig. 6 / 7)",
    lambda ctx: _attack_rows(ctx, MAIN_ATTACK), _tradeoff(MAIN_ATTACK), "runs: report frame rows at pgd7",
    needs_runs=True, command=BASE_COMMAND,
))  # fmt: skip
register(FigureDef(
    "fig8a", "per-epoch training time normalised to the fastest run (paper Fig. 8(a))",
    _timing_data, _timing_plot, "runs: mean_epoch_time_s of run.json histories", needs_runs=True,
    command=TRAIN,
))  # fmt: skip
register(FigureDef(
    "fig9", "slimmable runs across lambda per SF (paper Fig. 9)", _slim_data, _slim_plot,
    "runs: report frame rows at pgd7 (slimmable runs)", needs_runs=True,
    command="hwsim train models/resnet20-digits-{float-slim,floats-slim,oat-slim}.yaml --out-dir reports/runs; "
    + EVALUATE,
))  # fmt: skip
register(FigureDef(
    "table1", "CA / RA at lambda 0 and 1 of the sparse runs (paper Table 1)", _table1_data, _table1_plot,
    "runs: table1_frame of the report frame", needs_runs=True,
    command="hwsim train models/resnet20-digits-{floats,floats-c,floats-slim}.yaml --out-dir reports/runs; "
    + EVALUATE,
))  # fmt: skip
register(FigureDef(
    "fig3", "OAT trained with different S_lambda sets (paper Fig. 3)", _never, _tradeoff(MAIN_ATTACK),
    "runs: OAT runs per S_lambda (not recognised in run files yet)", needs_runs=True,
    command="hwsim train models/resnet20-digits-oat.yaml --oat-lambdas 0,1 --name oat-s2; "
    "hwsim train models/resnet20-digits-oat.yaml --oat-lambdas 0,0.2,0.7,1 --name oat-s4; "
    "hwsim evaluate reports/runs/oat-s2 --lambdas 0,0.2,0.7,1; hwsim evaluate reports/runs/oat-s4 --lambdas 0,0.2,0.7,1",
))  # fmt: skip
register(FigureDef(
    "fig4", "FLOAT's CA / RA over a fine lambda_n grid (paper Fig. 4)", _lambda_sweep_data, _lambda_sweep_plot,
    "runs: FLOAT rows at pgd7 with >= 6 lambda_n values", needs_runs=True,
    command="hwsim evaluate reports/runs/<float-run> --lambdas 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1 --attacks pgd7",
))  # fmt: skip
for _attack in ("pgd20", "fgsm", "autoattack"):
    register(FigureDef(
        f"fig10-{_attack}", f"CA vs RA across lambda under {_attack} (paper Fig. 10)",
        lambda ctx, a=_attack: _attack_rows(ctx, a), _tradeoff(_attack), f"runs: report frame rows at {_attack}",
        needs_runs=True, command=f"hwsim evaluate reports/runs/<run> --attacks {_attack}",
    ))  # fmt: skip
