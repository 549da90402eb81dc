"""Run Timeloop's mapper (the C++ ``timeloop-mapper`` on PATH) on layers of an hwsim Timeloop export with
the export's own energy table, through timeloopfe (Accelergy-Project/timeloop-python: loads the v0.4
files, runs its processors, transpiles to what timeloop-mapper reads). Prints one JSON line per layer:
cycles, computes (MACs), total energy in pJ, energy per component in pJ, the mapping Timeloop found and
the wall time; or the failure. Runs in the peer's own environment (see benchmarks/timeloop_run.py); hwsim
is not imported here.

    python run_mapper.py EXPORT_DIR OUT_DIR [--timeout N] [--victory N] [--threads N] [--metrics M ...]
        [--mapspace uber|ruby] FILE [FILE ...]
"""

import argparse
import json
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore")  # accelergy's SyntaxWarnings on import
from pytimeloop.timeloopfe.common.backend_calls import call_mapper  # noqa: E402
from pytimeloop.timeloopfe.v4 import Specification  # noqa: E402
from pytimeloop.timeloopfe.v4.output_parsing import parse_stats_file  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("export_dir", type=Path)
ap.add_argument("out_dir", type=Path)
ap.add_argument("files", nargs="+")
ap.add_argument("--timeout", type=int, default=10000, help="mapper: stop after this many invalid mappings in a row")
ap.add_argument("--victory", type=int, default=100, help="mapper: stop after this many mappings without a better one")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--metrics", nargs="+", help="mapper: optimization_metrics instead of the export's")
ap.add_argument("--mapspace", default="uber", help="uber (exact factors, the default) or ruby (imperfect factors)")
args = ap.parse_args()

for name in args.files:
    out = args.out_dir / Path(name).stem
    row = {"file": name}
    began = time.perf_counter()
    try:
        spec = Specification.from_yaml_files(
            [str(args.export_dir / "arch.yaml"), str(args.export_dir / "mapper.yaml"), str(args.export_dir / name)]
        )
        spec.mapper.timeout, spec.mapper.victory_condition = args.timeout, args.victory
        spec.mapper.num_threads = args.threads
        if args.metrics:
            spec.mapper["optimization_metrics"] = args.metrics
        spec.mapspace.template = args.mapspace
        # the export's ERT goes to timeloop-mapper as a further input file: Timeloop then prices every action
        # from it instead of its own energy models; return_proc: no ART (area) table is needed
        out.mkdir(parents=True, exist_ok=True)
        proc = call_mapper(spec, str(out), extra_input_files=[str(args.export_dir / "ERT.yaml")],
                           log_to=str(out / "log.txt"), return_proc=True)  # fmt: skip
        if proc.wait() != 0:
            raise RuntimeError(f"timeloop-mapper exited {proc.returncode}: {(out / 'log.txt').read_text()[-400:]}")
        cycles, computes, _, energy, _ = parse_stats_file(str(out / "timeloop-mapper.stats.txt"))
        row |= {
            "cycles": cycles,
            "computes": computes,
            "energy_pj": sum(energy.values()) * 1e12,
            "components_pj": {k: v * 1e12 for k, v in energy.items()},
            "mapping": (out / "timeloop-mapper.map.txt").read_text(),
        }
    except Exception as exc:  # report every layer, not only the first failure
        row["error"] = str(exc)[-600:]
    row["wall_s"] = round(time.perf_counter() - began, 2)
    print(json.dumps(row), flush=True)
