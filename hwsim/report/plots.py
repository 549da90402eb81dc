"""The report's figures, built as :class:`matplotlib.figure.Figure` objects; no file is written here
(:func:`hwsim.report.writer.write_figure` renders and writes them).

* :func:`plot_tradeoff`: the paper's Fig. 6 / 7, CA (x) against RA (y) across lambda, one curve per run,
  each point labelled with its lambda;
* :func:`plot_memory_accuracy`: the paper's Fig. 1, memory normalised to the largest compared model (x)
  against accuracy (y), CA and RA as separate marker styles, one pair per run at its boundary
  conditions (CA at lambda = 0, RA at lambda = 1; PGD-AT's single point);
* :func:`plot_training_time`: the paper's Fig. 8(a), per-epoch training time normalised to the fastest run.

The first two draw the ``best`` checkpoint of a run evaluated at both (the title says so), else
``last``; on the seed-aggregated frame the means, with one-standard-deviation error bars.
:func:`report_figures` builds every figure of a report.

The figures are plain :class:`~matplotlib.figure.Figure` objects, without pyplot: nothing global is
switched, so a notebook keeps its own backend.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..methods import get_method
from ..plotting import PointLabel, label_bars, mark_collapsed, new_figure, place_labels, plot_function, run_styles
from .join import _accuracy_columns, boundary_points, method_label, plotted_rows

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the report package
    from matplotlib.figure import Figure


def _method_label(method: str) -> str:
    """How a method is shown (its registry label; runs of an unregistered method keep the name)."""
    return method_label(method)


def _run_labels(rows: pd.DataFrame) -> dict[str, str]:
    """Per run, how its model is shown: the frame's ``label`` (FLOATS-i, OAT slim, ...; see
    :func:`hwsim.report.join.method_label`), else the method's registry label."""
    if "label" in rows.columns:
        return dict(zip(rows["run"], rows["label"]))
    return {run: _method_label(m) for run, m in zip(rows["run"], rows["method"])}


def _attack_label(attack: str) -> str:
    m = re.fullmatch(r"pgd(\d+)", attack)
    if m:
        return f"PGD-{m.group(1)}"
    return {"autoattack": "AutoAttack", "fgsm": "FGSM"}.get(attack, attack)


def _lam_text(value: float) -> str:
    return f"{value:g}"


def _figure() -> tuple[Figure, Any]:
    fig, (ax,) = new_figure(width=5.2, height=4.0)  # bbox_inches="tight" at save time trims the margins
    return fig, ax


def _run_styles(rows: pd.DataFrame, runs: list[str]) -> dict[str, tuple[str, str]]:
    """Colour and marker per run (:func:`hwsim.plotting.run_styles`): its model's colour (FLOATS
    variants shaded from FLOAT's) and its method's marker; further runs of one model shaded."""
    return run_styles(runs, dict(zip(rows["run"], rows["method"])), _run_labels(rows))


def _seed_text(seeds: pd.Series) -> str:
    lo, hi = int(seeds.min()), int(seeds.max())
    return f"{hi} seeds" if lo == hi else f"{lo}-{hi} seeds"


def _with_note(title: str, note: str) -> str:
    return f"{title}\n{note}" if note else title


