"""Render estimates and comparisons as a terminal table, CSV, JSON or Markdown."""

from __future__ import annotations

import io
import json
from enum import Enum

import pandas as pd
from rich.console import Console
from rich.table import Table

from .estimate import Estimate


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


# Per-layer columns shown in the table and Markdown views (CSV and JSON carry every column).
LAYER_VIEW = [
    "name", "op", "kernel_h", "in_channels", "out_channels", "stride", "in_h", "out_h",
    "weight_params", "macs", "noisy", "film_channels", "bn_params", "delay_base_ns", "delay_ns",
]  # fmt: skip


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def totals_frame(estimate: Estimate) -> pd.DataFrame:
    t = estimate.totals.model_dump()
    return pd.DataFrame([{"model": estimate.model["name"], "method": estimate.model["method"], "spec": estimate.spec.name, **t}])


def _rich_table(frame: pd.DataFrame, title: str) -> str:
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(col, justify="right" if pd.api.types.is_numeric_dtype(frame[col]) else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v.item() if hasattr(v, "item") else v) for v in row))
    buffer = io.StringIO()
    Console(file=buffer, width=max(120, 14 * len(frame.columns)), force_terminal=False).print(table)
    return buffer.getvalue()


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v.item() if hasattr(v, "item") else v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def _summary_frame(estimate: Estimate) -> pd.DataFrame:
    t = estimate.totals
    mb = 1e6
    items = [
        ("parameters", f"{t.params:,}"),
        (f"weight memory ({estimate.spec.weight_bits}-bit, all params)", f"{t.weight_bytes / mb:.2f} MB"),
        ("weight memory (Fig. 8(b): no BN, no alpha)", f"{t.weight_bytes_fig8b / mb:.2f} MB"),
        ("  conv + linear / FiLM / BN / alpha", f"{t.conv_linear_bytes / mb:.3f} / {t.film_bytes / mb:.3f} / {t.bn_bytes / mb:.4f} / {t.alpha_bytes / mb:.6f} MB"),
        ("MACs (FLOPs = 2 x MACs)", f"{t.macs:,}"),
        ("FLOAT noise adds / FiLM modulation ops", f"{t.noise_add_ops:,} / {t.film_mod_ops:,}"),
        (f"delay, {estimate.model['method']} (Eq. 7-9, {estimate.attribution})", f"{t.delay_ns / 1e6:,.3f} ms"),
        ("delay, baseline (Eq. 7)", f"{t.delay_base_ns / 1e6:,.3f} ms"),
        ("layers (conv)", f"{t.layers} ({t.conv_layers})"),
    ]
    return pd.DataFrame(items, columns=["quantity", "value"])


def render_estimate(estimate: Estimate, fmt: OutputFormat, per_layer: bool) -> str:
    """Text of one estimate in the chosen format. JSON always carries every layer."""
    layers = estimate.layer_frame()
    if fmt is OutputFormat.json:
        return json.dumps(estimate.model_dump(mode="json"), indent=2) + "\n"
    if fmt is OutputFormat.csv:
        frame = layers if per_layer else totals_frame(estimate)
        return frame.to_csv(index=False)
    cond = estimate.condition
    title = (
        f"{estimate.model['name']}: {estimate.model['arch']} / {estimate.model['method']} on "
        f"{estimate.spec.name} (lambda={cond['lambda']}, lambda_th={cond['lambda_th']})"
    )
    summary = _summary_frame(estimate)
    view = layers[[c for c in LAYER_VIEW if c in layers.columns]]
    if fmt is OutputFormat.markdown:
        text = f"### {title}\n\n" + _markdown(summary)
        return text + ("\n" + _markdown(view) if per_layer else "")
    text = _rich_table(summary, title)
    return text + (_rich_table(view, "per layer") if per_layer else "")


def render_frame(frame: pd.DataFrame, fmt: OutputFormat, title: str, note: str | None = None) -> str:
    """A frame with its title; ``note`` (e.g. a spec's calibration) is printed under the table and
    Markdown views. JSON carries the frame's attrs (put the note there too); CSV stays bare."""
    if fmt is OutputFormat.json:
        return json.dumps({"title": title, **frame.attrs, "rows": frame.to_dict(orient="records")}, indent=2) + "\n"
    if fmt is OutputFormat.csv:
        return frame.to_csv(index=False)
    tail = f"{note}\n" if note else ""
    if fmt is OutputFormat.markdown:
        return f"### {title}\n\n" + _markdown(frame) + (f"\n{tail}" if tail else "")
    return _rich_table(frame, title) + tail
