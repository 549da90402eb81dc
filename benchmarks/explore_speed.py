"""Design-space exploration speed: a ~1e6-point sweep of ResNet34 FLOAT / OAT / PGD-AT through
:func:`hwsim.explore.sweep` (engine: :mod:`hwsim.explore.engine`), the per-model and overall Pareto filter included (issue 10's goal:
< 5 s and < 2 GiB peak memory; measure the memory with ``/usr/bin/time -v``).

The axes: n_multipliers 4..4096 (11 powers of two) x n_banks 1..64 (7) x io_bandwidth_bits
{32, 64, 128, 256} x weight_bits {4, 8, 16} x tau_read_ns 1..17 step 0.5 (33) x tau_mult_ns
0.5..8.5 step 0.25 (33) = 1,006,236 design points, 3 models at their eval condition: 3.0e6 rows.
Objectives: delay_ns, weight_bytes, n_multipliers, io_bits (all minimised). The layer tables are
built (or read from the cache) before the clock starts; one warm-up-free timed run.

The peer, measured in the same run on the same work: the per-point loop a user would otherwise
write, ``estimate_model(config, spec)`` for each model on ``--loop-points`` design points drawn
from the same grid (layer tables cached, one thread like the sweep). Rates are in point-layers/s
(design points x layer-table rows of the model / s) and rows/s (design point x model).

A second peer, recorded once rather than run here (it needs numpy < 2, so its own environment):
SCALE-Sim 3.0.0, a cycle-level systolic-array simulator, on four ResNet34 convs of one design point
(``benchmarks/peers/scalesim/run.py``, 2026-11-26, this machine): 44.18 s and 48.81 s in two runs,
11.05-12.20 s per (design point x layer). It models other hardware at another fidelity, so its row
is time per point-layer of each tool's own model, not equal work.

    /usr/bin/time -v python benchmarks/explore_speed.py [--loop-points 300]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread for the sweep and the loop alike

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.estimate import estimate_model, layer_table, load_model_and_spec  # noqa: E402
from hwsim.explore import plan_sweep, run_plan  # noqa: E402

SWEEP = {
    "models": [str(ROOT / f"models/resnet34-cifar10-{m}.yaml") for m in ("float", "oat", "pgdat")],
    "axes": {
        "n_multipliers": {"log2": [4, 4096]},
        "n_banks": {"log2": [1, 64]},
        "io_bandwidth_bits": [32, 64, 128, 256],
        "weight_bits": [4, 8, 16],
        "tau_read_ns": {"range": [1.0, 17.0, 0.5]},
        "tau_mult_ns": {"range": [0.5, 8.5, 0.25]},
    },
    "objectives": [{"min": "delay_ns"}, {"min": "weight_bytes"}, {"min": "n_multipliers"}, {"min": "io_bits"}],
}


#: SCALE-Sim 3.0.0, seconds per (design point x layer), the faster of two recorded runs (see the docstring)
SCALESIM_S_PER_LAYER = 11.05


def per_point_loop(plan, points: int, seed: int = 0) -> tuple[float, int, int]:
    """Seconds for ``estimate_model`` on ``points`` random points of the sweep's grid x each model,
    the rows that makes, and the point-layers (rows x the model's layer rows)."""
    rng = np.random.default_rng(seed)
    axes = {name: values[rng.integers(len(values), size=points)] for name, values in plan.axes.items()}
    configs = [load_model_and_spec(path)[0] for path in SWEEP["models"]]
    base = plan.base
    layers = [len(layer_table(c)) for c in configs]
    began = time.perf_counter()
    for i in range(points):
        spec = base.model_copy(update={name: values[i].item() for name, values in axes.items()})
        for config in configs:
            estimate_model(config, spec)
    return time.perf_counter() - began, points * len(configs), points * sum(layers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--loop-points", type=int, default=300, help="design points of the per-point loop (default 300)"
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    plan = plan_sweep(SWEEP, keep_points=False)
    planned = time.perf_counter() - began
    start = time.perf_counter()
    result = run_plan(plan)
    swept = time.perf_counter() - start
    c = result.counts
    print(f"plan (configs, layer tables): {planned:.2f} s")
    print(
        f"sweep: {c['points']:,} points x {c['jobs']} jobs = {c['rows']:,} rows in {c['chunks']} chunks: {swept:.2f} s"
    )
    print(f"front: {c['front']:,} rows; per model {c['model_fronts']}")
    loop_s, loop_rows, loop_point_layers = per_point_loop(plan, args.loop_points)
    per_point_layers = loop_point_layers / loop_rows * c["rows"]  # the same models' layer rows
    sweep_rate, loop_rate = per_point_layers / swept, loop_point_layers / loop_s
    print()
    print(f"{'engine':<34} {'rows/s':>12} {'point-layers/s':>15} {'x loop':>8}")
    print(
        f"{'hwsim.explore (sweep + Pareto)':<34} {c['rows'] / swept:>12.3g} {sweep_rate:>15.3g} {sweep_rate / loop_rate:>8.0f}"
    )
    print(f"{'estimate_model per point (loop)':<34} {loop_rows / loop_s:>12.3g} {loop_rate:>15.3g} {1:>8}")
    print(
        f"{'SCALE-Sim 3.0.0 (recorded, see doc)':<34} {'':>12} {1 / SCALESIM_S_PER_LAYER:>15.3g} {(1 / SCALESIM_S_PER_LAYER) / loop_rate:>8.2g}"
    )
    print(f"(loop: {args.loop_points} points x {len(SWEEP['models'])} models in {loop_s:.2f} s; one thread each)")


if __name__ == "__main__":
    main()
