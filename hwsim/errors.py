"""One exception type for every user-facing problem.

The CLI catches :class:`HwsimError`, prints its one-line message and exits with code 2, so bad input
never shows a traceback. Library code raises it with a message that names the file and the field.
"""


class HwsimError(Exception):
    """A problem with the user's input (file, field, value) described in one line."""


class HwsimWarning(UserWarning):
    """Something the user should know that does not stop the command (the CLI prints one line)."""
