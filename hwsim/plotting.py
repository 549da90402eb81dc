"""One look and one way of saving for every hwsim figure (``hwsim report``, ``hwsim sweep``,
``hwsim figures``); below :mod:`hwsim.report`, :mod:`hwsim.explore` and :mod:`hwsim.figures`, which
all draw with it.

* the style: ``hwsim/hwsim.mplstyle`` (fonts, sizes, grid), shipped in the package and found with
  :mod:`importlib.resources` (:func:`style_file`); :func:`styled` is the context every figure is
  built and rendered in, :func:`plot_function` wraps a plot builder in it;
* one colour and marker per method (:func:`method_color`, :func:`marker`): the colour from the method
  registry (:mod:`hwsim.methods`), the FLOATS variants (FLOATS-i / -c / slim) shaded from FLOAT's
  colour (:func:`label_color`); :func:`run_styles` gives several runs of one kind of model darker /
  lighter shades of that colour;
* :func:`new_figure`: a pyplot-free :class:`~matplotlib.figure.Figure` with its axes;
* :func:`place_labels`: point labels (lambda values, run names) placed where they overlap neither
  each other nor the drawn points;
* :func:`render_figure` / :func:`save_figure`: PNG / PDF bytes and files, deterministic: no
  timestamp and no software version in them (the PNG ``Software`` key and the PDF ``Creator`` /
  ``Producer`` / ``CreationDate`` entries dropped), so ``SOURCE_DATE_EPOCH`` changes nothing.

matplotlib is imported when a figure is drawn, never with this module.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HwsimError
from .methods import get_method, list_methods

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE_FILE = "hwsim.mplstyle"


def label_shades() -> dict[str, tuple[str, float]]:
    """Labels (:func:`hwsim.report.join.method_label`) drawn as shades of a family colour: label ->
    (method, fraction of white mixed in), every registered method's ``label_shades`` (FLOATS-i / -c / slim)."""
    return {label: (m, shade) for m in list_methods() for label, shade in get_method(m).label_shades.items()}


#: Colour of a model of an unregistered method.
UNKNOWN_COLOR = "#7f7f7f"

#: The n-th further run of one kind of model: mixed with black (< 0) or white (> 0) by this much.
REPEAT_SHADES = (0.0, -0.45, 0.55, 0.25, -0.7, 0.75, -0.2)
#: ... for a family colour whose lighter shades are other methods' (FLOAT's: FLOATS'): darker only.
DARK_SHADES = (0.0, -0.4, -0.65, -0.2, -0.55, -0.8)

#: Raster resolution of the PNGs.
DPI = 200

#: savefig options per file type: no timestamps or versions in the files.
FIGURE_FORMATS = {
    ".png": {"dpi": DPI, "metadata": {"Software": None}},
    ".pdf": {"metadata": {"Creator": None, "Producer": None, "CreationDate": None}},
}


# ---------------------------------------------------------------------------------------------
# the style


def style_file() -> Path:
    """The package's matplotlib style file (``hwsim/hwsim.mplstyle``), wheel or source tree."""
    from importlib.resources import files

    path = Path(str(files("hwsim").joinpath(STYLE_FILE)))
    if not path.is_file():
        raise HwsimError(f"the style file {STYLE_FILE} is missing from the installed hwsim package ({path})")
    return path


@functools.lru_cache(maxsize=1)
def style_params() -> dict[str, Any]:
    """The rc parameters of :func:`style_file` (read once)."""
    import matplotlib

    return dict(matplotlib.rc_params_from_file(str(style_file()), use_default_template=False))


@contextmanager
def styled():
    """Build (and render) figures under hwsim's style; nothing global is changed afterwards."""
    import matplotlib

    with matplotlib.rc_context(style_params()):
        yield


