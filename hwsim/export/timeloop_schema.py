"""Timeloop v0.4's input keys, copied from upstream's source, and a strict check of hwsim's Timeloop export.

Why a check of our own: timeloopfe (Timeloop's v0.4 front-end) accepts any integer key in a problem's
``instance`` and any key in a component's ``attributes`` (``add_attr("", ..., part_name_match=True)``),
and Timeloop's C++ parser reads only the keys it looks up, so a misspelt key (``Wstrde``, ``dept``)
passes both and silently becomes a default. This module closes those two open doors with the key sets
upstream's own files use, and checks every other node against the keys timeloopfe declares.

Sources (each set below names its own):

* Accelergy-Project/timeloop-python @ b8aaf2cde220df7c2ba9d051984fc360f20b57b2 (timeloopfe v4):
  ``pytimeloop/timeloopfe/v4/problem.py`` (Problem, Shape, DataSpace, Instance, Density),
  ``v4/arch.py`` (node tags, Leaf / Component / Container keys, Spatial, StorageAttributes, the class
  names of BUFFER_CLASSES / COMPUTE_CLASSES, "the last node must be a compute" of
  ``common/version_transpilers/v4_to_v3.py``), ``v4/constraints.py`` (ConstraintGroup, Iteration,
  Spatial, Temporal, Dataspace), ``v4/ert.py`` (Ert, Table, Action), ``v4/mapper.py`` (Mapper).
* NVlabs/timeloop @ 4cf6d4cd043bc2a5d2eb02afa9063d7117a4dc11 (the C++ parser):
  ``src/workload/workload.cpp`` ParseWorkloadInstance (an instance is read as the shape's dimension
  names, its coefficient names and ``densities``: nothing else), ``include/model/topology.hpp``
  (storageOperationMappings / arithmeticOperationMappings: the ERT action names Timeloop prices),
  ``src/model/buffer.cpp`` (``width % (datawidth x block_size) == 0`` is asserted),
  ``src/applications/mapper/mapper.cpp`` (the mapper keys it looks up).
* Accelergy-Project/timeloop-accelergy-exercises @ 2d5510807128e9bd5f1cad0705cdf2ec4612fd4e:
  ``workspace/example_designs/example_designs/_include/default_problem.yaml`` (the instance keys
  ``H W Hpad Wpad`` beside the dimensions: input size and padding, which Timeloop's parser does not
  read), ``.../eyeriss_like/arch.yaml`` (a container's ``technology``), ``.../_components/intmac.yaml``
  (a MAC's ``technology multiplier_width adder_width global_cycle_seconds``); NVlabs/timeloop @ 4cf6d4c
  ``src/unit-test/configs/arch.yaml`` (``global_cycle_seconds`` as a container attribute).

Pure: PyYAML and the standard library only, so that ``benchmarks/peers/timeloop/parse_export.py`` can
load this file by path in timeloopfe's own environment (no hwsim, no numpy there).
"""

from __future__ import annotations

import yaml

# --- problem (timeloopfe v4/problem.py; C++ workload.cpp) ----------------------------------------
PROBLEM_KEYS = {"version", "instance", "shape"}
SHAPE_KEYS = {"name", "dimensions", "data_spaces", "coefficients"}
DATA_SPACE_KEYS = {"name", "projection", "read_write"}
COEFFICIENT_KEYS = {"name", "default"}
DENSITY_KEYS = {"density", "distribution", "band_width", "workload_tensor_size"}
DISTRIBUTIONS = {"fixed_structured", "hypergeometric", "banded"}
# beside the dimensions and coefficients: the exercises' default_problem.yaml writes these (input size
# and padding per side); Timeloop's parser ignores them
INSTANCE_EXTRA_KEYS = {"H", "W", "Hpad", "Wpad"}

