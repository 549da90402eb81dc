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
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field, StrictInt, ValidationError

from . import __version__
from .config import ModelConfig, Strict, describe_validation_error
from .errors import HwsimError

RUN_FILE = "run.json"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"


class TrainSettings(Strict):
    """Training hyper-parameters (paper section 4.1 and the OAT reference settings)."""

    epochs: StrictInt = Field(200, gt=0)
    batch_size: StrictInt = Field(128, gt=1, description="per process; the global batch is batch_size x world_size")
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    eps: float = Field(8 / 255, gt=0, le=1, description="L_inf budget of the training attack")
    attack_steps: StrictInt = Field(7, gt=0, description="PGD-k steps during training")
    pgdat_lambda: float = Field(0.5, ge=0, le=1, description="PGD-AT's fixed lambda in Eq. 3")
    oat_lambdas: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 1.0])
    seed: StrictInt = 0
    data_dir: str | None = None
    image_size: StrictInt | None = Field(None, gt=0)
    augment: bool | None = Field(None, description="crop + flip; default per data set")
    limit_train: StrictInt | None = Field(None, gt=0)
    limit_test: StrictInt | None = Field(None, gt=0)
    val_split: StrictInt = Field(
        0,
        ge=0,
        description="hold out the last N training images for per-epoch CA/RA and best-checkpoint selection; 0: the first eval_limit test images",
    )
    eval_limit: StrictInt = Field(512, gt=0, description="held-out images for the per-epoch CA/RA")
    eval_lambdas: list[float] = Field(
        default_factory=lambda: [0.0, 0.2, 0.7, 1.0],
        description="lambdas (FLOAT: lambda_n) checked each epoch; a best checkpoint is kept for each",
    )
    eval_lambda_th: float = Field(0.0, ge=0, lt=1, description="FLOAT's lambda_th for the per-epoch check (Eq. 6)")
    eval_every: StrictInt = Field(1, gt=0, description="check CA/RA every N epochs (and always after the last)")
    device: str = "cpu"
    amp: bool = Field(False, description="CUDA mixed precision (bf16 where supported, else fp16 with loss scaling)")
    channels_last: bool = False
    workers: StrictInt = Field(0, ge=0, description="DataLoader worker processes")
    world_size: StrictInt = Field(1, gt=0, description="DDP processes (set by torchrun)")
    preset: Literal["paper"] | None = None


class RunConfig(Strict):
    """Everything a run needs; stored in every checkpoint and result."""

    name: str
    model: ModelConfig
    train: TrainSettings = Field(default_factory=TrainSettings)
    hwsim_version: str = __version__


class AccuracyPoint(BaseModel):
    lam: float
    lambda_th: float
    attack: str
    clean_acc: float
    robust_acc: float
    images: int
    #: which weights: the last epoch's, or the epoch with the best held-out RA at this lambda
    checkpoint: Literal["last", "best"] = "last"
    #: the training epoch of those weights (None in results written before hwsim recorded it)
    epoch: int | None = None


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

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([p.model_dump() for p in self.points])
        frame.insert(0, "run", self.run)
        frame.insert(1, "method", self.config["model"]["method"])
        return frame


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
    "parse_run_config", "read_run_file", "read_results",
]  # fmt: skip
