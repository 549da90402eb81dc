"""Accuracy joined with hardware cost: the report of trained and evaluated runs, and the paper's plots.

A run directory (``reports/runs/<name>/``) holds ``run.json`` (config and per-epoch history, written by
:func:`hwsim.runner.train.train_run`) and ``results.json`` (CA and RA per lambda, lambda_th and attack,
written by :func:`hwsim.runner.evaluate.evaluate_checkpoint`). :func:`report_frame` joins every
accuracy point with the cost of the *same* model at the *same* condition: FLOAT's delay is Eq. 7 at
lambda_n = 0 (clean weights) and Eq. 8 above it, so the cost is computed per lambda.

>>> from hwsim.report import report_frame, write_report
>>> frame = report_frame([Path("reports/runs/r20-float"), Path("reports/runs/r20-oat")])
>>> text, paths = write_report([...], Path("reports/compare"), fmt="markdown")

Plots (PNG at 200 dpi and PDF, tight bounding box, written atomically):

* :func:`plot_tradeoff`: the paper's Fig. 6 / 7, CA (x) against RA (y) across lambda, one curve per run,
  each point labelled with its lambda;
* :func:`plot_memory_accuracy`: the paper's Fig. 1, memory normalised to the largest compared model (x)
  against accuracy (y), CA and RA as separate marker styles, one pair per run at its boundary
  conditions (CA at lambda = 0, RA at lambda = 1; PGD-AT's single point).

The figures are drawn on :class:`matplotlib.figure.Figure` objects rendered by the Agg (PNG) and PDF
backends directly, without pyplot: nothing global is switched, so a notebook keeps its own backend.
"""

from __future__ import annotations

import functools
import io
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .config import EvalCondition, HardwareSpec, ModelConfig, load_spec
from .costs.delay import ATTRIBUTIONS
from .errors import HwsimError
from .estimate import estimate_model
from .formats import OutputFormat, render_frame
from .io import atomic_write_bytes, atomic_write_text

REPORT_CSV = "report.csv"
REPORT_JSON = "report.json"
MB = 1e6  # decimal megabytes, as in the README and the paper's "21.28 MB"

COLUMNS = [
    "run", "arch", "method", "dataset", "lam", "lambda_th", "attack", "clean_acc", "robust_acc", "images",
    "epoch", "params", "weight_bytes", "memory_mb", "macs", "flops", "delay_ns", "delay_base_ns",
    "mean_epoch_time_s", "spec",
]  # fmt: skip

# Columns of the terminal table and Markdown views (CSV and JSON carry every column).
REPORT_VIEW = [
    "run", "method", "arch", "lam", "lambda_th", "attack", "clean_acc", "robust_acc", "params", "memory_mb",
    "macs", "delay_ns", "delay_base_ns", "mean_epoch_time_s",
]  # fmt: skip

METHOD_LABELS = {"float": "FLOAT", "oat": "OAT", "pgdat": "PGD-AT"}
METHOD_COLORS = {"float": "tab:red", "oat": "tab:blue", "pgdat": "tab:green"}
DPI = 200


# ---------------------------------------------------------------------------------------------
# the joined frame


@functools.lru_cache(maxsize=1024)
def _cost(config: ModelConfig, spec: HardwareSpec, attribution: str) -> dict[str, Any]:
    """Totals of one (model config with its eval condition, spec, attribution); cached, since a
    ResNet34 estimate takes tens of milliseconds and a report asks for every lambda of every run."""
    t = estimate_model(config, spec, attribution=attribution).totals
    return {
        "params": t.params,
        "weight_bytes": t.weight_bytes,
        "memory_mb": t.weight_bytes / MB,
        "macs": t.macs,
        "flops": t.flops,
        "delay_ns": t.delay_ns,
        "delay_base_ns": t.delay_base_ns,
    }


def condition_config(config: ModelConfig, lam: float, lambda_th: float) -> ModelConfig:
    """``config`` evaluated at ``lam``: FLOAT reads it as lambda_n (Eq. 6), OAT / PGD-AT as lambda."""
    if config.method == "float":
        cond = EvalCondition(lambda_n=lam, lambda_th=lambda_th)
    else:
        cond = EvalCondition(lam=lam, lambda_th=lambda_th)
    return config.model_copy(update={"eval": cond})


