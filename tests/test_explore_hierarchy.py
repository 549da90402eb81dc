"""Sweeps over the memory-hierarchy model (issue 17): hierarchy fields as axes, constraints and
objectives, the hier_* totals as objectives and outputs, the hierarchy model's default objectives,
every row against the per-spec cost API, Pareto fronts against brute force, chunking and the Dask
engine against the local engine, bad input as one line, and the Eyeriss example sweep."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hwsim.config import HardwareSpec, load_model_config, load_spec
from hwsim.costs import costs
from hwsim.errors import HwsimError
from hwsim.estimate import estimate_model, layer_table, noise_active
from hwsim.explore import plan_sweep, run_plan, sweep
from hwsim.explore.config import Log2Axis, axis_values, parse_constraint
from hwsim.explore.output import summary_frame
from hwsim.report.join import condition_config

from .conftest import assert_same_sweep, one_line_error
from .test_explore import brute_front, invoke, key_set, write

REPO = Path(__file__).resolve().parent.parent
FLOAT = str(REPO / "models/resnet20-digits-float.yaml")
OAT = str(REPO / "models/resnet20-digits-oat.yaml")
EYERISS = "eyeriss-65nm"
HIER_TOTALS = [
    "hier_latency_ns", "hier_energy_pj", "hier_dram_pj", "hier_glb_pj", "hier_local_pj", "hier_compute_pj",
    "hier_dram_bits", "hier_glb_bits", "hier_local_bits", "hier_compute_cycles", "hier_dram_cycles",
    "hier_glb_cycles", "hier_local_cycles",
]  # fmt: skip


@functools.cache
def eyeriss() -> HardwareSpec:
    return load_spec(EYERISS)


def with_hierarchy(base: HardwareSpec, **changes) -> HardwareSpec:
    """``base`` with hierarchy values changed, through the spec file's own nesting (an independent path
    from the sweep's SpecGrid): ``glb_capacity_bytes`` -> hierarchy.global_buffer.capacity_bytes, ..."""
    data = base.model_dump(mode="json")
    h = data["hierarchy"]
    paths = {
        "glb_capacity_bytes": ("global_buffer", "capacity_bytes"), "local_capacity_bytes": ("local", "capacity_bytes"),
        "dram_bandwidth_bits": ("dram", "bandwidth_bits"), "pe_rows": ("array", "rows"), "clock_mhz": ("clock_mhz",),
        "dram_read_pj": ("dram", "read_pj", "value"), "glb_read_pj": ("global_buffer", "read_pj", "value"),
    }  # fmt: skip
    for key, value in changes.items():
        *outer, last = paths[key]
        node = h
        for part in outer:
            node = node[part]
        node[last] = value
    return HardwareSpec.model_validate(data)


