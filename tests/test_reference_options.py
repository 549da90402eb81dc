"""Issue 18: the declared divergences from the authors' training code, each a named option whose
default keeps hwsim's (the paper's) behaviour and whose other value is the reference's.

References: shunlinlu/FLOAT_v2 (``OAT_sparse.py``, ``attacks/pgd.py``, ``models/noise_layer.py``,
``models/cifar10/resnet_OAT_mask.py``) and VITA-Group/Once-for-All-Adversarial-Training (``OAT.py``,
``utils/sample_lambda.py``).
"""

from __future__ import annotations

import math

import numpy as np
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
    assert run.train.alpha_weight_decay is False and run.train.eval_attack_condition == "evaluated"
    assert run.model.film_encoding is None and run.model.float_variant == "noise"
    from hwsim.runfiles import AccuracyPoint

    old_point = {"lam": 0.0, "lambda_th": 0.0, "attack": "pgd7", "clean_acc": 50.0, "robust_acc": 10.0, "images": 8}
    assert AccuracyPoint.model_validate(old_point).attack_condition == "evaluated"


# ---------------------------------------------------------------------------------------------
# 2. the evaluation attack's condition (FLOAT_v2 OAT_sparse.py:343-367, attacks/pgd.py:64)


def _record_states(net):
    """Every top-level forward: (BN choice, noise scale, lam, does the input need a gradient?)."""
    calls = []

    def hook(module, args):
        st = module.state
        calls.append((st.bn, st.noise_scale, float(st.lam), args[0].requires_grad))

    return calls, net.register_forward_pre_hook(hook)


STEPS = 7  # the per-epoch / default evaluation attack is PGD-7: 7 forwards


def _expected(bn, noise, attack_noise, robust_noise, lam):
    """One batch: the clean forward, the attack's 7 (input gradient on), the scoring forward."""
    return [(bn, noise, lam, False)] + [(bn, attack_noise, lam, True)] * STEPS + [(bn, robust_noise, lam, False)]


# (lambda_n, its BN, its noise scale at lambda_th 0, then FLOAT_v2's attack / scoring noise)
FLOAT_V2_ROWS = [(0.0, "clean", 0.0, 1.0, 0.0), (0.2, "adv", 0.2, 1.0, 1.0), (1.0, "adv", 1.0, 1.0, 1.0)]


@pytest.mark.parametrize("condition", ["evaluated", "float_v2"])
def test_held_out_attack_runs_at_the_chosen_condition(condition):
    from torch.utils.data import TensorDataset

    from hwsim.runner import ddp
    from hwsim.runner.train import held_out_accuracy

    net = _float_net()
    data = TensorDataset(torch.rand(4, 3, 8, 8), torch.arange(4) % 10)
    s = TrainSettings(eval_lambdas=[0.0, 0.2, 1.0], eval_attack_condition=condition)
    calls, handle = _record_states(net)
    held_out_accuracy(net, data, s, ddp.Dist(), batch_size=4)
    handle.remove()
    expected = []
    for lam, bn, noise, attack_noise, robust_noise in FLOAT_V2_ROWS:
        if condition == "evaluated":
            attack_noise = robust_noise = noise
        expected += _expected(bn, noise, attack_noise, robust_noise, lam)
    assert calls == expected
    assert net.state.noise_scale == 1.0 and net.state.bn == "adv"  # the last condition, restored after each phase


def test_float_v2_phases_reimplemented_by_hand_give_the_same_counts():
    """batch_correct with FLOAT_v2's phases = the reference's validation step written out here: clean
    logits at the evaluated condition, PGD-7 on the model at noise 1 with the evaluated BN, scoring at
    noise 1 (lambda_n > 0)."""
    from hwsim.runner.attacks import batch_correct, pgd_attack, pgd_step_size, seeded_rng
    from hwsim.runner.train import eval_attack_phases

    net = _float_net().eval()
    x, y = torch.rand(6, 3, 8, 8), torch.arange(6) % 10
    net.set_condition(0.2)
    got = batch_correct(net, x, y, "pgd7", eps=8 / 255, seed=3, phases=eval_attack_phases(net, "float_v2"))
    with seeded_rng(3, "cpu"), torch.no_grad():
        net.set_state(lam=0.2, bn="adv", noise_scale=0.2)
        clean = int((net(x).argmax(1) == y).sum())
        with seeded_rng(3, "cpu"):
            net.set_state(lam=0.2, bn="adv", noise_scale=1.0)
            with torch.enable_grad():
                x_adv = pgd_attack(net, x, y, eps=8 / 255, steps=7, step_size=pgd_step_size(8 / 255, 7),
                                   generator=torch.Generator().manual_seed(3))  # fmt: skip
        robust = int((net(x_adv).argmax(1) == y).sum())
    assert got == (clean, robust)


