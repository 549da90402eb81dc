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

from .conftest import MODELS, TINY_TRAIN, one_line_error

TINY = TINY_TRAIN


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
        (["evaluate", str(run_dir), "-o", str(run_dir / "run.json")], "which this command reads or writes"),
        (["evaluate", str(run_dir), "--attacks", "deepfool"], "unknown attack 'deepfool'"),
        (["evaluate", str(run_dir), "--lambdas", "0,x"], "cannot read --lambdas"),
        (["evaluate", str(run_dir), "--lambdas", "1.5"], "--lambdas.0: Input should be less than or equal to 1"),
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
    assert result.exit_code == 2 and "--checkpoint: Input should be 'last' or 'best'" in result.output


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


# ---------------------------------------------------------------------------------------------
# issue 8: bad input is one line naming the option / file / field, exit 2, nothing written outside --out-dir

TINY_ARGS = ["--epochs", "1", "--batch-size", "32", "--limit-train", "64", "--limit-test", "32", "--eval-limit", "32",
             "--image-size", "8", "-q"]  # fmt: skip
DIGITS = str(MODELS / "resnet20-digits-float.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny FLOAT run and one PGD-AT run on digits (1 epoch)."""
    root = tmp_path_factory.mktemp("runs")
    for model in ("float", "pgdat"):
        result = CliRunner().invoke(app, ["train", str(MODELS / f"resnet20-digits-{model}.yaml"), "--out-dir", str(root), "--name", model, *TINY_ARGS])  # fmt: skip
        assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--lr", "inf"], "--lr: Input should be a finite number"),
        (["--lr", "nan"], "--lr: Input should be a finite number"),
        (["--eps", "nan"], "--eps: Input should be a finite number"),
        (["--weight-decay", "inf"], "--weight-decay: Input should be a finite number"),
        (["--eval-lambda-th", "nan"], "--eval-lambda-th"),
        (["--seed", "-1"], "--seed: Input should be greater than or equal to 0"),
        (["--seed", str(2**64)], "--seed: Input should be less than 4294967296"),
        (["--oat-lambdas", "5,-3"], "--oat-lambdas.0: Input should be less than or equal to 1"),
        (["--oat-lambdas", ""], "--oat-lambdas: List should have at least 1 item"),
        (["--eval-lambdas", ""], "--eval-lambdas: List should have at least 1 item"),
        (["--batch-size", "-3"], "--batch-size: Input should be greater than 1"),
        (["--image-size", "100000"], "--image-size: Input should be less than or equal to 1024"),
        (["--device", "tpu"], "--device: use cpu, cuda or cuda:N (got 'tpu')"),
        (["--device", "cuda:x"], "--device: use cpu, cuda or cuda:N (got 'cuda:x')"),
        (["--amp"], "--amp needs a CUDA device"),
        (["--name", "../../x"], "--name: '../../x' is not a run name"),
        (["--name", "/tmp/abs"], "--name: '/tmp/abs' is not a run name"),
        (["--name", ".hidden"], "--name: '.hidden' is not a run name"),
        (["--name", "a" * 300], "--name: 'aaaa"),
    ],
)
def test_train_bad_options_are_one_line(tmp_path, options, fragment):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["train", DIGITS, "--out-dir", str(out), "--name", "r", *TINY_ARGS, *options])
    one_line_error(result, fragment)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing written, not even outside --out-dir


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only torch")
def test_cuda_on_a_cpu_torch_fails_before_the_data(tmp_path):
    # the README's paper command: the device is checked before the (missing) CIFAR-10 files, and before --amp
    args = ["train", str(MODELS / "resnet34-cifar10-float.yaml"), "--data-dir", str(tmp_path / "none"),
            "--device", "cuda", "--val-split", "5000", "--preset", "paper", "--amp", "--out-dir", str(tmp_path)]  # fmt: skip
    one_line_error(CliRunner().invoke(app, args), "--device cuda: no CUDA device is visible")
    one_line_error(CliRunner().invoke(app, [*args[:6], "--device", "cuda:1"]), "--device cuda:1")


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ("alpha_init: .nan", "alpha_init: Input should be a finite number"),
        ("num_classes: 3", "num_classes: 3 does not match data set digits (10 classes)"),
        ("num_classes: 1000000000000", "num_classes: Input should be less than or equal to 1048576"),
        ("input: {channels: 1, height: 8, width: 8}", "input.channels: 1 does not match data set digits"),
        ("input: {height: 100000, width: 100000}", "input.height: Input should be less than or equal to 16384"),
        ("name: /any/dir", "name: '/any/dir' is not a run name"),
        ("name: ../up", "name: '../up' is not a run name"),
    ],
)
def test_train_bad_model_files_are_one_line(tmp_path, extra, fragment):
    model = tmp_path / "m.yaml"
    model.write_text(f"arch: resnet20\nmethod: float\ndataset: digits\n{extra}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["train", str(model), "--out-dir", str(out), *TINY_ARGS])
    one_line_error(result, str(model), fragment)
    assert not out.exists()  # nothing written: in particular no run.json left saying "running"


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--batch-size", "0"], "--batch-size: Input should be greater than or equal to 1"),
        (["--batch-size", "-3"], "--batch-size: Input should be greater than or equal to 1"),
        (["--limit", "0"], "--limit: Input should be greater than or equal to 1"),
        (["--attacks", ""], "--attacks: List should have at least 1 item"),
        (["--attacks", "deepfool"], "--attacks: unknown attack 'deepfool'"),
        (["--lambdas", ""], "--lambdas: List should have at least 1 item"),
        (["--lambda-th", "nan"], "--lambda-th: Input should be a finite number"),
        (["--seed", str(2**64)], "--seed: Input should be less than 4294967296"),
        (["--device", "tpu"], "--device: use cpu, cuda or cuda:N"),
    ],
)
def test_evaluate_bad_options_are_one_line(trained, options, fragment):
    before = sorted(p.name for p in (trained / "float").iterdir())
    one_line_error(CliRunner().invoke(app, ["evaluate", str(trained / "float"), "-q", *options]), fragment)
    assert sorted(p.name for p in (trained / "float").iterdir()) == before  # no results written