# --- architecture (timeloopfe v4/arch.py) -------------------------------------------------------
ARCHITECTURE_KEYS = {"version", "nodes"}
BRANCH_TAGS = {"!Hierarchical", "!Parallel", "!Pipelined"}
LEAF_TAGS = {"!Component", "!Container", "!Nothing"}
LEAF_KEYS = {"name", "attributes", "spatial", "constraints", "sparse_optimizations"}
COMPONENT_KEYS = LEAF_KEYS | {"class", "subclass", "required_actions", "area_scale", "energy_scale", "enabled"}
CONTAINER_KEYS = LEAF_KEYS | {"networks"}
SPATIAL_KEYS = {"meshX", "meshY"}
BUFFER_CLASSES = ("DRAM", "SRAM", "regfile", "smartbuffer", "storage")
COMPUTE_CLASSES = ("mac", "intmac", "fpmac", "compute")
BASE_ATTRIBUTES = {"has_power_gating", "power_gated_at"}
STORAGE_ATTRIBUTES = BASE_ATTRIBUTES | {
    "datawidth", "technology", "n_banks", "block_size", "cluster_size", "width", "depth", "entries", "sizeKB",
    "reduction_supported", "multiple_buffering", "min_utilization", "shared_bandwidth", "read_bandwidth",
    "write_bandwidth", "network_fill_latency", "network_drain_latency", "per_dataspace_bandwidth_consumption_scale",
    "allow_overbooking", "metadata_block_size", "metadata_datawidth", "metadata_storage_width",
    "metadata_storage_depth", "concordant_compressed_tile_traversal", "tile_partition_supported",
    "decompression_supported", "compression_supported",
}  # fmt: skip
# StorageAttributes: width and depth have no default (required since timeloop-python ada06ac, April 2025, DRAM too)
STORAGE_REQUIRED = ("width", "depth", "datawidth")
CONTAINER_ATTRIBUTES = BASE_ATTRIBUTES | {"technology", "global_cycle_seconds"}
COMPUTE_ATTRIBUTES = BASE_ATTRIBUTES | {"technology", "global_cycle_seconds", "multiplier_width", "adder_width"}

# --- constraints (timeloopfe v4/constraints.py) -------------------------------------------------
CONSTRAINT_GROUP_KEYS = {"spatial", "temporal", "dataspace", "max_overbooked_proportion"}
_CONSTRAINT = {"type", "target"}
_ITERATION = _CONSTRAINT | {"factors", "permutation", "default_max_factor", "default_min_factor", "remainders"}
CONSTRAINT_KEYS = {
    "spatial": _ITERATION | {"no_reuse", "no_link_transfer", "split"},
    "temporal": _ITERATION | {"no_reuse", "rmw_first_update"},
    "dataspace": _CONSTRAINT | {"bypass", "keep", "no_coalesce"},
    "max_overbooked_proportion": _CONSTRAINT | {"proportion"},
}

# --- ERT (timeloopfe v4/ert.py; C++ include/model/topology.hpp) ---------------------------------
ERT_KEYS = {"version", "tables"}
TABLE_KEYS = {"name", "actions"}
ACTION_KEYS = {"name", "arguments", "energy"}
STORAGE_ACTIONS = {  # every ERT name storageOperationMappings maps a Timeloop storage operation to
    "random_read", "read", "gated_read", "skipped_read", "random_metadata_read", "metadata_read",
    "gated_metadata_read", "skipped_metadata_read", "random_fill", "random_write", "fill", "write", "gated_fill",
    "gated_write", "skipped_fill", "skipped_write", "random_metadata_fill", "random_metadata_write", "metadata_fill",
    "metadata_write", "gated_metadata_fill", "gated_metadata_write", "skipped_metadata_fill",
    "skipped_metadata_write", "random_update", "update", "gated_update", "skipped_update", "random_metadata_update",
    "metadata_update", "gated_metadata_update", "skipped_metadata_update", "decompression_count",
    "compression_count", "leak",
}  # fmt: skip
COMPUTE_ACTIONS = {  # arithmeticOperationMappings' ERT names (leak: Accelergy writes it, Timeloop skips it)
    "mac_random", "mult_random", "mac", "mult", "compute", "mac_skipped", "mult_skipped", "compute_skipped",
    "mac_gated", "mult_gated", "compute_gated", "leak",
}  # fmt: skip

# --- mapper (timeloopfe v4/mapper.py; C++ mapper.cpp, which reads optimization_metrics) ---------
MAPPER_KEYS = {
    "version", "out_prefix", "num_threads", "optimization_metric", "optimization_metrics", "search_size", "timeout",
    "victory_condition", "sync_interval", "log_interval", "log_oaves", "log_oaves_mappings", "log_stats",
    "log_suboptimal", "live_status", "diagnostics", "penalize_consecutive_bypass_fails", "emit_whoop_nest",
    "max_temporal_loops_in_a_mapping", "algorithm", "filter_revisits", "max_permutations_per_if_visit",
}  # fmt: skip
MAPPER_ALGORITHMS = {"random", "exhaustive", "linear_pruned", "hybrid", "random_pruned"}
OPTIMIZATION_METRICS = {"delay", "energy", "edp", "last_level_accesses"}


class Tagged(dict):
    """A YAML mapping with a v0.4 node tag (``!Container``, ``!Component``, ...): the architecture's nodes."""

    def __init__(self, tag: str, body: dict):
        super().__init__(body)
        self.tag = tag


