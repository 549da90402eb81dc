"""Run-based figures: the report's figures (hwsim.report) of evaluated runs, registered beside the
analytic ones; a figure whose run kind is absent has no data and is listed with its command."""

from __future__ import annotations

import pandas as pd

from ..methods import FILM, get_method, method_for_role
from ..plotting import mark_collapsed, new_figure, plot_function, run_styles
from .registry import FLOATS_RUNS, PAPER_FIGS_RUNS, SEEDS_RUNS, Context, FigureDef, register

MAIN_ATTACK = "pgd7"
# the scripts that train and evaluate each tracked experiment (hours on a 2-core CPU for the seeds)
SEEDS_COMMAND = "bash examples/digits_seeds.sh reports/digits-seeds"
FLOATS_COMMAND = "bash examples/digits_floats.sh reports/digits-floats"
PAPER_FIGS_COMMAND = "bash examples/digits_paper_figs.sh reports/digits-paper-figs"


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


def _last_rows(ctx: Context, attack: str) -> pd.DataFrame | None:
    """The rows of ``attack`` at full width, of each run's last epoch's weights where evaluated
    (:func:`~hwsim.report.plotted_rows` with ``prefer="last"``), with plain ``clean_acc`` /
    ``robust_acc`` columns (seed means if aggregated).

    Fig. 3, 4 and 6 compare whole trained models: a best-RA checkpoint per lambda (OAT.py's rule) at
    a lambda a model never became robust at is an untrained early epoch (CA = RA = chance)."""
    from ..report.join import _accuracy_columns, plotted_rows

    rows = _attack_rows(ctx, attack)
    if rows is None:
        return None
    rows, _ = plotted_rows(rows, attack, prefer="last")
    rows = rows[rows["slim_factor"] == 1.0]
    ca, ra, _, _ = _accuracy_columns(rows)
    return rows.rename(columns={ca: "clean_acc", ra: "robust_acc"})


