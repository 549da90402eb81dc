"""Layer-table cache: a hit equals a fresh walk; keys change with every shape-relevant setting."""

import pandas as pd

from hwsim.cache import cache_dir, load_table, table_key
from hwsim.config import ModelConfig
from hwsim.estimate import cost_table, estimate_model, layer_table, summarize


def config(**kw):
    return ModelConfig(**{"arch": "resnet20", "method": "oat", "dataset": "cifar10", **kw})


def test_cache_hit_equals_fresh_walk(default_spec):
    cfg = config()
    fresh = layer_table(cfg, use_cache=False)
    first = layer_table(cfg)  # walks and stores
    assert (cache_dir() / f"{table_key(cfg)}.json").is_file()
    cached = load_table(table_key(cfg))
    pd.testing.assert_frame_equal(cached, fresh)
    assert cached.attrs == fresh.attrs == first.attrs
    # the cached path (estimate_model) gives the totals of an uncached walk costed directly
    uncached = summarize(cost_table(fresh, default_spec, cfg.method), fresh.attrs["model_params"])
    assert estimate_model(cfg, default_spec).totals == uncached


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
    assert load_table(table_key(cfg)) is None
    assert layer_table(cfg)["macs"].sum() == layer_table(cfg, use_cache=False)["macs"].sum()
    monkeypatch.setenv("HWSIM_NO_CACHE", "1")
    assert cache_dir() is None and load_table(table_key(cfg)) is None
