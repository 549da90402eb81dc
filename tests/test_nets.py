"""The network zoo: parameter counts from the paper and the behaviour of each conditioning."""

import pytest
import torch

from hwsim.nets import (
    DualBatchNorm2d,
    FiLM,
    NoisyConv2d,
    build_network,
    count_params,
    float_noise_scale,
    resolve_condition,
)


@pytest.mark.parametrize(
    "method, dual_bn, expected",
    [
        ("pgdat", False, 21_282_122),  # CIFAR ResNet34
        ("oat", False, 31_403_978),  # + 33 FiLMs with d = 1: 10,121,856
        ("float", False, 21_282_158),  # + 36 alphas
        ("float", True, 21_282_158 + 17_024),  # + one more set of BN affine params
    ],
)
def test_resnet34_param_counts_match_paper(method, dual_bn, expected):
    with torch.device("meta"):
        net = build_network("resnet34", method, 10, dual_bn=dual_bn)
    assert count_params(net) == expected


def test_resnet34_oat_has_33_films_float_has_36_noisy_convs():
    with torch.device("meta"):
        oat = build_network("resnet34", "oat", 10)
        flt = build_network("resnet34", "float", 10, dual_bn=True)
    assert sum(isinstance(m, FiLM) for m in oat.modules()) == 33
    assert sum(isinstance(m, NoisyConv2d) for m in flt.modules()) == 36
    assert sum(isinstance(m, DualBatchNorm2d) for m in flt.modules()) == 36
    assert len(flt.alphas()) == 36 and all(a.item() == 0.25 for a in build_network("resnet20", "float").alphas())


def test_wrn_layouts():
    with torch.device("meta"):
        wrn16 = build_network("wrn16_8", "oat", 10)
        wrn40 = build_network("wrn40_2", "pgdat", 10)
    # FiLM after bn1 and bn2 of each block: 3 groups x 2 blocks x 2
    assert sum(isinstance(m, FiLM) for m in wrn16.modules()) == 12
    # WRN40-2: 3 groups x 6 blocks x 2 convs + stem + 3 shortcuts
    assert sum(isinstance(m, torch.nn.Conv2d) for m in wrn40.modules()) == 36 + 1 + 3
    assert count_params(wrn40) == 2_243_546


# Every method on the small families; the big ones share those backbones, so FLOAT alone suffices.
FORWARD_CASES = [(a, s, m) for a, s in (("resnet20", 32), ("wrn40_2", 96)) for m in ("pgdat", "oat", "float")]
FORWARD_CASES += [("wrn16_8", 32, "float"), ("resnet34", 64, "float")]


@pytest.mark.parametrize("arch, size, method", FORWARD_CASES)
def test_forward_backward_every_family_and_method(arch, size, method):
    net = build_network(arch, method, 7, dual_bn=method != "pgdat")
    net.set_condition(1.0)
    out = net(torch.rand(2, 3, size, size))
    assert out.shape == (2, 7)
    out.sum().backward()
    if method == "float":
        assert all(a.grad is not None for a in net.alphas())


def test_float_noise_vanishes_at_lambda_zero_and_has_weight_std():
    conv = build_network("resnet20", "float").conv1
    net = build_network("resnet20", "float")
    net.set_condition(0.0)
    assert net.conv1.noisy_weight() is net.conv1.weight  # theta exactly, no draw
    net.set_condition(1.0)
    conv = net.conv1
    with torch.no_grad():
        conv.alpha.fill_(1.0)
        noise = torch.stack([conv.noisy_weight() - conv.weight for _ in range(200)])
    # eta ~ N(0, std(theta)^2), scaled by lambda * alpha = 1
    assert noise.std().item() == pytest.approx(conv.weight.std().item(), rel=0.05)
    assert noise.mean().abs().item() < 0.05 * conv.weight.std().item()
    # fresh draw every call
    assert not torch.equal(conv.noisy_weight(), conv.noisy_weight())


def test_float_noise_and_bn_ignore_train_eval_mode():
    net = build_network("resnet20", "float", dual_bn=True)
    net.set_condition(1.0)
    net.eval()
    x = torch.rand(2, 3, 32, 32)
    assert not torch.equal(net(x), net(x))  # still noisy in eval mode
    net.set_condition(0.0)
    assert torch.equal(net(x), net(x))


@pytest.mark.parametrize(
    "lambda_n, lambda_th, scale, bn",
    [
        (0.0, 0.0, 0.0, "clean"),
        (0.2, 0.0, 0.2, "adv"),
        (1.0, 0.0, 1.0, "adv"),
        (0.2, 0.5, 0.4, "clean"),  # Eq. 6: alpha * 2 * lambda_n
        (0.5, 0.5, 1.0, "clean"),
        (0.7, 0.5, 0.4, "adv"),  # Eq. 6: alpha * 2 * (lambda_n - 0.5)
        (1.0, 0.5, 1.0, "adv"),
    ],
)
def test_eq6_rescaling_and_bn_threshold(lambda_n, lambda_th, scale, bn):
    assert float_noise_scale(lambda_n, lambda_th) == pytest.approx(scale)
    state = resolve_condition("float", lambda_n, lambda_th)
    assert state.bn == bn and state.noise_scale == pytest.approx(scale)


