from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
SPECS = REPO / "specs"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def default_spec():
    from hwsim.config import load_spec

    return load_spec()


@pytest.fixture(autouse=True, scope="session")
def _private_table_cache(tmp_path_factory):
    """Tests never read or write the user's ~/.cache/hwsim."""
    import os

    os.environ["HWSIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("hwsim-cache"))
    yield


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny test tensors gain nothing from threads, and two spinning threads per process slow the
    suite badly on a 2-core machine that runs anything else."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def one_line_error(result, *fragments):
    """The CLI contract for bad input: exit code 2, nothing on stdout, no traceback, exactly one
    ``error:`` line on stderr that holds every fragment. Returns that line."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
    return lines[0]


#: training settings of the tiny runs the runner tests train (seconds on a CPU)
TINY_TRAIN = dict(batch_size=32, limit_train=64, limit_test=32, eval_limit=32, image_size=8, lr=0.05)


def tiny_run(name, model, **train):
    """A tiny run of ``model`` (a ModelConfig): :data:`TINY_TRAIN`, 2 epochs, ``train`` on top."""
    from hwsim.runfiles import RunConfig

    settings = {**TINY_TRAIN, "epochs": 2, **train}
    return RunConfig.model_validate({"name": name, "model": model.model_dump(by_alias=True), "train": settings})


def assert_same_sweep(one, other):
    """Two runs of one sweep plan (other chunks, another engine) give the same results: counts (but the
    number of chunks), fronts, kept points, aggregates, constraint passes and heat map."""
    import numpy as np
    import pandas as pd

    drop = lambda counts: {k: v for k, v in counts.items() if k != "chunks"}  # noqa: E731
    assert drop(one.counts) == drop(other.counts)
    pd.testing.assert_frame_equal(one.front, other.front)
    pd.testing.assert_frame_equal(one.points, other.points)
    assert one.model_fronts.keys() == other.model_fronts.keys()
    for model in one.model_fronts:
        pd.testing.assert_frame_equal(one.model_fronts[model], other.model_fronts[model])
    assert one.aggregates == other.aggregates and one.constraint_passing == other.constraint_passing
    np.testing.assert_array_equal(one.heatmap["min"], other.heatmap["min"])