class Quoted(str):
    """A string attribute written "double-quoted": timeloopfe evaluates unquoted attribute strings as Python
    expressions (``technology: 65nm`` fails there), as upstream's ``technology: "65nm"`` shows."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # no &id001 anchors: every node written out, as upstream's files are
        return True


class _Loader(yaml.SafeLoader):
    pass


_Dumper.add_representer(Tagged, lambda dumper, node: dumper.represent_mapping(node.tag, dict(node)))
_Dumper.add_representer(Quoted, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"'))
_Loader.add_multi_constructor(
    "!", lambda loader, suffix, node: Tagged("!" + suffix, loader.construct_mapping(node, deep=True))
)


def dump(data) -> str:
    """Safe YAML of ``data`` in the exercises' layout (block style, key order kept); Tagged nodes keep their tag."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None)


def load(text: str):
    """Read a Timeloop YAML back safely: tagged mappings become :class:`Tagged` (no objects are built)."""
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: the tags only name plain mappings


def _unknown(where: str, data, known: set[str], errors: list[str]) -> None:
    if not isinstance(data, dict):
        errors.append(f"{where}: not a mapping")
        return
    for key in data:
        if key not in known:
            errors.append(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")


def _section_errors(where: str, data, known: set[str]) -> tuple[list[str], bool]:
    """The errors of a top-level section's keys and its ``version`` (0.4), and whether its keys are
    sound enough to check further."""
    errors: list[str] = []
    _unknown(where, data, known, errors)
    if errors:
        return errors, False
    if str(data.get("version")) != "0.4":
        errors.append(f"{where}.version: {data.get('version')!r}, not 0.4")
    return errors, True


def problem_errors(problem) -> list[str]:
    """Every key of ``problem`` (the mapping under ``problem:``) that upstream does not read, and the values
    its parsers refuse: version other than 0.4, a non-integer instance entry, an unknown distribution."""
    errors, sound = _section_errors("problem", problem, PROBLEM_KEYS)
    if not sound:
        return errors
    shape = problem.get("shape") or {}
    _unknown("problem.shape", shape, SHAPE_KEYS, errors)
    for i, space in enumerate(shape.get("data_spaces") or []):
        _unknown(f"problem.shape.data_spaces[{i}]", space, DATA_SPACE_KEYS, errors)
    for i, coefficient in enumerate(shape.get("coefficients") or []):
        _unknown(f"problem.shape.coefficients[{i}]", coefficient, COEFFICIENT_KEYS, errors)
    coefficients = {c.get("name") for c in shape.get("coefficients") or [] if isinstance(c, dict)}
    instance = problem.get("instance") or {}
    known = set(shape.get("dimensions") or []) | coefficients | INSTANCE_EXTRA_KEYS | {"densities"}
    _unknown("problem.instance", instance, known, errors)
    spaces = {s.get("name") for s in shape.get("data_spaces") or [] if isinstance(s, dict)}
    for key, value in instance.items() if isinstance(instance, dict) else ():
        if key == "densities":
            _unknown("problem.instance.densities", value, spaces, errors)
            for name, density in (value or {}).items():
                _unknown(f"problem.instance.densities.{name}", density, DENSITY_KEYS, errors)
                if isinstance(density, dict) and density.get("distribution") not in DISTRIBUTIONS:
                    errors.append(f"problem.instance.densities.{name}.distribution: {density.get('distribution')!r}")
        elif type(value) is not int:
            errors.append(f"problem.instance.{key}: {value!r} is not an integer")
    return errors


def _constraint_errors(where: str, group, errors: list[str]) -> None:
    _unknown(where, group, CONSTRAINT_GROUP_KEYS, errors)
    for kind, body in group.items() if isinstance(group, dict) else ():
        if kind in CONSTRAINT_KEYS:
            _unknown(f"{where}.{kind}", body, CONSTRAINT_KEYS[kind], errors)


def _leaf_errors(where: str, node: Tagged, errors: list[str]) -> str | None:
    """Check one leaf; its kind: "storage", "compute", "container" or None."""
    if node.tag == "!Container":
        _unknown(where, node, CONTAINER_KEYS, errors)
        kind, known = "container", CONTAINER_ATTRIBUTES
    elif node.tag == "!Component":
        _unknown(where, node, COMPONENT_KEYS, errors)
        cls = node.get("class")
        if not isinstance(cls, str):
            errors.append(f"{where}: no class")
            return None
        # timeloopfe's component_factory: a class name holding one of these words
        kind = next((k for k, words in (("storage", BUFFER_CLASSES), ("compute", COMPUTE_CLASSES))
                     if any(w in cls for w in words)), None)  # fmt: skip
        if kind is None:
            errors.append(f"{where}: class {cls!r} is neither storage {BUFFER_CLASSES} nor compute {COMPUTE_CLASSES}")
            return None
        known = STORAGE_ATTRIBUTES if kind == "storage" else COMPUTE_ATTRIBUTES
    else:
        return None
    attributes = node.get("attributes") or {}
    _unknown(f"{where}.attributes", attributes, known, errors)
    if kind == "storage" and isinstance(attributes, dict):
        width, datawidth = attributes.get("width"), attributes.get("datawidth")
        if not all(type(w) is int and w >= 1 for w in (width, datawidth)):
            errors.append(f"{where}.attributes: width {width!r}, datawidth {datawidth!r}: not positive integers")
        elif width % datawidth:  # buffer.cpp asserts it
            errors.append(f"{where}.attributes: width {width} is not a multiple of the datawidth {datawidth}")
        for key in STORAGE_REQUIRED:
            if key not in attributes:
                errors.append(f"{where}.attributes: no {key}")
    if "spatial" in node:
        _unknown(f"{where}.spatial", node["spatial"], SPATIAL_KEYS, errors)
    if "constraints" in node:
        _constraint_errors(f"{where}.constraints", node["constraints"], errors)
    return kind


def architecture_errors(architecture) -> list[str]:
    """Every node, tag, key and attribute of ``architecture`` (the mapping under ``architecture:``) that
    upstream does not declare; the last leaf must be a compute component (v4_to_v3's assert)."""
    errors, sound = _section_errors("architecture", architecture, ARCHITECTURE_KEYS)
    if not sound:
        return errors
    kinds: list[str | None] = []

    def walk(nodes, where: str) -> None:
        for i, node in enumerate(nodes or []):
            at = f"{where}[{i}]"
            if not isinstance(node, Tagged) or node.tag not in BRANCH_TAGS | LEAF_TAGS:
                errors.append(f"{at}: tag {getattr(node, 'tag', None)!r}, not one of {sorted(BRANCH_TAGS | LEAF_TAGS)}")
            elif node.tag in BRANCH_TAGS:
                _unknown(at, node, {"nodes"}, errors)
                walk(node.get("nodes"), f"{at}.nodes")
            else:
                kinds.append(_leaf_errors(f"{at} ({node.get('name')})", node, errors))

    walk(architecture.get("nodes"), "architecture.nodes")
    if not kinds or kinds[-1] != "compute":
        errors.append("architecture.nodes: the last node is not a compute component")
    return errors


def ert_errors(ert) -> list[str]:
    """Keys of ``ert`` (the mapping under ``ERT:``) that upstream does not read, and action names Timeloop
    would never price (an action it does not look up counts as zero energy)."""
    errors, sound = _section_errors("ERT", ert, ERT_KEYS)
    if not sound:
        return errors
    for i, table in enumerate(ert.get("tables") or []):
        where = f"ERT.tables[{i}]"
        _unknown(where, table, TABLE_KEYS, errors)
        for j, action in enumerate(table.get("actions") or [] if isinstance(table, dict) else []):
            _unknown(f"{where}.actions[{j}]", action, ACTION_KEYS, errors)
            if isinstance(action, dict) and action.get("name") not in STORAGE_ACTIONS | COMPUTE_ACTIONS:
                errors.append(f"{where}.actions[{j}]: action {action.get('name')!r} is not one Timeloop prices")
            if isinstance(action, dict) and not isinstance(action.get("energy"), (int, float)):
                errors.append(f"{where}.actions[{j}].energy: {action.get('energy')!r} is not a number")
    return errors


def mapper_errors(mapper) -> list[str]:
    errors: list[str] = []
    _unknown("mapper", mapper, MAPPER_KEYS, errors)
    if not errors:
        if mapper.get("algorithm", "hybrid") not in MAPPER_ALGORITHMS:
            errors.append(f"mapper.algorithm: {mapper['algorithm']!r}, not one of {sorted(MAPPER_ALGORITHMS)}")
        for metric in mapper.get("optimization_metrics") or []:
            if metric not in OPTIMIZATION_METRICS:
                errors.append(f"mapper.optimization_metrics: {metric!r}, not one of {sorted(OPTIMIZATION_METRICS)}")
    return errors


CHECKS = {"problem": problem_errors, "architecture": architecture_errors, "ERT": ert_errors, "mapper": mapper_errors}


def file_errors(name: str, text: str) -> list[str]:
    """The strict check of one exported YAML file: its one top-level key picks the check."""
    data = load(text)
    if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in CHECKS:
        return [f"{name}: not one of the top-level keys {', '.join(CHECKS)}"]
    key = next(iter(data))
    return [f"{name}: {e}" for e in CHECKS[key](data[key])]


def export_errors(files: dict[str, str]) -> list[str]:
    """The strict check of a whole Timeloop export (``{file name: text}``; README.md skipped)."""
    return [e for name, text in files.items() if name.endswith(".yaml") for e in file_errors(name, text)]
