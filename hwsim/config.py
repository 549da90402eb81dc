"""Validated configuration files: hardware specs (built-in ``hwsim/specs/*.yaml`` or any path) and models (``models/*.yaml``).

Every boundary is a pydantic model that rejects unknown keys. :func:`load_spec` and
:func:`load_model_config` turn any problem (missing file, malformed YAML, unknown key, wrong type,
impossible value) into one :class:`~hwsim.errors.HwsimError` line that names the file and the field.
"""

from __future__ import annotations

import contextlib
import functools
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .datasets import DATASETS
from .errors import HwsimError
from .methods import Method, get_method, list_methods
from .replay import file_signature

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe_load's loader, in C if available

MAX_YAML_BYTES = 1 << 20  # a config file is a few hundred bytes; anything near 1 MB is not one
MAX_YAML_DEPTH = 32  # nesting levels of a config document (the deepest real one has 2)


class Range(NamedTuple):
    """Valid values of one hardware field: ``low < value`` (``low_open``) or ``low <= value``, and ``value <= high``."""

    low: float
    high: float
    low_open: bool = False

    def text(self) -> str:
        high = (
            f"2^{int(self.high).bit_length() - 1}"
            if isinstance(self.high, int) and self.high > 4096
            else f"{self.high:g}"
        )
        return f"{'>' if self.low_open else '>='} {self.low:g} and <= {high}"


# THE ranges of the hardware fields (HardwareSpec sections and SpecGrid.from_arrays both read them).
# They keep Eq. 7-9's integer arithmetic exact: for a layer of K <= 2^31 weights, K x weight_bits <= 2^37
# and io_bandwidth_bits x n_banks <= 2^40 stay far below 2^53 (float64's exact-integer limit), and a
# nanosecond time <= 1e9 keeps every sum finite. ceil(K / n_multipliers) x H_o W_o depends on the layer
# too: hwsim.costs checks it (and every total) against 2^53 for the actual table, naming the field.
HARDWARE_RANGES: dict[str, Range] = {
    "tau_read_ns": Range(0.0, 1e9, low_open=True),
    "tau_mult_ns": Range(0.0, 1e9, low_open=True),
    "io_bandwidth_bits": Range(1, 1 << 20),
    "weight_bits": Range(1, 64),
    "n_banks": Range(1, 1 << 20),
    "n_multipliers": Range(1, 1 << 31),
}


def _time(name: str, description: str):
    r = HARDWARE_RANGES[name]
    return Field(gt=r.low, le=r.high, allow_inf_nan=False, description=f"{description}; valid: {r.text()} ns")


def _count(name: str, description: str):
    r = HARDWARE_RANGES[name]
    return Field(gt=r.low - 1, le=r.high, description=f"{description}; valid: {r.text()}")  # gt: integers


# How a sparse layer's weights are stored (memory.sparse_format); hwsim.costs.memory gives each its bits.
SPARSE_FORMATS = ("values", "dense", "bitmap", "csr", "coo", "channel-list")

BUILTIN_SPEC_PACKAGE = "hwsim"  # built-in specs ship as package data in hwsim/specs/*.yaml
DEFAULT_SPEC = "asic-65nm"  # a built-in name: works from a wheel install, not only from a checkout


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Timing(Strict):
    """Per-operation times of Eq. 7-9, nanoseconds."""

    tau_read_ns: float = _time("tau_read_ns", "time of one memory read (paper, 65 nm: 9 ns)")
    tau_mult_ns: float = _time("tau_mult_ns", "time of one multiply (paper, 65 nm: 4 ns)")


class Memory(Strict):
    """The weight memory of Eq. 7-9's read term (and the bit width of the memory totals)."""

    io_bandwidth_bits: StrictInt = _count("io_bandwidth_bits", "memory IO bandwidth B_IO per read, bits")
    weight_bits: StrictInt = _count("weight_bits", "bit-width B_W of each stored weight")
    n_banks: StrictInt = _count("n_banks", "memory banks N_bank read in parallel")
    sparse_format: Literal[SPARSE_FORMATS] = Field(
        "values",
        description="how a sparse (FLOATS) layer is stored: kept values only (the paper's CR = 1/d), dense "
        "(zeros too), bitmap (+1 bit per position), csr or coo (+index words); dense layers are always dense",
    )
    index_bits: StrictInt = Field(
        16, ge=1, le=64, description="bits of one csr / coo / channel-list index or row-pointer word"
    )
    sparse_reads: bool = Field(
        False,
        description="Eq. 7-9's read term fetches only what sparse_format stores (kept values + index words) "
        "instead of all K weights; a hwsim choice, off by default (the paper's FLOATS-i has no speed-up)",
    )


class Compute(Strict):
    """The multiply array of Eq. 7-9's multiply term."""

    n_multipliers: StrictInt = _count("n_multipliers", "parallel multiply units N_mult")
    zero_skipping: bool = Field(
        False,
        description="the multipliers skip zero weights: Eq. 7-9's multiply term counts kept weights, not K "
        "(FLOAT's dense noise fills the zeros, so noisy layers gain nothing unless noise_on_pruned is false); "
        "a hwsim choice, off by default",
    )


