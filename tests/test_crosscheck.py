"""Cross-check hwsim's MAC and parameter counts against independent counters on the real models.

Every shipped ``models/*.yaml`` is built once (real CPU weights, eval mode, batch 1, conditioned with
the model's eval lambda) and counted by fvcore, thop and torchinfo. hwsim's rule is "MAC = conv /
linear multiply-accumulate, FiLM MLP linears included; BN, activations, residual adds, pooling,
FLOAT noise adds and FiLM modulation are not MACs". The peers use other conventions, so where a raw
total differs the test asserts the *exact* difference, derived from the ops the peer documents:

=========  ===================================================================================
fvcore     eval-mode affine ``aten::batch_norm``: 2 flops per input element;
           ``aten::adaptive_avg_pool2d``: 1 flop per input element; element-wise ops ignored.
thop       ``nn.BatchNorm2d`` (affine): 4 ops per input element (``2 * numel``, doubled for
           affine); ``nn.AdaptiveAvgPool2d``: ``(kernel + 1) * out_numel`` = in + out elements;
           rules are looked up by *exact* type, so FLOAT's ``NoisyConv2d`` (a Conv2d subclass)
           counts as zero ops and zero params, and so does the idle half of a dual BN (its params
           are only counted by a forward hook); ``nn.LeakyReLU`` is 0.
torchinfo  MACs = ``output[0] * (weight + bias)`` for Linear (bias counted) and BN (2 * C per
           executed BN); convs ``weight * H_out * W_out`` (bias-free here).
=========  ===================================================================================

With those ops switched off (fvcore op handles set to None, thop ``custom_ops``), both counters
must agree with hwsim *exactly*, in total and (fvcore) per layer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

fvcore_nn = pytest.importorskip("fvcore.nn")
thop = pytest.importorskip("thop")
torchinfo = pytest.importorskip("torchinfo")
from thop.vision.basic_hooks import count_convNd, zero_ops  # noqa: E402

from hwsim.costs import count_frame  # noqa: E402
from hwsim.estimate import build_for_config, load_model_and_spec  # noqa: E402
from hwsim.nets.conditioning import NoisyConv2d  # noqa: E402
from hwsim.workload.extract import extract_layers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Every shipped model but the slimmable ones: their walk is the same full-width network as their dense
# twin's (checked here), and the widths at SF < 1 are checked against the slimmable network's own
# forward in tests/test_sparse_costs.py (test_slim_table_matches_the_slimmable_network_forward).
MODELS = [
    p
    for p in sorted(ROOT.glob("models/*.yaml"))
    if (load_model_and_spec(p)[0].sparsity or SimpleNamespace(kind="")).kind != "slim"
]
PARAM_COLUMNS = ["weight_params", "bias_params", "bn_params", "alpha_params"]


@dataclass
class Case:
    """One model, built and counted once per test module."""

    name: str
    method: str
    net: nn.Module
    x: torch.Tensor
    table: object  # DataFrame: extract_layers + the spec-free counts
    macs: int
    net_params: int
    bn_in: list[int] = field(default_factory=list)  # input numel of every executed BatchNorm2d
    bn_affine_params: int = 0  # weight + bias of the executed BatchNorm2d modules
    idle_bn_params: int = 0  # params of BatchNorm2d modules that never ran (dual BN's idle half)
    pool_in: int = 0
    pool_out: int = 0
    _fvcore: object = None

    def fvcore(self):
        """Default FlopCountAnalysis (one trace shared by the tests of this model)."""
        if self._fvcore is None:
            self._fvcore = quiet_fvcore(self.net, self.x)
            self._fvcore.total()
        return self._fvcore


def _zero(inputs, outputs) -> int:
    return 0


def quiet_fvcore(net: nn.Module, x: torch.Tensor):
    return fvcore_nn.FlopCountAnalysis(net, (x,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)


def probe(case: Case) -> None:
    """One plain forward with hooks on the BN and pooling modules: what the peers count besides MACs."""
    seen: set[int] = set()
    handles = []

    def bn_hook(module, args, output):
        seen.add(id(module))
        case.bn_in.append(args[0].numel())
        if module.affine:
            case.bn_affine_params += module.weight.numel() + module.bias.numel()

    def pool_hook(module, args, output):
        case.pool_in += args[0].numel()
        case.pool_out += output.numel()

    bns = [m for m in case.net.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        handles.append(m.register_forward_hook(bn_hook))
    for m in case.net.modules():
        if isinstance(m, nn.AdaptiveAvgPool2d):
            handles.append(m.register_forward_hook(pool_hook))
    try:
        with torch.no_grad():
            case.net(case.x)
    finally:
        for h in handles:
            h.remove()
    case.idle_bn_params = sum(p.numel() for m in bns if id(m) not in seen for p in m.parameters())


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Counts do not depend on threads; one thread keeps the module fast on a shared, busy box
    (OpenMP's spinning threads slow down many-fold when other processes hold the cores)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module", params=MODELS, ids=[p.stem for p in MODELS])
def case(request) -> Case:
    """Module-scoped and parametrized: pytest runs all tests of one model together, one model in memory."""
    torch.manual_seed(0)
    config, _ = load_model_and_spec(request.param)
    net = build_for_config(config, device="cpu").eval()
    net.set_condition(config.eval.knob, config.eval.lambda_th)
    table = count_frame(extract_layers(net, config.input_shape, lam=config.eval.knob, lambda_th=config.eval.lambda_th))
    c = Case(
        name=request.param.stem,
        method=config.method,
        net=net,
        x=torch.randn(1, *config.input_shape),
        table=table,
        macs=int(table["macs"].sum()),
        net_params=sum(p.numel() for p in net.parameters()),
    )
    probe(c)
    return c


def test_condition_is_the_eval_one(case: Case):
    """The real model runs in eval mode with the YAML's condition (FLOAT at lambda_n = 1 is noisy)."""
    assert not case.net.training
    if case.method == "float":
        assert case.net.state.noise_scale > 0
        convs = case.table["op"] == "conv"
        assert case.table.loc[convs, "noisy"].all() and not case.table.loc[~convs, "noisy"].any()


