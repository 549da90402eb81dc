"""Training: PGD-AT (Eq. 3), OAT (FiLM, per-sample lambda) and FLOAT (Algorithm 1) on hwsim's networks.

The networks are the very modules the estimator walks (:func:`hwsim.estimate.build_for_config`).
Defaults follow the paper and the OAT reference settings: SGD lr 0.1, momentum 0.9, weight decay 5e-4
(none on FLOAT's alphas unless ``alpha_weight_decay``), cosine schedule, 200 epochs, batch 128, PGD-7 at eps 8/255.

Each step follows the reference code line by line (VITA-Group/Once-for-All-Adversarial-Training
``PGDAT.py`` / ``OAT.py``, shunlinlu/FLOAT_v2 ``OAT_sparse.py``):

* every training attack is generated in **eval mode with parameter gradients off**
  (``ctx_noparamgrad_and_eval``): BN uses running statistics and the PGD iterates never update them,
  dropout is off; train mode is restored for the loss passes;
* PGD-AT: attack the batch, then CE on the adversarial and the clean pass (2 BN updates per step);
* OAT: one clean pass over the whole batch (its ceil(B/|S|) lambda = 0 rows through BN_C, the rest
  through BN_A, FiLM fed per row), then only the lambda != 0 rows are attacked and passed again,
  all through BN_A; loss mean((1 - lambda) CE_clean + lambda CE_adv) with CE_adv = 0 on the
  lambda = 0 rows (BN_C 1 update, BN_A 2);
* FLOAT: one clean pass with clean weights over the whole batch (rows [0, B/2) through BN_C, the
  rest through BN_A), then the second half is attacked and passed with noisy weights through BN_A;
  loss mean(0.5 CE_clean + 0.5 CE_adv) with CE_adv = 0 on the first half (BN_C 1, BN_A 2). Algorithm 1
  as printed computes L_C on the first half only; the reference code, followed here, uses the
  whole batch, i.e. L = 0.5 mean_B CE_clean + 0.25 mean_{B/2} CE_adv.

Slimmable models (FLOAT / OAT slim, FLOATS slim; a ``sparsity: {kind: slim}`` block): every batch runs
the method's step once per slimming factor, largest first, at that width; the per-width losses are
summed, so one backward accumulates all their gradients, then one optimizer step (as
``slimmable_networks``); FLOATS slim masks the full conv weights with the FLOATS-i engine. The logged
loss is that sum. The per-epoch held-out CA / RA (and the best checkpoints) are at ``eval_slim_factor``.

Runs are resumable and reproducible: every epoch reseeds the global RNG, the sampler and the
augmentation from ``(seed, epoch, rank)``, and a checkpoint (model, optimizer, schedule, history,
best-per-lambda summary, config) is written atomically after each epoch, so ``--resume`` continues
exactly where the last finished epoch left off. Under ``torchrun`` the same loop runs with DDP
(:mod:`hwsim.runner.ddp`).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..config import ModelConfig
from ..errors import HwsimError
from ..io import atomic_write_bytes, atomic_write_text
from ..methods.oat import sample_oat_lambdas  # noqa: F401  (re-exported: the runner's public API)

# The run-file schemas live in the torch-free hwsim.runfiles (the report reads them without torch);
# re-exported here, where they were defined before.
from ..runfiles import (  # noqa: F401
    RUN_FILE,
    RunConfig,
    TrainSettings,
    check_run_name,
    check_trainable,
    finished_epochs,
    owner,
    parse_run_config,
    read_run_file,
    run_status,
    selection_key,
)
from . import ddp
from .attacks import batch_correct, pgd_attack
from .masks import mask_summary
from .sparse import sparse_training

CHECKPOINT_FORMAT = "hwsim-checkpoint-v1"
BEST_FORMAT = "hwsim-best-v1"
CHECKPOINT_NAME = "checkpoint.pt"
BEST_DIR = "best"
DEFAULT_RUNS_DIR = Path("reports/runs")
PAPER_OAT_LAMBDAS = [0.0, 0.2, 0.7, 1.0]  # paper Sec. 4.3: OAT trained with S_lambda = {0, 0.2, 0.7, 1}
PAPER_WRN_DROPOUT = 0.3  # OAT's WRN16-8 / WRN40-2
# Settings that may change on --resume without changing the numbers.
RESUME_FREE = {"epochs", "device", "workers", "data_dir"}
EVAL_ATTACK = "pgd7"  # the per-epoch RA, and the best-checkpoint criterion (the paper's RA metric)


def apply_preset(model: ModelConfig, values: dict[str, Any], preset: str | None) -> tuple[ModelConfig, dict[str, Any]]:
    """``--preset paper``: the settings of the paper's comparison (Sec. 4.3) where hwsim's defaults differ.

    OAT trains with S_lambda = {0, 0.2, 0.7, 1} (hwsim's default is OAT's own {0, 0.1, 0.2, 0.3, 0.4, 1});
    WRNs use dropout 0.3 as OAT's WRN16-8 / WRN40-2 (hwsim's model files: 0).
    """
    if preset is None:
        return model, values
    if preset != "paper":
        raise HwsimError(f"--preset: unknown {preset!r}; known: paper")
    values = {**values, "oat_lambdas": list(PAPER_OAT_LAMBDAS), "preset": "paper"}
    if model.arch.startswith("wrn"):
        model = model.model_copy(update={"dropout": PAPER_WRN_DROPOUT})
    return model, values


# ---------------------------------------------------------------------------------------------
# one training step per method (the reference code's semantics, see the module docstring)


@contextlib.contextmanager
def attack_mode(net: nn.Module) -> Iterator[None]:
    """The references' ``ctx_noparamgrad_and_eval``: every module in eval mode (BN running statistics,
    never updated; dropout off) and parameter gradients off; both restored afterwards."""
    flags = [(m, m.training) for m in net.modules()]
    grads = [(p, p.requires_grad) for p in net.parameters()]
    net.eval()
    for p, _ in grads:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training
        for p, needed in grads:
            p.requires_grad_(needed)


def _attack(net: nn.Module, x: torch.Tensor, y: torch.Tensor, s: TrainSettings, gen: torch.Generator) -> torch.Tensor:
    with attack_mode(net):
        return pgd_attack(net, x, y, eps=s.eps, steps=s.attack_steps, generator=gen)


def training_loss(net, x: torch.Tensor, y: torch.Tensor, s: TrainSettings, gen: torch.Generator) -> torch.Tensor:
    """The method's training loss on one batch (:meth:`hwsim.methods.Method.training_loss`); its
    adversarial examples are generated inside, in eval mode with parameter gradients off.

    A slimmable network (FLOAT / FLOATS / OAT slim) runs the method's loss once per slimming factor,
    largest first, each at its own width (its attack too, on that sub-network), and returns their
    **sum**: one backward then accumulates every width's gradients into the shared weights before the
    single optimizer step, as ``slimmable_networks`` does (there: one backward per width, the same
    sum). The width is back at 1.0 afterwards."""
    rule = net.rule

    def loss_at_width() -> torch.Tensor:
        return rule.training_loss(net, x, y, s, gen, lambda n, xs, ys: _attack(n, xs, ys, s, gen))

    if not getattr(net, "slimmable", False):
        return loss_at_width()
    total = None
    try:
        for sf in net.slim_factors:  # largest first
            net.set_slim(sf)
            loss = loss_at_width()
            total = loss if total is None else total + loss
    finally:
        net.set_slim(1.0)
    return total


class TrainingObjective(nn.Module):
    """One step's loss as a module, so that DDP sees a single forward per backward (the clean pass,
    the attack and the adversarial pass all run inside it, on the unwrapped network)."""

    def __init__(self, net: nn.Module, settings: TrainSettings) -> None:
        super().__init__()
        self.net = net
        object.__setattr__(self, "settings", settings)

    def forward(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return training_loss(self.net, x, y, self.settings, gen)


def amp_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(s: TrainSettings):
    """Mixed precision on CUDA when ``--amp``; a no-op context otherwise."""
    if not s.amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=amp_dtype())


def make_scaler(s: TrainSettings) -> torch.amp.GradScaler | None:
    """fp16 needs loss scaling; bf16 (and fp32) does not."""
    if s.amp and amp_dtype() == torch.float16:
        return torch.amp.GradScaler("cuda")
    return None


def train_step(
    model, optimizer: torch.optim.Optimizer, x, y, s: TrainSettings, gen: torch.Generator, *, scaler=None
) -> torch.Tensor:
    """One optimizer step; ``model`` is a network, a :class:`TrainingObjective` or its DDP wrapper.
    Returns the detached loss (no host sync: the loop sums losses on the device)."""
    if isinstance(model, nn.Module) and hasattr(model, "set_condition"):
        model = TrainingObjective(model, s)
    model.train()
    with autocast(s):
        loss = model(x, y, gen)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach()


def make_optimizer(net, s: TrainSettings) -> torch.optim.SGD:
    """SGD with weight decay on everything except FLOAT's alphas (hwsim's default, the paper's reading:
    alpha is a noise scale, not a weight).

    ``s.alpha_weight_decay`` decays the alphas too, with ``s.weight_decay``, as the authors' code does:
    shunlinlu/FLOAT_v2 ``OAT_sparse.py:170`` builds ``SGD(model.parameters(), ..., weight_decay=args.wd)``
    over every parameter, the noise layers' ``alpha_w`` included. The alphas stay in a group of their own
    either way (same parameter order, so optimizer states of either setting have the same layout)."""
    alphas = {id(p) for p in net.alphas()}
    decayed = [p for p in net.parameters() if id(p) not in alphas]
    groups = [{"params": decayed, "weight_decay": s.weight_decay}]
    if alphas:
        groups.append({"params": list(net.alphas()), "weight_decay": s.weight_decay if s.alpha_weight_decay else 0.0})
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum)


# ---------------------------------------------------------------------------------------------
# checkpoints


def _save(path: Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def save_checkpoint(
    path: Path, run: RunConfig, epoch: int, net, optimizer, scheduler, history: list[dict],
    best: dict[str, dict] | None = None, scaler=None, sparse=None,
) -> None:  # fmt: skip
    """Write atomically: the old checkpoint stays intact until the new one is complete."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "hwsim_version": __version__,
        "config": run.model_dump(mode="json", by_alias=True),
        "epoch": epoch,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": history,
        "best": best or {},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "masks": sparse.state_dict() if sparse is not None else None,
        "sparse_state": sparse.extra_state() if sparse is not None else None,  # the prune-rate step count
    }
    _save(path, payload)


