"""FLOATS-c (channel sparse momentum), sparsity.exclude and masked noise (noise_on_pruned: false):
Eq. 5 in weights at every step, whole input channels only, hand-checked ranking and redistribution."""

import math

import pytest
import torch
from torch import nn

from hwsim.config import ModelConfig
from hwsim.errors import HwsimError
from hwsim.estimate import build_for_config
from hwsim.nets import build_network
from hwsim.nets.conditioning import NoisyConv2d
from hwsim.runner.sparse import ChannelSparseMomentum, SparseMomentum, masked_weights, sparse_training
from hwsim.runner.train import TrainSettings, load_checkpoint, make_optimizer, train_run, train_step

from .conftest import tiny_run


def channels_on(mask: torch.Tensor) -> list[int]:
    """The input channels a weight-shaped mask keeps, asserting it is whole channels only."""
    per_channel = mask.transpose(0, 1).flatten(1)
    assert (per_channel.all(1) | ~per_channel.any(1)).all(), "a mask splits an input channel"
    return per_channel.all(1).nonzero().flatten().tolist()


def set_channels(w: torch.Tensor, columns: list[list[float]]) -> None:
    """Weight of a 1 x 1 conv from one list of C_o values per input channel."""
    with torch.no_grad():
        w.copy_(torch.tensor(columns).T.reshape(w.shape))


def test_channel_ranking_by_frobenius_norm_by_hand():
    """A 5 -> 2 1 x 1 conv (s = 2 weights a channel) at d = 0.8: budget 8 weights = 4 channels.
    Channels 0-3 on, squared F-norms 9, 2.25, 4.25, 2 (L1 would rank 1 below 3: 1.5 < 2); rate 0.5
    prunes ceil(0.5 x 4) = 2, the lowest f_c: channels 3 and 1. Regrowth: 8 - 4 = 4 weights = 2
    channels, the inactive ones of largest momentum F-norm: 4 (0.5) and 1 (0.02) over 3 (0)."""
    net = nn.Sequential(nn.Conv2d(5, 2, 1, bias=False))
    sparse = ChannelSparseMomentum(net, 0.8)
    w = sparse.weights["0.weight"]
    assert len(channels_on(sparse.masks["0.weight"])) == 4 and sparse.nonzeros() == 8 <= sparse.budget
    set_channels(w, [[3, 0], [1.5, 0], [0.5, -2], [1, 1], [0, 0]])
    sparse.masks["0.weight"].copy_(torch.tensor([1, 1, 1, 1, 0], dtype=torch.bool).view(1, 5, 1, 1).expand(2, 5, 1, 1))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    momentum = torch.zeros_like(w)
    set_channels(momentum, [[1, 1], [0.1, -0.1], [0.2, 0.2], [0, 0], [0.5, -0.5]])
    opt.state[w]["momentum_buffer"] = momentum
    stats = sparse.prune_and_regrow(opt, 0.5)
    assert stats.removed == {"0.weight": 2} and stats.regrown == {"0.weight": 2}
    assert channels_on(sparse.masks["0.weight"]) == [0, 1, 2, 4]
    # channel 1 pruned and regrown: it restarts from zero; channel 3 pruned; channel 4 regrown at zero
    assert w[:, :, 0, 0].T.tolist() == [[3, 0], [0, 0], [0.5, -2], [0, 0], [0, 0]]
    assert sparse.nonzeros() == 8


def test_the_last_channel_of_a_layer_is_never_pruned():
    """A 3 -> 2 conv at d = 0.34 keeps 1 channel (budget floor(2.04) = 2 weights); rate 0.9 would
    prune ceil(0.9) = 1 channel, the layer's last: it keeps it."""
    net = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False))
    sparse = ChannelSparseMomentum(net, 0.34, generator=torch.Generator().manual_seed(4))
    before = channels_on(sparse.masks["0.weight"])
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    stats = sparse.prune_and_regrow(opt, 0.9)
    assert len(before) == 1 and stats.removed == {"0.weight": 0} and stats.regrown == {"0.weight": 0}
    assert channels_on(sparse.masks["0.weight"]) == before


