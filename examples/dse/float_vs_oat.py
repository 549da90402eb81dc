"""DSE 2: where FLOAT beats OAT in whole-network delay, over (n_banks, n_multipliers, io_bandwidth).

The paper's Fig. 8(c) claims OAT's conv delay is "up to 1.66x" FLOAT's. On the shipped spec that is a
per-conv maximum (the 1x1 shortcut conv, under the ``paper`` attribution of Eq. 9's FiLM term), while
the whole-network OAT / FLOAT ratio is 0.997: FLOAT's Eq. 8 extra multiply pass over every weight of
the large layers outweighs OAT's FiLM reads. This script maps the OAT / FLOAT whole-network delay
ratio (ResNet34, CIFAR-10, both at lambda = 1) over the design space and prints where each wins.

    python examples/dse/float_vs_oat.py [--attribution paper|structural] [--quick] [--out examples/dse/float_vs_oat.png]
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


def delay_ratio(banks, mults, io_bits, attribution: str) -> np.ndarray:
    """OAT / FLOAT whole-network delay, shaped (io, banks, mults)."""
    io, b, m = (a.reshape(-1) for a in np.meshgrid(io_bits, banks, mults, indexing="ij"))
    grid = SpecGrid.from_base(load_spec("asic-65nm"), io_bandwidth_bits=io, n_banks=b, n_multipliers=m)
    delays = {}
    for name in ("oat", "float"):
        config, _ = load_model_and_spec(ROOT / f"models/resnet34-cifar10-{name}.yaml")
        grid_costs = costs(
            layer_table(config), grid, config.method, attribution=attribution,
            noise_active=noise_active(config), metrics=["delay_ns"],
        )  # fmt: skip
        delays[name] = grid_costs.totals["delay_ns"]
    return (delays["oat"] / delays["float"]).reshape(len(io_bits), len(banks), len(mults))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attribution", default="paper", choices=["paper", "structural"])
    parser.add_argument("--quick", action="store_true", help="a coarse grid (the test runs this)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".png"))
    args = parser.parse_args(argv)
    step = 1.0 if args.quick else 0.25
    banks = np.unique(np.round(2 ** np.arange(0, 6.01, step)).astype(int))  # 1 .. 64
    mults = np.unique(np.round(2 ** np.arange(2, 12.01, step)).astype(int))  # 4 .. 4096
    io_bits = np.array([32, 64, 128])
    ratio = delay_ratio(banks, mults, io_bits, args.attribution)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import CenteredNorm

    fig, axes = plt.subplots(1, len(io_bits), figsize=(4.2 * len(io_bits), 3.8), sharey=True, layout="constrained")
    norm = CenteredNorm(vcenter=1.0)  # symmetric around 1: a 1% OAT win looks like a 1% FLOAT win
    for ax, io, r in zip(axes, io_bits, ratio):
        mesh = ax.pcolormesh(mults, banks, r, cmap="RdBu_r", norm=norm, shading="nearest")
        ax.contour(mults, banks, r, levels=[1.0], colors="black", linewidths=1.0)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_title(f"B_IO = {io} bits (8-bit weights)", fontsize=9)
        ax.set_xlabel("N_mult")
        if io == 64:
            ax.plot([32], [16], marker="*", color="gold", markeredgecolor="black", markersize=12, label="asic-65nm")
            ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("N_bank")
    fig.colorbar(mesh, ax=axes, label="OAT / FLOAT delay (red: FLOAT faster)")
    fig.suptitle(
        f"ResNet34 / CIFAR-10 at lambda = 1, {args.attribution} attribution; black line: equal delay", fontsize=10
    )
    fig.savefig(args.out, dpi=150)

    weights_per_read = (io_bits[:, None, None] / 8) * banks[None, :, None]
    per_mult = weights_per_read / mults[None, None, :]
    float_wins = ratio > 1
    print(f"OAT / FLOAT whole-network delay over {ratio.size} design points ({args.attribution} attribution):")
    print(f"  range {ratio.min():.3f} .. {ratio.max():.3f}; FLOAT faster at {float_wins.mean():.0%} of the points")
    for label, sel in (("FLOAT faster", float_wins), ("OAT faster or equal", ~float_wins)):
        if sel.any():
            q = np.quantile(per_mult[sel], [0.1, 0.5, 0.9])
            print(f"  {label:<20} weights per read / N_mult: 10%/50%/90% = {q[0]:.3g} / {q[1]:.3g} / {q[2]:.3g}")
    shipped = ratio[list(io_bits).index(64), list(banks).index(16), list(mults).index(32)]
    print(f"  shipped spec (B_IO 64, 16 banks, 32 multipliers): {shipped:.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
