"""The one place the report touches files: tables and figures, each written atomically
(:func:`hwsim.io.atomic_write_bytes`), and deterministically, so that reporting the same runs twice
gives byte-identical files and regenerated figures never show up as changed in git.

PNG and PDF carry no timestamp and no software version: the PNG ``Software`` key and the PDF
``Creator`` / ``Producer`` / ``CreationDate`` entries are dropped (matplotlib writes them by default).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..config import HardwareSpec
from ..errors import HwsimError
from ..formats import OutputFormat, render_frame
from ..io import atomic_write_bytes, atomic_write_text
from .join import _CONFIGS, aggregate_seeds, report_frame, seed_groups
from .plots import report_figures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_CSV = "report.csv"
REPORT_JSON = "report.json"
REPORT_SEEDS_CSV = "report-seeds.csv"
REPORT_SEEDS_JSON = "report-seeds.json"
DPI = 200

# Columns of the terminal table and Markdown views (CSV and JSON carry every column).
REPORT_VIEW = [
    "run", "method", "arch", "checkpoint", "lam", "lambda_th", "attack", "clean_acc", "robust_acc", "params",
    "memory_mb", "macs", "delay_ns", "delay_base_ns", "mean_epoch_time_s",
]  # fmt: skip

# The seed-aggregated view, shown after the per-run table.
SEED_VIEW = [
    "run", "method", "checkpoint", "lam", "lambda_th", "attack", "seeds", "clean_acc_mean", "clean_acc_std",
    "robust_acc_mean", "robust_acc_std", "memory_mb", "delay_ns",
]  # fmt: skip

# savefig options per file type: no timestamps or versions in the files (see the module docstring).
FIGURE_FORMATS = {
    ".png": {"dpi": DPI, "metadata": {"Software": None}},
    ".pdf": {"metadata": {"Creator": None, "Producer": None, "CreationDate": None}},
}


def render_figure(fig: Figure, suffix: str) -> bytes:
    """``fig`` as PNG (200 dpi) or PDF bytes, tight bounding box, without metadata that changes."""
    if suffix not in FIGURE_FORMATS:
        raise HwsimError(f"unknown figure type {suffix!r}; use one of {', '.join(FIGURE_FORMATS)}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=suffix[1:], bbox_inches="tight", **FIGURE_FORMATS[suffix])
    return buffer.getvalue()


def write_figure(fig: Figure, path_stem: Path | str) -> list[Path]:
    """Write ``path_stem`` + .png and .pdf atomically; returns their paths."""
    path_stem = Path(path_stem)
    return [atomic_write_bytes(path_stem.with_suffix(suffix), render_figure(fig, suffix)) for suffix in FIGURE_FORMATS]


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

    Returns the report text in ``fmt`` (table / csv / json / markdown; table and markdown show the
    :data:`REPORT_VIEW` columns, followed by the :data:`SEED_VIEW` of the aggregated frame when there
    is one; csv and json the per-run frame only) and the written paths. ``plots=False`` writes the
    tables only.
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
    if plots:
        for stem, fig in report_figures(seeds if seeds is not None else frame).items():
            written += write_figure(fig, out_dir / stem)
    if fmt is OutputFormat.json:
        text = render_frame(json_frame, fmt, title)
    elif fmt is OutputFormat.csv:
        text = render_frame(frame, fmt, title)
    else:
        text = render_frame(frame[REPORT_VIEW], fmt, title)
        if seeds is not None:
            text += "\n" + render_frame(seeds[SEED_VIEW], fmt, seeds_title)
    return text, written


__all__ = [
    "REPORT_CSV", "REPORT_JSON", "REPORT_SEEDS_CSV", "REPORT_SEEDS_JSON", "REPORT_VIEW", "SEED_VIEW",
    "render_figure", "write_figure", "write_report",
]  # fmt: skip
