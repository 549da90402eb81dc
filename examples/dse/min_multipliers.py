"""DSE 1: the smallest multiplier array that meets a delay budget, per method, across bank counts.

For ResNet34 on CIFAR-10 (PGD-AT, OAT, FLOAT at its eval condition), every (n_banks, n_multipliers)
pair of a log2 grid is costed in one vectorized call per model (``hwsim.costs.costs`` over a
``SpecGrid`` built around the shipped ``asic-65nm`` spec); for each bank count the plot shows the
fewest multipliers whose whole-network delay (the method's Eq. 7 / 8 / 9) fits the budget.

    python examples/dse/min_multipliers.py [--budget-ms 50] [--quick] [--out examples/dse/min_multipliers.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hwsim.config import load_spec  # noqa: E402
from hwsim.costs import SpecGrid, costs  # noqa: E402
from hwsim.estimate import layer_table, load_model_and_spec, noise_active  # noqa: E402

MODELS = {"PGD-AT": "pgdat", "OAT": "oat", "FLOAT": "float"}


def smallest_multipliers(budget_ns: float, banks: np.ndarray, mults: np.ndarray) -> dict[str, np.ndarray]:
    """Per method: for each bank count, the fewest multipliers meeting the budget (0 if none does)."""
    b, m = (a.reshape(-1) for a in np.meshgrid(banks, mults, indexing="ij"))
    grid = SpecGrid.from_base(load_spec("asic-65nm"), n_banks=b, n_multipliers=m)
    out = {}
    for label, name in MODELS.items():
        config, _ = load_model_and_spec(ROOT / f"models/resnet34-cifar10-{name}.yaml")
        delay = costs(layer_table(config), grid, config.method, noise_active=noise_active(config), metrics=["delay_ns"])
        ok = (delay.totals["delay_ns"] <= budget_ns).reshape(len(banks), len(mults))
        # mults ascend: the first feasible column is the smallest array that meets the budget
        out[label] = np.where(ok.any(axis=1), mults[np.argmax(ok, axis=1)], 0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-ms", type=float, default=50.0, help="whole-network delay budget (default 50 ms)")
    parser.add_argument("--quick", action="store_true", help="a coarse grid (the test runs this)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".png"))
    args = parser.parse_args(argv)
    banks = 2 ** np.arange(0, 7)  # 1 .. 64 banks
    mults = 2 ** np.arange(2, 13) if args.quick else np.arange(4, 4097)  # every array size: the exact minimum
    best = smallest_multipliers(args.budget_ms * 1e6, banks, mults)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    for label, values in best.items():
        shown = np.where(values > 0, values, np.nan)
        ax.plot(banks, shown, marker="o", label=label)
    from matplotlib.ticker import ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("memory banks N_bank (B_IO 64 bits, 8-bit weights)")
    ax.set_ylabel("smallest N_mult meeting the budget")
    ax.set_title(f"ResNet34 / CIFAR-10, whole-network delay <= {args.budget_ms:g} ms (asic-65nm timing)", fontsize=9)
    ax.grid(True, linestyle=":", alpha=0.7)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=150)
    print(
        f"budget {args.budget_ms:g} ms; smallest n_multipliers per n_banks {banks.tolist()} (0: none up to {mults[-1]}):"
    )
    for label, values in best.items():
        print(f"  {label:<7} {values.tolist()}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
