"""The sweep file (``hwsim sweep SWEEP.yaml``): models, a base spec, axes, constraints, objectives.

Every key is validated by a strict pydantic model (unknown keys rejected) and read with the same
bounded safe YAML loader as model and spec files (:func:`hwsim.config.read_yaml`). Everything that
needs more than the file itself (the axes' values against the hardware ranges, objective names
against the metric registry, model paths on disk) is checked when the sweep is planned
(:func:`hwsim.explore.engine.plan_sweep`), each problem one :class:`~hwsim.errors.HwsimError` line.

>>> axes:
...   n_multipliers: {log2: [4, 4096]}        # 4, 8, ..., 4096
...   n_banks: {range: [1, 16, 1]}            # 1, 2, ..., 16 (stop included when it lands)
...   weight_bits: [4, 8]                     # a list

A base spec with a ``hierarchy`` section (the memory-hierarchy model, :mod:`hwsim.costs.hierarchy`)
also sweeps its flat fields (:data:`hwsim.config.HIERARCHY_FIELDS`: ``glb_capacity_bytes``,
``pe_rows``, ``dram_bandwidth_bits``, ``dram_read_pj``, ...), as axes, ``{min/max: {FIELD: V}}``
constraints and objectives; a base without one refuses them in one line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, StrictFloat, StrictInt, field_validator

from ..config import DEFAULT_SPEC, HIERARCHY_FIELDS, HIERARCHY_INTS, HardwareSpec, Strict, clip, parse, read_yaml
from ..costs.specgrid import COUNTS, FIELDS
from ..errors import HwsimError

Number = StrictInt | StrictFloat
Lambda = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
MAX_AXIS_VALUES = 1 << 20  # one axis never lists more values than this (the product is what is bounded)
DERIVED = ("io_bits", "weights_per_read")  # per-point columns computed from the spec fields
ACCURACY = re.compile(r"^(clean_acc|robust_acc)@lam=([0-9.eE+-]+)$")
WHOLE = (*COUNTS, *HIERARCHY_INTS)  # fields swept as whole numbers (int64); the rest are float64


def finite(value: Any) -> bool:
    """A finite number that a float can hold (an int like 10**400 is not: math.isfinite would raise)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def spec_fields(base: HardwareSpec | None) -> tuple[str, ...]:
    """The fields a sweep around ``base`` may name: :data:`FIELDS`, and the hierarchy's flat fields
    when ``base`` has a hierarchy section (or when no base is given: types only)."""
    return (*FIELDS, *HIERARCHY_FIELDS) if base is None or base.hierarchy is not None else FIELDS


def check_field(name: str, where: str, base: HardwareSpec | None, unknown: str) -> None:
    """One line unless ``name`` is a field of :func:`spec_fields`: a hierarchy field on a base without a
    hierarchy section says so, any other name gets ``where: unknown: <the known fields>``."""
    known = spec_fields(base)
    if name in known:
        return
    if name in HIERARCHY_FIELDS:
        raise no_hierarchy(where, f"{name} (a hierarchy field)", base)
    raise HwsimError(f"{where}: {unknown}: {', '.join(known)}")


def no_hierarchy(where: str, what: str, base: HardwareSpec) -> HwsimError:
    """The one line for a hierarchy field or total on a base spec without a hierarchy section."""
    return HwsimError(
        f"{where}: {what} belongs to the memory-hierarchy model, but the base spec {base.name!r} has no hierarchy "
        "section (use a spec with one, e.g. eyeriss-65nm)"
    )


class RangeAxis(Strict):
    range: tuple[Number, Number, Number] = Field(description="[start, stop, step]; stop included when it lands")


class Log2Axis(Strict):
    log2: tuple[StrictInt, StrictInt] = Field(description="[lo, hi]: every power of two from lo to hi")


Axis = list[Number] | RangeAxis | Log2Axis


class Objective(Strict):
    """``{min: delay_ns}`` or ``{max: robust_acc@lam=1}``: one direction, one column."""

    min: str | None = None
    max: str | None = None

    @property
    def column(self) -> str:
        return self.min if self.min is not None else self.max

    @property
    def maximise(self) -> bool:
        return self.max is not None


