"""Slimmable networks (FLOAT slim, FLOATS slim, OAT slim): shared sub-tensors, switchable BN / FiLM,
hand-checked widths, joint training of every width, resume, FLOATS slim masks and evaluation."""

import hashlib
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import ModelConfig
from hwsim.errors import HwsimError
from hwsim.nets import (
    DualBatchNorm2d,
    FiLM,
    NoisyConv2d,
    SlimmableConv2d,
    SlimmableLinear,
    SwitchableBatchNorm2d,
    SwitchableFiLM,
    build_network,
)
from hwsim.runfiles import read_results
from hwsim.runner.evaluate import evaluate_checkpoint
from hwsim.runner.sparse import SparseMomentum, sparse_training
from hwsim.runner.train import load_checkpoint, train_run
from hwsim.workload.extract import extract_layers
from hwsim.workload.sparsity import slim_channels

from .conftest import one_line_error, tiny_run

SLIM = (1.0, 0.5)


def slim_net(method="float", arch="resnet20"):
    torch.manual_seed(0)
    return build_network(arch, method, dual_bn=method != "pgdat", slim_factors=SLIM)


def test_set_slim_accepts_only_the_networks_factors():
    net = slim_net()
    assert net.slimmable and net.slim_factors == (1.0, 0.5) and net.state.width == 1.0
    assert net.set_slim(0.5).width == 0.5
    with pytest.raises(ValueError, match=r"slim factor 0.25 is not one of this network's \[1.0, 0.5\]"):
        net.set_slim(0.25)
    plain = build_network("resnet20", "float", dual_bn=True)
    assert not plain.slimmable and plain.set_slim(1.0).width == 1.0
    with pytest.raises(ValueError, match="not one of"):
        plain.set_slim(0.5)
    with pytest.raises(ValueError, match="1.0 included"):
        build_network("resnet20", "float", slim_factors=(0.5, 0.25))


@pytest.mark.parametrize("method", ["float", "pgdat"])
def test_sub_network_shares_the_full_weights_storage(method):
    """At SF 0.5 a conv runs on weight[:C_o/2, :C_i/2], a view of the full weight: same data_ptr, and
    its gradient lands in that corner of the full weight only."""
    net = slim_net(method)
    net.set_slim(0.5)
    conv = net.layers[1][0].conv1  # 16 -> 32 channels at full width
    assert isinstance(conv, NoisyConv2d if method == "float" else SlimmableConv2d)
    x = torch.rand(2, 8, 8, 8)  # 8 = slim_channels(16, 0.5) input channels
    if method == "float":
        used = conv.used_weight(x)
    else:
        seen = []
        original = conv._conv_forward
        conv._conv_forward = lambda inp, w, b: seen.append(w) or original(inp, w, b)
        conv(x)
        (used,) = seen
    assert used.shape == (16, 8, 3, 3)
    assert used.data_ptr() == conv.weight.data_ptr() and used.untyped_storage().data_ptr() == conv.weight.data_ptr()
    net.set_condition(0.0)  # clean weights: the output is the plain conv of the sub-tensor
    out = conv(x)
    assert torch.equal(out, F.conv2d(x, conv.weight[:16, :8], stride=2, padding=1))
    out.sum().backward()
    grad = conv.weight.grad
    assert grad[:16, :8].abs().sum() > 0 and not grad[16:].any() and not grad[:, 8:].any()


def test_switchable_bn_per_width_and_stats_move_only_at_its_width():
    net = slim_net("float")
    bn = net.bn1
    assert isinstance(bn, SwitchableBatchNorm2d) and bn.factors == (1.0, 0.5)
    full, half = bn.per_width
    assert isinstance(full, DualBatchNorm2d) and isinstance(half, DualBatchNorm2d)
    assert full.bn_clean.num_features == 16 and half.bn_clean.num_features == slim_channels(16, 0.5) == 8
    net.train()
    x = torch.rand(4, 3, 8, 8)

    def stats():
        return [m.bn_clean.running_mean.clone() for m in (full, half)]

    before = stats()
    net.set_slim(1.0)
    net.set_condition(0.0)
    net(x)
    after_full = stats()
    assert not torch.equal(after_full[0], before[0]) and torch.equal(after_full[1], before[1])
    net.set_slim(0.5)
    net(x)
    after_half = stats()
    assert torch.equal(after_half[0], after_full[0]) and not torch.equal(after_half[1], before[1])
    # a plain BN per width for PGD-AT
    plain = slim_net("pgdat").bn1
    assert [type(m) for m in plain.per_width] == [nn.BatchNorm2d, nn.BatchNorm2d]
    assert [m.num_features for m in plain.per_width] == [16, 8]


