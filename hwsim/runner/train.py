"""Training: PGD-AT (Eq. 3), OAT (FiLM, per-sample lambda) and FLOAT (Algorithm 1) on hwsim's networks.

The networks are the very modules the estimator walks (:func:`hwsim.estimate.build_for_config`).
Defaults follow the paper and the OAT reference settings: SGD lr 0.1, momentum 0.9, weight decay 5e-4
(none on FLOAT's alphas), cosine schedule, 200 epochs, batch 128, PGD-7 at eps 8/255.

Runs are resumable and reproducible: every epoch reseeds the global RNG and the loader from
``(seed, epoch)``, and a checkpoint (model, optimizer, schedule, history, config) is written atomically
after each epoch, so ``--resume`` continues exactly where the last finished epoch left off.
"""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from pydantic import Field, StrictInt
from torch import nn

from .. import __version__
from ..config import ModelConfig, Strict
from ..errors import HwsimError
from ..io import atomic_write_bytes, atomic_write_text
from .attacks import pgd_attack

CHECKPOINT_FORMAT = "hwsim-checkpoint-v1"
CHECKPOINT_NAME = "checkpoint.pt"
RUN_FILE = "run.json"
DEFAULT_RUNS_DIR = Path("reports/runs")


class TrainSettings(Strict):
    """Training hyper-parameters (paper section 4.1 and the OAT reference settings)."""

    epochs: StrictInt = Field(200, gt=0)
    batch_size: StrictInt = Field(128, gt=1)
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
    eval_limit: StrictInt = Field(512, gt=0, description="test images for the per-epoch CA/RA")
    device: str = "cpu"


class RunConfig(Strict):
    """Everything a run needs; stored in every checkpoint and result."""

    name: str
    model: ModelConfig
    train: TrainSettings = Field(default_factory=TrainSettings)
    hwsim_version: str = __version__


# ---------------------------------------------------------------------------------------------
# one training step per method


def sample_oat_lambdas(batch: int, choices: list[float], generator: torch.Generator) -> torch.Tensor:
    """OAT's per-sample lambdas: ceil(B / |S|) rows at lambda = 0 first (they go through BN_C),
    the rest drawn uniformly from the non-zero values of S."""
    nonzero = torch.tensor([c for c in choices if c != 0], dtype=torch.float32)
    n_zero = math.ceil(batch / len(choices)) if 0 in choices else 0
    if len(nonzero) == 0:
        return torch.zeros(batch)
    picks = nonzero[torch.randint(len(nonzero), (batch - n_zero,), generator=generator)]
    return torch.cat([torch.zeros(n_zero), picks])


def _attack(net: nn.Module, x: torch.Tensor, y: torch.Tensor, s: TrainSettings, gen: torch.Generator) -> torch.Tensor:
    # The model stays in train mode, as in the OAT reference training loop.
    return pgd_attack(net, x, y, eps=s.eps, steps=s.attack_steps, generator=gen)


def training_loss(net, x: torch.Tensor, y: torch.Tensor, s: TrainSettings, gen: torch.Generator) -> torch.Tensor:
    """The method's training loss on one batch (adversarial examples generated inside).

    * pgdat: Eq. 3, (1 - lambda) CE(x) + lambda CE(x_adv) with a fixed lambda;
    * oat: mean over samples of (1 - lambda_i) CE(x_i) + lambda_i CE(x_adv_i), per-sample lambda,
      BN_C for the lambda = 0 rows, FiLM fed with lambda_i;
    * float: Algorithm 1, clean half at lambda = 0 (theta, BN_C), other half attacked and trained at
      lambda = 1 (theta + alpha eta, BN_A); 0.5 L_C + 0.5 L_A.
    """
    method = net.method
    if method == "pgdat":
        x_adv = _attack(net, x, y, s, gen)
        lam = s.pgdat_lambda
        return (1 - lam) * F.cross_entropy(net(x), y) + lam * F.cross_entropy(net(x_adv), y)
    if method == "oat":
        lam = sample_oat_lambdas(x.shape[0], s.oat_lambdas, gen).to(x.device)
        net.set_condition(lam)
        x_adv = _attack(net, x, y, s, gen)
        clean = F.cross_entropy(net(x), y, reduction="none")
        adv = F.cross_entropy(net(x_adv), y, reduction="none")
        return ((1 - lam) * clean + lam * adv).mean()
    if method == "float":
        half = x.shape[0] // 2
        net.set_condition(1.0)
        x_adv = _attack(net, x[half:], y[half:], s, gen)
        net.set_condition(0.0)
        loss_clean = F.cross_entropy(net(x[:half]), y[:half])
        net.set_condition(1.0)
        loss_adv = F.cross_entropy(net(x_adv), y[half:])
        return 0.5 * loss_clean + 0.5 * loss_adv
    raise HwsimError(f"unknown method {method!r}")


