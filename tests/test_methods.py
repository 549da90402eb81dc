"""The method registry: every registered method x every family, and a new method added by a test.

Parametrized over :func:`hwsim.methods.list_methods` (as timm's tests are over ``list_models()``),
so the next registered method is tested here without a new line.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import ModelConfig, load_spec
from hwsim.costs import METRICS, costs, total_rules
from hwsim.estimate import build_for_config, estimate_model, layer_table
from hwsim.methods import get_method, list_methods, register_method, unregister_method
from hwsim.methods.float_ import FLOAT
from hwsim.nets import ARCHS
from hwsim.runner.train import TrainSettings, make_optimizer, train_step

FAMILIES = sorted(ARCHS)
SMALL = {"input": {"channels": 3, "height": 16, "width": 16}, "num_classes": 10}


def small_config(method: str, arch: str = "resnet20") -> ModelConfig:
    """A small model of ``method``, with a sparsity block of its first kind when it needs one."""
    rule = get_method(method)
    sparsity = {"sparsity": {"kind": rule.sparse_kinds[0], "density": 0.5}} if rule.requires_sparsity else {}
    return ModelConfig(arch=arch, method=method, **SMALL, **sparsity)


def test_registry_lists_the_paper_methods():
    assert list_methods()[:3] == ["pgdat", "oat", "float"]
    assert [get_method(m).delay_rule for m in ("pgdat", "float", "oat")] == ["Eq. 7", "Eq. 8", "Eq. 9"]
    with pytest.raises(ValueError, match="unknown method 'fancy'; known: pgdat, oat, float"):
        get_method("fancy")


@pytest.mark.parametrize("arch", FAMILIES)
@pytest.mark.parametrize("method", list_methods())
def test_every_method_and_family_walks_costs_and_sums(method, arch, default_spec):
    """Every parameter lands on a row, norms and FiLMs are tied by data flow, the layers the method
    asks for are there, and every registered total is the sum of its per-layer metric."""
    rule = get_method(method)
    config = small_config(method, arch)
    table = layer_table(config, use_cache=False)
    assert table.attrs["other_params"] == 0 and table.attrs["untied"] == []
    op = table["op"]
    assert bool((op == "film_linear").any()) == rule.film
    assert bool(table["noisy"][op == "conv"].all()) == rule.noisy_convs
    # dual BN doubles the BN parameters on each conv it follows
    single = layer_table(config.model_copy(update={"dual_bn": False}), use_cache=False)
    ratio = 2 if config.uses_dual_bn and rule.allows_dual_bn else 1
    np.testing.assert_array_equal(table["bn_params"], ratio * single["bn_params"])

    is_conv = op == "conv"
    for spec in (default_spec, load_spec("eyeriss-65nm")):  # the paper model, and the hierarchy model too
        grid = costs(table, spec, method, noise_active=rule.noise_active(1.0))
        for total in total_rules():
            metric = next((m for m in METRICS.values() if total in m.totals), None)
            if metric is None:
                continue
            per_layer = grid.layer(metric.name)
            per_layer = per_layer[:, 0] if per_layer.ndim == 2 else per_layer
            rows = is_conv if total.rows == "conv" else slice(None)
            if not metric.applies(grid.specs):
                assert np.isnan(grid.totals[total.name][0]) and np.isnan(per_layer).all(), total.name
                continue
            want = per_layer[rows].sum() * total.scale
            assert grid.totals[total.name][0] == pytest.approx(want, rel=1e-12), total.name
    grid = costs(table, default_spec, method, noise_active=rule.noise_active(1.0))
    # no method makes the Eq. 7 baseline move; a method's own rule never beats it here
    assert (grid.layer("delay_ns") >= grid.layer("delay_base_ns")).all()


@pytest.mark.parametrize("method", list_methods())
def test_every_method_trains_one_step(method):
    torch.manual_seed(0)
    config = small_config(method)
    net = build_for_config(config)
    settings = TrainSettings(attack_steps=1, batch_size=8)
    before = [p.detach().clone() for p in net.parameters()]
    loss = train_step(
        net,
        make_optimizer(net, settings),
        torch.rand(8, 3, 16, 16),
        torch.arange(8) % 10,
        settings,
        torch.Generator().manual_seed(0),
    )
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


# ---- adding a method is one class and its registration --------------------------------------


class NoiselessFloat(FLOAT):
    """FLOAT's network and training step with the noise switched off and a single BN path: a
    test-only method defined here, registered, and used by every command with no edit elsewhere."""

    name = "float-noiseless"
    label = "FLOAT (noiseless, single BN)"
    color = "tab:purple"
    dual_bn_default = False
    allows_dual_bn = False
    delay_rule = "Eq. 7"
    extra_ops = ("noise_add_ops",)

    def condition(self, lam, lambda_th=0.0):
        state = super().condition(lam, lambda_th)
        state.noise_scale = 0.0
        return state

    def noise_active(self, knob):
        return False


@pytest.fixture
def noiseless_float():
    register_method(NoiselessFloat)
    yield get_method("float-noiseless")
    unregister_method("float-noiseless")


def test_a_new_method_flows_through_every_command(noiseless_float, tmp_path, default_spec):
    model = tmp_path / "r20-noiseless.yaml"
    model.write_text("arch: resnet20\nmethod: float-noiseless\ndataset: digits\neval: {lambda_n: 1.0}\n")
    runner = CliRunner()

    result = runner.invoke(app, ["estimate", str(model), "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    flt = estimate_model(
        ModelConfig(arch="resnet20", method="float", dataset="digits", dual_bn=False), default_spec
    ).totals
    # same network as single-BN FLOAT (noisy convs, alphas) but Eq. 7 delay: no noise is ever drawn
    assert data["totals"]["params"] == flt.params == 272_474 + 21  # ResNet20 (1 x 1 conv shortcuts) + 21 alphas
    assert data["totals"]["delay_ns"] == data["totals"]["delay_base_ns"] == flt.delay_base_ns
    assert data["totals"]["delay_ns"] < flt.delay_ns
    assert data["condition"]["noise_active"] is False

    plain = tmp_path / "r20-float.yaml"
    plain.write_text("arch: resnet20\nmethod: float\ndataset: digits\ndual_bn: false\n")
    result = runner.invoke(app, ["compare", str(plain), str(model), "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads(result.output)["rows"]}
    assert rows["float-noiseless"]["params_ratio"] == 1.0 and rows["float-noiseless"]["conv_delay_ratio"] < 1.0

    args = ["train", str(model), "--out-dir", str(tmp_path / "runs"), "--epochs", "1", "--batch-size", "16", "--attack-steps", "1",
            "--limit-train", "16", "--limit-test", "16", "--eval-limit", "16", "--image-size", "8", "--eval-lambdas", "0,1", "-q"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "runs" / "r20-noiseless" / "run.json").read_text())["history"]
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    assert {p["lam"] for p in history[0]["eval"]} == {0.0, 1.0}  # the method has lambda_n: both points checked

    # ... and on through evaluate, report, figures, sweep and export with no edit outside the method
    run = tmp_path / "runs" / "r20-noiseless"
    result = runner.invoke(app, ["evaluate", str(run), "--lambdas", "0,0.5,1", "--limit", "16", "-q", "-f", "csv"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(run), "--out-dir", str(tmp_path / "report"), "-f", "csv"])
    assert result.exit_code == 0, result.output
    report = pd.read_csv(tmp_path / "report" / "report.csv")
    assert set(report["method"]) == {"float-noiseless"} and (report["delay_ns"] == report["delay_base_ns"]).all()
    result = runner.invoke(
        app, ["figures", "--only", "fig7,fig6", "--runs", str(run), "--out-dir", str(tmp_path / "figs")]
    )
    assert result.exit_code == 0, result.output
    fig7 = pd.read_csv(tmp_path / "figs" / "fig7.csv")
    assert set(fig7["run"]) == {"r20-noiseless"} and len(fig7) == 3
    # it has lambda_n (Eq. 6), so Fig. 6 asks for a second lambda_th: it is listed as having no data
    assert not (tmp_path / "figs" / "fig6.csv").exists()
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        f"models: [{model}]\naxes: {{n_multipliers: [8, 32]}}\nobjectives: [{{min: delay_ns}}, {{min: weight_bytes}}]\n"
    )
    result = runner.invoke(app, ["sweep", str(sweep_file), "--out-dir", str(tmp_path / "sweep")])
    assert result.exit_code == 0, result.output
    front = pd.read_csv(tmp_path / "sweep" / "front.csv")
    assert set(front["model"]) == {"r20-noiseless"} and len(front) >= 1
    for fmt in ("scalesim", "zigzag", "timeloop"):
        result = runner.invoke(app, ["export", str(model), "--to", fmt, "--out-dir", str(tmp_path / fmt)])
        assert result.exit_code == 0, (fmt, result.output)
        assert any((tmp_path / fmt).iterdir())