def cost_at(config: ModelConfig, lam: float, lambda_th: float, spec: HardwareSpec, attribution: str = "paper") -> dict[str, Any]:
    """Cost totals of ``config`` at one condition (params, weight_bytes, memory_mb, macs, flops, delays)."""
    return dict(_cost(condition_config(config, lam, lambda_th), spec, attribution))


def _model_config(config: dict, source: Path) -> ModelConfig:
    from .runner.train import RunConfig

    try:
        return RunConfig.model_validate(config).model
    except Exception as exc:
        raise HwsimError(f"{source}: the run config is invalid ({exc.__class__.__name__})") from None


def _mean_epoch_time(run_dir: Path) -> float:
    from .runner.train import RUN_FILE, read_run_file

    history = read_run_file(run_dir).get("history") or []
    try:
        times = [float(h["epoch_time_s"]) for h in history]
    except (KeyError, TypeError, ValueError):
        raise HwsimError(f"{run_dir / RUN_FILE}: history entries need a numeric epoch_time_s") from None
    return sum(times) / len(times) if times else math.nan


def report_frame(run_dirs: list[Path], spec: HardwareSpec | None = None, attribution: str = "paper") -> pd.DataFrame:
    """One row per run x lambda x lambda_th x attack: CA / RA joined with the cost at that condition.

    The model config is the one the evaluation recorded in ``results.json`` (the model the accuracy
    belongs to); ``mean_epoch_time_s`` is the mean training epoch time from ``run.json`` (the paper's
    Fig. 8(a) quantity; NaN before the first epoch). ``spec`` defaults to the shipped 65 nm ASIC.
    A run without ``results.json`` raises :class:`HwsimError` naming its directory.
    """
    from .runner.evaluate import read_results

    if attribution not in ATTRIBUTIONS:
        raise HwsimError(f"unknown attribution {attribution!r}; use one of {', '.join(ATTRIBUTIONS)}")
    if not run_dirs:
        raise HwsimError("no run directories to report on")
    spec = spec if spec is not None else load_spec()
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for run_dir in dict.fromkeys(Path(d).resolve() for d in run_dirs):  # same dir twice counts once
        results = read_results(run_dir)
        if results.run in seen:
            raise HwsimError(f"{run_dir}: run name {results.run!r} is also the name of {seen[results.run]}; rename one")
        seen[results.run] = run_dir
        config = _model_config(results.config, run_dir / "results.json")
        epoch_time = _mean_epoch_time(run_dir)
        for p in sorted(results.points, key=lambda p: (p.attack, p.lambda_th, p.lam)):
            rows.append(
                {
                    "run": results.run,
                    "arch": config.arch,
                    "method": config.method,
                    "dataset": config.dataset,
                    "lam": p.lam,
                    "lambda_th": p.lambda_th,
                    "attack": p.attack,
                    "clean_acc": p.clean_acc,
                    "robust_acc": p.robust_acc,
                    "images": p.images,
                    "epoch": results.epoch,
                    **cost_at(config, p.lam, p.lambda_th, spec, attribution),
                    "mean_epoch_time_s": epoch_time,
                    "spec": spec.name,
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs.update({"hwsim_version": __version__, "spec": spec.name, "attribution": attribution, "weight_bits": spec.weight_bits})
    return frame


# ---------------------------------------------------------------------------------------------
# plots


def _attack_rows(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    rows = frame[frame["attack"] == attack]
    if rows.empty:
        present = ", ".join(sorted(frame["attack"].unique())) or "none"
        raise HwsimError(f"no results for attack {attack!r} in the report (present: {present})")
    return rows


def _attack_label(attack: str) -> str:
    m = re.fullmatch(r"pgd(\d+)", attack)
    if m:
        return f"PGD-{m.group(1)}"
    return {"autoattack": "AutoAttack", "fgsm": "FGSM"}.get(attack, attack)


def _lam_text(value: float) -> str:
    return f"{value:g}"


def _save(fig, path_stem: Path) -> list[Path]:
    """Render to memory, then write each file atomically (PNG 200 dpi and PDF, tight bbox)."""
    path_stem = Path(path_stem)
    written = []
    for suffix, extra in ((".png", {"dpi": DPI}), (".pdf", {"metadata": {"CreationDate": None}})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix[1:], bbox_inches="tight", **extra)
        written.append(atomic_write_bytes(path_stem.with_suffix(suffix), buffer.getvalue()))
    return written


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 4.0))  # bbox_inches="tight" at save time trims the margins
    ax = fig.add_subplot()
    ax.grid(True, linestyle=":", linewidth=0.6, alpha=0.7)
    return fig, ax


def _run_styles(runs: list[str], methods: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Colour and marker per run: the method's colour for its first run, then free tab10 colours."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    reserved = {to_hex(c) for c in METHOD_COLORS.values()}
    palette = [to_hex(colormaps["tab10"](i)) for i in range(10)]
    spare = [c for c in palette if c not in reserved] + [c for c in palette if c in reserved]
    used: set[str] = set()
    styles = {}
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    for i, run in enumerate(runs):
        colour = METHOD_COLORS.get(methods[run])
        colour = to_hex(colour) if colour is not None else None
        if colour is None or colour in used:
            colour = next((c for c in spare if c not in used), spare[i % len(spare)])
        used.add(colour)
        styles[run] = (colour, markers[i % len(markers)])
    return styles


# Label offsets (points) per curve, so the lambda labels of neighbouring curves do not sit on each other.
LABEL_OFFSETS = [(4, 4), (4, -10), (-30, 4), (-30, -10)]


def plot_tradeoff(frame: pd.DataFrame, attack: str, path_stem: Path) -> list[Path]:
    """Paper Fig. 6 / 7: CA (x) vs RA (y) across lambda, one line per run (and lambda_th when a run
    was evaluated at several), each point labelled with its lambda. Writes ``path_stem`` + .png/.pdf."""
    rows = _attack_rows(frame, attack)
    runs = list(dict.fromkeys(rows["run"]))
    methods = dict(zip(rows["run"], rows["method"]))
    styles = _run_styles(runs, methods)
    fig, ax = _figure()
    curve_index = 0
    for run in runs:
        mine = rows[rows["run"] == run]
        thresholds = sorted(mine["lambda_th"].unique())
        for k, th in enumerate(thresholds):
            curve = mine[mine["lambda_th"] == th].sort_values("lam")
            colour, marker = styles[run]
            label = f"{run} ({METHOD_LABELS.get(methods[run], methods[run])})"
            if len(thresholds) > 1:
                label += f", $\\lambda_{{th}}$={_lam_text(th)}"
            ax.plot(
                curve["clean_acc"], curve["robust_acc"], marker=marker, color=colour, label=label,
                linestyle=["-", "--", ":", "-."][k % 4], linewidth=1.4, markersize=5,
            )  # fmt: skip
            offset = LABEL_OFFSETS[curve_index % len(LABEL_OFFSETS)]
            curve_index += 1
            for ca, ra, lam in zip(curve["clean_acc"], curve["robust_acc"], curve["lam"]):
                ax.annotate(
                    f"$\\lambda$={_lam_text(lam)}", (ca, ra), textcoords="offset points", xytext=offset,
                    fontsize=7, color=colour,
                )  # fmt: skip
    ax.margins(0.12)
    ax.set_xlabel("Clean accuracy CA (%)")
    ax.set_ylabel(f"Robust accuracy RA, {_attack_label(attack)} (%)")
    ax.set_title(f"Accuracy-robustness trade-off across $\\lambda$ ({_attack_label(attack)})")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path_stem)


def boundary_points(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    """Per run: CA at lambda = 0 and RA at lambda = 1 (the boundary conditions of OAT / FLOAT), or
    PGD-AT's single point, with the memory normalised to the largest run's. The lowest lambda_th is
    used; when lambda = 0 or 1 was not evaluated, the nearest evaluated lambda stands in (its value
    is in ``ca_lam`` / ``ra_lam``)."""
    rows = _attack_rows(frame, attack)
    out = []
    for run in dict.fromkeys(rows["run"]):
        mine = rows[rows["run"] == run]
        mine = mine[mine["lambda_th"] == mine["lambda_th"].min()].sort_values("lam")
        clean, robust = mine.iloc[0], mine.iloc[-1]  # lowest / highest lambda (equal for PGD-AT)
        out.append(
            {
                "run": run,
                "method": clean["method"],
                "arch": clean["arch"],
                "weight_bytes": float(clean["weight_bytes"]),
                "ca_lam": float(clean["lam"]),
                "clean_acc": float(clean["clean_acc"]),
                "ra_lam": float(robust["lam"]),
                "robust_acc": float(robust["robust_acc"]),
            }
        )
    points = pd.DataFrame(out)
    points.insert(4, "memory_norm", points["weight_bytes"] / points["weight_bytes"].max())
    return points


def plot_memory_accuracy(frame: pd.DataFrame, attack: str, path_stem: Path) -> list[Path]:
    """Paper Fig. 1: memory normalised to the largest compared model (x) vs accuracy (y), CA and RA
    as separate marker styles, one pair per run, annotated with the method. Writes .png and .pdf."""
    from matplotlib.lines import Line2D

    points = boundary_points(frame, attack)
    runs = list(points["run"])
    styles = _run_styles(runs, dict(zip(points["run"], points["method"])))
    duplicate_methods = points["method"].duplicated(keep=False)
    # runs at (nearly) the same memory get their labels stacked instead of printed on each other
    slot = points.groupby(points["memory_norm"].round(2)).cumcount()
    fig, ax = _figure()
    for (_, p), dup, k in zip(points.iterrows(), duplicate_methods, slot):
        colour, _ = styles[p["run"]]
        name = METHOD_LABELS.get(p["method"], p["method"])
        if dup:
            name += f" ({p['run']})"
        ax.scatter([p["memory_norm"]], [p["clean_acc"]], marker="o", s=46, color=colour, edgecolors="black", linewidths=0.5, zorder=3)
        ax.scatter([p["memory_norm"]], [p["robust_acc"]], marker="^", s=50, facecolors="white", edgecolors=colour, linewidths=1.5, zorder=3)
        ax.plot([p["memory_norm"]] * 2, [p["robust_acc"], p["clean_acc"]], color=colour, linewidth=0.8, alpha=0.5, zorder=2)
        # alternate sides so that runs of near-equal memory (FLOAT vs PGD-AT) keep readable labels
        side = 1 if k % 2 == 0 else -1
        ax.annotate(
            name, (p["memory_norm"], p["clean_acc"]), textcoords="offset points", xytext=(7 * side, 2 - 5 * k),
            fontsize=8, color=colour, ha="left" if side > 0 else "right",
        )  # fmt: skip
        if p["method"] != "pgdat" and (p["ca_lam"] != 0 or p["ra_lam"] != 1):
            ax.annotate(
                f"CA@$\\lambda$={_lam_text(p['ca_lam'])}, RA@$\\lambda$={_lam_text(p['ra_lam'])}",
                (p["memory_norm"], p["robust_acc"]), textcoords="offset points", xytext=(6, -8 - 9 * k), fontsize=6, color=colour,
            )  # fmt: skip
    handles = [
        Line2D([], [], marker="o", linestyle="", color="grey", markeredgecolor="black", label="clean accuracy (CA)"),
        Line2D([], [], marker="^", linestyle="", markerfacecolor="white", markeredgecolor="grey", markeredgewidth=1.5, label=f"robust accuracy (RA, {_attack_label(attack)})"),
    ]  # fmt: skip
    ax.legend(handles=handles, fontsize=7, loc="best")
    lo = float(points["memory_norm"].min())
    ax.set_xlim(min(lo, 1.0) - 0.1 * max(1.0 - lo, 0.2), 1.0 + 0.25 * max(1.0 - lo, 0.2))
    ax.margins(y=0.12)
    ax.set_xlabel("Normalised memory (model / largest model)")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(f"Memory vs accuracy ({frame.attrs.get('weight_bits', '?')}-bit weights, {_attack_label(attack)})")
    return _save(fig, path_stem)


# ---------------------------------------------------------------------------------------------
# everything at once


def _safe_name(attack: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", attack)  # no dots: the stem gets .png / .pdf via with_suffix


def _json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """NaN -> None so the JSON is valid (json.dumps would write NaN)."""
    out = frame.astype(object).where(frame.notna(), None)
    out.attrs = dict(frame.attrs)
    return out


def plot_training_time(frame: pd.DataFrame, path_stem: Path) -> list[Path]:
    """Paper Fig. 8(a): mean per-epoch training time of each run, normalised to the fastest run.
    Runs without a finished epoch are left out; returns [] when none has one. Writes .png and .pdf."""
    times = frame.drop_duplicates("run").set_index("run")[["method", "mean_epoch_time_s"]].dropna()
    if times.empty:
        return []
    fastest = float(times["mean_epoch_time_s"].min())
    fig, ax = _figure()
    ax.grid(False, axis="x")
    labels = [f"{METHOD_LABELS.get(m, m)}\n{run}" for run, m in zip(times.index, times["method"])]
    ratios = times["mean_epoch_time_s"] / fastest
    colours = [METHOD_COLORS.get(m, "tab:gray") for m in times["method"]]
    bars = ax.bar(range(len(times)), ratios, color=colours, width=0.6)
    for bar, ratio, seconds in zip(bars, ratios, times["mean_epoch_time_s"]):
        ax.annotate(f"{ratio:.2f}x\n({seconds:.1f} s)", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xticks(range(len(times)), labels, fontsize=7)
    ax.set_ylabel("Training time per epoch (normalised to fastest)")
    ax.set_ylim(0, float(ratios.max()) * 1.25)
    ax.set_title("Per-epoch training time (paper Fig. 8(a) style)")
    return _save(fig, path_stem)


def write_report(
    run_dirs: list[Path],
    out_dir: Path,
    spec: HardwareSpec | None = None,
    attribution: str = "paper",
    fmt: str | OutputFormat = "table",
    *,
    plots: bool = True,
) -> tuple[str, list[Path]]:
    """Build the report of ``run_dirs`` and write ``report.csv``, ``report.json`` and, per attack,
    ``tradeoff-<attack>.png/.pdf`` and ``memory-accuracy-<attack>.png/.pdf`` into ``out_dir``.

    Returns the report text in ``fmt`` (table / csv / json / markdown; table and markdown show the
    :data:`REPORT_VIEW` columns) and the written paths. ``plots=False`` writes the tables only.
    """
    try:
        fmt = OutputFormat(fmt)
    except ValueError:
        raise HwsimError(f"unknown format {fmt!r}; use one of {', '.join(f.value for f in OutputFormat)}") from None
    frame = report_frame(run_dirs, spec=spec, attribution=attribution)
    out_dir = Path(out_dir)
    title = f"accuracy and cost of {frame['run'].nunique()} run(s) on {frame.attrs['spec']} ({attribution} attribution)"
    json_frame = _json_ready(frame)
    written = [
        atomic_write_text(out_dir / REPORT_CSV, frame.to_csv(index=False)),
        atomic_write_text(out_dir / REPORT_JSON, render_frame(json_frame, OutputFormat.json, title)),
    ]
    if plots:
        written += plot_training_time(frame, out_dir / "training-time")
    for attack in dict.fromkeys(frame["attack"]) if plots else ():
        name = _safe_name(attack)
        written += plot_tradeoff(frame, attack, out_dir / f"tradeoff-{name}")
        written += plot_memory_accuracy(frame, attack, out_dir / f"memory-accuracy-{name}")
    if fmt is OutputFormat.json:
        text = render_frame(json_frame, fmt, title)
    elif fmt is OutputFormat.csv:
        text = render_frame(frame, fmt, title)
    else:
        text = render_frame(frame[REPORT_VIEW], fmt, title)
    return text, written


__all__ = [
    "COLUMNS", "REPORT_VIEW", "report_frame", "cost_at", "condition_config", "boundary_points",
    "plot_tradeoff", "plot_memory_accuracy", "plot_training_time", "write_report",
]  # fmt: skip