def plot_function(build):
    """Decorator: run the figure builder ``build`` under :func:`styled` (rc parameters are read
    when artists are created, so the style must be active while a figure is drawn)."""

    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        with styled():
            return build(*args, **kwargs)

    return wrapper


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.2, height: float = 3.6, **kwargs):
    """A pyplot-free figure with its axes (a flat list); ``kwargs`` go to the Figure (``layout``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), **kwargs)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


# ---------------------------------------------------------------------------------------------
# colours and markers


def _mix(colour: str, amount: float) -> str:
    """``colour`` mixed with white (``amount`` > 0) or black (< 0), as hex."""
    import numpy as np
    from matplotlib.colors import to_hex, to_rgb

    rgb = np.array(to_rgb(colour))
    target = 1.0 if amount > 0 else 0.0
    return to_hex(rgb + (target - rgb) * abs(amount))


def method_color(method: str) -> str:
    """The colour of ``method`` as hex: the registry's, or, for a method of another's ``family``
    (FLOATS: FLOAT's), that colour mixed with its ``family_shade`` of white (its labels:
    :func:`label_color`); grey for an unregistered method."""
    from matplotlib.colors import to_hex

    if method not in list_methods():
        return UNKNOWN_COLOR
    rule = get_method(method)
    if rule.family is not None and rule.family != method:
        return _mix(method_color(rule.family), rule.family_shade)
    return to_hex(rule.color)


def _family(method: str) -> str:
    rule = get_method(method) if method in list_methods() else None
    return rule.family if rule is not None and rule.family is not None else method


def label_color(label: str | None, method: str) -> str:
    """Colour of a labelled model (FLOATS-i, OAT slim, ...): a label of a method's ``label_shades``
    is its family colour mixed with that much white; every other label its method's colour."""
    shades = label_shades()
    if label in shades:
        owner, shade = shades[label]
        return _mix(method_color(_family(owner)), shade)
    return method_color(method)


def marker(method: str) -> str:
    """The method's marker (an unregistered method: a circle)."""
    return get_method(method).marker if method in list_methods() else "o"


