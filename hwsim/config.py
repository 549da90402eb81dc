"""Validated configuration files: hardware specs (``specs/*.yaml``) and models (``models/*.yaml``).

Every boundary is a pydantic model that rejects unknown keys. :func:`load_spec` and
:func:`load_model_config` turn any problem (missing file, malformed YAML, unknown key, wrong type,
impossible value) into one :class:`~hwsim.errors.HwsimError` line that names the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from .datasets import DATASETS
from .errors import HwsimError
from .methods import Method, get_method, list_methods

PositiveCount = Annotated[StrictInt, Field(gt=0)]
PositiveTime = Annotated[float, Field(gt=0, allow_inf_nan=False)]

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = PACKAGE_ROOT / "specs" / "asic-65nm.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HardwareSpec(Strict):
    """A Von-Neumann ASIC for the delay model of paper Eq. 7-9 (Ali et al. 2020; Kang et al. 2018).

    Units are in the field names: nanoseconds, bits, and plain counts.
    """

    name: str = "custom"
    description: str = ""
    tau_read_ns: PositiveTime = Field(description="time of one memory read (65 nm: 9 ns)")
    tau_mult_ns: PositiveTime = Field(description="time of one multiply (65 nm: 4 ns)")
    io_bandwidth_bits: PositiveCount = Field(description="memory IO bandwidth B_IO per read, bits")
    weight_bits: PositiveCount = Field(description="bit-width B_W of each stored weight")
    n_banks: PositiveCount = Field(description="memory banks N_bank read in parallel")
    n_multipliers: PositiveCount = Field(description="parallel multiply units N_mult")

    @property
    def weights_per_read(self) -> float:
        """(B_IO / B_W) * N_bank: weights fetched per read cycle (denominator of Eq. 7's read term)."""
        return self.io_bandwidth_bits / self.weight_bits * self.n_banks


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
    spec: str | None = Field(None, description="hardware spec YAML, relative to this file")

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
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
    first = err.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    field = _field_path(first["loc"])
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    got = first.get("input")
    shown = "" if first["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) else f" (got {got!r})"
    more = len(err.errors()) - 1
    tail = f" [+{more} more problem{'s' if more > 1 else ''}]" if more else ""
    return f"{path}: {field}: {msg}{shown}{tail}"


def read_yaml(path: Path | str) -> dict[str, Any]:
    """Safe-load a YAML mapping; every failure is one HwsimError line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise HwsimError(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HwsimError(f"{path}: malformed YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HwsimError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise HwsimError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def parse(model: type[M], data: dict[str, Any], source: Path | str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise HwsimError(describe_validation_error(source, err)) from None


def load_spec(path: Path | str | None = None) -> HardwareSpec:
    """Load a hardware spec; ``None`` gives the shipped 65 nm ASIC."""
    path = Path(path) if path is not None else DEFAULT_SPEC
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    return parse(HardwareSpec, data, path)


def load_model_config(path: Path | str) -> ModelConfig:
    path = Path(path)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    return parse(ModelConfig, data, path)


def resolve_spec_path(model_path: Path | str, config: ModelConfig) -> Path | None:
    """The spec a model file names, relative to that file (None when it names none)."""
    if config.spec is None:
        return None
    spec = Path(config.spec)
    return spec if spec.is_absolute() else Path(model_path).parent / spec
