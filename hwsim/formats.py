"""Render estimates and comparisons as a terminal table, CSV, JSON or Markdown.

Estimates render from plain rows (no pandas: a cached ``hwsim estimate`` never imports it);
:func:`render_frame` takes a DataFrame for the commands that already have one.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from enum import Enum
from typing import Any

from .costs.metrics import METRICS, total_rules
from .estimate import Estimate
from .methods import get_method


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


# Per-layer columns shown in the table and Markdown views (CSV and JSON carry every column).
LAYER_VIEW = [
    "name", "op", "kernel_h", "in_channels", "out_channels", "stride_h", "in_h", "out_h",
    "weight_params", "macs", "noisy", "film_channels", "bn_params", "delay_base_ns", "delay_ns",
    "hier_latency_ns", "hier_bound", "hier_energy_pj",
]  # fmt: skip
MB = 1e6
UJ = 1e6  # pJ per microjoule


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _absent(value: Any) -> bool:
    """None, NaN or an infinity: a value that is not there (and never printed as a number)."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars made plain and NaN / infinities made None, all the way down."""
    value = _plain(value)
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return None if _absent(value) else value


def json_text(data: Any) -> str:
    """THE JSON writer of hwsim's outputs: strict JSON (no NaN / Infinity tokens; absent values are null)."""
    return json.dumps(json_ready(data), indent=2, allow_nan=False) + "\n"


def _fmt(value) -> str:
    value = _plain(value)
    if _absent(value):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _is_number(values: Sequence[Any]) -> bool:
    return all(isinstance(_plain(v), (int, float)) and not isinstance(_plain(v), bool) for v in values)


def rich_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(str(col), justify="right" if rows and _is_number([r[i] for r in rows]) else "left")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row))
    buffer = io.StringIO()
    # cells are data, never markup or emoji codes (a run named "[bold]" or ":x:" prints as it is)
    Console(file=buffer, width=max(120, 14 * len(columns)), force_terminal=False, markup=False, emoji=False).print(
        table
    )
    return buffer.getvalue()


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    header = "| " + " | ".join(str(c) for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join([header, rule, *body]) + "\n"


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if _absent(_plain(v)) else _plain(v) for v in row] for row in rows])
    return buffer.getvalue()


def totals_row(estimate: Estimate) -> tuple[list[str], list[Any]]:
    t = estimate.totals.model_dump()
    return ["model", "method", "spec", *t], [
        estimate.model["name"],
        estimate.model["method"],
        estimate.spec.name,
        *t.values(),
    ]


# Curated summary lines; any other registered total (a new metric) gets a generic line below them.
_CURATED = {
    "params", "weight_bytes", "weight_bytes_fig8b", "conv_linear_bytes", "film_bytes", "bn_bytes", "alpha_bytes",
    "macs", "effective_macs", "flops", "sparse_overhead_bytes", "storage_bytes", "noise_add_ops", "film_mod_ops", "delay_ns", "delay_base_ns", "layers", "conv_layers", "conv_delay_ns",
    "energy_pj", "energy_read_pj", "energy_compute_pj", "activation_energy_pj",
    *(t.name for t in total_rules() if t.name.startswith("hier_")),
}  # fmt: skip
LEVELS = (("compute", "compute"), ("dram", "DRAM"), ("glb", "buffer"), ("local", "local"))


def bound_of(layer: dict[str, Any]) -> str:
    """Which term of the hierarchy model's roofline sets a layer's latency (its largest cycle count)."""
    cycles = {label: layer[f"hier_{key}_cycles"] for key, label in LEVELS}
    return max(cycles, key=cycles.get)


# Per-layer view columns derived from a layer's metrics: name -> (the metric it needs, how)
DERIVED_COLUMNS = {"hier_bound": ("hier_latency_ns", bound_of)}


