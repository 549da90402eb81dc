"""Sparsity-aware costs (issue 9): channel pruning and slimming reshape the table; the spec's sparse
reads and zero skipping; FLOAT's dense noise under zero skipping; channel-list storage; Table 1's
summary (CR, effective CR, CRF, Eq. 7 speed-up). Every number below is worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import load_model_config, load_spec
from hwsim.costs import costs
from hwsim.costs.memory import format_bits, sparse_overhead_bits
from hwsim.errors import HwsimError
from hwsim.estimate import estimate_model
from hwsim.workload.sparsity import initial_channel_counts, with_slim, with_sparsity
from hwsim.workload.table import SCHEMA, LayerTable

MODELS = Path(__file__).resolve().parents[1] / "models"
SPEC = load_spec()  # 9 / 4 ns, B_IO 64, B_W 8, 16 banks, 32 multipliers


def floats_config(**sparsity):
    config = load_model_config(MODELS / "resnet34-cifar10-floats-i.yaml")
    return config.model_copy(update={"sparsity": config.sparsity.model_copy(update=sparsity)})


def row_of(estimate, name):
    return next(layer for layer in estimate.layers if layer["name"] == name)


def test_channel_pruned_resnet34_layer_by_hand():
    est = estimate_model(floats_config(kind="channel", density=0.34), SPEC)
    layer = row_of(est, "layers.3.0.conv2")  # 512 -> 512, 3 x 3, on a 4 x 4 map
    kept = math.floor(0.34 * 512)
    assert (
        (layer["in_channels"], layer["full_in_channels"], layer["out_channels"]) == (174, 512, 512) == (kept, 512, 512)
    )
    k = 9 * 174 * 512
    assert k == 801_792 == layer["weight_params"]
    assert layer["macs"] == layer["effective_macs"] == k * 16 == 12_828_672
    reads = 6_414_336 // 1024  # ceil(K B_W / (B_IO N_bank)) = K * 8 / 1024, exact here
    mults = math.ceil(k / 32)  # 25,056
    assert layer["delay_base_ns"] == reads * 9 + mults * 16 * 4 == 1_659_960  # Eq. 7
    assert layer["delay_ns"] == reads * 9 + mults * 17 * 4 == 1_760_184  # Eq. 8 at lambda_n = 1
    stem = row_of(est, "conv1")  # max(1, floor(0.34 x 3)) = 1 image channel
    assert (stem["in_channels"], stem["weight_params"]) == (1, 64 * 9)


def test_initial_channel_counts_keep_eq5_with_the_one_channel_floor():
    assert initial_channel_counts([4, 3], [10, 10], 0.5) == [2, 1]  # 30 <= floor(0.5 x 70) = 35
    # floors 6 and max(1, 0) = 1: 70 weights > floor(0.3 x 220) = 66, so the bigger layer gives one back
    assert initial_channel_counts([20, 2], [10, 10], 0.3) == [5, 1]
    with pytest.raises(ValueError, match="too low for channel pruning"):
        initial_channel_counts([4, 3], [10, 10], 0.25)  # 1 + 1 channels = 20 > floor(0.25 x 70) = 17


def test_slim_table_of_resnet20_oat_by_hand():
    config = load_model_config(MODELS / "resnet20-digits-oat.yaml")
    from hwsim.estimate import layer_table

    full = layer_table(config)
    half = with_slim(full, 0.5)
    rows = {str(n): i for i, n in enumerate(half["name"])}
    stem, block, fc = rows["conv1"], rows["layers.2.0.conv1"], rows["fc"]
    assert (half["in_channels"][stem], half["out_channels"][stem], half["weight_params"][stem]) == (3, 8, 216)
    assert (half["in_channels"][block], half["out_channels"][block]) == (16, 32)  # 32 -> 64 becomes 16 -> 32
    assert (half["in_channels"][fc], half["out_channels"][fc], half["weight_params"][fc]) == (32, 10, 320)
    assert half["bias_params"][fc] == 10
    # dual BN: 4 parameters per channel; FiLM d = 1: fc1 1 -> 16 (+16), fc2 16 -> 16 (+16) = 304
    assert half["bn_params"][stem] == 4 * 8 and half["film_params"][stem] == 16 + 16 + 256 + 16 == 304
    assert half["film_channels"][stem] == 8
    film = rows["film1.fc2"]
    assert (half["in_channels"][film], half["out_channels"][film], half["weight_params"][film]) == (16, 16, 256)
    assert half.attrs["model_params"] == sum(
        int(half[c].sum()) for c in ("weight_params", "bias_params", "bn_params", "alpha_params")
    )
    assert all(np.array_equal(full[c], with_slim(full, 1.0)[c]) for c in full.columns)


def one_row(density=0.25, noisy=True, **overrides):
    """A 2 x 2 x 4 -> 8 conv (K = 128) on a 2 x 2 map."""
    row = {c.name: {"int": 0, "float": 1.0, "bool": False, "str": ""}[c.dtype] for c in SCHEMA}
    row.update(
        name="c", op="conv", kernel_h=2, kernel_w=2, in_channels=4, out_channels=8, groups=1, stride_h=1,
        stride_w=1, dilation_h=1, dilation_w=1, in_h=2, in_w=2, out_h=2, out_w=2, weight_params=128,
        noisy=noisy, alpha_params=int(noisy), density=density, full_in_channels=4, full_out_channels=8,
    )  # fmt: skip
    row.update(overrides)
    attrs = {"model_params": 128 + int(noisy), "other_params": 0}
    return LayerTable({k: [v] for k, v in row.items()}, attrs)


@pytest.mark.parametrize(
    "reads, skipping, dense_noise, noise_on, expected_reads, expected_mults",
    [
        (False, False, True, False, 16, 4 * 4),  # Eq. 7: ceil(128 x 8 / 64) = 16 reads, ceil(128 / 32) x 4
        (True, False, True, False, 4, 4 * 4),  # reads only 32 kept values: ceil(32 x 8 / 64) = 4
        (False, True, True, False, 16, 1 * 4),  # zero skipping: ceil(32 / 32) x 4
        (False, True, True, True, 16, 4 * 5),  # Eq. 8, dense noise: the noisy weights are dense again
        (False, True, False, True, 16, 1 * 5),  # Eq. 8, masked noise: the zeros stay zero
    ],
)
def test_sparse_reads_and_zero_skipping_by_hand(reads, skipping, dense_noise, noise_on, expected_reads, expected_mults):
    table = one_row()
    table.attrs["noise_on_pruned"] = dense_noise
    spec = SPEC.model_copy(
        update={"io_bandwidth_bits": 64, "n_banks": 1, "sparse_reads": reads, "zero_skipping": skipping}
    )
    grid = costs(table, spec, "floats", noise_active=noise_on)
    assert grid.layer("delay_ns")[0, 0] == expected_reads * 9 + expected_mults * 4
    noise_adds = grid.layer("noise_add_ops")[0]
    assert noise_adds == (128 if dense_noise else 32)


def test_sparse_reads_fetch_the_storage_format():
    table = one_row(noisy=False)
    spec = SPEC.model_copy(
        update={"io_bandwidth_bits": 64, "n_banks": 1, "sparse_reads": True, "sparse_format": "bitmap"}
    )
    grid = costs(table, spec, "pgdat", noise_active=False)
    # 32 kept x 8 bits + a 128-bit bitmap = 384 bits = 6 reads of 64 bits; mults dense: 4 x 4
    assert grid.layer("delay_base_ns")[0, 0] == 6 * 9 + 16 * 4


def test_channel_list_format_by_hand():
    pruned = one_row(density=1.0, noisy=False, in_channels=3, weight_params=96)  # 1 of 4 input channels cut
    assert format_bits(pruned, np.array([96]), "channel-list", 16, 8)[0] == 96 * 8 + 3 * 16
    assert format_bits(pruned, np.array([96]), "values", 16, 8)[0] == 96 * 8
    assert format_bits(pruned, np.array([96]), "dense", 16, 8)[0] == 128 * 8  # the pruned channel's zeros too
    assert sparse_overhead_bits(pruned, "csr", 16, 8)[0] == 3 * 16  # the kept-channel list
    irregular = one_row(density=0.25, noisy=False)
    assert sparse_overhead_bits(irregular, "channel-list", 16, 8)[0] == 128  # falls back to a bitmap


def test_table1_summary_of_resnet34_floats_i():
    dense_conv = 21_259_968
    kept = 2_125_979
    est = estimate_model(floats_config(), SPEC.model_copy(update={"sparse_format": "bitmap"}))
    sp = est.sparsity
    assert (sp.dense_conv_weights, sp.kept_conv_weights) == (dense_conv, kept)
    assert sp.cr == pytest.approx(dense_conv / kept) and round(sp.cr, 2) == 10.0
    assert sp.storage_bits == kept * 8 + dense_conv  # values + one bit per position
    assert (
        sp.effective_cr == pytest.approx(8 * dense_conv / (8 * kept + dense_conv)) and round(sp.effective_cr, 2) == 4.44
    )
    assert (sp.crf, sp.eq7_speedup, sp.speedup) == (1.0, 1.0, 1.0)  # Table 1: no speed-up for FLOATS-i
    fast = estimate_model(floats_config(), SPEC.model_copy(update={"sparse_reads": True, "zero_skipping": True}))
    assert fast.sparsity.eq7_speedup == pytest.approx(9.981, abs=1e-3)  # reads and multiplies of the kept 10%
    assert fast.sparsity.speedup == pytest.approx(1.009, abs=1e-3)  # Eq. 8: dense noise refills the zeros


def test_table1_summary_of_slim_and_channel():
    slim = estimate_model(floats_config(kind="slim", density=0.3, slim_factors=(1.0, 0.5), eval_slim_factor=0.5), SPEC)
    assert slim.sparsity.slim_factor == 0.5
    assert slim.sparsity.crf == pytest.approx(1.999, abs=1e-3)  # every width halves but the 3 image channels
    assert slim.sparsity.cr == pytest.approx(13.33, abs=0.01)  # ~1 / (0.25 x 0.3), not the paper's 4.76
    assert slim.sparsity.eq7_speedup == pytest.approx(3.994, abs=1e-3)
    channel = estimate_model(floats_config(kind="channel", density=0.34), SPEC)
    assert channel.sparsity.crf == pytest.approx(2.955, abs=1e-3)
    assert channel.sparsity.cr == pytest.approx(
        channel.sparsity.dense_conv_weights / channel.sparsity.kept_conv_weights
    )
    assert channel.totals.macs < estimate_model(floats_config(), SPEC).totals.macs


@pytest.mark.parametrize(
    "path", sorted(MODELS.glob("*float*s*.yaml")) + sorted(MODELS.glob("*slim*.yaml")), ids=lambda p: p.stem
)
def test_every_shipped_sparse_model_estimates(path):
    result = CliRunner().invoke(app, ["estimate", str(path), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert '"sparsity": {' in result.output


def test_with_sparsity_attrs():
    config = floats_config(noise_on_pruned=False)
    from hwsim.estimate import layer_table

    table = with_sparsity(layer_table(config.model_copy(update={"sparsity": None})), config.sparsity)
    assert table.attrs["noise_on_pruned"] is False and table.attrs["sparsity"] == "irregular"


@pytest.mark.parametrize("method", ["float", "oat"])
def test_slim_table_matches_the_slimmable_network_forward(method):
    """The analytic SF 0.5 table (with_slim) has the shapes the slimmable network really runs."""
    import torch

    from hwsim.estimate import build_for_config, layer_table

    config = load_model_config(MODELS / f"resnet20-digits-{method}-slim.yaml")
    table = layer_table(config)  # at eval_slim_factor 0.5
    net = build_for_config(config)
    net.set_slim(0.5)
    net.set_condition(1.0)
    seen = {}

    def record(name):
        def hook(module, args, out):
            seen.setdefault(name, (args[0].shape[1], out.shape[1]))

        return hook

    hooks = [
        m.register_forward_hook(record(name))
        for name, m in net.named_modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and ".fc" not in name[-4:]
    ]
    with torch.no_grad():
        net(torch.zeros(2, 3, 16, 16))
    for h in hooks:
        h.remove()
    rows = {
        str(n): (int(i), int(o))
        for n, i, o, op in zip(table["name"], table["in_channels"], table["out_channels"], table["op"])
        if op != "film_linear"
    }
    assert set(rows) == set(seen)
    assert rows == seen


def test_estimate_run_dir_of_floats_c_and_floats_slim_uses_the_real_masks(tmp_path):
    """``hwsim estimate RUN_DIR`` on trained FLOATS-c and FLOATS slim runs: each conv's kept input
    channels and kept fraction come from the checkpoint's masks (FLOATS slim: their SF 0.5 slice)."""
    from hwsim.config import ModelConfig
    from hwsim.estimate import estimate_run
    from hwsim.runner.train import load_checkpoint, train_run
    from hwsim.workload.sparsity import slim_channels

    from .conftest import tiny_run

    def model(**sparsity):
        return ModelConfig(arch="resnet20", method="floats", dataset="digits", input={"height": 8, "width": 8},
                           num_classes=10, sparsity=sparsity)  # fmt: skip

    channel = train_run(tiny_run("c", model(kind="channel", density=0.3)), tmp_path, progress=False)
    masks = load_checkpoint(channel)["masks"]
    est = estimate_run(channel)
    kept_channels = 0
    for name, mask in masks.items():
        layer = row_of(est, name.removesuffix(".weight"))
        present = int(mask.any(dim=(0, 2, 3)).sum())
        kept_channels += present
        assert (layer["in_channels"], layer["full_in_channels"]) == (present, mask.shape[1])
        assert layer["density"] == 1.0 and layer["weight_params"] == int(mask.sum())
    full_channels = sum(m.shape[1] for m in masks.values())
    assert est.sparsity.crf == pytest.approx(full_channels / kept_channels)
    assert est.sparsity.kept_conv_weights == sum(int(m.sum()) for m in masks.values())

    slim = train_run(
        tiny_run("s", model(kind="slim", density=0.3, slim_factors=[1.0, 0.5], eval_slim_factor=0.5)),
        tmp_path,
        progress=False,
    )
    masks = load_checkpoint(slim)["masks"]
    est = estimate_run(slim)
    for index, (name, mask) in enumerate(masks.items()):
        layer = row_of(est, name.removesuffix(".weight"))
        c_in = mask.shape[1] if index == 0 else slim_channels(mask.shape[1], 0.5)
        part = mask[: slim_channels(mask.shape[0], 0.5), :c_in]
        assert (layer["out_channels"], layer["weight_params"]) == (part.shape[0], part.numel())
        assert round(layer["density"] * layer["weight_params"]) == int(part.sum())