def update_best(
    best: dict[str, dict], points: list[dict[str, Any]], epoch: int, s: TrainSettings, num_classes: int
) -> list[str]:
    """Keep, per lambda, the epoch whose held-out point is best under ``s.select``
    (:func:`~hwsim.runfiles.selection_key`; >=: OAT.py keeps the later epoch on ties). Updates
    ``best`` in place and returns the lambdas (keys) whose best epoch is now ``epoch``. Points
    recorded before hwsim counted their images were checked on ``eval_limit`` images at most."""
    changed = []
    for p in points:
        key = f"{p['lam']:g}"
        images = int(p.get("images", s.eval_limit))
        if key not in best or selection_key(p, s.select, num_classes, images) >= selection_key(
            best[key], s.select, num_classes, images
        ):
            best[key] = {**p, "epoch": epoch, "lambda_th": s.eval_lambda_th}
            changed.append(key)
    return changed


def best_path(run_dir: Path, lam: float) -> Path:
    return Path(run_dir) / BEST_DIR / f"lambda-{lam:g}.pt"


def save_best(run_dir: Path, run: RunConfig, point: dict[str, Any], net) -> None:
    """The weights of the best held-out epoch at one lambda under ``select`` (OAT.py's best_ATA<lambda>.pth
    at ``select: ra``, best_TA<lambda>.pth at ``ca``)."""
    _save(best_path(run_dir, point["lam"]), {
        "format": BEST_FORMAT, "hwsim_version": __version__, "config": run.model_dump(mode="json", by_alias=True),
        **point, "model": net.state_dict(),
    })  # fmt: skip