def test_evaluate_attack_condition_is_applied_and_recorded(tmp_path, monkeypatch):
    import hwsim.runner.evaluate as evaluate_mod
    from hwsim.runner.evaluate import evaluate_checkpoint
    from hwsim.runner.train import train_run

    from .conftest import tiny_run as conf_tiny_run

    model = _digits_model("float")
    run_dir = train_run(
        conf_tiny_run("f", model, epochs=1, attack_steps=1, eval_lambdas=[1.0]), tmp_path, progress=False
    )
    recorded = {}
    original = evaluate_mod.network_from_checkpoint

    def spying(payload, device="cpu"):
        net, run = original(payload, device)
        recorded["calls"], _ = _record_states(net)
        return net, run

    monkeypatch.setattr(evaluate_mod, "network_from_checkpoint", spying)
    res = evaluate_checkpoint(
        run_dir, lambdas=[0.0], limit=8, batch_size=8, attack_condition="float_v2", progress=False
    )
    assert recorded["calls"] == _expected("clean", 0.0, 1.0, 0.0, 0.0)  # a transfer attack at lambda_n = 0
    assert [p.attack_condition for p in res.points] == ["float_v2"]
    evaluate_checkpoint(run_dir, lambdas=[0.0], limit=8, batch_size=8, progress=False)
    stored = evaluate_mod.read_results(run_dir)  # both kept: the condition is part of a point's key
    assert sorted(p.attack_condition for p in stored.points) == ["evaluated", "float_v2"]
    assert sorted(stored.frame()["attack_condition"]) == ["evaluated", "float_v2"]
    today = [p for p in stored.points if p.attack_condition == "evaluated"]
    assert "attack_condition" not in stored.model_copy(update={"points": today}).frame()  # today's tables: as before


def _digits_model(method: str, **fields):
    from hwsim.config import ModelConfig

    return ModelConfig(arch="resnet20", method=method, dataset="digits", input={"height": 8, "width": 8}, **fields)


def test_float_v2_attack_condition_refused_for_methods_without_noise(tmp_path):
    from hwsim.errors import HwsimError
    from hwsim.runner.train import train_run

    from .conftest import one_line_error
    from .conftest import tiny_run as conf_tiny_run

    with pytest.raises(HwsimError, match="--eval-attack-condition float_v2: .*OAT has none"):
        train_run(conf_tiny_run("o", _digits_model("oat"), eval_attack_condition="float_v2"), tmp_path, progress=False)
    result = CliRunner().invoke(
        app, ["train", str(MODELS / "resnet20-digits-float.yaml"), "--eval-attack-condition", "lambda1"]
    )
    one_line_error(result, "--eval-attack-condition", "'evaluated' or 'float_v2'")


# ---------------------------------------------------------------------------------------------
# 4. OAT's lambda encoding (OAT.py:44-45, 103-116, 245-251; utils/sample_lambda.py:35-42)


def test_dct_matrix_is_scipys_dct_of_the_identity():
    from hwsim.nets.conditioning import dct_matrix, encoding_matrix

    n = 16
    try:
        from scipy.fftpack import dct
    except ImportError:  # the closed form, entry by entry
        expected = np.array([[2 * math.cos(math.pi * k * (2 * j + 1) / (2 * n)) for j in range(n)] for k in range(n)])
    else:
        expected = dct(np.eye(n), axis=0)  # OAT.py:108-109
    np.testing.assert_allclose(dct_matrix(n), expected, atol=1e-12)
    np.testing.assert_array_equal(encoding_matrix("onehot", 5), np.eye(5))


def test_rand_encoding_is_the_q_of_a_seeded_gaussian_matrix():
    from hwsim.nets.conditioning import encoding_matrix

    q = encoding_matrix("rand", 8, seed=3)
    expected, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((8, 8)))  # OAT.py:112-116, seeded
    np.testing.assert_array_equal(q, expected)
    np.testing.assert_allclose(q @ q.T, np.eye(8), atol=1e-12)  # orthonormal rows
    assert not np.allclose(encoding_matrix("rand", 8, seed=4), q)


def _film_inputs(net):
    """The FiLM input (the lambda code) of the first FiLM, one entry per forward."""
    from hwsim.nets.conditioning import FiLM

    film = next(m for m in net.modules() if isinstance(m, FiLM))
    seen = []
    film.fc1.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("encoding", ["rand", "onehot", "dct"])
