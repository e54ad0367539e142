"""Ctrl-C that is never lost: a SIGINT remembered as well as raised while `ctrl_c_kept` is open.

Python raises KeyboardInterrupt wherever the main thread runs bytecode next. Inside a callback of
C++ code (SentencePiece's trainer turns it into a RuntimeError of its own, or drops it) or in a
finalizer (Python prints "Exception ignored" and goes on), it is lost, and a training would run
to its end after the user pressed Ctrl-C. `raise_if_interrupted` raises it again at a point that
counts (after each training batch, after a family's training returns). No imports of textlstm:
every layer may use it.
"""

import contextlib
import signal
import threading

_PENDING = []  # Ctrl-C seen by `ctrl_c_kept`'s handler and not yet raised where it counts


def _remember(signum, frame):
    _PENDING.append(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_kept():
    """While it is open, a Ctrl-C (SIGINT) is remembered as well as raised, so that one raised
    where it is lost (in a callback of C++ code such as SentencePiece's trainer, which turns it into
    an error of its own or drops it; in a finalizer, where Python ignores it) still stops the work at
    the next `raise_if_interrupted`. Only in the main thread, and only where Ctrl-C raises
    KeyboardInterrupt (Python's default handler); nested uses share the outer one."""
    previous = signal.getsignal(signal.SIGINT)  # `_remember` inside an outer use: not the default either
    if threading.current_thread() is not threading.main_thread() or previous is not signal.default_int_handler:
        yield
        return
    _PENDING.clear()
    signal.signal(signal.SIGINT, _remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _PENDING.clear()


def raise_if_interrupted():
    """Raise KeyboardInterrupt for a Ctrl-C that came and was lost on its way (`ctrl_c_kept`)."""
    if _PENDING:
        _PENDING.clear()
        raise KeyboardInterrupt
