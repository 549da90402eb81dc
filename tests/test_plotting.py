"""hwsim.plotting: one style for every hwsim figure (the style file ships with the package), the
same colour and marker for a method in a report plot, a sweep plot and a figure, FLOATS shaded
from FLOAT's colour, labels that do not overlap, deterministic PNG / PDF bytes."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.text import Text

from hwsim.explore import sweep
from hwsim.explore.output import plot_projection, render_sweep
from hwsim.figures.analytic import CONVENTIONS, FIG8_METHODS, FIG8_MODELS, fig8b_plot, table1_costs_plot
from hwsim.methods import get_method
from hwsim.plotting import (
    STYLE_FILE,
    label_color,
    marker,
    method_color,
    render_figure,
    run_styles,
    style_file,
    style_params,
    styled,
)
from hwsim.report import plot_memory_accuracy, plot_tradeoff, report_frame

from .conftest import REPO

RUNS = REPO / "tests/fixtures/digits-runs"
FLOATS_RUNS = sorted((REPO / "reports/digits-floats").glob("*/"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_style_file_ships_with_the_package():
    from importlib.resources import files

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    resource = files("hwsim").joinpath(STYLE_FILE)
    assert resource.is_file() and "font.size" in resource.read_text()
    assert style_file().read_text() == resource.read_text()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert STYLE_FILE in pyproject["tool"]["setuptools"]["package-data"]["hwsim"]  # a wheel carries it
    assert style_params()["font.size"] == 8.0 and style_params()["axes.grid"] is True


def test_styled_changes_nothing_global():
    import matplotlib

    before = dict(matplotlib.rcParams)
    with styled():
        assert matplotlib.rcParams["grid.linestyle"] == ":"
    assert dict(matplotlib.rcParams) == before


FLOATS_LABELS = list(get_method("floats").label_shades)


def test_floats_variants_are_shades_of_float():
    red = method_color("float")
    assert red == to_hex("tab:red")
    shades = [label_color(label, "floats") for label in FLOATS_LABELS]
    assert len(set(shades)) == 3 and red not in shades
    for shade in shades:  # FLOAT's colour mixed with white: every channel between FLOAT's and 1
        for c, s in zip(bytes.fromhex(red[1:]), bytes.fromhex(shade[1:])):
            assert c <= s
    assert label_color("FLOAT slim", "float") == red and label_color("OAT", "oat") == method_color("oat")


def test_repeated_runs_get_shades_of_their_method():
    styles = run_styles(["a", "b", "c"], {"a": "pgdat", "b": "pgdat", "c": "float"}, {"a": "PGD-AT", "b": "PGD-AT"})
    assert styles["a"] == (method_color("pgdat"), marker("pgdat"))
    assert styles["b"][0] != styles["a"][0] and styles["b"][1] == marker("pgdat")
    assert styles["c"] == (method_color("float"), marker("float"))


def _line_colours(ax) -> dict[str, str]:
    return {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()}


def test_same_method_same_colour_in_report_sweep_and_figures():
    # a report plot (CA vs RA across lambda)
    frame = report_frame([RUNS / "float-seed0", RUNS / "oat-seed0", RUNS / "pgdat-l0.2-seed0"])
    report_ax = plot_tradeoff(frame, "pgd7").axes[0]
    report = {label.split(" (")[1].split(")")[0]: colour for label, colour in _line_colours(report_ax).items()}
    markers = {line.get_label().split(" (")[1].split(")")[0]: line.get_marker() for line in report_ax.get_lines()}
    # a sweep plot (each model's front)
    result = sweep(
        {
            "models": [str(REPO / f"models/resnet20-digits-{m}.yaml") for m in ("float", "oat", "pgdat")],
            "axes": {"n_multipliers": [8, 32]},
            "objectives": [{"min": "delay_ns"}, {"min": "weight_bytes"}],
        }
    )
    sweep_ax = plot_projection(result, *result.plan.objectives).axes[0]
    fronts = {c.get_label(): c for c in sweep_ax.collections}
    # a figure of `hwsim figures` (Fig. 8(b) bars; the data are placeholders, the colours are what counts)
    rows = [
        {"model": mo, "convention": key, "method": m, "ratio_to_float": 1.0}
        for mo, _, _ in FIG8_MODELS
        for key, _ in CONVENTIONS
        for m, _ in FIG8_METHODS
    ]
    figure_ax = fig8b_plot(pd.DataFrame(rows)).axes[0]
    bars = {c.get_label(): to_hex(c.patches[0].get_facecolor()) for c in figure_ax.containers}
    for method, label in (("float", "FLOAT"), ("oat", "OAT"), ("pgdat", "PGD-AT")):
        expected = method_color(method)
        assert report[label] == expected, label
        assert markers[label] == marker(method), label
        front = fronts[f"front of resnet20-digits-{method}"]
        assert to_hex(front.get_facecolor()[0]) == expected, label
        assert bars[label] == expected, label


def test_floats_shades_in_report_and_figures():
    frame = report_frame(FLOATS_RUNS)
    points = plot_memory_accuracy(frame, "pgd7")
    legend = {
        t.get_text(): h for t, h in zip(points.axes[0].get_legend().texts, points.axes[0].get_legend().legend_handles)
    }
    data = pd.DataFrame(
        {"label": list(FLOATS_LABELS), "method": "floats", **{c: 1.0 for c in ("conv_storage_mb", "cr", "crf", "eq7_speedup", "paper_cr", "paper_crf")}}
    )  # fmt: skip
    bars = table1_costs_plot(data).axes[0].patches
    for label, bar in zip(FLOATS_LABELS, bars):
        assert to_hex(legend[label].get_color()) == label_color(label, "floats") == to_hex(bar.get_facecolor())


def _text_boxes(ax) -> list:
    """Display boxes of the axes' texts (without leader lines), drawn at the figure's own dpi: the
    renderer left by a savefig at another dpi gives positions and sizes at different scales."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(ax.figure)
    with styled():
        canvas.draw()
    renderer = canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for t in ax.texts]


