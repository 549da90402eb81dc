"""What ``hwsim sweep`` writes: tables, a summary and figures of a :class:`SweepResult`.

Figures are built as :class:`matplotlib.figure.Figure` objects without touching files
(:func:`sweep_figures`); :func:`render_sweep` turns the result into the bytes of every file, and
:func:`write_sweep` writes them, each atomically (:func:`hwsim.io.atomic_write_bytes`), only after
every file is rendered: an interrupted sweep leaves the folder as it was, or with whole files.
"""

from __future__ import annotations

import glob
import io
import itertools
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import HwsimError
from ..io import atomic_write_bytes, check_out_dir
from ..plotting import new_figure, plot_function, run_styles
from .engine import SweepResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

POINTS_PARQUET = "points.parquet"
POINTS_CSV = "points.csv"
FRONT_CSV = "front.csv"
FRONT_JSON = "front.json"
FRONT_PARQUET = "front.parquet"
SUMMARY_JSON = "summary.json"
#: the tables a sweep writes or removes (figures' names depend on the objectives)
FILES = (POINTS_PARQUET, POINTS_CSV, FRONT_CSV, FRONT_JSON, FRONT_PARQUET, SUMMARY_JSON)
CSV_ROWS = 100_000  # points.csv is written next to points.parquet up to this many rows
DOMINATED_SAMPLE = 20_000  # dominated points drawn per projection at most (a fixed-seed sample)
MAX_PAIRS = 6  # 2-D projections drawn at most (the first pairs of objectives)


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _json(data: Any) -> bytes:
    return (json.dumps(_plain(data), indent=2, allow_nan=False) + "\n").encode()


def summary(result: SweepResult) -> dict[str, Any]:
    """Counts, time, objectives, constraints, best per objective, per-column min / max, heatmap data."""
    plan = result.plan
    model = {}
    if plan.base.cost_model == "hierarchy":  # the lead model, and whether the objectives are its defaults
        model = {"cost_model": "hierarchy", "default_objectives": plan.default_objectives}
    return {
        "hwsim_version": __version__,
        "source": plan.source,
        "base_spec": plan.base.name,
        "attribution": plan.attribution,
        **model,
        "axes": {k: v.tolist() for k, v in plan.axes.items()},
        "models": plan.models,
        "conditions": {m: [j.condition for j in plan.jobs if j.model == m] for m in plan.models},
        "objectives": [{"max" if mx else "min": c} for c, mx in plan.objectives],
        "constraints": result.constraint_passing,
        "counts": result.counts,
        "seconds": round(result.seconds, 3),
        "best": result.best(),
        "aggregates": result.aggregates,
        "heatmap": result.heatmap,
    }


def summary_frame(result: SweepResult) -> pd.DataFrame:
    """The one-screen summary: counts and time, then the best value of each objective and where."""
    c = result.counts
    rows = [
        ("design points (axes product)", f"{c['points']:,}"),
        ("feasible points", f"{c['feasible']:,}"),
        ("rows costed (feasible x model x condition)", f"{c['rows']:,}"),
        ("Pareto front (all models)", f"{c['front']:,} rows"),
        *((f"front of {m}", f"{n:,} rows") for m, n in c["model_fronts"].items()),
        ("time", f"{result.seconds:.2f} s"),
    ]
    plan = result.plan
    if plan.base.cost_model == "hierarchy":
        names = ", ".join(("max " if mx else "min ") + col for col, mx in plan.objectives)
        origin = (
            "the hierarchy model's defaults: the sweep file gives none" if plan.default_objectives else "sweep file"
        )
        rows.insert(0, ("cost model", "hierarchy (hwsim.costs.hierarchy)"))
        rows.insert(1, ("objectives", f"{names} ({origin})"))
    for column, best in result.best().items():
        where = ", ".join(f"{k}={best[k]:g}" for k in result.plan.axes)
        rows.append((f"best {best['sense']} {column}", f"{best['value']:.6g} ({best['model']}; {where})"))
    return pd.DataFrame(rows, columns=["quantity", "value"])


def _front_json(result: SweepResult) -> bytes:
    front = result.front.astype(object).where(result.front.notna(), None)
    front["model"] = result.front["model"].astype(str)
    return _json(
        {
            "objectives": [{"max" if mx else "min": c} for c, mx in result.plan.objectives],
            "rows": front.to_dict(orient="records"),
        }
    )


