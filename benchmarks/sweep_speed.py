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

The memory-hierarchy model (issue 17; the built-in ``eyeriss-65nm`` spec as the base) gets the same
rows: a DSE-like menu (few integer configurations of the array, the capacities and the bit widths:
what its mapping depends on; random clock, bandwidths and energies per point), all totals (Eq. 7-9
and hierarchy) and the ``hier_*`` totals alone (what a hierarchy sweep computes), a worst case where
every point has its own buffer capacity (one mapping enumeration per point, on ``--hier-worst-points``
points), and ``estimate_model`` per point; the grid is checked against the loop as above. Its goal is
>= 1e7 point-layers/s. The time of each call is split over the model's stages (the mapping
enumeration ``choose_mapping``, ``count_traffic``, the per-point ``price``) by timing wrappers.

Example::

    python benchmarks/sweep_speed.py                   # ~2 min on 2 CPU cores (hierarchy rows included)
    python benchmarks/sweep_speed.py --points 1000000 --repeats 3
    python benchmarks/sweep_speed.py --no-hierarchy    # the Eq. 7-9 rows only (~20 s)
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

import hwsim.costs.hierarchy as H  # noqa: E402
from hwsim.config import HardwareSpec, load_spec  # noqa: E402
from hwsim.costs import SpecGrid, costs  # noqa: E402
from hwsim.costs.metrics import METRICS  # noqa: E402
from hwsim.estimate import estimate_model, layer_table, load_model_and_spec, noise_active  # noqa: E402

MODELS = ["models/resnet34-cifar10-float.yaml", "models/resnet34-cifar10-oat.yaml"]
GOAL = 1e8
HIER_GOAL = 1e7
HIER_BASE = "eyeriss-65nm"
HIER_METRICS = [name for name, m in METRICS.items() if m.requires == "hierarchy"]


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


def hierarchy_points(n: int, seed: int, distinct_capacities: bool) -> dict[str, np.ndarray]:
    """Random design points around the Eyeriss-like base: the mapping's integer fields from a DSE-like
    menu (3 array heights x 4 buffer capacities x 2 PE stores = 24 configurations), or (worst case)
    a buffer capacity of its own per point; clock, bandwidths and energies random per point."""
    rng = np.random.default_rng(seed)
    values = dict(
        clock_mhz=rng.uniform(100.0, 400.0, n), dram_bandwidth_bits=rng.integers(16, 257, n),
        glb_bandwidth_bits=rng.integers(128, 1025, n), local_bandwidth_bits=rng.integers(32, 129, n),
        dram_read_pj=rng.uniform(256.0, 1024.0, n), dram_write_pj=rng.uniform(256.0, 1024.0, n),
        glb_read_pj=rng.uniform(20.0, 100.0, n), glb_write_pj=rng.uniform(20.0, 100.0, n),
        local_read_pj=rng.uniform(0.5, 4.0, n), mac_pj=rng.uniform(2.0, 6.0, n),
    )  # fmt: skip
    if distinct_capacities:
        values["glb_capacity_bytes"] = 32768 + 64 * rng.permutation(n)  # no two points share a mapping
        return values
    return dict(
        values, pe_rows=rng.choice([8, 12, 16], n), glb_capacity_bytes=rng.choice([32768, 65536, 110592, 262144], n),
        local_capacity_bytes=rng.choice([256, 512], n),
    )  # fmt: skip


class StageTimer:
    """Seconds spent in the hierarchy model's stages (module attributes wrapped while active; the
    cost code looks them up at call time)."""

    STAGES = ("choose_mapping", "count_traffic", "price")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.STAGES, 0.0)
        self.calls = dict.fromkeys(self.STAGES, 0)
        self._saved = {}

    def __enter__(self):
        for name in self.STAGES:
            original = self._saved[name] = getattr(H, name)

            def timed(*args, _fn=original, _name=name, **kwargs):
                start = time.perf_counter()
                try:
                    return _fn(*args, **kwargs)
                finally:
                    self.seconds[_name] += time.perf_counter() - start
                    self.calls[_name] += 1

            setattr(H, name, timed)
        return self

    def __exit__(self, *exc) -> None:
        for name, fn in self._saved.items():
            setattr(H, name, fn)


def forget_mappings() -> None:
    """Empty the hierarchy model's memo of mapping searches, so a timed call pays the search as the
    first chunk of a sweep does."""
    H._MAPPED.clear()


def print_header(goal: float) -> None:
    header = f"{'model':<24} {'rows':>4}  {'variant':<44} {'ms':>9}  {'point-layers/s':>15}  {'vs loop':>8}  goal {goal:.0e}".replace(
        "e+0", "e"
    )
    print(header)
    print("-" * len(header))


