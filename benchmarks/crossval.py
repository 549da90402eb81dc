"""Cross-validate hwsim's hierarchy cost model against ZigZag (and SCALE-Sim) on the same hardware.

Every layer of each model (default: ResNet34 / CIFAR-10 and WRN16-8 / SVHN, PGD-AT) is exported with
``hwsim export --to zigzag --spec SPEC`` (workload + the spec's accelerator and spatial mapping) and
run through ZigZag's own API (``get_hardware_performance_zigzag``, LOMA temporal-mapping search,
``--opt`` energy by default); hwsim costs the same layer table on the same spec
(``hwsim.costs.costs``, the ``hier_*`` metrics). Printed per layer: the MACs of both (must be equal),
the energy of both and their ratio, the latency in cycles of both and their ratio; per model: the
Spearman rank correlation of energy and of latency over all layers, the spread of the energy ratio,
and each tool's wall time. With ``--scalesim-python``, a few layers (``--scalesim-layers``) also run
through SCALE-Sim 3.0.0 on the exported cfg (the spec's array, SRAMs, bandwidth and dataflow): its
cycles against hwsim's latency cycles.

Each peer runs in its own python (``--zigzag-python``, ``--scalesim-python``): SCALE-Sim 3.0.0 needs
numpy < 2, zigzag-dse 3.9.1 works with numpy 2.4:

    python -m venv /tmp/zz && /tmp/zz/bin/pip install zigzag-dse==3.9.1 six
    python -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install "numpy==1.26.4" scalesim==3.0.0
    PYTHONPATH=$PWD python benchmarks/crossval.py --zigzag-python /tmp/zz/bin/python \\
        --scalesim-python /tmp/ssvenv/bin/python

The measured table is in README.md (section "Cross-validation"). The goals of issue 17: Spearman
rho >= 0.95 on every network, per-layer energy within 1.5x of ZigZag's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.config import load_spec  # noqa: E402
from hwsim.costs import costs  # noqa: E402
from hwsim.export import export, source_table, write_export  # noqa: E402
from hwsim.workload.table import LayerTable  # noqa: E402

MODELS = ["models/resnet34-cifar10-pgdat.yaml", "models/wrn16_8-svhn-pgdat.yaml"]
SPEC = "eyeriss-65nm"
# SCALE-Sim simulates every cycle: a 1x1 shortcut takes ~6 s on the Eyeriss-like cfg, a 37.7M-MAC 3x3
# conv (its DRAM stalls simulated at 4 words a cycle) more than 25 minutes; so the small layers
SCALESIM_LAYERS = ["conv1", "layers.1.0.shortcut.0", "layers.2.0.shortcut.0", "layers.3.0.shortcut.0", "fc"]
GOAL_RHO, GOAL_RATIO = 0.95, 1.5

# Run with ZigZag's python: argv = folder with workload / accelerator / mapping, dump folder, opt. Prints JSON.
ZIGZAG_DRIVER = r"""
import json, logging, os, sys, time
logging.disable(logging.WARNING)
from zigzag.api import get_hardware_performance_zigzag
folder, dump, opt, lpf = sys.argv[1:5]
began = time.perf_counter()
_, _, cmes = get_hardware_performance_zigzag(
    workload=os.path.join(folder, "workload.yaml"), accelerator=os.path.join(folder, "accelerator.yaml"),
    mapping=os.path.join(folder, "mapping.yaml"), opt=opt, dump_folder=dump, loma_show_progress_bar=False,
    lpf_limit=int(lpf))
seconds = time.perf_counter() - began
layers = {}
for cme, _ in cmes[0][1]:
    levels = {}
    for breakdown in cme.mem_energy_breakdown.values():
        for i, value in enumerate(breakdown):
            levels[i] = levels.get(i, 0.0) + float(value)
    layers[cme.layer.name] = {
        "macs": int(cme.layer.total_mac_count), "energy_pj": float(cme.energy_total),
        "mac_pj": float(cme.mac_energy), "levels_pj": [levels[i] for i in sorted(levels)],
        "cycles": float(cme.latency_total2), "ideal_cycles": float(cme.ideal_temporal_cycle),
    }
