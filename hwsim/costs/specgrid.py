"""A grid of hardware specs as arrays: what the cost models broadcast over.

A sweep of 10^5 design points is never 10^5 pydantic objects: :meth:`SpecGrid.from_arrays` takes
one array (or scalar) per hardware field, broadcasts them, and validates the ranges once for the
whole grid. Single specs and lists of :class:`~hwsim.config.HardwareSpec` convert to a grid too.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..config import (
    COST_MODELS,
    DATAFLOWS,
    ENERGY_FIELDS,
    ENERGY_RANGE,
    HARDWARE_RANGES,
    HIERARCHY_FIELDS,
    HIERARCHY_INTS,
    HIERARCHY_PATHS,
    SPARSE_FORMATS,
    Energy,
    EnergyEntry,
    HardwareSpec,
    clip,
    hierarchy_range,
)
from ..errors import HwsimError

TIMES = ("tau_read_ns", "tau_mult_ns")
COUNTS = ("io_bandwidth_bits", "weight_bits", "n_banks", "n_multipliers")
ENERGIES = ENERGY_FIELDS  # pJ per operation (energy section), float64 like the times
FIELDS = (*TIMES, *COUNTS, *ENERGIES)
FLOATS = (*TIMES, *ENERGIES)
HIER_FIELDS = HIERARCHY_FIELDS  # a hierarchy grid's extra fields (flat names, hwsim.config.Hierarchy.values)
# what the hierarchy model's mapping depends on (array, capacities, bit widths): the fields of
# hwsim.costs.hierarchy.Group (checked there at import), spelt out so that a paper-only estimate never
# imports the hierarchy model
HIER_GROUP = (
    "pe_rows",
    "pe_cols",
    "glb_capacity_bytes",
    "local_capacity_bytes",
    "weight_bits",
    "activation_bits",
    "psum_bits",
)
_RANGES = {**HARDWARE_RANGES, **dict.fromkeys(ENERGIES, ENERGY_RANGE), **{f: hierarchy_range(f) for f in HIER_FIELDS}}
_INTS = (*COUNTS, *HIERARCHY_INTS)


def grid_fields(dataflow: str | None) -> tuple[str, ...]:
    """A grid's fields: :data:`FIELDS`, and :data:`HIER_FIELDS` for a hierarchy grid (one with a dataflow)."""
    return (*FIELDS, *HIER_FIELDS) if dataflow is not None else FIELDS


@dataclass(frozen=True)
class SparseHandling:
    """How a grid's hardware treats sparse (FLOATS) layers: one scheme per grid.

    ``sparse_format`` / ``index_bits`` (memory section) say how kept weights are stored;
    ``sparse_reads`` makes Eq. 7-9's read term fetch only that storage; ``zero_skipping`` (compute
    section) makes the multipliers skip zero weights."""

    sparse_format: str = "values"
    index_bits: int = 16
    sparse_reads: bool = False
    zero_skipping: bool = False

    @classmethod
    def of(cls, spec: HardwareSpec) -> SparseHandling:
        return cls(spec.sparse_format, spec.index_bits, spec.sparse_reads, spec.zero_skipping)


_DENSE_LIMIT = 1 << 22  # value ranges up to this are mapped with a lookup table, not a sort


