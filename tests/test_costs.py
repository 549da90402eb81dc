"""Cost models: Eq. 7-9 on hand-computed layers, memory in the paper's units, vectorized sweeps."""

import math

import numpy as np
import pytest
import torch

from hwsim.config import HardwareSpec, ModelConfig
from hwsim.costs import count_frame
from hwsim.costs.delay import delay_eq7, delay_eq8, delay_eq9, layer_delays, read_cycles
from hwsim.costs.memory import memory_bits
from hwsim.estimate import compare_estimates, estimate_model
from hwsim.nets import build_network
from hwsim.workload.extract import extract_layers


def walk(net, shape):
    """The layer table with the spec-free counts (MACs, ...) as a DataFrame."""
    return count_frame(extract_layers(net, shape))


HW = dict(tau_read_ns=9.0, tau_mult_ns=4.0, io_bandwidth_bits=64, weight_bits=8, n_banks=16, n_multipliers=32)


def test_eq7_eq8_eq9_hand_computed_3x3_64_to_64_at_32x32():
    k_weights, outputs = 9 * 64 * 64, 32 * 32  # K = 36,864
    # reads: ceil(36864 / ((64/8)*16)) = 288 -> 2592 ns; mults: ceil(36864/32) = 1152, x 1024 x 4 ns
    assert delay_eq7(k_weights, outputs, **HW) == 288 * 9 + 1152 * 1024 * 4 == 4_721_184
    # Eq. 8 adds one more pass of the multipliers: 1152 x (1 + 1024) x 4
    assert delay_eq8(k_weights, outputs, **HW) == 288 * 9 + 1152 * 1025 * 4 == 4_725_792
    # Eq. 9: F = 2*64 + 4*64^2 = 16,512; reads ceil(53376/128) = 417; film mults ceil(16512/32) = 516
    assert delay_eq9(k_weights, outputs, 64, **HW) == 417 * 9 + 1152 * 1024 * 4 + 516 * 4 == 4_724_409
    assert delay_eq9(k_weights, outputs, 0, **HW) == delay_eq7(k_weights, outputs, **HW)


@pytest.mark.parametrize("weights, expected", [(1, 1), (128, 1), (129, 2), (256, 2), (257, 3)])
def test_read_ceiling_edges(weights, expected):
    assert read_cycles(weights, 64, 8, 16) == expected


def test_ceilings_are_exact_where_float_division_is_not():
    # (B_IO / B_W) N_bank = (8 / 3) * 5: 40 weights need exactly 3 reads. Naive float math says 4.
    assert math.ceil(40 / (8 / 3 * 5)) == 4
    assert read_cycles(40, 8, 3, 5) == 3
    assert (
        delay_eq7(
            40, 1, tau_read_ns=1.0, tau_mult_ns=0.0, io_bandwidth_bits=8, weight_bits=3, n_banks=5, n_multipliers=1
        )
        == 3
    )
    # multiplier ceiling: 33 weights on 32 multipliers take 2 rounds per output
    assert (
        delay_eq7(
            33, 10, tau_read_ns=0.0, tau_mult_ns=1.0, io_bandwidth_bits=64, weight_bits=8, n_banks=16, n_multipliers=32
        )
        == 20
    )


def test_layer_delays_vectorize_over_hardware_points():
    table = walk(build_network("resnet20", "float"), (3, 32, 32))
    specs = [HardwareSpec(**{**HW, "n_multipliers": n}) for n in (8, 32, 128)]
    grid = layer_delays(table, specs, "float")
    assert grid["delay_ns"].shape == (len(table), 3)
    for j, spec in enumerate(specs):
        single = layer_delays(table, spec, "float")["delay_ns"][:, 0]
        np.testing.assert_array_equal(grid["delay_ns"][:, j], single)
    totals = grid["delay_ns"].sum(axis=0)
    assert totals[0] > totals[1] > totals[2]  # more multipliers, less delay


def _resnet34(method, **kw):
    return ModelConfig(arch="resnet34", method=method, dataset="cifar10", **kw)


def test_float_at_lambda_zero_is_eq7_and_pgdat_is_eq7(default_spec):
    clean = estimate_model(_resnet34("float", eval={"lambda_n": 0.0}), default_spec)
    assert clean.totals.delay_ns == clean.totals.delay_base_ns
    noisy = estimate_model(_resnet34("float"), default_spec)
    assert noisy.totals.delay_ns > noisy.totals.delay_base_ns
    plain = estimate_model(_resnet34("pgdat"), default_spec)
    assert plain.totals.delay_ns == plain.totals.delay_base_ns == noisy.totals.delay_base_ns


def test_compare_float_vs_oat_reproduces_paper_1_66x(default_spec):
    flt = estimate_model(_resnet34("float"), default_spec)
    oat = estimate_model(_resnet34("oat"), default_spec)
    frame = compare_estimates([flt, oat]).set_index("method")
    worst = frame.loc["oat", "conv_delay_vs_first_max"]
    assert worst == pytest.approx(1.655, abs=0.001) and round(worst, 2) == 1.66
    # the peak is the 256 -> 512 1x1 shortcut conv (K = 131,072, F = 1,049,600, H W = 16)
    ratios = oat.layer_frame().set_index("name")["delay_ns"] / flt.layer_frame().set_index("name")["delay_ns"]
    assert ratios.idxmax() == "layers.3.0.shortcut.0"
    expected = (math.ceil((131072 + 1049600) / 128) * 9 + 4096 * 16 * 4 + math.ceil(1049600 / 32) * 4) / (
        1024 * 9 + 4096 * 17 * 4
    )
    assert ratios.max() == pytest.approx(expected, rel=1e-12)


