"""The one exception type that means "the user gave us something we cannot use".

`TextlstmError` is the public name (`textlstm.TextlstmError`): the Python API raises it for
a missing, damaged or wrong-kind run directory, a bad argument or unusable input, and the
CLI prints it as a single `Error: ...` line and exits non-zero. `UserError` is the same
class under its older name. Any other exception is a bug in textlstm and keeps its traceback.
"""


class TextlstmError(Exception):
    """A problem with the user's input, paths, settings or arguments, explained in one line."""

    exit_code = 1


UserError = TextlstmError  # the name the library used first; the same class