def run_styles(
    runs: Sequence[str], methods: dict[str, str], labels: dict[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """(colour, marker) per run: its label's colour (:func:`label_color`) and its method's marker;
    a second, third, ... run of that colour (two runs of one model, or FLOAT and FLOAT slim) gets a
    darker / lighter shade of it (:data:`REPEAT_SHADES`), so that the runs stay apart and the method
    stays recognisable."""
    labels = labels or {}
    seen: dict[str, int] = {}
    styles = {}
    for run in runs:
        method = methods[run]
        colour = label_color(labels.get(run), method)
        k = seen.get(colour, 0)
        seen[colour] = k + 1
        # a colour whose lighter shades are another method's (FLOAT's are FLOATS'): darker only
        shaded = any(_family(m) == _family(method) and m != _family(method) for m in list_methods())
        shades = DARK_SHADES if shaded else REPEAT_SHADES
        shade = shades[k % len(shades)]
        styles[run] = (_mix(colour, shade) if shade else colour, marker(method))
    return styles


#: the legend entry of the points :func:`mark_collapsed` crosses out
COLLAPSED_LABEL = "collapsed: at chance at a trained $\\lambda$"


def mark_collapsed(ax, rows, x: str, y: str) -> bool:
    """Cross out the points of ``rows`` whose ``collapsed`` column is set (a run at chance at a lambda
    it trained, :func:`hwsim.report.report_frame`; in a seed-aggregated frame: a seed of it), so a
    figure never shows a collapsed run as a result; one legend entry per figure. True if any."""
    if "collapsed" not in getattr(rows, "columns", ()):
        return False
    bad = rows[rows["collapsed"].fillna(False).astype(bool)]
    if bad.empty:
        return False
    shown = any(
        a.get_label() == COLLAPSED_LABEL for other in ax.figure.axes for a in [*other.lines, *other.collections]
    )
    ax.scatter(bad[x], bad[y], marker="x", s=70, color="red", linewidths=1.8, zorder=6,
               label=None if shown else COLLAPSED_LABEL)  # fmt: skip
    return True


# ---------------------------------------------------------------------------------------------
# labels that do not overlap


@dataclass
class PointLabel:
    """A text to print next to the data point (x, y) of an axes."""

    x: float
    y: float
    text: str
    color: str = "black"
    fontsize: float = 7
    kwargs: dict[str, Any] = field(default_factory=dict)


# Directions tried around a point, in order of preference, and the distances (points) of each ring.
_DIRECTIONS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
_RINGS = (1.5, 9.0, 17.0, 27.0)


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def _obstacles(ax, renderer, step: float = 3.0):
    """Display coordinates of the drawn data: marker centres, and points every ``step`` pixels
    along the lines, of the axes' lines and scatter collections."""
    import numpy as np

    markers, lines = [], []
    for line in ax.lines:
        xy = ax.transData.transform(np.column_stack(line.get_data()).astype(float))
        xy = xy[np.isfinite(xy).all(axis=1)]
        if line.get_marker() not in (None, "None", "", " "):
            markers.append(xy)
        if line.get_linestyle() not in ("None", "", " ") and len(xy) > 1:
            for a, b in zip(xy[:-1], xy[1:]):
                n = max(int(np.hypot(*(b - a)) // step), 1)
                lines.append(a + (b - a) * np.linspace(0, 1, n + 1)[:, None])
    for collection in ax.collections:
        offsets = np.asarray(collection.get_offsets(), dtype=float)
        if offsets.ndim == 2 and len(offsets) and collection.get_offset_transform() is ax.transData:
            markers.append(ax.transData.transform(offsets))
    stack = lambda parts: np.concatenate(parts) if parts else np.zeros((0, 2))
    return stack(markers), stack(lines)


def _inside(pts, box, pad: float) -> int:
    """How many of the points ``pts`` (n x 2) lie in ``box`` (x0, y0, x1, y1) grown by ``pad``."""
    x0, y0, x1, y1 = box
    return int(
        ((pts[:, 0] > x0 - pad) & (pts[:, 0] < x1 + pad) & (pts[:, 1] > y0 - pad) & (pts[:, 1] < y1 + pad)).sum()
    )


def place_labels(ax, labels: Iterable[PointLabel], *, marker_px: float = 5.0) -> list:
    """Annotate ``ax`` with ``labels``, each at the free spot nearest its point: the candidates are
    8 directions on rings of growing distance (:data:`_RINGS`); a candidate costs by the labels
    already placed it overlaps, then the markers, lines and axes edge it covers, then its distance.
    A label away from its point gets a thin leader line. Deterministic (no randomness; the limits
    are frozen first, so call this after everything else is drawn). Returns the annotations."""
    import numpy as np

    fig = ax.figure
    renderer = _renderer(fig)
    ax.autoscale_view()
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    points, line_points = _obstacles(ax, renderer)
    box = ax.get_window_extent(renderer)
    px = fig.dpi / 72.0
    placed: list[tuple[float, float, float, float]] = []
    leaders = np.zeros((0, 2))  # points along the leader lines drawn so far
    annotations = []
    for label in labels:
        anchor = ax.transData.transform((label.x, label.y))
        if not np.isfinite(anchor).all():
            continue
        probe = ax.annotate(label.text, (label.x, label.y), fontsize=label.fontsize)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        w, h = extent.width, extent.height
        others = points[np.hypot(*(points - anchor).T) > 0.5] if len(points) else points  # not its own marker
        best = None
        for ring, r in enumerate(_RINGS):
            r += marker_px / 2  # from the marker's edge
            for d, (dx, dy) in enumerate(_DIRECTIONS):
                ox, oy = dx * r * px, dy * r * px
                x0 = anchor[0] + ox - (w if dx < 0 else w / 2 if dx == 0 else 0)
                y0 = anchor[1] + oy - (h if dy < 0 else h / 2 if dy == 0 else 0)
                x1, y1 = x0 + w, y0 + h
                overlaps = sum(
                    max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1])) for b in placed
                )
                pad = marker_px * px / 2
                box_ = (x0, y0, x1, y1)
                # a leader line (rings > 0) must not cross a placed label, nor this label a placed leader
                crossing = 0
                if ring > 0:
                    end = np.array([min(max(anchor[0], x0), x1), min(max(anchor[1], y0), y1)])
                    path = anchor + (end - anchor) * np.linspace(0, 1, 12)[:, None]
                    crossing = sum(
                        int(((path[:, 0] > b[0]) & (path[:, 0] < b[2]) & (path[:, 1] > b[1]) & (path[:, 1] < b[3])).sum())
                        for b in placed
                    )  # fmt: skip
                    # ... nor pass over another marker (its own point is where it starts)
                    far = path[np.hypot(*(path - anchor).T) > 2 * pad]
                    if len(others) and len(far):
                        crossing += int(
                            (np.hypot(*(far[:, None, :] - others[None, :, :]).transpose(2, 0, 1)) < pad).sum()
                        )
                crossing += _inside(leaders, box_, 0.0)
                outside = max(0.0, box.x0 - x0) + max(0.0, x1 - box.x1) + max(0.0, box.y0 - y0) + max(0.0, y1 - box.y1)
                cost = (
                    10.0 * overlaps / max(w * h, 1.0) * 100
                    + 60.0 * _inside(others, box_, pad)
                    + 4.0 * _inside(line_points, box_, 1.0)
                    + 20.0 * crossing
                    + 5.0 * outside
                    + 8.0 * ring
                    + 0.5 * d
                )
                if best is None or cost < best[0]:
                    best = (cost, ring, dx, dy, r, (x0, y0, x1, y1))
        _, ring, dx, dy, r, bbox = best
        placed.append(bbox)
        if ring > 0:
            end = np.array([min(max(anchor[0], bbox[0]), bbox[2]), min(max(anchor[1], bbox[1]), bbox[3])])
            leaders = np.concatenate([leaders, anchor + (end - anchor) * np.linspace(0, 1, 12)[:, None]])
        options = dict(
            textcoords="offset points",
            xytext=(dx * r, dy * r),
            ha="left" if dx > 0 else "right" if dx < 0 else "center",
            va="bottom" if dy > 0 else "top" if dy < 0 else "center",
            fontsize=label.fontsize,
            color=label.color,
            annotation_clip=False,
        )
        if ring > 0:  # away from its point: a leader line says whose label it is
            options["arrowprops"] = dict(arrowstyle="-", color=label.color, lw=0.5, alpha=0.7, shrinkA=0, shrinkB=2)
        annotations.append(ax.annotate(label.text, (label.x, label.y), **{**options, **label.kwargs}))
    return annotations


def label_bars(ax, bars, texts: Iterable[str | None], *, offset: float = 1, fontsize: float = 6, upright: bool = False):
    """Print each text of ``texts`` centred above its bar of ``bars`` (None: no label), ``offset``
    points up from the bar's top (a stacked bar's too); ``upright``: rotated 90 degrees, for bars too
    narrow for a level label."""
    for bar, text in zip(bars, texts):
        if text is None:
            continue
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height()),
            textcoords="offset points",
            xytext=(0, offset),
            ha="center",
            va="bottom",
            rotation=90 if upright else 0,
            fontsize=fontsize,
        )