@pytest.mark.parametrize("sf, widths, fc_in", [(1.0, (16, 32, 64), 64), (0.5, (8, 16, 32), 32)])
def test_resnet20_conv_widths_and_classifier_input_by_hand(sf, widths, fc_in):
    net = slim_net("float")
    net.set_slim(sf)
    net.set_condition(1.0)
    outs, fc_shapes = {}, []
    hooks = [
        m.register_forward_hook(lambda mod, a, o, name=name: outs.__setitem__(name, (a[0].shape[1], o.shape[1])))
        for name, m in net.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    hooks.append(net.fc.register_forward_hook(lambda mod, a, o: fc_shapes.append((a[0].shape, o.shape))))
    logits = net(torch.rand(2, 3, 8, 8))
    for h in hooks:
        h.remove()
    s1, s2, s3 = widths
    assert outs["conv1"] == (3, s1)  # the image channels are never slimmed
    assert outs["layers.0.0.conv1"] == (s1, s1) and outs["layers.0.2.conv2"] == (s1, s1)
    assert outs["layers.1.0.conv1"] == (s1, s2) and outs["layers.1.0.shortcut.0"] == (s1, s2)
    assert outs["layers.2.0.conv1"] == (s2, s3) and outs["layers.2.2.conv2"] == (s3, s3)
    assert len(outs) == 21 and {o for _, o in outs.values()} == set(widths)
    assert isinstance(net.fc, SlimmableLinear) and net.fc.in_features == 64
    assert fc_shapes == [(torch.Size([2, fc_in]), torch.Size([2, 10]))] and logits.shape == (2, 10)


def test_oat_slim_has_a_film_per_width():
    net = slim_net("oat")
    film = net.layers[2][0].film1
    assert isinstance(film, SwitchableFiLM) and all(isinstance(f, FiLM) for f in film.per_width)
    assert [f.channels for f in film.per_width] == [64, 32]
    assert [f.fc2.out_features for f in film.per_width] == [128, 64]
    net.set_slim(0.5)
    net.set_condition(0.7)
    net(torch.rand(2, 3, 8, 8)).sum().backward()
    full, half = film.per_width
    assert full.fc1.weight.grad is None and half.fc1.weight.grad.abs().sum() > 0
    assert isinstance(net.bn1.per_width[1], DualBatchNorm2d)


# state_dict keys (md5 of the ordered names) and a seeded output of the networks before slimming
# existed (commit e13de71): a network that is not slimmable must not change at all.
BEFORE = {
    ("resnet20", "pgdat"): ("a74606d7cd17382b6281bdcf64357fdf", 2.304878383874893),
    ("resnet20", "oat"): ("e39c6c298584f002f01b22f62c8f193b", 1.0524599701166153),
    ("resnet20", "float"): ("b406117ceba273702b8b93cd28fd6736", 1.3957176208496094),
    ("wrn16_8", "pgdat"): ("1ac50be3297abffee6c82d3f0ed0ddca", -0.5625564623624086),
    ("wrn16_8", "oat"): ("65a4c7ffda61eb5117ac7592e0d6afdc", 0.23145875334739685),
    ("wrn16_8", "float"): ("f9b2e11143e012a056cfe6e8f5663edb", -0.3896494610235095),
}


@pytest.mark.parametrize("arch, method", list(BEFORE))
def test_a_network_that_is_not_slimmable_is_unchanged(arch, method):
    torch.manual_seed(0)
    net = build_network(arch, method, dual_bn=method != "pgdat")
    keys = ",".join(net.state_dict())
    net.set_condition(1.0)
    torch.manual_seed(1)
    with torch.no_grad():
        out = net(torch.rand(2, 3, 8, 8))
    digest, total = BEFORE[arch, method]
    assert hashlib.md5(keys.encode()).hexdigest() == digest
    # FLOAT's noisy forward: the same draws since issue 18, but alpha * std is multiplied in another
    # order (one addcmul), so the noisy weights differ by float rounding (2.7e-6 of resnet20's sum)
    rel = 1e-5 if method == "float" else 1e-6
    assert float(out.double().sum()) == pytest.approx(total, rel=rel, abs=1e-6)
    kinds = {type(m) for m in net.modules()}
    assert not kinds & {SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d, SwitchableFiLM}
    assert type(net.fc) is nn.Linear


def test_slim_noise_is_drawn_for_the_sub_tensor_with_its_own_std():
    net = slim_net("float")
    net.set_slim(0.5)
    net.set_condition(1.0)  # noise scale 1
    conv = net.layers[0][1].conv2
    x = torch.rand(2, 8, 8, 8)
    torch.manual_seed(3)
    noisy = conv.noisy_weight(x)
    sub = conv.weight[:8, :8]
    torch.manual_seed(3)
    expected = sub + conv.alpha * torch.randn(8, 8, 3, 3) * sub.detach().std()
    # same draw; the fast path multiplies alpha * std into it in another order (float rounding)
    assert torch.allclose(noisy, expected, rtol=1e-6, atol=1e-8)


def test_noise_mask_zeroes_the_noise_of_pruned_weights_and_takes_the_kept_std():
    torch.manual_seed(0)
    net = build_network("resnet20", "float", dual_bn=True)
    net.set_condition(1.0)
    conv = net.layers[0][0].conv1
    assert conv.noise_mask is None and "noise_mask" not in ",".join(net.state_dict())
    mask = torch.rand(conv.weight.shape) < 0.3
    with torch.no_grad():
        conv.weight.mul_(mask)
    conv.noise_mask = mask
    assert not any("noise_mask" in k for k in net.state_dict())
    torch.manual_seed(5)
    noisy = conv.noisy_weight()
    torch.manual_seed(5)
    kept = conv.weight.detach()[mask]
    expected = conv.weight + conv.alpha * torch.randn_like(conv.weight) * kept.std() * mask
    assert torch.allclose(noisy, expected, rtol=0, atol=1e-7)
    assert torch.equal(noisy[~mask], torch.zeros_like(noisy[~mask]))
    conv.noise_mask = None  # back to dense noise, std over the whole tensor (zeros included)
    torch.manual_seed(5)
    dense = conv.noisy_weight()
    torch.manual_seed(5)
    expected = conv.weight + conv.alpha * torch.randn_like(conv.weight) * conv.weight.detach().std()
    assert torch.allclose(dense, expected, rtol=1e-6, atol=1e-8)  # same draw, another rounding order


def test_masked_slim_noise_takes_the_kept_std_of_the_sub_tensor():
    net = slim_net("float")
    net.set_slim(0.5)
    net.set_condition(1.0)
    conv = net.layers[0][1].conv2
    gen = torch.Generator().manual_seed(1)
    mask = torch.rand(conv.weight.shape, generator=gen) < 0.4
    conv.noise_mask = mask
    x = torch.rand(2, 8, 8, 8)
    torch.manual_seed(4)
    noisy = conv.noisy_weight(x)
    sub, keep = conv.weight[:8, :8], mask[:8, :8]
    torch.manual_seed(4)
    expected = sub + conv.alpha * torch.randn(8, 8, 3, 3) * sub.detach()[keep].std() * keep
    assert noisy.shape == (8, 8, 3, 3)
    assert torch.allclose(noisy, expected, rtol=1e-6, atol=1e-8)
    assert torch.equal(noisy[~keep], sub[~keep])  # pruned weights get no noise
    torch.manual_seed(4)
    assert torch.allclose(noisy, _reference(conv, x), rtol=1e-6, atol=1e-8)


def _reference(conv, x=None):
    from hwsim.nets.conditioning import set_noise_impl

    previous = set_noise_impl("reference")
    try:
        return conv.noisy_weight(x)
    finally:
        set_noise_impl(previous)


def test_the_layer_walk_of_a_slim_net_is_the_full_width_network():
    net = slim_net("oat")
    net.set_slim(0.5)
    table = extract_layers(net, (3, 8, 8))
    torch.manual_seed(0)
    dense = extract_layers(build_network("resnet20", "oat", dual_bn=True), (3, 8, 8))
    for column in ("op", "in_channels", "out_channels", "out_h", "weight_params", "bn_params", "film_params"):
        assert list(table[column]) == list(dense[column]), column
    # the same rows; a FiLM linear's name says which width's FiLM it is
    assert [str(n).replace(".per_width.0", "") for n in table["name"]] == list(dense["name"])
    assert "film1.per_width.0.fc1" in list(table["name"])
    assert net.state.width == 0.5  # restored
    # the BNs and FiLMs private to SF 0.5 never run at SF 1.0: their parameters are the unattributed ones
    half_only = sum(p.numel() for name, p in net.named_parameters() if ".per_width.1." in name)
    assert table.attrs["other_params"] == half_only > 0 and table.attrs["untied"] == []


# ---- training, resume, FLOATS slim, evaluation -----------------------------------------------


def tiny_slim(name, method="float", density=1.0, epochs=2, limit_train=64, slim=True):
    sparsity = {"kind": "slim", "density": density, "slim_factors": [1.0, 0.5], "eval_slim_factor": 0.5}
    sparsity = sparsity if slim else None
    model = ModelConfig(arch="resnet20", method=method, dataset="digits", input={"height": 8, "width": 8},
                        num_classes=10, sparsity=sparsity)  # fmt: skip
    return tiny_run(name, model, limit_train=limit_train, epochs=epochs, eval_lambdas=[0.0, 1.0])


def test_sparse_training_for_slim_kinds():
    dense = tiny_slim("x").model
    assert sparse_training(dense, slim_net("float"), 0) is None  # FLOAT slim: no masks
    floats = tiny_slim("x", "floats", 0.3).model
    assert isinstance(sparse_training(floats, slim_net("floats"), 0), SparseMomentum)


def test_float_slim_trains_every_width_resumes_bit_identically_and_evaluates_each(tmp_path):
    full = train_run(tiny_slim("full"), tmp_path, progress=False)
    payload = load_checkpoint(full)
    state = payload["model"]
    # both widths trained: the running statistics of the SF 1.0 and the SF 0.5 BNs both moved
    for width, channels in ((0, 16), (1, 8)):
        for bn in ("bn_clean", "bn_adv"):
            mean = state[f"bn1.per_width.{width}.{bn}.running_mean"]
            assert mean.shape == (channels,) and mean.abs().sum() > 0, (width, bn)
            assert int(state[f"bn1.per_width.{width}.{bn}.num_batches_tracked"]) > 0
    history = payload["history"]
    assert [h["eval_slim_factor"] for h in history] == [0.5, 0.5]

    def interrupt(record):
        raise KeyboardInterrupt

    with pytest.raises(HwsimError, match="continue with --resume"):
        train_run(tiny_slim("cut"), tmp_path, progress=False, on_epoch=interrupt)
    cut = train_run(tiny_slim("cut"), tmp_path, resume=True, progress=False)
    resumed = load_checkpoint(cut)
    assert resumed["model"].keys() == state.keys()
    for name, tensor in state.items():
        assert torch.equal(tensor, resumed["model"][name]), name
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in history]

    results = evaluate_checkpoint(full, lambdas=[0.0, 1.0], attacks=["fgsm"], limit=16, progress=False)
    assert sorted((p.slim_factor, p.lam) for p in results.points) == [(0.5, 0.0), (0.5, 1.0), (1.0, 0.0), (1.0, 1.0)]
    written = read_results(full).points
    assert {p.slim_factor for p in written} == {0.5, 1.0} and len(written) == 4
    on_disk = json.loads((full / "results.json").read_text())
    assert {p["slim_factor"] for p in on_disk["points"]} == {0.5, 1.0}
    only = evaluate_checkpoint(full, lambdas=[0.0], attacks=["fgsm"], limit=16, progress=False, slim_factors=[0.5])
    assert [p.slim_factor for p in only.points] == [0.5]
    with pytest.raises(HwsimError, match="--slim-factor 0.25: run full has no such width"):
        evaluate_checkpoint(full, lambdas=[0.0], attacks=["fgsm"], limit=16, progress=False, slim_factors=[0.25])
    # the command: --slim-factor is repeatable; a width the run lacks is one line
    args = ["evaluate", str(full), "--lambdas", "1", "--attacks", "fgsm", "--limit", "8", "-q", "-f", "csv"]
    done = CliRunner().invoke(app, [*args, "--slim-factor", "0.5", "--slim-factor", "1"])
    assert done.exit_code == 0, done.output
    assert sorted(line.split(",")[-1] for line in done.stdout.strip().splitlines()[1:]) == ["0.5", "1.0"]
    one_line_error(
        CliRunner().invoke(app, [*args, "--slim-factor", "0.3"]), "--slim-factor 0.3: run full has no such width"
    )


