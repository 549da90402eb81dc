"""Analytic figures: built from estimates of the shipped models, no training needed."""

from __future__ import annotations

import pandas as pd

from ..methods import AT, FILM, PROPOSED, get_method, method_for_role
from ..plotting import label_bars, label_color, marker, method_color, new_figure, plot_function
from .registry import Context, FigureDef, register

#: (model label, data set, stem prefix of models/<prefix>-<method>.yaml): the paper's Fig. 8 / Fig. 1 models.
FIG8_MODELS = [
    ("ResNet34", "CIFAR-10", "resnet34-cifar10"),
    ("WRN16-8", "SVHN", "wrn16_8-svhn"),
    ("WRN40-2", "STL-10", "wrn40_2-stl10"),
]
#: (method, label) of the paper's Fig. 8 comparison: the proposed method, the FiLM baseline, the
#: adversarial-training baseline (asked of the registry by role; the first is what the ratios divide by).
FIG8_METHODS = [(m, get_method(m).label) for m in map(method_for_role, (PROPOSED, FILM, AT))]
REFERENCE = FIG8_METHODS[0][0]
CONVENTIONS = [
    ("weight_bytes_fig8b", "Fig. 8(b): no BN, no alpha"),
    ("weight_bytes", "full: every parameter"),
]
#: (label, shipped model stem) of the paper's Table 1 (the method is the model file's)
TABLE1_MODELS = [
    ("FLOAT", "resnet34-cifar10-float"),
    ("FLOATS-i", "resnet34-cifar10-floats-i"),
    ("FLOATS-c", "resnet34-cifar10-floats-c"),
    ("FLOATS slim", "resnet34-cifar10-floats-slim"),
]
STATS = ["min", "max", "mean"]


SHORT = {"ResNet34": "R34", "WRN16-8": "W16-8", "WRN40-2": "W40-2"}


def _grouped_bars(ax, groups: list[str], series: list[tuple[str, str, list[float]]], annotate: bool = True):
    """Bars of ``series`` (label, colour, values per group) side by side in each of ``groups``."""
    width = 0.8 / len(series)
    for i, (label, colour, values) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, color=colour, label=label, edgecolor="black", linewidth=0.3)
        if annotate:  # many groups: label only the bars that differ from 1, upright (narrow bars)
            many = len(groups) > 3
            texts = [None if many and abs(v - 1) < 0.005 else f"{v:.2f}" for v in values]
            label_bars(ax, bars, texts, fontsize=5, upright=many)
    ax.grid(False, axis="x")
    ax.set_xticks(range(len(groups)), groups)
    top = max(max(values) for _, _, values in series)
    ax.set_ylim(0, top * 1.22)


# -- Fig. 8(b) ------------------------------------------------------------------------------


def fig8b_data(ctx: Context) -> pd.DataFrame:
    rows = []
    for model, dataset, prefix in FIG8_MODELS:
        ests = {m: ctx.estimate(f"{prefix}-{m}") for m, _ in FIG8_METHODS}
        for key, _ in CONVENTIONS:
            ref = getattr(ests[REFERENCE].totals, key)
            for m, label in FIG8_METHODS:
                value = getattr(ests[m].totals, key)
                rows.append(
                    {
                        "model": model,
                        "dataset": dataset,
                        "method": m,
                        "label": label,
                        "convention": key,
                        "bytes": int(value),
                        "mb": value / 1e6,
                        "ratio_to_float": value / ref,
                    }
                )
    return pd.DataFrame(rows)


@plot_function
def fig8b_plot(data: pd.DataFrame):
    fig, axes = new_figure(ncols=2, width=8.0, height=3.2)
    for ax, (key, title) in zip(axes, CONVENTIONS):
        part = data[data["convention"] == key]
        groups = [f"{m}\n{d}" for m, d, _ in FIG8_MODELS]
        series = [
            (label, method_color(m), [float(part[(part.model == mo) & (part.method == m)]["ratio_to_float"].iloc[0])
                                      for mo, _, _ in FIG8_MODELS])
            for m, label in FIG8_METHODS
        ]  # fmt: skip
        _grouped_bars(ax, groups, series)
        ax.set_title(title)
        ax.set_ylabel("Parameter storage (normalised to FLOAT)")
    axes[0].legend(loc="upper center", ncol=3)
    fig.suptitle("Parameter storage, 8-bit weights (paper Fig. 8(b))", fontsize=9, y=1.03)
    return fig