def test_film_is_fed_row_j_for_the_jth_training_lambda_and_interpolates_between(encoding):
    choices = (0.0, 1.0, 0.5)  # OAT's order, not sorted: lambda 0.5 is row 2
    net = build_network("resnet20", "oat", 10, dual_bn=True, film_dim=8, film_encoding=encoding,
                        lambda_choices=choices, seed=5)  # fmt: skip
    matrix = torch.tensor(__import__("hwsim.nets.conditioning", fromlist=["x"]).encoding_matrix(encoding, 8, 5)).float()
    seen = _film_inputs(net)
    lam = torch.tensor([0.0, 1.0, 0.5, 0.25, 0.75, 0.1])
    net.set_state(lam=lam, bn=1)
    net(torch.rand(6, 3, 8, 8))
    code = seen[-1]
    assert code.shape == (6, 8)
    assert torch.equal(code[0], matrix[0]) and torch.equal(code[1], matrix[1]) and torch.equal(code[2], matrix[2])
    # the declared extension: between neighbouring choices (0 | 0.5 | 1), linear in lambda
    torch.testing.assert_close(code[3], 0.5 * matrix[0] + 0.5 * matrix[2])
    torch.testing.assert_close(code[4], 0.5 * matrix[2] + 0.5 * matrix[1])
    torch.testing.assert_close(code[5], 0.8 * matrix[0] + 0.2 * matrix[2])
    net.set_condition(0.5)  # a scalar lambda: every row the same code
    net(torch.rand(2, 3, 8, 8))
    assert torch.equal(seen[-1], matrix[2].expand(2, 8))


def test_repeated_training_lambda_gets_the_row_of_its_last_place():
    net = build_network("resnet20", "oat", 10, film_dim=4, film_encoding="onehot", lambda_choices=(0.0, 1.0, 0.0))
    seen = _film_inputs(net)
    net.set_condition(0.0)
    net(torch.rand(1, 3, 8, 8))
    assert seen[-1].tolist() == [[0.0, 0.0, 1.0, 0.0]]  # sample_lambda.py:36-40: j = 2 overwrites j = 0


def test_matrix_encodings_are_saved_and_the_default_keys_are_unchanged():
    plain = build_network("resnet20", "oat", 10, film_dim=1)
    interp = build_network("resnet20", "oat", 10, film_dim=8)
    assert not any(k.startswith("lambda_encoder") for k in [*plain.state_dict(), *interp.state_dict()])
    trained = build_network("resnet20", "oat", 10, film_dim=8, film_encoding="rand", seed=1,
                            lambda_choices=(0.0, 0.5, 1.0))  # fmt: skip
    keys = {k for k in trained.state_dict() if k.startswith("lambda_encoder")}
    assert keys == {"lambda_encoder.matrix", "lambda_encoder.choices", "lambda_encoder.code_lambdas",
                    "lambda_encoder.codes"}  # fmt: skip
    fresh = build_network("resnet20", "oat", 10, film_dim=8, film_encoding="rand", seed=2,
                          lambda_choices=(0.0, 0.5, 1.0))  # fmt: skip
    assert not torch.equal(fresh.lambda_encoder.matrix, trained.lambda_encoder.matrix)
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(fresh.lambda_encoder.codes, trained.lambda_encoder.codes)


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"method": "float", "film_encoding": "rand"}, "film_encoding: float has no FiLM"),
        ({"film_encoding": "scalar", "film_dim": 8}, "film_dim must be 1"),
        ({"film_encoding": "interp"}, "needs film_dim > 1"),
        ({"film_encoding": "fourier"}, "film_encoding"),
    ],
)
def test_bad_film_encoding_is_one_line(tmp_path, fields, fragment):
    import yaml

    from .conftest import one_line_error

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"arch": "resnet20", "method": "oat", "dataset": "digits", **fields}))
    one_line_error(CliRunner().invoke(app, ["estimate", str(path)]), fragment)


def test_too_few_rows_for_the_training_lambdas_is_one_line(tmp_path):
    from hwsim.errors import HwsimError
    from hwsim.runner.train import train_run

    from .conftest import tiny_run as conf_tiny_run

    model = _digits_model("oat", film_dim=2, film_encoding="onehot")
    with pytest.raises(
        HwsimError, match="--oat-lambdas: 3 training lambdas need film_dim >= 3 with film_encoding onehot"
    ):
        train_run(conf_tiny_run("e", model, oat_lambdas=[0.0, 0.5, 1.0]), tmp_path, progress=False)


