"""The metric registry and the cost grid: every metric of a layer table over many specs at once.

A metric is declared once (:class:`Metric`: name, unit, the per-layer function, how it sums) and
everything else (the :class:`CostGrid` totals, the estimate's ``Totals``, the formats) follows the
registry, so a new metric is one :func:`register_metric` call (energy is one: hwsim.costs.energy).

>>> grid = costs(table, [spec_a, spec_b], "float")     # or a SpecGrid of 10^5 points
>>> grid.totals["delay_ns"]                            # shape (2,)
>>> grid.layer("delay_ns")                             # shape (layers, 2)
>>> grid.totals_frame()                                # one row per spec (pandas, on demand)

Speed: rows that agree on every numeric column (ResNet34's repeated 3 x 3 convs) are costed once
and summed with their multiplicity, so work scales with the unique layer shapes; delay totals sum
whole cycles (exact integers) before multiplying by tau, so ceilings stay exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..methods import Method, get_method
from ..workload.table import SCHEMA
from . import compute, energy, memory
from .delay import check_attribution, check_exact, compute_rows, delay_terms, eq7_cycles
from .specgrid import SparseHandling, SpecGrid, spec_grid


@dataclass(frozen=True)
class Total:
    """One whole-network number a metric sums to: over ``rows`` ("all" or "conv"), times ``scale``."""

    name: str
    unit: str
    rows: str = "all"
    scale: float = 1.0
    integer: bool = False
    optional: bool = False  # absent (None) where its metric does not apply (a hierarchy total on a paper-only spec)


@dataclass(frozen=True)
class Metric:
    """A per-layer cost. ``per_layer(inputs)`` returns (rows,) for spec-free metrics or
    (rows, specs) for hardware-dependent ones. ``total(inputs, weights)``, if given, sums it over
    rows with those multiplicities more cheaply (or more exactly) than the per-layer grid would:
    delays sum whole cycles before converting to ns, memory sums parameters before scaling by B_W."""

    name: str
    unit: str
    description: str
    per_layer: Callable[[CostInputs], np.ndarray]
    totals: tuple[Total, ...] = ()
    per_spec: bool = False
    total: Callable[[CostInputs, np.ndarray], np.ndarray] | None = None
    requires: str | None = None  # "hierarchy": computed only on grids with a hierarchy section

    def applies(self, specs: SpecGrid) -> bool:
        return self.requires is None or (self.requires == "hierarchy" and specs.hierarchical)


METRICS: dict[str, Metric] = {}
# Whole-table facts that are not sums of a per-layer metric.
FACTS: tuple[Total, ...] = (Total("params", "params", integer=True),)
TAIL_FACTS: tuple[Total, ...] = (Total("layers", "rows", integer=True), Total("conv_layers", "rows", integer=True))


def register_metric(metric: Metric) -> Metric:
    METRICS[metric.name] = metric
    return metric


def total_rules() -> list[Total]:
    """Every total in output order: facts, then each metric's totals, then row counts."""
    return [*FACTS, *(t for m in METRICS.values() for t in m.totals), *TAIL_FACTS]


