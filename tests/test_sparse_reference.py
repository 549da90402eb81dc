"""FLOATS divergences from the published FLOAT code (shunlinlu/FLOAT_v2) as named options of the
``sparsity`` block (issue 18): each option's default keeps hwsim's rule, its other value gives the
reference's, and the reference's rule is re-implemented here independently of hwsim to check it."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import ModelConfig, SparsityConfig
from hwsim.nets import build_network
from hwsim.runner import sparse as sparse_module
from hwsim.runner.sparse import (
    ChannelSparseMomentum,
    SparseMomentum,
    masked_weights,
    minibatch_prune_rate,
    prune_rate,
    sparse_training,
)
from hwsim.runner.train import load_checkpoint, train_run

from .conftest import one_line_error, tiny_run


class LinearDecay:
    """FLOAT_v2 admm_core.py:46-62, as written there."""

    def __init__(self, prune_rate, T_max):
        self.steps = 0
        self.decrement = prune_rate / float(T_max)
        self.current_prune_rate = prune_rate

    def step(self):
        self.steps += 1
        self.current_prune_rate -= self.decrement

    def get_dr(self, prune_rate):
        return self.current_prune_rate


def reference_adjust_prune_rate(prune_rate, name2zeros, name2numel, name2variance):
    """FLOAT_v2 admm_core.py:464-480 (sparse_learning's Masking.adjust_prune_rate), on plain dicts."""
    name2prune_rate = {}
    for name in name2zeros:
        name2prune_rate[name] = prune_rate
        sparsity = name2zeros[name] / float(name2numel[name])
        if sparsity < 0.2:
            expected_variance = 1.0 / len(list(name2variance.keys()))
            actual_variance = name2variance[name]
            expected_vs_actual = expected_variance / actual_variance
            if expected_vs_actual < 1.0:
                name2prune_rate[name] = min(sparsity, name2prune_rate[name])
    return name2prune_rate


# ---- 1. prune_decay_step ----------------------------------------------------------------------


def test_minibatch_decay_is_the_references_linear_decay_at_every_epoch_end():
    net = nn.Sequential(nn.Conv2d(4, 2, 1, bias=False))
    per_epoch, epochs = 7, 5
    engine = SparseMomentum(net, 0.5, initial_rate=0.5, decay_step="minibatch")
    default = SparseMomentum(net, 0.5, initial_rate=0.5)
    decay = LinearDecay(0.5, per_epoch * epochs)  # OAT_sparse.py:199-200
    for epoch in range(epochs):
        for _ in range(per_epoch):
            engine.step()
            default.step()
            decay.step()  # mask.step() each minibatch, admm_core.py:358
        # at the epoch end (OAT_sparse.py:311) the prune uses the rate decayed that far
        assert engine.rate(epoch, epochs, steps_per_epoch=per_epoch) == decay.get_dr(0.5)
        assert engine.rate(epoch, epochs, steps_per_epoch=per_epoch) == pytest.approx(
            0.5 * (1 - (epoch + 1) / epochs), abs=1e-12
        )
        # the default: once per epoch, p (1 - e / (E - 1)), the step count plays no part
        assert default.rate(epoch, epochs) == 0.5 * (1 - epoch / (epochs - 1)) == prune_rate(epoch, epochs, 0.5)
    assert [round(minibatch_prune_rate(0.5, 20, k), 12) for k in (0, 4, 10, 20)] == [0.5, 0.4, 0.25, 0.0]
    with pytest.raises(ValueError, match="steps per epoch"):
        engine.rate(0, epochs)
    constant = SparseMomentum(net, 0.5, initial_rate=0.3, schedule="constant", decay_step="minibatch")
    assert constant.rate(3, epochs, steps_per_epoch=per_epoch) == 0.3


def test_minibatch_rate_is_what_the_epoch_end_prune_removes():
    """One 1 x 1 conv of 40 weights, 20 kept; after 3 of 4 x 2 steps the rate is 0.5 (1 - 3/8) =
    0.3125: ceil(0.3125 x 20) = 7 weights pruned (the per-epoch rule at epoch 1 of 2 would prune 0)."""
    net = nn.Sequential(nn.Conv2d(40, 1, 1, bias=False))
    engine = SparseMomentum(net, 0.5, decay_step="minibatch")
    for _ in range(3):
        engine.step()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    with torch.no_grad():
        net[0].weight.copy_(torch.arange(1, 41, dtype=torch.float).view_as(net[0].weight))
    engine.apply()
    rate = engine.rate(1, 2, steps_per_epoch=4)
    assert rate == LinearDecay_after(0.5, 8, 3)
    stats = engine.prune_and_regrow(opt, rate)
    assert stats.removed == {"0.weight": 7} == {"0.weight": math.ceil(rate * 20)}


def LinearDecay_after(rate, total, steps):
    decay = LinearDecay(rate, total)
    for _ in range(steps):
        decay.step()
    return decay.get_dr(rate)


def test_step_count_is_engine_state():
    net = nn.Sequential(nn.Conv2d(4, 2, 1, bias=False))
    engine = SparseMomentum(net, 0.5, decay_step="minibatch")
    for _ in range(5):
        engine.step()
    assert engine.extra_state() == {"steps": 5}
    other = SparseMomentum(net, 0.5, decay_step="minibatch")
    other.load_extra_state(engine.extra_state())
    assert other.steps == 5 and other.rate(0, 2, steps_per_epoch=4) == engine.rate(0, 2, steps_per_epoch=4)
    with pytest.raises(ValueError, match="no prune-rate step count"):
        other.load_extra_state(None)  # a checkpoint from before the counter cannot be a minibatch run
    old = SparseMomentum(net, 0.5)
    old.load_extra_state(None)  # ... but an epoch-schedule one loads as before
    assert old.steps == 0
    with pytest.raises(ValueError, match="whole number"):
        old.load_extra_state({"steps": -1})


# ---- 2. adjust_prune_rate ---------------------------------------------------------------------


def _three_layers(adjust):
    """Three 1 x 10 convs: a and b keep 9 of 10 (sparsity 0.1), c 3 of 10 (0.7). Mean |momentum| of
    the active weights: a 1.0, b 0.1, c 0.1 -> shares 10/12, 1/12, 1/12; 1/3 expected."""
    net = nn.Sequential(*(nn.Conv2d(10, 1, 1, bias=False) for _ in range(3)))
    engine = SparseMomentum(net, 0.7, adjust_rate=adjust)
    keep = {"0.weight": 9, "1.weight": 9, "2.weight": 3}
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for (name, weight), mom in zip(engine.weights.items(), (1.0, 0.1, 0.1)):
        mask = torch.zeros(10, dtype=torch.bool)
        mask[: keep[name]] = True
        engine.masks[name] = mask.view_as(weight)
        with torch.no_grad():
            weight.copy_(torch.arange(1, 11, dtype=torch.float).view_as(weight))
        opt.state[weight]["momentum_buffer"] = torch.full_like(weight, mom)
    engine.apply()
    return engine, opt


def test_adjust_prune_rate_is_the_references_on_known_densities():
    engine, opt = _three_layers(adjust=True)
    shares = [10 / 12, 1 / 12, 1 / 12]
    got = engine.layer_rates(0.5, shares)
    expected = reference_adjust_prune_rate(
        0.5,
        {n: 10 - int(m.sum()) for n, m in engine.masks.items()},
        {n: 10 for n in engine.masks},
        dict(zip(engine.masks, shares)),
    )
    assert got == expected == {"0.weight": 0.1, "1.weight": 0.5, "2.weight": 0.5}
    stats = engine.prune_and_regrow(opt, 0.5)
    # a: ceil(0.1 x 9) = 1 (dense and growing), b: ceil(0.5 x 9) = 5 (dense, not growing), c: ceil(1.5) = 2
    assert stats.removed == {"0.weight": 1, "1.weight": 5, "2.weight": 2}
    assert stats.shares == pytest.approx(dict(zip(engine.masks, shares)))
    assert sum(stats.regrown.values()) == 8 and engine.nonzeros() == 21


def test_without_adjust_prune_rate_every_layer_prunes_at_the_rate():
    engine, opt = _three_layers(adjust=False)
    assert engine.layer_rates(0.5, [10 / 12, 1 / 12, 1 / 12]) == dict.fromkeys(engine.masks, 0.5)
    assert engine.prune_and_regrow(opt, 0.5).removed == {"0.weight": 5, "1.weight": 5, "2.weight": 2}


# ---- 3. initial_mask --------------------------------------------------------------------------


def test_bernoulli_start_is_the_references_draw_and_exact_keeps_exact_counts():
    net = build_network("resnet20", "float", dual_bn=True)
    weights = masked_weights(net)
    engine = SparseMomentum(
        net, 0.3, generator=torch.Generator().manual_seed(5), initial_mask="bernoulli", layer_density={"conv1": 0.5}
    )
    gen = torch.Generator().manual_seed(5)  # admm_core.py:181, torch.rand(shape) < density, layer by layer
    for name, weight in weights.items():
        drawn = torch.rand(weight.shape, generator=gen) < (0.5 if name == "conv1.weight" else 0.3)
        assert torch.equal(engine.masks[name], drawn), name
    assert engine.nonzeros() != sum(math.floor(0.3 * w.numel()) for w in weights.values())  # not a fixed count
    assert engine.cap == max(math.floor(engine.budget), engine.nonzeros())
    engine.load_state_dict(engine.state_dict())  # its own start loads, even if Bernoulli drew over d N
    exact = SparseMomentum(net, 0.3, generator=torch.Generator().manual_seed(5))
    assert [int(m.sum()) for m in exact.masks.values()] == [math.floor(0.3 * w.numel()) for w in weights.values()]


def test_sparse_training_draws_the_bernoulli_start_from_the_run_seed():
    model = ModelConfig(
        arch="resnet20", method="floats", dataset="digits", input={"height": 8, "width": 8}, num_classes=10,
        sparsity={"kind": "irregular", "density": 0.3, "initial_mask": "bernoulli"},
    )  # fmt: skip
    net = build_network("resnet20", "floats", 10, dual_bn=True)
    one, two = sparse_training(model, net, 3), sparse_training(model, net, 3)
    gen = torch.Generator().manual_seed(3 + 7919)
    for name, weight in masked_weights(net).items():
        assert torch.equal(one.masks[name], torch.rand(weight.shape, generator=gen) < 0.3), name
        assert torch.equal(one.masks[name], two.masks[name])
    other = sparse_training(model, net, 4)
    assert any(not torch.equal(one.masks[n], other.masks[n]) for n in one.masks)


# ---- 4. channel_init --------------------------------------------------------------------------


def test_reference_channel_start_is_floats_i_s_irregular_draw():
    net = build_network("resnet20", "float", dual_bn=True)
    ref = ChannelSparseMomentum(net, 0.3, generator=torch.Generator().manual_seed(2), channel_init="reference")
    irregular = SparseMomentum(net, 0.3, generator=torch.Generator().manual_seed(2))
    for name in irregular.masks:
        assert torch.equal(ref.masks[name], irregular.masks[name]), name
    assert not ChannelSparseMomentum._whole(ref.masks["layers.0.0.conv1.weight"])
    channels = ChannelSparseMomentum(net, 0.3, generator=torch.Generator().manual_seed(2))
    assert all(ChannelSparseMomentum._whole(m) for m in channels.masks.values())


def _one_irregular_conv(density, weight, momentum):
    net = nn.Sequential(nn.Conv2d(4, 2, 1, bias=False))
    engine = ChannelSparseMomentum(net, density, channel_init="reference")
    w = engine.weights["0.weight"]
    with torch.no_grad():
        w.copy_(torch.tensor(weight).view_as(w))
    engine.masks["0.weight"].copy_(w != 0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    opt.state[w]["momentum_buffer"] = torch.tensor(momentum).view_as(w)
    return engine, opt, w


def reference_channel_prune(weight, mask, rate):
    """FLOAT_v2 funcs.py:144-177 channel_prune for a C_o x C_i x 1 x 1 weight, in numpy."""
    nonzeros = int(mask.sum())
    num_remove = math.ceil(rate * nonzeros)
    k = math.ceil(mask.size - nonzeros + num_remove)
    fro = np.array([np.linalg.norm(weight[:, c : c + 1], "fro") for c in range(weight.shape[1])])
    percent = 100 * (k / (nonzeros - num_remove + k))
    return fro > np.percentile(fro, percent)


def test_reference_channel_start_first_prune_is_channel_prune_by_hand():
    """Weights (rows C_o, columns C_i) [[3, 1, 0, 0], [0, 1, .5, 0]], 4 of 8 on, d = 0.5, rate 0.5:
    num_remove 2, q = 6/8; channel norms 3, sqrt 2, .5, 0 -> 0.75-quantile sqrt2 + .25 (3 - sqrt2)
    = 1.81: only channel 0 stays (2 weights), 2 of 3 active channels lost. Regrowth: Eq. 5 leaves
    4 - 2 = 2 weights, one channel of 2, the inactive one of largest momentum norm: channel 3."""
    weight = [[3.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0]]
    momentum = [[0.0, 0.0, 0.1, 0.9], [0.0, 0.0, 0.1, -0.9]]
    engine, opt, w = _one_irregular_conv(0.5, weight, momentum)
    expected = reference_channel_prune(np.array(weight), np.array(weight) != 0, 0.5)
    assert expected.tolist() == [True, False, False, False]
    stats = engine.prune_and_regrow(opt, 0.5)
    assert stats.removed == {"0.weight": 2} and stats.regrown == {"0.weight": 1}
    mask = engine.masks["0.weight"].view(2, 4)
    assert mask.tolist() == [[True, False, False, True], [True, False, False, True]]
    assert w.view(2, 4).tolist() == [[3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]  # regrown from zero
    assert ChannelSparseMomentum._whole(engine.masks["0.weight"])
    # from now on the engine's whole-channel rule: ceil(0.5 x 2) = 1, never the last
    assert engine.prune_and_regrow(opt, 0.5).removed == {"0.weight": 1}


def test_reference_channel_start_overshoot_is_trimmed_to_eq5():
    """d = 0.4 of 8 weights: 3 kept, rate 0: q = 5/8, position 1.875 of the sorted channel norms
    (0, 2, 2.5, 3): quantile 2 + .875 x .5 = 2.4375, so channels 2 and 3 survive whole, 4 weights >
    floor(3.2) = 3: the one of smaller norm (channel 2) comes off; 3 - 2 = 1 weight left, no whole
    channel (2 weights) regrows."""
    weight = [[0.0, 2.0, 2.5, 3.0], [0.0, 0.0, 0.0, 0.0]]
    engine, opt, w = _one_irregular_conv(0.4, weight, [[0.0] * 4, [0.0] * 4])
    assert engine.cap == 3
    assert reference_channel_prune(np.array(weight), np.array(weight) != 0, 0.0).tolist() == [
        False, False, True, True,
    ]  # fmt: skip
    stats = engine.prune_and_regrow(opt, 0.0)
    assert stats.removed == {"0.weight": 2} and stats.regrown == {"0.weight": 0}
    assert engine.masks["0.weight"].view(2, 4)[:, 3].all() and engine.nonzeros() == 2


# ---- the options in the model YAML and the CLI ------------------------------------------------


def test_old_sparsity_blocks_load_with_todays_rules():
    block = SparsityConfig.model_validate({"kind": "channel", "density": 0.3})
    assert (block.prune_decay_step, block.adjust_prune_rate, block.initial_mask, block.channel_init) == (
        "epoch", False, "exact", "channels",
    )  # fmt: skip


@pytest.mark.parametrize(
    "block, fragment",
    [
        ("{kind: irregular, density: 0.3, prune_decay_step: batch}", "sparsity.prune_decay_step"),
        ("{kind: irregular, density: 0.3, initial_mask: erk}", "sparsity.initial_mask"),
        ("{kind: irregular, density: 0.3, adjust_prune_rate: maybe}", "sparsity.adjust_prune_rate"),
        ("{kind: channel, density: 0.3, channel_init: filters}", "sparsity.channel_init"),
        ("{kind: irregular, density: 0.3, channel_init: reference}", "only kind channel has a channel start"),
        ("{kind: channel, density: 0.3, initial_mask: bernoulli}", "bernoulli needs channel_init: reference"),
    ],
)
def test_bad_reference_options_are_one_line(tmp_path, block, fragment):
    model = tmp_path / "m.yaml"
    model.write_text(f"arch: resnet20\nmethod: floats\ndataset: digits\nsparsity: {block}\n")
    one_line_error(CliRunner().invoke(app, ["estimate", str(model)]), fragment)


def test_engine_refuses_unknown_option_values():
    with pytest.raises(ValueError, match="initial_mask: unknown 'erk'"):
        SparseMomentum(nn.Sequential(nn.Conv2d(4, 2, 1)), 0.5, initial_mask="erk")


# ---- training: the rate each epoch-end prune used, and resume -----------------------------------


def _reference_run(name):
    model = ModelConfig(
        arch="resnet20", method="floats", dataset="digits", input={"height": 8, "width": 8}, num_classes=10,
        sparsity={"kind": "channel", "density": 0.3, "prune_decay_step": "minibatch", "adjust_prune_rate": True,
                  "initial_mask": "bernoulli", "channel_init": "reference"},
    )  # fmt: skip
    return tiny_run(name, model, epochs=3)


def test_reference_options_train_and_resume_bit_identically(tmp_path, monkeypatch):
    used = []
    original = sparse_module._SparseEngine.prune_and_regrow

    def recording(self, optimizer, rate):
        used.append((self.steps, rate))
        return original(self, optimizer, rate)

    monkeypatch.setattr(sparse_module._SparseEngine, "prune_and_regrow", recording)
    full = train_run(_reference_run("full"), tmp_path, progress=False)
    payload = load_checkpoint(full)
    steps = payload["sparse_state"]["steps"]
    per_epoch = steps // 3
    assert steps == 3 * per_epoch and per_epoch == 2  # 64 images, batches of 32
    # each epoch-end prune used LinearDecay(0.5, 2 x 3) after (e + 1) x 2 minibatches
    assert used == [((e + 1) * per_epoch, LinearDecay_after(0.5, 3 * per_epoch, (e + 1) * per_epoch)) for e in range(3)]
    masks = payload["masks"]
    assert all(ChannelSparseMomentum._whole(m) for m in masks.values())  # whole channels after epoch 1
    used.clear()

    def interrupt(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(Exception, match="continue with --resume"):
        train_run(_reference_run("cut"), tmp_path, progress=False, on_epoch=interrupt)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["sparse_state"] == {"steps": per_epoch}
    cut = train_run(_reference_run("cut"), tmp_path, resume=True, progress=False)
    resumed = load_checkpoint(cut)
    assert resumed["sparse_state"] == {"steps": steps}
    for name, tensor in payload["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for name, mask in masks.items():
        assert torch.equal(mask, resumed["masks"][name]), name