@plot_function
def plot_tradeoff(frame: pd.DataFrame, attack: str) -> Figure:
    """Paper Fig. 6 / 7: CA (x) vs RA (y) across lambda, one line per run (and lambda_th when a run
    was evaluated at several), each point labelled with its lambda. Returns the figure.

    On the seed-aggregated frame (:func:`aggregate_seeds`) the points are the means, with error bars
    of one standard deviation (CA: horizontal, RA: vertical) where more than one seed has the point.
    Which checkpoint is drawn: :func:`plotted_rows`."""
    rows, note = plotted_rows(frame, attack)
    ca, ra, ca_std, ra_std = _accuracy_columns(rows)
    runs = list(dict.fromkeys(rows["run"]))
    labels = _run_labels(rows)
    styles = _run_styles(rows, runs)
    fig, ax = _figure()
    point_labels = []
    every_point = len(runs) <= MAX_POINT_LABELS  # few curves: every point gets its lambda label
    for run in runs:
        mine = rows[rows["run"] == run]
        thresholds = sorted(mine["lambda_th"].dropna().unique()) or [None]  # None: no lambda_th (PGD-AT, OAT)
        factors = sorted(mine["slim_factor"].unique(), reverse=True) if "slim_factor" in mine.columns else [None]
        curves = [(th, sf) for th in thresholds for sf in factors]
        for k, (th, sf) in enumerate(curves):
            curve = mine if th is None else mine[mine["lambda_th"] == th]
            curve = (curve if sf is None else curve[curve["slim_factor"] == sf]).sort_values("lam")
            colour, marker = styles[run]
            label = f"{run} ({labels[run]})"
            if len(thresholds) > 1:
                label += f", $\\lambda_{{th}}$={_lam_text(th)}"
            if len(factors) > 1:
                label += f", SF={_lam_text(sf)}"
            spread = curve[curve[ca_std].notna() | curve[ra_std].notna()] if ca_std else curve.iloc[:0]
            if not spread.empty:
                label += f", mean ± std over {_seed_text(curve['seeds'])}"
            ax.plot(
                curve[ca], curve[ra], marker=marker, color=colour, label=label,
                linestyle=["-", "--", ":", "-."][k % 4], linewidth=1.4, markersize=5,
            )  # fmt: skip
            if not spread.empty:
                ax.errorbar(
                    spread[ca], spread[ra], xerr=spread[ca_std].fillna(0.0), yerr=spread[ra_std].fillna(0.0),
                    fmt="none", ecolor=colour, elinewidth=0.9, capsize=3, alpha=0.8,
                )  # fmt: skip
            # many curves: only each curve's ends are labelled (lambda runs monotonically between them)
            ends = curve if every_point else curve.iloc[[0, -1]] if len(curve) > 1 else curve
            point_labels += [
                PointLabel(x, y, f"$\\lambda$={_lam_text(lam)}", colour)
                for x, y, lam in zip(ends[ca], ends[ra], ends["lam"])
            ]
    mark_collapsed(ax, rows, ca, ra)
    ax.margins(0.12)
    ax.set_xlabel("Clean accuracy CA (%)")
    ax.set_ylabel(f"Robust accuracy RA, {_attack_label(attack)} (%)")
    images = set(rows["images"].dropna()) if "images" in rows.columns else set()
    count = f", {int(images.pop())} test images" if len(images) == 1 else ""  # how much an RA rests on
    ax.set_title(_with_note(f"Accuracy-robustness trade-off across $\\lambda$ ({_attack_label(attack)}{count})", note))
    place_labels(ax, point_labels)  # after the limits are set: where no other label or point is
    if len(runs) > MAX_POINT_LABELS:  # beside the axes: a long legend would cover the curves
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.legend(loc="best")
    return fig


#: Fig. 1 writes each run's name next to its points up to this many runs, in the legend beyond
MAX_POINT_LABELS = 4