def hierarchy_rows(estimate: Estimate) -> list[tuple[str, str]]:
    """The memory-hierarchy model's lines (hwsim.costs.hierarchy), for a spec with a hierarchy section."""
    t, h = estimate.totals, estimate.spec.hierarchy
    bounds: dict[str, int] = {}
    for layer in estimate.layers:
        label = bound_of(layer)
        bounds[label] = bounds.get(label, 0) + 1
    bound = ", ".join(f"{label} {bounds[label]}" for _, label in LEVELS if label in bounds)
    cycles = " / ".join(f"{getattr(t, f'hier_{key}_cycles') / 1e6:,.3f}" for key, _ in LEVELS)
    return [
        (
            f"latency, hierarchy model ({h.dataflow}, {h.array.rows} x {h.array.cols} PEs at {h.clock_mhz:g} MHz)",
            f"{t.hier_latency_ns / 1e6:,.3f} ms",
        ),
        ("  layers bound by", bound),
        ("  cycles: compute / DRAM / buffer / local (millions)", cycles),
        ("energy per inference, hierarchy model", f"{t.hier_energy_pj / UJ:,.2f} uJ"),
        (
            "  DRAM / buffer / local / compute",
            " / ".join(f"{getattr(t, f'hier_{k}_pj') / UJ:,.2f}" for k in ("dram", "glb", "local", "compute")) + " uJ",
        ),
        (
            "  traffic: DRAM / buffer / local",
            " / ".join(f"{getattr(t, f'hier_{k}_bits') / 8 / MB:,.2f}" for k in ("dram", "glb", "local")) + " MB",
        ),
    ]


def summary_rows(estimate: Estimate) -> list[tuple[str, str]]:
    t = estimate.totals
    rule = get_method(estimate.model["method"])
    items = [
        ("parameters", f"{t.params:,}"),
        (f"weight memory ({estimate.spec.weight_bits}-bit, all params)", f"{t.weight_bytes / MB:.2f} MB"),
        ("weight memory (Fig. 8(b): no BN, no alpha)", f"{t.weight_bytes_fig8b / MB:.2f} MB"),
        (
            "  conv + linear / FiLM / BN / alpha",
            f"{t.conv_linear_bytes / MB:.3f} / {t.film_bytes / MB:.3f} / {t.bn_bytes / MB:.4f} / {t.alpha_bytes / MB:.6f} MB",
        ),
        *(
            [(f"  stored as {estimate.spec.sparse_format} (values + index overhead)", f"{t.storage_bytes / MB:.3f} MB")]
            if t.storage_bytes != t.weight_bytes
            else []
        ),
        ("MACs (FLOPs = 2 x MACs)", f"{t.macs:,}"),
        *(
            [("  MACs on nonzero weights (with zero skipping)", f"{t.effective_macs:,}")]
            if t.effective_macs != t.macs
            else []
        ),
        # the method's own extra ops (FLOAT's noise adds, OAT's FiLM modulation), never in MACs
        *((METRICS[op].description, f"{getattr(t, op):,}") for op in rule.extra_ops),
        (f"delay, {rule.label} ({rule.delay_rule}, {estimate.attribution} attribution)", f"{t.delay_ns / 1e6:,.3f} ms"),
        ("delay, baseline (Eq. 7)", f"{t.delay_base_ns / 1e6:,.3f} ms"),
        (
            f"energy per inference, {rule.label} (weight reads / compute)",
            f"{t.energy_pj / UJ:,.2f} uJ ({t.energy_read_pj / UJ:,.2f} / {t.energy_compute_pj / UJ:,.2f})",
        ),
        ("  activation traffic (outside the paper's model)", f"{t.activation_energy_pj / UJ:,.2f} uJ"),
        ("layers (conv)", f"{t.layers} ({t.conv_layers})"),
        *sparsity_rows(estimate),
    ]
    if estimate.spec.hierarchy is not None:
        rows = hierarchy_rows(estimate)
        if estimate.spec.cost_model == "hierarchy":  # the selected model leads; Eq. 7-9 follow for reference
            first = next(i for i, (label, _) in enumerate(items) if label.startswith("delay, "))
            items[first:first] = [*rows, ("paper model (Eq. 7-9) on the same spec, for reference", "")]
        else:
            items += rows
    for total in total_rules():
        if total.name not in _CURATED:
            items.append((f"{total.name.replace('_', ' ')} ({total.unit})", _fmt(getattr(t, total.name))))
    return items