# -- Fig. 8(c) ------------------------------------------------------------------------------


def fig8c_data(ctx: Context) -> pd.DataFrame:
    from ..estimate import compare_estimates

    rows = []
    for attribution in ("paper", "structural"):
        for model, dataset, prefix in FIG8_MODELS:
            ests = [ctx.estimate(f"{prefix}-{m}", attribution) for m, _ in FIG8_METHODS]
            frame = compare_estimates(ests)
            for (m, label), (_, row) in zip(FIG8_METHODS, frame.iterrows()):
                for stat in STATS:
                    for norm, column in ((REFERENCE, "vs_first"), ("eq7", "vs_eq7")):
                        rows.append(
                            {
                                "attribution": attribution,
                                "model": model,
                                "dataset": dataset,
                                "method": m,
                                "label": label,
                                "stat": stat,
                                "normalised_to": norm,
                                "ratio": float(row[f"conv_delay_{column}_{stat}"]),
                            }
                        )
    return pd.DataFrame(rows)


@plot_function
def fig8c_plot(data: pd.DataFrame):
    fig, axes = new_figure(ncols=2, nrows=2, width=10.0, height=6.4)
    panels = [(n, a) for n in (REFERENCE, "eq7") for a in ("paper", "structural")]
    for ax, (norm, attribution) in zip(axes, panels):
        part = data[(data.normalised_to == norm) & (data.attribution == attribution)]
        groups = [f"{SHORT[mo]}\n{s}" for mo, _, _ in FIG8_MODELS for s in STATS]
        series = []
        for m, label in FIG8_METHODS:
            sel = part[part.method == m].set_index(["model", "stat"])["ratio"]
            series.append((label, method_color(m), [float(sel[(mo, s)]) for mo, _, _ in FIG8_MODELS for s in STATS]))
        _grouped_bars(ax, groups, series)
        what = f"{FIG8_METHODS[0][1]}'s matching conv" if norm == REFERENCE else "own Eq. 7 delay ($\\tau_{conv}$)"
        ax.set_title(f"{attribution} attribution, normalised to {what}")
        ax.set_ylabel("Per-conv delay (normalised)")
    axes[0].legend(loc="upper center", ncol=3)
    fig.subplots_adjust(hspace=0.45)
    fig.suptitle("CONV layer delay, min / max / mean over convs (paper Fig. 8(c))", fontsize=9)
    return fig


# -- Table 1 costs --------------------------------------------------------------------------


def table1_costs_data(ctx: Context) -> pd.DataFrame:
    from ..report import PAPER_TABLE1

    paper = {p["label"]: p for p in PAPER_TABLE1}
    rows = []
    for label, stem in TABLE1_MODELS:
        est = ctx.estimate(stem)
        method = est.model["method"]
        s = est.sparsity
        conv_bits = (
            sum(int(r["weight_params"]) for r in est.layers if r["op"] == "conv" and r["weight_params"] > 0)
            * est.spec.weight_bits
        )
        rows.append(
            {
                "label": label,
                "method": method,
                "model": stem,
                "density": s.target_density if s else 1.0,
                "sf": s.slim_factor if s else 1.0,
                "conv_storage_mb": (s.storage_bits if s else conv_bits) / 8 / 1e6,
                "cr": s.cr if s else 1.0,
                "effective_cr": s.effective_cr if s else 1.0,
                "crf": s.crf if s else 1.0,
                "eq7_speedup": s.eq7_speedup if s else 1.0,
                "paper_cr": paper[label]["cr"],
                "paper_crf": paper[label]["crf"],
            }
        )
    return pd.DataFrame(rows)


