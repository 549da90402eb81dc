"""Training steps follow the reference code: which BN sees which rows, how often, and in which mode.

References: VITA-Group/Once-for-All-Adversarial-Training (PGDAT.py, OAT.py, attacks/pgd.py with
ctx_noparamgrad_and_eval) and shunlinlu/FLOAT_v2 (OAT_sparse.py). Per training step the reference
updates BN running statistics: PGD-AT 2 times; OAT BN_C once and BN_A twice; FLOAT BN_C once and
BN_A twice. Before this was fixed, hwsim attacked in train mode: 9 / 9+9 / 1+8.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hwsim.nets import build_network
from hwsim.runner.train import TrainSettings, make_optimizer, train_step

B = 12
SETTINGS = TrainSettings(attack_steps=7, lr=0.05)


def _net(method: str, arch: str = "resnet20", **options):
    torch.manual_seed(0)
    return build_network(arch, method, 10, dual_bn=method != "pgdat", **options)


def _tracked(net) -> dict[str, int]:
    return {name: int(m.num_batches_tracked) for name, m in net.named_modules() if isinstance(m, nn.BatchNorm2d)}


def _one_step(net, x, y, settings=SETTINGS):
    train_step(net, make_optimizer(net, settings), x, y, settings, torch.Generator().manual_seed(1))


REFERENCE_UPDATES = {"pgdat": {"": 2}, "oat": {"bn_clean": 1, "bn_adv": 2}, "float": {"bn_clean": 1, "bn_adv": 2}}


@pytest.mark.parametrize("method", ["pgdat", "oat", "float"])
@pytest.mark.parametrize("arch", ["resnet20", "wrn16_8"])
def test_bn_running_stat_updates_per_step_match_the_reference(method, arch):
    net = _net(method, arch) if arch == "resnet20" else _net(method, "wrn16_8", dropout=0.3)
    x, y = torch.rand(B, 3, 8, 8), torch.arange(B) % 10
    before = _tracked(net)
    _one_step(net, x, y)
    after = _tracked(net)
    deltas = {name: after[name] - before[name] for name in after}
    assert deltas, "no BN found"
    for name, delta in deltas.items():
        kind = name.rsplit(".", 1)[-1] if method != "pgdat" else ""
        assert delta == REFERENCE_UPDATES[method][kind], (name, delta)


def _record_forwards(net):
    """Every top-level forward: (training?, any parameter requiring grad?, input, BN choice, noise, lam)."""
    calls = []

    def hook(module, args):
        st = module.state
        lam = st.lam.clone() if isinstance(st.lam, torch.Tensor) else st.lam
        grads = any(p.requires_grad for p in module.parameters())
        dropout_on = any(m.training for m in module.modules() if isinstance(m, nn.Dropout))
        calls.append(dict(training=module.training, grads=grads, dropout=dropout_on, x=args[0].detach().clone(),
                          bn=st.bn, noise=st.noise_scale, lam=lam))  # fmt: skip

    net.register_forward_pre_hook(hook)
    return calls


def _record_bn_rows(net):
    rows = {"bn_clean": [], "bn_adv": []}
    for name, m in net.named_modules():
        if name.endswith("layers.0.0.bn1.bn_clean") or name.endswith("layers.0.0.bn1.bn_adv"):
            kind = name.rsplit(".", 1)[-1]
            m.register_forward_pre_hook(
                lambda mod, args, kind=kind: rows[kind].append((mod.training, args[0].shape[0]))
            )
    return rows


def _within_ball(x_adv, x, eps=SETTINGS.eps):
    return float((x_adv - x).abs().max()) <= eps + 1e-6 and not torch.equal(x_adv, x)


def test_oat_attacks_only_nonzero_lambda_rows_through_bn_a():
    net = _net("oat")
    calls, rows = _record_forwards(net), _record_bn_rows(net)
    x, y = torch.rand(B, 3, 8, 8), torch.arange(B) % 10
    _one_step(net, x, y)
    n_zero = math.ceil(B / len(SETTINGS.oat_lambdas))  # 2 rows at lambda = 0
    train = [c for c in calls if c["training"]]
    attack = [c for c in calls if not c["training"]]
    # 1 clean pass over the whole batch (lambda = 0 rows first, through BN_C), 1 adversarial pass
    assert len(train) == 2 and len(attack) == SETTINGS.attack_steps
    clean, adv = train
    assert torch.equal(clean["x"], x) and clean["bn"] == n_zero
    assert (clean["lam"][:n_zero] == 0).all() and (clean["lam"][n_zero:] > 0).all()
    assert adv["x"].shape[0] == B - n_zero and _within_ball(adv["x"], x[n_zero:])
    assert adv["bn"] == 0 and torch.equal(adv["lam"], clean["lam"][n_zero:])  # all BN_A, same lambdas
    for c in attack:  # eval mode, no parameter gradients, only the lambda != 0 rows, BN_A
        assert not c["grads"] and c["x"].shape[0] == B - n_zero and c["bn"] == 0
    # BN_C sees the clean lambda = 0 rows once; BN_A the other clean rows, then their adversarial images
    assert rows["bn_clean"] == [(True, n_zero)]
    assert [r for r in rows["bn_adv"] if r[0]] == [(True, B - n_zero), (True, B - n_zero)]


def test_float_clean_pass_is_the_whole_batch_then_noisy_second_half():
    net = _net("float")
    calls, rows = _record_forwards(net), _record_bn_rows(net)
    x, y = torch.rand(B, 3, 8, 8), torch.arange(B) % 10
    _one_step(net, x, y)
    half = B // 2
    train = [c for c in calls if c["training"]]
    attack = [c for c in calls if not c["training"]]
    assert len(train) == 2 and len(attack) == SETTINGS.attack_steps
    clean, adv = train
    assert torch.equal(clean["x"], x) and clean["bn"] == half and clean["noise"] == 0.0
    assert adv["bn"] == "adv" and adv["noise"] == 1.0 and _within_ball(adv["x"], x[half:])
    for c in attack:  # the attack sees the noisy model through BN_A, in eval mode
        assert not c["grads"] and c["bn"] == "adv" and c["noise"] == 1.0 and c["x"].shape[0] == B - half
    assert rows["bn_clean"] == [(True, half)]
    assert [r for r in rows["bn_adv"] if r[0]] == [(True, B - half), (True, B - half)]


def test_pgdat_attacks_in_eval_mode_then_two_train_passes():
    net = _net("pgdat", "wrn16_8", dropout=0.3)
    calls = _record_forwards(net)
    x, y = torch.rand(B, 3, 8, 8), torch.arange(B) % 10
    _one_step(net, x, y)
    train = [c for c in calls if c["training"]]
    attack = [c for c in calls if not c["training"]]
    assert len(attack) == SETTINGS.attack_steps and all(not c["grads"] and not c["dropout"] for c in attack)
    assert len(train) == 2 and _within_ball(train[0]["x"], x) and torch.equal(train[1]["x"], x)
    assert all(c["grads"] and c["dropout"] for c in train)  # train mode (dropout on) restored for the loss


def test_attack_mode_restores_flags_and_grads():
    from hwsim.runner.train import attack_mode

    net = _net("float")
    net.train()
    net.alphas()[0].requires_grad_(False)  # a frozen parameter stays frozen
    with attack_mode(net):
        assert not any(m.training for m in net.modules()) and not any(p.requires_grad for p in net.parameters())
    assert all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.alphas()][:2] == [False, True]


def test_pgdat_at_lambda_zero_is_clean_training_without_attack():
    net = _net("pgdat")
    calls = _record_forwards(net)
    settings = TrainSettings(pgdat_lambda=0.0)
    _one_step(net, torch.rand(B, 3, 8, 8), torch.arange(B) % 10, settings)
    assert [c["training"] for c in calls] == [True]  # PGDAT.py: no attack when Lambda == 0


def test_float_algorithm1_loss_is_the_papers_two_half_batches():
    """--float-loss algorithm1 (paper Algorithm 1, lines 5-9): the clean pass sees only the first
    half through BN_C, the noisy pass only the adversarial second half through BN_A, and the loss is
    0.5 mean CE of each half; the reference's is 0.5 mean_B(CE_clean) + 0.25 mean_{B/2}(CE_adv)."""
    import torch.nn.functional as F

    from hwsim.methods import get_method

    settings = TrainSettings(attack_steps=2, lr=0.05, float_loss="algorithm1")
    net = _net("float")
    calls, rows = _record_forwards(net), _record_bn_rows(net)
    x, y = torch.rand(B, 3, 8, 8), torch.arange(B) % 10
    half = B // 2
    seen = {}

    def attack(model, xa, ya):
        seen["attack_rows"] = xa.shape[0]
        return (xa + 0.01).clamp(0, 1)

    torch.manual_seed(3)
    net.train()
    loss = get_method("float").training_loss(net, x, y, settings, torch.Generator().manual_seed(1), attack)
    clean, adv = [c for c in calls if c["training"]]
    assert torch.equal(clean["x"], x[:half]) and clean["bn"] == "clean" and clean["noise"] == 0.0
    assert torch.equal(adv["x"], (x[half:] + 0.01).clamp(0, 1)) and adv["bn"] == "adv" and adv["noise"] == 1.0
    assert seen["attack_rows"] == B - half
    assert rows["bn_clean"] == [(True, half)] and rows["bn_adv"] == [(True, B - half)]
    # the same loss by hand: clean weights through BN_C on the first half, noisy (same noise draw) on the rest
    torch.manual_seed(3)
    net.set_state(bn="clean", noise_scale=0.0)
    want_clean = F.cross_entropy(net(x[:half]), y[:half])
    net.set_condition(1.0)
    want_adv = F.cross_entropy(net((x[half:] + 0.01).clamp(0, 1)), y[half:])
    assert float(loss) == pytest.approx(float(0.5 * want_clean + 0.5 * want_adv), rel=1e-5)
    assert TrainSettings().float_loss == "reference"
