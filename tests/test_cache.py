"""Layer-table cache: a hit equals a fresh walk; keys change with every shape-relevant setting."""

import pytest

from hwsim.config import ModelConfig
from hwsim.costs import costs
from hwsim.estimate import estimate_model, layer_table
from hwsim.workload.cache import CacheWarning, cache_dir, load_table, source_digest, table_key


def config(**kw):
    return ModelConfig(**{"arch": "resnet20", "method": "oat", "dataset": "cifar10", **kw})


def test_cache_hit_equals_fresh_walk(default_spec):
    cfg = config()
    fresh = layer_table(cfg, use_cache=False)
    first = layer_table(cfg)  # walks and stores
    assert (cache_dir() / f"{table_key(cfg)}.json").is_file()
    cached = load_table(table_key(cfg))
    assert cached.equals(fresh) and first.equals(fresh)
    assert cached.attrs == fresh.attrs == first.attrs
    # the cached path (estimate_model) gives the totals of an uncached walk costed directly
    uncached = costs(fresh, default_spec, cfg.method).totals_at(0)
    assert estimate_model(cfg, default_spec).totals.model_dump() == uncached


def test_key_tracks_shape_settings_not_eval_condition():
    base = table_key(config())
    assert table_key(config(film_dim=4)) != base
    assert table_key(config(dual_bn=False)) != base
    assert table_key(config(dataset="stl10")) != base
    assert table_key(config(method="float")) != base
    assert table_key(config(eval={"lambda": 0.2})) == base  # shapes do not depend on lambda


def test_corrupt_cache_entry_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(tmp_path))
    cfg = config(film_dim=3)
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / f"{table_key(cfg)}.json").write_text("{not json")
    with pytest.warns(CacheWarning, match="ignoring corrupt layer-table cache entry"):
        assert load_table(table_key(cfg)) is None
    with pytest.warns(CacheWarning):
        cached = layer_table(cfg)
    assert cached.equals(layer_table(cfg, use_cache=False))
    monkeypatch.setenv("HWSIM_NO_CACHE", "1")
    assert cache_dir() is None and load_table(table_key(cfg)) is None


def test_key_hashes_every_module_of_the_package(tmp_path, monkeypatch):
    """A new module anywhere in the package is a new key (no hand-kept file list)."""
    import hwsim.workload.cache as cache

    fake = tmp_path / "hwsim"
    for path in cache.PACKAGE.rglob("*.py"):
        target = fake / path.relative_to(cache.PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    monkeypatch.setattr(cache, "PACKAGE", fake)
    source_digest.cache_clear()
    before = table_key(config())
    (fake / "methods" / "newmethod.py").write_text("X = 1\n")
    source_digest.cache_clear()
    after = table_key(config())
    source_digest.cache_clear()
    assert before != after


def test_unwritable_cache_warns_and_estimates(tmp_path, monkeypatch, default_spec):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(blocked))
    with pytest.warns(CacheWarning, match="not written"):
        totals = estimate_model(config(film_dim=2), default_spec).totals
    assert totals.layers == 22 + 2 * 19  # ResNet20: 19 convs + fc, and 19 FiLMs of 2 linears


def test_cli_reports_an_unwritable_cache_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from hwsim.cli import app

    from .conftest import MODELS

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(blocked))
    result = CliRunner().invoke(app, ["estimate", str(MODELS / "resnet20-digits-oat.yaml"), "-f", "csv"])
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warning_lines) == 1 and "layer-table cache not written" in warning_lines[0]
    assert "Traceback" not in result.output and "resnet20-digits-oat,oat" in result.output