# --- energy ---------------------------------------------------------------------------------------
# Energies per operation, picojoules (hwsim.costs.energy). The range keeps every per-layer product finite.
ENERGY_RANGE = Range(0.0, 1e9, low_open=True)
ENERGY_UNIT = "pJ"

# The shipped 65 nm default (hwsim/specs/asic-65nm.yaml writes the same values out, with the
# derivation). Horowitz, ISSCC 2014, "Computing's energy problem", energy table at 45 nm / 0.9 V,
# scaled to 65 nm / 1.0 V by the first-order dynamic-energy rule E ~ C V^2 with C ~ feature size:
# (65 / 45) x (1.0 / 0.9)^2 = 1.783. That factor is NOT a published 65 nm number (Stillmaker & Baas
# 2017 give fitted per-node factors that could not be checked here): the values are a calibration.
ENERGY_SCALE_45_TO_65 = (65 / 45) * (1.0 / 0.9) ** 2
_HOROWITZ = "Horowitz, ISSCC 2014, energy table (45 nm, 0.9 V)"
_SCALED = f"scaled x{ENERGY_SCALE_45_TO_65:.3f} = (65/45)(1.0/0.9)^2 to 65 nm, 1.0 V (first-order C V^2; a calibration)"
DEFAULT_ENERGY: dict[str, dict[str, Any]] = {
    "read_pj": {"value": 17.8, "source": f"{_HOROWITZ}: 10 pJ per 64-bit read of an 8 KB SRAM; {_SCALED}"},
    "mult_pj": {"value": 0.357, "source": f"{_HOROWITZ}: 0.2 pJ per 8-bit integer multiply; {_SCALED}"},
    "add_pj": {
        "value": 0.178,
        "source": f"{_HOROWITZ}: 0.1 pJ per 32-bit integer add (the accumulator of 8 x 8-bit products); {_SCALED}",
    },
    "noise_pj": {
        "value": 0.410,
        "source": f"{_HOROWITZ}: 0.2 pJ 8-bit multiply (lambda alpha x eta) + 0.03 pJ 8-bit add (theta + noise); "
        f"{_SCALED}; drawing eta excluded",
    },
    "activation_read_pj": {
        "value": 2.23,
        "source": f"{_HOROWITZ}: 10 pJ per 64-bit read of an 8 KB SRAM / 8 activations of 8 bits per word; {_SCALED}",
    },
    "activation_write_pj": {
        "value": 2.23,
        "source": "assumed equal to activation_read_pj (the Horowitz table gives no SRAM write energy); a calibration",
    },
}
for _entry in DEFAULT_ENERGY.values():
    _entry.update(unit=ENERGY_UNIT, node="65nm", voltage=1.0)


class EnergyEntry(Strict):
    """One energy per operation with its provenance: technology node, supply voltage (None: not
    stated) and the source it is taken or derived from."""

    value: float = Field(
        gt=ENERGY_RANGE.low,
        le=ENERGY_RANGE.high,
        allow_inf_nan=False,
        description=f"energy; valid: {ENERGY_RANGE.text()} pJ",
    )
    unit: Literal["pJ"] = ENERGY_UNIT
    node: str = Field(min_length=1, description="technology node the value is for, e.g. 65nm")
    voltage: float | None = Field(None, gt=0.0, le=10.0, allow_inf_nan=False, description="supply voltage, V")
    source: str = Field(min_length=1, description="where the value comes from (a citation, and any scaling)")


def _energy(name: str, description: str):
    return Field(default_factory=lambda: EnergyEntry(**DEFAULT_ENERGY[name]), description=description)


class Energy(Strict):
    """Energies per operation of :mod:`hwsim.costs.energy` (optional section; default: the shipped
    65 nm values). ``film_modulation`` adds OAT's per-activation FiLM modulation ``x * mu + sigma``,
    which Eq. 9 as printed leaves out (off by default)."""

    read_pj: EnergyEntry = _energy("read_pj", "one B_IO-bit read of one bank (Eq. 7-9's read term)")
    mult_pj: EnergyEntry = _energy("mult_pj", "one weight_bits x weight_bits multiply")
    add_pj: EnergyEntry = _energy("add_pj", "one accumulate add at the accumulator width")
    noise_pj: EnergyEntry = _energy(
        "noise_pj", "FLOAT's noise on one weight: the scale multiply lambda alpha eta and the add theta + noise"
    )
    activation_read_pj: EnergyEntry = _energy("activation_read_pj", "reading one activation element")
    activation_write_pj: EnergyEntry = _energy("activation_write_pj", "writing one activation element")
    film_modulation: bool = Field(
        False, description="charge OAT's FiLM modulation x * mu + sigma (one multiply + one add per element)"
    )

    def values(self) -> dict[str, float]:
        """The energy values under their names (what SpecGrid and the cost code read)."""
        return {name: getattr(self, name).value for name in ENERGY_FIELDS}


