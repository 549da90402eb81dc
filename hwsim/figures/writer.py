"""Write the figures: PNG + PDF + CSV of the plotted data per figure, ``figures.md`` (the index) and
``paper-check.md``; every file atomic and byte-for-byte deterministic."""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_write_bytes, atomic_write_text
from ..plotting import render_figure, styled
from .paper_check import paper_check_frame, paper_check_markdown
from .registry import Context, get_figure, list_figures

FLOAT_FORMAT = "%.9g"
INDEX = "figures.md"
PAPER_CHECK = "paper-check.md"


def csv_text(frame) -> str:
    return frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def file_names(only: list[str] | None = None) -> list[str]:
    """Every file :func:`write_figures` may write for the figures ``only`` names (default: all)."""
    names = only if only else list_figures()
    return [f"{n}{suffix}" for n in names for suffix in (".csv", ".png", ".pdf")] + [INDEX, PAPER_CHECK]


def write_figures(ctx: Context, out_dir: Path | str, only: list[str] | None = None) -> list[Path]:
    """Build and write the figures ``only`` names (default: all); returns the written paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    names = only if only else list_figures()
    figs = [get_figure(n) for n in names]  # unknown names: one error before anything is written
    out_dir = Path(out_dir)
    written: list[Path] = []
    index = [
        "# Figures",
        "",
        "Written by `hwsim figures`; each figure as PNG, PDF and the CSV of its plotted data.",
        "",
    ]
    for fig_def in figs:
        fig_ctx = ctx.for_figure(fig_def)
        with styled():
            data = fig_def.data(fig_ctx)
            fig = fig_def.plot(data) if data is not None and not data.empty else None
            if fig is None:
                if ctx.runs is None:
                    why = f"none of its tracked runs ({', '.join(fig_def.default_runs)}) found"
                else:
                    why = "no runs given" if not ctx.runs else "its runs are missing from the runs given"
                index.append(f"- **{fig_def.name}**: NOT DRAWN ({why}): {fig_def.description}. "
                             f"Produce its runs with: `{fig_def.command}`")  # fmt: skip
                continue
            stem = out_dir / fig_def.name
            written.append(atomic_write_text(stem.with_suffix(".csv"), csv_text(data)))
            for suffix in (".png", ".pdf"):
                written.append(atomic_write_bytes(stem.with_suffix(suffix), render_figure(fig, suffix)))
        source = fig_def.source
        if fig_def.needs_runs:
            given = "" if ctx.runs is not None else f" ({', '.join(fig_def.default_runs)})"
            source += f" of {len(fig_ctx.runs)} run dir(s){given}"
        index.append(f"- **{fig_def.name}** (`{fig_def.name}.png`, `.pdf`, data `{fig_def.name}.csv`): "
                     f"{fig_def.description}. Data: {source}.")  # fmt: skip
    written.append(atomic_write_text(out_dir / INDEX, "\n".join(index) + "\n"))
    written.append(atomic_write_text(out_dir / PAPER_CHECK, paper_check_markdown(paper_check_frame(ctx))))
    return written