#: The objectives of a sweep file that gives none, per the base spec's ``cost_model``.
DEFAULT_OBJECTIVES: dict[str, tuple[tuple[str, bool], ...]] = {
    "paper": (("delay_ns", False), ("weight_bytes", False)),
    "hierarchy": (("hier_latency_ns", False), ("hier_energy_pj", False)),
}
#: The latency total a sweep always carries (and the OAT / FLOAT heat map divides), per ``cost_model``.
LEAD_LATENCY: dict[str, str] = {"paper": "delay_ns", "hierarchy": "hier_latency_ns"}


class SweepConfig(Strict):
    """A sweep file. ``models``: model YAMLs and/or evaluated run directories (relative to the file);
    ``spec``: the base spec (path relative to the file, or a built-in name); ``axes``: spec field ->
    values; ``constraints``: from a fixed vocabulary (:func:`parse_constraint`); ``conditions``: the
    lambdas to cost at (default each model's eval condition; FLOAT reads lambda_n, the others lambda);
    ``objectives``: ``min:`` / ``max:`` a total of the metric registry, a spec field, ``io_bits`` /
    ``weights_per_read``, or (runs only) ``clean_acc@lam=X`` / ``robust_acc@lam=X``; left out, the
    lead cost model's (:data:`DEFAULT_OBJECTIVES`: ``delay_ns`` and ``weight_bytes``, or
    ``hier_latency_ns`` and ``hier_energy_pj`` when the base spec's ``cost_model`` is ``hierarchy``);
    ``outputs``: further totals to carry; ``checkpoint`` / ``attack``: which accuracy points of a run
    are used."""

    models: list[str] = Field(min_length=1, max_length=256)
    spec: str = DEFAULT_SPEC
    axes: dict[str, Axis] = Field(min_length=1)
    constraints: list[str | dict[str, Any]] = Field(default_factory=list, max_length=64)
    conditions: list[Lambda] | None = Field(None, max_length=64)
    objectives: list[Objective] = Field(
        default_factory=lambda: [Objective(min="delay_ns"), Objective(min="weight_bytes")], min_length=1, max_length=16
    )
    outputs: list[str] = Field(default_factory=list, max_length=64)
    attribution: Literal["paper", "structural"] = "paper"
    max_points: StrictInt = Field(100_000_000, ge=1)
    checkpoint: str = Field("last", description="the run checkpoint whose accuracy is attached (last or best)")
    attack: str | None = Field(None, description="the attack of the robust accuracy (default: the run's first)")

    @field_validator("objectives")
    @classmethod
    def _one_direction(cls, value: list[Objective]) -> list[Objective]:
        for i, obj in enumerate(value):
            if (obj.min is None) == (obj.max is None):
                raise ValueError(f"objectives[{i}]: give exactly one of min: or max: (e.g. min: delay_ns)")
        columns = [o.column for o in value]
        if len(set(columns)) != len(columns):
            raise ValueError(f"objectives: {clip(next(c for c in columns if columns.count(c) > 1))} is listed twice")
        return value

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, value):
        if value is not None and not value:
            raise ValueError("conditions: empty list; leave the key out to cost each model at its eval condition")
        return value


def load_sweep_config(path: Path | str) -> SweepConfig:
    """Read and validate a sweep file (one error line naming the file and the key)."""
    return parse(SweepConfig, read_yaml(path), path)


def parse_sweep(data: SweepConfig | dict | Path | str) -> tuple[SweepConfig, Path, str]:
    """A config, its folder (what its relative paths are relative to) and a label for error lines."""
    if isinstance(data, SweepConfig):
        return data, Path.cwd(), "sweep"
    if isinstance(data, dict):
        return parse(SweepConfig, data, "sweep"), Path.cwd(), "sweep"
    path = Path(data)
    return load_sweep_config(path), path.parent, str(path)


# ---------------------------------------------------------------------------------------------
# axes