def _parquet(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# figures


def _label(column: str, maximise: bool) -> str:
    return f"{column} ({'higher' if maximise else 'lower'} is better)"


def model_styles(result: SweepResult) -> dict[str, tuple[str, str]]:
    """(colour, marker) per model of the sweep: its method's (:func:`hwsim.plotting.run_styles`, the
    same as in ``hwsim report`` and ``hwsim figures``; FLOATS variants shaded from FLOAT's colour)."""
    jobs = {j.model: j for j in result.plan.jobs}
    models = list(result.model_fronts)
    return run_styles(models, {m: jobs[m].method for m in models}, {m: jobs[m].label for m in models})


@plot_function
def plot_projection(result: SweepResult, x: tuple[str, bool], y: tuple[str, bool]) -> Figure:
    """The front projected on two objectives: dominated rows faded (a fixed-seed sample when there are
    many; only when the points were kept), each model's own front in its method's colour and marker,
    the overall front on top."""
    fig, (ax,) = new_figure(width=5.6, height=4.2)
    (xc, xmax), (yc, ymax) = x, y
    points = result.points
    if points is not None and len(points):
        dominated = points
        if len(dominated) > DOMINATED_SAMPLE:
            pick = np.random.default_rng(0).choice(len(dominated), DOMINATED_SAMPLE, replace=False)
            dominated = dominated.iloc[np.sort(pick)]
        ax.scatter(dominated[xc], dominated[yc], s=4, color="0.75", alpha=0.35, linewidths=0, label="all points" + (
            f" (sample of {DOMINATED_SAMPLE:,})" if len(points) > DOMINATED_SAMPLE else ""))  # fmt: skip
    styles = model_styles(result)
    for model, front in result.model_fronts.items():
        if len(front):
            colour, mark = styles[model]
            ax.scatter(
                front[xc], front[yc], s=14, color=colour, marker=mark, alpha=0.6, linewidths=0,
                label=f"front of {model}",
            )  # fmt: skip
    front = result.front
    ax.scatter(
        front[xc], front[yc], s=26, facecolors="none", edgecolors="black", linewidths=0.8, label="front (all models)"
    )
    for axis, column, maximise in ((ax.set_xlabel, xc, xmax), (ax.set_ylabel, yc, ymax)):
        axis(_label(column, maximise))
    for setter, column in ((ax.set_xscale, xc), (ax.set_yscale, yc)):
        values = pd.concat([front[column], *(f[column] for f in result.model_fronts.values())])
        values = values[np.isfinite(values.astype(float))]
        if len(values) and values.min() > 0 and values.max() / values.min() > 100:
            setter("log")
    ax.set_title(f"Pareto front: {xc} vs {yc}")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside: fronts fill the corners
    return fig


@plot_function
def plot_ratio_heatmap(heat: dict[str, Any]) -> Figure:
    """The OAT / FLOAT whole-network delay ratio per cell of two axes (the min over the other axes)."""
    fig, (ax,) = new_figure(width=5.6, height=4.4)
    column = heat.get("column", "delay_ns")  # a hierarchy sweep's is hier_latency_ns
    ax.grid(False)  # a grid would cover the cells
    values = np.asarray(heat["min"], np.float64)
    image = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(heat["xs"])), [f"{v:g}" for v in heat["xs"]], rotation=90, fontsize=7)
    ax.set_yticks(range(len(heat["ys"])), [f"{v:g}" for v in heat["ys"]], fontsize=7)
    ax.set_xlabel(heat["x"])
    ax.set_ylabel(heat["y"])
    if values.size <= 400:
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize=5, color="white")
    others = ", ".join(heat["others"])
    scope = f"min over {others}" if others else "no other axes"
    ax.set_title(
        f"{column} {heat['oat']} (lambda {heat['oat_condition']:g}) / {heat['float']} "
        f"(lambda_n {heat['float_condition']:g})\n{scope}; feasible points only",
        fontsize=8,
    )
    what = "delay" if column == "delay_ns" else f"latency ({column})"
    fig.colorbar(image, ax=ax, label=f"OAT / FLOAT whole-network {what}")
    return fig