@plot_function
def table1_costs_plot(data: pd.DataFrame):
    fig, axes = new_figure(ncols=4, width=11.0, height=3.0)
    colours = [label_color(lab, m) for lab, m in zip(data["label"], data["method"])]
    xs = range(len(data))
    panels = [
        ("conv_storage_mb", None, "Conv weight storage (MB)"),
        ("cr", "paper_cr", "CR (dense / kept conv weights)"),
        ("crf", "paper_crf", "CRF (channel reduction)"),
        ("eq7_speedup", None, "Eq. 7 speed-up vs dense"),
    ]
    for ax, (column, paper, title) in zip(axes, panels):
        bars = ax.bar(xs, data[column], color=colours, edgecolor="black", linewidth=0.3, label="hwsim")
        label_bars(ax, bars, [f"{v:.2f}" for v in data[column]])
        if paper is not None:
            ax.scatter(xs, data[paper], marker="_", s=200, color="black", zorder=3, label="paper")
            ax.legend(loc="upper left")
        ax.grid(False, axis="x")
        ax.set_xticks(list(xs), data["label"], rotation=30, ha="right")
        ax.set_title(title)
    fig.suptitle("FLOATS costs, ResNet34 / CIFAR-10 (paper Table 1)", fontsize=9, y=1.04)
    return fig


# -- Fig. 1 memory axis ---------------------------------------------------------------------

FIG1_MODELS = [("FLOAT", "resnet34-cifar10-float"), ("FLOATS-i", "resnet34-cifar10-floats-i"),
               ("OAT", "resnet34-cifar10-oat"), ("PGD-AT", "resnet34-cifar10-pgdat")]  # fmt: skip


def fig1_memory_data(ctx: Context) -> pd.DataFrame:
    rows = []
    for label, stem in FIG1_MODELS:
        est = ctx.estimate(stem)
        rows.append({"label": label, "method": est.model["method"], "model": stem,
                     "weight_bytes": int(est.totals.weight_bytes)})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["normalised_memory"] = frame["weight_bytes"] / frame["weight_bytes"].max()
    return frame


@plot_function
def fig1_memory_plot(data: pd.DataFrame):
    fig, (ax,) = new_figure(width=4.6, height=3.2)
    xs = range(len(data))
    colours = [label_color(lab, m) for lab, m in zip(data["label"], data["method"])]
    bars = ax.bar(xs, data["normalised_memory"], color=colours, edgecolor="black", linewidth=0.3)
    for x, v, m in zip(xs, data["normalised_memory"], data["method"]):
        ax.plot([x], [v], marker=marker(m), color="black", markersize=3)
    label_bars(ax, bars, [f"{v:.3f}" for v in data["normalised_memory"]], offset=3)
    ax.grid(False, axis="x")
    ax.set_xticks(list(xs), data["label"])
    ax.set_ylabel("Memory (normalised to the largest model)")
    ax.set_title("ResNet34 / CIFAR-10 memory, 8-bit (paper Fig. 1, memory axis)")
    return fig


# -- the memory-hierarchy model (hwsim.costs.hierarchy; not in the paper) ---------------------

HIER_LEVELS = [("dram", "DRAM"), ("glb", "global buffer"), ("local", "PE-local"), ("compute", "MACs / noise / FiLM")]


def fig8_hierarchy_data(ctx: Context) -> pd.DataFrame:
    spec = ctx.hierarchy_spec()
    rows = []
    for model, dataset, prefix in FIG8_MODELS:
        ests = {m: ctx.estimate(f"{prefix}-{m}", spec=spec) for m, _ in FIG8_METHODS}
        ref = ests[REFERENCE].totals
        for m, label in FIG8_METHODS:
            t = ests[m].totals
            row = {"model": model, "dataset": dataset, "method": m, "label": label, "spec": ests[m].spec.name,
                   "latency_ms": t.hier_latency_ns / 1e6, "latency_ratio_to_float": t.hier_latency_ns / ref.hier_latency_ns,
                   "energy_uj": t.hier_energy_pj / 1e6, "energy_ratio_to_float": t.hier_energy_pj / ref.hier_energy_pj}  # fmt: skip
            for key, _ in HIER_LEVELS:
                row[f"{key}_uj"] = getattr(t, f"hier_{key}_pj") / 1e6
                row[f"{key}_share_of_float"] = getattr(t, f"hier_{key}_pj") / ref.hier_energy_pj
            rows.append(row)
    return pd.DataFrame(rows)