def axis_values(name: str, axis: Any, source: str = "sweep", base: HardwareSpec | None = None) -> np.ndarray:
    """The values of one axis, in order, duplicates dropped: a list as given, ``range`` from start
    by step while <= stop (stop included when it lands, to a relative 1e-9), ``log2`` every power
    of two in [lo, hi]. Integer fields give int64 arrays, times, energies, clock float64. ``base``:
    the sweep's base spec (hierarchy fields only when it has a hierarchy section)."""
    where = f"{source}: axes.{clip(name, 40)}"
    check_field(name, where, base, "unknown spec field; sweepable")
    if isinstance(axis, RangeAxis):
        start, stop, step = axis.range
        if not all(finite(v) for v in axis.range):
            raise HwsimError(f"{where}: range: start, stop and step must be finite numbers")
        if step <= 0:
            raise HwsimError(f"{where}: range: step must be > 0 (got {step!r})")
        if stop < start:
            raise HwsimError(f"{where}: range: stop {stop!r} is below start {start!r}: the axis is empty")
        try:  # huge ints (10**400) or a tiny step (1e-300) make no float / an infinite count
            span = (stop - start) / step * (1 + 1e-9) + 1e-9
        except OverflowError:
            span = math.inf
        if not math.isfinite(span) or span >= MAX_AXIS_VALUES:
            raise HwsimError(f"{where}: range: more than {MAX_AXIS_VALUES:,} values; one axis may have at most that")
        count = math.floor(span) + 1
        if count > MAX_AXIS_VALUES:
            raise HwsimError(f"{where}: range: {count:,} values; one axis may have at most {MAX_AXIS_VALUES:,}")
        if all(isinstance(v, int) for v in axis.range):
            values = start + step * np.arange(count, dtype=np.int64)
        else:
            values = start + step * np.arange(count, dtype=np.float64)
    elif isinstance(axis, Log2Axis):
        lo, hi = axis.log2
        if lo < 1:
            raise HwsimError(f"{where}: log2: lo must be >= 1 (got {lo})")
        if max(lo, hi) >= 1 << 62:
            raise HwsimError(f"{where}: log2: {clip(repr(max(lo, hi)))} is out of range (at most 2^62)")
        if hi < lo:
            raise HwsimError(f"{where}: log2: hi {hi} is below lo {lo}: the axis is empty")
        first = (lo - 1).bit_length()  # the smallest k with 2^k >= lo
        values = np.array([1 << k for k in range(first, hi.bit_length()) if lo <= 1 << k <= hi], dtype=np.int64)
        if values.size == 0:
            raise HwsimError(f"{where}: log2: no power of two lies in [{lo}, {hi}]: the axis is empty")
    else:
        if len(axis) == 0:
            raise HwsimError(f"{where}: empty list of values")
        if len(axis) > MAX_AXIS_VALUES:
            raise HwsimError(f"{where}: {len(axis):,} values; one axis may have at most {MAX_AXIS_VALUES:,}")
        values = list(dict.fromkeys(axis))
        bad = next((v for v in values if isinstance(v, float) and not finite(v)), None)
        if bad is not None:  # YAML .nan / .inf / 1e400
            raise HwsimError(f"{where}: values must be finite numbers (got {bad!r})")
        kind = np.int64 if all(isinstance(v, int) for v in values) else np.float64
        if kind is np.int64 and any(abs(v) >= 1 << 62 for v in values):
            raise HwsimError(
                f"{where}: value {clip(repr(next(v for v in values if abs(v) >= 1 << 62)))} is out of range"
            )
        values = np.array(values, dtype=kind)
    if name in WHOLE:
        if values.dtype.kind == "f":
            if not np.all(np.mod(values, 1) == 0):
                bad = values[np.mod(values, 1) != 0][0]
                raise HwsimError(f"{where}: {name} must be whole numbers (got {float(bad)!r})")
            values = values.astype(np.int64)
    else:
        values = values.astype(np.float64)
    return values


# ---------------------------------------------------------------------------------------------
# constraints: a small fixed vocabulary

CONSTRAINT_HELP = (
    "'weights_per_read <= n_multipliers', 'weights_per_read >= n_multipliers', {max_total_io_bits: N}, "
    "{weights_per_read_ratio: R}, {min: {FIELD: V}}, {max: {FIELD: V}}"
)


