"""Evaluation: clean accuracy (CA) and robust accuracy (RA) per lambda and attack.

For each lambda the network is conditioned first (FLOAT: lambda_n with Eq. 6 and lambda_th; OAT:
lambda; PGD-AT: its single point) and put in eval mode; the attack then sees exactly that model,
since noise and BN choice depend only on the condition, never on train/eval mode.

A slimmable run (FLOAT / OAT / FLOATS slim) is evaluated at every width of its ``slim_factors``
(or the ones asked for), each point recording its ``slim_factor``; with ``--checkpoint best`` every
width uses the epoch chosen by the held-out RA at the run's ``eval_slim_factor``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StrictInt, field_validator

from .. import __version__
from ..config import Strict
from ..errors import HwsimError, HwsimWarning
from ..io import atomic_write_text

# The results schema and reader live in the torch-free hwsim.runfiles; re-exported from here.
from ..runfiles import (
    MAX_BATCH_SIZE,
    RESULTS_CSV,
    RESULTS_JSON,
    RUN_FILE,
    AccuracyPoint,
    AttackCondition,
    EvalResults,
    Finite,
    Lambda,
    Seed,
    check_device,
    finished_epochs,
    read_results,
    read_run_file,
    run_status,
    validate_options,
)
from .attacks import ATTACKS, robust_accuracy
from .train import (
    check_attack_condition,
    check_cuda,
    eval_attack_phases,
    load_best,
    load_checkpoint,
    network_from_checkpoint,
)

DEFAULT_LAMBDAS = (0.0, 0.2, 0.7, 1.0)  # the paper's S_lambda_n
#: An evaluation expected to take longer than this gets a time estimate on stderr before it goes on.
ESTIMATE_AFTER_S = 60.0


class EvalOptions(Strict):
    """The options of ``hwsim evaluate`` (and :func:`evaluate_checkpoint`), checked before any work:
    a bad value is one line naming the option."""

    lambdas: list[Lambda] = Field(min_length=1)
    lambda_th: Finite = Field(0.0, ge=0, lt=1)
    attacks: list[str] = Field(min_length=1)
    data_dir: str | None = None
    limit: StrictInt | None = Field(None, ge=1, description="the first N test images; at least 1")
    batch_size: StrictInt = Field(256, ge=1, le=MAX_BATCH_SIZE)
    seed: Seed = 0
    eps: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    device: str = "cpu"
    checkpoint: Literal["last", "best"] = "last"
    slim_factors: list[Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]] | None = Field(None, min_length=1)
    attack_condition: AttackCondition = "evaluated"

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, names: list[str]) -> list[str]:
        unknown = [a for a in names if a not in ATTACKS]
        if unknown:
            raise ValueError(f"unknown attack {unknown[0]!r}; known: {', '.join(ATTACKS)}")
        return names

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        return check_device(value)


def evaluate_checkpoint(
    checkpoint: Path | str,
    *,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    lambda_th: float = 0.0,
    attacks: Sequence[str] = ("pgd7",),
    data_dir: str | None = None,
    limit: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    eps: float | None = None,
    device: str = "cpu",
    progress: bool = True,
    write: bool = True,
    checkpoint_kind: str = "last",
    slim_factors: Sequence[float] | None = None,
    attack_condition: str = "evaluated",
) -> EvalResults:
    """CA and RA of a trained run for every lambda and attack; written to the run directory.

    ``checkpoint_kind`` "last" evaluates the last epoch's weights at every lambda; "best" evaluates,
    at each lambda, the weights of the best held-out epoch at that lambda under the run's ``select``
    rule (the paper reports best CA / RA; OAT.py keeps best_ATA / best_TA per lambda).

    ``slim_factors``: the widths of a slimmable run to evaluate (default: all of its slim factors);
    a run that is not slimmable has only 1.0.

    ``attack_condition``: "evaluated" attacks the model at the evaluated lambda; "float_v2" (FLOAT /
    FLOATS) runs the attack and scores its images as FLOAT_v2's validation does
    (:func:`hwsim.runner.train.eval_attack_phases`); each point records it.
    """
    from .data import load_dataset

    opts = validate_options(
        EvalOptions,
        dict(lambdas=list(lambdas), lambda_th=lambda_th, attacks=list(attacks), data_dir=data_dir, limit=limit,
             batch_size=batch_size, seed=seed, eps=eps, device=device, checkpoint=checkpoint_kind,
             slim_factors=None if slim_factors is None else list(slim_factors), attack_condition=attack_condition),
    )  # fmt: skip
    lambdas, lambda_th, attacks, limit, batch_size = (
        opts.lambdas,
        opts.lambda_th,
        opts.attacks,
        opts.limit,
        opts.batch_size,
    )
    check_cuda(device)
    payload = load_checkpoint(checkpoint)
    net, run = network_from_checkpoint(payload, device)
    check_attack_condition(run.model.rule, opts.attack_condition, "--attack-condition")
    run_dir = Path(payload["path"]).parent
    _say_status(run_dir, int(payload["epoch"]))
    s = run.train
    eps = s.eps if eps is None else eps
    test = load_dataset(
        run.model.dataset,
        "test",
        data_dir or s.data_dir,
        image_size=s.image_size or run.model.input_shape[1],
        seed=s.seed,
        limit=limit or s.limit_test,
    )
    x, y = test.tensors
    batches = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    points_lambda = run.model.rule.eval_lambdas(lambdas, s.pgdat_lambda)
    weights = {lam: (int(payload["epoch"]), None) for lam in points_lambda}
    if checkpoint_kind == "best":
        weights = {lam: _best_weights(run_dir, payload, run, lam, lambda_th) for lam in points_lambda}
    widths = _widths(net, opts.slim_factors, run_dir)
    net.eval()
    points = []
    recorded_th = lambda_th if run.model.rule.has_lambda_n else None  # Eq. 6's threshold: FLOAT's lambda_n only
    clock = _Estimate(len(x), len(points_lambda) * len(widths), attacks, len(batches), progress)
    for lam in points_lambda:
        epoch, state = weights[lam]
        if state is not None:
            net.load_state_dict(state)
        net.set_condition(lam, lambda_th)
        phases = eval_attack_phases(net, opts.attack_condition)
        for sf in widths:
            if net.slimmable:
                net.set_slim(sf)
            for attack in attacks:
                ca, ra = robust_accuracy(
                    net, clock.timed(attack, batches), attack, eps=eps, seed=seed, device=device, progress=progress,
                    phases=phases,
                )  # fmt: skip
                points.append(AccuracyPoint(lam=lam, lambda_th=recorded_th, attack=attack, clean_acc=ca, robust_acc=ra,
                                            images=len(x), checkpoint=checkpoint_kind, epoch=epoch, slim_factor=sf,
                                            attack_condition=opts.attack_condition))  # fmt: skip
    if net.slimmable:
        net.set_slim(1.0)
    results = EvalResults(
        hwsim_version=__version__,
        run=run.name,
        checkpoint=str(payload["path"]),
        epoch=int(payload["epoch"]),
        config=run.model_dump(mode="json", by_alias=True),
        seed=seed,
        eps=eps,
        points=points,
    )
    if write:
        write_results(Path(payload["path"]).parent, results)
    return results


def _widths(net, requested: list[float] | None, run_dir: Path) -> list[float]:
    """The slimming factors to evaluate, largest first: the requested ones (each one of the network's),
    or all of them; a network that is not slimmable has only 1.0."""
    factors = list(net.slim_factors)
    if requested is None:
        return factors
    unknown = [f for f in requested if f not in factors]
    if unknown:
        what = (
            f"its slim factors are {', '.join(f'{f:g}' for f in factors)}" if net.slimmable else "it is not slimmable"
        )
        raise HwsimError(f"--slim-factor {unknown[0]:g}: run {run_dir.name} has no such width ({what})")
    return sorted(set(requested), reverse=True)


def _say_status(run_dir: Path, epoch: int) -> None:
    """One warning line when the run did not finish cleanly: its last checkpoint is what is evaluated."""
    if not (run_dir / RUN_FILE).exists():
        return
    data = read_run_file(run_dir)
    status = run_status(data)
    where = f"run {run_dir.name}"
    if status == "interrupted":
        warnings.warn(
            f"{where} was interrupted at epoch {finished_epochs(data)} (run.json says running, its process is gone); "
            f"evaluating its last checkpoint (epoch {epoch}); continue training with 'hwsim train ... --resume'",
            HwsimWarning,
            stacklevel=3,
        )
    elif status == "running":
        warnings.warn(
            f"{where} is still training; evaluating its last checkpoint (epoch {epoch})", HwsimWarning, stacklevel=3
        )
    elif status == "failed":
        warnings.warn(
            f"{where} failed ({data.get('reason', 'no reason recorded')}); evaluating its last good checkpoint (epoch {epoch})",
            HwsimWarning,
            stacklevel=3,
        )


class _Estimate:
    """Times the first batch of each attack and, when that attack looks long (over
    :data:`ESTIMATE_AFTER_S` for every image and lambda), says so up front on stderr: "about N min for
    M images x K lambdas"; silent with -q."""

    def __init__(self, images: int, lambdas: int, attacks: Sequence[str], batches: int, progress: bool) -> None:
        self.images, self.lambdas, self.batches, self.progress = images, lambdas, batches, progress
        self.attacks = list(dict.fromkeys(attacks))
        self.timed_attacks: set[str] = set()

    def timed(self, attack: str, batches: list) -> _Timed:
        return _Timed(self, attack, batches)

    def first_batch(self, attack: str, seconds: float) -> None:
        if attack in self.timed_attacks:
            return
        self.timed_attacks.add(attack)
        total = seconds * self.batches * self.lambdas
        if not self.progress or total < ESTIMATE_AFTER_S:
            return
        minutes = total / 60
        amount = f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
        from tqdm.auto import tqdm

        tqdm.write(  # above the progress bar, not inside it
            f"{attack}: about {amount} for {self.images} images x {self.lambdas} lambda(s) "
            f"(timed on the first batch; --limit N evaluates fewer images)",
            file=sys.stderr,
        )


class _Timed:
    """The batches of one attack at one lambda, timing the first (see :class:`_Estimate`)."""

    def __init__(self, clock: _Estimate, attack: str, batches: list) -> None:
        self.clock, self.attack, self.batches = clock, attack, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for i, batch in enumerate(self.batches):
            t0 = time.perf_counter()
            yield batch
            if i == 0:
                self.clock.first_batch(self.attack, time.perf_counter() - t0)


def results_note(results: EvalResults) -> str:
    """Why a column is blank: lambda_th (Eq. 6) belongs to FLOAT's lambda_n; other methods have none."""
    if any(p.lambda_th is None for p in results.points):
        return (
            "lambda_th is blank: the method has no lambda_n, so FLOAT's BN_C -> BN_A threshold (Eq. 6) does not apply"
        )
    return ""


def _best_weights(run_dir: Path, payload: dict, run, lam: float, lambda_th: float) -> tuple[int, dict]:
    """(epoch, state_dict) of the best held-out checkpoint at ``lam``; one-line errors otherwise."""
    if not payload.get("best"):
        raise HwsimError(
            f"{run_dir}: the run has no best checkpoints (trained before hwsim kept them, or no epoch was checked yet); use --checkpoint last"
        )
    known = ", ".join(sorted(payload["best"], key=float))
    if f"{lam:g}" not in payload["best"]:
        raise HwsimError(
            f"{run_dir}: no best checkpoint for lambda {lam:g}; the run kept them for lambda {known} (train --eval-lambdas)"
        )
    best = load_best(run_dir, lam)
    chosen_th = float(best.get("lambda_th", 0.0))
    if run.model.rule.threshold_matters(lam) and chosen_th != lambda_th:
        raise HwsimError(
            f"{run_dir}: the best checkpoint for lambda_n {lam:g} was chosen at lambda_th {chosen_th:g}; "
            f"evaluate it with --lambda-th {chosen_th:g}, or use --checkpoint last"
        )
    return int(best["epoch"]), best["model"]


def _point_key(p: AccuracyPoint) -> tuple:
    return (p.checkpoint, p.slim_factor, p.lam, p.lambda_th, p.attack, p.attack_condition)


def write_results(run_dir: Path, results: EvalResults) -> None:
    """Merge with earlier results of the same run (same checkpoint / lambda_th / attack / lambda replaced)."""
    path = run_dir / RESULTS_JSON
    merged = {_point_key(p): p for p in (read_results(run_dir).points if path.exists() else [])}
    merged.update({_point_key(p): p for p in results.points})
    results = results.model_copy(
        update={
            "points": sorted(
                merged.values(),
                key=lambda p: (p.checkpoint, -p.slim_factor, p.attack, p.attack_condition, p.lambda_th or 0.0, p.lam),
            )
        }
    )
    atomic_write_text(path, json.dumps(results.model_dump(mode="json"), indent=2) + "\n")
    atomic_write_text(run_dir / RESULTS_CSV, results.frame().to_csv(index=False))


__all__ = ["EvalResults", "AccuracyPoint", "evaluate_checkpoint", "read_results", "write_results"]