def load_best(run_dir: Path, lam: float) -> dict[str, Any]:
    """A best-per-lambda checkpoint, safely loaded; one HwsimError line when there is none."""
    path = best_path(run_dir, lam)
    if not path.is_file():
        raise HwsimError(f"{run_dir}: no best checkpoint for lambda {lam:g} ({path.relative_to(run_dir)})")
    payload = _safe_load(path)
    if payload.get("format") != BEST_FORMAT:
        raise HwsimError(f"{path}: not an hwsim best checkpoint (expected format {BEST_FORMAT})")
    return payload


def _safe_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        unsafe = "weights_only" in str(exc) and "Unsupported global" in str(exc)
        why = (
            "it holds objects that are not plain tensors or values; refusing to unpickle them"
            if unsafe
            else type(exc).__name__
        )
        raise HwsimError(f"{path}: corrupt or unreadable checkpoint ({why})") from None


def load_checkpoint(path: Path | str, *, for_resume: bool = False) -> dict[str, Any]:
    """Safe load (``weights_only=True``); any problem is one HwsimError line, a missing or mistyped
    field included (evaluating needs config, epoch and model; resuming the optimizer, schedule and
    history too)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise HwsimError(f"{path}: no such checkpoint")
    payload = _safe_load(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise HwsimError(f"{path}: not an hwsim checkpoint (expected format {CHECKPOINT_FORMAT})")
    for key, kind in CHECKPOINT_FIELDS.items():
        value = payload.get(key)
        if value is None and (key in OPTIONAL_FIELDS or (key in RESUME_FIELDS and not for_resume)):
            continue
        if not isinstance(value, kind) or isinstance(value, bool) or (key == "epoch" and value < 0):
            problem = "missing" if key not in payload else f"not {KIND_WORDS[kind]}"
            raise HwsimError(f"{path}: damaged checkpoint: field {key!r} is {problem}")
    payload["path"] = path
    return payload


#: What every checkpoint holds (written by :func:`save_checkpoint`), checked on load so that a damaged
#: file is one line naming the field, not a KeyError in the middle of a resume or an evaluation.
CHECKPOINT_FIELDS: dict[str, type] = {
    "config": dict, "epoch": int, "model": dict, "optimizer": dict, "scheduler": dict, "history": list, "best": dict,
}  # fmt: skip
OPTIONAL_FIELDS = {"best"}  # absent in checkpoints written before hwsim kept best checkpoints
RESUME_FIELDS = {"optimizer", "scheduler", "history"}  # needed to continue training, not to evaluate
KIND_WORDS = {dict: "a mapping", int: "an integer >= 0", list: "a list"}


def run_config_of(payload: dict[str, Any]) -> RunConfig:
    if "config" not in payload:
        raise HwsimError(f"{payload.get('path')}: not an hwsim checkpoint (no config)")
    return parse_run_config(payload["config"], payload.get("path"))


def network_from_checkpoint(payload: dict[str, Any], device: str = "cpu"):
    from ..estimate import build_for_config

    run = run_config_of(payload)
    net = build_for_config(run.model, device="cpu", lambda_choices=tuple(run.train.oat_lambdas), seed=run.train.seed)
    try:
        net.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise HwsimError(
            f"{payload.get('path')}: weights do not fit {run.model.arch}/{run.model.method} ({str(exc).splitlines()[0][:120]})"
        ) from None
    return net.to(device), run


# ---------------------------------------------------------------------------------------------
# the loop


def _datasets(run: RunConfig):
    """(train, held-out, test): the held-out set picks the best checkpoints and is the last
    ``val_split`` training images (OAT: 5,000 of CIFAR's 50,000), or the first eval_limit test images."""
    from torch.utils.data import TensorDataset

    from .data import load_dataset

    s, m = run.train, run.model
    if m.dataset is None:
        raise HwsimError(f"{m.name}: training needs a dataset in the model file")
    size = s.image_size or m.input_shape[1]
    train = load_dataset(
        m.dataset, "train", s.data_dir, image_size=size, seed=s.seed, limit=None if s.val_split else s.limit_train
    )
    test = load_dataset(m.dataset, "test", s.data_dir, image_size=size, seed=s.seed, limit=s.limit_test)
    if s.val_split:
        x, y = train.tensors
        if s.val_split >= len(x):
            raise HwsimError(f"--val-split {s.val_split}: the training set has only {len(x)} images")
        cut = len(x) - s.val_split
        held_out = TensorDataset(x[cut:][: s.eval_limit], y[cut:][: s.eval_limit])
        train = TensorDataset(x[:cut][: s.limit_train], y[:cut][: s.limit_train])
    else:
        held_out = TensorDataset(*(t[: s.eval_limit] for t in test.tensors))
    if len(train) < s.batch_size:
        raise HwsimError(f"{m.dataset}: {len(train)} training images, fewer than one batch of {s.batch_size}")
    return train, held_out, test


def rank_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """Seed of one rank's epoch; rank 0's is the single-process run's."""
    return seed * 100_003 + epoch + rank * 1_000_003


def epoch_loader(train_set, s: TrainSettings, epoch: int, rank: int = 0, world: int = 1, augment: bool = False):
    """This rank's batches of one epoch: a DistributedSampler shard (``set_epoch``), seeded
    augmentation, the last incomplete batch dropped (as the references' ``drop_last=True``)."""
    from torch.utils.data.distributed import DistributedSampler

    from .data import make_loader

    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=s.seed, drop_last=True)
    sampler.set_epoch(epoch)
    return make_loader(
        train_set, s.batch_size, train=True, augment=augment, seed=rank_seed(s.seed, epoch, rank), sampler=sampler,
        drop_last=True, num_workers=s.workers, pin_memory=s.device.startswith("cuda"),
    )  # fmt: skip


