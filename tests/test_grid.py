"""Costs over many specs at once: the grid equals the per-spec estimates, exactly."""

import re

import numpy as np
import pytest

from hwsim.config import HardwareSpec, ModelConfig
from hwsim.costs import METRICS, Metric, SpecGrid, Total, costs, register_metric, total_rules
from hwsim.errors import HwsimError
from hwsim.estimate import estimate_model, layer_table


def _specs():
    return [
        HardwareSpec(name=f"p{i}", tau_read_ns=tr, tau_mult_ns=tm, io_bandwidth_bits=io, weight_bits=b, n_banks=nb, n_multipliers=nm)
        for i, (tr, tm, io, b, nb, nm) in enumerate(
            [(9, 4, 64, 8, 16, 32), (9, 4, 64, 8, 16, 32), (2.5, 0.7, 128, 4, 8, 64), (12.25, 3.1, 32, 16, 1, 7), (9, 4, 256, 8, 2, 1)]
        )
    ]  # fmt: skip


@pytest.mark.parametrize(
    "method, attribution", [("float", "paper"), ("oat", "paper"), ("oat", "structural"), ("pgdat", "paper")]
)
def test_grid_totals_and_layers_equal_one_estimate_per_spec(method, attribution):
    config = ModelConfig(arch="resnet34", method=method, dataset="cifar10")
    specs = _specs()
    grid = costs(
        layer_table(config),
        specs,
        method,
        attribution=attribution,
        noise_active=config.rule.noise_active(config.eval.knob),
    )
    assert len(grid) == 5
    for i, spec in enumerate(specs):
        one = estimate_model(config, spec, attribution=attribution)
        assert grid.totals_at(i) == one.totals.model_dump()
        for metric, rule in METRICS.items():
            column = grid.layer(metric)
            column = column[:, i] if column.ndim == 2 else column
            if not rule.applies(grid.specs):  # a hierarchy metric on paper-only specs: absent everywhere
                assert np.isnan(column).all() and metric not in one.layers[0], metric
                continue
            assert column.tolist() == [layer[metric] for layer in one.layers], metric


def test_grid_from_arrays_broadcasts_and_validates_once():
    grid = SpecGrid.from_arrays(
        tau_read_ns=[9.0, 4.5], tau_mult_ns=4.0, io_bandwidth_bits=64, weight_bits=[8, 4], n_banks=16, n_multipliers=32
    )
    assert len(grid) == 2 and grid.arrays["weight_bits"].tolist() == [[8, 4]]
    assert grid.spec(1).tau_read_ns == 4.5 and grid.spec(1).weight_bits == 4
    groups, group_of = grid.count_groups()
    assert groups["weight_bits"].shape == (1, 2) and sorted(group_of.tolist()) == [0, 1]
    for bad, fragment in [
        (dict(tau_read_ns=[9.0, -1.0]), "tau_read_ns must be > 0 and <= 1e+09 (got -1.0)"),
        (dict(n_banks=[16, 0]), "n_banks must be >= 1 and <= 2^20 (got 0)"),
        (dict(weight_bits=7.5), "weight_bits must be whole numbers"),
    ]:
        values = dict(
            tau_read_ns=9.0, tau_mult_ns=4.0, io_bandwidth_bits=64, weight_bits=8, n_banks=16, n_multipliers=32, **{}
        )
        values.update(bad)
        with pytest.raises(HwsimError, match=re.escape(fragment)):
            SpecGrid.from_arrays(**values)
    with pytest.raises(HwsimError, match="missing fields"):
        SpecGrid.from_arrays(tau_read_ns=9.0)


def test_ceilings_stay_exact_on_a_large_random_grid():
    """The float ceil path equals int64 arithmetic point by point (Eq. 7 reads and multiplies)."""
    config = ModelConfig(arch="resnet20", method="oat", dataset="cifar10")
    table = layer_table(config)
    rng = np.random.default_rng(0)
    n = 2000
    arrays = dict(
        tau_read_ns=np.ones(n), tau_mult_ns=np.full(n, 1e-3), io_bandwidth_bits=rng.integers(1, 5000, n),
        weight_bits=rng.integers(1, 33, n), n_banks=rng.integers(1, 300, n), n_multipliers=rng.integers(1, 5000, n),
    )  # fmt: skip
    grid = costs(table, SpecGrid.from_arrays(**arrays), "oat", attribution="structural")
    k = (table["kernel_h"] * table["kernel_w"] * table["in_channels"] * table["out_channels"]).astype(np.int64)[:, None]
    film = (
        2 * table["film_channels"].astype(np.int64)[:, None] + 4 * table["film_channels"].astype(np.int64)[:, None] ** 2
    )
    reads = -(-((k + film) * arrays["weight_bits"]) // (arrays["io_bandwidth_bits"] * arrays["n_banks"]))
    n_mult = arrays["n_multipliers"]
    mults = -(-k // n_mult) * (table["out_h"] * table["out_w"])[:, None] + -(-film // n_mult)
    compute = np.isin(table["op"], ["conv", "linear"])[:, None]
    expected = np.where(compute, reads * 1.0 + mults * 1e-3, 0.0)
    np.testing.assert_allclose(grid.layer("delay_ns"), expected, rtol=1e-15)


def test_a_new_metric_is_one_registration(default_spec):
    """Register a metric: it appears in the grid totals, the estimate's Totals fields and the text."""
    from hwsim import estimate as estimate_module

    metric = Metric("weight_reads", "read", "memory reads of Eq. 7 (test-only)",
                    lambda i: i.base_cycles().reads[:, i.group_of], (Total("weight_reads", "read"),), per_spec=True)  # fmt: skip
    register_metric(metric)
    try:
        config = ModelConfig(arch="resnet20", method="pgdat", dataset="cifar10")
        grid = costs(layer_table(config), default_spec, "pgdat")
        reads = grid.layer("weight_reads")[:, 0]
        assert grid.totals["weight_reads"][0] == reads.sum() > 0
        assert "weight_reads" in [t.name for t in total_rules()]
        # ... and flows into the estimate: totals, JSON and the summary, with no other edit
        from hwsim.formats import OutputFormat, render_estimate

        est = estimate_module.estimate_model(config, default_spec)
        assert est.totals.weight_reads == grid.totals["weight_reads"][0]
        assert '"weight_reads"' in render_estimate(est, OutputFormat.json, False)
        assert "weight reads (read)" in render_estimate(est, OutputFormat.markdown, False)
    finally:
        METRICS.pop("weight_reads")
    assert "weight_reads" not in [t.name for t in total_rules()]
    assert estimate_module.Totals.model_fields.keys() >= {"delay_ns", "weight_bytes"}


def test_output_views_name_only_declared_columns_and_metrics():
    """The formats' per-layer view reads only what the schema or the metric registry declares."""
    from hwsim.formats import DERIVED_COLUMNS, LAYER_VIEW
    from hwsim.workload.table import COLUMNS

    assert [c for c in LAYER_VIEW if c not in COLUMNS and c not in METRICS and c not in DERIVED_COLUMNS] == []
    assert all(needs in METRICS for needs, _ in DERIVED_COLUMNS.values())
