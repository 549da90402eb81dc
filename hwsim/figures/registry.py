"""The figure registry: name -> :class:`FigureDef` (description, data builder, plot builder, whether it
needs runs, and the command that produces those runs), and the :class:`Context` they build from.

A data builder takes the context and returns a DataFrame of exactly the plotted data, or None when
its runs are missing; a plot builder takes that DataFrame and returns a matplotlib Figure (no I/O).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HwsimError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: hwsim's shipped model YAMLs.
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
#: Where the tracked runs are looked for by default: the same source tree as the shipped models, so
#: ``hwsim figures`` draws them from any working directory.
SOURCE_ROOT = MODELS_DIR.parent

#: The tracked evaluated runs (relative to :attr:`Context.root`, the source tree), by experiment: without ``--runs``
#: each figure reads its own experiment's (:attr:`FigureDef.default_runs`), so that a figure never
#: mixes runs trained differently (e.g. GPU and CPU epoch times, 10- and 15-epoch runs).
SEEDS_RUNS = "reports/digits-seeds/eps0.2/*/"  # FLOAT / OAT / PGD-AT x 3 seeds (examples/digits_seeds.sh)
FLOATS_RUNS = "reports/digits-floats/*/"  # FLOATS-i / -c / slim, FLOAT / OAT slim (examples/digits_floats.sh)
PAPER_FIGS_RUNS = "reports/digits-paper-figs/*/"  # OAT per S_lambda, FLOAT over lambda_n, AutoAttack
DEFAULT_RUN_GLOBS = (FLOATS_RUNS, SEEDS_RUNS, PAPER_FIGS_RUNS)


@dataclass(frozen=True)
class FigureDef:
    name: str
    description: str
    data: Callable[[Context], pd.DataFrame | None]
    plot: Callable[[pd.DataFrame], Figure]
    source: str
    needs_runs: bool = False
    command: str = ""
    default_runs: tuple[str, ...] = ()  # globs of the tracked runs it draws when --runs is not given


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


def default_runs(root: Path | str = SOURCE_ROOT, globs: tuple[str, ...] = DEFAULT_RUN_GLOBS) -> list[Path]:
    """The evaluated run dirs (with a results.json) that ``globs`` find under ``root``, in order."""
    root = Path(root)
    found = []
    for pattern in globs:
        found += sorted(p for p in root.glob(pattern) if (p / "results.json").is_file())
    return list(dict.fromkeys(found))


@dataclass
class Context:
    """What the builders read: the spec (None: each model's own), the shipped models, the run dirs
    (None: each figure's tracked default runs under ``root``, see :meth:`for_figure`)."""

    spec: Path | str | None = None
    runs: list[Path] | None = None
    models_dir: Path = MODELS_DIR
    root: Path = SOURCE_ROOT
    _estimates: dict = field(default_factory=dict, repr=False)
    _frames: dict = field(default_factory=dict, repr=False)

    def for_figure(self, fig: FigureDef) -> Context:
        """The context ``fig`` builds from: the given runs, or its own tracked ones (caches shared)."""
        if self.runs is not None or not fig.needs_runs:
            return self
        runs = default_runs(self.root, fig.default_runs)
        return replace(self, runs=runs, _estimates=self._estimates, _frames=self._frames)

    def model_path(self, stem: str) -> Path:
        path = self.models_dir / f"{stem}.yaml"
        if not path.is_file():
            raise HwsimError(f"{path}: shipped model missing")
        return path

    def estimate(self, stem: str, attribution: str = "paper", spec: Path | str | None = None, **update):
        """The estimate of ``models/<stem>.yaml`` on ``spec`` (default: the context's, else the model's own;
        ``update``: fields of the model config changed)."""
        spec = self.spec if spec is None else spec
        key = (stem, attribution, str(spec), tuple(sorted(update.items())))
        if key not in self._estimates:
            from ..config import load_spec
            from ..estimate import estimate_file, estimate_model, resolve_model

            if update:
                config, source = resolve_model(self.model_path(stem), spec)
                est = estimate_model(config.model_copy(update=update), load_spec(source), attribution=attribution)
            else:
                est = estimate_file(self.model_path(stem), spec, attribution=attribution)
            self._estimates[key] = est
        return self._estimates[key]

    def hierarchy_spec(self) -> Path | str:
        """The spec of the hierarchy-model figures: the context's when it has a hierarchy section,
        else the built-in eyeriss-65nm."""
        from ..config import load_spec

        if self.spec is not None and load_spec(self.spec).hierarchy is not None:
            return self.spec
        return "eyeriss-65nm"

    def frame(self):
        """The report frame of the runs (seed-aggregated when runs form seed groups), or None."""
        if not self.runs:
            return None
        key = tuple(Path(r).resolve() for r in self.runs)
        if key not in self._frames:
            from ..config import load_spec
            from ..report import aggregate_seeds, report_frame, seed_groups

            frame = report_frame(self.runs, spec=load_spec(self.spec) if self.spec is not None else None)
            if any(len(r) > 1 for r in seed_groups(frame["run"]).values()):
                frame = aggregate_seeds(frame)
            self._frames[key] = frame
        return self._frames[key]