def eval_lambdas(net, s: TrainSettings) -> list[float]:
    """The lambdas checked each epoch: PGD-AT has its single training point."""
    return net.rule.eval_lambdas(sorted(set(s.eval_lambdas)), s.pgdat_lambda)


@contextlib.contextmanager
def _noise_scale_for(net, noise_scale: float) -> Iterator[None]:
    """Run the block with the network's noise scale set to ``noise_scale`` (lambda and BN unchanged);
    the state is restored afterwards."""
    state = net.state
    saved = state.noise_scale
    state.noise_scale = float(noise_scale)
    try:
        yield
    finally:
        state.noise_scale = saved


def check_attack_condition(rule, condition: str, option: str) -> None:
    """``float_v2`` is the evaluation of FLOAT's code: only for a method with noisy weights."""
    if condition == "float_v2" and not rule.noisy_convs:
        raise HwsimError(
            f"{option} float_v2: FLOAT_v2's evaluation attack changes the weight noise, and {rule.label} has none "
            "(FLOAT / FLOATS only); use evaluated"
        )


def check_film_encoding(model: ModelConfig, s: TrainSettings) -> None:
    """OAT's matrix encodings feed row j of a film_dim x film_dim matrix to the j-th training lambda:
    there must be a row for each of ``oat_lambdas``."""
    if model.film_encoding in ("rand", "onehot", "dct") and model.rule.film and len(s.oat_lambdas) > model.film_dim:
        raise HwsimError(
            f"--oat-lambdas: {len(s.oat_lambdas)} training lambdas need film_dim >= {len(s.oat_lambdas)} with "
            f"film_encoding {model.film_encoding} (lambda j is fed row j of a film_dim x film_dim matrix); "
            f"the model has film_dim {model.film_dim}"
        )


