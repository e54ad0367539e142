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

from textlstm.api.charlm import CharLM
from textlstm.api.loading import load
from textlstm.api.tagger import Tagger
from textlstm.api.training import train
from textlstm.api.translator import Translator

__all__ = ["load", "train", "CharLM", "Tagger", "Translator"]
