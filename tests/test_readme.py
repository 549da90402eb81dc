"""The README's own runner example, run as a newcomer would type it (plus tiny limits)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

README = (REPO / "README.md").read_text()


def _readme_command(prefix: str) -> list[str]:
    lines = [line.split("#")[0].strip() for line in README.splitlines() if line.startswith(prefix)]
    assert lines, f"README shows no '{prefix}' command"
    return shlex.split(lines[0])


def test_readme_setup_installs_what_the_runner_examples_need():
    setup = next(
        line for line in README.splitlines() if line.startswith("python -m pip install") and "hwsim estimate" in line
    )
    assert '".[runner]"' in setup  # scikit-learn (digits) and scipy (SVHN) come with the runner extra


def test_readme_training_example_runs(tmp_path):
    argv = _readme_command("hwsim train models/resnet20-digits-float.yaml")
    hwsim = Path(sys.executable).parent / "hwsim"
    assert hwsim.exists(), "the hwsim console script is not installed next to this python"
    (tmp_path / "models").symlink_to(REPO / "models")
    tiny = [
        "--limit-train",
        "64",
        "--limit-test",
        "32",
        "--eval-limit",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "-q",
    ]
    done = subprocess.run([str(hwsim), *argv[1:], *tiny], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "reports" / "runs" / "resnet20-digits-float"
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "run.json").is_file()
    assert "Traceback" not in done.stderr


def test_readme_layer_table_is_the_schema():
    """The README's layer-table section is generated from the one declared schema."""
    from hwsim.workload.table import schema_markdown

    section = README.split("<!-- schema:start -->\n", 1)[1].split("<!-- schema:end -->", 1)[0]
    assert section.strip() == schema_markdown().strip()