def test_init_one_channel_floor_and_the_budget():
    """max(1, floor(d C_i)) channels per layer, then while over floor(d N) one channel off the layer
    with the most kept weights (among those above one channel)."""
    # 2 -> 4 (s = 4) and 10 -> 1 (s = 1) at d = 0.3: counts 1 (floor 0.6 = 0, raised to 1) and 3 = 7
    # weights > floor(0.3 x 18) = 5; the second layer, the only one above one channel, gives up two:
    # 1 and 1 channel = 5 weights
    net = nn.Sequential(nn.Conv2d(2, 4, 1, bias=False), nn.Conv2d(10, 1, 1, bias=False))
    sparse = ChannelSparseMomentum(net, 0.3)
    assert [len(channels_on(m)) for m in sparse.masks.values()] == [1, 1]
    assert sparse.nonzeros() == 5 <= sparse.budget == pytest.approx(5.4)
    # no floor needed: floor(d C_i) per layer, within budget by construction (resnet20 stem at 0.3 is the exception)
    wide = nn.Sequential(nn.Conv2d(16, 4, 3, bias=False), nn.Conv2d(20, 2, 1, bias=False))
    assert [len(channels_on(m)) for m in ChannelSparseMomentum(wide, 0.3).masks.values()] == [4, 6]
    # every layer at one channel and still over budget: refused
    with pytest.raises(ValueError, match="too low for channel pruning: one input channel per conv needs 5 weights"):
        ChannelSparseMomentum(nn.Sequential(nn.Conv2d(2, 4, 1), nn.Conv2d(10, 1, 1)), 0.2)


def _two_layers(momentum_b):
    """Layer a: 4 -> 2 (s = 2), layer b: 4 -> 3 (s = 3); 20 weights at d = 0.5: budget 10, init
    2 channels each (4 + 6 weights). Channels 0 and 1 on, channel 1 the smaller in both."""
    net = nn.Sequential(nn.Conv2d(4, 2, 1, bias=False), nn.Conv2d(4, 3, 1, bias=False))
    sparse = ChannelSparseMomentum(net, 0.5)
    assert sparse.nonzeros() == 10
    a, b = sparse.weights["0.weight"], sparse.weights["1.weight"]
    on = torch.tensor([1, 1, 0, 0], dtype=torch.bool).view(1, 4, 1, 1)
    sparse.masks["0.weight"].copy_(on.expand(2, 4, 1, 1))
    sparse.masks["1.weight"].copy_(on.expand(3, 4, 1, 1))
    set_channels(a, [[1, 1], [0.1, 0.1], [0, 0], [0, 0]])
    set_channels(b, [[1, 1, 1], [0.1, 0.1, 0.1], [0, 0, 0], [0, 0, 0]])
    opt = torch.optim.SGD([a, b], lr=0.1, momentum=0.9)
    ma, mb = torch.zeros_like(a), torch.zeros_like(b)
    set_channels(ma, [[0.3, 0.3], [0.3, -0.3], [0.1, 0.1], [0.5, 0]])  # active mean |m| 0.3
    set_channels(mb, momentum_b)
    opt.state[a]["momentum_buffer"], opt.state[b]["momentum_buffer"] = ma, mb
    return sparse, opt


def test_momentum_redistribution_by_hand():
    """Rate 0.5 prunes channel 1 of each layer (kept 2 + 3 = 5), leaving 10 - 5 = 5 weights to regrow.
    b's active mean |momentum| 0.1 vs a's 0.3: shares 0.75 / 0.25 -> 3.75 / 1.25 weights -> 4 / 1
    (largest remainder); a regrows 4 // 2 = 2 channels, b 1 // 3 = 0, and no channel of b fits the
    1 weight left. a's inactive channels by momentum F^2: 3 (0.25), 1 (0.18), 2 (0.02) -> 3 and 1."""
    sparse, opt = _two_layers([[0.1, 0.1, 0.1], [0.1, -0.1, 0.1], [0.9, 0, 0], [0, 0, 0.2]])
    stats = sparse.prune_and_regrow(opt, 0.5)
    assert stats.removed == {"0.weight": 1, "1.weight": 1}
    assert stats.shares == pytest.approx({"0.weight": 0.75, "1.weight": 0.25})
    assert stats.regrown == {"0.weight": 2, "1.weight": 0}
    assert channels_on(sparse.masks["0.weight"]) == [0, 1, 3] and channels_on(sparse.masks["1.weight"]) == [0]
    assert sparse.nonzeros() == 9 <= sparse.budget  # the 1 weight left over is slack for the next round
    assert sparse.weights["0.weight"][:, 1].abs().sum() == 0  # channel 1 regrown from zero