def test_dual_bn_routes_by_condition():
    net = build_network("resnet20", "float", dual_bn=True)
    bn = net.bn1
    x = torch.rand(4, 3, 32, 32)
    net.train()
    net.set_condition(0.0)
    net(x)
    assert bn.bn_clean.num_batches_tracked.item() == 1 and bn.bn_adv.num_batches_tracked.item() == 0
    net.set_condition(1.0)
    net(x)
    assert bn.bn_clean.num_batches_tracked.item() == 1 and bn.bn_adv.num_batches_tracked.item() == 1


def test_oat_per_sample_lambda_splits_bn_and_conditions_film():
    net = build_network("resnet20", "oat", dual_bn=True)
    state = net.set_condition(torch.tensor([0.0, 0.0, 0.3, 1.0]))
    assert state.bn == 2  # first two rows through BN_C
    net.train()
    net(torch.rand(4, 3, 32, 32))
    assert net.bn1.bn_clean.num_batches_tracked.item() == 1
    assert net.bn1.bn_adv.num_batches_tracked.item() == 1
    with pytest.raises(ValueError):
        net.set_condition(torch.tensor([0.3, 0.0]))  # lambda = 0 rows must come first
    net.eval()
    x = torch.rand(1, 3, 32, 32)
    outs = [net.set_condition(v) and net(x) for v in (0.3, 0.7)]
    assert not torch.allclose(outs[0], outs[1])  # the FiLM input matters


def test_film_encoding_width_is_configurable():
    net = build_network("resnet20", "oat", film_dim=8)
    film = net.film1
    assert film.fc1.in_features == 8 and film.fc1.out_features == 32 and film.fc2.out_features == 32
    net.set_condition(0.5)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_unknown_arch_and_method_raise():
    with pytest.raises(ValueError, match="unknown arch"):
        build_network("vgg16", "float")
    with pytest.raises(ValueError, match="unknown method"):
        build_network("resnet20", "fancy")


# --- issue 18: the fast noise path (same draws and distribution as the reference path) -------------


def _noisy_net(seed=0):
    torch.manual_seed(seed)
    net = build_network("resnet20", "float", dual_bn=True)
    net.set_condition(1.0)
    return net


def _reference_weight(conv, x=None):
    from hwsim.nets.conditioning import set_noise_impl

    previous = set_noise_impl("reference")
    try:
        return conv.noisy_weight(x)
    finally:
        set_noise_impl(previous)


def test_fast_noise_distribution_is_normal_with_the_weight_std():
    conv = _noisy_net().layers[1][0].conv1  # 32 x 16 x 3 x 3 = 4608 weights
    torch.manual_seed(11)
    with torch.no_grad():
        conv.alpha.fill_(1.0)
        noise = torch.stack([conv.noisy_weight() - conv.weight for _ in range(100)])
    n = noise.numel()  # 460,800 samples of N(0, sigma^2)
    sigma = conv.weight.detach().std().item()
    # 5 standard errors: mean sigma / sqrt(n), sample std sigma / sqrt(2 n)
    assert abs(noise.mean().item()) < 5 * sigma / n**0.5
    assert noise.std().item() / sigma == pytest.approx(1.0, abs=5 / (2 * n) ** 0.5)


def test_fast_noise_is_the_reference_draw_scaled_by_the_exact_layer_std():
    from hwsim.nets.conditioning import NoisyConv2d, frozen_noise_std

    net = _noisy_net()
    convs = [m for m in net.modules() if isinstance(m, NoisyConv2d)]
    with torch.no_grad():
        for i, conv in enumerate(convs):
            conv.alpha.fill_(0.1 + 0.01 * i)  # distinct alphas: a mixed-up layer would show
    net.set_state(bn="adv", noise_scale=0.7)
    for frozen in (False, True):
        with frozen_noise_std(net) if frozen else torch.no_grad():
            for conv in convs:
                std, keep = conv._std_and_keep(conv.weight)
                assert keep is None and torch.equal(std, conv.weight.detach().std())  # bitwise the same std
                torch.manual_seed(2)
                fast = conv.noisy_weight()
                torch.manual_seed(2)
                eta = torch.randn_like(conv.weight)
                expected = conv.weight + 0.7 * conv.alpha * conv.weight.detach().std() * eta
                assert torch.allclose(fast, expected, rtol=1e-6, atol=1e-8)
                torch.manual_seed(2)
                assert torch.allclose(fast, _reference_weight(conv), rtol=1e-6, atol=1e-8)


