"""Evaluation: clean accuracy (CA) and robust accuracy (RA) per lambda and attack.

For each lambda the network is conditioned first (FLOAT: lambda_n with Eq. 6 and lambda_th; OAT:
lambda; PGD-AT: its single point) and put in eval mode; the attack then sees exactly that model,
since noise and BN choice depend only on the condition, never on train/eval mode.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..errors import HwsimError
from ..io import atomic_write_text

# The results schema and reader live in the torch-free hwsim.runfiles; re-exported from here.
from ..runfiles import RESULTS_CSV, RESULTS_JSON, AccuracyPoint, EvalResults, read_results
from .attacks import ATTACKS, robust_accuracy
from .train import load_best, load_checkpoint, network_from_checkpoint

DEFAULT_LAMBDAS = (0.0, 0.2, 0.7, 1.0)  # the paper's S_lambda_n


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
) -> EvalResults:
    """CA and RA of a trained run for every lambda and attack; written to the run directory.

    ``checkpoint_kind`` "last" evaluates the last epoch's weights at every lambda; "best" evaluates,
    at each lambda, the weights of the epoch with the best held-out RA at that lambda (as the paper
    reports best CA / RA, and OAT.py keeps best_ATA per lambda).
    """
    from .data import load_dataset

    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise HwsimError(f"unknown attack {unknown[0]!r}; known: {', '.join(ATTACKS)}")
    if not 0.0 <= lambda_th < 1.0:
        raise HwsimError(f"--lambda-th must lie in [0, 1), got {lambda_th}")
    bad = [v for v in lambdas if not 0.0 <= v <= 1.0]
    if bad:
        raise HwsimError(f"--lambdas must lie in [0, 1], got {bad[0]}")
    if checkpoint_kind not in ("last", "best"):
        raise HwsimError(f"--checkpoint: use last or best, not {checkpoint_kind!r}")
    payload = load_checkpoint(checkpoint)
    net, run = network_from_checkpoint(payload, device)
    run_dir = Path(payload["path"]).parent
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
    net.eval()
    points = []
    for lam in points_lambda:
        epoch, state = weights[lam]
        if state is not None:
            net.load_state_dict(state)
        net.set_condition(lam, lambda_th)
        for attack in attacks:
            ca, ra = robust_accuracy(net, batches, attack, eps=eps, seed=seed, device=device, progress=progress)
            points.append(AccuracyPoint(lam=lam, lambda_th=lambda_th, attack=attack, clean_acc=ca, robust_acc=ra,
                                        images=len(x), checkpoint=checkpoint_kind, epoch=epoch))  # fmt: skip
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


def _best_weights(run_dir: Path, payload: dict, run, lam: float, lambda_th: float) -> tuple[int, dict]:
    """(epoch, state_dict) of the best held-out-RA checkpoint at ``lam``; one-line errors otherwise."""
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
    return (p.checkpoint, p.lam, p.lambda_th, p.attack)


def write_results(run_dir: Path, results: EvalResults) -> None:
    """Merge with earlier results of the same run (same checkpoint / lambda_th / attack / lambda replaced)."""
    path = run_dir / RESULTS_JSON
    merged = {_point_key(p): p for p in (read_results(run_dir).points if path.exists() else [])}
    merged.update({_point_key(p): p for p in results.points})
    results = results.model_copy(
        update={"points": sorted(merged.values(), key=lambda p: (p.checkpoint, p.attack, p.lambda_th, p.lam))}
    )
    atomic_write_text(path, json.dumps(results.model_dump(mode="json"), indent=2) + "\n")
    atomic_write_text(run_dir / RESULTS_CSV, results.frame().to_csv(index=False))


__all__ = ["EvalResults", "AccuracyPoint", "evaluate_checkpoint", "read_results", "write_results"]
