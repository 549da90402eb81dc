"""DDP: 2 processes on the CPU (gloo), launched by torchrun exactly as the README says.

The reference for the DDP weights is a single process that computes the same global batch as the
two ranks together: per step, each rank's shard with that rank's seeds and BN statistics (as DDP
computes them), the gradients of the per-rank mean losses averaged, BN running statistics averaged.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from hwsim.runner.train import (
    _datasets,
    epoch_loader,
    load_checkpoint,
    make_optimizer,
    rank_seed,
    run_config_of,
    training_loss,
)

from .conftest import MODELS

WORLD = 2
TINY = ["--epochs", "2", "--batch-size", "8", "--limit-train", "64", "--limit-test", "32", "--eval-limit", "32",
        "--image-size", "8", "--lr", "0.05", "--eval-lambdas", "0,1", "-q"]  # fmt: skip


def torchrun(out_dir, name, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           "-m", "hwsim.cli", "train", str(MODELS / "resnet20-digits-float.yaml"), "--out-dir", str(out_dir),
           "--name", name, *TINY, *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out_dir / name, done


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    return torchrun(tmp_path_factory.mktemp("ddp"), "float-ddp")


def emulate(run, world: int = WORLD) -> dict[str, torch.Tensor]:
    """Single process, same global batch: rank shards with per-rank seeds and BN batch statistics."""
    from hwsim.estimate import build_for_config

    s = run.train
    train_set, _, _ = _datasets(run)
    torch.manual_seed(s.seed)
    net = build_for_config(run.model, device="cpu")
    optimizer = make_optimizer(net, s)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.epochs)
    buffers = dict(net.named_buffers())
    for epoch in range(s.epochs):
        rng, gens, loaders = [], [], []
        for rank in range(world):
            torch.manual_seed(rank_seed(s.seed, epoch, rank))
            rng.append(torch.get_rng_state())
            gens.append(torch.Generator().manual_seed(rank_seed(s.seed, epoch, rank) + 1))
            loaders.append(epoch_loader(train_set, s, epoch, rank, world, augment=False))
        for shards in zip(*loaders):
            saved = {k: b.clone() for k, b in buffers.items()}
            optimizer.zero_grad()
            after = []
            for rank, (x, y) in enumerate(shards):
                for k, b in buffers.items():
                    b.copy_(saved[k])
                torch.set_rng_state(rng[rank])
                net.train()
                (training_loss(net, x, y, s, gens[rank]) / world).backward()
                rng[rank] = torch.get_rng_state()
                after.append({k: b.clone() for k, b in buffers.items()})
            optimizer.step()
            for k, b in buffers.items():
                b.copy_(sum(a[k] for a in after) / world if b.is_floating_point() else after[0][k])
        scheduler.step()
    return net.state_dict()


def test_ddp_weights_equal_a_single_process_on_the_same_global_batch(ddp_run):
    run_dir, _ = ddp_run
    payload = load_checkpoint(run_dir)
    run = run_config_of(payload)
    assert run.train.world_size == WORLD and payload["epoch"] == 2
    steps = (64 // (8 * WORLD)) * 2
    assert steps == 8
    reference = emulate(run)
    for key, value in payload["model"].items():
        assert torch.allclose(value.float(), reference[key].float(), rtol=1e-4, atol=1e-5), key
    # and the model really trained: weights moved away from the seeded initialisation
    torch.manual_seed(run.train.seed)
    from hwsim.estimate import build_for_config

    init = build_for_config(run.model, device="cpu").state_dict()
    assert not torch.allclose(payload["model"]["conv1.weight"], init["conv1.weight"])


def test_ddp_resume_equals_uninterrupted(ddp_run, tmp_path):
    full_dir, _ = ddp_run
    cut_dir, first = torchrun(tmp_path, "float-ddp", "--stop-after", "1")
    assert load_checkpoint(cut_dir)["epoch"] == 1 and "stopped after epoch 1 of 2" in (cut_dir / "run.json").read_text()
    assert first.stderr.count("trained float-ddp") == 1  # rank 0 speaks for the run
    torchrun(tmp_path, "float-ddp", "--resume")
    full, cut = load_checkpoint(full_dir), load_checkpoint(cut_dir)
    assert [h["loss"] for h in cut["history"]] == [h["loss"] for h in full["history"]]
    for key, value in full["model"].items():
        assert torch.equal(value, cut["model"][key]), key
    assert cut["best"] == full["best"]


def test_nproc_launches_torchrun(tmp_path):
    """hwsim train --nproc 2 starts torchrun itself; the run is the same as a torchrun-launched one."""
    cmd = [sys.executable, "-m", "hwsim.cli", "train", str(MODELS / "resnet20-digits-float.yaml"), "--out-dir", str(tmp_path),
           "--name", "via-nproc", "--nproc", "2", *TINY, "--epochs", "1"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert run_config_of(load_checkpoint(tmp_path / "via-nproc")).train.world_size == 2


def test_nproc_inside_torchrun_and_amp_on_cpu_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from hwsim.cli import app

    base = ["train", str(MODELS / "resnet20-digits-float.yaml"), "--out-dir", str(tmp_path), *TINY]
    torchrun_env = {
        "RANK": "0",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
    }
    for args, env, expected in [
        (
            [*base, "--nproc", "2"],
            torchrun_env,
            "error: --nproc inside a torchrun-launched process: torchrun already started the processes; drop --nproc",
        ),
        ([*base, "--nproc", "0"], {}, "error: --nproc must be >= 1, got 0"),
        ([*base, "--amp"], {}, "error: --amp needs a CUDA device (--device cuda), not --device cpu"),
    ]:
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 2 and result.output.strip() == expected, result.output
