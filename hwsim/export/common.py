"""What every exporter shares: the rows a peer tool can run, their dimensions, and the README of
what a format cannot express (with hwsim's cost for each). Pure: no torch, no file I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..workload.table import LayerTable


@dataclass(frozen=True)
class Layer:
    """One conv / linear / FiLM-linear row of the table, as plain ints (a linear is a 1x1 conv)."""

    index: int  # row of the layer table
    name: str
    op: str
    kernel_h: int
    kernel_w: int
    in_channels: int
    out_channels: int
    groups: int
    stride_h: int
    stride_w: int
    padding_h: int
    padding_w: int
    dilation_h: int
    dilation_w: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    density: float

    @property
    def channels_per_group(self) -> int:
        """Input channels each output channel reads: C_i / groups (what the MACs count)."""
        return self.in_channels // self.groups


def layers(table: LayerTable) -> list[Layer]:
    """Every row of the table in order (conv, linear and film_linear rows all carry MACs)."""
    fields = [f for f in Layer.__dataclass_fields__ if f not in ("index",)]
    out = []
    for i in range(len(table)):
        values = {}
        for f in fields:
            v = table[f][i]
            values[f] = str(v) if f in ("name", "op") else float(v) if f == "density" else int(v)
        out.append(Layer(index=i, **values))
    return out


def sparse(table: LayerTable) -> bool:
    """Whether any layer has density < 1 (a format that can express density then writes it)."""
    return bool((np.asarray(table["density"], np.float64) < 1).any())


def safe_name(name: str) -> str:
    """A layer name with nothing a CSV row or a file name would trip on (commas, spaces, slashes)."""
    return re.sub(r"[^A-Za-z0-9_.#-]", "_", name) or "layer"


def identifier(name: str) -> str:
    """A spec name as a peer tool's identifier (an accelerator or container name): letters, digits and _."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "accelerator"


def readme(
    table: LayerTable,
    spec,
    name: str,
    title: str,
    maps: list[str],
    limits: list[str],
    *,
    counts: dict[str, np.ndarray],
    exported: dict[str, str] | None = None,
    changed: dict[str, str] | None = None,
    extra: list[str] | None = None,
) -> str:
    """README.md of one export: what maps, what the format cannot express, and hwsim's cost for each
    (per layer: ``counts`` is the table's :func:`hwsim.costs.count_columns`, computed once by the
    exporter). ``exported``: for ``"noise"`` (FLOAT's noise add)
    or ``"density"`` (irregular density), what the format DOES express of it: that text goes under
    "What maps", followed by hwsim's count, instead of the "cannot express" line. ``changed``: for the
    same keys, how the export rewrote what the format cannot take (e.g. sparse layers written dense):
    a "What was changed" section, followed by hwsim's count, instead of that line. ``extra``: lines
    appended at the end (a format's own per-layer table)."""
    names = [str(n) for n in table["name"]]
    noise = np.asarray(counts["noise_add_ops"], np.int64)
    film = np.asarray(counts["film_mod_ops"], np.int64)
    density = np.asarray(table["density"], np.float64)
    bn = np.asarray(table["bn_params"], np.int64)
    macs = np.asarray(counts["macs"], np.int64)
    eff = np.asarray(counts["effective_macs"], np.int64)
    lines = [f"# {title}", ""]
    lines += [f"Exported by `hwsim export` from the layer table of `{name}`"]
    lines += [f"(spec `{getattr(spec, 'name', '?')}`): {len(table)} layers, {int(macs.sum())} MACs in all.", ""]
    cost = {
        "noise": f"hwsim `noise_add_ops` = {int(noise.sum())} in all, on {int((noise > 0).sum())} layers.",
        "density": f"hwsim `effective_macs` = {int(eff.sum())} of {int(macs.sum())} MACs, "
        f"on {int((density < 1).sum())} layers with density < 1.",
    }
    exported, changed = exported or {}, changed or {}
    lines += ["## What maps", ""] + [f"- {m}" for m in maps]
    lines += [f"- {exported[key]} {cost[key]}" for key in ("noise", "density") if key in exported] + [""]
    if changed:
        lines += ["## What was changed", ""]
        lines += [f"- {changed[key]} {cost[key]}" for key in ("noise", "density") if key in changed] + [""]
    exported = {**exported, **changed}
    lines += ["## What this format cannot express", ""]
    lines += [f"- {m}" for m in limits]
    lines += [
        "- **Residual adds, pooling, ReLU**: not layers of the table; hwsim counts them as 0 ops.",
        f"- **BN**: folded into the preceding conv at inference; hwsim counts 0 ops for it "
        f"({int(bn.sum())} BN parameters in all, on {int((bn > 0).sum())} layers).",
    ]
    if "noise" not in exported:
        lines.append(f"- **FLOAT noise add** (theta + lambda alpha eta, one add per weight): {cost['noise']}")
    lines.append(
        f"- **OAT FiLM modulation** (x * mu + sigma; its MLP linears ARE exported as layers): "
        f"hwsim `film_mod_ops` = {int(film.sum())} in all, on {int((film > 0).sum())} layers."
    )
    if "density" not in exported:
        lines.append(f"- **Irregular (FLOATS) density**: exported shapes are dense; {cost['density']}")
    lines.append("")
    shown = (noise > 0) | (film > 0) | (density < 1) | (bn > 0)
    if shown.any():
        heading = "hwsim's per-layer costs" if exported else "hwsim's cost of what is not exported, per layer"
        lines += [f"## {heading}", ""]
        lines += ["| layer | macs | effective_macs | density | noise_add_ops | film_mod_ops | bn_params |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for i in np.flatnonzero(shown):
            lines.append(
                f"| `{names[i]}` | {macs[i]} | {eff[i]} | {density[i]:.6g} | {noise[i]} | {film[i]} | {bn[i]} |"
            )
        lines.append("")
    lines += extra or []
    return "\n".join(lines)
