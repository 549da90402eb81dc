"""FLOATS-i masking (sparse momentum): Eq. 5 at every step, hand-checked prune / redistribute / regrow."""

import json
import math

import pytest
import torch
from torch import nn

from hwsim.nets import build_network
from hwsim.runner.sparse import SparseMomentum, _whole_shares, masked_weights, prune_rate
from hwsim.runner.train import TrainSettings, make_optimizer, train_step
from hwsim.workload.extract import extract_layers


def test_masks_cover_every_conv_weight_and_nothing_else():
    net = build_network("resnet20", "float", dual_bn=True)
    names = masked_weights(net)
    assert len(names) == 21 and all(name.endswith(".weight") and p.ndim == 4 for name, p in names.items())
    assert "fc.weight" not in names and not any("alpha" in n or "bn" in n for n in names)


def test_eq5_holds_at_init_after_every_step_and_after_prune_regrow():
    torch.manual_seed(0)
    net = build_network("resnet20", "float", dual_bn=True)
    sparse = SparseMomentum(net, 0.1, generator=torch.Generator().manual_seed(1))
    total = sum(w.numel() for w in sparse.weights.values())
    kept = sum(math.floor(0.1 * w.numel()) for w in sparse.weights.values())
    assert sparse.nonzeros() == kept <= sparse.budget == pytest.approx(0.1 * total)
    settings = TrainSettings(attack_steps=1, batch_size=8)
    opt = make_optimizer(net, settings)
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 10
    for epoch in range(3):
        for _ in range(2):
            train_step(net, opt, x, y, settings, torch.Generator().manual_seed(epoch))
            sparse.apply()
            for name, weight in sparse.weights.items():  # masked weights are exactly zero
                assert not weight[~sparse.masks[name]].any()
            assert sum(int((w != 0).sum()) for w in sparse.weights.values()) <= sparse.budget
        stats = sparse.prune_and_regrow(opt, prune_rate(epoch, 3))
        assert sum(stats.removed.values()) == sum(stats.regrown.values())
        assert sparse.nonzeros() == kept  # the kept total never changes: Eq. 5 with the same slack
    assert prune_rate(0, 3) == 0.5 and prune_rate(1, 3) == 0.25 and prune_rate(2, 3) == 0.0


def test_prune_redistribute_regrow_by_hand():
    """Two 1 x 1 convs of 4 and 8 weights, 2 and 4 kept. Rate 0.5 removes the smallest active weight
    of layer a (1) and the two smallest of layer b (2); the 3 regrown go by mean |momentum| of the
    active weights: a 0.6, b 0.2 -> shares 0.75 / 0.25 -> 2.25 / 0.75 -> 2 / 1 by largest remainder."""
    net = nn.Sequential(nn.Conv2d(4, 1, 1, bias=False), nn.Conv2d(8, 1, 1, bias=False))
    sparse = SparseMomentum(net, 0.5)
    a, b = sparse.weights["0.weight"], sparse.weights["1.weight"]
    with torch.no_grad():
        a.copy_(torch.tensor([0.9, 0.1, 0.0, 0.0]).view_as(a))
        b.copy_(torch.tensor([0.8, 0.7, 0.2, 0.3, 0, 0, 0, 0]).view_as(b))
    sparse.masks["0.weight"] = (a != 0).clone()
    sparse.masks["1.weight"] = (b != 0).clone()
    opt = torch.optim.SGD([a, b], lr=0.1, momentum=0.9)
    opt.state[a]["momentum_buffer"] = torch.tensor([0.6, -0.6, 0.5, -0.9]).view_as(a)
    opt.state[b]["momentum_buffer"] = torch.tensor([0.2, -0.2, 0.2, 0.2, 0.1, -0.4, 0.3, 0.0]).view_as(b)
    stats = sparse.prune_and_regrow(opt, 0.5)
    assert stats.removed == {"0.weight": 1, "1.weight": 2}
    assert stats.shares == pytest.approx({"0.weight": 0.75, "1.weight": 0.25})
    assert stats.regrown == {"0.weight": 2, "1.weight": 1}
    # a: keeps 0.9, drops 0.1 (index 1); regrows its 2 inactive positions of largest |momentum|:
    # indices 3 (0.9) and 1 (0.6) over 2 (0.5)
    assert sparse.masks["0.weight"].flatten().tolist() == [True, True, False, True]
    # b: drops 0.2 and 0.3 (indices 2, 3); regrows index 5 (|-0.4|, the largest inactive momentum)
    assert sparse.masks["1.weight"].flatten().tolist() == [True, True, False, False, False, True, False, False]
    assert a.flatten().tolist() == pytest.approx([0.9, 0.0, 0.0, 0.0])  # regrown weights start from zero
    assert sparse.nonzeros() == 6