def sparsity_rows(estimate: Estimate) -> list[tuple[str, str]]:
    """Table 1's columns for a sparse model: against the same network dense at full width."""
    sp = estimate.sparsity
    if sp is None:
        return []
    rule = get_method(estimate.model["method"])
    slim = f", SF {sp.slim_factor:g}" if sp.kind == "slim" else ""
    switches = ", ".join(
        name for name, on in (("sparse reads", estimate.spec.sparse_reads), ("zero skipping", estimate.spec.zero_skipping)) if on
    )  # fmt: skip
    return [
        ("sparsity (vs dense, full width)", f"{sp.kind}, d = {sp.target_density:g}{slim}"),
        ("  CR = dense / kept conv weights", f"{sp.cr:.2f}x ({sp.kept_conv_weights:,} of {sp.dense_conv_weights:,})"),
        (
            f"  effective CR, stored as {sp.storage_format}",
            f"{sp.effective_cr:.2f}x ({sp.storage_bits / 8 / MB:.3f} MB)",
        ),
        ("  CRF = conv input channels, full / present", f"{sp.crf:.2f}x"),
        (f"  Eq. 7 speed-up ({switches or 'no sparse reads, no zero skipping'})", f"{sp.eq7_speedup:.2f}x"),
        (f"  {rule.label} delay speed-up ({rule.delay_rule})", f"{sp.speedup:.2f}x"),
    ]


def render_estimate(estimate: Estimate, fmt: OutputFormat, per_layer: bool) -> str:
    """Text of one estimate in the chosen format. JSON always carries every layer."""
    if fmt is OutputFormat.json:
        return json_text(estimate.model_dump(mode="json"))
    layer_columns = list(estimate.layers[0]) if estimate.layers else []
    if fmt is OutputFormat.csv:
        if per_layer:
            return csv_text(layer_columns, [list(layer.values()) for layer in estimate.layers])
        columns, values = totals_row(estimate)
        return csv_text(columns, [values])
    cond = estimate.condition
    title = (
        f"{estimate.model['name']}: {estimate.model['arch']} / {estimate.model['method']} on "
        f"{estimate.spec.name} (lambda={cond['lambda']}, lambda_th={cond['lambda_th']})"
    )
    summary = summary_rows(estimate)
    layers = estimate.layers
    for name, (needs, derive) in DERIVED_COLUMNS.items():
        if needs in layer_columns:
            layers = [{**layer, name: derive(layer)} for layer in layers]
            layer_columns = [*layer_columns, name]
    view = [c for c in LAYER_VIEW if c in layer_columns]
    view_rows = [[layer[c] for c in view] for layer in layers]
    if fmt is OutputFormat.markdown:
        text = f"### {title}\n\n" + markdown_table(["quantity", "value"], summary)
        return text + ("\n" + markdown_table(view, view_rows) if per_layer else "")
    text = rich_table(["quantity", "value"], summary, title)
    return text + (rich_table(view, view_rows, "per layer") if per_layer else "")


def render_frame(frame, fmt: OutputFormat, title: str, note: str | None = None) -> str:
    """A frame with its title; ``note`` (e.g. a spec's calibration) is printed under the table and
    Markdown views. JSON carries the frame's attrs (put the note there too); CSV stays bare."""
    if fmt is OutputFormat.json:
        return json_text({"title": title, **frame.attrs, "rows": frame.to_dict(orient="records")})
    if fmt is OutputFormat.csv:
        return csv_text([str(c) for c in frame.columns], list(frame.itertuples(index=False)))
    tail = f"{note}\n" if note else ""
    rows = list(frame.itertuples(index=False))
    if fmt is OutputFormat.markdown:
        return f"### {title}\n\n" + markdown_table(list(frame.columns), rows) + (f"\n{tail}" if tail else "")
    return rich_table(list(frame.columns), rows, title) + tail


__all__ = ["OutputFormat", "json_text", "render_estimate", "render_frame"]
