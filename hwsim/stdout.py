"""Printing a command's text to stdout whatever stdout is (standard library only: the replay uses it).

* A stream whose encoding cannot take the text (``PYTHONIOENCODING=ascii``; rich's box characters,
  a model name in another script) gets the text as UTF-8 bytes instead of a traceback: nothing of a
  CSV or JSON is replaced or lost.
* A reader that has gone (``hwsim estimate ... | head -1``) ends the command quietly with status 141,
  what the shell reports for a process killed by SIGPIPE (as ``yes | head`` gives).
* A stream that cannot be written (a full disk) raises :class:`hwsim.errors.HwsimError`: one line.
"""

from __future__ import annotations

import os
import sys

from .errors import HwsimError

BROKEN_PIPE_STATUS = 128 + 13  # 128 + SIGPIPE


def write_stdout(text: str) -> None:
    try:
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # encoded whole before any byte is written: nothing went out yet
            sys.stdout.flush()
            sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
    except BrokenPipeError:
        # the later flush at exit would fail again (and Python would print about it): stdout -> null
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(BROKEN_PIPE_STATUS) from None
    except OSError as exc:
        raise HwsimError(f"stdout: cannot write: {exc.strerror or exc}") from None