def test_whole_shares_respect_capacity_and_total():
    assert _whole_shares(3, [0.75, 0.25], [5, 5]) == [2, 1]
    assert _whole_shares(10, [0.9, 0.1], [4, 20]) == [4, 6]  # a full layer passes its surplus on
    assert _whole_shares(5, [0.5, 0.5], [1, 1]) == [1, 1]  # no room left: never over capacity
    with pytest.raises(ValueError, match="density"):
        SparseMomentum(nn.Conv2d(1, 1, 1), 0.0)


# ---- FLOATS-i through the commands: costing and a real (tiny) training run ---------------------

from typer.testing import CliRunner  # noqa: E402

from hwsim.cli import app  # noqa: E402
from hwsim.config import ModelConfig, load_model_config, load_spec  # noqa: E402
from hwsim.errors import HwsimError  # noqa: E402
from hwsim.estimate import estimate_model  # noqa: E402
from hwsim.report import report_frame  # noqa: E402
from hwsim.runner.evaluate import evaluate_checkpoint  # noqa: E402
from hwsim.runner.train import load_checkpoint, train_run  # noqa: E402

from .conftest import MODELS, one_line_error, tiny_run  # noqa: E402


def test_floats_i_estimate_stores_the_kept_weights_and_costs_dense_compute():
    """ResNet34 FLOATS-i at d = 0.1: every conv keeps floor(0.1 x its weights); the classifier, BN and
    alphas stay dense; MACs and Eq. 7-9 are FLOAT's (no zero skipping: Table 1's "no speed-up")."""
    config = load_model_config(MODELS / "resnet34-cifar10-floats-i.yaml")
    spec = load_spec()
    sparse = estimate_model(config, spec)
    dense = estimate_model(config.model_copy(update={"method": "float", "sparsity": None}), spec)
    kept = sum(math.floor(0.1 * layer["weight_params"]) for layer in dense.layers if layer["op"] == "conv")
    fc = next(layer for layer in dense.layers if layer["name"] == "fc")
    assert kept == 2_125_979
    assert sparse.totals.conv_linear_bytes == kept + fc["weight_params"] + fc["bias_params"]  # 8-bit: 1 byte each
    assert sparse.totals.bn_bytes == dense.totals.bn_bytes and sparse.totals.alpha_bytes == dense.totals.alpha_bytes
    assert (sparse.totals.macs, sparse.totals.delay_ns) == (dense.totals.macs, dense.totals.delay_ns)
    assert dense.totals.conv_linear_bytes / sparse.totals.conv_linear_bytes == pytest.approx(9.98, abs=0.01)
    # effective MACs: kept weights x output positions per conv, plus the dense classifier
    by_hand = sum(
        math.floor(0.1 * layer["weight_params"]) * layer["out_h"] * layer["out_w"]
        for layer in dense.layers
        if layer["op"] == "conv"
    )
    assert sparse.totals.effective_macs == by_hand + fc["macs"] == 115_939_840
    assert dense.totals.effective_macs == dense.totals.macs


@pytest.mark.parametrize(
    "block, fragment",
    [
        ("{kind: irregular, density: 0}", "sparsity.density: Input should be greater than 0"),
        ("{kind: irregular, density: 1.5}", "sparsity.density: Input should be less than or equal to 1"),
        ("{kind: sparse, density: 0.1}", "sparsity.kind"),
        ("{kind: slim, density: 0.3, slim_factors: [0.5]}", "1.0 included"),
        ("{kind: slim, density: 0.3, slim_factors: [1.0, 1.5]}", "sparsity.slim_factors.1"),
        ("{kind: slim, density: 0.3, slim_factors: [1.0]}", "at least two factors"),
        ("{kind: irregular, density: 0.3, layer_density: {conv1: 1.5}}", "sparsity.layer_density"),
        ("{kind: irregular, density: 0.3, layer_density: {'layers.*': 0.9}}", "more than Eq. 5 allows"),
        ("{kind: channel, density: 0.01}", "too low for channel pruning"),
    ],
)
def test_bad_sparsity_blocks_are_one_line(tmp_path, block, fragment):
    model = tmp_path / "m.yaml"
    model.write_text(f"arch: resnet20\nmethod: floats\ndataset: digits\nsparsity: {block}\n")
    one_line_error(CliRunner().invoke(app, ["estimate", str(model)]), fragment)