def train_step(net, optimizer: torch.optim.Optimizer, x, y, s: TrainSettings, gen: torch.Generator) -> float:
    net.train()
    loss = training_loss(net, x, y, s, gen)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def make_optimizer(net, s: TrainSettings) -> torch.optim.SGD:
    """SGD with weight decay on everything except FLOAT's alphas."""
    alphas = {id(p) for p in net.alphas()}
    decayed = [p for p in net.parameters() if id(p) not in alphas]
    groups = [{"params": decayed, "weight_decay": s.weight_decay}]
    if alphas:
        groups.append({"params": list(net.alphas()), "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum)


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: Path, run: RunConfig, epoch: int, net, optimizer, scheduler, history: list[dict]) -> None:
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
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Safe load (``weights_only=True``); any problem is one HwsimError line."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise HwsimError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        unsafe = "weights_only" in str(exc) and "Unsupported global" in str(exc)
        why = "it holds objects that are not plain tensors or values; refusing to unpickle them" if unsafe else type(exc).__name__
        raise HwsimError(f"{path}: corrupt or unreadable checkpoint ({why})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise HwsimError(f"{path}: not an hwsim checkpoint (expected format {CHECKPOINT_FORMAT})")
    payload["path"] = path
    return payload


def run_config_of(payload: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(payload["config"])
    except Exception as exc:
        raise HwsimError(f"{payload.get('path')}: checkpoint config is invalid ({exc.__class__.__name__})") from None


def network_from_checkpoint(payload: dict[str, Any], device: str = "cpu"):
    from ..estimate import build_for_config

    run = run_config_of(payload)
    net = build_for_config(run.model, device="cpu")
    try:
        net.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise HwsimError(f"{payload.get('path')}: weights do not fit {run.model.arch}/{run.model.method} ({str(exc).splitlines()[0][:120]})") from None
    return net.to(device), run


# ---------------------------------------------------------------------------------------------
# the loop


def _datasets(run: RunConfig):
    from .data import load_dataset

    s, m = run.train, run.model
    if m.dataset is None:
        raise HwsimError(f"{m.name}: training needs a dataset in the model file")
    size = s.image_size or m.input_shape[1]
    train = load_dataset(m.dataset, "train", s.data_dir, image_size=size, seed=s.seed, limit=s.limit_train)
    test = load_dataset(m.dataset, "test", s.data_dir, image_size=size, seed=s.seed, limit=s.limit_test)
    return train, test


def boundary_accuracy(net, dataset, s: TrainSettings, limit: int, seed: int) -> tuple[float, float]:
    """Per-epoch check: CA at the clean boundary (lambda = 0) and PGD-7 RA (the paper's RA metric,
    whatever the training attack) at the robust one (lambda = 1); PGD-AT has a single point."""
    from .attacks import robust_accuracy

    x, y = dataset.tensors[0][:limit], dataset.tensors[1][:limit]
    batches = [(x[i : i + 256], y[i : i + 256]) for i in range(0, len(x), 256)]
    net.eval()
    net.set_condition(0.0)
    with torch.no_grad():
        ca = 100.0 * sum(int((net(bx.to(s.device)).argmax(1) == by.to(s.device)).sum()) for bx, by in batches) / len(x)
    net.set_condition(1.0)
    _, ra = robust_accuracy(net, batches, "pgd7", eps=s.eps, seed=seed, device=s.device)
    net.train()
    return ca, ra


def train_run(
    run: RunConfig,
    out_dir: Path | str = DEFAULT_RUNS_DIR,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> Path:
    """Train ``run`` into ``out_dir / run.name``; returns the run directory."""
    from tqdm.auto import tqdm

    from ..estimate import build_for_config
    from .data import default_augment, make_loader

    s = run.train
    run_dir = Path(out_dir) / run.name
    ckpt_path = run_dir / CHECKPOINT_NAME
    if ckpt_path.exists() and not resume:
        raise HwsimError(f"{ckpt_path}: run exists; pass --resume to continue it or choose another --name")
    train_set, test_set = _datasets(run)
    torch.manual_seed(s.seed)
    net = build_for_config(run.model, device="cpu").to(s.device)
    optimizer = make_optimizer(net, s)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.epochs)
    history: list[dict] = []
    start = 0
    if resume and ckpt_path.exists():
        payload = load_checkpoint(ckpt_path)
        stored = run_config_of(payload)
        if stored.model != run.model or stored.train.model_dump(exclude={"epochs"}) != s.model_dump(exclude={"epochs"}):
            raise HwsimError(f"{ckpt_path}: --resume with a different config than the checkpoint's")
        net.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        scheduler.T_max = s.epochs
        history, start = list(payload["history"]), int(payload["epoch"])
    augment = default_augment(run.model.dataset) if s.augment is None else s.augment
    _write_run_file(run_dir, run, history, status="running")

    epoch = start
    epochs_bar = tqdm(range(start, s.epochs), desc=run.name, unit="epoch", initial=start, total=s.epochs, disable=not progress)
    try:
        for epoch in epochs_bar:
            torch.manual_seed(s.seed * 100_003 + epoch)
            gen = torch.Generator().manual_seed(s.seed * 100_003 + epoch + 1)
            loader = make_loader(train_set, s.batch_size, train=True, augment=augment, seed=s.seed * 100_003 + epoch)
            bar = tqdm(loader, desc=f"epoch {epoch + 1}", unit="batch", disable=not progress, leave=False)
            t0, losses = time.perf_counter(), []
            for x, y in bar:
                if x.shape[0] < 2:
                    continue  # FLOAT needs two halves; a 1-image tail batch carries no signal
                losses.append(train_step(net, optimizer, x.to(s.device), y.to(s.device), s, gen))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
            epoch_time = time.perf_counter() - t0
            scheduler.step()
            ca, ra = boundary_accuracy(net, test_set, s, s.eval_limit, seed=s.seed)
            record = {
                "epoch": epoch + 1,
                "loss": sum(losses) / max(len(losses), 1),
                "lr": optimizer.param_groups[0]["lr"],
                "epoch_time_s": epoch_time,
                "clean_acc": ca,
                "robust_acc": ra,
            }
            history.append(record)
            save_checkpoint(ckpt_path, run, epoch + 1, net, optimizer, scheduler, history)
            _write_run_file(run_dir, run, history, status="running")
            epochs_bar.set_postfix(loss=f"{record['loss']:.3f}", CA=f"{ca:.1f}%", RA=f"{ra:.1f}%")
            if progress:
                tqdm.write(
                    f"{run.name} epoch {epoch + 1}/{s.epochs}: loss {record['loss']:.4f}  CA {ca:.2f}%  "
                    f"RA(PGD-7) {ra:.2f}%  {epoch_time:.1f}s"
                )
            if on_epoch is not None:
                on_epoch(record)
    except KeyboardInterrupt:
        epochs_bar.close()
        _write_run_file(run_dir, run, history, status=f"interrupted in epoch {epoch + 1}")
        raise HwsimError(
            f"interrupted in epoch {epoch + 1}; {len(history)} epochs are saved in {ckpt_path}, continue with --resume"
        ) from None
    epochs_bar.close()
    _write_run_file(run_dir, run, history, status="done")
    return run_dir


def _write_run_file(run_dir: Path, run: RunConfig, history: list[dict], status: str) -> None:
    data = {"status": status, "config": run.model_dump(mode="json", by_alias=True), "history": history}
    atomic_write_text(run_dir / RUN_FILE, json.dumps(data, indent=2) + "\n")


def read_run_file(run_dir: Path | str) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise HwsimError(f"{run_dir}: not a run directory (no {RUN_FILE})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HwsimError(f"{path}: corrupt run file ({exc})") from None