def test_estimate_of_an_oat_model_at_dim_128_with_rand_encoding(tmp_path):
    import json

    import yaml

    base = yaml.safe_load((MODELS / "resnet20-digits-oat.yaml").read_text())
    out = {}
    for encoding in (None, "rand"):
        path = tmp_path / f"{encoding}.yaml"
        path.write_text(yaml.safe_dump({**base, "film_dim": 128, **({"film_encoding": encoding} if encoding else {})}))
        result = CliRunner().invoke(app, ["estimate", str(path), "-f", "json"])
        assert result.exit_code == 0, result.output
        out[encoding] = json.loads(result.stdout)
    # the encoding changes which code is fed, not the FiLM MLP's shape: the costs are the same
    assert out["rand"]["totals"] == out[None]["totals"]
    assert out["rand"]["totals"]["params"] > 0


def test_oat_training_feeds_each_row_its_sampled_lambdas_code_and_evaluates(tmp_path):
    from hwsim.runner.evaluate import evaluate_checkpoint
    from hwsim.runner.train import train_run, training_loss

    choices = [0.0, 0.5, 1.0]
    net = build_network("resnet20", "oat", 10, dual_bn=True, film_dim=8, film_encoding="rand",
                        lambda_choices=tuple(choices), seed=0)  # fmt: skip
    seen = _film_inputs(net)
    lams = []
    net.register_forward_pre_hook(lambda mod, args: lams.append(mod.state.lam))
    s = TrainSettings(oat_lambdas=choices, attack_steps=1)
    training_loss(net, torch.rand(B, 3, 8, 8), torch.arange(B) % 10, s, torch.Generator().manual_seed(0))
    matrix = net.lambda_encoder.matrix
    for code, lam in zip(seen, lams):
        rows = torch.stack([matrix[choices.index(float(v))] for v in torch.as_tensor(lam).reshape(-1)])
        assert torch.equal(code, rows.expand_as(code))
    model = _digits_model("oat", film_dim=8, film_encoding="rand")
    from .conftest import tiny_run as conf_tiny_run

    run_dir = train_run(conf_tiny_run("r", model, epochs=1, attack_steps=1, oat_lambdas=choices, eval_lambdas=[0.0, 1.0]),
                        tmp_path, progress=False)  # fmt: skip
    res = evaluate_checkpoint(run_dir, lambdas=[0.0, 0.7], limit=8, attacks=["fgsm"], progress=False)
    assert [p.lam for p in res.points] == [0.0, 0.7] and res.config["model"]["film_encoding"] == "rand"


# ---------------------------------------------------------------------------------------------
# 3. FLOAT_v2's _rm variant (OAT_sparse.py:14, 95; models/noise_layer.py:112-177;
#    models/cifar10/resnet_OAT_mask.py:111-125)


def _rm_net(arch: str = "resnet34", seed: int = 0, **options):
    return build_network(arch, "float", 10, dual_bn=True, float_variant="rm", seed=seed, **options)


def _conv_kinds(net):
    from hwsim.nets.conditioning import NoisyConv2d, RandomMaskConv2d

    rm = [n for n, m in net.named_modules() if isinstance(m, RandomMaskConv2d)]
    noisy = [n for n, m in net.named_modules() if isinstance(m, NoisyConv2d) and not isinstance(m, RandomMaskConv2d)]
    return rm, noisy


def test_rm_masks_exactly_the_convs_of_the_references_bundles_3_and_4():
    rm, noisy = _conv_kinds(_rm_net())
    # resnet_OAT_mask.py:119-125: bundles 1-2 (and the stem) use_rm=False, bundles 3-4 use_rm=True
    assert rm and all(n.startswith(("layers.2.", "layers.3.")) for n in rm)
    assert noisy and all(n == "conv1" or n.startswith(("layers.0.", "layers.1.")) for n in noisy)
    assert len(rm) == 2 * (6 + 3) + 2  # conv1 / conv2 of 9 blocks, and the two shortcut convs
    assert "layers.2.0.shortcut.0" in rm and "layers.1.0.shortcut.0" in noisy
    rm20, _ = _conv_kinds(_rm_net("resnet20"))  # the declared extension: 3 stages -> stages 2-3
    assert {n.split(".")[1] for n in rm20} == {"1", "2"}
    default = build_network("resnet34", "float", 10, dual_bn=True)
    assert _conv_kinds(default)[0] == [] and not any("mask_c" in k for k in default.state_dict())