@pytest.mark.parametrize("method", ["float", "oat"])
def test_only_floats_prunes(tmp_path, method):
    model = tmp_path / "m.yaml"
    model.write_text(
        f"arch: resnet20\nmethod: {method}\ndataset: digits\nsparsity: {{kind: slim, density: 0.3, slim_factors: [1.0, 0.5]}}\n"
    )
    one_line_error(
        CliRunner().invoke(app, ["estimate", str(model)]), "does not prune (density must be 1.0); pruning is FLOATS"
    )
    model.write_text(
        f"arch: resnet20\nmethod: {method}\ndataset: digits\nsparsity: {{kind: irregular, density: 1.0}}\n"
    )
    one_line_error(CliRunner().invoke(app, ["estimate", str(model)]), "supported: slim")


def tiny_floats(name):
    model = ModelConfig(arch="resnet20", method="floats", dataset="digits", input={"height": 8, "width": 8},
                        num_classes=10, sparsity={"kind": "irregular", "density": 0.3})  # fmt: skip
    return tiny_run(name, model)


def test_floats_i_training_keeps_eq5_in_checkpoints_and_resumes_bit_identically(tmp_path):
    full = train_run(tiny_floats("full"), tmp_path, progress=False)
    payload = load_checkpoint(full)
    masks, state = payload["masks"], payload["model"]
    assert len(masks) == 21
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept == sum(math.floor(0.3 * m.numel()) for m in masks.values()) <= 0.3 * total
    for name, mask in masks.items():  # the stored weights are zero wherever the mask is off
        assert not state[name][~mask].any(), name
    history = payload["history"]
    assert [h["density"] for h in history] == [kept / total] * 2
    layers = history[-1]["layers"]  # what the run file records per conv (hwsim report reads it, no torch)
    assert set(layers) == {name.removesuffix(".weight") for name in masks}
    stem = masks["conv1.weight"]  # 16 x 3 x 3 x 3; regrowth moved weights between layers
    assert layers["conv1"] == {"density": int(stem.sum()) / 432, "in_channels": 3, "kept_in_channels": 3}

    def interrupt(record):
        raise KeyboardInterrupt

    with pytest.raises(HwsimError, match="continue with --resume"):
        train_run(tiny_floats("cut"), tmp_path, progress=False, on_epoch=interrupt)
    cut = train_run(tiny_floats("cut"), tmp_path, resume=True, progress=False)
    # the run evaluates and joins with its (sparse) cost like any run
    evaluate_checkpoint(full, lambdas=[0.0, 1.0], attacks=["fgsm"], limit=16, progress=False)
    frame = report_frame([full])
    assert set(frame["method"]) == {"floats"} and len(frame) == 2
    dense_model = tiny_floats("d").model.model_copy(update={"method": "float", "sparsity": None})
    dense = estimate_model(dense_model, load_spec()).totals
    assert (frame["weight_bytes"] < dense.weight_bytes).all()
    # dense delay at each lambda_n: Eq. 8 at 1 (noise), Eq. 7 at 0 (no noise)
    delay = dict(zip(frame["lam"], frame["delay_ns"]))
    assert (delay[1.0], delay[0.0]) == (dense.delay_ns, dense.delay_base_ns)
    resumed = load_checkpoint(cut)
    for name, tensor in state.items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for name, mask in masks.items():
        assert torch.equal(mask, resumed["masks"][name]), name


# ---- sparse storage formats (memory.sparse_format) ---------------------------------------------