# ---------------------------------------------------------------------------------------------
# (a) fvcore
# ---------------------------------------------------------------------------------------------


def test_fvcore_total_is_hwsim_macs_plus_bn_and_pool(case: Case):
    """fvcore's raw total = hwsim MACs + 2 * BN input elements + pooled input elements, exactly."""
    fa = case.fvcore()
    by_op = dict(fa.by_operator())
    assert set(by_op) <= {"conv", "linear", "batch_norm", "adaptive_avg_pool2d"}, by_op
    assert by_op.get("conv", 0) + by_op.get("linear", 0) == case.macs
    assert by_op["batch_norm"] == 2 * sum(case.bn_in)  # every BN here is affine, eval mode
    assert by_op["adaptive_avg_pool2d"] == case.pool_in
    assert fa.total() == case.macs + 2 * sum(case.bn_in) + case.pool_in


def test_fvcore_mac_only_total_equals_hwsim(case: Case):
    """With fvcore's two non-MAC handles zeroed, its total equals hwsim's MACs exactly.

    (``set_op_handle(name, None)`` would not do it in fvcore 0.1.5: ``None`` only adds the op to an
    ignore list that is consulted for ops *without* a handle, so the default BN / pool handles
    keep counting. A handle returning 0 replaces them.)
    """
    fa = quiet_fvcore(case.net, case.x).set_op_handle("aten::batch_norm", _zero, "aten::adaptive_avg_pool2d", _zero)
    assert fa.total() == case.macs
    assert set(fa.by_operator()) <= {"conv", "linear", "batch_norm", "adaptive_avg_pool2d"}


