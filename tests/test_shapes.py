"""Layer-shape extraction: hand-checked shapes, exact parameter attribution, any nn.Module."""

import torch
from torch import nn

from hwsim.costs import count_frame
from hwsim.nets import build_network
from hwsim.workload.extract import extract_layers


def walk(net, shape, **kw):
    """The layer table with the spec-free counts (MACs, ...) as a DataFrame."""
    return count_frame(extract_layers(net, shape, **kw))


def table(arch, method, size=32, **kw):
    with torch.device("meta"):
        net = build_network(arch, method, kw.pop("num_classes", 10), **kw)
    return walk(net, (3, size, size)).set_index("name")


def test_resnet34_totals_and_hand_checked_layers():
    t = table("resnet34", "pgdat")
    assert t["macs"].sum() == 1_159_402_496  # conv + fc at 32 x 32
    assert (t["op"] == "conv").sum() == 36 and (t["op"] == "linear").sum() == 1
    stem = t.loc["conv1"]
    assert (stem.kernel_h, stem.in_channels, stem.out_channels, stem.stride_h, stem.out_h) == (3, 3, 64, 1, 32)
    assert stem.macs == 3 * 3 * 3 * 64 * 32 * 32
    down = t.loc["layers.1.0.conv1"]
    assert (down.in_channels, down.out_channels, down.stride_h, down.in_h, down.out_h, down.out_w) == (
        64,
        128,
        2,
        32,
        16,
        16,
    )
    assert down.macs == 9 * 64 * 128 * 16 * 16 == 18_874_368
    short = t.loc["layers.3.0.shortcut.0"]
    assert (short.kernel_h, short.in_channels, short.out_channels, short.stride_h, short.out_h) == (1, 256, 512, 2, 4)
    assert short.weight_params == 256 * 512 and short.bn_params == 2 * 512
    fc = t.loc["fc"]
    assert (fc.in_channels, fc.out_channels, fc.weight_params, fc.bias_params, fc.macs) == (512, 10, 5120, 10, 5120)


def test_wrn_shapes_on_stl10_and_svhn():
    t = table("wrn40_2", "pgdat", size=96)
    last = t.loc["groups.2.5.conv2"]
    assert (last.in_channels, last.out_channels, last.in_h, last.out_h) == (128, 128, 24, 24)
    assert t.loc["groups.1.0.shortcut"].stride_h == 2 and t.loc["groups.1.0.shortcut"].out_h == 48
    t16 = table("wrn16_8", "pgdat")
    c = t16.loc["groups.2.0.conv1"]
    assert (c.in_channels, c.out_channels, c.stride_h, c.out_h) == (256, 512, 2, 8)
    assert c.macs == 9 * 256 * 512 * 64
    # pre-activation: the final BN (512 channels) follows the last conv2
    assert t16.loc["groups.2.1.conv2"].bn_params == 2 * 512


def test_every_parameter_attributed_once():
    for arch, method, dual in [("resnet34", "oat", True), ("wrn16_8", "float", True), ("wrn40_2", "oat", False)]:
        with torch.device("meta"):
            net = build_network(arch, method, 10, dual_bn=dual)
        t = walk(net, (3, 32, 32))
        assert t.attrs["other_params"] == 0
        total = t[["weight_params", "bias_params", "bn_params", "alpha_params"]].to_numpy().sum()
        assert total == sum(p.numel() for p in net.parameters()) == t.attrs["model_params"]


def test_film_rows_tied_to_the_conv_they_modulate():
    t = table("resnet34", "oat")
    films = t[t["op"] == "film_linear"]
    assert len(films) == 66  # 33 FiLMs x 2 linears
    assert films.loc["layers.2.3.film2.fc1", "conditions"] == "layers.2.3.conv2"
    fc2 = films.loc["layers.2.3.film2.fc2"]
    assert (fc2.in_channels, fc2.out_channels, fc2.weight_params, fc2.bias_params) == (512, 512, 512 * 512, 512)
    convs = t[t["op"] == "conv"]
    assert (convs["film_channels"] > 0).sum() == 33
    assert convs.loc["layers.1.0.shortcut.0", "film_channels"] == 0
    # FiLM params on the conv row: 4 C^2 + 6 C for d = 1
    assert convs.loc["layers.3.2.conv1", "film_params"] == 4 * 512**2 + 6 * 512
    assert films["film_params"].sum() == 0  # counted once, as weight/bias of the film rows
    # WRN (pre-activation): bn1's FiLM modulates the previous block's output
    w = table("wrn16_8", "oat")
    assert w.loc["groups.0.0.film1.fc1", "conditions"] == "conv1"
    assert w.loc["groups.0.1.film1.fc1", "conditions"] == "groups.0.0.conv2"
    assert w.loc["groups.0.0.film2.fc1", "conditions"] == "groups.0.0.conv1"


def test_float_rows_are_noisy_with_one_alpha_each():
    t = table("resnet34", "float", dual_bn=True)
    convs = t[t["op"] == "conv"]
    assert convs["noisy"].all() and convs["alpha_params"].sum() == 36
    assert not t.loc["fc", "noisy"]
    assert convs.loc["conv1", "bn_params"] == 2 * 2 * 64  # dual BN: two affine sets