@plot_function
def fig8_hierarchy_plot(data: pd.DataFrame):
    fig, (lat, energy) = new_figure(ncols=2, width=9.0, height=3.4)
    groups = [f"{m}\n{d}" for m, d, _ in FIG8_MODELS]
    series = [
        (label, method_color(m), [float(data[(data.model == mo) & (data.method == m)]["latency_ratio_to_float"].iloc[0])
                                  for mo, _, _ in FIG8_MODELS])
        for m, label in FIG8_METHODS
    ]  # fmt: skip
    _grouped_bars(lat, groups, series)
    lat.set_ylabel("Latency (normalised to FLOAT)")
    lat.set_title("Roofline latency")
    lat.legend(loc="upper center", ncol=3)
    # energy: one stacked bar per method and model, split by level, normalised to FLOAT's total
    width = 0.8 / len(FIG8_METHODS)
    shades = {"dram": 1.0, "glb": 0.75, "local": 0.5, "compute": 0.25}
    for i, (m, _) in enumerate(FIG8_METHODS):
        xs = [g + (i - (len(FIG8_METHODS) - 1) / 2) * width for g in range(len(FIG8_MODELS))]
        part = data[data.method == m].set_index("model").loc[[mo for mo, _, _ in FIG8_MODELS]]
        bottom = [0.0] * len(xs)
        for key, _ in HIER_LEVELS:
            values = part[f"{key}_share_of_float"].tolist()
            energy.bar(xs, values, width, bottom=bottom, color=method_color(m), alpha=shades[key],
                       edgecolor="black", linewidth=0.3)  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, values)]
        label_bars(energy, energy.containers[-1], [f"{v:.2f}" for v in bottom], fontsize=5)
    energy.grid(False, axis="x")
    energy.set_xticks(range(len(FIG8_MODELS)), groups)
    energy.set_ylim(0, max(data["energy_ratio_to_float"]) * 1.22)
    energy.set_ylabel("Energy per inference (normalised to FLOAT)")
    energy.set_title("Energy by level (bars: FLOAT, OAT, PGD-AT)")
    from matplotlib.patches import Patch

    levels = [Patch(facecolor="0.35", alpha=shades[key], edgecolor="black", linewidth=0.3, label=level)
              for key, level in HIER_LEVELS]  # fmt: skip
    energy.legend(handles=levels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, fontsize=6,
                  title="level (darkest: DRAM)", title_fontsize=6)  # fmt: skip
    spec = data["spec"].iloc[0]
    fig.suptitle(f"FLOAT / OAT / PGD-AT on a memory hierarchy (hwsim's hierarchy model, spec {spec}; "
                 "not a paper figure)", fontsize=9, y=1.04)  # fmt: skip
    return fig


ANALYTIC_SOURCE = "analytic: hwsim estimates of models/{}"

register(FigureDef(
    "fig8b", "parameter storage of FLOAT / OAT / PGD-AT normalised to FLOAT, both conventions",
    fig8b_data, fig8b_plot, "analytic: hwsim estimate of models/{resnet34-cifar10,wrn16_8-svhn,wrn40_2-stl10}-"
    "{float,oat,pgdat}.yaml (totals weight_bytes_fig8b and weight_bytes)",
))  # fmt: skip
register(FigureDef(
    "fig8c", "min / max / mean per-conv delay, normalised to FLOAT and to each model's Eq. 7, paper and "
    "structural attribution", fig8c_data, fig8c_plot,
    "analytic: hwsim compare (conv_delay_vs_first_* / conv_delay_vs_eq7_*) of the Fig. 8(b) models",
))  # fmt: skip
register(FigureDef(
    "table1-costs", "FLOATS conv storage, CR, CRF and Eq. 7 speed-up beside the paper's CR / CRF",
    table1_costs_data, table1_costs_plot,
    "analytic: Estimate.sparsity of models/resnet34-cifar10-{float,floats-i,floats-c,floats-slim}.yaml",
))  # fmt: skip
register(FigureDef(
    "fig1-memory", "normalised memory per method, ResNet34 / CIFAR-10 (Fig. 1's memory axis)",
    fig1_memory_data, fig1_memory_plot,
    "analytic: totals weight_bytes of models/resnet34-cifar10-{float,floats-i,oat,pgdat}.yaml",
))  # fmt: skip
register(FigureDef(
    "fig8-hierarchy", "FLOAT / OAT / PGD-AT latency and energy by level under the memory-hierarchy model "
    "(--spec with a hierarchy section, default eyeriss-65nm; not in the paper)", fig8_hierarchy_data,
    fig8_hierarchy_plot, "analytic: hier_latency_ns / hier_*_pj totals of the Fig. 8(b) models on the hierarchy spec",
))  # fmt: skip