print(json.dumps({"layers": layers, "seconds": seconds}))
"""

# Run with SCALE-Sim's python: argv = folder with the exported files, run name. Prints JSON.
SCALESIM_DRIVER = r"""
import contextlib, csv, io, json, sys, time
from pathlib import Path
from scalesim.scale_sim import scalesim
folder, name = Path(sys.argv[1]), sys.argv[2]
began = time.perf_counter()
sim = scalesim(save_disk_space=True, verbose=False, config=str(folder / f"{name}.cfg"),
               topology=str(folder / f"{name}_topology.csv"), layout=str(folder / f"{name}_layout.csv"),
               input_type_gemm=False)
with contextlib.redirect_stdout(io.StringIO()):
    sim.run_scale(top_path=str(folder / "out"))
seconds = time.perf_counter() - began
macs = [int(sim.topo.get_layer_mac_ops(i)) for i in range(sim.topo.get_num_layers())]
rows = list(csv.reader(next((folder / "out").rglob("COMPUTE_REPORT.csv")).open()))
head = [c.strip() for c in rows[0]]
cycles = [int(float(r[head.index("Total Cycles")])) for r in rows[1:] if r and r[0].strip()]
util = [float(r[head.index("Overall Util %")]) for r in rows[1:] if r and r[0].strip()]
print(json.dumps({"macs": macs, "cycles": cycles, "util": util, "seconds": seconds}))
"""


def run_driver(python: str, driver: str, args: list[str]) -> dict:
    done = subprocess.run([python, "-c", driver, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()
        raise RuntimeError(tail[-1] if tail else f"exit {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def importable(python: str, module: str) -> bool:
    try:
        return subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def sliced(table: LayerTable, names: list[str]) -> LayerTable:
    order = list(table["name"])
    idx = [order.index(n) for n in names]
    return LayerTable({c: table[c][idx] for c in table.columns}, table.attrs)


SHAPE = ("op", "kernel_h", "kernel_w", "in_channels", "out_channels", "groups", "stride_h", "stride_w", "padding_h",
         "padding_w", "dilation_h", "dilation_w", "in_h", "in_w", "out_h", "out_w")  # fmt: skip


def distinct_shapes(table: LayerTable) -> tuple[LayerTable, dict[str, str]]:
    """The first row of each distinct layer shape (ZigZag searches a mapping per row: equal shapes
    give equal results), and each layer's stand-in."""
    seen, first, stand_in = {}, [], {}
    for i, name in enumerate(table["name"]):
        key = tuple(table[c][i] for c in SHAPE)
        if key not in seen:
            seen[key] = str(name)
            first.append(str(name))
        stand_in[str(name)] = seen[key]
    return sliced(table, first), stand_in


def hwsim_layers(model: str, spec) -> tuple[LayerTable, str, dict[str, dict], float]:
    began = time.perf_counter()
    table, spec, label = source_table(model, spec)
    from hwsim.estimate import load_model_and_spec

    config, _ = load_model_and_spec(model)
    grid = costs(table, spec, config.method)
    clock = spec.hierarchy.clock_mhz
    names = list(table["name"])
    out = {
        n: {
            "macs": int(grid.layer("macs")[i]),
            "energy_pj": float(grid.layer("hier_energy_pj")[i, 0]),
            "cycles": float(grid.layer("hier_latency_ns")[i, 0]) * clock / 1e3,
            "levels_pj": [float(grid.layer(f"hier_{k}_pj")[i, 0]) for k in ("local", "glb", "dram")],
            "mac_pj": float(grid.layer("hier_compute_pj")[i, 0]),
        }
        for i, n in enumerate(names)
    }
    return table, label, out, time.perf_counter() - began


def rho(a, b) -> float:
    return float(spearmanr(np.asarray(a), np.asarray(b)).statistic)