def group_ids(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each point's group (H,) over the distinct combinations of ``columns`` ((H,) integer arrays),
    and one point standing for each group (G,)."""
    key, size = np.zeros(len(columns[0]), np.int64), 1
    for values in columns:  # mixed-radix key over each field's distinct values
        ids, distinct = _dense_ids(values)
        key, size = key * distinct + ids, size * distinct
        if size > _DENSE_LIMIT:  # keep the key space small (and int64-safe)
            key, size = _dense_ids(key)
    inverse, groups = _dense_ids(key)
    first = np.zeros(groups, np.int64)
    first[inverse] = np.arange(len(columns[0]))  # any point of a group stands for it
    return inverse.reshape(-1), first


def _dense_ids(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Ids 0..k-1 of the k distinct non-negative integers in ``values`` (order kept), and k."""
    top = int(values.max()) + 1
    if top <= _DENSE_LIMIT:
        present = np.zeros(top, bool)
        present[values] = True
        return (np.cumsum(present) - 1)[values], int(present.sum())
    distinct, ids = np.unique(values, return_inverse=True)
    return ids.reshape(-1), len(distinct)


class SpecGrid:
    """``arrays[field]`` is a (1, H) array per hardware field (float64 times and energies, int64
    counts); a hierarchy grid also has every :data:`HIER_FIELDS` (``dataflow`` and ``cost_model`` hold
    for the whole grid). ``film_modulation`` (energy section) holds for the whole grid."""

    __slots__ = ("arrays", "_names", "_groups", "_hier_groups", "storage", "film_modulation", "dataflow", "cost_model")

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        names: list[str] | None = None,
        storage: SparseHandling | None = None,
        film_modulation: bool = False,
        dataflow: str | None = None,
        cost_model: str = "paper",
    ) -> None:
        self.arrays, self._names = arrays, names
        self._groups = self._hier_groups = None
        self.storage = storage or SparseHandling()  # one sparse-layer scheme per grid
        self.film_modulation = bool(film_modulation)
        self.dataflow = dataflow  # None: no hierarchy (the paper model only)
        self.cost_model = cost_model

    @property
    def hierarchical(self) -> bool:
        return self.dataflow is not None

    @property
    def fields(self) -> tuple[str, ...]:
        """The grid's fields: :data:`FIELDS`, and :data:`HIER_FIELDS` for a hierarchy grid."""
        return grid_fields(self.dataflow)

    @property
    def names(self) -> list[str]:
        """Point names: the specs' names, else ``point<i>`` (made on first use: a 10^6-point grid
        should not pay for a million strings it may never print)."""
        if self._names is None:
            self._names = [f"point{i}" for i in range(len(self))]
        return self._names

    def count_groups(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The distinct combinations of the integer fields, as (1, G) arrays, and each point's
        group (H,). The ceilings of Eq. 7-9 depend only on these, and a sweep varies the times
        continuously over few memory / compute configurations: costing G groups instead of H
        points is the same arithmetic, done once per group. Computed once per grid."""
        if self._groups is None:
            inverse, first = group_ids([self.arrays[name][0] for name in COUNTS])
            self._groups = ({k: self.arrays[k][:, first] for k in COUNTS}, inverse)
        return self._groups

    def hierarchy_groups(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """As :meth:`count_groups`, over the values the hierarchy model's mapping depends on
        (:data:`HIER_GROUP`: array, capacities, bit widths); a hierarchy grid only."""
        if self._hier_groups is None:
            inverse, first = group_ids([self.arrays[name][0] for name in HIER_GROUP])
            self._hier_groups = ({k: self.arrays[k][:, first] for k in HIER_GROUP}, inverse)
        return self._hier_groups

    def __len__(self) -> int:
        return self.arrays[FIELDS[0]].shape[1]

    @classmethod
    def from_specs(cls, specs: Iterable[HardwareSpec]) -> SpecGrid:
        specs = list(specs)
        if not specs:
            raise HwsimError("spec grid: no specs given")
        values = [field_values(s) for s in specs]
        dataflows = {s.hierarchy.dataflow if s.hierarchy is not None else None for s in specs}
        if len(dataflows) > 1:
            raise HwsimError(
                "spec grid: the specs differ in hierarchy.dataflow (or some have no hierarchy section); "
                "cost them in separate grids"
            )
        dataflow = dataflows.pop()
        models = {s.cost_model for s in specs}
        if len(models) > 1:
            raise HwsimError("spec grid: the specs differ in cost_model; cost them in separate grids")
        keys = grid_fields(dataflow)
        arrays = {
            key: np.array([[v[key] for v in values]], dtype=np.int64 if key in _INTS else np.float64) for key in keys
        }
        storages = {SparseHandling.of(s) for s in specs}
        if len(storages) > 1:
            raise HwsimError(
                "spec grid: the specs differ in memory.sparse_format / index_bits / sparse_reads or "
                "compute.zero_skipping; cost them in separate grids"
            )
        modulation = {s.film_modulation for s in specs}
        if len(modulation) > 1:
            raise HwsimError("spec grid: the specs differ in energy.film_modulation; cost them in separate grids")
        return cls(arrays, [s.name for s in specs], storages.pop(), modulation.pop(), dataflow, models.pop())

    @classmethod
    def from_arrays(
        cls,
        names: list[str] | None = None,
        *,
        sparse_format: str = "values",
        index_bits: int = 16,
        sparse_reads: bool = False,
        zero_skipping: bool = False,
        film_modulation: bool = False,
        dataflow: str | None = None,
        cost_model: str = "paper",
        **values: Any,
    ) -> SpecGrid:
        """Broadcast one value or array per field; check every range once (one error line).
        ``sparse_format``, ``index_bits``, ``sparse_reads``, ``zero_skipping`` and ``film_modulation``
        hold for the whole grid. The energy fields (:data:`ENERGIES`) are optional: each defaults to
        the shipped 65 nm value (:class:`hwsim.config.Energy`). With a ``dataflow`` the grid is a
        hierarchy grid and every :data:`HIER_FIELDS` is required too."""
        if dataflow is not None and dataflow not in DATAFLOWS:
            raise HwsimError(f"spec grid: dataflow {dataflow!r} is not one of {', '.join(DATAFLOWS)}")
        if cost_model not in COST_MODELS or (cost_model == "hierarchy" and dataflow is None):
            raise HwsimError(f"spec grid: cost_model {cost_model!r}: paper, or hierarchy with a dataflow")
        keys = grid_fields(dataflow)
        if sparse_format not in SPARSE_FORMATS:
            raise HwsimError(f"spec grid: sparse_format {sparse_format!r} is not one of {', '.join(SPARSE_FORMATS)}")
        if not (isinstance(index_bits, int) and 1 <= index_bits <= 64):
            raise HwsimError(f"spec grid: index_bits must be a whole number in [1, 64] (got {index_bits!r})")
        values = {**{k: v for k, v in Energy().values().items() if k not in values}, **values}
        missing = [k for k in keys if k not in values]
        unknown = [k for k in values if k not in keys]
        if missing or unknown:
            raise HwsimError(f"spec grid: missing fields {missing}, unknown fields {unknown}")
        shaped = np.broadcast_arrays(*(np.asarray(values[k]).reshape(-1) for k in keys))
        arrays = {}
        for key, array in zip(keys, shaped):
            bounds = _RANGES[key]  # the same ranges as HardwareSpec's fields
            if key not in _INTS:
                if array.dtype.kind not in "iuf":
                    raise HwsimError(f"spec grid: {key} must be numbers (got dtype {array.dtype})")
                array = array.astype(np.float64)
                bad = ~(np.isfinite(array) & (array > bounds.low) & (array <= bounds.high))
            else:
                if array.dtype.kind == "O" and all(type(v) is int for v in array):  # Python ints beyond int64
                    wild = [v for v in array if not bounds.low <= v <= bounds.high]
                    if wild:
                        raise HwsimError(f"spec grid: {key} must be {bounds.text()} (got {clip(repr(wild[0]))})")
                    array = array.astype(np.int64)
                if array.dtype.kind not in "iuf":
                    raise HwsimError(f"spec grid: {key} must be whole numbers (got dtype {array.dtype})")
                whole = np.isfinite(array) & np.equal(np.mod(array, 1), 0) if array.dtype.kind == "f" else True
                if not np.all(whole):
                    raise HwsimError(f"spec grid: {key} must be whole numbers")
                bad = (array < bounds.low) | (array > bounds.high)  # compared before the int64 cast: no wrap
                array = array.astype(np.int64) if not np.any(bad) else array
            if np.any(bad):
                raise HwsimError(f"spec grid: {key} must be {bounds.text()} (got {array[bad][0].item()!r})")
            arrays[key] = array.reshape(1, -1)
        size = arrays[FIELDS[0]].shape[1]
        if names is not None and len(names) != size:
            raise HwsimError(f"spec grid: {len(names)} names for {size} points")
        handling = SparseHandling(sparse_format, index_bits, bool(sparse_reads), bool(zero_skipping))
        if dataflow is not None:
            check_hierarchy_capacities(arrays)
        return cls(arrays, list(names) if names is not None else None, handling, film_modulation, dataflow, cost_model)

    @classmethod
    def from_base(cls, base: HardwareSpec, names: list[str] | None = None, **axes: Any) -> SpecGrid:
        """A grid around ``base``: one value or array per swept field in ``axes`` (any of
        :data:`FIELDS`), every other field and the sparse handling from ``base``. What a sweep builds
        per chunk: validated once, like :meth:`from_arrays`."""
        own = field_values(base)
        unknown = [k for k in axes if k not in own]
        if unknown:
            raise HwsimError(f"spec grid: unknown fields {unknown}; known: {', '.join(own)}")
        values = {key: axes.get(key, own[key]) for key in own}
        return cls.from_arrays(
            names, **asdict(SparseHandling.of(base)), film_modulation=base.film_modulation,
            dataflow=base.hierarchy.dataflow if base.hierarchy is not None else None, cost_model=base.cost_model,
            **values,
        )  # fmt: skip

    def spec(self, index: int, base: HardwareSpec | None = None) -> HardwareSpec:
        """Point ``index`` as a validated :class:`HardwareSpec` (for reports on a chosen point); an
        energy equal to ``base``'s (default: the shipped 65 nm energies) keeps its provenance."""
        values = {k: v[0, index].item() for k, v in self.arrays.items()}
        own = base.energy if base is not None else Energy()
        energy = {key: _entry(getattr(own, key), values.pop(key)) for key in ENERGIES}
        hier = {key: values.pop(key) for key in HIER_FIELDS if key in values}
        extra = {}
        if self.hierarchical:
            extra = {"hierarchy": _hierarchy(hier, self.dataflow, base), "cost_model": self.cost_model}
        return HardwareSpec(
            name=self.names[index],
            **asdict(self.storage),
            **values,
            energy=Energy(**energy, film_modulation=self.film_modulation),
            **extra,
        )


def check_hierarchy_capacities(arrays: dict[str, np.ndarray]) -> None:
    """The rule of :class:`hwsim.config.HardwareSpec`: every on-chip level holds one weight, one
    activation and one partial sum (one error line naming the first point that does not)."""
    smallest = arrays["weight_bits"] + arrays["activation_bits"] + arrays["psum_bits"]
    for short, level in (("glb", "global_buffer"), ("local", "local")):
        bad = arrays[f"{short}_capacity_bytes"] * 8 < smallest
        if np.any(bad):
            i = int(np.flatnonzero(bad[0])[0])
            raise HwsimError(
                f"spec grid: {short}_capacity_bytes {int(arrays[f'{short}_capacity_bytes'][0, i])} B (hierarchy."
                f"{level}) cannot hold one weight, one activation and one partial sum ({int(smallest[0, i])} bits)"
            )


_UNCITED = EnergyEntry(value=1.0, node="unspecified", voltage=None, source="a spec grid value (no citation)")


def _entry(default: EnergyEntry, value: float) -> EnergyEntry:
    """An energy entry for a grid value: ``default`` (with its provenance) when the value is its value,
    else the value with no provenance to claim (a grid carries values, not citations)."""
    if value == default.value:
        return default
    return _UNCITED.model_copy(update={"value": value})


def _hierarchy(values: dict[str, Any], dataflow: str, base: HardwareSpec | None) -> dict[str, Any]:
    """The ``hierarchy`` section of a grid point, nested by :data:`hwsim.config.HIERARCHY_PATHS`
    (energies keep ``base``'s provenance where equal)."""
    own = base.hierarchy if base is not None else None
    section: dict[str, Any] = {"dataflow": dataflow}
    for name, path in HIERARCHY_PATHS.items():
        value = values[name]
        if name.endswith("_pj"):
            value = _entry(functools.reduce(getattr, path, own) if own is not None else _UNCITED, value)
        node = section
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return section


def field_values(spec: HardwareSpec) -> dict[str, float | int]:
    """Every field of ``spec`` under its flat name: the six Eq. 7-9 values, the energies and, for a
    spec with a hierarchy section, :data:`HIER_FIELDS`."""
    return {**spec.flat(), **spec.energy_values(), **spec.hierarchy_values()}


def spec_grid(specs: HardwareSpec | Iterable[HardwareSpec] | SpecGrid | dict) -> SpecGrid:
    if isinstance(specs, SpecGrid):
        return specs
    if isinstance(specs, HardwareSpec):
        return SpecGrid.from_specs([specs])
    if isinstance(specs, dict):
        return SpecGrid.from_arrays(**specs)
    return SpecGrid.from_specs(specs)
