"""Design-space exploration: sweep hardware specs x models x conditions, keep the Pareto front.

>>> from hwsim.explore import sweep, pareto_front
>>> result = sweep("examples/dse/sweep-resnet34.yaml")
>>> result.front                     # rows on the front of every model together
>>> result.model_fronts["resnet34-cifar10-oat"]
>>> pareto_front(df, [("delay_ns", False), ("robust_acc@lam=1", True)])

The sweep file: :mod:`hwsim.explore.config`; the chunked engine: :mod:`hwsim.explore.engine`; the
files and figures of ``hwsim sweep``: :mod:`hwsim.explore.output`.
"""

from .config import SweepConfig, load_sweep_config
from .engine import (
    ChunkResult,
    SweepPlan,
    SweepResult,
    combine,
    evaluate_chunk,
    pareto_front,
    plan_sweep,
    run_plan,
    sweep,
)

__all__ = [
    "ChunkResult",
    "SweepConfig",
    "SweepPlan",
    "SweepResult",
    "combine",
    "evaluate_chunk",
    "load_sweep_config",
    "pareto_front",
    "plan_sweep",
    "run_plan",
    "sweep",
]
