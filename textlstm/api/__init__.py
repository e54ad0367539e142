"""The Python API: `load(run_dir)` and the ready-to-use objects it returns; `train(kind, ...)`.

    >>> import textlstm
    >>> lm = textlstm.load("runs/shakespeare")          # CharLM
    >>> lm.generate("ROMEO:", length=100, seed=1)
    >>> tagger = textlstm.load("runs/upos")             # Tagger
    >>> tagger.tag(["I saw Anna in Paris ."])
    >>> translator = textlstm.load("runs/multi30k")     # Translator
    >>> translator.translate(["A dog runs ."], beam_size=4)
    >>> lm = textlstm.train("charlm", "runs/tiny", overrides={"data.paths": ["a.txt"]})

Each object loads its run directory once and keeps its compiled TensorFlow functions, so
a second call with inputs of the same shape runs without tracing again. The command line
(`generate`, `tag`, `translate`, `evaluate`) calls these same objects.
"""

from textlstm._backend import import_tensorflow_quietly

import_tensorflow_quietly()  # before the modules below import TensorFlow: its native start-up lines stay off stderr

from textlstm.api.charlm import CharLM  # noqa: E402
from textlstm.api.loading import load  # noqa: E402
from textlstm.api.tagger import Tagger  # noqa: E402
from textlstm.api.training import train  # noqa: E402
from textlstm.api.translator import Translator  # noqa: E402

__all__ = ["load", "train", "CharLM", "Tagger", "Translator"]