@dataclass(frozen=True)
class Constraint:
    """One feasibility rule over the spec fields of the points. ``kind``: ``wpr_le_mult`` /
    ``wpr_ge_mult`` (weights per read vs n_multipliers), ``max_total_io_bits`` (n_banks x
    io_bandwidth_bits <= value), ``wpr_ratio`` (weights per read == value x n_multipliers),
    ``min`` / ``max`` (field >= / <= value). ``text``: how it is named in summaries."""

    kind: str
    value: float = 0.0
    field: str = ""
    text: str = ""

    def mask(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Which points pass, given every spec field as an array (or scalar) over the points."""
        io, wb, banks, mult = (values[k] for k in ("io_bandwidth_bits", "weight_bits", "n_banks", "n_multipliers"))
        if self.kind in ("wpr_le_mult", "wpr_ge_mult", "wpr_ratio"):
            # weights per read = io / wb * banks; compared as io * banks vs (...) * wb: exact integers
            lhs = np.asarray(io, np.int64) * banks
            rhs = np.asarray(mult, np.int64) * wb
            if self.kind == "wpr_le_mult":
                return lhs <= rhs
            if self.kind == "wpr_ge_mult":
                return lhs >= rhs
            return lhs == rhs * self.value if float(self.value).is_integer() else np.isclose(lhs, rhs * self.value)
        if self.kind == "max_total_io_bits":
            return np.asarray(io, np.int64) * banks <= self.value
        if self.kind == "min":
            return np.asarray(values[self.field]) >= self.value
        return np.asarray(values[self.field]) <= self.value


_EXPRESSIONS = {
    "weights_per_read<=n_multipliers": "wpr_le_mult",
    "weights_per_read>=n_multipliers": "wpr_ge_mult",
}


def parse_constraint(
    item: str | dict, index: int, source: str = "sweep", base: HardwareSpec | None = None
) -> Constraint:
    """One constraint of the sweep file; ``{min/max: {FIELD: V}}`` takes any field of
    :func:`spec_fields` (``base``: the sweep's base spec)."""
    where = f"{source}: constraints[{index}]"
    if isinstance(item, str):
        kind = _EXPRESSIONS.get("".join(item.split()))
        if kind is None:
            raise HwsimError(f"{where}: unknown constraint {clip(item)!r}; known: {CONSTRAINT_HELP}")
        return Constraint(kind, text=" ".join(item.split()))
    if len(item) != 1:
        raise HwsimError(f"{where}: one key per constraint (got {len(item)}); known: {CONSTRAINT_HELP}")
    ((key, value),) = item.items()
    if key in ("max_total_io_bits", "weights_per_read_ratio"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value) or value <= 0:
            raise HwsimError(f"{where}: {key}: must be a number > 0 (got {clip(repr(value))})")
        kind = "max_total_io_bits" if key == "max_total_io_bits" else "wpr_ratio"
        text = (
            f"n_banks x io_bandwidth_bits <= {value:g}"
            if kind == "max_total_io_bits"
            else (f"weights_per_read == {value:g} x n_multipliers")
        )
        return Constraint(kind, float(value), text=text)
    if key in ("min", "max"):
        if not isinstance(value, dict) or len(value) != 1:
            raise HwsimError(f"{where}: {key}: give one field and its bound, e.g. {{{key}: {{n_banks: 4}}}}")
        ((field, bound),) = value.items()
        check_field(field, f"{where}: {key}", base, f"unknown spec field {clip(str(field))!r}; known")
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not finite(bound):
            raise HwsimError(f"{where}: {key}.{field}: must be a number (got {clip(repr(bound))})")
        return Constraint(key, float(bound), field, f"{field} {'>=' if key == 'min' else '<='} {bound:g}")
    raise HwsimError(f"{where}: unknown constraint {clip(str(key))!r}; known: {CONSTRAINT_HELP}")


def accuracy_name(column: str) -> tuple[str, float] | None:
    """``robust_acc@lam=1`` -> ("robust_acc", 1.0); None for other names."""
    m = ACCURACY.match(column)
    if not m:
        return None
    try:
        return m.group(1), float(m.group(2))
    except ValueError:
        return None


def accuracy_column(kind: str, lam: float) -> str:
    return f"{kind}@lam={lam:g}"


__all__ = [
    "DEFAULT_OBJECTIVES", "LEAD_LATENCY", "Constraint", "Log2Axis", "Objective", "RangeAxis", "SweepConfig", "accuracy_column", "accuracy_name",
    "axis_values", "load_sweep_config", "no_hierarchy", "parse_constraint", "parse_sweep", "spec_fields",
]  # fmt: skip
