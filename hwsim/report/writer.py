"""The one place the report touches files: tables and figures, each written atomically
(:func:`hwsim.io.atomic_write_bytes`), and deterministically, so that reporting the same runs twice
gives byte-identical files and regenerated figures never show up as changed in git.

PNG and PDF are rendered by :func:`hwsim.plotting.save_figure` (the one save of every hwsim figure):
no timestamp and no software version in them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..config import HardwareSpec
from ..errors import HwsimError
from ..formats import OutputFormat, render_frame
from ..io import atomic_write_text
from ..plotting import render_figure, save_figure
from .join import _CONFIGS, TABLE1_NOTE, aggregate_seeds, is_sparse, report_frame, seed_groups, table1_frame
from .plots import _safe_name, plot_channel_heatmap, report_figures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_CSV = "report.csv"
REPORT_JSON = "report.json"
REPORT_SEEDS_CSV = "report-seeds.csv"
REPORT_SEEDS_JSON = "report-seeds.json"
TABLE1_CSV = "table1.csv"
TABLE1_JSON = "table1.json"

# Columns of the terminal table and Markdown views (CSV and JSON carry every column).
REPORT_VIEW = [
    "run", "method", "arch", "checkpoint", "lam", "lambda_th", "attack", "clean_acc", "robust_acc", "params",
    "memory_mb", "macs", "delay_ns", "delay_base_ns", "mean_epoch_time_s", "collapsed",
]  # fmt: skip

# The seed-aggregated view, shown after the per-run table.
SEED_VIEW = [
    "run", "method", "checkpoint", "lam", "lambda_th", "attack", "seeds", "clean_acc_mean", "clean_acc_std",
    "robust_acc_mean", "robust_acc_std", "memory_mb", "delay_ns", "collapsed",
]  # fmt: skip

# The Table 1 view (paper Table 1), printed after the report when a run is sparse or slimmable.
TABLE1_VIEW = [
    "run", "method", "density", "sf", "ca_lam0", "ra_lam0", "ca_lam1", "ra_lam1", "cr", "cr_analytic", "effective_cr",
    "crf", "crf_analytic",
    "storage_bytes", "storage_format", "eq7_speedup", "paper_ca_lam0", "paper_ra_lam0", "paper_ca_lam1",
    "paper_ra_lam1", "paper_cr", "paper_crf",
]  # fmt: skip


def write_figure(fig: Figure, path_stem: Path | str) -> list[Path]:
    """Write ``path_stem`` + .png and .pdf atomically (:func:`hwsim.plotting.save_figure`); returns
    their paths."""
    return save_figure(fig, path_stem)


def _json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """NaN -> None so the JSON is valid (json.dumps would write NaN)."""
    out = frame.astype(object).where(frame.notna(), None)
    out.attrs = {k: v for k, v in frame.attrs.items() if k != _CONFIGS}
    return out


def write_report(
    run_dirs: list[Path],
    out_dir: Path,
    spec: HardwareSpec | None = None,
    attribution: str = "paper",
    fmt: str | OutputFormat = "table",
    *,
    plots: bool = True,
    heatmap: str | None = None,
) -> tuple[str, list[Path]]:
    """Build the report of ``run_dirs`` and write ``report.csv``, ``report.json`` and, per attack,
    ``tradeoff-<attack>.png/.pdf`` and ``memory-accuracy-<attack>.png/.pdf`` (plus
    ``training-time.png/.pdf``) into ``out_dir``.

    ``spec`` costs every run when given; otherwise each run's model spec, else the default
    (:func:`~hwsim.report.join.report_frame`). When runs named ``<base>-seed<N>`` form a group of more
    than one run, the seed-aggregated frame (:func:`~hwsim.report.join.aggregate_seeds`) is written
    too, as ``report-seeds.csv`` / ``report-seeds.json``, and the plots draw its series (means with
    standard-deviation error bars); otherwise a stale ``report-seeds.*`` of an earlier report in
    ``out_dir`` is removed.

    When a run is sparse or slimmable (FLOATS, FLOAT / OAT slim), the paper's Table 1 view
    (:func:`~hwsim.report.join.table1_frame`, of the seed-aggregated frame when there is one) is
    written as ``table1.csv`` / ``table1.json`` (else a stale one is removed), and a slimmable run
    adds the Fig. 9 plot ``slim-<attack>.png/.pdf``. ``heatmap``: a conv layer name; its Fig. 5(a)
    channel heatmap of every sparse run is written as ``heatmap-<layer>.png/.pdf`` (this reads the
    checkpoints, so it needs torch; a dense run is skipped with a warning, an unknown layer is one
    error line before anything is written).

    Returns the report text in ``fmt`` (table / csv / json / markdown; table and markdown show the
    :data:`REPORT_VIEW` columns, followed by the :data:`SEED_VIEW` of the aggregated frame when there
    is one and the :data:`TABLE1_VIEW` when a run is sparse; csv and json the per-run frame only) and
    the written paths. ``plots=False`` writes the tables only (and no heatmap).
    """
    try:
        fmt = OutputFormat(fmt)
    except ValueError:
        raise HwsimError(f"unknown format {fmt!r}; use one of {', '.join(f.value for f in OutputFormat)}") from None
    frame = report_frame(run_dirs, spec=spec, attribution=attribution)
    layers = _heatmap_layers(run_dirs, heatmap) if heatmap is not None and plots else []
    out_dir = Path(out_dir)
    title = f"accuracy and cost of {frame['run'].nunique()} run(s) on {frame.attrs['spec']} ({attribution} attribution)"
    json_frame = _json_ready(frame)
    written = [
        atomic_write_text(out_dir / REPORT_CSV, frame.to_csv(index=False)),
        atomic_write_text(out_dir / REPORT_JSON, render_frame(json_frame, OutputFormat.json, title)),
    ]
    seeds = None
    if any(len(runs) > 1 for runs in seed_groups(frame["run"]).values()):
        seeds = aggregate_seeds(frame)
        seeds_title = (
            f"mean ± std over seeds: {seeds['run'].nunique()} series of {frame['run'].nunique()} run(s) "
            f"on {frame.attrs['spec']} ({attribution} attribution)"
        )
        written += [
            atomic_write_text(out_dir / REPORT_SEEDS_CSV, seeds.to_csv(index=False)),
            atomic_write_text(
                out_dir / REPORT_SEEDS_JSON, render_frame(_json_ready(seeds), OutputFormat.json, seeds_title)
            ),
        ]
    else:
        for stale in (REPORT_SEEDS_CSV, REPORT_SEEDS_JSON):  # from an earlier report with seed groups
            try:
                (out_dir / stale).unlink(missing_ok=True)
            except OSError as exc:
                raise HwsimError(f"{out_dir / stale}: cannot remove the stale file: {exc.strerror or exc}") from None
    table1 = None
    if is_sparse(frame):
        table1 = table1_frame(seeds if seeds is not None else frame)
        table1_title = f"paper Table 1 view: {len(table1)} run(s), {table1['attack'].iloc[0]}"
        written += [
            atomic_write_text(out_dir / TABLE1_CSV, table1.to_csv(index=False)),
            atomic_write_text(
                out_dir / TABLE1_JSON, render_frame(_json_ready(table1), OutputFormat.json, table1_title)
            ),
        ]
    else:
        _remove_stale(out_dir, (TABLE1_CSV, TABLE1_JSON))
    if plots:
        for stem, fig in report_figures(seeds if seeds is not None else frame).items():
            written += write_figure(fig, out_dir / stem)
        if layers:
            panels = [(f"{c.label} ({c.run})", c.weight, c.mask) for c in layers]
            written += write_figure(plot_channel_heatmap(heatmap, panels), out_dir / f"heatmap-{_safe_name(heatmap)}")
    if fmt is OutputFormat.json:
        text = render_frame(json_frame, fmt, title)
    elif fmt is OutputFormat.csv:
        text = render_frame(frame, fmt, title)
    else:
        text = render_frame(frame[REPORT_VIEW], fmt, title)
        if seeds is not None:
            text += "\n" + render_frame(seeds[SEED_VIEW], fmt, seeds_title)
        if table1 is not None:
            text += "\n" + render_frame(table1[TABLE1_VIEW], fmt, table1_title, note=TABLE1_NOTE)
    return text, written


def _remove_stale(out_dir: Path, names) -> None:
    for stale in names:  # from an earlier report
        try:
            (out_dir / stale).unlink(missing_ok=True)
        except OSError as exc:
            raise HwsimError(f"{out_dir / stale}: cannot remove the stale file: {exc.strerror or exc}") from None


def _heatmap_layers(run_dirs: list[Path], layer: str) -> list:
    """The conv ``layer`` of every sparse run (read from the checkpoints, with torch); a dense run is
    skipped with one warning line, an unknown layer is one error line."""
    import warnings

    from ..errors import HwsimWarning
    from .masks import load_conv_layer

    if not layer.strip():
        raise HwsimError("--heatmap: empty layer name")
    found = []
    for run_dir in dict.fromkeys(Path(d) for d in run_dirs):
        conv = load_conv_layer(run_dir, layer)
        if conv is None:
            warnings.warn(
                f"--heatmap: {run_dir} is a dense run (no sparsity masks); skipped", HwsimWarning, stacklevel=2
            )
        else:
            found.append(conv)
    return found


__all__ = [
    "REPORT_CSV", "REPORT_JSON", "REPORT_SEEDS_CSV", "REPORT_SEEDS_JSON", "REPORT_VIEW", "SEED_VIEW",
    "TABLE1_CSV", "TABLE1_JSON", "TABLE1_VIEW",
    "render_figure", "write_figure", "write_report",
]  # fmt: skip