def eval_attack_phases(net, condition: str):
    """The ``phases`` of :func:`hwsim.runner.attacks.batch_correct` for an attack condition, given the
    network conditioned at the evaluated lambda_n (None: ``evaluated``, the attack and scoring see that
    very model).

    ``float_v2``, the authors' validation (shunlinlu/FLOAT_v2): the clean forward is the evaluated
    condition (``OAT_sparse.py:358`` ``model(imgs, val_lambda, w_noise, idx2BN)``); every attack forward
    runs with noise at lambda 1 and the evaluated BN (``attacks/pgd.py:64``
    ``model(x_adv, 1.0, w_noise=True, idx2BN=idx2BN)``, idx2BN from ``OAT_sparse.py:344-350``), even at
    lambda_n = 0, whose scoring runs on clean weights: a transfer attack there; the adversarial images are
    scored at lambda 1 with the evaluated lambda's noise switch (``OAT_sparse.py:366``
    ``model(imgs_adv, 1.0, w_noise, idx2BN)``, ``w_noise = val_lambda != 0``, ``OAT_sparse.py:351-354``).
    In hwsim's terms: noise scale 1 (``float_noise_scale(1, lambda_th) = 1``) in the attack; in the
    scoring 1 where the evaluated condition has noise, else 0; BN and lambda as evaluated."""
    if condition == "evaluated":
        return None
    if condition != "float_v2":
        raise HwsimError(f"attack condition: unknown {condition!r}; known: evaluated, float_v2")
    check_attack_condition(net.rule, condition, "attack condition")
    noisy = net.state.noise_scale != 0.0

    def phase(name: str):
        if name == "attack":
            return _noise_scale_for(net, 1.0)
        return _noise_scale_for(net, 1.0 if noisy else 0.0)

    return phase


def held_out_accuracy(
    net, dataset, s: TrainSettings, info: ddp.Dist, batch_size: int = 256, eval_slim_factor: float = 1.0
) -> list[dict[str, float]]:
    """CA and PGD-7 RA per lambda on the held-out set (batch i seeded with seed + i; batches shared
    out over ranks and the counts summed, so the numbers do not depend on the world size). A slimmable
    network is checked at ``eval_slim_factor`` (the model's ``sparsity.eval_slim_factor``). The attack
    runs at ``s.eval_attack_condition`` (:func:`eval_attack_phases`)."""
    x, y = dataset.tensors
    starts = list(range(0, len(x), batch_size))[info.rank :: info.world]
    device = info.device
    points = []
    net.eval()
    if getattr(net, "slimmable", False):  # a slimmable run is checked (and its best kept) at eval_slim_factor
        net.set_slim(eval_slim_factor)
    for lam in eval_lambdas(net, s):
        net.set_condition(lam, s.eval_lambda_th)
        phases = eval_attack_phases(net, s.eval_attack_condition)
        counts = [0, 0]
        for start in starts:
            bx, by = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
            with autocast(s):
                correct = batch_correct(
                    net, bx, by, EVAL_ATTACK, eps=s.eps, seed=s.seed + start // batch_size, phases=phases
                )
            counts = [a + b for a, b in zip(counts, correct)]
        clean, robust = ddp.all_sum(counts, info)
        points.append(
            {"lam": lam, "clean_acc": 100.0 * clean / len(x), "robust_acc": 100.0 * robust / len(x), "images": len(x)}
        )
    if getattr(net, "slimmable", False):
        net.set_slim(1.0)
    net.train()
    return points