def test_floats_slim_keeps_eq5_with_zeros_in_the_stored_weights(tmp_path):
    run_dir = train_run(tiny_slim("fs", "floats", 0.3, limit_train=32), tmp_path, progress=False)
    payload = load_checkpoint(run_dir)
    masks, state = payload["masks"], payload["model"]
    assert len(masks) == 21
    for name, mask in masks.items():  # masks over the full (SF 1.0) conv weights
        assert mask.shape == state[name].shape and not state[name][~mask].any(), name
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept == sum(math.floor(0.3 * m.numel()) for m in masks.values()) <= 0.3 * total
    assert [h["density"] for h in payload["history"]] == [kept / total] * 2
    assert state["bn1.per_width.1.bn_adv.running_mean"].abs().sum() > 0


def test_a_plain_run_evaluates_at_full_width_only(tmp_path):
    run_dir = train_run(tiny_slim("plain", epochs=1, limit_train=32, slim=False), tmp_path, progress=False)
    points = evaluate_checkpoint(run_dir, lambdas=[0.0], attacks=["fgsm"], limit=8, progress=False).points
    assert [p.slim_factor for p in points] == [1.0]
    with pytest.raises(HwsimError, match="it is not slimmable"):
        evaluate_checkpoint(run_dir, lambdas=[0.0], attacks=["fgsm"], limit=8, progress=False, slim_factors=[0.5])