def test_generic_user_module_and_untouched_weights():
    class Scale(nn.Module):  # a custom layer with a parameter the table cannot place
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(5))

        def forward(self, x):
            return x * self.gain

    net = nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=2, padding=1, bias=True),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=4),  # grouped
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 3 * 3, 5),
        Scale(),
    )
    before = net[0].weight.clone()
    t = walk(net, (3, 14, 14)).set_index("name")
    assert list(t.index) == ["0", "3", "6"]
    # (14 + 2 - 5) // 2 + 1 = 6
    assert (t.loc["0", "out_h"], t.loc["0", "macs"], t.loc["0", "bn_params"]) == (6, 5 * 5 * 3 * 8 * 36, 16)
    assert t.loc["3", "macs"] == 3 * 3 * 2 * 8 * 36 and t.loc["3", "groups"] == 4
    assert t.loc["6", "in_channels"] == 72 and t.loc["6", "macs"] == 360
    assert t.attrs["other_params"] == 5  # Scale.gain, reported rather than dropped
    assert torch.equal(net[0].weight, before) and net[0].weight.device.type == "cpu"


def test_condition_is_restored_after_extraction():
    net = build_network("resnet20", "float", dual_bn=True)
    net.set_condition(0.2, 0.5)
    before = (net.state.lam, net.state.bn, net.state.noise_scale)
    extract_layers(net, (3, 32, 32), lam=1.0)
    assert (net.state.lam, net.state.bn, net.state.noise_scale) == before


def test_input_size_changes_spatial_shapes_only():
    small, big = table("resnet34", "float", 32), table("resnet34", "float", 64)
    assert (big["out_h"] == 2 * small["out_h"]).loc[small["op"] == "conv"].all()
    assert big["weight_params"].sum() == small["weight_params"].sum()


def test_linear_on_token_sequences_counts_every_position():
    t = walk(nn.Linear(8, 4), (5, 8))  # 5 positions of 8 features
    row = t.iloc[0]
    assert (row.in_w, row.out_w, row.macs) == (5, 5, 5 * 8 * 4)
    t4 = walk(nn.Linear(8, 4), (3, 5, 8))
    assert t4.iloc[0].macs == 3 * 5 * 8 * 4


def test_a_layer_called_twice_costs_twice_but_stores_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 1)
            self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)

        def forward(self, x):
            return self.conv(self.conv(self.stem(x)))

    t = walk(Twice(), (3, 4, 4)).set_index("name")
    assert list(t.index) == ["stem", "conv", "conv#2"]
    assert t["macs"].sum() == 3 * 8 * 16 + 2 * 9 * 8 * 8 * 16
    assert t.loc["conv#2", "weight_params"] == 0 and t.loc["conv", "weight_params"] == 9 * 64
    assert t.attrs["other_params"] == 0


def test_norms_are_tied_by_data_flow_on_two_branch_modules():
    """Two same-width branches run before their BNs: "last conv of that width" would give both BNs to
    conv_b; data flow gives each BN the conv whose output it consumes."""

    class TwoBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_a = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.conv_b = nn.Conv2d(3, 8, 1, bias=False)
            self.bn_a = nn.BatchNorm2d(8)
            self.bn_b = nn.BatchNorm2d(8)

        def forward(self, x):
            a, b = self.conv_a(x), self.conv_b(x)
            return torch.relu(self.bn_a(a)) + self.bn_b(b)

    t = walk(TwoBranch(), (3, 8, 8)).set_index("name")
    assert (t.loc["conv_a", "bn_params"], t.loc["conv_b", "bn_params"]) == (16, 16)
    assert t.attrs["other_params"] == 0 and t.attrs["untied"] == []


def test_a_norm_no_conv_feeds_is_reported_not_guessed():
    net = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    t = extract_layers(net, (3, 8, 8))
    assert t.attrs["untied"] == ["0"] and t.attrs["other_params"] == 6
    assert t["bn_params"].tolist() == [8]  # the second BN follows the conv


def test_wrn_residual_bn_follows_the_branch_conv_not_the_shortcut():
    """Pre-activation WRN: the next block's bn1 reads conv2(out) + shortcut(pre); it is tied to the
    branch conv (first operand), wherever the shortcut runs."""
    t = table("wrn16_8", "oat")
    assert t.loc["groups.0.0.conv2", "bn_params"] == 2 * 128  # groups.0.1.bn1
    assert t.loc["groups.0.0.shortcut", "bn_params"] == 0
    assert t.loc["groups.0.1.film1.fc1", "conditions"] == "groups.0.0.conv2"
    assert t.loc["groups.0.0.film2.fc1", "conditions"] == "groups.0.0.conv1"


def test_geometry_columns_per_axis():
    net = nn.Sequential(
        nn.Conv2d(3, 4, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        nn.Conv2d(4, 4, 3, padding="same", dilation=2),
    )
    t = walk(net, (3, 9, 12)).set_index("name")
    first, same = t.loc["0"], t.loc["1"]
    assert (first.stride_h, first.stride_w, first.padding_h, first.padding_w, first.dilation_h, first.dilation_w) == (
        2,
        1,
        1,
        2,
        1,
        2,
    )
    # H: (9 + 2 - 2 - 1) // 2 + 1 = 5; W: (12 + 4 - 8 - 1) // 1 + 1 = 8
    assert (first.out_h, first.out_w, same.out_h, same.out_w) == (5, 8, 5, 8)
    assert (same.padding_h, same.padding_w) == (2, 2)
    assert first.macs == 3 * 5 * 3 * 4 * 5 * 8
