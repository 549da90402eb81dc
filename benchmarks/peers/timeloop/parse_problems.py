"""Parse Timeloop v0.4 problem YAMLs with timeloopfe (the pure-Python front-end of Timeloop, in
Accelergy-Project/timeloop-python) and print one JSON line per file: its instance dimensions, MACs
(C M R S N P Q) and weight density, or the front-end's error. Runs in the peer's own environment
(see benchmarks/timeloop_parse.py); hwsim is not imported here.

    python parse_problems.py DIR [DIR ...]
"""

import json
import sys
import warnings
from pathlib import Path

import yaml

warnings.simplefilter("ignore")  # accelergy's SyntaxWarnings on import
from pytimeloop.timeloopfe.v4.problem import Problem  # noqa: E402

for folder in sys.argv[1:]:
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            problem = Problem(**yaml.safe_load(path.read_text())["problem"])
            problem.check_unrecognized()  # unknown or misspelt keys, missing required ones
            inst = problem.instance
            dims = {d: int(inst[d]) for d in ("C", "M", "R", "S", "N", "P", "Q")}
            macs = 1
            for v in dims.values():
                macs *= v
            densities = inst.get("densities") or {}
            weights = densities.get("Weights") if densities else None
            density = float(weights["density"]) if weights else 1.0
            print(json.dumps({"dir": folder, "file": path.name, "macs": macs, "density": density}))
        except Exception as exc:  # report every file, not only the first failure
            print(json.dumps({"dir": folder, "file": path.name, "error": str(exc)[:300]}))
