"""hwsim.replay: a repeated `hwsim estimate` prints its stored output without importing the
libraries, and only while every file it looked for is as it was (issue 19, start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim import replay

from .conftest import MODELS, REPO, SPECS

HEAVY = ("numpy", "pydantic", "typer", "rich", "yaml", "torch")


def hwsim(args, cwd, cache, **env_extra):
    """`python -X importtime -m hwsim ARGS`: (exit code, stdout, stderr without the import lines,
    the top-level modules it imported)."""
    env = {**os.environ, "HWSIM_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO), **env_extra}
    for var in ("HWSIM_NO_CACHE", "HWSIM_NO_REPLAY"):
        if var not in env_extra:
            env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hwsim", *args], cwd=cwd, capture_output=True, text=True, env=env
    )
    imported, other = set(), []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
        else:
            other.append(line)
    return proc.returncode, proc.stdout, "\n".join(other), imported


@pytest.fixture
def project(tmp_path):
    """A model YAML naming a spec file beside it, both copies of shipped ones (editable here)."""
    spec = (SPECS / "asic-65nm.yaml").read_text()
    (tmp_path / "chip.yaml").write_text(spec)
    model = (MODELS / "resnet20-cifar10-float.yaml").read_text()
    (tmp_path / "net.yaml").write_text(model + "\nspec: chip.yaml\n")
    return tmp_path


def replayed(imported) -> bool:
    return not any(name in imported for name in HEAVY)


def test_same_command_is_replayed_without_the_libraries_and_prints_the_same(project):
    cache = project / "cache"
    args = ["estimate", "net.yaml", "--per-layer"]
    first = hwsim(args, project, cache)
    assert first[0] == 0 and "numpy" in first[3], first[2]
    again = hwsim(args, project, cache)
    assert again[0] == 0 and again[1] == first[1] and again[2] == ""
    assert replayed(again[3]), sorted(again[3] & set(HEAVY))
    # another option is another command: computed (from the cached layer table: no torch)
    other = hwsim(["estimate", "net.yaml"], project, cache)
    assert other[0] == 0 and "numpy" in other[3] and "torch" not in other[3]
    assert other[1] != first[1] and other[1] in first[1]  # the totals table, without the per-layer one
    # HWSIM_NO_REPLAY: computed, same text
    off = hwsim(args, project, cache, HWSIM_NO_REPLAY="1")
    assert off[1] == first[1] and "numpy" in off[3]


def test_a_changed_or_new_input_file_is_computed_again(project):
    cache = project / "cache"
    args = ["estimate", "net.yaml", "-f", "json"]
    first = json.loads(hwsim(args, project, cache)[1])
    assert first["totals"]["delay_ns"] > 0
    spec = project / "chip.yaml"
    text = spec.read_text()
    assert "tau_read_ns: 9 " in text
    spec.write_text(text.replace("tau_read_ns: 9 ", "tau_read_ns: 18 "))  # one byte, same size class
    code, out, err, imported = hwsim(args, project, cache)
    assert code == 0 and not replayed(imported)
    slower = json.loads(out)
    assert slower["spec"]["timing"]["tau_read_ns"] == 18 and slower["totals"]["delay_ns"] > first["totals"]["delay_ns"]
    again = hwsim(args, project, cache)
    assert replayed(again[3]) and json.loads(again[1]) == slower
    # the spec file removed: the model now names a missing file -> the error, not the stored text
    spec.unlink()
    code, out, err, _ = hwsim(args, project, cache)
    assert code == 2 and out == "" and err.startswith("error:") and "chip.yaml" in err


def test_a_file_that_appears_where_hwsim_looked_is_read(project):
    """The model names the built-in spec; a file of that name beside the model would win
    (hwsim.config.resolve_spec_path): its appearance must end the replay."""
    cache = project / "cache"
    model = (MODELS / "resnet20-cifar10-float.yaml").read_text()
    (project / "builtin.yaml").write_text(model + "\nspec: asic-65nm\n")
    args = ["estimate", "builtin.yaml", "-f", "json"]
    first = json.loads(hwsim(args, project, cache)[1])
    assert first["spec"]["name"] == "asic-65nm"
    assert replayed(hwsim(args, project, cache)[3])
    (project / "asic-65nm").write_text((SPECS / "eyeriss-65nm.yaml").read_text().replace("name: eyeriss-65nm", ""))
    code, out, err, imported = hwsim(args, project, cache)
    assert code == 0 and not replayed(imported), err
    local = json.loads(out)
    assert local["spec"]["timing"]["tau_read_ns"] == 5 and local["totals"]["delay_ns"] != first["totals"]["delay_ns"]


def test_a_tampered_entry_is_reported_and_recomputed(project):
    cache = project / "cache"
    args = ["estimate", "net.yaml"]
    first = hwsim(args, project, cache)[1]
    (entry,) = (cache / "replay").glob("*.json")
    data = json.loads(entry.read_text())
    data["stdout"] = data["stdout"].replace("parameters", "paramXters")
    entry.write_text(json.dumps(data))
    code, out, err, imported = hwsim(args, project, cache)
    assert code == 0 and out == first and not replayed(imported)
    assert err.startswith("warning: ignoring corrupt replay cache entry") and "checksum mismatch" in err
    assert len(err.splitlines()) == 1
    entry.write_bytes(b"\x00{not json")
    code, out, err, _ = hwsim(args, project, cache)
    assert code == 0 and out == first and err.startswith("warning: ignoring corrupt replay cache entry")
    assert replayed(hwsim(args, project, cache)[3])  # stored again, sound


def test_what_is_never_stored(project):
    """--output, an error, a warned estimate, HWSIM_NO_CACHE: nothing in the replay folder."""
    cache = project / "cache"
    entries = lambda: sorted((cache / "replay").glob("*.json")) if (cache / "replay").exists() else []  # noqa: E731
    assert hwsim(["estimate", "net.yaml", "-o", "out.txt"], project, cache)[0] == 0
    assert (project / "out.txt").is_file() and entries() == []
    assert hwsim(["estimate", "missing.yaml"], project, cache)[0] == 2 and entries() == []
    (table,) = (cache / "tables").glob("*.json")  # the -o run cached the layer table: corrupt it
    table.write_text(table.read_text()[:-20])
    code, out, err, _ = hwsim(["estimate", "net.yaml"], project, cache)
    assert code == 0 and "warning: ignoring corrupt layer-table cache entry" in err and entries() == []
    assert hwsim(["estimate", "net.yaml"], project, cache, HWSIM_NO_CACHE="1")[0] == 0 and entries() == []
    assert hwsim(["estimate", "net.yaml"], project, cache)[0] == 0 and len(entries()) == 1  # now stored


def test_key_covers_command_folder_environment_sources_and_installs(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "mod.py").write_text("x = 1\n")
    site = tmp_path / "site"
    (site / "numpy-2.0.0.dist-info").mkdir(parents=True)
    monkeypatch.setattr(replay, "PACKAGE", package)
    monkeypatch.setattr(sys, "path", [str(site)])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HWSIM_EXTRA", raising=False)
    argv = ["estimate", "m.yaml"]
    base = replay.command_key(argv)
    assert replay.command_key(argv) == base  # deterministic
    assert replay.command_key(["estimate", "m.yaml", "-l"]) != base
    (package / "__pycache__" / "mod.cpython.pyc").write_bytes(b"bytecode")  # Python's own cache: same key
    assert replay.command_key(argv) == base
    (package / "mod.py").write_text("x = 22\n")  # an edited hwsim module
    edited = replay.command_key(argv)
    assert edited != base
    (site / "numpy-2.0.0.dist-info").rename(site / "numpy-2.1.0.dist-info")  # an upgraded library
    upgraded = replay.command_key(argv)
    assert upgraded != edited
    monkeypatch.setenv("HWSIM_EXTRA", "1")
    assert replay.command_key(argv) != upgraded
    monkeypatch.delenv("HWSIM_EXTRA")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # relative names mean other files
    assert replay.command_key(argv) != upgraded


def test_lookup_and_store_in_process(tmp_path, monkeypatch):
    """store() files only under the key lookup() took at start; a stored entry is served while its
    inputs and absences hold; other commands are never looked up."""
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HWSIM_NO_CACHE", raising=False)
    monkeypatch.delenv("HWSIM_NO_REPLAY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(replay, "_started", None)
    Path("m.yaml").write_text("arch: resnet20\n")
    read = ("m.yaml", True, replay.file_signature("m.yaml"))
    replay.store([read], "text\n")  # no lookup at start: not stored
    assert not (tmp_path / "cache" / "replay").exists()
    argv = ["estimate", "m.yaml"]
    assert replay.lookup(argv) is None
    replay.store([("m.yaml", True, (1, 2))], "text\n")  # the file changed after it was read: not stored
    assert not list((tmp_path / "cache").glob("replay/*.json"))
    replay.store([read, ("gone", False, None), ("gone", False, None)], "the estimate\n")
    (entry,) = (tmp_path / "cache" / "replay").glob("*.json")
    assert json.loads(entry.read_text())["absent"] == ["gone"]
    assert replay.lookup(argv) == "the estimate\n"
    assert replay.lookup(["compare", "m.yaml", "m.yaml"]) is None  # not a replayed command
    Path("m.yaml").write_text("arch: resnet34\n")
    assert replay.lookup(argv) is None
    Path("m.yaml").write_text("arch: resnet20\n")
    assert replay.lookup(argv) == "the estimate\n"
    Path("gone").write_text("now here")
    assert replay.lookup(argv) is None
    monkeypatch.setenv("HWSIM_NO_REPLAY", "1")
    Path("gone").unlink()
    assert replay.lookup(argv) is None


def test_prune_keeps_the_newest(tmp_path):
    for i in range(6):
        path = tmp_path / f"{i}.json"
        path.write_text("{}")
        os.utime(path, ns=(i * 10**9, i * 10**9))
    replay._prune(tmp_path, keep=4)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["2.json", "3.json", "4.json", "5.json"]


def test_stdout_that_cannot_take_the_text(monkeypatch, tmp_path):
    """write_stdout (the estimate's and the replay's printing): an ASCII stdout gets UTF-8 bytes,
    not a traceback; a full disk is one HwsimError; a gone reader is exit status 141, quietly."""
    import io

    from hwsim.errors import HwsimError
    from hwsim.stdout import BROKEN_PIPE_STATUS, write_stdout

    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    write_stdout("┏━ résumé ━┓\n")
    assert raw.getvalue().decode("utf-8") == "┏━ résumé ━┓\n"

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(sys, "stdout", Full())
    with pytest.raises(HwsimError, match="stdout: cannot write: No space left on device"):
        write_stdout("x")

    class Gone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return target.fileno()

    target = open(tmp_path / "stands-for-stdout", "w")  # noqa: SIM115 - its descriptor is replaced by /dev/null
    monkeypatch.setattr(sys, "stdout", Gone())
    with pytest.raises(SystemExit) as stop:
        write_stdout("x")
    assert stop.value.code == BROKEN_PIPE_STATUS == 141
    target.close()


def test_console_reports_a_full_stdout_in_one_line(tmp_path):
    """The real entry point writing to /dev/full: one error line, status 2, computed or replayed."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    cache = tmp_path / "cache"
    env = {**os.environ, "HWSIM_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "hwsim", "estimate", str(MODELS / "resnet20-cifar10-float.yaml")]
    for stored in (False, True):  # the second time with an entry stored: replayed
        assert bool(list(cache.glob("replay/*.json"))) is stored
        with open("/dev/full", "w") as full:
            proc = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.returncode == 2 and proc.stderr == "error: stdout: cannot write: No space left on device\n"
        assert subprocess.run(cmd, capture_output=True, env=env).returncode == 0