@dataclass
class CostInputs:
    """What a per-layer function sees: the (unique) rows, the spec arrays and the method context.

    ``hw`` holds every field as (1, H) arrays; ``groups`` / ``group_of`` the distinct integer-field
    combinations as (1, G) arrays and each point's group (see :meth:`SpecGrid.count_groups`): cycle
    counts are computed per group and gathered to points.
    """

    rows: dict[str, np.ndarray]
    hw: dict[str, np.ndarray]
    method: Method | None  # None: spec-free metrics only
    attribution: str
    noise_active: bool
    groups: dict[str, np.ndarray] | None = None
    group_of: np.ndarray | None = None
    storage: SparseHandling = field(default_factory=SparseHandling)  # the grid's sparse-layer scheme
    noise_on_pruned: bool = True  # FLOAT's noise covers pruned weights too (the table's sparsity)
    film_modulation: bool = False  # the grid's energy.film_modulation switch
    specs: SpecGrid | None = None  # the grid itself (the hierarchy model reads its groups and dataflow)
    _cache: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.rows[name]

    def memo(self, key: str, make: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def terms(self):
        """Eq. 7-9's inputs per row, with the grid's sparse handling (read bits per group)."""
        return self.memo(
            "terms",
            lambda: delay_terms(
                self.rows, handling=self.storage, weight_bits=self.groups["weight_bits"] if self.groups else None,
                noise_on_pruned=self.noise_on_pruned,
            ),
        )  # fmt: skip

    @property
    def compute_rows(self) -> np.ndarray:
        return self.memo("compute_rows", lambda: compute_rows(self.rows))

    def base_cycles(self):
        """Eq. 7 cycles per (row, group)."""
        t = self.terms
        return self.memo(
            "base",
            lambda: eq7_cycles(t.weights, t.outputs, self.groups, read_bits=t.read_bits, mult_weights=t.mult_weights),
        )

    def method_cycles(self):
        """The method's cycles per (row, group)."""
        return self.memo(
            "method",
            lambda: self.method.cycles(
                self.terms, self.groups, attribution=self.attribution, noise_active=self.noise_active
            ),
        )

    def energy_ops(self) -> energy.EnergyOps:
        """The operations the energy model prices, per row (:func:`hwsim.costs.energy.energy_ops`)."""
        return self.memo(
            "energy_ops",
            lambda: energy.energy_ops(
                self.rows, self.terms, self.method, attribution=self.attribution, noise_active=self.noise_active,
                noise_on_pruned=self.noise_on_pruned, film_modulation=self.film_modulation,
            ),
        )  # fmt: skip

    def hierarchy(self) -> dict[str, np.ndarray]:
        """The hierarchy model's per-row quantities (:data:`hwsim.costs.hierarchy.PRICED`), (rows, H)."""
        from . import hierarchy as H

        return self.memo("hierarchy", lambda: H.price(self._at_points(self.hierarchy_bits()), self.hw))

    def hierarchy_total(self, key: str, weights: np.ndarray) -> np.ndarray:
        """A hierarchy total per point, (H,): the :data:`~hwsim.costs.hierarchy.LINEAR` ones price the
        bits summed over rows per group (work G x rows + H, not rows x H: what makes a sweep fast); the
        latency, a per-row maximum, sums the rows' latencies. Rows are added one at a time in row order,
        so a total is the same whatever the grid's width."""
        from . import hierarchy as H

        weights = weights.astype(np.float64)
        if key == "latency_ns":  # a maximum per row: priced per (row, point), only the cycle terms
            cycle_bits = lambda: {k: v for k, v in self.hierarchy_bits().items() if k in H.CYCLE_BITS}  # noqa: E731
            values = self.memo(
                "hierarchy_latency", lambda: H.price(self._at_points(cycle_bits()), self.hw, ("latency_ns",))
            )["latency_ns"]
            return _rows_summed(values, weights)

        def summed():
            out = {name: _rows_summed(values, weights)[None, :] for name, values in self.hierarchy_bits().items()}
            return H.price(self._at_points(out), self.hw, keys=H.LINEAR)

        return self.memo(f"hierarchy_totals:{weights.tobytes().hex()}", summed)[key][0]

    def _at_points(self, per_group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Values per capacity group, (rows, G), spread to the grid's points, (rows, H)."""
        _, group_of = self.specs.hierarchy_groups()
        return {k: v[:, group_of] for k, v in per_group.items()}

    def hierarchy_bits(self) -> dict[str, np.ndarray]:
        """:func:`hwsim.costs.hierarchy.level_bits` per (row, capacity group), (rows, G): the mapping is
        chosen and its traffic counted once per group (:meth:`SpecGrid.hierarchy_groups`)."""
        return self.memo("hierarchy_bits", self._hierarchy_bits)

    def _hierarchy_bits(self) -> dict[str, np.ndarray]:
        from . import hierarchy as H

        groups, _ = self.specs.hierarchy_groups()
        shapes = H.Shapes.of(self.rows)
        terms, storage = self.terms, self.storage
        weights = terms.weights[:, 0]
        scales, traffic = [], []
        for g in range(groups["weight_bits"].shape[1]):
            group = H.Group(self.specs.dataflow, **{k: int(groups[k][0, g]) for k in H.GROUP_FIELDS})
            scale = np.ones(len(weights))
            if storage.sparse_reads:  # weights move in the sparse format above the PEs
                bits = memory.format_bits(
                    self.rows, weights, storage.sparse_format, storage.index_bits, group.weight_bits
                )
                scale = np.where(weights > 0, bits / np.maximum(weights * group.weight_bits, 1), 1.0)
            scales.append(scale)
            traffic.append(H.mapped_traffic(shapes, group, scale))
        noisy = terms.noisy[:, 0] & bool(self.method.noisy_convs and self.noise_active)
        density = np.asarray(self.rows["density"], np.float64)
        skip = np.ones(len(weights))
        if storage.zero_skipping:  # dense noise fills the pruned zeros: those rows run dense
            skip = np.where(noisy & self.noise_on_pruned, 1.0, density)
        film = self.method.film
        extras = H.Extras(
            weight_scale=np.stack(scales, axis=1),
            skip=skip,
            noise=np.where(noisy, 1.0 if self.noise_on_pruned else density, 0.0),
            film_mod=compute.film_modulation_ops(self.rows) / 2 if film else np.zeros(len(weights)),
            film_values=2.0 * np.asarray(self.rows["film_channels"], np.float64) if film else np.zeros(len(weights)),
            alpha=np.asarray(self.rows["alpha_params"], np.float64),
        )
        per_group = {f: np.stack([getattr(t, f) for t in traffic], axis=1) for f in H.TRAFFIC_FIELDS}
        return H.level_bits(per_group, groups, extras)


def _rows_summed(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_row weights[row] * values[row]`` over (rows, points) ``values``, a row at a time in row
    order: a point's total does not depend on how many points share the grid (no BLAS reordering)."""
    acc = np.zeros(values.shape[1])
    for row, count in enumerate(weights):
        if count:
            acc = acc + values[row] * count
    return acc


def _read_pj(inputs: CostInputs) -> np.ndarray:
    """Eq. 7-9's read term in pJ per (row, point): the method's read cycles x N_bank x read_pj."""
    c, at, hw = inputs.method_cycles(), inputs.group_of, inputs.hw
    return np.where(inputs.compute_rows, energy.read_energy(c.reads[:, at], hw["n_banks"], hw["read_pj"]), 0.0)


def _read_pj_total(inputs: CostInputs, weights: np.ndarray) -> np.ndarray:
    c, at, hw = inputs.method_cycles(), inputs.group_of, inputs.hw
    rounds = (weights * inputs.compute_rows[:, 0]).astype(np.float64) @ c.reads  # per group, exact
    return energy.read_energy(rounds[at], hw["n_banks"][0], hw["read_pj"][0])


def _compute_pj(inputs: CostInputs) -> np.ndarray:
    return np.where(inputs.compute_rows, energy.compute_energy(inputs.energy_ops(), inputs.hw), 0.0)


def _compute_pj_total(inputs: CostInputs, weights: np.ndarray) -> np.ndarray:
    return energy.compute_energy_total(inputs.energy_ops(), weights * inputs.compute_rows[:, 0], inputs.hw)


def _activation_pj(inputs: CostInputs) -> np.ndarray:
    elements_in, elements_out = inputs.memo("activations", lambda: energy.activation_elements(inputs.rows))
    hw = inputs.hw
    pj = energy.activation_energy(elements_in, elements_out, hw["activation_read_pj"], hw["activation_write_pj"])
    return np.where(inputs.compute_rows, pj, 0.0)


def _activation_total(inputs: CostInputs, weights: np.ndarray) -> np.ndarray:
    """Elements summed first (exact integers), then priced once per point: independent of the grid's size."""
    elements_in, elements_out = inputs.memo("activations", lambda: energy.activation_elements(inputs.rows))
    w = (weights * inputs.compute_rows[:, 0]).astype(np.float64)
    hw = inputs.hw
    return energy.activation_energy(
        (w @ elements_in)[0], (w @ elements_out)[0], hw["activation_read_pj"][0], hw["activation_write_pj"][0]
    )


def _overhead(inputs: CostInputs) -> np.ndarray:
    fmt = inputs.storage
    return inputs.memo(
        "overhead",
        lambda: memory.sparse_overhead_bits(inputs.rows, fmt.sparse_format, fmt.index_bits, inputs.hw["weight_bits"]),
    )


def _ns(cycles_of: Callable[[CostInputs], object]) -> Callable[[CostInputs], np.ndarray]:
    def per_layer(inputs: CostInputs) -> np.ndarray:
        c, at = cycles_of(inputs), inputs.group_of
        ns = c.reads[:, at] * inputs.hw["tau_read_ns"] + c.mults[:, at] * inputs.hw["tau_mult_ns"]
        return np.where(inputs.compute_rows, ns, 0.0)

    return per_layer


def _cycle_total(cycles_of: Callable[[CostInputs], object]):
    def total(inputs: CostInputs, weights: np.ndarray) -> np.ndarray:
        c = cycles_of(inputs)
        w = (weights * inputs.compute_rows[:, 0]).astype(np.float64)  # exact: integer sums below 2^53
        at = inputs.group_of
        reads, mults = w @ c.reads, w @ c.mults
        check_exact(reads, "memory.weight_bits", "the network's total read cycles")  # sums stay exact too
        check_exact(mults, "compute.n_multipliers", "the network's total multiply cycles")
        return reads[at] * inputs.hw["tau_read_ns"][0] + mults[at] * inputs.hw["tau_mult_ns"][0]

    return total


def _stored(inputs: CostInputs, component: str) -> np.ndarray:
    """Stored parameters per (unique) row of one entry of :func:`memory.component_params`."""
    return inputs.memo("component_params", lambda: memory.component_params(inputs.rows))[component]


def _bits(component: str) -> Callable[[CostInputs], np.ndarray]:
    def per_layer(inputs: CostInputs) -> np.ndarray:
        return _stored(inputs, component)[:, None] * inputs.hw["weight_bits"].astype(np.float64)

    return per_layer


def _bits_total(component: str):
    def total(inputs: CostInputs, weights: np.ndarray) -> np.ndarray:
        bits = inputs.memo("weight_bits", lambda: inputs.hw["weight_bits"][0].astype(np.float64))
        return (weights @ _stored(inputs, component)) * bits

    return total


for _metric in (
    Metric("macs", "MAC", "multiply-accumulates at batch 1 (counting rules: hwsim.costs.compute)",
           lambda i: compute.layer_macs(i.rows), (Total("macs", "MAC", integer=True),)),
    Metric("effective_macs", "MAC", "MACs with nonzero weights only (kept weights x output positions)",
           lambda i: compute.effective_macs(i.rows), (Total("effective_macs", "MAC", integer=True),)),
    Metric("flops", "FLOP", "2 x MACs", lambda i: compute.FLOPS_PER_MAC * compute.layer_macs(i.rows),
           (Total("flops", "FLOP", integer=True),)),
    Metric("noise_add_ops", "op", "FLOAT noise adds, one per weight of a noisy layer (not in MACs)",
           lambda i: compute.noise_add_ops(i.rows, dense=i.noise_on_pruned), (Total("noise_add_ops", "op", integer=True),)),
    Metric("film_mod_ops", "op", "OAT FiLM modulation x * mu + sigma, 2 per output element (not in MACs)",
           lambda i: compute.film_modulation_ops(i.rows), (Total("film_mod_ops", "op", integer=True),)),
    Metric("delay_base_ns", "ns", "paper Eq. 7 on every conv / linear row (the baseline)",
           _ns(CostInputs.base_cycles), (Total("delay_base_ns", "ns"),), per_spec=True,
           total=_cycle_total(CostInputs.base_cycles)),
    Metric("delay_ns", "ns", "the method's delay rule: Eq. 7 (PGD-AT), Eq. 8 (FLOAT), Eq. 9 (OAT)",
           _ns(CostInputs.method_cycles), (Total("delay_ns", "ns"), Total("conv_delay_ns", "ns", rows="conv")),
           per_spec=True, total=_cycle_total(CostInputs.method_cycles)),
    Metric("energy_read_pj", "pJ", "weight reads of Eq. 7-9's read term: read cycles x N_bank x read_pj",
           _read_pj, (Total("energy_read_pj", "pJ"),), per_spec=True, total=_read_pj_total),
    Metric("energy_compute_pj", "pJ",
           "MACs run x (mult_pj + add_pj), FLOAT noise x noise_pj, OAT FiLM MLP (+ modulation if switched on)",
           _compute_pj, (Total("energy_compute_pj", "pJ"),), per_spec=True, total=_compute_pj_total),
    Metric("energy_pj", "pJ", "the method's energy per inference: weight reads + compute (hwsim.costs.energy)",
           lambda i: _read_pj(i) + _compute_pj(i), (Total("energy_pj", "pJ"),), per_spec=True,
           total=lambda i, w: _read_pj_total(i, w) + _compute_pj_total(i, w)),
    Metric("activation_energy_pj", "pJ",
           "activation traffic, outside the paper's weights-only model: inputs read + outputs written once",
           _activation_pj, (Total("activation_energy_pj", "pJ"),), per_spec=True, total=_activation_total),
    *(
        Metric(f"{c}_bits", "bit", f"stored {c.replace('_', ' / ')} parameters x B_W", _bits(c),
               (Total(f"{c}_bytes", "byte", scale=1 / 8),), per_spec=True, total=_bits_total(c))
        for c in memory.COMPONENTS
    ),
    Metric("fig8b_bits", "bit", "weight storage as Fig. 8(b): conv / linear + FiLM, no BN, no alpha",
           _bits("fig8b"), (Total("weight_bytes_fig8b", "byte", scale=1 / 8),), per_spec=True, total=_bits_total("fig8b")),
    Metric("sparse_overhead_bits", "bit", "what the spec's sparse format adds to a sparse layer's kept values",
           lambda i: _overhead(i),
           (Total("sparse_overhead_bytes", "byte", scale=1 / 8),), per_spec=True),
    Metric("storage_bits", "bit", "weight storage in the spec's sparse format: every parameter + index overhead",
           lambda i: _bits("full")(i) + _overhead(i),
           (Total("storage_bytes", "byte", scale=1 / 8),), per_spec=True),
    Metric("full_bits", "bit", "weight storage of every parameter", _bits("full"),
           (Total("weight_bytes", "byte", scale=1 / 8),), per_spec=True, total=_bits_total("full")),
):  # fmt: skip
    register_metric(_metric)

# The memory-hierarchy model (hwsim.costs.hierarchy): per-row values of its price(), on hierarchy grids only.
_HIERARCHY_METRICS = (
    ("latency_ns", "ns", "hierarchy model: roofline latency, max of compute and each level's transfer time"),
    ("energy_pj", "pJ", "hierarchy model: energy per inference, DRAM + buffer + local + compute"),
    ("dram_pj", "pJ", "hierarchy model: DRAM reads and writes"),
    ("glb_pj", "pJ", "hierarchy model: global-buffer reads and writes"),
    ("local_pj", "pJ", "hierarchy model: PE-local reads and writes, all PEs"),
    ("compute_pj", "pJ", "hierarchy model: MACs, FiLM modulation and FLOAT noise"),
    ("dram_bits", "bit", "hierarchy model: bits read from and written to DRAM"),
    ("glb_bits", "bit", "hierarchy model: bits read from and written to the global buffer"),
    ("local_bits", "bit", "hierarchy model: bits read from and written to PE-local storage, all PEs"),
    (
        "compute_cycles",
        "cycle",
        "hierarchy model: array cycles (MACs over the unrolled PEs, + noise / modulation passes)",
    ),
    ("dram_cycles", "cycle", "hierarchy model: DRAM bits / DRAM bandwidth"),
    ("glb_cycles", "cycle", "hierarchy model: buffer bits / buffer bandwidth"),
    ("local_cycles", "cycle", "hierarchy model: local bits per busy PE / local bandwidth"),
)


def _hier_total(key: str):
    return lambda inputs, weights: inputs.hierarchy_total(key, weights)


for _key, _unit, _text in _HIERARCHY_METRICS:
    register_metric(
        Metric(
            f"hier_{_key}", _unit, _text, lambda i, key=_key: i.hierarchy()[key],
            (Total(f"hier_{_key}", _unit, optional=True),), per_spec=True, total=_hier_total(_key),
            requires="hierarchy",
        )
    )  # fmt: skip


# Every non-text column of the schema: rows equal on all of them cost the same under any metric
# (a metric reads only columns of the schema), so each distinct row is costed once.
_KEY_COLUMNS = tuple(c.name for c in SCHEMA if c.dtype != "str")


def _unique_rows(table) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rows that agree on ``op`` and every numeric column, once each, and each row's unique index."""
    _, op_code = np.unique(np.asarray(table["op"]), return_inverse=True)
    numbers = [np.asarray(table[c]) for c in _KEY_COLUMNS]
    key = np.column_stack(
        [op_code.reshape(-1), *(v.view(np.int64) if v.dtype == np.float64 else v.astype(np.int64) for v in numbers)]
    )
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    rows = {c.name: np.asarray(table[c.name])[first] for c in SCHEMA}
    return rows, inverse.reshape(-1)


class CostGrid:
    """Costs of one layer table over a grid of specs: (layers x specs) arrays and per-spec totals."""

    def __init__(self, table, specs: SpecGrid, method: Method, attribution: str, noise_active: bool, metrics) -> None:
        self.table, self.specs, self.method = table, specs, method
        self.attribution, self.noise_active = attribution, noise_active
        rows, self._inverse = _unique_rows(table)
        groups, group_of = specs.count_groups()
        self._inputs = CostInputs(
            rows, specs.arrays, method, attribution, noise_active, groups, group_of, specs.storage,
            noise_on_pruned=bool(table.attrs.get("noise_on_pruned", True)), film_modulation=specs.film_modulation,
            specs=specs,
        )  # fmt: skip
        chosen = [METRICS[name] for name in metrics] if metrics is not None else list(METRICS.values())
        self._metrics = [m for m in chosen if m.applies(specs)]
        self._absent = [m for m in chosen if not m.applies(specs)]
        self._unique: dict[str, np.ndarray] = {}
        self.totals = self._totals()

    def __len__(self) -> int:
        return len(self.specs)

    def _per_unique(self, metric: Metric) -> np.ndarray:
        if metric.name not in self._unique:
            self._unique[metric.name] = metric.per_layer(self._inputs)
        return self._unique[metric.name]

    def _weights(self, rows: str) -> np.ndarray:
        keep = slice(None) if rows == "all" else np.asarray(self.table["op"]) == rows
        return np.bincount(self._inverse[keep], minlength=len(self._inputs.rows["op"])).astype(np.int64)

    def _totals(self) -> dict[str, np.ndarray]:
        n = len(self.specs)
        is_conv = np.asarray(self.table["op"]) == "conv"
        facts = {
            "params": self.table.attrs.get("model_params", 0),
            "layers": len(self.table),
            "conv_layers": int(is_conv.sum()),
        }
        out = {t.name: np.full(n, facts[t.name], np.int64) for t in FACTS}
        weights = {rows: self._weights(rows) for rows in ("all", "conv")}
        for metric in self._metrics:
            for total in metric.totals:
                w = weights[total.rows]
                if metric.total is not None:
                    value = metric.total(self._inputs, w)
                else:
                    per = self._per_unique(metric)
                    value = w @ per if per.ndim == 2 else np.full(n, int(w @ per))
                value = value * total.scale if total.scale != 1.0 else value
                out[total.name] = value.astype(np.int64) if total.integer else np.asarray(value, np.float64)
        for metric in self._absent:  # not applicable to this grid (NaN here, None in totals_at)
            out.update({total.name: np.full(n, np.nan) for total in metric.totals})
        out.update({t.name: np.full(n, facts[t.name], np.int64) for t in TAIL_FACTS})
        return out

    def layer(self, name: str) -> np.ndarray:
        """Per-layer values of metric ``name``: (layers,) if spec-free, else (layers, specs). A metric
        that does not apply to the grid (a hierarchy metric on a paper-only spec) is all NaN, as its
        totals are."""
        metric = METRICS[name]
        if not metric.applies(self.specs):
            return np.full((len(self.table), len(self.specs)), np.nan)
        return self._per_unique(metric)[self._inverse]

    def layer_columns(self, spec: int = 0) -> dict[str, np.ndarray]:
        """Every metric's per-layer column at one spec of the grid."""
        out = {}
        for metric in self._metrics:
            values = self.layer(metric.name)
            out[metric.name] = values[:, spec] if values.ndim == 2 else values
        return out

    def totals_at(self, spec: int = 0) -> dict[str, int | float | None]:
        """Every total at one point; a total whose metric does not apply to the grid is None."""
        return {
            k: int(v[spec]) if v.dtype.kind == "i" else None if np.isnan(v[spec]) else float(v[spec])
            for k, v in self.totals.items()
        }

    def totals_frame(self):
        """One row per spec: the spec's values, then every total (pandas, imported on demand)."""
        import pandas as pd

        frame = pd.DataFrame(
            {"spec": self.specs.names, **{k: v[0] for k, v in self.specs.arrays.items()}, **self.totals}
        )
        frame.attrs.update(method=self.method.name, attribution=self.attribution, noise_active=self.noise_active)
        return frame

    def layer_frame(self, spec: int = 0):
        frame = self.table.to_frame()
        for name, values in self.layer_columns(spec).items():
            frame[name] = values
        return frame


def costs(
    table,
    specs,
    method: str | Method,
    *,
    attribution: str = "paper",
    noise_active: bool = True,
    metrics: list[str] | None = None,
) -> CostGrid:
    """Every registered metric of ``table`` on every spec of ``specs`` (one spec, a list, or a
    :class:`~hwsim.costs.specgrid.SpecGrid` built straight from arrays)."""
    check_attribution(attribution)
    return CostGrid(table, spec_grid(specs), get_method(method), attribution, noise_active, metrics)


def count_columns(table) -> dict[str, np.ndarray]:
    """The spec-free metrics (MACs, FLOPs, extra ops) per layer: what thop or fvcore count."""
    dense_noise = bool(getattr(table, "attrs", {}).get("noise_on_pruned", True))
    inputs = CostInputs(table, {}, None, "paper", False, noise_on_pruned=dense_noise)
    return {m.name: m.per_layer(inputs) for m in METRICS.values() if not m.per_spec}


def count_frame(table):
    """The layer table as a DataFrame with the spec-free metric columns (MACs, FLOPs, ...)."""
    frame = table.to_frame()
    for name, values in count_columns(table).items():
        frame[name] = values
    return frame


__all__ = [
    "METRICS",
    "CostGrid",
    "Metric",
    "Total",
    "costs",
    "count_columns",
    "count_frame",
    "register_metric",
    "total_rules",
]
