"""Replay of a repeated ``hwsim estimate``: the same command on the same inputs prints what it
printed before, without importing typer, pydantic, numpy or rich (standard library only).

A successful estimate that prints to stdout, warns nothing and reads a model YAML is stored under a
key of everything its text can depend on:

* the command line (``sys.argv[1:]``) and the working directory it is read from;
* hwsim's own files (every file of the package: path, size and modification time, the test Python
  itself uses for its bytecode cache), the Python executable and version, ``sys.path``, and the
  installed distributions on it (their ``*.dist-info`` / ``*.egg-info`` names, which carry the
  versions, and modification times): an upgraded numpy or pandas is a new key;
* the ``HWSIM_*`` and ``PYDANTIC_*`` environment variables.

The entry lists every file the estimate looked for (:func:`hwsim.config.recording_file_probes`):
the model YAML and spec file it read, with the SHA-256 of their bytes, and the names it found
absent (a spec name that a file of that name would have overridden). A replay checks each again:
one changed byte, a file gone or a file appeared, and the estimate is computed afresh (and stored
again). The entry carries a checksum of itself; a corrupt or tampered one is reported as one
``warning:`` line and recomputed, never printed. ``--output``, a trained run or a warning: never
stored, always computed.

Location: ``$HWSIM_CACHE_DIR/replay`` (default ``~/.cache/hwsim/replay``); ``HWSIM_NO_CACHE=1`` turns
off every cache, ``HWSIM_NO_REPLAY=1`` only this one (the layer-table cache still serves).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from . import __version__

FORMAT = "hwsim-replay-v1"
PACKAGE = Path(__file__).resolve().parent
MAX_ENTRIES = 512  # the oldest entries beyond this are removed when one is stored
COMMANDS = ("estimate",)  # the commands whose output may be replayed

# (argv, key) of this process's command, taken when it started (lookup), before the CLI's imports and
# settings could touch sys.path or the environment; store() files the output under it
_started: tuple[list[str], str] | None = None


def cache_root() -> Path | None:
    """hwsim's cache folder (``$HWSIM_CACHE_DIR`` or ``~/.cache/hwsim``); None with ``HWSIM_NO_CACHE``."""
    if os.environ.get("HWSIM_NO_CACHE"):
        return None
    return Path(os.environ.get("HWSIM_CACHE_DIR") or Path.home() / ".cache" / "hwsim")


def replay_dir() -> Path | None:
    root = cache_root()
    return None if root is None or os.environ.get("HWSIM_NO_REPLAY") else root / "replay"


def _tree_state(top: Path, skip_dirs: frozenset[str] = frozenset({"__pycache__"})) -> list:
    """(relative path, size, mtime_ns) of every file under ``top``, sorted."""
    state = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in sorted(files):
            stat = os.stat(os.path.join(folder, name))
            state.append((os.path.relpath(os.path.join(folder, name), top), stat.st_size, stat.st_mtime_ns))
    return state


def _distributions() -> list:
    """(folder, name, mtime_ns) of every installed distribution's metadata on ``sys.path``."""
    found = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as listing:
                for item in listing:
                    if item.name.endswith((".dist-info", ".egg-info", ".pth")):
                        found.append((entry, item.name, item.stat().st_mtime_ns))
        except OSError:  # a zip, a missing folder: nothing installed there to change under us
            continue
    return sorted(found)


def command_key(argv: list[str]) -> str:
    """The key of one command line in this working directory, environment and installation."""
    environment = {k: v for k, v in os.environ.items() if k.startswith(("HWSIM_", "PYDANTIC_"))}
    state = {
        "format": FORMAT,
        "version": __version__,
        "argv": list(argv),
        "cwd": os.getcwd(),
        "python": [sys.executable, sys.version],
        "path": list(sys.path),
        "environment": sorted(environment.items()),
        "hwsim": _tree_state(PACKAGE),
        "distributions": _distributions(),
    }
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:40]