def eval_slim_factor(model: ModelConfig) -> float:
    """The width a slimmable model's per-epoch held-out check runs at (1.0 for other models)."""
    sparsity = model.sparsity
    return sparsity.eval_slim_factor if sparsity is not None and sparsity.kind == "slim" else 1.0


def check_cuda(device: str) -> None:
    """``cuda`` / ``cuda:N`` must name a device torch sees (the syntax is checked by the settings)."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise HwsimError(
            f"--device {device}: no CUDA device is visible to torch {torch.__version__} ({build}); use --device cpu"
        )
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise HwsimError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s), numbered from 0")


def check_device(s: TrainSettings) -> None:
    """The device first (before any data is read), then what needs it: --amp is CUDA mixed precision."""
    check_cuda(s.device)
    if s.amp and not s.device.startswith("cuda"):
        raise HwsimError(f"--amp needs a CUDA device (--device cuda), not --device {s.device}")


_check_device = check_device


def train_run(
    run: RunConfig,
    out_dir: Path | str = DEFAULT_RUNS_DIR,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train ``run`` into ``out_dir / run.name``; returns the run directory.

    ``stop_after`` ends this invocation after that many epochs (the schedule still spans
    ``epochs``; continue with ``resume``). Under torchrun every process calls this.
    """
    check_run_name(run.name)
    check_trainable(run.model, f"model {run.model.name or run.model.arch}")
    check_attack_condition(run.model.rule, run.train.eval_attack_condition, "--eval-attack-condition")
    check_film_encoding(run.model, run.train)
    check_device(run.train)
    info = ddp.setup(run.train.device)
    try:
        if run.train.world_size != info.world:
            run = run.model_copy(update={"train": run.train.model_copy(update={"world_size": info.world})})
        return _train(run, Path(out_dir), info, resume, progress and info.is_main, on_epoch, stop_after)
    finally:
        ddp.teardown(info)


