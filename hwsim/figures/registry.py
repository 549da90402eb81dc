"""The figure registry: name -> :class:`FigureDef` (description, data builder, plot builder, whether it
needs runs, and the command that produces those runs), and the :class:`Context` they build from.

A data builder takes the context and returns a DataFrame of exactly the plotted data, or None when
its runs are missing; a plot builder takes that DataFrame and returns a matplotlib Figure (no I/O).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HwsimError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: hwsim's shipped model YAMLs.
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

#: The tracked evaluated runs used when ``--runs`` is not given (those that exist).
DEFAULT_RUN_GLOBS = ("reports/digits-floats/*/", "reports/digits-seeds/eps0.2/*/")


@dataclass(frozen=True)
class FigureDef:
    name: str
    description: str
    data: Callable[[Context], pd.DataFrame | None]
    plot: Callable[[pd.DataFrame], Figure]
    source: str
    needs_runs: bool = False
    command: str = ""


REGISTRY: dict[str, FigureDef] = {}


def register(fig: FigureDef) -> FigureDef:
    REGISTRY[fig.name] = fig
    return fig


def list_figures() -> list[str]:
    from . import analytic, runs  # noqa: F401  (registration)

    return list(REGISTRY)


def get_figure(name: str) -> FigureDef:
    names = list_figures()
    if name not in REGISTRY:
        raise HwsimError(f"--only: unknown figure {name!r}; use one of {', '.join(names)}")
    return REGISTRY[name]


def default_runs(root: Path | str = ".") -> list[Path]:
    root = Path(root)
    found = []
    for pattern in DEFAULT_RUN_GLOBS:
        found += sorted(p for p in root.glob(pattern) if (p / "results.json").is_file())
    return found


@dataclass
class Context:
    """What the builders read: the spec (None: each model's own), the shipped models, the run dirs."""

    spec: Path | str | None = None
    runs: list[Path] = field(default_factory=list)
    models_dir: Path = MODELS_DIR
    _estimates: dict = field(default_factory=dict, repr=False)
    _frame: Any = field(default=None, repr=False)

    def model_path(self, stem: str) -> Path:
        path = self.models_dir / f"{stem}.yaml"
        if not path.is_file():
            raise HwsimError(f"{path}: shipped model missing")
        return path

    def estimate(self, stem: str, attribution: str = "paper", **update):
        """The estimate of ``models/<stem>.yaml`` (``update``: fields of the model config changed)."""
        key = (stem, attribution, tuple(sorted(update.items())))
        if key not in self._estimates:
            from ..config import load_spec
            from ..estimate import estimate_file, estimate_model, resolve_model

            if update:
                config, source = resolve_model(self.model_path(stem), self.spec)
                est = estimate_model(config.model_copy(update=update), load_spec(source), attribution=attribution)
            else:
                est = estimate_file(self.model_path(stem), self.spec, attribution=attribution)
            self._estimates[key] = est
        return self._estimates[key]

    def frame(self):
        """The report frame of the runs (seed-aggregated when runs form seed groups), or None."""
        if not self.runs:
            return None
        if self._frame is None:
            from ..config import load_spec
            from ..report import aggregate_seeds, report_frame, seed_groups

            frame = report_frame(self.runs, spec=load_spec(self.spec) if self.spec is not None else None)
            if any(len(r) > 1 for r in seed_groups(frame["run"]).values()):
                frame = aggregate_seeds(frame)
            self._frame = frame
        return self._frame
