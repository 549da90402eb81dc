"""Parse hwsim's Timeloop v0.4 exports with timeloopfe (the pure-Python front-end of Timeloop, in
Accelergy-Project/timeloop-python) and with hwsim's strict check (``hwsim/export/timeloop_schema.py``,
upstream's key sets), and print one JSON line per file:

* a problem file: its MACs (C M R S N P Q) and weight density, or timeloopfe's error;
* ``arch.yaml`` / ``ERT.yaml`` / ``mapper.yaml``: timeloopfe's Architecture / Ert / Mapper, or its error;
* per folder with an architecture, ``"kind": "spec"``: the whole specification (arch + mapper + first
  problem) through ``Specification.from_yaml_files``, timeloopfe's processors and ``v4_to_v3.transpile``
  (what timeloopfe hands timeloop-mapper), or the error;
* every file's strict-check errors under ``"strict"``.

A first line ``{"keysets": [...]}`` lists every key set of timeloop_schema.py that differs from what
timeloopfe's classes declare (empty: the copied sets are upstream's). Runs in the peer's own
environment (see benchmarks/timeloop_parse.py); hwsim is not imported (timeloop_schema.py is loaded by
path: it needs only PyYAML).

    python parse_export.py DIR [DIR ...]
"""

import importlib.util
import json
import sys
import warnings
from pathlib import Path

warnings.simplefilter("ignore")  # accelergy's SyntaxWarnings on import
import accelergy.utils.yaml as accelergy_yaml  # noqa: E402  (timeloopfe's own loader: keeps the !Tags)
from pytimeloop.timeloopfe.common.version_transpilers import v4_to_v3  # noqa: E402
from pytimeloop.timeloopfe.v4 import Specification, arch, constraints, ert, mapper, problem  # noqa: E402

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "hwsim" / "export" / "timeloop_schema.py"
spec = importlib.util.spec_from_file_location("timeloop_schema", SCHEMA_PATH)
schema = importlib.util.module_from_spec(spec)
spec.loader.exec_module(schema)


def declared(cls) -> set[str]:
    """The keys a timeloopfe class declares (its catch-alls "" and "ignore" left out)."""
    return set(cls._get_type_specifiers(None)) - {"", "ignore"}


KEYSETS = [  # (hwsim's set, timeloopfe's class)
    ("PROBLEM_KEYS", schema.PROBLEM_KEYS, problem.Problem),
    ("SHAPE_KEYS", schema.SHAPE_KEYS, problem.Shape),
    ("DATA_SPACE_KEYS", schema.DATA_SPACE_KEYS, problem.DataSpace),
    ("DENSITY_KEYS", schema.DENSITY_KEYS, problem.Density),
    ("ARCHITECTURE_KEYS", schema.ARCHITECTURE_KEYS, arch.Architecture),
    ("COMPONENT_KEYS", schema.COMPONENT_KEYS, arch.Storage),
    ("COMPONENT_KEYS", schema.COMPONENT_KEYS, arch.Compute),
    ("CONTAINER_KEYS", schema.CONTAINER_KEYS, arch.Container),
    ("SPATIAL_KEYS", schema.SPATIAL_KEYS, arch.Spatial),
    ("BASE_ATTRIBUTES", schema.BASE_ATTRIBUTES, arch.Attributes),
    ("STORAGE_ATTRIBUTES", schema.STORAGE_ATTRIBUTES, arch.StorageAttributes),
    ("BRANCH_TAGS | LEAF_TAGS", schema.BRANCH_TAGS | schema.LEAF_TAGS, arch.ArchNodes),
    ("CONSTRAINT_GROUP_KEYS", schema.CONSTRAINT_GROUP_KEYS, constraints.ConstraintGroup),
    ("CONSTRAINT_KEYS[spatial]", schema.CONSTRAINT_KEYS["spatial"], constraints.Spatial),
    ("CONSTRAINT_KEYS[temporal]", schema.CONSTRAINT_KEYS["temporal"], constraints.Temporal),
    ("CONSTRAINT_KEYS[dataspace]", schema.CONSTRAINT_KEYS["dataspace"], constraints.Dataspace),
    ("CONSTRAINT_KEYS[max_overbooked_proportion]", schema.CONSTRAINT_KEYS["max_overbooked_proportion"],
     constraints.MaxOverbookedProportion),
    ("ERT_KEYS", schema.ERT_KEYS, ert.Ert),
    ("TABLE_KEYS", schema.TABLE_KEYS, ert.Table),
    ("ACTION_KEYS", schema.ACTION_KEYS, ert.Action),
    ("MAPPER_KEYS - {optimization_metrics}", schema.MAPPER_KEYS - {"optimization_metrics"}, mapper.Mapper),
]  # fmt: skip
print(json.dumps({"keysets": [
    f"{name} != {cls.__name__}: only hwsim {sorted(ours - declared(cls))}, only timeloopfe {sorted(declared(cls) - ours)}"
    for name, ours, cls in KEYSETS if ours != declared(cls)
]}))  # fmt: skip

PARSERS = {"architecture": arch.Architecture, "ERT": ert.Ert, "mapper": mapper.Mapper}


def parse(path: Path) -> dict:
    data = accelergy_yaml.load_yaml(str(path))
    (key,) = data
    if key == "problem":
        parsed = problem.Problem(**data["problem"])
        parsed.check_unrecognized()  # unknown or misspelt keys (but not in instance), missing required ones
        inst = parsed.instance
        macs = 1
        for d in ("C", "M", "R", "S", "N", "P", "Q"):
            macs *= int(inst[d])
        weights = (inst.get("densities") or {}).get("Weights")
        return {"kind": "problem", "macs": macs, "density": float(weights["density"]) if weights else 1.0}
    PARSERS[key](**data[key]).check_unrecognized()
    return {"kind": key}


# Every file first, then the whole specifications: once a Specification is built, timeloopfe's processors
# have registered their macro keys (factors_only, ...) globally and a lone Architecture no longer checks.
for folder in sys.argv[1:]:
    for path in sorted(Path(folder).glob("*.yaml")):
        row = {"dir": folder, "file": path.name, "strict": schema.file_errors(path.name, path.read_text())}
        try:
            row.update(parse(path))
        except Exception as exc:  # report every file, not only the first failure
            row["error"] = str(exc)[-300:]
        print(json.dumps(row))
for folder in sys.argv[1:]:
    if (Path(folder) / "arch.yaml").exists():
        first = next(p for p in sorted(Path(folder).glob("*.yaml")) if p.name[:3].isdigit())  # NNN_<layer>.yaml
        row = {"dir": folder, "file": f"arch.yaml + mapper.yaml + {first.name}", "kind": "spec", "strict": []}
        try:
            whole = Specification.from_yaml_files([str(Path(folder) / "arch.yaml"), str(Path(folder) / "mapper.yaml"),
                                                   str(first)])._process()  # fmt: skip
            whole.check_unrecognized()
            v3 = v4_to_v3.transpile(whole, for_model=False)
            row["levels"] = [n["name"] for n in v3["architecture"]["subtree"][0]["local"]]
        except Exception as exc:
            row["error"] = str(exc)[-300:]
        print(json.dumps(row))
