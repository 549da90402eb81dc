"""The run files: what the runner writes into a run directory and the report reads back.

Data flows one way: :mod:`hwsim.runner` trains and evaluates (torch) and writes ``run.json`` and
``results.json``; :mod:`hwsim.report` reads them (no torch). Both import the schemas from here, so
this module must stay free of torch and of both packages.

* ``run.json`` (:func:`read_run_file`): ``status``, ``config`` (a :class:`RunConfig`) and
  ``history``, one entry per finished epoch (loss, lr, ``epoch_time_s``, held-out CA / RA);
* ``results.json`` (:func:`read_results`, an :class:`EvalResults`): CA and RA per checkpoint,
  lambda, lambda_th and attack, with the run config the evaluated checkpoint was trained with.

Every problem is one :class:`~hwsim.errors.HwsimError` line naming the file and, for invalid
content, pydantic's field path (``results.json: points.0.clean_acc: ...``).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, ValidationError, field_validator, model_validator

from . import __version__
from .config import ModelConfig, Strict, builtin_spec_names, describe_validation_error
from .errors import HwsimError
from .methods import get_method

RUN_FILE = "run.json"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"


# Bounds checked where options enter (the CLI and the library entry points), so that a bad value is
# one line naming the option, never a NaN run or a traceback deep inside torch.
#: Every float option is finite: inf / nan would train or evaluate to NaN and exit 0.
Finite = Annotated[float, Field(allow_inf_nan=False)]
#: A point on the accuracy-robustness knob.
Lambda = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
#: Seeds feed torch.manual_seed (seed x 100003 + epoch, see hwsim.runner.train.rank_seed) and
#: numpy's random_state (the digits split), which takes 0 <= seed < 2**32.
Seed = Annotated[int, Field(strict=True, ge=0, lt=2**32)]
#: Larger images or class counts than any supported data set, by far; beyond them a model would not
#: fit in memory, and the allocation would fail deep inside torch.
MAX_IMAGE_SIZE = 1024
MAX_BATCH_SIZE = 1 << 20
DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def check_device(value: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``; anything else is refused before any data is read."""
    if not DEVICE.fullmatch(value):
        raise ValueError("use cpu, cuda or cuda:N")
    return value


#: Which condition the evaluation attack (and the forward scoring its images) runs at, for a method with
#: noisy weights (FLOAT, FLOATS): "evaluated" (hwsim's default: the evaluated lambda_n's own condition, a
#: white-box attack on the model that is scored) or "float_v2" (the authors' validation,
#: FLOAT_v2 OAT_sparse.py:343-367 with attacks/pgd.py:64): the attack's forwards run at lambda 1 with
#: noise on and the evaluated lambda's BN, and the adversarial images are scored at lambda 1 with the
#: evaluated lambda's noise switch and BN; see :func:`hwsim.runner.train.eval_attack_phases`.
AttackCondition = Literal["evaluated", "float_v2"]