def tiny(**extra):
    """ResNet20 digits FLOAT and OAT on the Eyeriss-like spec over a 2 x 2 x 2 hierarchy grid."""
    return {
        "models": [FLOAT, OAT],
        "spec": EYERISS,
        "axes": {"glb_capacity_bytes": [8192, 110592], "pe_rows": [8, 12], "dram_bandwidth_bits": [32, 64]},
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# axes, constraints, objectives on hierarchy fields


def test_hierarchy_axis_values_and_types():
    base, paper = eyeriss(), load_spec()
    capacities = axis_values("glb_capacity_bytes", Log2Axis(log2=(16384, 1048576)), base=base)
    assert capacities.tolist() == [16384, 32768, 65536, 131072, 262144, 524288, 1048576]
    assert capacities.dtype == np.int64
    assert axis_values("pe_rows", [8.0, 12.0, 8], base=base).tolist() == [8, 12]  # whole floats, duplicates dropped
    assert axis_values("pe_rows", [8.0], base=base).dtype == np.int64
    assert axis_values("dram_read_pj", [256, 512], base=base).dtype == np.float64  # energies are floats
    assert axis_values("clock_mhz", [200], base=base).tolist() == [200.0]
    with pytest.raises(HwsimError, match="pe_rows must be whole numbers"):
        axis_values("pe_rows", [8.5], base=base)
    with pytest.raises(HwsimError, match="base spec 'asic-65nm' has no hierarchy section"):
        axis_values("glb_capacity_bytes", [16384], base=paper)
    with pytest.raises(HwsimError, match="unknown spec field; sweepable: .*glb_capacity_bytes"):
        axis_values("glb_capacity", [16384], base=base)


def test_hierarchy_constraints_mask_by_hand():
    base = eyeriss()
    values = {
        "io_bandwidth_bits": 64, "weight_bits": 16, "n_banks": 1, "n_multipliers": 168,
        "glb_capacity_bytes": np.array([16384, 65536, 262144]), "pe_rows": np.array([8, 12, 16]),
        "dram_read_pj": np.array([256.0, 512.0, 1024.0]),
    }  # fmt: skip
    mask = lambda item: parse_constraint(item, 0, base=base).mask(values).tolist()  # noqa: E731
    assert mask({"min": {"glb_capacity_bytes": 65536}}) == [False, True, True]
    assert mask({"max": {"pe_rows": 12}}) == [True, True, False]
    assert mask({"max": {"dram_read_pj": 511.5}}) == [True, False, False]
    assert parse_constraint({"min": {"pe_rows": 12}}, 0, base=base).text == "pe_rows >= 12"
    with pytest.raises(HwsimError, match="constraints\\[0\\]: min: pe_rows .* has no hierarchy section"):
        parse_constraint({"min": {"pe_rows": 12}}, 0, base=load_spec())


def test_default_objectives_follow_the_cost_model(tmp_path):
    plan = plan_sweep(tiny())
    assert plan.objectives == [("hier_latency_ns", False), ("hier_energy_pj", False)] and plan.default_objectives
    assert plan.totals == ["hier_latency_ns", "hier_energy_pj"]  # no delay_ns: the objectives are carried
    assert plan.latency == "hier_latency_ns"
    # given objectives are kept; the lead latency (hier_latency_ns) is always carried
    given = plan_sweep(tiny(objectives=[{"min": "delay_ns"}, {"max": "pe_rows"}], outputs=["hier_dram_pj"]))
    assert given.objectives == [("delay_ns", False), ("pe_rows", True)] and not given.default_objectives
    assert given.totals == ["delay_ns", "hier_latency_ns", "hier_dram_pj"]
    # the same hierarchy with cost_model: paper: the paper model's defaults, hierarchy axes still sweep
    spec = eyeriss().model_dump(mode="json") | {"cost_model": "paper", "name": "eyeriss-paper"}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    paper = plan_sweep(tiny(spec=str(tmp_path / "spec.yaml")))
    assert paper.objectives == [("delay_ns", False), ("weight_bytes", False)] and paper.latency == "delay_ns"
    assert paper.totals == ["delay_ns", "weight_bytes"] and "glb_capacity_bytes" in paper.axes
    # a paper base: unchanged
    assert plan_sweep({"models": [FLOAT], "axes": {"n_banks": [1, 2]}}).totals == ["delay_ns", "weight_bytes"]


# ---------------------------------------------------------------------------------------------
# values: every row is the per-spec cost API's


def test_every_row_equals_costs_on_that_points_spec():
    """Each of the 8 points x 2 models: every carried total equals ``costs(table, spec, method).totals_at(0)``
    on that point's spec, built from the spec file's nesting (and estimate_model agrees)."""
    result = sweep(tiny(outputs=HIER_TOTALS[2:] + ["delay_ns", "energy_pj"]), keep_points=True)
    points = result.points
    assert len(points) == 16 and result.counts["jobs"] == 2
    assert list(points.columns[5:8]) == ["glb_capacity_bytes", "pe_rows", "dram_bandwidth_bits"]
    configs = {load_model_config(p).name: load_model_config(p) for p in (FLOAT, OAT)}
    for row in points.itertuples():
        spec = with_hierarchy(
            eyeriss(), glb_capacity_bytes=int(row.glb_capacity_bytes), pe_rows=int(row.pe_rows),
            dram_bandwidth_bits=int(row.dram_bandwidth_bits),
        )  # fmt: skip
        config = condition_config(configs[row.model], row.condition, 0.0)
        expected = costs(layer_table(config), spec, config.method, noise_active=noise_active(config)).totals_at(0)
        for total in [*HIER_TOTALS, "delay_ns", "energy_pj"]:
            assert getattr(row, total) == expected[total], (row.point, total)
        assert estimate_model(config, spec).totals.hier_latency_ns == row.hier_latency_ns
    # the axes matter: a smaller array computes longer, more DRAM bandwidth never costs time
    by = points.set_index(["model", "glb_capacity_bytes", "pe_rows", "dram_bandwidth_bits"])
    for model in configs:
        small, big = by.loc[(model, 110592, 8, 64)], by.loc[(model, 110592, 12, 64)]
        assert small.hier_compute_cycles > big.hier_compute_cycles
        assert by.loc[(model, 110592, 12, 64)].hier_latency_ns <= by.loc[(model, 110592, 12, 32)].hier_latency_ns
        assert (by.loc[model]["delay_ns"] == by.loc[model]["delay_ns"].iloc[0]).all()  # Eq. 7-9: no hierarchy


def test_clock_and_energy_axes_by_hand():
    """Clock 100 vs 200 MHz: the same cycles, so latency exactly halves (a power of two) and every energy
    is equal; DRAM read energy 256 vs 512 pJ: only DRAM energy changes, by DRAM reads x 256 / 64 bits."""
    config = {"models": [FLOAT], "spec": EYERISS, "axes": {"clock_mhz": [100, 200]}, "outputs": HIER_TOTALS}
    points = sweep(config, keep_points=True).points.set_index("clock_mhz")
    assert points.loc[200.0, "hier_latency_ns"] == points.loc[100.0, "hier_latency_ns"] / 2
    for total in HIER_TOTALS[1:]:
        assert points.loc[200.0, total] == points.loc[100.0, total], total
    config = {**config, "axes": {"dram_read_pj": [256, 512]}}
    points = sweep(config, keep_points=True).points.set_index("dram_read_pj")
    low, high = points.loc[256.0], points.loc[512.0]
    assert high.hier_latency_ns == low.hier_latency_ns and high.hier_glb_pj == low.hier_glb_pj
    assert high.hier_dram_pj > low.hier_dram_pj
    assert high.hier_energy_pj - low.hier_energy_pj == pytest.approx(high.hier_dram_pj - low.hier_dram_pj, rel=1e-12)
    spec = with_hierarchy(eyeriss(), dram_read_pj=256.0)
    model = load_model_config(FLOAT)
    assert estimate_model(model, spec).totals.hier_dram_pj == low.hier_dram_pj


# ---------------------------------------------------------------------------------------------
# fronts, chunks, engines


def test_front_on_hierarchy_columns_equals_brute_force():
    objectives = [{"min": "hier_latency_ns"}, {"min": "hier_energy_pj"}, {"min": "glb_capacity_bytes"}]
    result = sweep(tiny(objectives=objectives), keep_points=True)
    points = result.points
    signs = np.column_stack([points[c].to_numpy(float) for c, _ in result.plan.objectives])
    assert key_set(result.front) == key_set(points[brute_front(signs)])
    for model, front in result.model_fronts.items():
        mine = points[points["model"] == model]
        signs = np.column_stack([mine[c].to_numpy(float) for c, _ in result.plan.objectives])
        assert key_set(front) == key_set(mine[brute_front(signs)])
    best = result.best()
    assert best["hier_latency_ns"]["value"] == points["hier_latency_ns"].min()
    assert best["glb_capacity_bytes"]["value"] == 8192
    # a maximised hierarchy field: the front is the brute-force front of (energy, -pe_rows)
    result = sweep(tiny(objectives=[{"min": "hier_energy_pj"}, {"max": "pe_rows"}]), keep_points=True)
    points = result.points
    signs = np.column_stack([points["hier_energy_pj"], -points["pe_rows"]])
    assert key_set(result.front) == key_set(points[brute_front(signs)])
    assert result.best()["pe_rows"]["value"] == 12 and set(result.front["pe_rows"]) == {12}  # 12 rows: less energy
    # fewer PEs against latency: a real trade-off, both array sizes on the front
    result = sweep(tiny(objectives=[{"min": "hier_latency_ns"}, {"min": "pe_rows"}]), keep_points=True)
    points = result.points
    signs = np.column_stack([points["hier_latency_ns"], points["pe_rows"]])
    assert key_set(result.front) == key_set(points[brute_front(signs)])
    assert set(result.front["pe_rows"]) == {8, 12}


def test_hierarchy_constraint_masks_the_sweep():
    result = sweep(
        tiny(constraints=[{"min": {"glb_capacity_bytes": 65536}}, {"max": {"pe_rows": 8}}]), keep_points=True
    )
    assert result.counts["feasible"] == 2 and result.constraint_passing == {
        "glb_capacity_bytes >= 65536": 4,
        "pe_rows <= 8": 4,
    }
    assert set(result.points["glb_capacity_bytes"]) == {110592} and set(result.points["pe_rows"]) == {8}


def hierarchy_plan():
    """24 points over group fields and continuous ones, a constraint, FLOAT and OAT at two conditions."""
    return plan_sweep(
        tiny(
            axes={"glb_capacity_bytes": [8192, 32768, 110592], "pe_rows": [8, 12], "clock_mhz": [100, 250],
                  "glb_read_pj": [30, 60]},
            constraints=[{"max": {"glb_read_pj": 45}}], conditions=[0.0, 1.0],
            objectives=[{"min": "hier_latency_ns"}, {"min": "hier_energy_pj"}, {"min": "glb_capacity_bytes"}],
        ),
        keep_points=True,
    )  # fmt: skip


def test_chunked_and_dask_equal_the_single_chunk_on_a_hierarchy_sweep():
    plan = hierarchy_plan()
    one = run_plan(plan, chunk=1 << 20)
    many = run_plan(plan, chunk=5)
    dask = run_plan(plan, chunk=7, engine="dask", workers=2, processes=False)
    assert one.counts["feasible"] == 12 and one.counts["rows"] == 48 and many.counts["chunks"] == 5
    for other in (many, dask):
        assert_same_sweep(one, other)
    # the heat map divides the hierarchy model's latency, OAT over FLOAT, min over the other axes
    heat, points = one.heatmap, one.points
    assert heat["column"] == "hier_latency_ns" and (heat["x"], heat["y"]) == ("glb_capacity_bytes", "pe_rows")
    oat = points[(points["model"] == "resnet20-digits-oat") & (points["condition"] == 0.0)]
    flt = points[(points["model"] == "resnet20-digits-float") & (points["condition"] == 0.0)]
    ratio = oat.set_index("point")["hier_latency_ns"] / flt.set_index("point")["hier_latency_ns"]
    cell = flt.set_index("point")
    for i, rows in enumerate(heat["ys"]):
        for j, cap in enumerate(heat["xs"]):
            here = ratio[(cell["pe_rows"] == rows) & (cell["glb_capacity_bytes"] == cap)]
            assert heat["min"][i, j] == pytest.approx(here.min(), rel=1e-15)


# ---------------------------------------------------------------------------------------------
# the command: files, summary, bad input


def test_cli_hierarchy_sweep_files_and_summary(tmp_path):
    out = tmp_path / "out"
    result = invoke("sweep", write(tmp_path, tiny()), "--out-dir", out, "--chunk", 3)
    assert result.exit_code == 0, result.output
    assert "hierarchy cost model" in result.stdout and "best min hier_latency_ns" in result.stdout
    frame = summary_frame(run_plan(plan_sweep(tiny())))
    assert frame["value"].iloc[:2].tolist() == [
        "hierarchy (hwsim.costs.hierarchy)",
        "min hier_latency_ns, min hier_energy_pj (the hierarchy model's defaults: the sweep file gives none)",
    ]
    names = {p.name for p in out.iterdir()}
    assert {"front-hier_latency_ns-vs-hier_energy_pj.png", "hier-latency-ratio-oat-float.pdf"} <= names
    assert not [n for n in names if n.startswith("delay-") or n.endswith(".tmp")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cost_model"] == "hierarchy" and summary["default_objectives"] is True
    assert summary["objectives"] == [{"min": "hier_latency_ns"}, {"min": "hier_energy_pj"}]
    assert summary["heatmap"]["column"] == "hier_latency_ns"
    front = pd.read_csv(out / "front.csv")
    assert "hier_latency_ns" in front and "delay_ns" not in front
    points = pd.read_parquet(out / "points.parquet")
    assert summary["aggregates"]["hier_energy_pj"]["min"] == points["hier_energy_pj"].min()
    assert summary["best"]["hier_latency_ns"]["value"] == points["hier_latency_ns"].min()


def test_paper_sweep_summary_has_no_hierarchy_keys(tmp_path):
    """A paper-model sweep writes what it wrote before issue 17: no cost_model keys, delay_ns heat map."""
    config = {"models": [FLOAT, OAT], "axes": {"n_multipliers": [8, 32], "n_banks": [1, 2]}}
    out = tmp_path / "out"
    assert invoke("sweep", write(tmp_path, config), "--out-dir", out, "--quiet").exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "cost_model" not in summary and "column" not in summary["heatmap"]
    assert (out / "delay-ratio-oat-float.png").is_file()


@pytest.mark.parametrize(
    "edit, fragments",
    [
        ({"spec": "asic-65nm", "axes": {"glb_capacity_bytes": [8192]}},
         ["axes.glb_capacity_bytes: glb_capacity_bytes (a hierarchy field) belongs to the memory-hierarchy model",
          "base spec 'asic-65nm' has no hierarchy section"]),
        ({"spec": "asic-65nm", "axes": {"n_banks": [1, 2]}, "objectives": [{"min": "hier_latency_ns"}]},
         ["objectives[0]: hier_latency_ns (a hierarchy total)", "has no hierarchy section"]),
        ({"spec": "asic-65nm", "axes": {"n_banks": [1, 2]}, "outputs": ["hier_dram_pj"]},
         ["outputs[0]: hier_dram_pj (a hierarchy total)", "has no hierarchy section"]),
        ({"spec": "asic-65nm", "axes": {"n_banks": [1, 2]}, "constraints": [{"min": {"pe_rows": 8}}]},
         ["constraints[0]: min: pe_rows (a hierarchy field)", "has no hierarchy section"]),
        ({"axes": {"glb_capacity_bytes": [0, 8192]}}, ["axes.glb_capacity_bytes: glb_capacity_bytes must be >= 1"]),
        ({"axes": {"local_capacity_bytes": [4]}},
         ["axes.local_capacity_bytes: local_capacity_bytes 4 B (hierarchy.local) cannot hold one weight"]),
        ({"axes": {"local_capacity_bytes": [8, 512], "weight_bits": [16, 64]}},
         ["axes: local_capacity_bytes 8 B (hierarchy.local) cannot hold one weight, one activation and one "
          "partial sum (96 bits)"]),
        ({"axes": {"glb_capacity_bytes": [512, 110592], "pe_rows": [8, 12]}},
         ["axes: at pe_rows=12, glb_capacity_bytes=512 (the axes' tightest corner): resnet20-digits-float: "
          "hierarchy.global_buffer.capacity_bytes: 512 B cannot hold the smallest tile"]),
        ({"axes": {"clock_mhz": [float("nan")]}}, ["axes.clock_mhz: values must be finite numbers (got nan)"]),
        ({"axes": {"dram_read_pj": [-1.0]}}, ["axes.dram_read_pj: dram_read_pj must be > 0"]),
        ({"axes": {"pe_rows": [0]}}, ["axes.pe_rows: pe_rows must be >= 1"]),
        ({"axes": {"pe_rows": [8.5]}}, ["axes.pe_rows: pe_rows must be whole numbers"]),
        ({"objectives": [{"min": "pe_cols"}]}, ["objectives: pe_cols is not swept"]),
        ({"axes": {"glb_capacity": [8192]}}, ["axes.glb_capacity: unknown spec field"]),
        ({"constraints": [{"min": {"glb_capacity": 1}}]}, ["constraints[0]: min: unknown spec field 'glb_capacity'"]),
        ({"constraints": [{"min": {"glb_capacity_bytes": 1 << 20}}]},
         ["no point satisfies 'glb_capacity_bytes >= 1.04858e+06'"]),
    ],
)  # fmt: skip
def test_bad_hierarchy_input_one_line_exit_2(tmp_path, edit, fragments):
    result = invoke("sweep", write(tmp_path, {**tiny(), **edit}), "--out-dir", tmp_path / "o")
    line = one_line_error(result, *fragments)
    assert str(tmp_path / "sweep.yaml") in line or "no point satisfies" in line
    assert not (tmp_path / "o").exists()


def test_a_mapping_that_fails_in_a_chunk_is_one_line_naming_the_sweep(tmp_path):
    """With weight_bits swept under a constraint that ties it to other fields the tightest corner is not
    known at plan time: the 64-bit points that do not fit the 4 KB buffer fail in their chunk, still as
    one line naming the sweep file and the model."""
    edit = {"axes": {"weight_bits": [16, 64], "glb_capacity_bytes": [4096]},
            "constraints": ["weights_per_read <= n_multipliers"]}  # fmt: skip
    path = write(tmp_path, {**tiny(), **edit})
    line = one_line_error(invoke("sweep", path, "--out-dir", tmp_path / "o"), str(path), ": resnet20-digits-float: ")
    assert "hierarchy.global_buffer.capacity_bytes: 4096 B cannot hold the smallest tile" in line
    assert not (tmp_path / "o").exists()
    # the 16-bit points alone map
    assert (
        sweep({**tiny(), **edit, "axes": {"weight_bits": [16], "glb_capacity_bytes": [4096]}}).counts["feasible"] == 1
    )


# ---------------------------------------------------------------------------------------------
# the example


def test_eyeriss_example_sweep(tmp_path):
    result = invoke("sweep", REPO / "examples/dse/sweep-eyeriss.yaml", "--out-dir", tmp_path, "--no-plots", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["points"] == 7 * 3 * 3 and summary["counts"]["jobs"] == 2
    assert summary["counts"]["feasible"] == 63 and summary["base_spec"] == EYERISS
    assert summary["cost_model"] == "hierarchy" and summary["default_objectives"] is False
    points = pd.read_parquet(tmp_path / "points.parquet")
    # the best latency point, costed alone through estimate_model on its own spec, gives the same totals
    best = summary["best"]["hier_latency_ns"]
    spec = with_hierarchy(
        eyeriss(), glb_capacity_bytes=best["glb_capacity_bytes"], pe_rows=best["pe_rows"],
        dram_bandwidth_bits=best["dram_bandwidth_bits"],
    )  # fmt: skip
    totals = estimate_model(load_model_config(REPO / "models/resnet34-cifar10-float.yaml"), spec).totals
    assert best["model"] == "resnet34-cifar10-float" and best["value"] == totals.hier_latency_ns
    at = (points["model"] == best["model"]) & (points["condition"] == best["condition"])
    for axis in ("glb_capacity_bytes", "pe_rows", "dram_bandwidth_bits"):
        at &= points[axis] == best[axis]
    (row,) = [r for _, r in points[at].iterrows()]
    for total in ("hier_energy_pj", "hier_dram_pj", "hier_glb_pj", "hier_compute_cycles", "hier_dram_cycles"):
        assert row[total] == getattr(totals, total), total
    # more DRAM bandwidth never slows a design down; OAT (FiLM) costs more than FLOAT everywhere
    by = points.set_index(["model", "glb_capacity_bytes", "pe_rows", "dram_bandwidth_bits"])["hier_latency_ns"]
    for model in ("resnet34-cifar10-float", "resnet34-cifar10-oat"):
        mine = by.loc[model].unstack("dram_bandwidth_bits")
        assert (mine[64] <= mine[32]).all() and (mine[128] <= mine[64]).all()
    assert (by.loc["resnet34-cifar10-oat"] > by.loc["resnet34-cifar10-float"]).all()
