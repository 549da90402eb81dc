"""DSE 3: an accuracy-aware front: hardware cost and robustness together, from evaluated runs.

The sweep names evaluated run directories instead of model YAMLs, so every design point carries the
run's measured CA / RA (PGD-7) next to its Eq. 7-9 delay and energy: the Pareto front is over
energy, delay and robust accuracy at lambda = 1 at once, which no accelerator simulator offers. Runs:
the tracked digits examples (``reports/digits-floats``: FLOAT, FLOATS-i / -c / slim, FLOAT slim, OAT
slim, 10 epochs; ``reports/digits-seeds/eps0.2``: FLOAT, OAT and PGD-AT at lambda 1, seed 0, 15 epochs).
It prints the lowest-energy design whose RA is within 1 point of the best RA.

    python examples/dse/accuracy_front.py [--quick] [--out examples/dse/accuracy_front.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hwsim.explore import pareto_front, sweep  # noqa: E402

RUNS = [
    *(f"reports/digits-floats/resnet20-digits-{m}" for m in ("float", "floats", "floats-c", "floats-slim", "float-slim", "oat-slim")),
    *(f"reports/digits-seeds/eps0.2/{m}-seed0" for m in ("float", "oat", "pgdat-l1")),
]  # fmt: skip


def run_sweep(quick: bool):
    axes = {"n_multipliers": {"log2": [8, 256 if quick else 4096]}, "n_banks": {"log2": [1, 4 if quick else 64]}}
    config = {
        "models": [str(ROOT / run) for run in RUNS],
        "axes": axes,
        "conditions": [1.0],  # lambda = 1 (FLOAT: lambda_n), where RA is the point of the knob
        "attack": "pgd7",
        "objectives": [{"min": "energy_pj"}, {"min": "delay_ns"}, {"max": "robust_acc@lam=1"}],
        "outputs": ["weight_bytes"],
    }
    return sweep(config, keep_points=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a coarse grid (the test runs this)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".png"))
    args = parser.parse_args(argv)
    result = run_sweep(args.quick)
    points, front = result.points, result.front
    ra = "robust_acc@lam=1"
    best_ra = points[ra].max()
    close = points[points[ra] >= best_ra - 1.0]
    pick = close.loc[close["energy_pj"].idxmin()]
    jobs = result.counts["jobs"]  # a slimmable run is one candidate per width (name@SF...)
    print(
        f"{len(points):,} rows ({result.counts['points']} design points x {jobs} runs / widths); front {len(front)} rows"
    )
    print(f"best RA at lambda 1 (PGD-7): {best_ra:.2f} ({points.loc[points[ra].idxmax(), 'model']})")
    print(
        f"lowest energy within 1 point of it: {pick['model']} RA {pick[ra]:.2f}, {pick['energy_pj'] / 1e6:.2f} uJ, "
        f"{pick['delay_ns'] / 1e6:.3f} ms, n_multipliers={pick['n_multipliers']}, n_banks={pick['n_banks']}"
    )
    delay_ra = pareto_front(points, [("delay_ns", False), (ra, True)])
    per_model = points.groupby("model", observed=True)["energy_pj"].agg(["min", "max"]) / 1e6
    print("energy per inference by run (uJ, min .. max over the grid: reads are a small share, MACs dominate):")
    for model, row in per_model.iterrows():
        print(f"  {Path(str(model)).name:<30} {row['min']:.3f} .. {row['max']:.3f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.6, 4.2), layout="constrained")
    for model, rows in points.groupby("model", observed=True):
        ax.scatter(rows["delay_ns"] / 1e6, rows[ra], s=10, alpha=0.5, label=Path(str(model)).name)
    ordered = delay_ra.sort_values("delay_ns")
    ax.step(
        ordered["delay_ns"] / 1e6, ordered[ra], where="post", color="black", linewidth=1.2, label="front (delay, RA)"
    )
    ax.set_xscale("log")
    ax.set_xlabel("whole-network delay (ms, Eq. 7-9 on asic-65nm timing)")
    ax.set_ylabel("RA at lambda = 1 (PGD-7, %)")
    ax.set_title("digits ResNet20 runs across (n_multipliers, n_banks): the most robust model per delay", fontsize=8)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