def report_zigzag(model: str, label: str, hw: dict, zz: dict, seconds: tuple[float, float], stand_in: dict) -> dict:
    print(f"\n{label} ({model}): {len(hw)} layers; hwsim {seconds[0]:.2f} s, ZigZag {seconds[1]:.1f} s")
    print(
        f"{'layer':<24} {'MACs':>11} {'ZZ MACs':>11} {'hwsim uJ':>9} {'ZZ uJ':>9} {'E ratio':>7} "
        f"{'hwsim cyc':>10} {'ZZ cyc':>10} {'L ratio':>7}"
    )
    ratios, mismatches = [], []
    for name, h in hw.items():
        z = zz[name]
        flag = "" if z["macs"] == h["macs"] else "!"
        if flag:
            mismatches.append(name)
        ratio = h["energy_pj"] / z["energy_pj"]
        ratios.append(ratio)
        print(
            f"{name:<24} {h['macs']:>11} {str(z['macs']) + flag:>11} {h['energy_pj'] / 1e6:>9.2f} "
            f"{z['energy_pj'] / 1e6:>9.2f} {ratio:>7.3f} {h['cycles']:>10.0f} {z['cycles']:>10.0f} "
            f"{h['cycles'] / z['cycles']:>7.3f}"
        )
    names = list(hw)
    energy_rho = rho([hw[n]["energy_pj"] for n in names], [zz[n]["energy_pj"] for n in names])
    latency_rho = rho([hw[n]["cycles"] for n in names], [zz[n]["cycles"] for n in names])
    # the same over the distinct shapes (each once): repeated identical layers make ties of equal values
    shapes = list(dict.fromkeys(stand_in[n] for n in names))
    distinct_energy = rho([hw[n]["energy_pj"] for n in shapes], [zz[n]["energy_pj"] for n in shapes])
    distinct_latency = rho([hw[n]["cycles"] for n in shapes], [zz[n]["cycles"] for n in shapes])
    ratios = np.asarray(ratios)
    inside = int(((ratios <= GOAL_RATIO) & (ratios >= 1 / GOAL_RATIO)).sum())
    total = sum(h["energy_pj"] for h in hw.values()) / sum(z["energy_pj"] for z in zz.values())
    total_cycles = sum(h["cycles"] for h in hw.values()) / sum(z["cycles"] for z in zz.values())
    print(
        f"Spearman rho, energy {energy_rho:.3f}, latency {latency_rho:.3f} (goal >= {GOAL_RHO}); energy ratio "
        f"hwsim / ZigZag min {ratios.min():.3f} median {np.median(ratios):.3f} max {ratios.max():.3f}, "
        f"{inside} of {len(ratios)} layers within {GOAL_RATIO}x; whole network energy {total:.3f}x, "
        f"latency {total_cycles:.3f}x"
    )
    print(f"over the {len(shapes)} distinct shapes (each once): Spearman rho, energy {distinct_energy:.3f}, "
          f"latency {distinct_latency:.3f}")  # fmt: skip
    levels = lambda d: np.sum([v["levels_pj"] + [v["mac_pj"]] for v in d.values()], axis=0) / 1e6  # noqa: E731
    hl, zl = levels(hw), levels(zz)
    print(
        "energy by level, uJ (local / buffer / DRAM / MAC): hwsim "
        + " / ".join(f"{v:.1f}" for v in hl)
        + "; ZigZag "
        + " / ".join(f"{v:.1f}" for v in zl)
    )
    print("MACs: all equal" if not mismatches else f"MAC MISMATCH on {', '.join(mismatches)}")
    return {"energy_rho": energy_rho, "latency_rho": latency_rho, "distinct_energy_rho": distinct_energy,
            "distinct_latency_rho": distinct_latency, "mismatches": mismatches}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--spec", default=SPEC)
    parser.add_argument(
        "--opt",
        nargs="+",
        default=["energy", "latency"],
        choices=["energy", "latency", "EDP"],
        help="ZigZag's objectives: energies come from the first run, latencies from the last",
    )
    parser.add_argument(
        "--lpf-limit", type=int, default=7,
        help="ZigZag's LOMA search breadth (its default 6 finds mappings up to 1.2x costlier on WRN16-8; 8 takes ~400 s a layer)",
    )  # fmt: skip
    parser.add_argument("--zigzag-python", default=sys.executable, help="a python with zigzag-dse (default: this one)")
    parser.add_argument("--scalesim-python", default=None, help="a python with scalesim 3.0.0 and numpy < 2")
    parser.add_argument("--scalesim-layers", nargs="*", default=SCALESIM_LAYERS, help="layers of the first model")
    parser.add_argument("--json", type=Path, default=None, help="also write every number measured here")
    args = parser.parse_args(argv)

    spec = load_spec(args.spec)
    print(
        f"spec {spec.name} ({spec.hierarchy.dataflow}, {spec.hierarchy.array.rows} x {spec.hierarchy.array.cols} PEs)"
    )
    print(f"ZigZag: {args.zigzag_python}, opt={args.opt}, lpf_limit={args.lpf_limit}; "
          f"SCALE-Sim: {args.scalesim_python or 'not run'}")  # fmt: skip
    failed, everything = False, {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for k, model in enumerate(args.models):
            table, label, hw, hw_seconds = hwsim_layers(model, spec)
            everything[model] = {"hwsim": hw}
            if not importable(args.zigzag_python, "zigzag"):
                print(f"ZigZag: not importable in {args.zigzag_python}; pip install zigzag-dse==3.9.1 six")
                return 1
            folder = tmp / f"zigzag{k}"
            distinct, stand_in = distinct_shapes(table)
            write_export(export(distinct, "zigzag", spec, name=label), folder)
            runs = {}
            for opt in dict.fromkeys(args.opt):
                out = run_driver(args.zigzag_python, ZIGZAG_DRIVER, [str(folder), str(tmp / f"zz-{k}-{opt}"), opt,
                                                                    str(args.lpf_limit)])  # fmt: skip
                runs[opt] = out
                print(f"ZigZag opt={opt}, lpf_limit={args.lpf_limit}: {len(distinct)} distinct shapes of {len(table)} "
                      f"layers in {out['seconds']:.1f} s")  # fmt: skip
            everything[model]["zigzag"] = runs
            energy_run, latency_run = runs[args.opt[0]]["layers"], runs[args.opt[-1]]["layers"]
            zz = {n: {**energy_run[stand_in[n]], "cycles": latency_run[stand_in[n]]["cycles"]} for n in table["name"]}
            seconds = sum(r["seconds"] for r in runs.values())
            summary = report_zigzag(model, label, hw, zz, (hw_seconds, seconds), stand_in)
            everything[model]["summary"] = summary
            failed |= bool(summary["mismatches"])
            if k == 0 and args.scalesim_python and args.scalesim_layers:
                if not importable(args.scalesim_python, "scalesim"):
                    print(f"SCALE-Sim: not importable in {args.scalesim_python}")
                    continue
                part = sliced(table, args.scalesim_layers)
                files = export(part, "scalesim", spec, name=label)
                write_export(files, tmp / "scalesim")
                base = next(f for f in files if f.endswith(".cfg"))[: -len(".cfg")]
                ss = run_driver(args.scalesim_python, SCALESIM_DRIVER, [str(tmp / "scalesim"), base])
                everything[model]["scalesim"] = ss
                print(f"\nSCALE-Sim 3.0.0 on {len(args.scalesim_layers)} layers of {label} ({ss['seconds']:.1f} s)")
                print(f"{'layer':<24} {'MACs':>11} {'SS MACs':>11} {'hwsim cyc':>10} {'SS cyc':>10} {'util %':>7}")
                for i, name in enumerate(args.scalesim_layers):
                    flag = "" if ss["macs"][i] == hw[name]["macs"] else "!"
                    failed |= bool(flag)
                    print(
                        f"{name:<24} {hw[name]['macs']:>11} {str(ss['macs'][i]) + flag:>11} "
                        f"{hw[name]['cycles']:>10.0f} {ss['cycles'][i]:>10.0f} {ss['util'][i]:>7.2f}"
                    )
                print(
                    f"Spearman rho, hwsim latency vs SCALE-Sim cycles: "
                    f"{rho([hw[n]['cycles'] for n in args.scalesim_layers], ss['cycles']):.3f}"
                )
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