ENERGY_FIELDS: tuple[str, ...] = tuple(k for k, v in Energy.model_fields.items() if v.annotation is EnergyEntry)


# --- memory hierarchy (hwsim.costs.hierarchy, the cost model a spec selects with cost_model: hierarchy) ---
COST_MODELS = ("paper", "hierarchy")
DATAFLOWS = ("weight-stationary", "output-stationary", "input-stationary")  # hwsim.costs.hierarchy.SPATIAL
# THE ranges of the hierarchy's integer and clock values (its pydantic fields and SpecGrid.from_arrays read
# them); the energies take ENERGY_RANGE. A capacity of 2^40 B (1 TiB) or a 2^24-bit bus is beyond any chip.
HIERARCHY_RANGES: dict[str, Range] = {
    "pe_rows": Range(1, 1 << 16),
    "pe_cols": Range(1, 1 << 16),
    "clock_mhz": Range(0.0, 1e6, low_open=True),
    "activation_bits": Range(1, 64),
    "psum_bits": Range(1, 128),
    "capacity_bytes": Range(1, 1 << 40),
    "word_bits": Range(1, 1 << 16),
    "bandwidth_bits": Range(1, 1 << 24),
}


def _hier(name: str, description: str):
    r = HIERARCHY_RANGES[name]
    if r.low_open:
        return Field(gt=r.low, le=r.high, allow_inf_nan=False, description=f"{description}; valid: {r.text()}")
    return Field(ge=r.low, le=r.high, description=f"{description}; valid: {r.text()}")


class OffChip(Strict):
    """DRAM: unbounded capacity; ``bandwidth_bits`` per clock cycle (reads and writes together) and
    the energy of one access of ``word_bits``."""

    word_bits: StrictInt = _hier("word_bits", "bits per access: read_pj / write_pj are per access of this width")
    bandwidth_bits: StrictInt = _hier("bandwidth_bits", "bits moved per clock cycle, reads and writes together")
    read_pj: EnergyEntry = Field(description="one read access of word_bits")
    write_pj: EnergyEntry = Field(description="one write access of word_bits")


class OnChip(OffChip):
    """An on-chip level (the global buffer, or each PE's local storage): DRAM's fields and a capacity,
    which the tiles of every operand (weights, inputs, partial sums) share."""

    capacity_bytes: StrictInt = _hier(
        "capacity_bytes", "bytes held (local: per PE); weights, inputs and psums share it"
    )


class PEArray(Strict):
    """The PE array: ``rows x cols`` processing elements, one MAC per cycle each."""

    rows: StrictInt = _hier("pe_rows", "PE rows (the dataflow's first unrolled loop)")
    cols: StrictInt = _hier("pe_cols", "PE columns (the dataflow's second unrolled loop)")


class Hierarchy(Strict):
    """A memory hierarchy DRAM -> global buffer -> PE-local storage over a PE array, for the
    ``hierarchy`` cost model (:mod:`hwsim.costs.hierarchy`). Weights are ``memory.weight_bits`` wide."""

    dataflow: Literal[DATAFLOWS] = Field(
        description="which loops the PE array unrolls: weight-stationary C x K, output-stationary X x K, "
        "input-stationary C x X"
    )
    clock_mhz: float = _hier("clock_mhz", "clock of the array and the memories, MHz")
    array: PEArray
    activation_bits: StrictInt = _hier("activation_bits", "bits of an input / output activation")
    psum_bits: StrictInt = _hier("psum_bits", "bits of a partial sum moved between levels")
    mac_pj: EnergyEntry = Field(description="one MAC: a multiply and its accumulate")
    noise_pj: EnergyEntry = Field(description="FLOAT's noise on one weight entering the array (scale + add)")
    dram: OffChip
    global_buffer: OnChip
    local: OnChip

    def values(self) -> dict[str, float | int]:
        """The hierarchy's values under their flat names (:data:`HIERARCHY_PATHS`): what SpecGrid
        and the cost code read (an energy entry gives its value)."""
        out = {}
        for name, path in HIERARCHY_PATHS.items():
            value = functools.reduce(getattr, path, self)
            out[name] = value.value if isinstance(value, EnergyEntry) else value
        return out


_LEVEL_KEYS = {"dram": "dram", "glb": "global_buffer", "local": "local"}
# flat name -> its path in the hierarchy section: THE one table between the YAML's nesting and the flat
# names sweeps, SpecGrid and the cost code use (SpecGrid.spec builds a section back from it)
HIERARCHY_PATHS: dict[str, tuple[str, ...]] = {
    "pe_rows": ("array", "rows"),
    "pe_cols": ("array", "cols"),
    "clock_mhz": ("clock_mhz",),
    "activation_bits": ("activation_bits",),
    "psum_bits": ("psum_bits",),
    "mac_pj": ("mac_pj",),
    "hier_noise_pj": ("noise_pj",),
    **{
        f"{short}_{key}": (level, key)
        for short, level in _LEVEL_KEYS.items()
        for key in ("capacity_bytes", "word_bits", "bandwidth_bits")
        if not (short == "dram" and key == "capacity_bytes")  # DRAM is unbounded
    },
    **{f"{short}_{key}": (level, key) for short, level in _LEVEL_KEYS.items() for key in ("read_pj", "write_pj")},
}
HIERARCHY_FIELDS: tuple[str, ...] = tuple(HIERARCHY_PATHS)  # flat names of the hierarchy's values
# the integer ones (the rest, clock and energies, are floats); their range key in HIERARCHY_RANGES
HIERARCHY_INTS: tuple[str, ...] = tuple(f for f in HIERARCHY_FIELDS if not (f == "clock_mhz" or f.endswith("_pj")))


