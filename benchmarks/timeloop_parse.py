"""Check hwsim's Timeloop export against Timeloop's own front-end (issue 11): every shipped model is
exported with ``hwsim export --to timeloop``, each problem file is parsed by timeloopfe's v4
``Problem`` (unknown, misspelt or missing keys and a wrong version are errors there), and the MACs
of the parsed instance (C M R S N P Q) and its weight density are compared with hwsim's per layer.

timeloopfe is not on PyPI and needs no C++ Timeloop for parsing; it runs in its own environment:

    git clone https://github.com/Accelergy-Project/timeloop-python /tmp/tlsrc/tp     # checked: b8aaf2c
    git clone https://github.com/Accelergy-Project/accelergy /tmp/tlsrc/acc          # checked: 6911d15
    mkdir -p /tmp/tlp && cp -r /tmp/tlsrc/tp/pytimeloop /tmp/tlsrc/acc/accelergy /tmp/tlp/
    : > /tmp/tlp/pytimeloop/__init__.py          # skip the C++ bindings; timeloopfe is pure Python
    python -m venv /tmp/tlvenv && /tmp/tlvenv/bin/pip install ruamel.yaml jinja2 psutil pyyaml
    PYTHONPATH=$PWD python benchmarks/timeloop_parse.py --timeloopfe-python /tmp/tlvenv/bin/python \
        --timeloopfe-path /tmp/tlp

Measured here (27 shipped models, 2-core CPU): see the README's Exporters section.
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

from hwsim.costs.metrics import count_columns
from hwsim.export import export, source_table, write_export

REPO = Path(__file__).resolve().parents[1]
PARSER = Path(__file__).resolve().parent / "peers" / "timeloop" / "parse_problems.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeloopfe-python", required=True, help="python of the timeloopfe environment")
    ap.add_argument("--timeloopfe-path", required=True, help="folder holding pytimeloop/ and accelergy/")
    args = ap.parse_args()
    models = sorted((REPO / "models").glob("*.yaml"))
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        expected: dict[str, list[tuple[int, float]]] = {}
        for model in models:
            table, spec, name = source_table(model)
            out = Path(tmp) / model.stem
            write_export(export(table, "timeloop", spec, name=name), out)
            macs = np.asarray(count_columns(table)["macs"], np.int64)
            expected[str(out)] = [(int(m), float(d)) for m, d in zip(macs, np.asarray(table["density"]))]
        exported = time.perf_counter() - began
        env = {**os.environ, "PYTHONPATH": args.timeloopfe_path}
        began = time.perf_counter()
        lines = subprocess.run(
            [args.timeloopfe_python, str(PARSER), *expected], env=env, check=True, capture_output=True, text=True
        ).stdout.splitlines()
        parsed = time.perf_counter() - began
    rows = [json.loads(line) for line in lines]
    errors = [r for r in rows if "error" in r]
    bad = 0
    for folder, want in expected.items():
        got = [r for r in rows if r["dir"] == folder and "error" not in r]
        if len(got) + sum(r["dir"] == folder for r in errors) != len(want):
            print(f"{Path(folder).name}: {len(want)} layers, {len(got)} parsed")
            bad += 1
        for r, (macs, density) in zip(got, want):
            if r["macs"] != macs or abs(r["density"] - density) > 1e-9:
                print(f"{Path(folder).name}/{r['file']}: timeloopfe {r['macs']} MACs d={r['density']}, "
                      f"hwsim {macs} d={density}")  # fmt: skip
                bad += 1
    for r in errors:
        print(f"{Path(r['dir']).name}/{r['file']}: timeloopfe error: {r['error']}")
    print(f"{len(models)} models, {len(rows)} problem files: {len(rows) - len(errors)} parsed by timeloopfe, "
          f"{len(errors)} errors, {bad} mismatches of MACs / density against hwsim")  # fmt: skip
    print(f"wall time: export {exported:.2f} s, timeloopfe parse {parsed:.2f} s")
    return 1 if errors or bad else 0


if __name__ == "__main__":
    sys.exit(main())