class TrainSettings(Strict):
    """Training hyper-parameters (paper section 4.1 and the OAT reference settings)."""

    epochs: StrictInt = Field(200, gt=0)
    batch_size: StrictInt = Field(
        128, gt=1, le=MAX_BATCH_SIZE, description="per process; the global batch is batch_size x world_size"
    )
    lr: Finite = Field(0.1, gt=0)
    momentum: Finite = Field(0.9, ge=0, lt=1)
    weight_decay: Finite = Field(5e-4, ge=0)
    alpha_weight_decay: bool = Field(
        False,
        description="also decay FLOAT's noise scales alpha (FLOAT_v2 OAT_sparse.py:170: SGD over all parameters); "
        "default: alphas in a weight-decay-0 group",
    )
    eps: Finite = Field(8 / 255, gt=0, le=1, description="L_inf budget of the training attack")
    attack_steps: StrictInt = Field(7, gt=0, description="PGD-k steps during training")
    pgdat_lambda: Lambda = Field(0.5, description="PGD-AT's fixed lambda in Eq. 3")
    oat_lambdas: list[Lambda] = Field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 1.0], min_length=1)
    seed: Seed = 0
    data_dir: str | None = None
    image_size: StrictInt | None = Field(None, gt=0, le=MAX_IMAGE_SIZE)
    augment: bool | None = Field(None, description="crop + flip; default per data set")
    limit_train: StrictInt | None = Field(None, gt=0)
    limit_test: StrictInt | None = Field(None, gt=0)
    val_split: StrictInt = Field(
        0,
        ge=0,
        description="hold out the last N training images for per-epoch CA/RA and best-checkpoint selection; 0: the first eval_limit test images",
    )
    eval_limit: StrictInt = Field(512, gt=0, description="held-out images for the per-epoch CA/RA")
    eval_lambdas: list[Lambda] = Field(
        default_factory=lambda: [0.0, 0.2, 0.7, 1.0],
        min_length=1,
        description="lambdas (FLOAT: lambda_n) checked each epoch; a best checkpoint is kept for each",
    )
    eval_lambda_th: Finite = Field(0.0, ge=0, lt=1, description="FLOAT's lambda_th for the per-epoch check (Eq. 6)")
    eval_every: StrictInt = Field(1, gt=0, description="check CA/RA every N epochs (and always after the last)")
    eval_attack_condition: AttackCondition = Field(
        "evaluated",
        description="the condition the per-epoch PGD-7 attack runs at: 'evaluated' (the evaluated lambda_n) or "
        "'float_v2' (FLOAT / FLOATS only: FLOAT_v2's validation, noise at lambda 1 with the evaluated BN)",
    )
    device: str = "cpu"
    amp: bool = Field(False, description="CUDA mixed precision (bf16 where supported, else fp16 with loss scaling)")
    channels_last: bool = False
    workers: StrictInt = Field(0, ge=0, description="DataLoader worker processes")
    world_size: StrictInt = Field(1, gt=0, description="DDP processes (set by torchrun)")
    preset: Literal["paper"] | None = None
    float_loss: Literal["reference", "algorithm1"] = Field(
        "reference",
        description="FLOAT's loss: 'reference' (FLOAT_v2 OAT_sparse.py: a clean pass over the whole batch, rows "
        "[0, B/2) through BN_C, mean(0.5 CE_clean + 0.5 CE_adv) with CE_adv = 0 on the first half) or 'algorithm1' "
        "(the paper's Algorithm 1: 0.5 L_C of the first half through BN_C + 0.5 L_A of the second half)",
    )
    select: Literal["weighted", "ra", "ca"] = Field(
        "weighted",
        description="best checkpoint per lambda: 'weighted' (1 - lambda) CA + lambda RA, 'ra' OAT.py's best_ATA, "
        "'ca' its best_TA; under 'weighted' an epoch at chance is never kept over one that learned",
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)


class RunConfig(Strict):
    """Everything a run needs; stored in every checkpoint and result."""

    name: str
    model: ModelConfig
    train: TrainSettings = Field(default_factory=TrainSettings)
    hwsim_version: str = __version__


# ---------------------------------------------------------------------------------------------
# checks at the boundary: options, run names, what a training run can be built from


def option_error(err: ValidationError, renamed: dict[str, str] | None = None) -> str:
    """A pydantic error of command-line settings as one line about the option: the field name
    becomes the option (``limit_test`` -> ``--limit-test``), pydantic's message stays as it is."""
    field, _, problem = describe_validation_error("options", err).removeprefix("options: ").partition(": ")
    name, dot, rest = field.partition(".")  # a list item: --eval-lambdas.0
    name = (renamed or {}).get(name, name)
    return f"--{name.replace('_', '-')}{dot}{rest}: {problem}"


def validate_options(model: type[Strict], values: dict[str, Any], renamed: dict[str, str] | None = None):
    """``model(**values)``; the first invalid value is one HwsimError line naming its option."""
    try:
        return model(**values)
    except ValidationError as err:
        raise HwsimError(option_error(err, renamed)) from None