def test_fast_noise_gradients_match_the_reference_formula():
    conv = _noisy_net().layers[2][1].conv2
    net_scale = 0.6
    conv.state.noise_scale = net_scale
    g = torch.randn(conv.weight.shape, generator=torch.Generator().manual_seed(9))
    grads = []
    for impl in ("fast", "reference"):
        conv.weight.grad = conv.alpha.grad = None
        torch.manual_seed(8)
        w = conv.noisy_weight() if impl == "fast" else _reference_weight(conv)
        (w * g).sum().backward()
        grads.append((conv.weight.grad.clone(), conv.alpha.grad.clone()))
    torch.manual_seed(8)
    eta = torch.randn_like(conv.weight)
    std = conv.weight.detach().std()
    # d/dtheta = identity (the std is detached), d/dalpha = scale * sum(g * std * eta)
    for dw, dalpha in grads:
        assert torch.equal(dw, g)
        assert dalpha.item() == pytest.approx((net_scale * (g * std * eta).sum()).item(), rel=1e-5)
    assert grads[0][1].item() == pytest.approx(grads[1][1].item(), rel=1e-5)


def test_masked_fast_noise_is_zero_on_pruned_weights_with_the_kept_std():
    conv = _noisy_net().layers[0][0].conv2
    mask = torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(3)) < 0.25
    with torch.no_grad():
        conv.weight.mul_(mask)
        conv.alpha.fill_(1.0)
    conv.noise_mask = mask
    std, keep = conv._std_and_keep(conv.weight)
    assert std.item() == pytest.approx(conv.weight.detach()[mask].std().item(), rel=1e-6)
    assert torch.equal(keep, mask.float())
    torch.manual_seed(6)
    noisy = conv.noisy_weight()
    assert torch.equal(noisy[~mask], torch.zeros(int((~mask).sum())))
    torch.manual_seed(6)
    assert torch.allclose(noisy, _reference_weight(conv), rtol=1e-6, atol=1e-8)
    mask_one = torch.zeros_like(mask)
    mask_one[0, 0, 0, 0] = True  # fewer than 2 kept: std 0, no noise at all
    conv.noise_mask = mask_one
    assert torch.equal(conv.noisy_weight(), conv.weight)


def test_frozen_std_draws_fresh_noise_each_forward_and_follows_in_place_changes():
    from hwsim.nets.conditioning import frozen_noise_std

    net = _noisy_net()
    conv = net.layers[0][0].conv1
    mask = torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    with frozen_noise_std(net):
        first, second = conv.noisy_weight(), conv.noisy_weight()
        assert not torch.equal(first, second)  # eta fresh per forward
        assert len(conv._std_cache) == 1  # the std was computed once
        with torch.no_grad():
            conv.weight.mul_(2.0)  # an in-place change bumps the version: the std is recomputed
        std, _ = conv._std_and_keep(conv.weight)
        assert torch.equal(std, conv.weight.detach().std())
        conv.noise_mask = mask
        std, keep = conv._std_and_keep(conv.weight)
        assert torch.equal(keep, mask.float())
        mask[0] = ~mask[0]  # the live mask changed in place (as the sparsity engine does)
        std, keep = conv._std_and_keep(conv.weight)
        assert torch.equal(keep, mask.float())
        assert std.item() == pytest.approx(conv.weight.detach()[mask].std().item(), rel=1e-6)
    assert conv._std_cache is None  # outside the block nothing is cached


def test_float_train_step_is_seeded_and_matches_the_reference_noise_path():
    from hwsim.nets.conditioning import set_noise_impl
    from hwsim.runner.train import TrainSettings, make_optimizer, train_step

    torch.manual_seed(0)
    x, y = torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,))
    s = TrainSettings(batch_size=8, attack_steps=2, seed=0, device="cpu")

    def run(impl):
        previous = set_noise_impl(impl)
        try:
            torch.manual_seed(1)
            net = build_network("resnet20", "float", 10, dual_bn=True)
            opt = make_optimizer(net, s)
            gen = torch.Generator().manual_seed(0)
            torch.manual_seed(5)  # the noise's global RNG
            losses = [train_step(net, opt, x, y, s, gen).item() for _ in range(2)]
            return losses, torch.cat([p.detach().flatten() for p in net.parameters()])
        finally:
            set_noise_impl(previous)

    loss_a, params_a = run("fast")
    loss_b, params_b = run("fast")
    assert loss_a == loss_b and torch.equal(params_a, params_b)  # same seed, same numbers
    loss_ref, params_ref = run("reference")
    assert loss_a == pytest.approx(loss_ref, rel=1e-4)  # same draws: equal up to float rounding
    assert torch.allclose(params_a, params_ref, rtol=1e-4, atol=1e-5)
