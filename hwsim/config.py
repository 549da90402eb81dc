"""Validated configuration files: hardware specs (built-in ``hwsim/specs/*.yaml`` or any path) and models (``models/*.yaml``).

Every boundary is a pydantic model that rejects unknown keys. :func:`load_spec` and
:func:`load_model_config` turn any problem (missing file, malformed YAML, unknown key, wrong type,
impossible value) into one :class:`~hwsim.errors.HwsimError` line that names the file and the field.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .datasets import DATASETS
from .errors import HwsimError
from .methods import Method, get_method, list_methods

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe_load's loader, in C if available

PositiveCount = Annotated[StrictInt, Field(gt=0)]
PositiveTime = Annotated[float, Field(gt=0, allow_inf_nan=False)]

BUILTIN_SPEC_PACKAGE = "hwsim"  # built-in specs ship as package data in hwsim/specs/*.yaml
DEFAULT_SPEC = "asic-65nm"  # a built-in name: works from a wheel install, not only from a checkout


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Timing(Strict):
    """Per-operation times of Eq. 7-9, nanoseconds."""

    tau_read_ns: PositiveTime = Field(description="time of one memory read (paper, 65 nm: 9 ns)")
    tau_mult_ns: PositiveTime = Field(description="time of one multiply (paper, 65 nm: 4 ns)")


class Memory(Strict):
    """The weight memory of Eq. 7-9's read term (and the bit width of the memory totals)."""

    io_bandwidth_bits: PositiveCount = Field(description="memory IO bandwidth B_IO per read, bits")
    weight_bits: PositiveCount = Field(description="bit-width B_W of each stored weight")
    n_banks: PositiveCount = Field(description="memory banks N_bank read in parallel")


class Compute(Strict):
    """The multiply array of Eq. 7-9's multiply term."""

    n_multipliers: PositiveCount = Field(description="parallel multiply units N_mult")


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

    def flat(self) -> dict[str, float | int]:
        """The six hardware values under their flat names (``hwsim specs``, sweeps, old callers)."""
        return {key: getattr(self, key) for key in FLAT_KEYS}


class InputShape(Strict):
    channels: PositiveCount = 3
    height: PositiveCount
    width: PositiveCount


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


class ModelConfig(Strict):
    """A network to cost (and train): family, method, data set and conditioning options."""

    name: str = ""
    description: str = ""
    arch: Literal["resnet20", "resnet34", "wrn16_8", "wrn40_2"]
    method: str = Field(description="a registered method: hwsim.methods.list_methods()")
    dataset: str | None = None
    input: InputShape | None = None
    num_classes: PositiveCount | None = None
    dual_bn: bool | None = Field(None, description="BN_C/BN_A pairs; default: the method's")
    film_dim: PositiveCount = Field(1, description="OAT lambda-encoding width d (FiLM input)")
    alpha_init: float = Field(0.25, description="FLOAT initial noise scale alpha")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="WRN dropout")
    eval: EvalCondition = Field(default_factory=EvalCondition)
    spec: str | None = Field(None, description="hardware spec: a YAML path relative to this file, or a built-in name")

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.dataset is not None and self.dataset not in DATASETS:
            raise ValueError(f"dataset: unknown {self.dataset!r}; known: {', '.join(DATASETS)}")
        if self.dataset is None and (self.input is None or self.num_classes is None):
            raise ValueError("give either dataset or both input and num_classes")
        rule = self.rule
        if self.dual_bn and not rule.allows_dual_bn:
            raise ValueError(f"dual_bn: {rule.name} has a single BN path")
        if self.eval.lambda_n is not None and not rule.has_lambda_n:
            having = " / ".join(get_method(m).label for m in list_methods() if get_method(m).has_lambda_n)
            raise ValueError(f"eval.lambda_n: only {having} has lambda_n; use eval.lambda")
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


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def describe_validation_error(path: Path | str, err: ValidationError) -> str:
    """One line: ``file: field: problem (got value)`` for the first error (and a count of the rest)."""
    # an unknown key first: a typo (tau_raed_ns) also makes the real key "missing", and the typo is the news
    first = min(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    msg = first["msg"].removeprefix("Value error, ")
    field = _field_path(first["loc"])
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    got = first.get("input")
    shown = "" if first["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {got!r})"
    more = len(err.errors()) - 1
    tail = f" [+{more} more problem{'s' if more > 1 else ''}]" if more else ""
    return f"{path}: {field}: {msg}{shown}{tail}"


def parse_yaml_text(text: str, source: Path | str) -> dict[str, Any]:
    """Safe-load a YAML mapping from text; a failure is one HwsimError line naming ``source``."""
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # safe_load's loader, in C when libyaml is there
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HwsimError(f"{source}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise HwsimError(f"{source}: expected a mapping of keys to values at the top level")
    return data


def read_yaml(path: Path | str) -> dict[str, Any]:
    """Safe-load a YAML mapping; every failure is one HwsimError line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise HwsimError(f"{path}: no such file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise HwsimError(f"{path}: cannot read: {exc}") from None
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
    if path.is_file():
        data = read_yaml(path)
        data.setdefault("name", path.stem)
        return parse(HardwareSpec, data, path)
    names = builtin_spec_names()
    if str(source) not in names:
        raise HwsimError(f"{source}: no such file, and not a built-in spec (built-in: {', '.join(names)})")
    label = f"hwsim/specs/{source}.yaml"
    data = parse_yaml_text(builtin_spec_text(str(source)), label)
    data.setdefault("name", str(source))
    return parse(HardwareSpec, data, label)


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
    if path.is_file() or config.spec not in builtin_spec_names():
        return path
    return config.spec
