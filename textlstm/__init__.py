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


def load(run_dir, checkpoint=None, quantize=None):
    """The trained model of a run directory, ready to use: a `CharLM`, `Tagger` or `Translator`;
    `checkpoint` picks best (default), "last", an epoch N or a .keras file (`textlstm.checkpoints`);
    `quantize="int8"` quantizes its weights once loaded.

    See `textlstm.api.load` for the details.
    """
    from textlstm._backend import import_tensorflow_quietly

    import_tensorflow_quietly()  # TensorFlow's native start-up lines stay off stderr, as on the command line
    from textlstm.api.loading import load as _load

    return _load(run_dir, checkpoint=checkpoint, quantize=quantize)


def train(
    kind,
    run_dir=None,
    *,
    recipe=None,
    overrides=None,
    resume=False,
    overwrite=False,
    strategy=None,
    epochs=None,
    max_steps=None,
    seed=None,
):
    """Train (or resume) a model of `kind` ("charlm", "tagger", "seq2seq") and return it loaded
    (what `load` returns). See `textlstm.api.train` for the arguments and details."""
    from textlstm._backend import import_tensorflow_quietly

    import_tensorflow_quietly()
    from textlstm.api.training import train as _train

    return _train(
        kind,
        run_dir,
        recipe=recipe,
        overrides=overrides,
        resume=resume,
        overwrite=overwrite,
        strategy=strategy,
        epochs=epochs,
        max_steps=max_steps,
        seed=seed,
    )
