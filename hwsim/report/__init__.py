"""Accuracy joined with hardware cost: the report of trained and evaluated runs, and the paper's plots.

A run directory (``reports/runs/<name>/``) holds ``run.json`` (config and per-epoch history) and
``results.json`` (CA and RA per checkpoint, lambda, lambda_th and attack), written by the runner and
read through :mod:`hwsim.runfiles`. Data flows one way, runner -> run files -> report: nothing here
imports the runner or torch (costing a model whose layer table is not cached walks it with torch).

* :mod:`hwsim.report.join`: :func:`report_frame` joins every accuracy point with the cost of the
  same model at the same condition; :func:`aggregate_seeds` averages runs named ``<base>-seed<N>``
  (mean and sample standard deviation of CA and RA); :func:`plotted_rows` / :func:`boundary_points`
  pick what the figures draw;
* :mod:`hwsim.report.plots`: the figures (trade-off, Fig. 6 / 7; memory vs accuracy, Fig. 1;
  training time, Fig. 8(a); slimmable models, Fig. 9; channel heatmap, Fig. 5(a)) as matplotlib
  figures, no file I/O; :func:`table1_frame` is the paper's Table 1 view of sparse runs;
* :mod:`hwsim.report.masks`: one conv's weights and mask from a checkpoint (torch, lazily; only for
  ``--heatmap``);
* :mod:`hwsim.report.writer`: :func:`write_report` writes the tables and figures, atomically and
  byte-for-byte reproducibly.

>>> from hwsim.report import report_frame, write_report
>>> frame = report_frame([Path("reports/runs/r20-float"), Path("reports/runs/r20-oat")])
>>> text, paths = write_report([...], Path("reports/compare"), fmt="markdown")
"""

from __future__ import annotations

from .join import (
    COLUMNS,
    COST_COLUMNS,
    MODEL_COLUMNS,
    PAPER_TABLE1,
    SEED_COLUMNS,
    SEED_INSENSITIVE_MODEL,
    SEED_INSENSITIVE_TRAIN,
    SPARSITY_COLUMNS,
    TABLE1_COLUMNS,
    TABLE1_NOTE,
    aggregate_seeds,
    at_eval_slim_factor,
    boundary_points,
    check_seed_group,
    condition_config,
    cost_at,
    is_sparse,
    method_label,
    plotted_rows,
    report_frame,
    run_masks,
    run_spec_path,
    seed_base,
    seed_groups,
    slim_config,
    table1_frame,
)  # fmt: skip
from .plots import (
    channel_densities,
    channel_heatmap_values,
    plot_channel_heatmap,
    plot_memory_accuracy,
    plot_slim,
    plot_tradeoff,
    plot_training_time,
    report_figures,
)  # fmt: skip
from .writer import (
    REPORT_CSV,
    REPORT_JSON,
    REPORT_SEEDS_CSV,
    REPORT_SEEDS_JSON,
    REPORT_VIEW,
    SEED_VIEW,
    TABLE1_CSV,
    TABLE1_JSON,
    TABLE1_VIEW,
    render_figure,
    write_figure,
    write_report,
)  # fmt: skip

__all__ = [
    "COLUMNS", "COST_COLUMNS", "REPORT_VIEW", "SEED_COLUMNS", "SEED_VIEW", "SEED_INSENSITIVE_TRAIN",
    "SEED_INSENSITIVE_MODEL", "REPORT_CSV", "REPORT_JSON", "REPORT_SEEDS_CSV", "REPORT_SEEDS_JSON",
    "report_frame", "run_spec_path", "cost_at", "condition_config", "seed_base", "seed_groups",
    "check_seed_group", "aggregate_seeds", "plotted_rows", "boundary_points", "plot_tradeoff", "plot_memory_accuracy",
    "plot_training_time", "report_figures", "render_figure", "write_figure", "write_report",
    "MODEL_COLUMNS", "PAPER_TABLE1", "SPARSITY_COLUMNS", "TABLE1_COLUMNS", "TABLE1_NOTE", "TABLE1_CSV", "TABLE1_JSON",
    "TABLE1_VIEW", "at_eval_slim_factor", "is_sparse", "method_label", "run_masks", "slim_config", "table1_frame",
    "plot_slim", "plot_channel_heatmap", "channel_heatmap_values", "channel_densities",
]  # fmt: skip