# ---------------------------------------------------------------------------------------------
# saving


def render_figure(fig: Figure, suffix: str) -> bytes:
    """``fig`` as PNG (:data:`DPI`) or PDF bytes, tight bounding box, under hwsim's style, without
    metadata that changes (no dates, no versions)."""
    suffix = suffix if suffix.startswith(".") else f".{suffix}"
    if suffix not in FIGURE_FORMATS:
        raise HwsimError(f"unknown figure type {suffix!r}; use one of {', '.join(FIGURE_FORMATS)}")
    buffer = io.BytesIO()
    with styled():
        fig.savefig(buffer, format=suffix[1:], bbox_inches="tight", **FIGURE_FORMATS[suffix])
    return buffer.getvalue()


def save_figure(fig: Figure, stem: Path | str, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``stem`` + .png / .pdf (each of ``formats``), each atomically; returns their paths."""
    from .io import atomic_write_bytes

    stem = Path(stem)
    if stem.suffix in FIGURE_FORMATS:  # "x.png" is taken as the stem "x"
        stem = stem.with_suffix("")
    suffixes = [f if f.startswith(".") else f".{f}" for f in formats]
    data = [render_figure(fig, s) for s in suffixes]  # every file rendered before one is written
    return [atomic_write_bytes(stem.with_name(stem.name + s), d) for s, d in zip(suffixes, data)]


__all__ = [
    "COLLAPSED_LABEL", "DPI", "FIGURE_FORMATS", "PointLabel", "STYLE_FILE", "label_bars", "label_color", "label_shades",
    "mark_collapsed", "marker",
    "method_color", "new_figure", "place_labels", "plot_function", "render_figure", "run_styles", "save_figure",
    "style_file", "style_params", "styled",
]  # fmt: skip
