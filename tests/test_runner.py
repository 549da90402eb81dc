"""Runner: training steps, OAT sampling, checkpoints, resume, determinism, evaluation, CLI."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import ModelConfig
from hwsim.errors import HwsimError
from hwsim.nets import build_network
from hwsim.runner.evaluate import evaluate_checkpoint, read_results
from hwsim.runner.train import (
    RunConfig,
    TrainSettings,
    load_checkpoint,
    make_optimizer,
    run_config_of,
    sample_oat_lambdas,
    train_run,
    train_step,
    training_loss,
)

from .conftest import MODELS

TINY = dict(batch_size=32, limit_train=64, limit_test=32, eval_limit=32, image_size=8, lr=0.05)


def tiny_run(method, name=None, **overrides):
    model = ModelConfig(
        arch="resnet20", method=method, dataset="digits", input={"height": 8, "width": 8}, num_classes=10
    )
    return RunConfig(name=name or f"t-{method}", model=model, train=TrainSettings(**{**TINY, "epochs": 2, **overrides}))


@pytest.mark.parametrize("method", ["pgdat", "oat", "float"])
def test_training_steps_lower_the_loss_on_a_fixed_batch(method):
    torch.manual_seed(0)
    net = build_network("resnet20", method, 10, dual_bn=method != "pgdat")
    settings = TrainSettings(lr=0.05, attack_steps=3)
    x, y = torch.rand(16, 3, 8, 8), torch.arange(16) % 10
    opt = make_optimizer(net, settings)

    def measured_loss():
        torch.manual_seed(123)
        net.train()
        return training_loss(net, x, y, settings, torch.Generator().manual_seed(5)).item()

    before = measured_loss()
    for _ in range(5):
        train_step(net, opt, x, y, settings, torch.Generator().manual_seed(5))
    assert measured_loss() < before


def test_float_alphas_get_no_weight_decay():
    net = build_network("resnet20", "float")
    groups = make_optimizer(net, TrainSettings()).param_groups
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert len(groups[1]["params"]) == 21 and all(p.ndim == 0 for p in groups[1]["params"])


def test_oat_lambda_sampling():
    choices = [0.0, 0.1, 0.2, 0.3, 0.4, 1.0]
    lam = sample_oat_lambdas(128, choices, torch.Generator().manual_seed(0))
    n_zero = math.ceil(128 / 6)
    assert (lam[:n_zero] == 0).all() and (lam[n_zero:] > 0).all()
    drawn = {round(v, 4) for v in lam[n_zero:].tolist()}
    assert drawn == {0.1, 0.2, 0.3, 0.4, 1.0}  # only, and all, the non-zero values of S
    again = sample_oat_lambdas(128, choices, torch.Generator().manual_seed(0))
    assert torch.equal(lam, again)


def _weights(run_dir):
    return load_checkpoint(run_dir)["model"]


def _losses(run_dir):
    return [
        (h["loss"], h["clean_acc"], h["robust_acc"]) for h in json.loads((run_dir / "run.json").read_text())["history"]
    ]


def test_same_seed_same_numbers_and_resume_matches_uninterrupted(tmp_path):
    full = train_run(tiny_run("float", "full"), tmp_path, progress=False)
    twin = train_run(tiny_run("float", "twin"), tmp_path / "b", progress=False)
    assert _losses(full) == _losses(twin)

    def interrupt(record):
        raise KeyboardInterrupt

    with pytest.raises(HwsimError, match="continue with --resume"):
        train_run(tiny_run("float", "cut"), tmp_path, progress=False, on_epoch=interrupt)
    cut = tmp_path / "cut"
    assert load_checkpoint(cut)["epoch"] == 1
    assert json.loads((cut / "run.json").read_text())["status"] == "interrupted in epoch 1"
    with pytest.raises(HwsimError, match="pass --resume"):
        train_run(tiny_run("float", "cut"), tmp_path, progress=False)
    train_run(tiny_run("float", "cut"), tmp_path, resume=True, progress=False)
    assert _losses(cut) == _losses(full)
    for key, tensor in _weights(full).items():
        assert torch.equal(tensor, _weights(cut)[key]), key
    payload = load_checkpoint(cut)
    assert payload["config"]["train"]["seed"] == 0 and payload["hwsim_version"]
    with pytest.raises(HwsimError, match="different config"):
        train_run(tiny_run("float", "cut", lr=0.2), tmp_path, resume=True, progress=False)


def test_corrupt_missing_and_unsafe_checkpoints(tmp_path):
    with pytest.raises(HwsimError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04garbage")
    with pytest.raises(HwsimError, match="corrupt or unreadable"):
        load_checkpoint(bad)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "hwsim-checkpoint-v1", "x": Evil()}, unsafe)
    with pytest.raises(HwsimError, match="refusing to unpickle"):
        load_checkpoint(unsafe)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(HwsimError, match="not an hwsim checkpoint"):
        load_checkpoint(plain)
    # an invalid stored config: one line with pydantic's field path, also through the CLI
    config = tiny_run("float").model_dump(mode="json", by_alias=True)
    config["train"]["epochs"] = 0
    invalid = tmp_path / "invalid.pt"
    torch.save({"format": "hwsim-checkpoint-v1", "config": config, "epoch": 1, "model": {}}, invalid)
    expected = f"{invalid}: config.train.epochs: Input should be greater than 0 (got 0)"
    with pytest.raises(HwsimError) as info:
        run_config_of(load_checkpoint(invalid))
    assert str(info.value) == expected
    result = CliRunner().invoke(app, ["evaluate", str(invalid), "-q"])
    assert result.exit_code == 2 and result.stderr == f"error: {expected}\n" and "Traceback" not in result.output


def test_evaluate_writes_results_per_lambda(tmp_path):
    run_dir = train_run(tiny_run("float", epochs=1), tmp_path, progress=False)
    res = evaluate_checkpoint(run_dir, lambdas=[0.0, 1.0], lambda_th=0.5, attacks=["fgsm", "pgd7"], progress=False)
    assert [(p.lam, p.attack) for p in res.points] == [(0.0, "fgsm"), (0.0, "pgd7"), (1.0, "fgsm"), (1.0, "pgd7")]
    assert all(p.images == 32 and 0 <= p.robust_acc <= 100 for p in res.points)
    # lambda_n = 0: clean weights, so the clean accuracy is the same for both attacks
    assert res.points[0].clean_acc == res.points[1].clean_acc
    again = evaluate_checkpoint(run_dir, lambdas=[0.0, 1.0], lambda_th=0.5, attacks=["fgsm", "pgd7"], progress=False)
    assert [p.robust_acc for p in again.points] == [p.robust_acc for p in res.points]  # seeded
    stored = read_results(run_dir)
    assert len(stored.points) == 4 and (run_dir / "results.csv").read_text().startswith("run,method,lam")
    plain = train_run(tiny_run("pgdat", epochs=1), tmp_path, progress=False)
    single = evaluate_checkpoint(plain, lambdas=[0.0, 0.2, 1.0], attacks=["fgsm"], progress=False)
    assert [p.lam for p in single.points] == [0.5]  # PGD-AT: its one training lambda


def test_cli_train_evaluate_and_errors(tmp_path):
    runner = CliRunner()
    args = ["train", str(MODELS / "resnet20-digits-oat.yaml"), "--out-dir", str(tmp_path), "--epochs", "1", "--batch-size", "32",
            "--limit-train", "64", "--limit-test", "32", "--eval-limit", "32", "--image-size", "8", "-q"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "resnet20-digits-oat"
    result = runner.invoke(app, ["evaluate", str(run_dir), "--lambdas", "0,1", "--attacks", "fgsm", "-q", "-f", "csv"])
    assert result.exit_code == 0 and result.output.count("resnet20-digits-oat,oat") == 2
    table = tmp_path / "eval" / "oat.csv"  # -o: the printed table goes to a file instead
    written = runner.invoke(
        app, ["evaluate", str(run_dir), "--lambdas", "0,1", "--attacks", "fgsm", "-q", "-f", "csv", "-o", str(table)]
    )
    assert written.exit_code == 0 and written.stdout == "" and table.read_text() == result.stdout
    for bad, fragment in [
        (["evaluate", str(run_dir), "--attacks", "deepfool"], "unknown attack 'deepfool'"),
        (["evaluate", str(run_dir), "--lambdas", "0,x"], "cannot read --lambdas"),
        (["evaluate", str(run_dir), "--lambdas", "1.5"], "must lie in [0, 1]"),
        (["evaluate", str(tmp_path / "nope")], "no such checkpoint"),
        (["train", str(MODELS / "resnet20-digits-oat.yaml"), "--batch-size", "0"], "--batch-size"),
        (
            [
                "train",
                str(MODELS / "resnet34-cifar10-float.yaml"),
                "--data-dir",
                str(tmp_path),
                "--out-dir",
                str(tmp_path),
            ],
            "cifar10",
        ),
    ]:
        result = runner.invoke(app, bad)
        assert result.exit_code == 2, (bad, result.output)
        assert fragment in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_best_checkpoint_per_lambda_is_the_best_held_out_ra_epoch(tmp_path):
    run_dir = train_run(tiny_run("float", epochs=3, eval_lambdas=[0.0, 1.0], val_split=32), tmp_path, progress=False)
    payload = load_checkpoint(run_dir)
    history = payload["history"]
    assert all(h["eval_set"] == "val" and [p["lam"] for p in h["eval"]] == [0.0, 1.0] for h in history)
    for i, lam in enumerate([0.0, 1.0]):
        ras = [h["eval"][i]["robust_acc"] for h in history]
        best_epoch = max(e for e, ra in enumerate(ras, 1) if ra == max(ras))  # ties: the later epoch, as OAT.py
        assert payload["best"][f"{lam:g}"]["epoch"] == best_epoch
        assert payload["best"][f"{lam:g}"]["robust_acc"] == max(ras)
    res = evaluate_checkpoint(run_dir, lambdas=[0.0, 1.0], attacks=["fgsm"], progress=False, checkpoint_kind="best")
    assert [p.epoch for p in res.points] == [payload["best"]["0"]["epoch"], payload["best"]["1"]["epoch"]]
    evaluate_checkpoint(run_dir, lambdas=[0.0, 1.0], attacks=["fgsm"], progress=False)  # last: merged, not replaced
    assert sorted({(p.checkpoint, p.lam) for p in read_results(run_dir).points}) == [
        ("best", 0.0),
        ("best", 1.0),
        ("last", 0.0),
        ("last", 1.0),
    ]
    with pytest.raises(HwsimError, match=r"no best checkpoint for lambda 0.5; the run kept them for lambda 0, 1"):
        evaluate_checkpoint(run_dir, lambdas=[0.5], attacks=["fgsm"], progress=False, checkpoint_kind="best")


def test_val_split_holds_out_the_last_training_images():
    from hwsim.runner.train import _datasets

    run = tiny_run("pgdat", val_split=40, limit_train=None, eval_limit=1000)
    train, held_out, test = _datasets(run)
    full = _datasets(tiny_run("pgdat", limit_train=None))[0]
    n = len(full)
    assert len(train) == n - 40 and len(held_out) == 40
    assert torch.equal(held_out.tensors[0], full.tensors[0][n - 40 :])
    assert torch.equal(train.tensors[0], full.tensors[0][: n - 40])
    with pytest.raises(HwsimError, match="--val-split 5000: the training set has only"):
        _datasets(tiny_run("pgdat", val_split=5000, limit_train=None))


def test_best_request_on_a_run_without_best_checkpoints_is_one_line(tmp_path):
    run_dir = train_run(tiny_run("oat", epochs=1), tmp_path, progress=False)
    payload = load_checkpoint(run_dir)
    old = dict(payload)
    old.pop("best")  # a checkpoint written before hwsim kept best checkpoints
    torch.save({k: v for k, v in old.items() if k != "path"}, run_dir / "checkpoint.pt")
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--checkpoint", "best", "--attacks", "fgsm", "-q"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "the run has no best checkpoints" in result.output and "--checkpoint last" in result.output
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--checkpoint", "newest", "-q"])
    assert result.exit_code == 2 and "--checkpoint: use last or best" in result.output


def test_paper_preset():
    from hwsim.runner.train import PAPER_OAT_LAMBDAS, apply_preset

    wrn = ModelConfig(arch="wrn16_8", method="oat", dataset="svhn")
    model, values = apply_preset(wrn, {"epochs": 3}, "paper")
    assert values == {"epochs": 3, "oat_lambdas": [0.0, 0.2, 0.7, 1.0], "preset": "paper"} and PAPER_OAT_LAMBDAS == [
        0.0,
        0.2,
        0.7,
        1.0,
    ]
    assert model.dropout == 0.3 and wrn.dropout == 0.0
    r20 = ModelConfig(arch="resnet20", method="oat", dataset="digits")
    assert apply_preset(r20, {}, "paper")[0].dropout == 0.0
    with pytest.raises(HwsimError, match="--preset: unknown 'fast'"):
        apply_preset(r20, {}, "fast")