def print_row(model: str, rows: int, label: str, seconds: float, points: int, loop_rate: float, goal: float) -> None:
    """One timing: point-layers per second, its ratio to the per-point loop, whether it meets ``goal``."""
    rate = points * rows / seconds
    print(
        f"{Path(model).stem:<24} {rows:>4}  {label:<44} {seconds * 1e3:>9.1f}  {rate:>15.3g}  "
        f"{rate / loop_rate:>7.0f}x  {'yes' if rate >= goal else 'NO'}"
    )


def print_agreement(points: int, mismatches: int) -> None:
    print(f"{'':<30}grid == per-point estimate on {points} points: "
          f"{'exact' if not mismatches else f'{mismatches} MISMATCHES'}")  # fmt: skip


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
    parser.add_argument("--hier-points", type=int, default=100_000, help="design points per hierarchy grid")
    parser.add_argument("--hier-worst-points", type=int, default=64, help="points of the hierarchy worst case")
    parser.add_argument("--hier-loop-points", type=int, default=40, help="hierarchy points costed one by one")
    parser.add_argument("--no-hierarchy", action="store_true", help="skip the hierarchy-model rows")
    args = parser.parse_args()

    print("hwsim design-space sweep speed (point-layers/s = design points x layer-table rows / s)")
    print(f"machine: {platform.processor() or platform.machine()}, os.cpu_count()={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}; numpy {np.__version__}, one thread (OMP/MKL/OPENBLAS_NUM_THREADS=1)")  # fmt: skip
    print(f"{args.points:,} points per grid, median of {args.repeats}; per-point loop on {args.loop_points} points\n")
    print_header(GOAL)
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
            print_row(model, rows, label, seconds, n, loop_rate, GOAL)
        print_agreement(args.loop_points, mismatches)
    if not args.no_hierarchy:
        hierarchy_rows(args)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


def hierarchy_rows(args) -> None:
    base = load_spec(HIER_BASE)
    print(f"\nmemory-hierarchy model (base {HIER_BASE}): {args.hier_points:,} points per grid (worst case "
          f"{args.hier_worst_points}), median of {args.repeats}; per-point loop on {args.hier_loop_points} points\n")  # fmt: skip
    print_header(HIER_GOAL)
    for model in MODELS:
        config, _ = load_model_and_spec(ROOT / model)
        table = layer_table(config)
        rows, noise = len(table), noise_active(config)
        points = hierarchy_points(args.hier_points, args.seed, distinct_capacities=False)
        worst = hierarchy_points(args.hier_worst_points, args.seed, distinct_capacities=True)

        def grid(values, metrics=None, table=table, method=config.method, noise=noise, cold=True):
            if cold:
                forget_mappings()
            return costs(table, SpecGrid.from_base(base, **values), method, noise_active=noise, metrics=metrics)

        n_loop = args.hier_loop_points
        sub = grid({k: v[:n_loop] for k, v in points.items()})
        loop_specs = [sub.specs.spec(i, base) for i in range(n_loop)]

        def loop(config=config, loop_specs=loop_specs):
            forget_mappings()  # each distinct configuration pays its search once, as a fresh loop would
            return [estimate_model(config, s).totals for s in loop_specs]

        mismatches = sum(sub.totals_at(i) != t.model_dump() for i, t in enumerate(loop()))
        loop_s = median_time(loop, max(1, args.repeats // 2))
        loop_rate = n_loop * rows / loop_s
        groups = len(SpecGrid.from_base(base, **points).hierarchy_groups()[0]["pe_rows"][0])
        results = [
            (f"costs: all totals ({groups} mapping groups)", lambda p=points, g=grid: g(p), args.hier_points, args.repeats),
            ("  hier_* totals only (a hierarchy sweep)", lambda p=points, g=grid: g(p, HIER_METRICS), args.hier_points,
             args.repeats),
            # what later chunks of a sweep pay: the mapping search memoised
            ("  the same, mapping search memoised", lambda p=points, g=grid: g(p, HIER_METRICS, cold=False),
             args.hier_points, args.repeats),
            ("  worst case: every point its own capacity", lambda p=worst, g=grid: g(p, HIER_METRICS),
             args.hier_worst_points, max(1, args.repeats // 2)),
        ]  # fmt: skip
        splits = []
        for label, fn, n, repeats in results:
            print_row(model, rows, label, median_time(fn, repeats), n, loop_rate, HIER_GOAL)
            with StageTimer() as timer:
                began = time.perf_counter()
                fn()
                whole = time.perf_counter() - began
            rest = whole - sum(timer.seconds.values())
            parts = ", ".join(
                f"{name} {timer.seconds[name] * 1e3:.0f} ms ({timer.calls[name]}x)" for name in StageTimer.STAGES
            )
            splits.append(f"{label.strip()}: {whole * 1e3:.0f} ms = {parts}, rest {rest * 1e3:.0f} ms")
        print_row(model, rows, f"estimate_model per point ({n_loop} pts)", loop_s, n_loop, loop_rate, HIER_GOAL)
        print_agreement(n_loop, mismatches)
        for line in splits:
            print(f"{'':<30}{line}")


if __name__ == "__main__":
    main()