def test_evaluate_pgdat_records_no_lambda_th(trained):
    result = CliRunner().invoke(app, ["evaluate", str(trained / "pgdat"), "--attacks", "fgsm", "--lambda-th", "0.5", "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "lambda_th is blank: the method has no lambda_n" in result.stdout
    assert all(p.lambda_th is None for p in read_results(trained / "pgdat").points)
    as_json = CliRunner().invoke(app, ["evaluate", str(trained / "pgdat"), "--attacks", "fgsm", "-q", "-f", "json"])
    assert [r["lambda_th"] for r in json.loads(as_json.stdout)["rows"]] == [None]


def test_damaged_checkpoint_and_run_files_are_one_line(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "float"
    shutil.copytree(trained / "float", run_dir)
    payload = load_checkpoint(run_dir)
    for field, command in [("epoch", ["evaluate", str(run_dir), "-q"]),
                           ("optimizer", ["train", DIGITS, "--out-dir", str(tmp_path), "--name", "float", "--resume", *TINY_ARGS])]:  # fmt: skip
        torch.save({k: v for k, v in payload.items() if k not in ("path", field)}, run_dir / "checkpoint.pt")
        one_line_error(CliRunner().invoke(app, command), "checkpoint.pt: damaged checkpoint", f"'{field}' is missing")
    torch.save({k: v for k, v in payload.items() if k != "path"}, run_dir / "checkpoint.pt")
    assert CliRunner().invoke(app, ["evaluate", str(run_dir), "--attacks", "fgsm", "-q"]).exit_code == 0
    (run_dir / "run.json").write_text("[1, 2]")
    for command in (["evaluate", str(run_dir), "-q", "--attacks", "fgsm"], ["report", str(run_dir), "--out-dir", str(tmp_path / "r")],
                    ["train", DIGITS, "--out-dir", str(tmp_path), "--name", "float", "--resume", *TINY_ARGS]):  # fmt: skip
        one_line_error(CliRunner().invoke(app, command), "run.json: corrupt run file")


def test_report_refuses_out_of_range_results_and_symlink_loops(trained, tmp_path):
    import shutil

    run_dir = tmp_path / "float"
    shutil.copytree(trained / "float", run_dir)
    assert CliRunner().invoke(app, ["evaluate", str(run_dir), "--attacks", "fgsm", "-q"]).exit_code == 0
    data = json.loads((run_dir / "results.json").read_text())
    data["points"][0]["lam"] = 5
    (run_dir / "results.json").write_text(json.dumps(data))
    one_line_error(CliRunner().invoke(app, ["report", str(run_dir), "--out-dir", str(tmp_path / "r")]), "results.json: points.0.lam")  # fmt: skip
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    one_line_error(CliRunner().invoke(app, ["report", str(loop), "--out-dir", str(tmp_path / "r")]), "symlink loop")
    one_line_error(CliRunner().invoke(app, ["train", DIGITS, "--out-dir", str(tmp_path), "--name", "loop", *TINY_ARGS]), "symlink")  # fmt: skip


def test_non_finite_loss_stops_keeping_the_last_good_checkpoint(tmp_path, monkeypatch):
    import hwsim.runner.train as train_module

    result = CliRunner().invoke(app, ["train", DIGITS, "--out-dir", str(tmp_path), "--name", "hot", "--lr", "1000",
                                      *TINY_ARGS[:-1], "--limit-train", "640", "-q"])  # fmt: skip
    line = one_line_error(result, "epoch 1, step", "the loss is nan", "the learning rate 1000 is likely too high")
    assert "no epoch finished, so no checkpoint was written" in line
    data = json.loads((tmp_path / "hot" / "run.json").read_text())
    assert data["status"] == "failed" and data["reason"] == line.removeprefix("error: ")
    assert not (tmp_path / "hot" / "checkpoint.pt").exists()

    real = train_module.train_step
    calls = []

    def nan_in_epoch_2(*args, **kwargs):  # the loss turns nan at the 2nd step of the 2nd epoch
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == 4 else loss

    monkeypatch.setattr(train_module, "train_step", nan_in_epoch_2)
    with pytest.raises(
        HwsimError, match=r"epoch 2, step 2: the loss is nan; .*the last good checkpoint \(epoch 1\) is kept"
    ):
        train_run(tiny_run("float", name="late", epochs=3), tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "late")["epoch"] == 1
    assert all(
        torch.isfinite(v).all() for v in load_checkpoint(tmp_path / "late")["model"].values() if v.is_floating_point()
    )
    assert json.loads((tmp_path / "late" / "run.json").read_text())["status"] == "failed"


def test_a_crash_records_failed(tmp_path, monkeypatch):
    import hwsim.runner.train as train_module

    def boom(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(train_module, "train_step", boom)
    with pytest.raises(ValueError, match="boom"):
        train_run(tiny_run("pgdat", name="crash"), tmp_path, progress=False)
    data = json.loads((tmp_path / "crash" / "run.json").read_text())
    assert data["status"] == "failed" and data["reason"] == "epoch 1: ValueError: boom"


def test_stale_running_status_reads_as_interrupted(trained, tmp_path):
    import shutil
    import subprocess
    import sys

    run_dir = tmp_path / "float"
    shutil.copytree(trained / "float", run_dir)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    data = json.loads((run_dir / "run.json").read_text())
    from hwsim.runfiles import owner, run_status

    assert run_status({**data, "status": "running", "trainer": owner()}) == "running"  # this process is alive
    data.update(status="running", trainer={**owner(), "pid": int(gone.stdout)})  # as after kill -9
    (run_dir / "run.json").write_text(json.dumps(data))
    assert run_status(data) == "interrupted"
    # evaluate: works on the last checkpoint and says so in one stderr line
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), "--attacks", "fgsm", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        "warning: run float was interrupted at epoch 1 (run.json says running, its process is gone); evaluating its "
        "last checkpoint (epoch 1); continue training with 'hwsim train ... --resume'"
    )
    # report: the status column and one warning line
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out-dir", str(tmp_path / "r"), "--no-plots", "-f", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in json.loads(result.stdout)["rows"]} == {"interrupted"}
    assert "training was interrupted after epoch 1" in result.stderr
    # train without --resume: refused, naming the state; with --resume: continues and rewrites the status
    args = ["train", DIGITS, "--out-dir", str(tmp_path), "--name", "float", *TINY_ARGS]
    one_line_error(CliRunner().invoke(app, args), "run exists (interrupted after epoch 1); pass --resume")
    result = CliRunner().invoke(app, [*args, "--resume", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    # a run another live process trains is refused
    data = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**data, "status": "running", "trainer": owner()}))
    one_line_error(CliRunner().invoke(app, [*args, "--resume", "--epochs", "3"]), "the run is being trained now")


def test_long_evaluations_print_a_time_estimate_unless_quiet(trained, monkeypatch):
    import hwsim.runner.evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "ESTIMATE_AFTER_S", 0.0)  # every evaluation counts as long
    args = ["evaluate", str(trained / "float"), "--attacks", "fgsm", "--lambdas", "0,1", "--limit", "16"]
    loud = CliRunner().invoke(app, args)
    assert loud.exit_code == 0 and "fgsm: about 0 min for 16 images x 2 lambda(s)" in loud.stderr
    quiet = CliRunner().invoke(app, [*args, "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
