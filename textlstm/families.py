"""The registry of model families: one entry per family, the only place that lists them.

Everything that differs by family (loading, training, serving, export, evaluation, memory
estimates) reaches the family's own code through its entry here instead of switching on the
kind by hand. Adding a family is one package plus one entry. Light: importing this module
imports neither Keras nor TensorFlow; the classes are imported when first asked for.
"""

import dataclasses
import importlib

from textlstm.errors import UserError

CHARLM, TAGGER, SEQ2SEQ = "charlm", "tagger", "seq2seq"


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family.

    kind: the name in run.json, recipes and `textlstm train KIND` ("charlm").
    title: how messages name it ("char LM").
    model_class: "module:Class" of the public class `textlstm.load` returns for its runs.
    trainer: "module:Class" of its training contract (what the shared driver calls).
    """

    kind: str
    title: str
    model_class: str
    trainer: str


FAMILIES = {
    family.kind: family
    for family in (
        Family(CHARLM, "char LM", "textlstm.api.charlm:CharLM", "textlstm.charlm.train:CharLMTraining"),
        Family(TAGGER, "tagger", "textlstm.api.tagger:Tagger", "textlstm.tagger.train:TaggerTraining"),
        Family(SEQ2SEQ, "translator", "textlstm.api.translator:Translator", "textlstm.seq2seq.train:Seq2SeqTraining"),
    )
}
KINDS = tuple(FAMILIES)


def family(kind: str) -> Family:
    """The registry entry of `kind`; `UserError` naming the known kinds for any other."""
    if kind not in FAMILIES:
        raise UserError(f"unknown model family {kind!r} (known: {', '.join(KINDS)})")
    return FAMILIES[kind]


def _resolve(reference: str):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def model_class(kind: str):
    """The public class of `kind`'s models (imports it on first use)."""
    return _resolve(family(kind).model_class)


def trainer(kind: str):
    """The training-contract class of `kind` (imports it on first use)."""
    return _resolve(family(kind).trainer)