def test_rm_masks_are_complementary_halves_seeded_and_saved():
    net = _rm_net()
    conv = net.layers[3][1].conv1  # 512 x 512 x 3 x 3
    mask_c = conv.mask_c
    assert mask_c.dtype == torch.bool and mask_c.shape == conv.weight.shape
    assert abs(mask_c.float().mean().item() - 0.5) < 0.005  # Bernoulli(1/2) per weight: ~50%
    assert not (mask_c & ~mask_c).any() and (mask_c | ~mask_c).all()  # mask_a = 1 - mask_c
    masks = {n: b for n, b in net.state_dict().items() if n.endswith("mask_c")}
    assert len(masks) == 20
    again = _rm_net()
    assert all(torch.equal(again.state_dict()[n], b) for n, b in masks.items())
    other = _rm_net(seed=1)
    assert not torch.equal(other.layers[3][1].conv1.mask_c, mask_c)
    other.load_state_dict(net.state_dict())
    assert torch.equal(other.layers[3][1].conv1.mask_c, mask_c)
    a, b = net.layers[2][0].conv1.mask_c, net.layers[2][1].conv1.mask_c
    assert not torch.equal(a[:, :128], b[:, :128])  # each layer its own draw


@pytest.mark.parametrize("noise_scale, which", [(0.0, "c"), (1.0, "a"), (0.2, "a")])
def test_rm_forward_is_the_conv_with_the_mask_of_the_condition(noise_scale, which):
    import torch.nn.functional as F

    net = _rm_net("resnet20")
    conv = net.layers[2][0].conv1
    net.set_state(bn="adv", noise_scale=noise_scale)
    x = torch.rand(2, conv.in_channels, 4, 4)
    keep = conv.mask_c if which == "c" else ~conv.mask_c
    expected = F.conv2d(x, conv.weight.detach() * keep.float(), None, conv.stride, conv.padding)
    with torch.no_grad():
        assert torch.equal(conv(x), expected)
        assert torch.equal(conv(x), expected)  # no noise: the same output every time


def test_rm_training_step_uses_mask_c_for_the_clean_pass_and_mask_a_for_the_attack_and_adversarial_pass():
    from hwsim.runner.train import training_loss

    net = _rm_net("resnet20")
    conv = net.layers[2][0].conv1
    seen = []
    conv.register_forward_hook(
        lambda mod, args, out: seen.append((mod.state.noise_scale, torch.equal(mod.noisy_weight(args[0]),
                                            mod.weight * (~mod.mask_c if mod.state.noise_scale else mod.mask_c)))))  # fmt: skip
    s = TrainSettings(attack_steps=2)
    loss = training_loss(net, torch.rand(B, 3, 8, 8), torch.arange(B) % 10, s, torch.Generator().manual_seed(0))
    loss.backward()
    assert seen == [(0.0, True), (1.0, True), (1.0, True), (1.0, True)]  # clean, 2 attack steps, adversarial
    assert conv.alpha.grad is None  # the rm layer's alpha is not used (as alpha_w with use_rm in the reference)
    assert net.conv1.alpha.grad is not None  # the stem stays a noisy conv


def test_rm_layer_table_costs_the_masked_convs_dense_without_noise():
    from hwsim.config import ModelConfig
    from hwsim.estimate import layer_table

    fields = dict(arch="resnet20", method="float", dataset="digits", input={"height": 16, "width": 16})
    rm = layer_table(ModelConfig(**fields, float_variant="rm"), use_cache=False)
    plain = layer_table(ModelConfig(**fields), use_cache=False)
    names = list(rm["name"])
    assert names == list(plain["name"])
    rm_rows = [i for i, n in enumerate(names) if n.startswith(("layers.1.", "layers.2.")) and rm["op"][i] == "conv"]
    assert rm_rows and not rm["noisy"][rm_rows].any() and plain["noisy"][rm_rows].all()
    assert (rm["alpha_params"] == plain["alpha_params"]).all() and (rm["density"] == 1.0).all()
    assert (rm["weight_params"] == plain["weight_params"]).all()
    others = [i for i in range(len(names)) if i not in rm_rows]
    assert (rm["noisy"][others] == plain["noisy"][others]).all()


def test_rm_variant_refused_for_methods_without_noise(tmp_path):
    import yaml

    from .conftest import one_line_error

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"arch": "resnet20", "method": "oat", "dataset": "digits", "float_variant": "rm"}))
    one_line_error(CliRunner().invoke(app, ["estimate", str(path)]), "float_variant: oat has no noisy convs")
    path.write_text(yaml.safe_dump({"arch": "resnet20", "method": "float", "dataset": "digits", "float_variant": "x"}))
    one_line_error(CliRunner().invoke(app, ["estimate", str(path)]), "float_variant")