def test_fvcore_per_layer_macs(case: Case):
    """Per layer: fvcore's by_module() for every conv / linear / FiLM linear equals hwsim's row."""
    by_module = case.fvcore().by_module()
    table = case.table
    mismatches = {
        name: (int(macs), by_module.get(name))
        for name, macs in zip(table["name"], table["macs"])
        if by_module.get(name) != macs
    }
    assert not mismatches, mismatches
    # and hwsim misses no layer fvcore counted: every leaf conv / linear with MACs is a row
    leaves = {n for n, m in case.net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    counted = {n for n in leaves if by_module.get(n, 0) > 0}
    assert counted == set(table["name"])


def test_bn_elements_follow_hwsim_bn_attribution(case: Case):
    """hwsim ties each BN to the conv it follows: those convs' outputs are exactly what the BNs read."""
    table = case.table
    tied = table[table["bn_params"] > 0]
    assert int((tied["out_channels"] * tied["out_h"] * tied["out_w"]).sum()) == sum(case.bn_in)
    all_bn = sum(p.numel() for m in case.net.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters())
    assert int(table["bn_params"].sum()) == all_bn


# ---------------------------------------------------------------------------------------------
# (b) parameters: hwsim table == net.parameters() == torchinfo
# ---------------------------------------------------------------------------------------------


def test_params_table_equals_torch_and_torchinfo(case: Case):
    table = case.table
    attributed = int(table[PARAM_COLUMNS].to_numpy().sum())
    assert table.attrs["other_params"] == 0
    assert table.attrs["model_params"] == case.net_params
    assert attributed == case.net_params
    stats = torchinfo.summary(case.net, input_data=case.x, verbose=0)
    assert stats.total_params == case.net_params
    assert stats.trainable_params == case.net_params

    # torchinfo sees FLOAT's alpha and OAT's FiLM linears layer by layer, like hwsim's rows
    names = {id(m): n for n, m in case.net.named_modules()}
    per_layer = {names[id(info.module)]: info.num_params for info in stats.summary_list if info.is_leaf_layer}
    for row in table.itertuples():
        expected = row.weight_params + row.bias_params + row.alpha_params
        assert per_layer[row.name] == expected, row.name

    # torchinfo's mult-adds: hwsim MACs + linear biases + 2C per executed BN (its documented rule)
    linear_bias = int(table.loc[table["op"] != "conv", "bias_params"].sum())
    assert int(table.loc[table["op"] == "conv", "bias_params"].sum()) == 0
    assert stats.total_mult_adds == case.macs + linear_bias + case.bn_affine_params


# ---------------------------------------------------------------------------------------------
# (c) thop
# ---------------------------------------------------------------------------------------------


def _thop(net: nn.Module, x: torch.Tensor, custom_ops=None) -> tuple[int, int]:
    ops, params = thop.profile(copy.deepcopy(net), inputs=(x,), custom_ops=custom_ops, verbose=False)
    assert float(ops).is_integer() and float(params).is_integer()
    return int(ops), int(params)


MAC_ONLY_OPS = {nn.BatchNorm2d: zero_ops, nn.AdaptiveAvgPool2d: zero_ops, NoisyConv2d: count_convNd}


def test_thop_mac_only_equals_hwsim(case: Case):
    """thop with BN and pooling zeroed (and a rule for NoisyConv2d) counts exactly hwsim's MACs."""
    ops, params = _thop(case.net, case.x, MAC_ONLY_OPS)
    assert ops == case.macs
    # thop counts a leaf's params in a forward hook: BN halves that never ran are missing
    assert params == case.net_params - case.idle_bn_params
    if case.method == "pgdat":
        assert case.idle_bn_params == 0 and params == case.net_params


def test_thop_default_total_explained(case: Case):
    """thop as shipped: + 4 ops per BN element, + (in + out) pooled elements, and FLOAT's
    NoisyConv2d (exact-type lookup misses the subclass) counted as zero."""
    ops, params = _thop(case.net, case.x)
    table = case.table
    noisy = table["noisy"].to_numpy(bool)
    missed_macs = int(table.loc[noisy, "macs"].sum())
    missed_params = int(table.loc[noisy, ["weight_params", "bias_params", "alpha_params"]].to_numpy().sum())
    assert ops == case.macs - missed_macs + 4 * sum(case.bn_in) + case.pool_in + case.pool_out
    assert params == case.net_params - case.idle_bn_params - missed_params
    if case.method == "pgdat":
        assert ops == case.macs + 4 * sum(case.bn_in) + case.pool_in + case.pool_out
        assert params == case.net_params