def test_structural_attribution_charges_only_filmed_convs(default_spec):
    paper = estimate_model(_resnet34("oat"), default_spec, attribution="paper").layer_frame().set_index("name")
    struct = estimate_model(_resnet34("oat"), default_spec, attribution="structural").layer_frame().set_index("name")
    sc = "layers.3.0.shortcut.0"
    assert struct.loc[sc, "delay_ns"] == struct.loc[sc, "delay_base_ns"]  # no FiLM follows a shortcut
    assert paper.loc[sc, "delay_ns"] > paper.loc[sc, "delay_base_ns"]
    assert struct.loc["layers.3.0.conv2", "delay_ns"] == paper.loc["layers.3.0.conv2", "delay_ns"]


def test_memory_matches_paper_8bit_numbers(default_spec):
    flt = estimate_model(_resnet34("float", dual_bn=False), default_spec).totals
    oat = estimate_model(_resnet34("oat", dual_bn=False), default_spec).totals
    assert round(flt.weight_bytes / 1e6, 2) == 21.28 and round(oat.weight_bytes / 1e6, 2) == 31.40
    ratio = oat.weight_bytes / flt.weight_bytes
    assert ratio == pytest.approx(31_403_978 / 21_282_158) and math.floor(ratio * 100) / 100 == 1.47
    # Fig. 8(b) convention neglects BN and alpha: FLOAT and PGD-AT store the same
    assert flt.weight_bytes_fig8b == 21_282_122 - 17_024
    assert oat.film_bytes == 10_121_856 and flt.alpha_bytes == 36 and flt.bn_bytes == 17_024


def test_memory_scales_with_weight_bits_and_density():
    table = walk(build_network("resnet20", "pgdat"), (3, 32, 32))
    four, eight = memory_bits(table, 4), memory_bits(table, 8)
    np.testing.assert_array_equal(2 * four["full"], eight["full"])
    sparse = table.assign(density=0.5)
    conv_weights = table["weight_params"].to_numpy()
    np.testing.assert_allclose(
        memory_bits(table, 8)["conv_linear"] - memory_bits(sparse, 8)["conv_linear"], 0.5 * conv_weights * 8
    )


# ---- counting rules (hwsim.costs.compute), one test per rule --------------------------------


def _macs(net, shape=(3, 8, 8)):
    return int(walk(net, shape)["macs"].sum())


def test_rule_conv_mac_counts_grouped_convs():
    conv = torch.nn.Conv2d(8, 16, 3, padding=1, groups=4)
    assert _macs(conv, (8, 8, 8)) == 3 * 3 * (8 // 4) * 16 * 8 * 8


def test_rule_flops_are_two_macs_and_bias_is_free():
    with_bias = walk(torch.nn.Conv2d(3, 4, 3, bias=True), (3, 8, 8))
    without = walk(torch.nn.Conv2d(3, 4, 3, bias=False), (3, 8, 8))
    assert (with_bias["flops"] == 2 * with_bias["macs"]).all()
    assert with_bias["macs"].sum() == without["macs"].sum()


def test_rule_bn_relu_pool_count_nothing():
    conv = lambda: torch.nn.Conv2d(3, 4, 3, padding=1)  # noqa: E731
    bare = _macs(torch.nn.Sequential(conv()))
    dressed = torch.nn.Sequential(
        conv(),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.LeakyReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.AdaptiveAvgPool2d(1),
    )
    assert _macs(dressed) == bare == 3 * 3 * 3 * 4 * 64


def test_rule_residual_adds_count_nothing():
    table = walk(build_network("resnet20", "pgdat"), (3, 32, 32))
    per_layer = (
        table["kernel_h"]
        * table["kernel_w"]
        * table["in_channels"]
        * table["out_channels"]
        * table["out_h"]
        * table["out_w"]
    )
    assert table["macs"].sum() == per_layer.sum()


def test_rule_float_noise_add_is_one_op_per_weight_outside_macs():
    flt = walk(build_network("resnet20", "float"), (3, 32, 32))
    plain = walk(build_network("resnet20", "pgdat"), (3, 32, 32))
    conv_weights = flt.loc[flt["op"] == "conv", "weight_params"].sum()
    assert flt["noise_add_ops"].sum() == conv_weights
    assert flt["macs"].sum() == plain["macs"].sum()


def test_rule_film_mlp_is_macs_and_modulation_is_separate():
    oat = walk(build_network("resnet20", "oat", film_dim=1), (3, 32, 32))
    plain = walk(build_network("resnet20", "pgdat"), (3, 32, 32))
    films = oat[oat["op"] == "film_linear"]
    # per FiLM of width C: (1 x 2C) + (2C x 2C) MACs
    widths = oat.loc[oat["film_channels"] > 0, "film_channels"]
    assert films["macs"].sum() == sum(2 * c + 4 * c * c for c in widths)
    assert oat["macs"].sum() == plain["macs"].sum() + films["macs"].sum()
    stem = oat.set_index("name").loc["conv1"]
    assert stem.film_mod_ops == 2 * 16 * 32 * 32


def test_delay_skips_film_rows_and_counts_linear_as_1x1(default_spec):
    est = estimate_model(ModelConfig(arch="resnet20", method="oat", dataset="cifar10"), default_spec)
    layers = est.layer_frame()
    assert (layers.loc[layers["op"] == "film_linear", "delay_ns"] == 0).all()
    fc = layers.set_index("name").loc["fc"]
    # 64 -> 10 linear: ceil(640/128) reads, ceil(640/32) multiplier rounds, one output position
    assert fc.delay_base_ns == 5 * 9 + 20 * 4
    assert est.totals.delay_ns == pytest.approx(layers["delay_ns"].sum())