def test_momentum_redistribution_remainder_channel_by_hand():
    """Equal shares (both 0.3): 5 weights -> 3 / 2 (tie: layer order) -> a 1 channel, b 0, 3 weights
    left; by fractional channel b (2/3) comes before a (1/2) and its 3-weight channel fits: b regrows
    channel 2 (momentum F^2 0.81 over 0.27, 0.04), a channel 3. Kept 10 = the budget, not above."""
    sparse, opt = _two_layers([[0.3, 0.3, 0.3], [0.3, -0.3, 0.3], [0.9, 0, 0], [0, 0, 0.2]])
    stats = sparse.prune_and_regrow(opt, 0.5)
    assert stats.shares == pytest.approx({"0.weight": 0.5, "1.weight": 0.5})
    assert stats.regrown == {"0.weight": 1, "1.weight": 1}
    assert channels_on(sparse.masks["0.weight"]) == [0, 3] and channels_on(sparse.masks["1.weight"]) == [0, 2]
    assert sparse.nonzeros() == 10


def _kept_weights(sparse):
    return sum(int((w != 0).sum()) for w in sparse.weights.values())


def test_eq5_whole_channels_and_zeros_at_every_step_on_resnet20():
    torch.manual_seed(0)
    net = build_network("resnet20", "floats", dual_bn=True)
    sparse = ChannelSparseMomentum(net, 0.3, generator=torch.Generator().manual_seed(1), schedule="constant")
    total = sum(w.numel() for w in sparse.weights.values())
    assert len(sparse.masks) == 21 and sparse.budget == pytest.approx(0.3 * total)

    def check():
        assert sparse.nonzeros() <= sparse.budget and _kept_weights(sparse) <= sparse.budget
        for name, weight in sparse.weights.items():
            assert len(channels_on(sparse.masks[name])) >= 1, name  # never a layer without input
            assert not weight[~sparse.masks[name]].any(), name  # masked weights are exactly zero

    check()
    # init: floor(0.3 C_i) channels (16 -> 4, 32 -> 9, 64 -> 19), the 3-channel stem raised to 1
    assert len(channels_on(sparse.masks["conv1.weight"])) == 1
    assert len(channels_on(sparse.masks["layers.0.0.conv1.weight"])) == 4
    assert len(channels_on(sparse.masks["layers.2.2.conv2.weight"])) == 19
    settings = TrainSettings(attack_steps=1, batch_size=8)
    opt = make_optimizer(net, settings)
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 10
    moved = False
    for epoch in range(4):
        for step in range(2):
            train_step(net, opt, x, y, settings, torch.Generator().manual_seed(10 * epoch + step))
            sparse.apply()
            check()
        before = sparse.state_dict()
        stats = sparse.prune_and_regrow(opt, sparse.rate(epoch, 4))
        check()
        assert sum(stats.removed.values()) > 0
        moved |= any(not torch.equal(before[n], sparse.masks[n]) for n in before)
    assert moved  # masks really changed across epochs