def file_signature(path: str | Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, None if it cannot be read: whether it changed between being read
    and the output being stored (hwsim.config's probe log takes it when a file is looked for)."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return stat.st_size, stat.st_mtime_ns


def _file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def json_sha256(value) -> str:
    """SHA-256 of ``value``'s canonical JSON (sorted keys, no spaces, no NaN): the checksum hwsim's
    caches store with an entry (this one and the layer-table cache)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _checksum(entry: dict) -> str:
    return json_sha256({k: v for k, v in entry.items() if k != "sha256"})


def lookup(argv: list[str]) -> str | None:
    """The text a stored run of ``argv`` printed, if every file it looked for is as it was; else None.
    A corrupt entry is reported on stderr (one ``warning:`` line) and treated as absent."""
    global _started
    folder = replay_dir()
    if folder is None or not argv or argv[0] not in COMMANDS:
        return None
    key = command_key(argv)
    _started = (list(argv), key)
    path = folder / f"{key}.json"
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        entry = json.loads(raw)
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("argv") != list(argv):
            raise ValueError("written by another hwsim version or for another command")
        if entry.get("sha256") != _checksum(entry):
            raise ValueError("checksum mismatch (the entry was changed after it was written)")
        inputs, absent, text = entry["inputs"], entry["absent"], entry["stdout"]
        if not (isinstance(text, str) and isinstance(inputs, dict) and isinstance(absent, list)):
            raise ValueError("malformed entry")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        sys.stderr.write(f"warning: ignoring corrupt replay cache entry {path}: {exc}; computing the estimate\n")
        return None
    if any(_file_digest(name) != digest for name, digest in inputs.items()):
        return None  # an input changed or went away
    if any(os.path.isfile(name) for name in absent):
        return None  # a file that was not there now is, and would be read
    return text


def store(probes: list[tuple[str, bool, tuple[int, int] | None]], text: str) -> None:
    """Store what this process's command printed (``text``) with the files it looked for (``probes``:
    path, found, (size, mtime_ns) when it was looked at; :func:`hwsim.config.recording_file_probes`),
    under the key :func:`lookup` took when the process started (nothing without it: a command run in
    a test or a notebook is never stored). Not stored when a file changed since it was read (the
    output would be paired with bytes it was not computed from). Silent on any failure: the replay
    is an optimisation, and the estimate has already printed."""
    folder = replay_dir()
    if folder is None or _started is None:
        return
    argv, key = _started
    if any((file_signature(name) if found else None) != seen for name, found, seen in probes):
        return  # changed since it was read (or looked for), or unreadable now: nothing safe to key on
    if any(os.path.isfile(name) for name, found, _ in probes if not found):
        return  # appeared since
    inputs = {name: _file_digest(name) for name, found, _ in probes if found}
    if any(digest is None for digest in inputs.values()):
        return
    absent = sorted({name for name, found, _ in probes if not found})
    entry = {"format": FORMAT, "argv": list(argv), "inputs": inputs, "absent": absent, "stdout": text}
    entry["sha256"] = _checksum(entry)
    from .io import atomic_write_text  # the tempfile machinery only when storing

    try:
        atomic_write_text(folder / f"{key}.json", json.dumps(entry))
        _prune(folder)
    except Exception:  # noqa: BLE001 - a read-only cache must not fail an estimate that succeeded
        return


def _prune(folder: Path, keep: int = MAX_ENTRIES) -> None:
    entries = [p for p in folder.iterdir() if p.suffix == ".json"]
    if len(entries) <= keep:
        return
    entries.sort(key=lambda p: p.stat().st_mtime_ns)
    for old in entries[: len(entries) - keep]:
        old.unlink(missing_ok=True)


def replay_main(argv: list[str]) -> bool:
    """Print the stored output of ``argv`` if there is a valid one; True when it was printed."""
    text = lookup(argv)
    if text is None:
        return False
    from .errors import HwsimError
    from .stdout import write_stdout

    try:
        write_stdout(text)
    except HwsimError as exc:  # as the CLI reports it (hwsim.cli.user_errors)
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    return True