def sweep_figures(result: SweepResult) -> dict[str, Figure]:
    """Stem -> figure: ``front-<x>-vs-<y>`` per pair of objectives (the first :data:`MAX_PAIRS`),
    ``delay-ratio-oat-float`` when the sweep has an OAT and a FLOAT model and two swept axes
    (``hier-latency-ratio-oat-float`` when the ratio is the hierarchy model's ``hier_latency_ns``)."""
    figures = {}
    objectives = result.plan.objectives
    for x, y in list(itertools.combinations(objectives, 2))[:MAX_PAIRS]:
        figures[f"front-{_safe(x[0])}-vs-{_safe(y[0])}"] = plot_projection(result, x, y)
    if len(objectives) == 1:
        figures[f"front-{_safe(objectives[0][0])}"] = plot_projection(result, objectives[0], objectives[0])
    if result.heatmap is not None:
        stem = "delay" if result.heatmap.get("column", "delay_ns") == "delay_ns" else "hier-latency"
        figures[f"{stem}-ratio-oat-float"] = plot_ratio_heatmap(result.heatmap)
    return figures


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


# ---------------------------------------------------------------------------------------------
# files


def render_sweep(result: SweepResult, *, plots: bool = True) -> dict[str, bytes]:
    """File name -> bytes of everything ``hwsim sweep`` writes (nothing is written here)."""
    from ..plotting import render_figure

    files: dict[str, bytes] = {}
    if result.points is not None:
        files[POINTS_PARQUET] = _parquet(result.points)
        if len(result.points) <= CSV_ROWS:
            files[POINTS_CSV] = result.points.to_csv(index=False).encode()
    files[FRONT_PARQUET] = _parquet(result.front.assign(model=result.front["model"].astype(str)))
    if len(result.front) <= CSV_ROWS:  # a front of a million rows is read from Parquet, not JSON
        files[FRONT_CSV] = result.front.to_csv(index=False).encode()
        files[FRONT_JSON] = _front_json(result)
    files[SUMMARY_JSON] = _json(summary(result))
    if plots:
        for stem, fig in sweep_figures(result).items():
            for suffix in (".png", ".pdf"):
                files[stem + suffix] = render_figure(fig, suffix)
    return files


def _remove(path: Path, what: str) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise HwsimError(f"{path}: cannot remove the {what}: {exc.strerror or exc}") from None


def write_sweep(result: SweepResult, out_dir: Path | str, *, plots: bool = True, inputs=()) -> list[Path]:
    """Render every file, then write each atomically into ``out_dir``; a stale points.parquet / .csv
    or front.csv / .json of an earlier sweep there (one that this sweep does not rewrite) is removed.
    ``front.parquet`` is always written; ``front.csv`` / ``front.json`` and ``points.csv`` only up to
    :data:`CSV_ROWS` rows. None of the files may be one of ``inputs`` (the sweep's own files).

    ``summary.json`` is the sweep's completion mark: an earlier one is removed before the first file
    is written and the new one written last, so a sweep killed on the way leaves whole files (each
    write is atomic) and no summary that claims them; a rerun rewrites the folder."""
    out_dir = Path(out_dir)
    files = render_sweep(result, plots=plots)
    stale = [name for name in (POINTS_PARQUET, POINTS_CSV, FRONT_CSV, FRONT_JSON) if name not in files]
    check_out_dir(out_dir, [*files, *stale], inputs)
    _remove(out_dir / SUMMARY_JSON, "earlier summary")
    order = [name for name in files if name != SUMMARY_JSON] + [SUMMARY_JSON]
    written = [atomic_write_bytes(out_dir / name, files[name]) for name in order[:-1]]
    for name in stale:
        _remove(out_dir / name, "stale file")
    written.append(atomic_write_bytes(out_dir / SUMMARY_JSON, files[SUMMARY_JSON]))
    _remove_orphans(out_dir, [*files, *stale])
    return written


ORPHAN_AGE_S = 3600  # a temporary file this old is no write in flight: its writer was killed


def _remove_orphans(out_dir: Path, names) -> None:
    """The temporary files (``.NAME.*.tmp``, :func:`hwsim.io.atomic_write_bytes`) that a sweep killed
    on the way left for these names, once they are an hour old (a younger one may be another sweep's
    write in flight). Never read by any command; removed so they do not pile up."""
    now = time.time()
    for name in names:
        for tmp in out_dir.glob(f".{glob.escape(name)}.*.tmp"):
            try:
                if now - tmp.stat().st_mtime > ORPHAN_AGE_S:
                    tmp.unlink()
            except OSError:
                pass  # gone already, or not ours to remove: it is ignored either way


__all__ = [
    "FILES", "FRONT_CSV", "FRONT_JSON", "FRONT_PARQUET", "POINTS_CSV", "POINTS_PARQUET", "SUMMARY_JSON",
    "model_styles", "plot_projection", "plot_ratio_heatmap", "render_sweep", "summary", "summary_frame", "sweep_figures", "write_sweep",
]  # fmt: skip