def _train(run: RunConfig, out_dir: Path, info: ddp.Dist, resume: bool, progress: bool, on_epoch, stop_after) -> Path:
    from tqdm.auto import tqdm

    from ..estimate import build_for_config
    from .data import default_augment

    s = run.train
    device = info.device
    run_dir = out_dir / run.name
    ckpt_path = run_dir / CHECKPOINT_NAME
    _check_run_dir(run_dir, resume)
    train_set, held_out, _ = _datasets(run)
    torch.manual_seed(s.seed)
    net = build_for_config(run.model, device="cpu", lambda_choices=tuple(s.oat_lambdas), seed=s.seed).to(device)
    if s.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(net, s)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.epochs)
    scaler = make_scaler(s)
    sparse = sparse_training(run.model, net, s.seed)  # FLOATS masks (None for a dense model)
    history: list[dict] = []
    best: dict[str, dict] = {}
    start = 0
    if resume and ckpt_path.exists():
        payload = load_checkpoint(ckpt_path, for_resume=True)
        stored = run_config_of(payload)
        differs = [
            k for k in TrainSettings.model_fields if k not in RESUME_FREE and getattr(stored.train, k) != getattr(s, k)
        ]
        if stored.model != run.model or differs:
            what = ", ".join(differs) if differs else "the model"
            raise HwsimError(f"{ckpt_path}: --resume with a different config than the checkpoint's ({what})")
        try:
            net.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            if sparse is not None:
                sparse.load_state_dict(payload.get("masks"))
                sparse.load_extra_state(payload.get("sparse_state"))
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            raise HwsimError(f"{ckpt_path}: damaged checkpoint ({_first_line(exc)})") from None
        scheduler.T_max = s.epochs
        if scaler is not None and payload.get("scaler"):
            scaler.load_state_dict(payload["scaler"])
        history, start, best = list(payload["history"]), int(payload["epoch"]), dict(payload.get("best") or {})
    # FLOAT's rm convs never use their alpha (as the reference's alpha_w under use_rm): DDP must know
    idle_alphas = any(getattr(m, "random_masks", False) for m in net.modules())
    model = ddp.wrap(TrainingObjective(net, s), info, net.rule.find_unused_parameters(s) or idle_alphas)
    augment = default_augment(run.model.dataset) if s.augment is None else s.augment
    if info.is_main:
        _write_run_file(run_dir, run, history, status="running")

    epoch = start
    last = s.epochs if stop_after is None else min(s.epochs, start + stop_after)
    epochs_bar = tqdm(
        range(start, last), desc=run.name, unit="epoch", initial=start, total=s.epochs, disable=not progress
    )
    try:
        for epoch in epochs_bar:
            seed = rank_seed(s.seed, epoch, info.rank)
            torch.manual_seed(seed)
            gen = torch.Generator().manual_seed(seed + 1)
            loader = epoch_loader(train_set, s, epoch, info.rank, info.world, augment)
            bar = tqdm(loader, desc=f"epoch {epoch + 1}", unit="batch", disable=not progress, leave=False)
            t0 = time.perf_counter()
            loss_sum, steps = torch.zeros((), device=device), 0
            # the first step whose loss is not finite (0: none) and that loss, kept on the device: the host
            # looks every 25 steps (the time the bar syncs anyway) and at the end of the epoch
            bad_step, bad_loss = torch.zeros((), dtype=torch.long, device=device), torch.zeros((), device=device)
            for x, y in bar:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if s.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                loss = train_step(model, optimizer, x, y, s, gen, scaler=scaler)
                if sparse is not None:
                    sparse.apply()  # Eq. 5 after every optimizer step: masked weights stay zero
                    sparse.step()  # the clock of prune_decay_step: minibatch
                loss_sum += loss
                ddp.average_buffers(net, info)
                steps += 1
                first = (bad_step == 0) & ~torch.isfinite(loss)
                bad_step = torch.where(first, steps, bad_step)
                bad_loss = torch.where(first, loss.float(), bad_loss)
                if steps % 25 == 0:  # one host sync per 25 steps
                    _stop_if_not_finite(bad_step, bad_loss, epoch, steps, info)
                    if progress:
                        bar.set_postfix(loss=f"{float(loss_sum) / steps:.3f}")
            _stop_if_not_finite(bad_step, bad_loss, epoch, steps, info)
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            if sparse is not None:  # FLOATS-i: prune by magnitude, regrow by momentum (same total)
                sparse.prune_and_regrow(optimizer, sparse.rate(epoch, s.epochs, steps_per_epoch=steps))
            epoch_time = time.perf_counter() - t0
            scheduler.step()
            mean_loss = ddp.all_sum([float(loss_sum)], info)[0] / max(steps * info.world, 1)
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "loss": mean_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "epoch_time_s": epoch_time,
            }
            if sparse is not None:
                record["density"] = sparse.global_density()
                record["layers"] = mask_summary(sparse.masks)  # per conv: kept fraction, kept input channels
                factors = run.model.sparsity.slim_factors
                if len(factors) > 1:  # FLOATS slim: each sub-network's slice of the masks
                    record["layers_by_sf"] = {f"{sf:g}": mask_summary(sparse.masks, sf) for sf in factors}
            if (epoch + 1) % s.eval_every == 0 or epoch + 1 == s.epochs:
                points = held_out_accuracy(net, held_out, s, info, eval_slim_factor=eval_slim_factor(run.model))
                record.update(
                    clean_acc=points[0]["clean_acc"],
                    robust_acc=points[-1]["robust_acc"],
                    eval=points,
                    eval_set="val" if s.val_split else "test",
                )
                if net.slimmable:
                    record["eval_slim_factor"] = eval_slim_factor(run.model)
                for key in update_best(best, points, epoch + 1, s, run.model.classes):
                    if info.is_main:
                        save_best(run_dir, run, best[key], net)
            history.append(record)
            if info.is_main:
                save_checkpoint(ckpt_path, run, epoch + 1, net, optimizer, scheduler, history, best, scaler, sparse)
                _write_run_file(run_dir, run, history, status="running")
            ddp.barrier(info)
            if "clean_acc" in record:
                epochs_bar.set_postfix(
                    loss=f"{record['loss']:.3f}", CA=f"{record['clean_acc']:.1f}%", RA=f"{record['robust_acc']:.1f}%"
                )
            if progress:
                checked = (
                    f"  CA {record['clean_acc']:.2f}%  RA(PGD-7) {record['robust_acc']:.2f}%"
                    if "clean_acc" in record
                    else ""
                )
                tqdm.write(
                    f"{run.name} epoch {epoch + 1}/{s.epochs}: loss {record['loss']:.4f}{checked}  {epoch_time:.1f}s"
                )
            if on_epoch is not None:
                on_epoch(record)
    except KeyboardInterrupt:
        epochs_bar.close()
        if info.is_main:
            _write_run_file(run_dir, run, history, status=f"interrupted in epoch {epoch + 1}")
        raise HwsimError(
            f"interrupted in epoch {epoch + 1}; {len(history)} epochs are saved in {ckpt_path}, continue with --resume"
        ) from None
    except _NotFinite as exc:
        epochs_bar.close()
        kept = (
            f"the last good checkpoint (epoch {len(history)}) is kept in {ckpt_path}"
            if history
            else "no epoch finished, so no checkpoint was written"
        )
        reason = f"epoch {epoch + 1}, step {exc.step}: the loss is {exc.value}; {_likely_cause(run)}; {kept}"
        if info.is_main:
            _write_run_file(run_dir, run, history, status="failed", reason=reason)
        raise HwsimError(reason) from None
    except BaseException as exc:  # any crash: run.json says so (a KeyboardInterrupt was handled above)
        epochs_bar.close()
        reason = f"epoch {epoch + 1}: {_first_line(exc)}"
        if _out_of_memory(exc):
            reason = f"epoch {epoch + 1}: out of memory ({_first_line(exc)[:160]}); use a smaller --batch-size or --image-size"
        if info.is_main:
            _write_run_file(run_dir, run, history, status="failed", reason=reason)
        if isinstance(exc, HwsimError) or _out_of_memory(exc):
            raise HwsimError(reason if not isinstance(exc, HwsimError) else str(exc)) from None
        raise
    epochs_bar.close()
    done = len(history) >= s.epochs
    if info.is_main:
        _write_run_file(
            run_dir,
            run,
            history,
            status="done" if done else f"stopped after epoch {len(history)} of {s.epochs}; continue with --resume",
        )
    return run_dir