def hierarchy_range(field: str) -> Range:
    """The valid range of a flat hierarchy field."""
    if field.endswith("_pj"):
        return ENERGY_RANGE
    for key in ("capacity_bytes", "word_bits", "bandwidth_bits"):
        if field.endswith(key):
            return HIERARCHY_RANGES[key]
    return HIERARCHY_RANGES[field]


SECTIONS: dict[str, type[Strict]] = {"timing": Timing, "memory": Memory, "compute": Compute}
# flat key (the pre-section file format, and the names the cost code reads) -> its section
FLAT_KEYS: dict[str, str] = {key: section for section, model in SECTIONS.items() for key in model.model_fields}


class HardwareSpec(Strict):
    """A Von-Neumann ASIC for the delay model of paper Eq. 7-9 (Ali et al. 2020; Kang et al. 2018).

    Values are grouped in ``timing`` / ``memory`` / ``compute`` sections; units are in the key names
    (nanoseconds, bits, plain counts). Old flat files (``tau_read_ns: 9`` at the top level) still
    load: their keys are folded into the sections. The flat names stay readable as properties
    (``spec.tau_read_ns``), which is what the cost code reads. ``calibration`` says, in words, which
    values are fitted rather than published; ``hwsim compare`` prints it.
    """

    name: str = "custom"
    description: str = ""
    calibration: str | None = Field(None, description="which values are a calibration, not published, and to what")
    timing: Timing
    memory: Memory
    compute: Compute
    energy: Energy = Field(default_factory=Energy, description="energies per operation (default: shipped 65 nm)")
    cost_model: Literal[COST_MODELS] = Field(
        "paper",
        description="the cost model the outputs lead with: paper (Eq. 7-9, always computed) or hierarchy "
        "(hwsim.costs.hierarchy; needs the hierarchy section)",
    )
    hierarchy: Hierarchy | None = Field(None, description="memory hierarchy and PE array (hwsim.costs.hierarchy)")

    @model_validator(mode="after")
    def _check_hierarchy(self) -> HardwareSpec:
        h = self.hierarchy
        if self.cost_model == "hierarchy" and h is None:
            raise ValueError("cost_model: hierarchy needs a hierarchy section (levels, array, dataflow)")
        if h is not None:
            smallest = self.memory.weight_bits + h.activation_bits + h.psum_bits
            for name in ("global_buffer", "local"):
                level = getattr(h, name)
                if level.capacity_bytes * 8 < smallest:
                    raise ValueError(
                        f"hierarchy.{name}.capacity_bytes: {level.capacity_bytes} B cannot hold one weight, one "
                        f"activation and one partial sum ({smallest} bits)"
                    )
        return self

    @model_validator(mode="before")
    @classmethod
    def _fold_flat_keys(cls, data: Any) -> Any:
        """Move flat keys into their sections; a key given both ways is an error naming it."""
        if not isinstance(data, dict) or not any(key in data for key in FLAT_KEYS):
            return data
        data = dict(data)
        for key, section in FLAT_KEYS.items():
            if key not in data:
                continue
            body = data.get(section)
            if isinstance(body, BaseModel):
                body = body.model_dump()
            if body is None:
                body = {}
            if not isinstance(body, dict):
                continue  # leave the flat key: pydantic reports the bad section (and the stray key)
            if key in body:
                detail = InitErrorDetails(
                    type=PydanticCustomError(
                        "flat_and_sectioned",
                        "given twice, as flat key {flat} and in section {section}; keep one",
                        {"flat": key, "section": section},
                    ),
                    loc=(section, key),
                    input={key: data[key], f"{section}.{key}": body[key]},
                )
                raise ValidationError.from_exception_data(cls.__name__, [detail])
            data[section] = {**body, key: data.pop(key)}
        return data

    @property
    def tau_read_ns(self) -> float:
        return self.timing.tau_read_ns

    @property
    def tau_mult_ns(self) -> float:
        return self.timing.tau_mult_ns

    @property
    def io_bandwidth_bits(self) -> int:
        return self.memory.io_bandwidth_bits

    @property
    def weight_bits(self) -> int:
        return self.memory.weight_bits

    @property
    def n_banks(self) -> int:
        return self.memory.n_banks

    @property
    def n_multipliers(self) -> int:
        return self.compute.n_multipliers

    @property
    def weights_per_read(self) -> float:
        """(B_IO / B_W) * N_bank: weights fetched per read cycle (denominator of Eq. 7's read term)."""
        return self.io_bandwidth_bits / self.weight_bits * self.n_banks

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> HardwareSpec:
        """As pydantic's, but flat keys in ``update`` (``{"weight_bits": 4}``) go to their section,
        so callers written for the flat spec keep changing the value they mean (and not a stray
        attribute the cost code never reads)."""
        update = dict(update or {})
        for section in SECTIONS:
            changes = {key: update.pop(key) for key in list(update) if FLAT_KEYS.get(key) == section}
            if changes:
                base = update.get(section, getattr(self, section))
                base = SECTIONS[section].model_validate(base) if isinstance(base, dict) else base
                update[section] = base.model_copy(update=changes)
        return super().model_copy(update=update, deep=deep)

    @property
    def sparse_format(self) -> str:
        return self.memory.sparse_format

    @property
    def index_bits(self) -> int:
        return self.memory.index_bits

    @property
    def sparse_reads(self) -> bool:
        return self.memory.sparse_reads

    @property
    def zero_skipping(self) -> bool:
        return self.compute.zero_skipping

    @property
    def film_modulation(self) -> bool:
        return self.energy.film_modulation

    def energy_values(self) -> dict[str, float]:
        """The energy values (pJ) under their names: ``read_pj``, ``mult_pj``, ..."""
        return self.energy.values()

    def hierarchy_values(self) -> dict[str, float | int]:
        """The hierarchy's values under their flat names (empty without a hierarchy section)."""
        return self.hierarchy.values() if self.hierarchy is not None else {}

    def flat(self) -> dict[str, float | int]:
        """The six hardware values of Eq. 7-9 under their flat names (``hwsim specs``, sweeps, old callers)."""
        return {key: getattr(self, key) for key in HARDWARE_RANGES}


