"""Design-space sweep speed: (design point x layer) evaluations per second through the public API.

For ResNet34 FLOAT and OAT (CIFAR-10), the same random design points are costed two ways in one
run, on one thread:

* ``costs(table, SpecGrid)``: every registered metric (MACs, FLOPs, extra ops, Eq. 7-9 delay,
  memory per component) over the whole grid in one call, totals per point. A fresh grid is built
  for every timed call, so the per-grid work (range checks, grouping of integer fields) is timed;
* the same plus materialising the (layers x points) per-layer delay grid (``grid.layer``);
* a worst case where every point has its own memory / compute configuration (no two points share
  the integer fields, so grouping saves nothing);
* the per-point API a user would otherwise loop over: ``estimate_model(config, HardwareSpec(...))``
  per point (a pydantic spec and an ``Estimate`` per point; the layer table comes from the cache).

The per-point loop runs on a subset (``--loop-points``) and its rate is reported per point-layer
like the rest. Every grid result is checked against the loop on the shared points (exact equality
of every total). Rates are point-layers/s = points x layer-table rows / seconds (median of
``--repeats``). The issue-7 goal is >= 1e8 point-layers/s for FLOAT and OAT on one core.

Example::

    python benchmarks/sweep_speed.py                   # ~20 s on 2 CPU cores
    python benchmarks/sweep_speed.py --points 1000000 --repeats 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread for every measured call (numpy's BLAS included)

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.config import HardwareSpec  # noqa: E402
from hwsim.costs import SpecGrid, costs  # noqa: E402
from hwsim.estimate import estimate_model, layer_table, load_model_and_spec, noise_active  # noqa: E402

MODELS = ["models/resnet34-cifar10-float.yaml", "models/resnet34-cifar10-oat.yaml"]
GOAL = 1e8


def design_points(n: int, seed: int, distinct_configs: bool) -> dict[str, np.ndarray]:
    """Random design points: continuous times; integer fields from a DSE-like menu, or (worst case)
    drawn so that every point has its own memory / compute configuration."""
    rng = np.random.default_rng(seed)
    times = dict(tau_read_ns=rng.uniform(1.0, 20.0, n), tau_mult_ns=rng.uniform(0.5, 8.0, n))
    if distinct_configs:
        ids = rng.permutation(n)  # a unique integer per point, spread over the four fields
        return dict(times, io_bandwidth_bits=32 + ids % 997, weight_bits=1 + ids // 997 % 16,
                    n_banks=1 + ids // (997 * 16) % 64, n_multipliers=1 + ids // (997 * 16 * 64) + ids % 7)  # fmt: skip
    return dict(
        times, io_bandwidth_bits=rng.choice([32, 64, 128, 256, 512], n), weight_bits=rng.choice([4, 8, 16], n),
        n_banks=rng.choice([1, 2, 4, 8, 16, 32], n), n_multipliers=rng.choice([8, 16, 32, 64, 128, 256], n),
    )  # fmt: skip


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="design points per grid")
    parser.add_argument("--loop-points", type=int, default=200, help="points costed by the per-point loop")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print("hwsim design-space sweep speed (point-layers/s = design points x layer-table rows / s)")
    print(f"machine: {platform.processor() or platform.machine()}, os.cpu_count()={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}; numpy {np.__version__}, one thread (OMP/MKL/OPENBLAS_NUM_THREADS=1)")  # fmt: skip
    print(f"{args.points:,} points per grid, median of {args.repeats}; per-point loop on {args.loop_points} points\n")
    header = f"{'model':<24} {'rows':>4}  {'variant':<44} {'ms':>9}  {'point-layers/s':>15}  {'vs loop':>8}  goal 1e8"
    print(header)
    print("-" * len(header))
    for model in MODELS:
        config, spec = load_model_and_spec(ROOT / model)
        table = layer_table(config)
        rows, noise = len(table), noise_active(config)
        points = design_points(args.points, args.seed, distinct_configs=False)
        worst = design_points(args.points, args.seed, distinct_configs=True)

        def grid_totals(values=points, table=table, method=config.method, noise=noise):
            return costs(table, SpecGrid.from_arrays(**values), method, noise_active=noise)

        def grid_layers(grid_totals=grid_totals):
            return grid_totals().layer("delay_ns")

        loop_specs = [
            HardwareSpec(name=f"p{i}", **{k: v[i].item() for k, v in points.items()}) for i in range(args.loop_points)
        ]

        def loop(config=config, loop_specs=loop_specs):
            return [estimate_model(config, s).totals for s in loop_specs]

        # correctness first: the grid equals the per-point estimates on the loop's points
        sub = costs(
            table,
            SpecGrid.from_arrays(**{k: v[: args.loop_points] for k, v in points.items()}),
            config.method,
            noise_active=noise,
        )
        mismatches = sum(sub.totals_at(i) != t.model_dump() for i, t in enumerate(loop()))
        loop_s = median_time(loop, max(1, args.repeats // 2))
        loop_rate = args.loop_points * rows / loop_s
        results = [
            ("costs(table, SpecGrid): all totals", median_time(grid_totals, args.repeats), args.points),
            ("  + (layers x points) delay grid", median_time(grid_layers, args.repeats), args.points),
            (
                "  worst case: every point its own config",
                median_time(lambda: grid_totals(worst), args.repeats),  # noqa: B023 (called at once)
                args.points,
            ),
            (f"estimate_model per point ({args.loop_points} pts)", loop_s, args.loop_points),
        ]
        for label, seconds, n in results:
            rate = n * rows / seconds
            met = "yes" if rate >= GOAL else "NO"
            print(
                f"{Path(model).stem:<24} {rows:>4}  {label:<44} {seconds * 1e3:>9.1f}  {rate:>15.3g}  {rate / loop_rate:>7.0f}x  {met}"
            )
        print(
            f"{'':<30}grid == per-point estimate on {args.loop_points} points: {'exact' if not mismatches else f'{mismatches} MISMATCHES'}"
        )
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