class _NotFinite(Exception):
    def __init__(self, step: int, value: str) -> None:
        super().__init__(f"step {step}: loss {value}")
        self.step, self.value = step, value


def _stop_if_not_finite(bad_step: torch.Tensor, bad_loss: torch.Tensor, epoch: int, steps: int, info: ddp.Dist) -> None:
    """Stop at the first non-finite loss (every rank at once under DDP): the weights are ruined from
    that step on, so this epoch is never saved."""
    step = int(bad_step)
    if info.active and not ddp.all_sum([1.0 if step else 0.0], info)[0]:
        return
    if not info.active and not step:
        return
    value = str(float(bad_loss)) if step else "not finite on another process"
    raise _NotFinite(step or steps, value)


def _likely_cause(run: RunConfig) -> str:
    s = run.train
    if s.lr >= 1:
        return f"the learning rate {s.lr:g} is likely too high (the paper's is 0.1)"
    return f"the learning rate {s.lr:g} may be too high for this model and batch size"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("allocate" in text or "out of memory" in text)


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse a run another process is training now, and a finished or stopped run without --resume;
    a run whose process died (kill -9, a crash) is reported as interrupted at its last epoch."""
    if run_dir.is_symlink() and not run_dir.exists():
        raise HwsimError(
            f"{run_dir}: a symlink that leads nowhere (or a symlink loop); choose another --name or --out-dir"
        )
    if not (run_dir / RUN_FILE).exists() and not (run_dir / CHECKPOINT_NAME).exists():
        return
    data = read_run_file(run_dir) if (run_dir / RUN_FILE).exists() else {}
    status = run_status(data) if data else "unknown"
    done = finished_epochs(data)
    if status == "running":
        trainer = data.get("trainer") or {}
        raise HwsimError(
            f"{run_dir / RUN_FILE}: the run is being trained now (pid {trainer.get('pid')} on {trainer.get('host')}); "
            "wait for it or choose another --name"
        )
    if not resume and (run_dir / CHECKPOINT_NAME).exists():
        said = f" ({status} after epoch {done})" if status in ("interrupted", "failed") else ""
        raise HwsimError(
            f"{run_dir / CHECKPOINT_NAME}: run exists{said}; pass --resume to continue it or choose another --name"
        )


def _write_run_file(run_dir: Path, run: RunConfig, history: list[dict], status: str, reason: str | None = None) -> None:
    """``run.json``; while "running" it names the process (pid, host), so that a reader can tell a
    run whose process died (kill -9, power loss) from one still training."""
    data: dict[str, Any] = {"status": status}
    if reason is not None:
        data["reason"] = reason
    if status == "running":
        data["trainer"] = owner()
    data.update(config=run.model_dump(mode="json", by_alias=True), history=history)
    atomic_write_text(run_dir / RUN_FILE, json.dumps(data, indent=2) + "\n")