def _lowest_threshold(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows at the lowest lambda_th evaluated (NaN: a method without a threshold)."""
    return rows[rows["lambda_th"].isna() | (rows["lambda_th"] == rows["lambda_th"].min())]


def _has_lambda_n(methods: pd.Series) -> pd.Series:
    """Rows of a method with FLOAT's inference knob lambda_n (Eq. 6), asked of the registry."""
    return methods.map(lambda m: get_method(m).has_lambda_n)


def _s_lambda_data(ctx: Context):
    """Runs of the FiLM method (OAT; dense, full width) trained with at least two different S_lambda sets."""
    rows = _last_rows(ctx, MAIN_ATTACK)
    if rows is None:
        return None
    rows = rows[(rows["method"] == method_for_role(FILM)) & rows["sparsity"].isna() & rows["train_lambdas"].notna()]
    if rows["train_lambdas"].nunique() < 2:
        return None
    rows = _lowest_threshold(rows)
    columns = ["run", "train_lambdas", "lam", "clean_acc", "robust_acc", "checkpoint", "attack", "collapsed"]
    size = rows["train_lambdas"].map(lambda text: (text.count(","), text))  # smaller sets first
    rows = rows.assign(_size=size).sort_values(["_size", "run", "lam"], kind="stable")
    return rows[columns].reset_index(drop=True)


@plot_function
def _s_lambda_plot(data: pd.DataFrame):
    fig, axes = new_figure(ncols=2, width=7.0, height=3.4, layout="constrained")
    sets = list(dict.fromkeys(data["train_lambdas"]))
    styles = run_styles(sets, dict.fromkeys(sets, method_for_role(FILM)))  # shades of OAT's colour, one per S_lambda
    dashes = ["-", "--", ":", "-."]
    for i, (s_lambda, rows) in enumerate(data.groupby("train_lambdas", sort=False)):
        label = f"$S_\\lambda$ = {{{s_lambda.replace(',', ', ')}}}"
        colour, mark = styles[s_lambda]
        for ax, column in zip(axes, ("clean_acc", "robust_acc")):
            for _, curve in rows.groupby("run", sort=False):
                ax.plot(curve["lam"], curve[column], marker=mark, color=colour, linestyle=dashes[i % 4], label=label)
                label = None  # one legend entry per S_lambda
    for ax, column in zip(axes, ("clean_acc", "robust_acc")):
        mark_collapsed(ax, data, "lam", column)
    tested = ", ".join(f"{v:g}" for v in sorted(set(data["lam"])))
    axes[0].set_ylabel("Clean accuracy CA (%)")
    axes[1].set_ylabel(f"Robust accuracy RA, {MAIN_ATTACK.upper()} (%)")
    for ax in axes:
        ax.set_xlabel(f"test $\\lambda$ (tested at {{{tested}}})")
    fig.legend(title="OAT trained with", loc="outside lower center", ncol=min(len(sets), 4))
    fig.suptitle("OAT across training $S_\\lambda$ (paper Fig. 3 style)")
    return fig


def _thresholds_data(ctx: Context):
    """Dense runs of a method with lambda_n (FLOAT) evaluated at two or more lambda_th (BN_C -> BN_A
    thresholds), every lambda_n."""
    rows = _last_rows(ctx, MAIN_ATTACK)
    if rows is None:
        return None
    rows = rows[_has_lambda_n(rows["method"]) & rows["sparsity"].isna() & rows["lambda_th"].notna()]
    counts = rows.groupby("run")["lambda_th"].nunique()
    rows = rows[rows["run"].isin(counts[counts >= 2].index)]
    return None if rows.empty else rows.reset_index(drop=True)


@plot_function
def _thresholds_plot(data: pd.DataFrame):
    fig, axes = new_figure(ncols=2, width=7.0, height=3.2, layout="constrained")
    runs = list(dict.fromkeys(data["run"]))
    styles = run_styles(runs, dict(zip(data["run"], data["method"])), dict(zip(data["run"], data["label"])))
    dashes = ["-", "--", ":", "-."]
    for run, rows in data.groupby("run", sort=False):
        colour, mark = styles[run]
        for k, (th, curve) in enumerate(rows.groupby("lambda_th", sort=True)):
            curve = curve.sort_values("lam")
            label = f"$\\lambda_{{th}}$ = {th:g}" + (f" ({run})" if len(runs) > 1 else "")
            for ax, column in zip(axes, ("clean_acc", "robust_acc")):
                ax.plot(curve["lam"], curve[column], marker=mark, color=colour, linestyle=dashes[k % 4],
                        markerfacecolor="white" if k else colour, label=label)  # fmt: skip
    for ax, column in zip(axes[::-1], ("robust_acc", "clean_acc")):  # the legend is axes[1]'s
        mark_collapsed(ax, data, "lam", column)
    axes[0].set_ylabel("Clean accuracy CA (%)")
    axes[1].set_ylabel(f"Robust accuracy RA, {MAIN_ATTACK.upper()} (%)")
    for ax in axes:
        ax.set_xlabel("noise re-scaling factor $\\lambda_n$ (Eq. 6)")
    axes[1].legend(title="BN_C -> BN_A threshold")
    fig.suptitle(
        "FLOAT across $\\lambda_n$ for each $\\lambda_{th}$ (paper Fig. 6 style; at or below $\\lambda_{th}$: BN_C)"
    )
    return fig


def _lambda_sweep_data(ctx: Context):
    """Dense runs of a method with lambda_n (FLOAT) evaluated at >= 6 lambda_n values (the lowest lambda_th)."""
    rows = _last_rows(ctx, MAIN_ATTACK)
    if rows is None:
        return None
    rows = rows[_has_lambda_n(rows["method"]) & rows["sparsity"].isna()]
    rows = _lowest_threshold(rows)
    counts = rows.groupby("run")["lam"].nunique()
    rows = rows[rows["run"].isin(counts[counts >= 6].index)]  # a fine lambda_n grid, not the 4 default points
    if rows.empty:
        return None
    columns = [
        "run",
        "method",
        "label",
        "lam",
        "lambda_th",
        "clean_acc",
        "robust_acc",
        "checkpoint",
        "attack",
        "collapsed",
    ]
    return rows[columns].sort_values(["run", "lam"], kind="stable").reset_index(drop=True)


@plot_function
def _lambda_sweep_plot(data: pd.DataFrame):
    fig, (ax,) = new_figure(width=4.6, height=3.2)
    runs = list(dict.fromkeys(data["run"]))
    styles = run_styles(runs, dict(zip(data["run"], data["method"])), dict(zip(data["run"], data["label"])))
    many = len(runs) > 1
    for run, rows in data.groupby("run", sort=False):
        colour, mark = styles[run]
        suffix = f" ({run})" if many else ""
        ax.plot(rows["lam"], rows["clean_acc"], marker=mark, color=colour, label=f"clean (CA){suffix}")
        ax.plot(rows["lam"], rows["robust_acc"], marker=mark, color=colour, markerfacecolor="white", linestyle="--",
                label=f"{MAIN_ATTACK.upper()} (RA){suffix}")  # fmt: skip
    mark_collapsed(ax, data, "lam", "clean_acc")
    mark_collapsed(ax, data, "lam", "robust_acc")
    ax.set_xlabel("noise re-scaling factor $\\lambda_n$ (Eq. 6)")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title("FLOAT after training, across $\\lambda_n$ (paper Fig. 4 style)")
    ax.legend()
    return fig


register(FigureDef(
    "fig1", "memory (normalised to the largest run) vs CA / RA of the runs, FLOATS-i included (paper Fig. 1)",
    lambda ctx: _attack_rows(ctx, MAIN_ATTACK), _memory, "runs: report frame rows at pgd7 (hwsim report)",
    needs_runs=True, command=f"{SEEDS_COMMAND}; {PAPER_FIGS_COMMAND}",
    default_runs=(SEEDS_RUNS, "reports/digits-paper-figs/floats-i/"),  # FLOATS-i trained as the seed runs
))  # fmt: skip
register(FigureDef(
    "fig6", "FLOAT's CA and RA across lambda_n, one curve per lambda_th (paper Fig. 6)", _thresholds_data,
    _thresholds_plot, "runs: FLOAT rows at pgd7 evaluated at >= 2 lambda_th (last epoch's weights)",
    needs_runs=True, command=PAPER_FIGS_COMMAND, default_runs=(PAPER_FIGS_RUNS,),
))  # fmt: skip
register(FigureDef(
    "fig7", "CA vs RA across lambda: FLOAT vs OAT vs PGD-AT, one curve per run (paper Fig. 7)",
    lambda ctx: _attack_rows(ctx, MAIN_ATTACK), _tradeoff(MAIN_ATTACK), "runs: report frame rows at pgd7",
    needs_runs=True, command=SEEDS_COMMAND, default_runs=(SEEDS_RUNS,),
))  # fmt: skip
register(FigureDef(
    "fig8a", "per-epoch training time normalised to the fastest run (paper Fig. 8(a))",
    _timing_data, _timing_plot, "runs: mean_epoch_time_s of run.json histories", needs_runs=True,
    command=SEEDS_COMMAND, default_runs=(SEEDS_RUNS,),
))  # fmt: skip
register(FigureDef(
    "fig9", "slimmable runs across lambda per SF (paper Fig. 9)", _slim_data, _slim_plot,
    "runs: report frame rows at pgd7 (slimmable runs)", needs_runs=True, command=FLOATS_COMMAND,
    default_runs=(FLOATS_RUNS,),
))  # fmt: skip
register(FigureDef(
    "table1", "CA / RA at lambda 0 and 1 of the sparse runs (paper Table 1)", _table1_data, _table1_plot,
    "runs: table1_frame of the report frame", needs_runs=True, command=FLOATS_COMMAND,
    default_runs=(FLOATS_RUNS,),
))  # fmt: skip
register(FigureDef(
    "fig3", "OAT trained with different S_lambda sets, tested at {0, 0.2, 0.7, 1} (paper Fig. 3)",
    _s_lambda_data, _s_lambda_plot, "runs: dense OAT rows at pgd7, grouped by the run's training S_lambda",
    needs_runs=True, command=PAPER_FIGS_COMMAND, default_runs=(PAPER_FIGS_RUNS,),
))  # fmt: skip
register(FigureDef(
    "fig4", "FLOAT's CA / RA over a fine lambda_n grid (paper Fig. 4)", _lambda_sweep_data, _lambda_sweep_plot,
    "runs: FLOAT rows at pgd7 with >= 6 lambda_n values", needs_runs=True, command=PAPER_FIGS_COMMAND,
    default_runs=(PAPER_FIGS_RUNS,),
))  # fmt: skip
for _attack, _runs, _command in (
    ("pgd20", SEEDS_RUNS, SEEDS_COMMAND),
    ("fgsm", SEEDS_RUNS, SEEDS_COMMAND),
    ("autoattack", PAPER_FIGS_RUNS, PAPER_FIGS_COMMAND),
):
    register(FigureDef(
        f"fig10-{_attack}", f"CA vs RA across lambda under {_attack} (paper Fig. 10)",
        lambda ctx, a=_attack: _attack_rows(ctx, a), _tradeoff(_attack), f"runs: report frame rows at {_attack}",
        needs_runs=True, command=_command, default_runs=(_runs,),
    ))  # fmt: skip
