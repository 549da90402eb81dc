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