def _overlaps(boxes) -> list:
    return [
        (i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes[:i])
        if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1
    ]  # fmt: skip


@pytest.mark.parametrize("runs", [FLOATS_RUNS, FLOATS_RUNS[:1] + FLOATS_RUNS[2:4] + FLOATS_RUNS[-1:]])
def test_lambda_labels_do_not_overlap(runs):
    """The tracked FLOAT / FLOATS / OAT slim runs: their lambda labels (and Fig. 1's run names) sit
    on top of each other without the placement (they did before hwsim.plotting.place_labels)."""
    frame = report_frame(runs)
    for fig in (plot_tradeoff(frame, "pgd7"), plot_memory_accuracy(frame, "pgd7")):
        render_figure(fig, ".png")  # lays the figure out
        boxes = _text_boxes(fig.axes[0])
        assert _overlaps(boxes) == []
        if len(runs) <= 4:
            assert len(boxes) >= len(runs)


def test_sweep_plots_are_byte_identical_and_undated(monkeypatch):
    config = {
        "models": [str(REPO / f"models/resnet20-digits-{m}.yaml") for m in ("float", "oat")],
        "axes": {"n_multipliers": [8, 32, 128], "n_banks": [1, 2]},
        "objectives": [{"min": "delay_ns"}, {"min": "weight_bytes"}],
    }
    result = sweep(config, keep_points=True)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    first = {k: v for k, v in render_sweep(result).items() if k.endswith((".png", ".pdf"))}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    second = {k: v for k, v in render_sweep(sweep(config, keep_points=True)).items() if k.endswith((".png", ".pdf"))}
    assert first.keys() == second.keys() and {"delay-ratio-oat-float.png", "front-delay_ns-vs-weight_bytes.pdf"} <= set(
        first
    )
    for name, data in first.items():
        assert data == second[name], name
        if name.endswith(".pdf"):
            assert b"/CreationDate" not in data and b"/Producer" not in data and b"/Creator" not in data
        else:
            assert data.startswith(PNG_MAGIC) and b"Software" not in data and b"atplotlib" not in data


def test_analytic_figure_value_labels_do_not_overlap():
    """Fig. 8(b) / 8(c) print a value over each bar that differs from 1; with nine groups of three
    narrow bars, upright labels of neighbours collided (0.98 / 0.94 in Fig. 8(c))."""
    from hwsim.figures import Context, get_figure

    ctx = Context(runs=[])
    for name in ("fig8b", "fig8c", "table1-costs", "fig8-hierarchy"):
        fig_def = get_figure(name)
        fig = fig_def.plot(fig_def.data(ctx))
        render_figure(fig, ".png")
        for ax in fig.axes:
            boxes = _text_boxes(ax)
            assert _overlaps(boxes) == [], (name, ax.get_title())
        if name == "fig8c":
            assert sum(len(ax.texts) for ax in fig.axes) >= 20  # the labels are there
