"""Run the real Timeloop (NVlabs/timeloop's C++ ``timeloop-mapper``) on hwsim's Timeloop export and put
its energy and cycles beside hwsim's hierarchy model (``hier_energy_pj``, ``hier_latency_ns``) per layer.

Each layer of ``--model`` (default ResNet34 / CIFAR-10 PGD-AT; ``--layers``: rows of its table) is exported
with ``hwsim export --to timeloop --spec SPEC`` (problem, ``arch.yaml``, ``ERT.yaml``, ``mapper.yaml``)
and mapped by timeloop-mapper through timeloopfe (``benchmarks/peers/timeloop/run_mapper.py``), with the
export's ERT as an extra input file so that Timeloop prices every access at the spec's energies; hwsim
costs the same table on the same spec. Printed per layer: MACs of both (must be equal), energy of both
and their ratio, cycles of both and their ratio, and each tool's energy per level.

Timeloop is not on PyPI; build it (and barvinok, which Debian does not package) from source, outside the
repository (nothing of it is committed), as was done here (Debian 12, 2 cores: barvinok about 8 minutes, Timeloop
about 45):

    apt-get install scons libyaml-cpp-dev libconfig++-dev libboost-iostreams-dev \\
        libboost-serialization-dev libboost-thread-dev libncurses-dev libgpm-dev libisl-dev libntl-dev \\
        libgmp-dev autoconf automake libtool pkg-config g++ make
    # barvinok 0.41.6 (its isl 0.25 is Debian's libisl-dev): github.com/inducer/barvinok @ c067f2f7e378,
    # its polylib submodule github.com/vincentloechner/polylib @ f15b757900b9, no pet
    git clone https://github.com/inducer/barvinok /tmp/tlbuild/barvinok && cd /tmp/tlbuild/barvinok
    git checkout c067f2f7e37856db978e67306f70649fae2c7c01
    git clone https://github.com/vincentloechner/polylib polylib && git -C polylib checkout f15b757900b9
    mkdir -p isl pet && ./autogen.sh
    ./configure --prefix=/tmp/tlbuild/prefix --with-isl=system --with-polylib=bundled --with-pet=no \\
        --enable-shared --disable-static && make -j2 && make install
    # Timeloop: github.com/NVlabs/timeloop @ 4cf6d4cd043b
    git clone https://github.com/NVlabs/timeloop /tmp/tlbuild/timeloop && cd /tmp/tlbuild/timeloop
    git checkout 4cf6d4cd043bc2a5d2eb02afa9063d7117a4dc11
    ln -s ../pat-public/src/pat src/pat && BARVINOKPATH=/tmp/tlbuild/prefix scons -j2

and timeloopfe as in benchmarks/timeloop_parse.py (``/tmp/tlp``, ``/tmp/tlvenv``). Then:

    PYTHONPATH=$PWD python benchmarks/timeloop_run.py --timeloopfe-python /tmp/tlvenv/bin/python \\
        --timeloopfe-path /tmp/tlp --timeloop-bin /tmp/tlbuild/timeloop/bin \\
        --timeloop-lib /tmp/tlbuild/timeloop/lib:/tmp/tlbuild/prefix/lib

Measured here (2-core CPU, victory 500, mapspace uber): see the README's Exporters section.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.config import load_spec  # noqa: E402
from hwsim.costs import costs  # noqa: E402
from hwsim.costs.metrics import count_columns  # noqa: E402
from hwsim.estimate import layer_table, load_model_and_spec  # noqa: E402
from hwsim.export import export, write_export  # noqa: E402

RUNNER = Path(__file__).resolve().parent / "peers" / "timeloop" / "run_mapper.py"
# conv1 (C = 3), a 3x3 conv, a stride-2 3x3 conv, a stride-2 1x1 shortcut, a deep 3x3 conv, the linear
DEFAULT_LAYERS = [0, 1, 7, 9, 32, 36]
LEVELS = {"DRAM": "hier_dram_pj", "global_buffer": "hier_glb_pj", "local": "hier_local_pj", "mac": "hier_compute_pj"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeloopfe-python", required=True)
    ap.add_argument("--timeloopfe-path", required=True, help="folder holding pytimeloop/ and accelergy/")
    ap.add_argument("--timeloop-bin", required=True, help="folder holding timeloop-mapper")
    ap.add_argument("--timeloop-lib", default="", help="LD_LIBRARY_PATH for timeloop-mapper (its and barvinok's)")
    ap.add_argument("--model", default=str(ROOT / "models" / "resnet34-cifar10-pgdat.yaml"))
    ap.add_argument("--spec", default="eyeriss-65nm")
    ap.add_argument("--layers", type=int, nargs="+", default=DEFAULT_LAYERS)
    ap.add_argument("--timeout", type=int, default=10000, help="timeloop-mapper: invalid mappings in a row")
    ap.add_argument("--victory", type=int, default=500, help="timeloop-mapper: mappings without improvement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mapspace", default="uber", help="uber: exact factors (Timeloop's default); ruby: imperfect")
    args = ap.parse_args()

    config, _ = load_model_and_spec(args.model)
    spec = load_spec(args.spec)
    table = layer_table(config)
    began = time.perf_counter()
    grid = costs(table, spec, config.method)
    hwsim_s = time.perf_counter() - began
    clock = spec.hierarchy.clock_mhz
    macs = np.asarray(count_columns(table)["macs"], np.int64)
    files = export(table, "timeloop", spec, name=config.name)
    names = [n for n in files if n[:3].isdigit()]
    chosen = [names[i] for i in args.layers]
    env = {**os.environ, "PYTHONPATH": args.timeloopfe_path,
           "PATH": f"{args.timeloop_bin}{os.pathsep}{os.environ['PATH']}",
           "LD_LIBRARY_PATH": f"{args.timeloop_lib}{os.pathsep}{os.environ.get('LD_LIBRARY_PATH', '')}"}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        write_export(files, Path(tmp) / "export")
        began = time.perf_counter()
        out = subprocess.run(
            [args.timeloopfe_python, str(RUNNER), str(Path(tmp) / "export"), str(Path(tmp) / "runs"), *chosen,
             "--timeout", str(args.timeout), "--victory", str(args.victory), "--threads", str(args.threads), "--mapspace", args.mapspace],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        timeloop_s = time.perf_counter() - began
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"{config.name} on {spec.name} ({clock:g} MHz): hwsim hierarchy model vs timeloop-mapper "
          f"(mapspace {args.mapspace}, victory {args.victory})")  # fmt: skip
    print(f"{'layer':<24}{'MACs':>11}{'hwsim uJ':>10}{'TL uJ':>9}{'TL/hw':>7}{'hwsim cyc':>11}{'TL cyc':>10}"
          f"{'TL/hw':>7}   per level pJ, hwsim / Timeloop: DRAM GLB local MAC")  # fmt: skip
    failed = 0
    for i, row in zip(args.layers, rows):
        name = str(table["name"][i])
        hw_pj = float(grid.layer("hier_energy_pj")[i, 0])
        hw_cycles = float(grid.layer("hier_latency_ns")[i, 0]) * clock / 1e3
        if "error" in row:
            print(f"{name:<24} timeloop-mapper failed: {row['error'][:300]}")
            failed += 1
            continue
        if row["computes"] != int(macs[i]):
            print(f"{name}: Timeloop computes {row['computes']} != hwsim MACs {macs[i]}")
            failed += 1
        levels = " | ".join(
            f"{float(grid.layer(metric)[i, 0]):.3g} / {row['components_pj'].get(level, 0.0):.3g}"
            for level, metric in LEVELS.items()
        )
        print(f"{name:<24}{int(macs[i]):>11}{hw_pj / 1e6:>10.2f}{row['energy_pj'] / 1e6:>9.2f}"
              f"{row['energy_pj'] / hw_pj:>7.2f}{hw_cycles:>11.0f}{row['cycles']:>10}{row['cycles'] / hw_cycles:>7.2f}"
              f"   {levels}")  # fmt: skip
        others = {k: v for k, v in row["components_pj"].items() if k not in LEVELS and v}
        if others:
            print(f"{'':<24}Timeloop's other components (pJ): {others}")
    print(f"wall time: hwsim {hwsim_s:.2f} s (whole table), timeloop-mapper {timeloop_s:.1f} s "
          f"({len(rows)} layers, {[r['wall_s'] for r in rows]} s each)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
