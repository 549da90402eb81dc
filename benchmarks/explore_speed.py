"""Design-space exploration speed: a ~1e6-point sweep of ResNet34 FLOAT / OAT / PGD-AT through
:func:`hwsim.explore.sweep` (engine: :mod:`hwsim.explore.engine`), the per-model and overall Pareto filter included (issue 10's goal:
< 5 s and < 2 GiB peak memory; measure the memory with ``/usr/bin/time -v``).

The axes: n_multipliers 4..4096 (11 powers of two) x n_banks 1..64 (7) x io_bandwidth_bits
{32, 64, 128, 256} x weight_bits {4, 8, 16} x tau_read_ns 1..17 step 0.5 (33) x tau_mult_ns
0.5..8.5 step 0.25 (33) = 1,006,236 design points, 3 models at their eval condition: 3.0e6 rows.
Objectives: delay_ns, weight_bytes, n_multipliers, io_bits (all minimised). The layer tables are
built (or read from the cache) before the clock starts; one warm-up-free timed run.

    /usr/bin/time -v python benchmarks/explore_speed.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def main() -> None:
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


if __name__ == "__main__":
    main()
