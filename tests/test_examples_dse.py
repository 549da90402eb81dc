"""The chip-architect scripts of examples/dse/ run on a reduced grid and write their plot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

DSE = Path(__file__).resolve().parents[1] / "examples" / "dse"


def load(name):
    spec = importlib.util.spec_from_file_location(name, DSE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_min_multipliers_meets_the_budget_and_no_fewer(tmp_path, capsys):
    script = load("min_multipliers")
    assert script.main(["--quick", "--budget-ms", "50", "--out", str(tmp_path / "m.png")]) == 0
    assert (tmp_path / "m.png").stat().st_size > 0
    best = script.smallest_multipliers(50e6, np.array([16]), np.arange(64, 129))
    from hwsim.estimate import estimate_model, load_model_and_spec

    for label, name in script.MODELS.items():  # checked one spec at a time through estimate_model
        config, spec = load_model_and_spec(DSE.parents[1] / f"models/resnet34-cifar10-{name}.yaml")
        m = int(best[label][0])
        fits = estimate_model(config, spec.model_copy(update={"n_banks": 16, "n_multipliers": m}))
        short = estimate_model(config, spec.model_copy(update={"n_banks": 16, "n_multipliers": m - 1}))
        assert fits.totals.delay_ns <= 50e6 < short.totals.delay_ns, label
    assert "PGD-AT" in capsys.readouterr().out


def test_float_vs_oat_ratio_at_the_shipped_spec(tmp_path, capsys):
    script = load("float_vs_oat")
    assert script.main(["--quick", "--out", str(tmp_path / "f.png")]) == 0
    out = capsys.readouterr().out
    assert "shipped spec (B_IO 64, 16 banks, 32 multipliers): 0.997" in out  # README: whole-network 0.997
    ratio = script.delay_ratio(np.array([16]), np.array([32, 4096]), np.array([64]), "paper")
    assert ratio[0, 0, 0] == pytest.approx(0.997, abs=5e-4) and ratio[0, 0, 1] > 1.0


def test_accuracy_front_from_the_tracked_runs(tmp_path, capsys):
    script = load("accuracy_front")
    assert script.main(["--quick", "--out", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    # the tracked PGD-AT (lambda 1) run is the most robust; its RA is the results file's PGD-7 number
    assert "best RA at lambda 1 (PGD-7): 56.39 (pgdat-l1-seed0)" in out
    result = script.run_sweep(quick=True)
    # n_multipliers 8..256 x n_banks 1..4 x (9 runs, the 3 slimmable ones at SF 1 and 0.5)
    assert len(result.points) == 6 * 3 * (len(script.RUNS) + 3)
    widths = {m for m in result.points["model"].astype(str) if "@SF" in m}
    assert widths == {
        f"resnet20-digits-{m}@SF{sf}" for m in ("floats-slim", "float-slim", "oat-slim") for sf in ("1", "0.5")
    }
    half = result.points[result.points["model"].astype(str) == "resnet20-digits-oat-slim@SF0.5"].iloc[0]
    assert half["robust_acc@lam=1"] == pytest.approx(33.61, abs=0.01)  # results.json: OAT slim, SF 0.5, lambda 1
    assert set(result.front["robust_acc@lam=1"]) <= set(result.points["robust_acc@lam=1"])
