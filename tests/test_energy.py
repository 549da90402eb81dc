"""The energy model (hwsim.costs.energy): one layer by hand per method, totals that add up, grids
with per-point energies, the shipped default's provenance and the paper's add-vs-multiply remark."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from hwsim.cli import app
from hwsim.config import ENERGY_FIELDS, Energy, ModelConfig, load_spec
from hwsim.costs import SpecGrid, costs
from hwsim.estimate import estimate_file, layer_table
from hwsim.workload.table import SCHEMA, LayerTable

from .conftest import MODELS, REPO, SPECS, one_line_error

runner = CliRunner()
FLOAT = str(MODELS / "resnet34-cifar10-float.yaml")
ENERGY_NAMES = ("energy_pj", "energy_read_pj", "energy_compute_pj", "activation_energy_pj")

# the shipped 65 nm values (asic-65nm.yaml)
READ, MULT, ADD, NOISE, ACT = 17.8, 0.357, 0.178, 0.410, 2.23
MAC = MULT + ADD
BANKS, PER_READ = 16, 64 // 8 * 16  # R = (B_IO / B_W) N_bank = 128 weights per read round


def _row(**values):
    row = {c.name: {"int": 0, "float": 1.0, "bool": False, "str": ""}[c.dtype] for c in SCHEMA}
    row.update(kernel_h=1, kernel_w=1, groups=1, stride_h=1, stride_w=1, dilation_h=1, dilation_w=1)
    row.update(in_h=1, in_w=1, out_h=1, out_w=1)
    row.update(values)
    row.setdefault("full_in_channels", row["in_channels"])
    row.setdefault("full_out_channels", row["out_channels"])
    return row


def table(noisy=False, film=False, density=1.0, noise_on_pruned=True):
    """A 3 x 3 conv 4 -> 8 on a 4 x 4 map (K = 288 weights, 16 outputs, 4,608 MACs); with ``film``
    its FiLM (d = 1: Linear(1 -> 16) and Linear(16 -> 16), F = 2 x 8 + 4 x 8^2 = 272 weights)."""
    rows = [
        _row(name="c", op="conv", kernel_h=3, kernel_w=3, in_channels=4, out_channels=8, in_h=4, in_w=4, out_h=4,
             out_w=4, padding_h=1, padding_w=1, weight_params=288, noisy=noisy, alpha_params=int(noisy),
             film_channels=8 if film else 0, density=density),
    ]  # fmt: skip
    if film:
        rows += [
            _row(name="film.fc1", op="film_linear", in_channels=1, out_channels=16, weight_params=16, conditions="c"),
            _row(name="film.fc2", op="film_linear", in_channels=16, out_channels=16, weight_params=256, conditions="c"),
        ]
    columns = {c.name: [r[c.name] for r in rows] for c in SCHEMA}
    params = sum(r["weight_params"] + r["alpha_params"] for r in rows)
    return LayerTable(columns, {"model_params": params, "other_params": 0, "noise_on_pruned": noise_on_pruned})


def energies(tbl, method, spec=None, **kw):
    grid = costs(tbl, spec or load_spec(), method, **kw)
    return {name: grid.totals_at(0)[name] for name in ENERGY_NAMES}, grid


def test_pgdat_one_layer_by_hand():
    e, grid = energies(table(), "pgdat")
    reads = math.ceil(288 / PER_READ)  # Eq. 7's read rounds: 3
    assert e["energy_read_pj"] == pytest.approx(reads * BANKS * READ, rel=1e-12)  # 854.4
    assert e["energy_compute_pj"] == pytest.approx(288 * 16 * MAC, rel=1e-12)  # 4,608 MACs
    assert e["energy_pj"] == pytest.approx(854.4 + 4608 * MAC, rel=1e-12)
    assert e["activation_energy_pj"] == pytest.approx((4 * 16 + 8 * 16) * ACT, rel=1e-12)  # outside Eq. 7


@pytest.mark.parametrize("noise_active", [True, False])
def test_float_one_layer_by_hand_with_noise_on_and_off(noise_active):
    e, _ = energies(table(noisy=True), "float", noise_active=noise_active)
    noise = 288 * NOISE if noise_active else 0.0  # Eq. 8's extra pass: one scale-and-add per weight
    assert e["energy_read_pj"] == pytest.approx(3 * BANKS * READ, rel=1e-12)  # Eq. 8 reads = Eq. 7's
    assert e["energy_compute_pj"] == pytest.approx(4608 * MAC + noise, rel=1e-12)


def test_float_masked_noise_and_zero_skipping_follow_the_delay_rules():
    spec = load_spec().model_copy(update={"zero_skipping": True})
    kept = round(0.25 * 288)  # 72 kept weights
    # dense noise fills the pruned zeros: all 288 weights multiplied, noise on all 288
    e, _ = energies(table(noisy=True, density=0.25), "float", spec)
    assert e["energy_compute_pj"] == pytest.approx(4608 * MAC + 288 * NOISE, rel=1e-12)
    # masked noise (noise_on_pruned: false): kept weights only, for the MACs and the noise
    e, _ = energies(table(noisy=True, density=0.25, noise_on_pruned=False), "float", spec)
    assert e["energy_compute_pj"] == pytest.approx(kept * 16 * MAC + kept * NOISE, rel=1e-12)
    # noise off (lambda_n = 0): zero skipping pays only for the kept weights
    e, _ = energies(table(noisy=True, density=0.25), "float", spec, noise_active=False)
    assert e["energy_compute_pj"] == pytest.approx(kept * 16 * MAC, rel=1e-12)


@pytest.mark.parametrize("attribution", ["paper", "structural"])
@pytest.mark.parametrize("modulation", [False, True])
def test_oat_one_layer_by_hand(attribution, modulation):
    spec = load_spec()
    spec = spec.model_copy(update={"energy": spec.energy.model_copy(update={"film_modulation": modulation})})
    e, grid = energies(table(film=True), "oat", spec, attribution=attribution)
    film = 2 * 8 + 4 * 8**2  # F = 272
    reads = math.ceil((288 + film) / PER_READ)  # Eq. 9's read term: the FiLM values too, 5 rounds
    assert e["energy_read_pj"] == pytest.approx(reads * BANKS * READ, rel=1e-12)
    modulated = 8 * 16 if modulation else 0  # x * mu + sigma per element of the 8 x 4 x 4 map
    assert e["energy_compute_pj"] == pytest.approx((4608 + film + modulated) * MAC, rel=1e-12)
    # the FiLM linear rows cost nothing themselves: Eq. 9 charges them on the conv they modulate
    assert grid.layer("energy_pj")[1:, 0].tolist() == [0.0, 0.0]
    # Eq. 9's F at film_dim 1 is exactly the film_linear rows' MACs (1 x 16 + 16 x 16)
    assert film == int(grid.layer("macs")[1:].sum())


def test_default_modulation_is_off_and_switch_is_in_the_energy_section():
    spec = load_spec()
    assert spec.energy.film_modulation is False and spec.film_modulation is False
    grid = SpecGrid.from_base(spec.model_copy(update={"energy": Energy(film_modulation=True)}))
    assert grid.film_modulation and grid.spec(0).film_modulation


@pytest.mark.parametrize("model", ["float", "oat", "pgdat"])
def test_totals_add_up(model):
    est = estimate_file(MODELS / f"resnet34-cifar10-{model}.yaml")
    t = est.totals
    assert t.energy_read_pj + t.energy_compute_pj == t.energy_pj  # summed the same way: exactly
    for name in ENERGY_NAMES:
        assert sum(layer[name] for layer in est.layers) == pytest.approx(getattr(t, name), rel=1e-12)
    assert t.energy_pj > 0 and t.activation_energy_pj > 0


def test_grid_of_two_read_energies_is_exactly_proportional():
    config = ModelConfig(arch="resnet34", method="oat", dataset="cifar10")
    grid = costs(layer_table(config), SpecGrid.from_base(load_spec(), read_pj=[17.8, 35.6]), "oat")
    read, compute = grid.totals["energy_read_pj"], grid.totals["energy_compute_pj"]
    assert read[1] == 2 * read[0] and compute[1] == compute[0]
    assert np.array_equal(grid.layer("energy_read_pj")[:, 1], 2 * grid.layer("energy_read_pj")[:, 0])
    assert grid.specs.spec(1).energy.read_pj.value == 35.6 and grid.specs.spec(0).energy == load_spec().energy


def test_old_six_field_grid_call_defaults_to_the_shipped_energies():
    spec = load_spec()
    old = SpecGrid.from_arrays(**spec.flat())
    assert {k: old.arrays[k].tolist() for k in ENERGY_FIELDS} == {k: [[v]] for k, v in spec.energy_values().items()}
    tbl = table(film=True)
    assert costs(tbl, old, "oat").totals_at(0) == costs(tbl, spec, "oat").totals_at(0)


@pytest.mark.parametrize(
    "bad, fragment",
    [(-1.0, "read_pj must be > 0 and <= 1e+09 (got -1.0)"), (np.inf, "read_pj must be > 0"), (0.0, "(got 0.0)")],
)
def test_grid_energies_are_validated_like_the_times(bad, fragment):
    from hwsim.errors import HwsimError

    with pytest.raises(HwsimError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        SpecGrid.from_base(load_spec(), read_pj=[17.8, bad])


def test_every_default_entry_has_its_provenance():
    shipped = load_spec().energy
    assert shipped == Energy()  # the YAML and the code's default agree
    for name in ENERGY_FIELDS:
        entry = getattr(shipped, name)
        assert entry.value > 0 and math.isfinite(entry.value) and entry.unit == "pJ", name
        assert entry.node == "65nm" and entry.voltage == 1.0, name
        assert entry.source.strip(), name
        assert "calibration" in entry.source, name  # every default is marked a calibration
    assert set(ENERGY_FIELDS) >= {
        "read_pj",
        "mult_pj",
        "add_pj",
        "noise_pj",
        "activation_read_pj",
        "activation_write_pj",
    }


def test_default_add_is_cheaper_than_a_multiply_within_the_papers_32x():
    # Paper section 4.3: "a single addition can be up to 32x cheaper than a single FLOP (Horowitz 2014)"
    text = REPO.parent / "shared" / "paper" / "float-kundu-et-al.txt"
    if text.is_file():
        assert "up to $32\\times$ cheaper" in text.read_text()
    e = Energy()
    assert 1 < e.mult_pj.value / e.add_pj.value <= 32
    assert e.noise_pj.value < e.mult_pj.value + e.add_pj.value  # a noise scale-and-add is cheaper than a MAC


def _bad_spec(tmp_path, energy_text):
    path = tmp_path / "bad.yaml"
    path.write_text((SPECS / "asic-65nm.yaml").read_text().split("energy:")[0] + energy_text)
    return path


@pytest.mark.parametrize(
    "energy_text, fragments",
    [
        ("energy:\n  read_pj: {value: -1, node: 65nm, source: x}\n", ["energy.read_pj.value", "greater than 0"]),
        ("energy:\n  mult_pj: {value: .inf, node: 65nm, source: x}\n", ["energy.mult_pj.value", "finite"]),
        (
            "energy:\n  read_pj: {value: 1, node: 65nm, source: x, colour: red}\n",
            ["energy.read_pj.colour", "unknown key"],
        ),
        ("energy:\n  bogus_pj: {value: 1, node: 65nm, source: x}\n", ["energy.bogus_pj", "unknown key"]),
        ("energy:\n  add_pj: {value: 1, unit: nJ, node: 65nm, source: x}\n", ["energy.add_pj.unit"]),
        ("energy:\n  add_pj: {value: 1, node: 65nm}\n", ["energy.add_pj.source", "Field required"]),
        ("read_pj: 3\n", ["read_pj", "unknown key"]),
    ],
)
def test_bad_energy_values_are_one_line_exit_2(tmp_path, energy_text, fragments):
    path = _bad_spec(tmp_path, energy_text)
    result = runner.invoke(app, ["estimate", FLOAT, "--spec", str(path)])
    one_line_error(result, str(path), *fragments)


def test_summary_json_and_compare_carry_energy():
    result = runner.invoke(app, ["estimate", FLOAT])
    assert result.exit_code == 0 and "energy per inference, FLOAT (weight reads / compute)" in result.output
    assert "activation traffic (outside the paper's model)" in result.output
    import json

    data = json.loads(runner.invoke(app, ["estimate", FLOAT, "-f", "json"]).output)
    assert set(ENERGY_NAMES) <= set(data["totals"]) and data["spec"]["energy"]["film_modulation"] is False
    compare = json.loads(
        runner.invoke(app, ["compare", FLOAT, str(MODELS / "resnet34-cifar10-oat.yaml"), "-f", "json"]).output
    )
    rows = compare["rows"]
    assert rows[0]["energy_ratio"] == 1 and rows[1]["energy_pj"] / rows[0]["energy_pj"] == rows[1]["energy_ratio"]
