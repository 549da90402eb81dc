"""Check hwsim's Timeloop export against Timeloop's own front-end (issues 11 and 17): every shipped model
is exported with ``hwsim export --to timeloop`` twice, with its own spec (problem files only) and with
``--spec eyeriss-65nm`` (problems + ``arch.yaml``, ``ERT.yaml``, ``mapper.yaml``). Each file is parsed by
timeloopfe's v4 classes (Problem, Architecture, Ert, Mapper) and by hwsim's strict check
(``hwsim.export.timeloop_schema``: upstream's key sets, since timeloopfe accepts any instance or
attribute key); per hardware export, the whole specification goes through timeloopfe's processors and
its v4 -> v3 transpiler (what it hands timeloop-mapper). The MACs of each parsed instance (C M R S N P
Q) and its weight density are compared with hwsim's per layer. Last, three files with one invented key
each (an instance key, a storage attribute, an ERT action) show what each check does with them.

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

from hwsim.config import load_spec
from hwsim.costs.metrics import count_columns
from hwsim.export import export, source_table, write_export
from hwsim.export.timeloop import ARCH_FILE, ERT_FILE

REPO = Path(__file__).resolve().parents[1]
PARSER = Path(__file__).resolve().parent / "peers" / "timeloop" / "parse_export.py"
HARDWARE_SPEC = "eyeriss-65nm"
# (file, what to replace, with what): one invented key each
MUTANTS = [
    ("001", "Wstride: 1", "Wstride: 1, Wstrde: 2"),  # a misspelt coefficient: Timeloop would use Wstride's default
    (ARCH_FILE, "depth: 13824,", "dept: 13824, depth: 13824,"),
    (ERT_FILE, "name: read", "name: raed"),  # an action Timeloop never looks up: reads priced at 0
]


def run_parser(args, folders: list[str]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": args.timeloopfe_path}
    out = subprocess.run(
        [args.timeloopfe_python, str(PARSER), *folders], env=env, check=True, capture_output=True, text=True
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def mutants(folder: Path, into: Path) -> list[str]:
    """Copies of ``folder`` with one invented key each; the new folders."""
    made = []
    for prefix, old, new in MUTANTS:
        target = into / f"mutant_{prefix.split('.')[0]}"
        files = {p.name: p.read_text() for p in folder.glob("*.yaml")}
        name = next(n for n in sorted(files) if n.startswith(prefix))
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new, 1)
        write_export(files, target)
        made.append(str(target))
    return made


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeloopfe-python", required=True, help="python of the timeloopfe environment")
    ap.add_argument("--timeloopfe-path", required=True, help="folder holding pytimeloop/ and accelergy/")
    args = ap.parse_args()
    models = sorted((REPO / "models").glob("*.yaml"))
    hardware = load_spec(HARDWARE_SPEC)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        expected: dict[str, list[tuple[int, float]]] = {}
        for model in models:
            table, spec, name = source_table(model)
            macs = np.asarray(count_columns(table)["macs"], np.int64)
            want = [(int(m), float(d)) for m, d in zip(macs, np.asarray(table["density"]))]
            for label, use in ((spec.name, spec), (HARDWARE_SPEC, hardware)):
                out = Path(tmp) / f"{model.stem}@{label}"
                write_export(export(table, "timeloop", use, name=name), out)
                expected[str(out)] = want
        exported = time.perf_counter() - began
        began = time.perf_counter()
        keysets, *rows = run_parser(args, list(expected))
        parsed = time.perf_counter() - began
        demo = run_parser(args, mutants(Path(tmp) / f"{models[0].stem}@{HARDWARE_SPEC}", Path(tmp)))[1:]
    bad = 0
    for mismatch in keysets["keysets"]:
        print(f"key set differs from timeloopfe's: {mismatch}")
        bad += 1
    errors = [r for r in rows if "error" in r]
    strict = [r for r in rows if r["strict"]]
    for folder, want in expected.items():
        got = [r for r in rows if r["dir"] == folder and r.get("kind") == "problem"]
        if len(got) != len(want):
            print(f"{Path(folder).name}: {len(want)} layers, {len(got)} problem files parsed")
            bad += 1
        for r, (macs, density) in zip(got, want):
            if r["macs"] != macs or abs(r["density"] - density) > 1e-9:
                print(f"{Path(folder).name}/{r['file']}: timeloopfe {r['macs']} MACs d={r['density']}, "
                      f"hwsim {macs} d={density}")  # fmt: skip
                bad += 1
    for r in errors:
        print(f"{Path(r['dir']).name}/{r['file']}: timeloopfe error: {r['error']}")
    for r in strict:
        print(f"{Path(r['dir']).name}/{r['file']}: strict check: {'; '.join(r['strict'])}")
    kinds = {k: sum(r.get("kind") == k for r in rows) for k in ("problem", "architecture", "ERT", "mapper", "spec")}
    print(f"{len(models)} models x 2 specs ({len(expected)} exports), {len(rows)} parses: "
          + ", ".join(f"{n} {k}" for k, n in kinds.items())
          + f"; {len(errors)} timeloopfe errors, {len(strict)} strict-check failures, {bad} mismatches "
          "(MACs / density against hwsim, key sets against timeloopfe's)")  # fmt: skip
    print(f"timeloopfe's declared key sets = timeloop_schema.py's: {not keysets['keysets']}")
    print("invented keys (one per file):")
    caught = 0
    for r in demo:
        mutated = any(r["file"].startswith(p) and Path(r["dir"]).name == f"mutant_{p.split('.')[0]}"
                      for p, _, _ in MUTANTS)  # fmt: skip
        if not mutated:
            continue
        verdict = f"error: {r['error'][:120]}" if "error" in r else "accepted"
        if r.get("kind") == "spec":
            print(f"  {Path(r['dir']).name}/{r['file']}: timeloopfe's processors and transpiler: {verdict}")
            continue
        caught += bool(r["strict"])
        print(f"  {Path(r['dir']).name}/{r['file']}: timeloopfe {verdict}; strict check: "
              f"{r['strict'][0][:160] if r['strict'] else 'accepted'}")  # fmt: skip
    print(f"wall time: export {exported:.2f} s, timeloopfe + strict parse {parsed:.2f} s")
    return 1 if errors or strict or bad or caught != len(MUTANTS) else 0


if __name__ == "__main__":
    sys.exit(main())
