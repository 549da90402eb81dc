"""Issue 18: the declared divergences from the authors' training code, each a named option whose
default keeps hwsim's (the paper's) behaviour and whose other value is the reference's.

References: shunlinlu/FLOAT_v2 (``OAT_sparse.py``, ``attacks/pgd.py``, ``models/noise_layer.py``,
``models/cifar10/resnet_OAT_mask.py``) and VITA-Group/Once-for-All-Adversarial-Training (``OAT.py``,
``utils/sample_lambda.py``).
"""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.nets import build_network
from hwsim.runner.train import TrainSettings, make_optimizer, train_step

from .conftest import MODELS

B = 8


def _float_net(seed: int = 0):
    torch.manual_seed(seed)
    return build_network("resnet20", "float", 10, dual_bn=True)


# ---------------------------------------------------------------------------------------------
# 1. weight decay on FLOAT's alphas (FLOAT_v2 OAT_sparse.py:170: SGD over model.parameters())


@pytest.mark.parametrize("decayed, alpha_wd", [(False, 0.0), (True, 5e-4)])
def test_alpha_weight_decay_sets_the_alpha_group(decayed, alpha_wd):
    net = _float_net()
    groups = make_optimizer(net, TrainSettings(alpha_weight_decay=decayed)).param_groups
    assert [g["weight_decay"] for g in groups] == [5e-4, alpha_wd]
    assert [id(p) for p in groups[1]["params"]] == [id(a) for a in net.alphas()]  # the same 21 scalars either way


def test_alpha_weight_decay_with_zero_gradient_moves_alpha_by_the_decay_term_only():
    net = _float_net()
    s = TrainSettings(alpha_weight_decay=True, lr=0.1, weight_decay=5e-4)
    opt = make_optimizer(net, s)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    before = [a.detach().clone() for a in net.alphas()]
    opt.step()
    # SGD, first step: buf = g + wd * p = wd * p; p <- p - lr * buf = 0.25 * (1 - 0.1 * 5e-4)
    for a, b in zip(net.alphas(), before):
        assert b.item() == 0.25
        assert a.item() == pytest.approx(0.25 * (1 - 0.1 * 5e-4), rel=0, abs=1e-8)  # float32
    plain = _float_net()
    opt = make_optimizer(plain, TrainSettings(lr=0.1))
    for p in plain.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert all(a.item() == 0.25 for a in plain.alphas())  # default: no decay on alpha


def test_alpha_weight_decay_changes_only_the_alphas_of_a_training_step():
    """One full FLOAT step from the same weights and seed: every parameter but the alphas ends up
    bit-identical; each alpha differs by exactly lr * wd * alpha_0 (same gradient, momentum buffer
    empty on the first step)."""
    x, y = torch.rand(B, 3, 8, 8), torch.arange(B) % 10
    after = {}
    for decayed in (False, True):
        net = _float_net()
        s = TrainSettings(alpha_weight_decay=decayed, lr=0.05, attack_steps=2)
        torch.manual_seed(7)
        train_step(net, make_optimizer(net, s), x, y, s, torch.Generator().manual_seed(1))
        after[decayed] = dict(net.named_parameters())
    for name, p in after[False].items():
        q = after[True][name]
        if name.endswith("alpha"):
            assert (p - q).item() == pytest.approx(0.05 * 5e-4 * 0.25, abs=1e-7), name  # float32 ulp at 0.25: 3e-8
        else:
            assert torch.equal(p, q), name


def test_alpha_weight_decay_cli_flag_reaches_run_json(tmp_path):
    import json

    args = ["train", str(MODELS / "resnet20-digits-float.yaml"), "--out-dir", str(tmp_path), "--epochs", "1",
            "--batch-size", "16", "--limit-train", "32", "--limit-test", "16", "--eval-limit", "16",
            "--image-size", "8", "--attack-steps", "1", "--eval-lambdas", "1", "-q", "--alpha-weight-decay"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "resnet20-digits-float" / "run.json").read_text())
    assert run["config"]["train"]["alpha_weight_decay"] is True


def test_old_run_config_without_the_new_fields_loads_with_the_defaults():
    from hwsim.runfiles import parse_run_config

    stored = {
        "name": "old",
        "model": {"arch": "resnet20", "method": "float", "dataset": "digits"},
        "train": {"epochs": 3},
    }
    run = parse_run_config(stored, "run.json")
    assert run.train.alpha_weight_decay is False
