"""textlstm: a recurrent-network text toolkit on Keras 3 with the TensorFlow backend.

Python API:

    >>> import textlstm
    >>> model = textlstm.load("runs/shakespeare")   # a CharLM, Tagger or Translator
    >>> model.generate("ROMEO:", length=200, seed=1)

`textlstm.load` and the classes it returns live in `textlstm.api`; every problem with a run
directory or an argument raises `textlstm.TextlstmError`.

Importing the package is cheap: TensorFlow and Keras load only when a model is loaded or a
command runs, so `textlstm --help` answers at once. Once Keras is imported (by you or by
textlstm), every textlstm layer and model class is registered with it, so
`keras.saving.load_model(path, safe_mode=True)` opens a textlstm `.keras` file.
"""

from textlstm import _registry
from textlstm._backend import select_tensorflow_backend
from textlstm.errors import TextlstmError

__version__ = "0.1.0"
__all__ = ["load", "train", "TextlstmError", "__version__"]

select_tensorflow_backend()
_registry.install()


def load(run_dir):
    """The trained model of a run directory, ready to use: a `CharLM`, `Tagger` or `Translator`.

    See `textlstm.api.load` for the details.
    """
    from textlstm.api.loading import load as _load

    return _load(run_dir)


def train(kind, run_dir=None, **arguments):
    """Train (or resume) a model of `kind` ("charlm", "tagger", "seq2seq") and return it loaded.

    See `textlstm.api.train` for the arguments and details.
    """
    from textlstm.api.training import train as _train

    return _train(kind, run_dir, **arguments)