#: A run name is one folder name under the runs folder, never a path (no separators, no leading dot, no
#: ``..``), short enough for every file system (NAME_MAX is 255 bytes on Linux and macOS).
RUN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")


def check_run_name(name: str, what: str = "run name") -> str:
    """``name`` if it is a valid run name; else one HwsimError line naming where it came from."""
    if not RUN_NAME.fullmatch(name) or ".." in name:
        shown = name if len(name) <= 60 else f"{name[:40]}... ({len(name)} characters)"
        raise HwsimError(
            f"{what}: {shown!r} is not a run name; use 1 to 200 letters, digits, '.', '_' or '-' "
            "(not starting with '.', no '..'): the run is written to OUT_DIR/NAME"
        )
    return name


def check_trainable(model: ModelConfig, source: Path | str) -> None:
    """What training needs of a model file beyond what costing needs (the config already bounds
    sizes and keeps alpha_init finite): a data set whose images and classes fit the network, and
    images small enough to train on. One line naming ``source`` and the field."""
    from .datasets import DATASETS

    if model.dataset is None:
        raise HwsimError(f"{source}: dataset: training needs a data set in the model file")
    info = DATASETS[model.dataset]
    if model.classes != info.num_classes:
        raise HwsimError(
            f"{source}: num_classes: {model.classes} does not match data set {info.name} ({info.num_classes} classes)"
        )
    channels, height, width = model.input_shape
    if channels != info.channels:
        raise HwsimError(
            f"{source}: input.channels: {channels} does not match data set {info.name} ({info.channels}-channel images)"
        )
    if max(height, width) > MAX_IMAGE_SIZE:
        raise HwsimError(
            f"{source}: input: {height} x {width} images are too large to train on (at most {MAX_IMAGE_SIZE} px a side)"
        )


