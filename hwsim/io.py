"""Atomic file writes: a report or checkpoint is either the old file or the complete new one."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import HwsimError


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; reports are meant to be shared
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise HwsimError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def input_at(target: Path | str, inputs: Iterable[Path | str]) -> Path | None:
    """The file of ``inputs`` that ``target`` is (symlinks and hard links followed; a folder in
    ``inputs`` stands for every file in it), or None."""
    target = Path(target)
    real = os.path.realpath(target)
    exists = target.exists()
    for item in inputs:
        item = Path(item)
        files = [p for p in item.rglob("*") if p.is_file()] if item.is_dir() else [item]
        for read in files:
            same = os.path.realpath(read) == real
            if not same and exists and read.exists():
                same = os.path.samefile(read, target)  # a hard link
            if same:
                return read
    return None


def check_out_dir(
    out_dir: Path | str, names: Iterable[str] = (), inputs: Iterable[Path | str] = (), option: str = "--out-dir"
) -> Path:
    """One error line, before anything is written, unless files ``names`` can be written into the
    folder ``out_dir``: not an empty name, not a file (or below one), not a dangling symlink or a
    symlink loop, writable where it exists, and no name there one of ``inputs`` (what the command
    reads: an output never replaces an input). The folder itself is not created here."""
    text = str(out_dir)
    if text.strip() == "":
        raise HwsimError(f"{option}: empty folder name")
    if "\x00" in text:
        raise HwsimError(f"{option} {clip_text(text)!r}: a NUL byte in the folder name")
    out = Path(out_dir)
    try:
        if out.is_symlink() and not out.exists():
            try:
                os.stat(out)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise HwsimError(f"{option} {out}: is a symlink loop; give a folder") from None
            raise HwsimError(f"{option} {out}: is a symlink to {os.readlink(out)}, which does not exist; give a folder")
        if out.exists() and not out.is_dir():
            raise HwsimError(f"{option} {out}: is a file; give a folder")
        existing = out
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.exists() and not existing.is_dir():
            raise HwsimError(f"{option} {out}: {existing} is a file, not a folder")
        if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
            raise HwsimError(f"{option} {out}: cannot write into {existing} (permission denied)")
    except OSError as exc:  # a name the OS cannot take: too long, NUL bytes
        raise HwsimError(f"{option} {clip_text(text)}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise HwsimError(f"{option} {clip_text(text)}: {exc}") from None
    inputs = list(inputs)
    if inputs:
        for name in names:
            read = input_at(out / name, inputs)
            if read is not None:
                raise HwsimError(
                    f"{option} {out}: its {name} would be {read}, which this command reads; choose another folder"
                )
    return out


def clip_text(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