def test_budget_never_exceeded_under_random_momenta():
    """Random weights and momenta, rates up to 0.9, many rounds: the kept total stays within
    floor(d N) and every layer keeps at least one channel."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 5, 1), nn.Conv2d(5, 7, 3), nn.Conv2d(7, 2, 1))
    gen = torch.Generator().manual_seed(2)
    for density in (0.3, 0.5, 0.7):
        sparse = ChannelSparseMomentum(net, density, generator=gen)
        opt = torch.optim.SGD([w for w in sparse.weights.values()], lr=0.1, momentum=0.9)
        for _ in range(25):
            with torch.no_grad():
                for w in sparse.weights.values():
                    w.copy_(torch.randn(w.shape, generator=gen))
                    opt.state[w]["momentum_buffer"] = torch.randn(w.shape, generator=gen)
            sparse.apply()
            sparse.prune_and_regrow(opt, float(torch.rand((), generator=gen)) * 0.9)
            assert sparse.nonzeros() <= math.floor(sparse.budget) and _kept_weights(sparse) <= sparse.budget
            assert all(len(channels_on(m)) >= 1 for m in sparse.masks.values())


@pytest.mark.parametrize("engine", [SparseMomentum, ChannelSparseMomentum])
def test_excluded_convs_stay_dense_and_outside_eq5(engine):
    torch.manual_seed(0)
    net = build_network("resnet20", "floats", dual_bn=True)
    exclude = ("conv1", "*.shortcut.*")
    names = masked_weights(net, exclude)
    assert len(names) == 21 - 3 and "conv1.weight" not in names
    assert not any("shortcut" in n for n in names)
    sparse = engine(net, 0.3, generator=torch.Generator().manual_seed(1), exclude=exclude)
    assert set(sparse.masks) == set(names)
    assert sparse.budget == pytest.approx(0.3 * sum(w.numel() for w in names.values()))
    dense = {"conv1.weight": net.conv1.weight, "layers.1.0.shortcut.0.weight": net.layers[1][0].shortcut[0].weight}
    settings = TrainSettings(attack_steps=1, batch_size=8)
    opt = make_optimizer(net, settings)
    train_step(net, opt, torch.rand(8, 3, 16, 16), torch.arange(8) % 10, settings, torch.Generator().manual_seed(0))
    sparse.apply()
    sparse.prune_and_regrow(opt, 0.5)
    for name, weight in dense.items():
        assert weight.ne(0).all(), name  # never masked
    assert sparse.nonzeros() <= sparse.budget and "conv1.weight" not in sparse.state_dict()


def _config(kind, noise_on_pruned, **extra):
    return ModelConfig(
        arch="resnet20", method="floats", dataset="digits", input={"height": 8, "width": 8}, num_classes=10,
        sparsity={"kind": kind, "density": 0.3, "noise_on_pruned": noise_on_pruned, **extra},
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["irregular", "channel"])
def test_masked_noise_sets_noise_mask_and_it_follows_the_mask(kind):
    config = _config(kind, False, exclude=["conv1"])
    net = build_network("resnet20", "floats", dual_bn=True)
    sparse = sparse_training(config, net, seed=0)
    assert type(sparse) is {"irregular": SparseMomentum, "channel": ChannelSparseMomentum}[kind]
    convs = {f"{n}.weight": m for n, m in net.named_modules() if isinstance(m, NoisyConv2d)}
    assert convs["conv1.weight"].noise_mask is None  # excluded: dense, dense noise
    for name, mask in sparse.masks.items():
        assert convs[name].noise_mask is mask
    assert not any("noise_mask" in key for key in net.state_dict())
    settings = TrainSettings(attack_steps=1, batch_size=8)
    opt = make_optimizer(net, settings)
    train_step(net, opt, torch.rand(8, 3, 16, 16), torch.arange(8) % 10, settings, torch.Generator().manual_seed(0))
    sparse.apply()
    before = sparse.state_dict()
    sparse.prune_and_regrow(opt, 0.5)
    assert any(not torch.equal(before[n], sparse.masks[n]) for n in before)
    for name, mask in sparse.masks.items():  # still the live masks after prune / regrow ...
        assert convs[name].noise_mask is mask
    sparse.load_state_dict(before)  # ... and after loading a checkpoint's masks
    for name, mask in sparse.masks.items():
        assert convs[name].noise_mask is mask and torch.equal(mask, before[name])
    # dense noise (the default): no noise_mask anywhere
    plain = build_network("resnet20", "floats", dual_bn=True)
    sparse_training(_config(kind, True), plain, seed=0)
    noisy = [m for m in plain.modules() if isinstance(m, NoisyConv2d)]
    assert noisy and all(m.noise_mask is None for m in noisy)  # not vacuous: the net has noisy convs


def test_channel_masks_from_a_checkpoint_must_be_whole_channels():
    net = nn.Sequential(nn.Conv2d(4, 2, 1, bias=False))
    sparse = ChannelSparseMomentum(net, 0.5)
    split = torch.zeros(2, 4, 1, 1, dtype=torch.bool)
    split[0, 0] = True
    with pytest.raises(ValueError, match="not whole input channels"):
        sparse.load_state_dict({"0.weight": split})
    with pytest.raises(ValueError, match="more weights than the density allows"):
        sparse.load_state_dict({"0.weight": torch.ones(2, 4, 1, 1, dtype=torch.bool)})


def tiny_floats_c(name):
    return tiny_run(name, _config("channel", True))


def test_floats_c_training_writes_channel_masks_and_resumes_bit_identically(tmp_path):
    full = train_run(tiny_floats_c("full"), tmp_path, progress=False)
    payload = load_checkpoint(full)
    masks, state = payload["masks"], payload["model"]
    assert len(masks) == 21
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept <= 0.3 * total
    for name, mask in masks.items():
        assert len(channels_on(mask)) >= 1, name  # whole input channels, at least one per conv
        assert not state[name][~mask].any(), name
    assert payload["history"][-1]["density"] == kept / total
    run = tiny_floats_c("full")
    start = sparse_training(run.model, build_for_config(run.model), run.train.seed).state_dict()
    assert any(not torch.equal(start[n], masks[n]) for n in masks)  # pruned and regrown after epoch 1

    def interrupt(record):
        raise KeyboardInterrupt

    with pytest.raises(HwsimError, match="continue with --resume"):
        train_run(tiny_floats_c("cut"), tmp_path, progress=False, on_epoch=interrupt)
    resumed = load_checkpoint(train_run(tiny_floats_c("cut"), tmp_path, resume=True, progress=False))
    for name, tensor in state.items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for name, mask in masks.items():
        assert torch.equal(mask, resumed["masks"][name]), name
