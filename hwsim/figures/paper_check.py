"""``paper-check.md``: every paper number hwsim computes, the paper's value beside hwsim's (computed
live from estimates), the convention behind a difference and a verdict."""

from __future__ import annotations

import pandas as pd

from .registry import Context


def _row(quantity, paper, hwsim, convention, reproduced, reason=""):
    return {
        "quantity": quantity,
        "paper": paper,
        "hwsim": hwsim,
        "convention": convention,
        "verdict": "reproduced" if reproduced else "differs",
        "reason": reason,
    }


def paper_check_frame(ctx: Context) -> pd.DataFrame:
    from ..report import PAPER_TABLE1

    r34 = "resnet34-cifar10"
    flt, oat, pgd = (ctx.estimate(f"{r34}-{m}") for m in ("float", "oat", "pgdat"))
    flt1 = ctx.estimate(f"{r34}-float", dual_bn=False)
    oat1 = ctx.estimate(f"{r34}-oat", dual_bn=False)
    rows = []
    mb = flt1.totals.weight_bytes / 1e6
    rows.append(_row(
        "FLOAT ResNet34 memory, 8-bit (Sec. 4.3: \"a FLOAT ResNet34 has only 21.28 MB\")", "21.28 MB",
        f"{mb:.2f} MB (single BN, all params); {flt.totals.weight_bytes / 1e6:.2f} MB shipped dual BN; "
        f"{flt.totals.weight_bytes_fig8b / 1e6:.2f} MB Fig. 8(b) convention",
        "1 MB = 10^6 B; single BN set plus 36 alphas", round(mb, 2) == 21.28,
    ))  # fmt: skip
    mb = oat1.totals.weight_bytes / 1e6
    rows.append(_row(
        "OAT ResNet34 memory, 8-bit (\"compared to 31.4MB for OAT\")", "31.4 MB",
        f"{mb:.2f} MB (single BN, d = 1); {oat.totals.weight_bytes / 1e6:.2f} MB dual BN; "
        f"{oat.totals.weight_bytes_fig8b / 1e6:.2f} MB Fig. 8(b) convention",
        "FiLM FCs with film_dim 1", round(mb, 1) == 31.4,
    ))  # fmt: skip
    ratio = oat.totals.weight_bytes_fig8b / flt.totals.weight_bytes_fig8b
    rows.append(_row(
        "OAT / FLOAT memory (\"up to 1.47x lower memory\", Fig. 8(b))", "1.47x", f"{ratio:.4f}x",
        "Fig. 8(b): conv + linear weights only (no BN, no alpha)", abs(ratio - 1.47) < 0.01,
        "the paper's own 31.4 / 21.28 = 1.4756 too: it truncates to 1.47",
    ))  # fmt: skip
    for attribution in ("paper", "structural"):
        from ..estimate import compare_estimates

        frame = compare_estimates([ctx.estimate(f"{r34}-float", attribution), ctx.estimate(f"{r34}-oat", attribution)])
        value = float(frame["conv_delay_vs_first_max"].iloc[1])
        ok = abs(value - 1.66) < 0.01
        rows.append(_row(
            f"max per-conv OAT / FLOAT delay, {attribution} attribution (\"up to 1.66x faster\")", "1.66x",
            f"{value:.3f}x", f"{attribution} attribution on {flt.spec.name} (calibrated: io_bandwidth, n_banks, "
            "n_multipliers are not in the paper)", ok,
            "" if ok else "structural charges FiLM only where a FiLM follows the conv; the paper's 1.66x "
            "needs FiLM on every conv",
        ))  # fmt: skip
    macs = flt.totals.macs
    rows.append(_row(
        "ResNet34 compute (\"total operations of ~1.165 GFLOPs\")", "~1.165 G", f"{macs:,} MACs ({macs / 1e9:.4f} G)",
        "conv + linear MACs at 32x32, no BN / ReLU / residual adds", abs(macs / 1.165e9 - 1) < 0.001,
        f"{(1.165e9 - macs) / 1.165e9:.2%} lower: hwsim counts conv and linear MACs only; the paper names neither "
        "its tool nor what its count includes (BN, activations, shortcut adds would add a few million)",
    ))  # fmt: skip
    share = flt.totals.noise_add_ops / macs
    rows.append(_row(
        "FLOAT noise-add overhead (\"the transformation adds on 1.182% additional computation\")", "1.182%",
        f"{share:.3%} ({flt.totals.noise_add_ops:,} noise adds / {macs:,} MACs)",
        "noise adds = conv weights; divided by MACs", abs(share - 0.01182) < 0.0001,
        "the paper divides ~21.28 M parameters by ~1.165 G: 21.28 / 1165 = 1.827%, not 1.182% "
        "(its printed value is not the quotient of its own numbers; hwsim's 1.834% agrees with 1.827%)",
    ))  # fmt: skip
    extra = oat.totals.macs + oat.totals.film_mod_ops - pgd.totals.macs
    share = extra / pgd.totals.macs
    rows.append(_row(
        "OAT FLOPs overhead (\"up to only ~1.7%\", citing Wang et al. 2020)", "~1.7%",
        f"{share:.3%} ((FiLM FC MACs + modulation ops) / PGD-AT MACs)", "FiLM with film_dim 1, paper attribution",
        abs(share - 0.017) < 0.001,
        "the paper quotes OAT's paper (Wang et al. 2020), not its own ResNet34 count; hwsim's FiLM FCs with "
        "a 1-wide lambda encoding add fewer MACs",
    ))  # fmt: skip
    paper = {p["label"]: p for p in PAPER_TABLE1}
    for label, stem in (("FLOATS-i", "floats-i"), ("FLOATS-c", "floats-c"), ("FLOATS slim", "floats-slim")):
        s = ctx.estimate(f"{r34}-{stem}").sparsity
        for key, reason in (
            ("cr", {
                "FLOATS slim": "hwsim's CR is full-width dense conv weights / kept weights at SF 0.5 and d = 0.3 "
                "(about 4 x 1/0.3); the paper's 4.76x is neither 1/d = 3.33 nor that",
            }),
            ("crf", {
                "FLOATS-c": "hwsim's analytic FLOATS-c keeps d of every conv's input channels (CRF ~ 1/0.34); the "
                "paper's trained masks keep more channels (CRF 1.54); a trained run's masks give its real CRF",
            }),
        ):  # fmt: skip
            value, want = getattr(s, key), paper[label][key]
            ok = abs(value - want) < 0.01 * max(want, 1)
            rows.append(_row(
                f"Table 1 {key.upper()} of {label} (d = {s.target_density:g}, SF {s.slim_factor:g})", f"{want:g}x",
                f"{value:.3f}x", "analytic density (no trained masks)", ok, "" if ok else reason.get(label, ""),
            ))  # fmt: skip
    c, slim = ctx.estimate(f"{r34}-floats-c").sparsity, ctx.estimate(f"{r34}-floats-slim").sparsity
    value = c.storage_bits / slim.storage_bits
    rows.append(_row(
        "FLOATS slim vs FLOATS-c storage (\"requires 1.62x less storage\")", "1.62x", f"{value:.3f}x",
        "conv storage bits, analytic densities", abs(value - 1.62) < 0.01,
        "follows from the CRs: hwsim's slim CR (13.3) / c CR (2.95); the paper's 4.76 / 2.94 = 1.62",
    ))  # fmt: skip
    return pd.DataFrame(rows)


def paper_check_markdown(frame: pd.DataFrame) -> str:
    lines = [
        "# Paper check",
        "",
        "Every paper number hwsim computes (Kundu et al., FLOAT), the paper's value beside hwsim's, computed",
        "live from `hwsim estimate` of the shipped models (`hwsim figures` writes this file).",
        "",
        "| quantity | paper | hwsim | convention | verdict | reason |",
        "|---|---|---|---|---|---|",
    ]
    for r in frame.itertuples(index=False):
        cells = [str(v).replace("|", "\\|") for v in (r.quantity, r.paper, r.hwsim, r.convention, r.verdict, r.reason)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
