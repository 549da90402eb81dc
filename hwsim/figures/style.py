"""One look for every figure of ``hwsim figures``: rc parameters (fonts, sizes, grid) and one colour
and marker per method (the colour from the method registry, :mod:`hwsim.methods`; the FLOATS variants
shaded from FLOAT's colour)."""

from __future__ import annotations

from contextlib import contextmanager

from ..methods import get_method, list_methods

#: matplotlib rc parameters applied while a figure is built and rendered.
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.linestyle": ":",
    "grid.linewidth": 0.6,
    "grid.alpha": 0.7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "svg.hashsalt": "hwsim",
}

MARKERS = {"float": "o", "oat": "s", "pgdat": "^", "floats": "D"}

#: FLOATS variants, by label: the fraction of white mixed into FLOAT's colour.
FLOATS_SHADES = {"FLOATS-i": 0.3, "FLOATS-c": 0.5, "FLOATS slim": 0.7}


def method_color(method: str) -> str:
    """The registry colour of ``method`` as hex (grey for an unregistered one)."""
    from matplotlib.colors import to_hex

    return to_hex(get_method(method).color) if method in list_methods() else "#7f7f7f"


def label_color(label: str, method: str) -> str:
    """Colour of a labelled model: FLOATS variants are FLOAT's colour mixed with white."""
    import numpy as np
    from matplotlib.colors import to_hex, to_rgb

    if label in FLOATS_SHADES:
        base = np.array(to_rgb(method_color("float")))
        return to_hex(base + (1.0 - base) * FLOATS_SHADES[label])
    return method_color(method)


def marker(method: str) -> str:
    return MARKERS.get(method, "o")


@contextmanager
def styled():
    """Build (and render) figures under :data:`STYLE`."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.2, height: float = 3.6):
    """A pyplot-free figure with its axes (a flat list)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]
