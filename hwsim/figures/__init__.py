"""``hwsim figures``: the paper's figures from hwsim's estimates (analytic) and from evaluated runs.

* :mod:`hwsim.figures.registry`: name -> :class:`FigureDef` (description, data builder, plot
  builder, needs_runs, the command producing its runs) and the :class:`Context`;
* :mod:`hwsim.figures.analytic`: fig8b, fig8c, table1-costs, fig1-memory (no training);
* :mod:`hwsim.figures.runs`: the run-based figures (fig1, fig6, fig7, fig8a, fig9, table1, fig3,
  fig4, fig10-*), each reading its own tracked digits runs unless runs are given;
* :mod:`hwsim.figures.paper_check`: ``paper-check.md``;
* :mod:`hwsim.figures.writer`: PNG + PDF + CSV per figure, ``figures.md``, atomic and deterministic.

The style, colours, markers and the deterministic save are :mod:`hwsim.plotting`'s, shared with
``hwsim report`` and ``hwsim sweep``.
"""

from __future__ import annotations

from .registry import REGISTRY, Context, FigureDef, default_runs, get_figure, list_figures
from .writer import write_figures

__all__ = ["REGISTRY", "Context", "FigureDef", "default_runs", "get_figure", "list_figures", "write_figures"]