class InputShape(Strict):
    """Input image shape. The bounds keep every layer-table count (H_o W_o <= 2^28 outputs, weights)
    well inside exact integer arithmetic; real inputs are far smaller."""

    channels: StrictInt = Field(3, ge=1, le=1 << 16)
    height: StrictInt = Field(ge=1, le=1 << 14)
    width: StrictInt = Field(ge=1, le=1 << 14)


class EvalCondition(Strict):
    """Where on the accuracy-robustness knob the model is costed and evaluated.

    ``lambda`` is OAT's / PGD-AT's lambda; FLOAT reads ``lambda_n`` (Eq. 6) and falls back to
    ``lambda``. ``lambda_th`` is FLOAT's BN_C -> BN_A threshold (0 or 0.5 in the paper).
    """

    lam: float = Field(1.0, alias="lambda", ge=0.0, le=1.0)
    lambda_n: float | None = Field(None, ge=0.0, le=1.0)
    lambda_th: float = Field(0.0, ge=0.0, lt=1.0)

    @property
    def knob(self) -> float:
        return self.lam if self.lambda_n is None else self.lambda_n


class SparsityConfig(Strict):
    """FLOATS sparsity (paper Sec. 3.2, Eq. 5): which kind, the global density d, its schedule.

    ``density`` is the fraction of conv weights kept (CR = 1/d). The prune rate p and its linear
    decay to 0, and the dense noise over pruned weights, follow the published FLOAT code (the paper
    does not give them): they are choices, kept as options. So are hwsim's other departures from
    that code (``prune_decay_step``, ``adjust_prune_rate``, ``initial_mask``, ``channel_init``): the
    default is hwsim's rule, the other value the reference's (:mod:`hwsim.runner.sparse`).
    """

    kind: Literal["irregular", "channel", "slim"]
    density: float = Field(gt=0.0, le=1.0, allow_inf_nan=False, description="global fraction d of conv weights kept")
    slim_factors: tuple[Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)], ...] = (1.0,)
    eval_slim_factor: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    prune_rate: float = Field(
        0.5, ge=0.0, lt=1.0, description="fraction p of each layer's kept weights pruned per epoch"
    )
    prune_schedule: Literal["linear", "constant"] = Field("linear", description="p decays linearly to 0, or stays")
    noise_on_pruned: bool = Field(
        True, description="FLOAT noise on pruned weights too (the published code: dense noise)"
    )
    exclude: tuple[str, ...] = Field(
        (), description="conv names (fnmatch patterns, e.g. 'conv1' for the stem) never masked or pruned"
    )
    layer_density: tuple[tuple[str, Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]], ...] = Field(
        (),
        description="per-conv starting densities, a mapping fnmatch pattern -> d_l (the first match wins; "
        "others get density); together they must fit Eq. 5's global budget d x all masked weights",
    )
    # divergences from the published FLOAT code (shunlinlu/FLOAT_v2 admm_core.py / funcs.py /
    # OAT_sparse.py): the default is hwsim's rule, the other value the reference's (hwsim.runner.sparse)
    prune_decay_step: Literal["epoch", "minibatch"] = Field(
        "epoch",
        description="the decay of prune_rate steps once per epoch (p (1 - e/(E-1)) at the e-th epoch end), or "
        "once per minibatch as FLOAT_v2's LinearDecay (p (1 - (e+1)/E) at the e-th epoch end)",
    )
    adjust_prune_rate: bool = Field(
        False,
        description="sparse_learning's adjust_prune_rate: a layer under 20% sparse and growing prunes at most its sparsity",
    )
    initial_mask: Literal["exact", "bernoulli"] = Field(
        "exact", description="start masks: exactly floor(d_l n_l) weights, or Bernoulli(d_l) per weight (FLOAT_v2)"
    )
    channel_init: Literal["channels", "reference"] = Field(
        "channels",
        description="FLOATS-c start: whole input channels, or FLOAT_v2's irregular mask made whole channels "
        "by the first end-of-epoch prune (kind channel only)",
    )

    @field_validator("layer_density", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """A YAML mapping, kept in its order (first match wins) as hashable (pattern, d_l) pairs."""
        return tuple(value.items()) if isinstance(value, dict) else value

    @property
    def masked(self) -> bool:
        """Whether training keeps masks (and a run's costs come from them): every kind but a dense
        slimmable network (FLOAT / OAT slim)."""
        return self.kind != "slim" or self.density < 1.0

    @model_validator(mode="after")
    def _check(self) -> SparsityConfig:
        if 1.0 not in self.slim_factors or len(set(self.slim_factors)) != len(self.slim_factors):
            raise ValueError("slim_factors: list each factor once, 1.0 included (the full network)")
        if self.eval_slim_factor not in self.slim_factors:
            raise ValueError(
                f"eval_slim_factor: {self.eval_slim_factor} is not one of slim_factors {list(self.slim_factors)}"
            )
        if self.kind != "slim" and self.slim_factors != (1.0,):
            raise ValueError(f"slim_factors: only kind slim has slim factors (kind is {self.kind})")
        if self.kind == "slim" and len(self.slim_factors) < 2:
            raise ValueError("slim_factors: kind slim needs at least two factors, 1.0 and a smaller one")
        if self.channel_init != "channels" and self.kind != "channel":
            raise ValueError(f"channel_init: only kind channel has a channel start (kind is {self.kind})")
        if self.kind == "channel" and self.channel_init == "channels" and self.initial_mask != "exact":
            raise ValueError(
                "initial_mask: a FLOATS-c start of whole channels is exact; bernoulli needs channel_init: reference"
            )
        return self


class ModelConfig(Strict):
    """A network to cost (and train): family, method, data set and conditioning options."""

    name: str = ""
    description: str = ""
    arch: Literal["resnet20", "resnet34", "wrn16_8", "wrn40_2"]
    method: str = Field(description="a registered method: hwsim.methods.list_methods()")
    dataset: str | None = None
    input: InputShape | None = None
    num_classes: StrictInt | None = Field(None, ge=1, le=1 << 20)
    dual_bn: bool | None = Field(None, description="BN_C/BN_A pairs; default: the method's")
    film_dim: StrictInt = Field(1, ge=1, le=1 << 12, description="OAT lambda-encoding width d (FiLM input)")
    film_encoding: Literal["scalar", "interp", "rand", "onehot", "dct"] | None = Field(
        None,
        description="OAT's lambda encoding: None = scalar at film_dim 1, interp above (hwsim's); rand / onehot / dct "
        "= OAT.py:103-116 (row j of the matrix for the j-th training lambda; OAT's default: rand at dim 128)",
    )
    alpha_init: float = Field(0.25, allow_inf_nan=False, description="FLOAT initial noise scale alpha")
    float_variant: Literal["noise", "rm"] = Field(
        "noise",
        description="FLOAT's convs: 'noise' (Eq. 4 everywhere, the paper's) or 'rm' (FLOAT_v2's CIFAR-10 "
        "ResNet34OAT_rm: complementary random 50% weight masks instead of noise in the deeper stages)",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="WRN dropout")
    eval: EvalCondition = Field(default_factory=EvalCondition)
    spec: str | None = Field(None, description="hardware spec: a YAML path relative to this file, or a built-in name")
    sparsity: SparsityConfig | None = Field(None, description="FLOATS sparsity (methods that support it)")

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.dataset is not None and self.dataset not in DATASETS:
            raise ValueError(f"dataset: unknown {self.dataset!r}; known: {', '.join(DATASETS)}")
        if self.dataset is None and (self.input is None or self.num_classes is None):
            raise ValueError("give either dataset or both input and num_classes")
        rule = self.rule
        if self.float_variant != "noise" and not rule.noisy_convs:
            raise ValueError(f"float_variant: {rule.name} has no noisy convs (FLOAT / FLOATS only)")
        if self.film_encoding is not None and not rule.film:
            raise ValueError(f"film_encoding: {rule.name} has no FiLM (OAT only)")
        if self.film_encoding == "scalar" and self.film_dim != 1:
            raise ValueError(f"film_encoding: 'scalar' feeds lambda itself, so film_dim must be 1, not {self.film_dim}")
        if self.film_encoding == "interp" and self.film_dim == 1:
            raise ValueError("film_encoding: 'interp' needs film_dim > 1 (at 1 it is 'scalar')")
        if self.dual_bn and not rule.allows_dual_bn:
            raise ValueError(f"dual_bn: {rule.name} has a single BN path")
        if self.eval.lambda_n is not None and not rule.has_lambda_n:
            having = " / ".join(get_method(m).label for m in list_methods() if get_method(m).has_lambda_n)
            raise ValueError(f"eval.lambda_n: only {having} has lambda_n; use eval.lambda")
        if self.sparsity is None and rule.requires_sparsity:
            raise ValueError(f"sparsity: {rule.name} needs a sparsity block (kind, density)")
        if self.sparsity is not None and self.sparsity.kind not in rule.sparse_kinds:
            can = ", ".join(rule.sparse_kinds) or "none"
            raise ValueError(f"sparsity.kind: {rule.name} does not support {self.sparsity.kind!r} (supported: {can})")
        if self.sparsity is not None and self.sparsity.density < 1.0 and not rule.prunes:
            pruners = " / ".join(get_method(m).label for m in list_methods() if get_method(m).prunes)
            raise ValueError(
                f"sparsity.density: {rule.label} does not prune (density must be 1.0); pruning is {pruners}"
            )
        return self

    @property
    def input_shape(self) -> tuple[int, int, int]:
        if self.input is not None:
            return (self.input.channels, self.input.height, self.input.width)
        info = DATASETS[self.dataset]
        return (info.channels, info.image_size, info.image_size)

    @property
    def classes(self) -> int:
        return self.num_classes if self.num_classes is not None else DATASETS[self.dataset].num_classes

    @field_validator("method")
    @classmethod
    def _known_method(cls, name: str) -> str:
        get_method(name)  # raises "unknown method ...; known: ..."
        return name

    @property
    def rule(self) -> Method:
        """The registered method (what differs between PGD-AT, OAT, FLOAT, ...)."""
        return get_method(self.method)

    @property
    def uses_dual_bn(self) -> bool:
        return self.rule.dual_bn_default if self.dual_bn is None else self.dual_bn


M = TypeVar("M", bound=BaseModel)


ECHO_CHARS = 80  # an echoed value or key is cut to this many characters in an error line


def clip(value: Any, limit: int = ECHO_CHARS) -> str:
    """``repr`` of a value for an error line: one line, at most ``limit`` characters."""
    text = value if isinstance(value, str) and value.isprintable() and value else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(clip(part, 40) if isinstance(part, str) else str(part) for part in loc) or "(top level)"


def describe_validation_error(path: Path | str, err: ValidationError) -> str:
    """One line: ``file: field: problem (got value)`` for the first error (and a count of the rest).
    Keys, values and messages are clipped (a huge or multi-line value never floods the terminal)."""
    # an unknown key first: a typo (tau_raed_ns) also makes the real key "missing", and the typo is the news
    first = min(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    msg = clip(first["msg"].removeprefix("Value error, "), 200)
    field = _field_path(first["loc"])
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    got = first.get("input")
    shown = (
        "" if first["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {clip(repr(got))})"
    )
    more = len(err.errors()) - 1
    tail = f" [+{more} more problem{'s' if more > 1 else ''}]" if more else ""
    return f"{path}: {field}: {msg}{shown}{tail}"


def _check_nodes(root: yaml.Node | None, source: Path | str) -> None:
    """Refuse aliases (a node reached twice: a 1 KB "billion laughs" file expands to gigabytes),
    nesting deeper than :data:`MAX_YAML_DEPTH` and a key given twice in one mapping. Walks the
    composed node graph, never the expansion."""
    seen: set[int] = set()
    stack = [(root, 1)] if root is not None else []
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            raise HwsimError(f"{source}: YAML aliases (*name) are not supported in hwsim files; write the value out")
        seen.add(id(node))
        if depth > MAX_YAML_DEPTH:
            raise HwsimError(f"{source}: YAML nested deeper than {MAX_YAML_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            keys: set[tuple[str, str]] = set()
            for key, _ in node.value:  # a key given twice: PyYAML keeps the last one, silently
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if (key.tag, key.value) in keys:
                        raise HwsimError(
                            f"{source}: duplicate key {clip(key.value)!r} (line {key.start_mark.line + 1}); "
                            "give each key once"
                        )
                    keys.add((key.tag, key.value))
            stack += [(part, depth + 1) for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, depth + 1) for item in node.value]


def parse_yaml_text(text: str, source: Path | str) -> dict[str, Any]:
    """Safe-load a YAML mapping from text; a failure is one HwsimError line naming ``source``.

    Bounded: at most :data:`MAX_YAML_BYTES`, no aliases, at most :data:`MAX_YAML_DEPTH` levels."""
    if len(text) > MAX_YAML_BYTES:
        raise HwsimError(f"{source}: {len(text):,} characters; a hwsim YAML file may have at most {MAX_YAML_BYTES:,}")
    loader = _SAFE_LOADER(text)  # safe_load's loader, in C when libyaml is there
    try:
        node = loader.get_single_node()
        _check_nodes(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or ""
        if "maximum nesting depth" in problem:  # PyYAML >= 6.0.4 stops deep nesting in its parser
            raise HwsimError(f"{source}: YAML nested deeper than {MAX_YAML_DEPTH} levels") from None
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
        raise HwsimError(f"{source}: malformed YAML{where}: {clip(problem, 200)}") from None
    except RecursionError:
        raise HwsimError(f"{source}: YAML nested deeper than {MAX_YAML_DEPTH} levels") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise HwsimError(f"{source}: expected a mapping of keys to values at the top level")
    return data


def is_file(path: Path | str) -> bool:
    """``Path.is_file`` that says False (not a traceback) for names the OS cannot take (NUL bytes, too
    long). Every file hwsim's config readers read or look for is asked here first (the probe log)."""
    try:
        found = Path(path).is_file()
    except (OSError, ValueError):
        found = False
    if _probes is not None:
        _probes.append((str(path), found, file_signature(path) if found else None))
    return found


_probes: list[tuple[str, bool, tuple[int, int] | None]] | None = None


@contextlib.contextmanager
def recording_file_probes():
    """The files looked for inside the block, as a list of (path, found, (size, mtime_ns) when
    found): the model and spec files read, and the names found absent that would have been read
    instead (a spec file named like a built-in). What a replayed estimate (:mod:`hwsim.replay`) must
    find unchanged."""
    global _probes
    outer, _probes = _probes, []
    try:
        yield _probes
    finally:
        recorded, _probes = _probes, outer
        if outer is not None:
            outer.extend(recorded)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def read_yaml(path: Path | str) -> dict[str, Any]:
    """Safe-load a YAML mapping; every failure is one HwsimError line naming the file."""
    path = Path(path)
    if not is_file(path):
        raise HwsimError(f"{clip(str(path), 200)}: {'not a file' if _exists(path) else 'no such file'}")
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise HwsimError(f"{path}: {size:,} bytes; a hwsim YAML file may have at most {MAX_YAML_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HwsimError(f"{path}: cannot read: {clip(str(exc), 200)}") from None
    return parse_yaml_text(text, path)


def parse(model: type[M], data: dict[str, Any], source: Path | str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise HwsimError(describe_validation_error(source, err)) from None


def _builtin_dir():
    """hwsim/specs as an importlib.resources Traversable: found in a checkout, an editable or a
    wheel install alike (the files are package data, see pyproject.toml)."""
    return resources.files(BUILTIN_SPEC_PACKAGE) / "specs"


def builtin_spec_names() -> list[str]:
    """Names of the shipped specs (file stems of hwsim/specs/*.yaml), sorted."""
    return sorted(entry.name[: -len(".yaml")] for entry in _builtin_dir().iterdir() if entry.name.endswith(".yaml"))


def builtin_spec_text(name: str) -> str:
    """The YAML text of a shipped spec, comments included."""
    if name not in builtin_spec_names():
        raise HwsimError(f"{name}: not a built-in spec (built-in: {', '.join(builtin_spec_names())})")
    return (_builtin_dir() / f"{name}.yaml").read_text()


def load_spec(source: Path | str | None = None) -> HardwareSpec:
    """Load a hardware spec by path or built-in name; ``None`` gives the shipped 65 nm ASIC.

    An existing file wins; else a built-in name (``asic-65nm``); else one error line that lists the
    built-in names.
    """
    source = DEFAULT_SPEC if source is None else source
    path = Path(source)
    if is_file(path):
        data = read_yaml(path)
        data.setdefault("name", path.stem)
        return parse(HardwareSpec, data, path)
    names = builtin_spec_names()
    if str(source) not in names:
        raise HwsimError(
            f"{clip(str(source), 200)}: no such file, and not a built-in spec (built-in: {', '.join(names)})"
        )
    label = f"hwsim/specs/{source}.yaml"
    data = parse_yaml_text(builtin_spec_text(str(source)), label)
    data.setdefault("name", str(source))
    return parse(HardwareSpec, data, label)


def spec_file(source: Path | str | None) -> Path | None:
    """The file :func:`load_spec` reads for ``source`` (a spec file, or a built-in's package file), if any:
    what a command must never overwrite with its output."""
    source = DEFAULT_SPEC if source is None else source
    if is_file(source):
        return Path(source)
    if str(source) in builtin_spec_names():
        entry = _builtin_dir() / f"{source}.yaml"
        return Path(str(entry)) if is_file(str(entry)) else None
    return None


def load_model_config(path: Path | str) -> ModelConfig:
    path = Path(path)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    return parse(ModelConfig, data, path)


def resolve_spec_path(model_path: Path | str, config: ModelConfig) -> Path | str | None:
    """The spec a model file names: a file relative to that file if one is there, else the name as
    given (a built-in spec, or a missing file that :func:`load_spec` reports). None when it names none."""
    if config.spec is None:
        return None
    spec = Path(config.spec)
    path = spec if spec.is_absolute() else Path(model_path).parent / spec
    if is_file(path) or config.spec not in builtin_spec_names():
        return path
    return config.spec