# ---------------------------------------------------------------------------------------------
# run status: a run that says "running" but whose process is gone was interrupted


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux /proc), which tells a reused pid from the original."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner() -> dict[str, Any]:
    """Who is training: recorded in run.json while the status is "running"."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "pid_start": _process_start(pid)}


def _alive(pid: Any, pid_start: Any) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        pass
    except OSError:
        return False
    return pid_start is None or _process_start(pid) in (None, pid_start)


def run_status(data: dict[str, Any]) -> str:
    """The status in ``run.json``, with a stale "running" (its process is gone: kill -9, a crash, a
    reboot) read as "interrupted". A run training on another host is taken at its word."""
    status = data.get("status")
    if not isinstance(status, str):
        return "unknown"
    if status != "running":
        return status
    trainer = data.get("trainer")
    if not isinstance(trainer, dict):
        return "interrupted"  # written before hwsim recorded the process, or damaged
    if trainer.get("host") != socket.gethostname():
        return "running"
    return "running" if _alive(trainer.get("pid"), trainer.get("pid_start")) else "interrupted"


def finished_epochs(data: dict[str, Any]) -> int:
    history = data.get("history")
    return len(history) if isinstance(history, list) else 0


class AccuracyPoint(BaseModel):
    lam: Lambda
    #: None where the method has no lambda_n (PGD-AT, OAT): Eq. 6's threshold does not apply
    lambda_th: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] | None
    attack: str
    clean_acc: Finite = Field(ge=0, le=100)
    robust_acc: Finite = Field(ge=0, le=100)
    images: int = Field(ge=0)
    #: which weights: the last epoch's, or the epoch with the best held-out RA at this lambda
    checkpoint: Literal["last", "best"] = "last"
    #: the training epoch of those weights (None in results written before hwsim recorded it)
    epoch: int | None = None
    #: the slimming factor SF the network ran at (slimmable models; 1.0 = full width, and every
    #: point of a model that is not slimmable)
    slim_factor: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    #: the condition the attack ran at (:data:`AttackCondition`; "evaluated" in results written before
    #: hwsim had the choice)
    attack_condition: AttackCondition = "evaluated"


class EvalResults(BaseModel):
    hwsim_version: str
    run: str
    checkpoint: str
    epoch: int
    #: the run config as stored (a dict, validated on use by :func:`parse_run_config`, so results
    #: written before a setting existed still load and get its default)
    config: dict
    seed: int
    eps: float
    points: list[AccuracyPoint]

    @model_validator(mode="after")
    def _no_threshold_without_lambda_n(self) -> EvalResults:
        """lambda_th (Eq. 6) belongs to lambda_n: for a method without it (PGD-AT, OAT) the points
        carry None, also in results written before hwsim said so (their 0 / 0.5 meant nothing; the
        points they duplicate are the same model at the same lambda, the later one kept)."""
        model = self.config.get("model") if isinstance(self.config, dict) else None
        method = model.get("method") if isinstance(model, dict) else None  # a tampered config: validated on use
        try:
            has_lambda_n = get_method(method).has_lambda_n if isinstance(method, str) else True
        except Exception:  # an unknown method is reported where the config is validated
            has_lambda_n = True
        if has_lambda_n or all(p.lambda_th is None for p in self.points):
            return self
        kept = {(p.checkpoint, p.lam, p.attack): p.model_copy(update={"lambda_th": None}) for p in self.points}
        object.__setattr__(self, "points", list(kept.values()))
        return self

    def frame(self):
        """The points as a pandas DataFrame (pandas imported here: reading run files needs none)."""
        import pandas as pd

        frame = pd.DataFrame([p.model_dump() for p in self.points])
        if "attack_condition" in frame and (frame["attack_condition"] == "evaluated").all():
            frame = frame.drop(columns="attack_condition")  # the tables of today's evaluations stay as they were
        frame.insert(0, "run", self.run)
        frame.insert(1, "method", self.config["model"]["method"])
        return frame


# ---------------------------------------------------------------------------------------------
# best checkpoints: the selection rule, and the test for an epoch that has not learned


#: The rule of runs stored before ``select`` existed: OAT.py's best_ATA (highest held-out RA).
LEGACY_SELECT = "ra"


def chance_ceiling(num_classes: int, images: int) -> float:
    """The highest clean accuracy (%) still read as chance: 100 / K plus three binomial standard
    deviations of a guess on ``images`` images (15.2% for 10 classes on 300 images). A network that
    predicts one class everywhere scores about 100 / K, clean and robust alike. hwsim's choice."""
    p = 1.0 / num_classes
    return 100.0 * (p + 3.0 * math.sqrt(p * (1 - p) / max(images, 1)))


def at_chance(clean_acc: float, num_classes: int, images: int) -> bool:
    """Whether a clean accuracy is no better than guessing (:func:`chance_ceiling`)."""
    return clean_acc <= chance_ceiling(num_classes, images)


def selection_key(point: dict[str, Any], rule: str, num_classes: int, images: int) -> tuple[bool, float]:
    """How good an epoch's held-out point is under ``rule`` (:attr:`TrainSettings.select`), as a
    (learned, score) tuple to compare.

    'weighted' (hwsim's default): (1 - lambda) CA + lambda RA, and an epoch at chance never beats one
    that learned, whatever its RA (a network stuck on one class has RA = CA = 100 / K, above a trained
    network's low RA at a large eps). 'ra' and 'ca' are OAT.py's rules exactly, RA (best_ATA,
    OAT.py:309-311) and CA (best_TA, :306-308), with no such guard: the report flags what they keep."""
    ca, ra, lam = float(point["clean_acc"]), float(point["robust_acc"]), float(point["lam"])
    if rule == "weighted":
        return (not at_chance(ca, num_classes, images), (1 - lam) * ca + lam * ra)
    return (True, {"ra": ra, "ca": ca}[rule])