def test_per_layer_densities_in_the_analytic_table_and_the_masks():
    """``sparsity.layer_density``: named convs start at their own density, the rest at d; the
    analytic table and the training engine's first masks agree, and Eq. 5's global budget binds."""
    import torch

    from hwsim.config import ModelConfig
    from hwsim.estimate import build_for_config, layer_table
    from hwsim.runner.sparse import sparse_training

    block = {"kind": "irregular", "density": 0.3, "layer_density": {"conv1": 1.0, "layers.2.*": 0.2}}
    config = ModelConfig(arch="resnet20", method="floats", dataset="digits", input={"height": 8, "width": 8},
                         num_classes=10, sparsity=block)  # fmt: skip
    table = layer_table(config)
    rows = {str(n): (int(w), float(d)) for n, w, d in zip(table["name"], table["weight_params"], table["density"])}
    assert rows["conv1"] == (432, 1.0)  # the stem kept whole
    n, d = rows["layers.2.0.conv2"]  # 64 x 64 x 3 x 3 at 0.2
    assert (n, round(d * n)) == (36_864, math.floor(0.2 * 36_864))
    n, d = rows["layers.0.0.conv1"]
    assert round(d * n) == math.floor(0.3 * n)
    sparse = sparse_training(config, build_for_config(config), seed=0)
    for name, mask in sparse.masks.items():
        n, d = rows[name.removesuffix(".weight")]
        assert int(mask.sum()) == round(d * n), name
    assert sparse.nonzeros() <= 0.3 * sum(m.numel() for m in sparse.masks.values())
    assert isinstance(sparse.masks["conv1.weight"], torch.Tensor)
    too_many = config.model_copy(
        update={"sparsity": config.sparsity.model_copy(update={"layer_density": {"layers.*": 0.9}})}
    )
    with pytest.raises(HwsimError, match="more than Eq. 5 allows"):
        layer_table(too_many)
    with pytest.raises(HwsimError, match="more than Eq. 5 allows"):
        sparse_training(too_many, build_for_config(too_many), seed=0)
