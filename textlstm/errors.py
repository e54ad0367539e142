"""The one exception type that means "the user gave us something we cannot use".

The CLI prints a `UserError` as a single `error: ...` line and exits non-zero; any
other exception is a bug in textlstm and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, paths or settings, explained in one line."""

    exit_code = 1


class Interrupted(UserError):
    """Training stopped by Ctrl-C after saving a checkpoint; the message says how to continue.

    The CLI prints it as it is (it is not an error) and exits with 130, the shell's status
    for a program ended by SIGINT.
    """

    exit_code = 130