def _one_sparse_conv():
    """A 4 -> 2 1 x 1 conv (n = 8 weights) at density 0.25: 2 kept."""
    from hwsim.config import SparsityConfig
    from hwsim.workload.sparsity import with_sparsity

    table = extract_layers(nn.Conv2d(4, 2, 1, bias=False), (4, 3, 3))
    return with_sparsity(table, SparsityConfig(kind="irregular", density=0.25))


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("values", 0),  # kept values only (the paper's CR = 1/d)
        ("dense", 6 * 8),  # the 6 zeros at 8 bits
        ("bitmap", 8),  # one bit per position
        ("csr", (2 + 2 + 1) * 16),  # a column index per kept value + C_o + 1 row pointers
        ("coo", 2 * 2 * 16),  # row and column index per kept value
    ],
)
def test_sparse_format_overhead_of_one_layer_by_hand(fmt, expected):
    from hwsim.costs import SpecGrid, costs

    table = _one_sparse_conv()
    assert table["density"].tolist() == [0.25]
    grid = SpecGrid.from_arrays(
        tau_read_ns=9, tau_mult_ns=4, io_bandwidth_bits=64, weight_bits=8, n_banks=16, n_multipliers=32,
        sparse_format=fmt, index_bits=16,
    )  # fmt: skip
    result = costs(table, grid, "pgdat")
    assert result.layer("sparse_overhead_bits")[0, 0] == expected
    assert result.layer("storage_bits")[0, 0] == 2 * 8 + expected  # the 2 kept values + the overhead


def test_bitmap_at_d01_is_an_effective_cr_of_4_4_not_10():
    """The issue's example: 8-bit weights at d = 0.1 with a bitmap cost 0.8 + 1 bits per position."""
    config = load_model_config(MODELS / "resnet34-cifar10-floats-i.yaml")
    bitmap = load_spec().model_copy(update={"sparse_format": "bitmap"})
    sparse = estimate_model(config, bitmap)
    dense = estimate_model(config.model_copy(update={"method": "float", "sparsity": None}), bitmap)
    conv_dense = sum(layer["weight_params"] for layer in dense.layers if layer["op"] == "conv")  # bytes at 8 bit
    conv_values = sum(layer["full_bits"] / 8 for layer in sparse.layers if layer["op"] == "conv") - sum(
        layer["bn_bits"] / 8 + layer["alpha_bits"] / 8 for layer in sparse.layers if layer["op"] == "conv"
    )
    assert conv_dense / conv_values == pytest.approx(10.0, rel=1e-4)  # the paper's CR = 1/d
    assert conv_dense / (conv_values + sparse.totals.sparse_overhead_bytes) == pytest.approx(8 / 1.8, rel=1e-4)
    # dense models add nothing in any format; 'dense' stores the sparse model at its dense size
    assert dense.totals.storage_bytes == dense.totals.weight_bytes
    as_dense = estimate_model(config, load_spec().model_copy(update={"sparse_format": "dense"}))
    assert as_dense.totals.storage_bytes == dense.totals.weight_bytes


def test_a_grid_has_one_storage_format():
    from hwsim.costs import SpecGrid

    base = load_spec()
    with pytest.raises(HwsimError, match="differ in memory.sparse_format"):
        SpecGrid.from_specs([base, base.model_copy(update={"sparse_format": "csr"})])
    with pytest.raises(HwsimError, match="sparse_format 'zip'"):
        SpecGrid.from_arrays(**base.flat(), sparse_format="zip")


def test_estimate_run_dir_uses_the_masks_and_equals_the_analytic_estimate_when_uniform(tmp_path):
    from hwsim.estimate import estimate_run

    still = tiny_floats("still")
    still = still.model_copy(
        update={
            "model": still.model.model_copy(
                update={"sparsity": still.model.sparsity.model_copy(update={"prune_rate": 0.0})}
            )
        }
    )
    moved = tiny_floats("moved")
    spec = load_spec()
    for run in (still, moved):
        train_run(run, tmp_path, progress=False)
    analytic = estimate_model(still.model, spec)
    uniform = estimate_run(tmp_path / "still")  # masks never pruned: exactly floor(d n) per conv
    assert uniform.totals.model_dump() == analytic.totals.model_dump()
    assert [layer["density"] for layer in uniform.layers] == [layer["density"] for layer in analytic.layers]
    # after prune / regrow: the same kept total (memory), per-layer densities from the masks
    trained = estimate_run(tmp_path / "moved")
    masks = load_checkpoint(tmp_path / "moved")["masks"]
    assert trained.totals.conv_linear_bytes == analytic.totals.conv_linear_bytes
    for layer in trained.layers:
        if layer["op"] == "conv":
            mask = masks[f"{layer['name']}.weight"]
            assert layer["density"] == float(mask.sum()) / mask.numel()
    result = CliRunner().invoke(app, ["estimate", str(tmp_path / "moved"), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"] == trained.totals.model_dump()