def _validation_line(source: Path | str, err: ValidationError, under: str) -> str:
    """:func:`~hwsim.config.describe_validation_error` with the field path continued from the key
    ``under`` which the validated mapping sits at in ``source`` (``config.train.epochs``)."""
    text = describe_validation_error(source, err)
    head = f"{source}: "
    rest = text[len(head) :]
    top = "(top level): "
    return head + (f"{under}: {rest[len(top) :]}" if rest.startswith(top) else f"{under}.{rest}")


def parse_run_config(data: Any, source: Path | str) -> RunConfig:
    """The validated run config stored under ``config`` in ``source`` (a run, results or checkpoint
    file): defaults filled in, so runs recorded before a setting existed compare equal to runs at its
    default. An invalid one is one line naming the file and the field (``config.model.arch``)."""
    train = data.get("train") if isinstance(data, dict) else None
    if isinstance(train, dict) and "select" not in train:  # stored before the rule existed: best-RA
        data = {**data, "train": {**train, "select": LEGACY_SELECT}}
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise HwsimError(_validation_line(source, err, "config")) from None


def _read_json(path: Path, what: str) -> Any:
    """A JSON file's content; unreadable or not JSON is one line naming the file."""
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HwsimError(f"{path}: corrupt {what} ({exc})") from None
    except OSError as exc:
        raise HwsimError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_run_file(run_dir: Path | str) -> dict[str, Any]:
    """``run.json`` as written (status, config, history); not validated beyond being a JSON mapping."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise HwsimError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    data = _read_json(path, "run file")
    if not isinstance(data, dict):
        raise HwsimError(f"{path}: corrupt run file (expected a JSON mapping at the top level)")
    return data


def read_results(run_dir: Path | str) -> EvalResults:
    """``results.json`` of a run, validated; missing or invalid is one line naming the file (and field)."""
    path = Path(run_dir) / RESULTS_JSON
    if not path.is_file():
        raise HwsimError(f"{run_dir}: no {RESULTS_JSON}; run 'hwsim evaluate {run_dir}' first")
    data = _read_json(path, "results file")
    try:  # parsed first, so that an error quotes the offending value, never the whole file
        return EvalResults.model_validate(data)
    except ValidationError as err:
        raise HwsimError(describe_validation_error(path, err)) from None


__all__ = [
    "RUN_FILE", "RESULTS_JSON", "RESULTS_CSV", "TrainSettings", "RunConfig", "AccuracyPoint", "EvalResults",
    "parse_run_config", "read_run_file", "read_results", "option_error", "validate_options", "check_run_name",
    "check_trainable", "check_device", "owner", "run_status", "finished_epochs",
]  # fmt: skip


# Where a relative ``spec`` in a run's stored model config is looked for (see :func:`run_spec_path`).
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # a source checkout's models/


def run_spec_path(run: str, run_dir: Path, config: ModelConfig) -> Path | str | None:
    """The spec a run's model names: a file, or a built-in spec's name (None when it names none).

    A model file's ``spec`` is relative to that file, but a run stores the model config, not where
    the file was. So a relative path is looked for in the run directory, then the current
    directory, then hwsim's ``models/`` folder (where the shipped model files, and so their
    ``../specs/...``, live); the first that exists wins, else a built-in spec of that name. None
    existing is one line naming the run, the path and the places looked in."""
    if config.spec is None:
        return None
    stored = Path(config.spec)
    if stored.is_absolute():
        places = {"": stored}
    else:
        places = {
            "the run directory": run_dir / stored,
            "the current directory": Path.cwd() / stored,
            f"{MODELS_DIR}": MODELS_DIR / stored,
        }
    for path in places.values():
        if path.is_file():
            return path
    if config.spec in builtin_spec_names():
        return config.spec
    where = f" in {', '.join(places)}" if len(places) > 1 else ""
    raise HwsimError(f"run {run} ({run_dir}): its model's spec {config.spec!r} is not found{where}; pass --spec")