@plot_function
def plot_memory_accuracy(frame: pd.DataFrame, attack: str) -> Figure:
    """Paper Fig. 1: memory normalised to the largest compared model (x) vs accuracy (y), one pair
    of markers per run in its method's marker: CA filled, RA open; annotated with the model (up to
    :data:`MAX_POINT_LABELS` runs, else in the legend). Returns the figure.
    On the seed-aggregated frame the markers are the means, with one-standard-deviation error bars."""
    from matplotlib.lines import Line2D

    points = boundary_points(frame, attack)
    _, note = plotted_rows(frame, attack)
    runs = list(points["run"])
    styles = run_styles(runs, dict(zip(points["run"], points["method"])), dict(zip(points["run"], points["label"])))
    duplicate_methods = points["label"].duplicated(keep=False)
    # many runs: name them in the legend (one coloured entry each) instead of crowding the points
    in_legend = len(points) > MAX_POINT_LABELS
    run_handles, point_labels = [], []
    fig, ax = _figure()
    for (_, p), dup in zip(points.iterrows(), duplicate_methods):
        colour, mark = styles[p["run"]]
        name = p["label"]
        if dup:
            name += f" ({p['run']})"
        ax.scatter(
            [p["memory_norm"]], [p["clean_acc"]], marker=mark, s=46, color=colour, edgecolors="black", linewidths=0.5,
            zorder=3,
        )  # fmt: skip
        ax.scatter(
            [p["memory_norm"]], [p["robust_acc"]], marker=mark, s=46, facecolors="white", edgecolors=colour,
            linewidths=1.5, zorder=3,
        )  # fmt: skip
        ax.plot(
            [p["memory_norm"]] * 2, [p["robust_acc"], p["clean_acc"]], color=colour, linewidth=0.8, alpha=0.5, zorder=2
        )
        for acc, std in ((p["clean_acc"], p["clean_acc_std"]), (p["robust_acc"], p["robust_acc_std"])):
            if math.isfinite(std):
                ax.errorbar(
                    [p["memory_norm"]], [acc], yerr=[std], fmt="none", ecolor=colour, elinewidth=0.9, zorder=2.5
                )
        shifted = not get_method(p["method"]).single_lambda and (p["ca_lam"] != 0 or p["ra_lam"] != 1)
        where = f"CA@$\\lambda$={_lam_text(p['ca_lam'])}, RA@$\\lambda$={_lam_text(p['ra_lam'])}"
        if in_legend:
            label = f"{name} ({where})" if shifted else name
            run_handles.append(
                Line2D([], [], marker=mark, linestyle="", color=colour, markeredgecolor="black", label=label)
            )
            continue
        point_labels.append(PointLabel(p["memory_norm"], p["clean_acc"], name, colour, fontsize=8))
        if shifted:
            point_labels.append(PointLabel(p["memory_norm"], p["robust_acc"], where, colour, fontsize=6))
    handles = [
        Line2D([], [], marker="o", linestyle="", color="grey", markeredgecolor="black", label="clean accuracy (CA)"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="grey", markeredgewidth=1.5,
               label=f"robust accuracy (RA, {_attack_label(attack)})"),
    ]  # fmt: skip
    spread = points[points["clean_acc_std"].notna() | points["robust_acc_std"].notna()]
    if not spread.empty:
        handles.append(
            Line2D([], [], marker="|", linestyle="", color="grey", markersize=10,
                   label=f"mean ± std over {_seed_text(spread['seeds'])}")
        )  # fmt: skip
    lo = float(points["memory_norm"].min())
    # room on both sides for the labels
    ax.set_xlim(min(lo, 1.0) - 0.2 * max(1.0 - lo, 0.2), 1.0 + 0.25 * max(1.0 - lo, 0.2))
    ax.margins(y=0.12)
    place_labels(ax, point_labels, marker_px=9.0)  # the markers here are s=46 (about 7 pt) plus edges
    if run_handles:  # beside the axes: with many runs no corner of the plot is free
        ax.legend(handles=[*run_handles, *handles], loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.legend(handles=handles, loc="best")
    ax.set_xlabel("Normalised memory (storage in the spec's sparse format / largest model)")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(
        _with_note(
            f"Memory vs accuracy ({frame.attrs.get('weight_bits', '?')}-bit weights, {_attack_label(attack)})", note
        )
    )
    return fig


@plot_function
def plot_training_time(frame: pd.DataFrame) -> Figure | None:
    """Paper Fig. 8(a): mean per-epoch training time of each run, normalised to the fastest run.
    Runs without a finished epoch are left out. Returns the figure, or None when no run has one."""
    first = frame.drop_duplicates("run")
    labels = _run_labels(first)
    times = first.set_index("run")[["method", "mean_epoch_time_s"]].dropna()
    if times.empty:
        return None
    fastest = float(times["mean_epoch_time_s"].min())
    styles = _run_styles(first, list(times.index))
    fig, ax = _figure()
    ax.grid(False, axis="x")
    labels = [f"{labels[run]}\n{run}" for run in times.index]
    ratios = times["mean_epoch_time_s"] / fastest
    colours = [styles[run][0] for run in times.index]
    bars = ax.bar(range(len(times)), ratios, color=colours, width=0.6, edgecolor="black", linewidth=0.3)
    texts = [f"{ratio:.2f}x\n({seconds:.1f} s)" for ratio, seconds in zip(ratios, times["mean_epoch_time_s"])]
    label_bars(ax, bars, texts, offset=3, fontsize=7)
    ax.set_xticks(range(len(times)), labels, fontsize=7)
    ax.set_ylabel("Training time per epoch (normalised to fastest)")
    ax.set_ylim(0, float(ratios.max()) * 1.25)
    ax.set_title("Per-epoch training time (paper Fig. 8(a) style)")
    return fig


SF_LINESTYLES = ["-", "--", ":", "-."]


def slim_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of slimmable runs (``sparsity`` kind slim: FLOAT slim, FLOATS slim, OAT slim)."""
    if "sparsity" not in frame.columns:
        return frame.iloc[:0]
    return frame[frame["sparsity"] == "slim"]


@plot_function
def plot_slim(frame: pd.DataFrame, attack: str) -> Figure | None:
    """Paper Fig. 9: slimmable models across lambda, CA (left panel) and RA (right panel), one line
    per (run, SF): colour and marker per run (FLOAT slim vs FLOATS slim vs OAT slim), line style per
    SF (SF 1.0 solid, the next smaller dashed, ...). FLOAT's lambda_n at its lowest lambda_th. On the
    seed-aggregated frame the means. Returns None when no run is slimmable."""
    rows, note = plotted_rows(frame, attack)
    rows = slim_rows(rows)
    if rows.empty:
        return None
    ca, ra, _, _ = _accuracy_columns(rows)
    runs = list(dict.fromkeys(rows["run"]))
    styles = _run_styles(rows, runs)
    labels = _run_labels(rows)
    factors = sorted(rows["slim_factor"].unique(), reverse=True)
    dash = {sf: SF_LINESTYLES[i % len(SF_LINESTYLES)] for i, sf in enumerate(factors)}
    fig, axes = new_figure(ncols=2, width=9.0, height=3.8)
    for ax, column, what in (
        (axes[0], ca, "Clean accuracy CA (%)"),
        (axes[1], ra, f"Robust accuracy RA, {_attack_label(attack)} (%)"),
    ):
        for run in runs:
            mine = rows[rows["run"] == run]
            th = mine["lambda_th"]
            if th.notna().any():
                mine = mine[th.isna() | (th == th.min())]
            colour, marker = styles[run]
            for sf in sorted(mine["slim_factor"].unique(), reverse=True):
                curve = mine[mine["slim_factor"] == sf].sort_values("lam")
                ax.plot(
                    curve["lam"], curve[column], color=colour, marker=marker, linestyle=dash[sf], linewidth=1.4,
                    markersize=4, label=f"{labels[run]} ({run}), SF={_lam_text(sf)}",
                )  # fmt: skip
        ax.set_xlabel("$\\lambda$ (FLOAT: $\\lambda_n$)")
        ax.set_ylabel(what)
    axes[0].legend(fontsize=6, loc="best")
    fig.suptitle(_with_note(f"Slimmable models across $\\lambda$ (paper Fig. 9 style, {_attack_label(attack)})", note))
    fig.tight_layout()
    return fig


def channel_heatmap_values(weight) -> Any:
    """|theta| of one conv as a C_o x C_i matrix: the sum of |w| over its k x k kernel (a 4-D
    ``C_o x C_i x k x k`` array; a 2-D one is taken as already C_o x C_i)."""
    import numpy as np

    w = np.abs(np.asarray(weight, dtype=np.float64))
    if w.ndim == 2:
        return w
    if w.ndim != 4:
        raise ValueError(f"expected a conv weight of 4 dimensions (C_o x C_i x k x k), got {w.ndim}")
    return w.sum(axis=(2, 3))


def channel_densities(weight, mask=None) -> tuple[float, float]:
    """(channel density, weight density) of one conv: input channels with any kept weight over C_i,
    kept weights over all; kept = the mask's nonzeros when a mask is given, else nonzero weights."""
    import numpy as np

    kept = np.asarray(mask if mask is not None else weight) != 0
    if kept.ndim == 2:
        per_channel = kept.any(axis=0)
    else:
        per_channel = kept.reshape(kept.shape[0], kept.shape[1], -1).any(axis=(0, 2))
    return float(per_channel.sum()) / per_channel.size, float(kept.sum()) / kept.size


@plot_function
def plot_channel_heatmap(layer: str, panels: list[tuple[str, Any, Any]]) -> Figure:
    """Paper Fig. 5(a): per run, |theta| of conv ``layer`` as a C_o (rows) x C_i (columns) heatmap,
    the sum of |w| over k x k (:func:`channel_heatmap_values`); zero entries are white. ``panels``:
    (title, weight C_o x C_i x k x k, mask or None) per run, side by side (FLOATS-i vs FLOATS-c); each
    title gives the channel density (kept input channels / C_i) and the weight density."""
    import numpy as np
    from matplotlib import colormaps

    if not panels:
        raise ValueError("no runs to draw")
    fig, axes = new_figure(ncols=len(panels), width=4.8 * len(panels), height=4.2, layout="constrained")
    cmap = colormaps["viridis"].with_extremes(bad="white")
    for ax, (title, weight, mask) in zip(axes, panels):
        values = channel_heatmap_values(weight)
        shown = np.ma.masked_where(values == 0, values)
        ax.grid(False)  # a grid would cover the cells
        image = ax.imshow(shown, cmap=cmap, aspect="auto", interpolation="nearest")
        channel, density = channel_densities(weight, mask)
        ax.set_title(f"{title}\nchannel density {channel:.1%}, weight density {density:.1%}", fontsize=8)
        ax.set_xlabel("input channel $C_i$")
        ax.set_ylabel("output channel $C_o$")
        fig.colorbar(image, ax=ax, label="$\\sum_{k \\times k} |w|$ (white: 0)")
    fig.suptitle(f"|$\\theta$| of {layer} (paper Fig. 5(a) style)")
    return fig


def _safe_name(attack: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", attack)  # no dots: the writer adds .png / .pdf to the stem


def report_figures(frame: pd.DataFrame) -> dict[str, Figure]:
    """Every figure of a report on ``frame`` (per run, or seed-aggregated), by file stem:
    ``training-time`` (when a run has a finished epoch), then per attack ``tradeoff-<attack>`` and
    ``memory-accuracy-<attack>``, and ``slim-<attack>`` (Fig. 9) when a run is slimmable."""
    figures = {}
    timing = plot_training_time(frame)
    if timing is not None:
        figures["training-time"] = timing
    for attack in dict.fromkeys(frame["attack"]):
        name = _safe_name(attack)
        figures[f"tradeoff-{name}"] = plot_tradeoff(frame, attack)
        figures[f"memory-accuracy-{name}"] = plot_memory_accuracy(frame, attack)
        slim = plot_slim(frame, attack)
        if slim is not None:
            figures[f"slim-{name}"] = slim
    return figures


__all__ = [
    "plot_tradeoff",
    "plot_memory_accuracy",
    "plot_training_time",
    "plot_slim",
    "slim_rows",
    "plot_channel_heatmap",
    "channel_heatmap_values",
    "channel_densities",
    "report_figures",
]
