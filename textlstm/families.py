"""The registry of model families: one entry per family, the only place that lists them.

Everything that differs by family (loading, training, serving, export, evaluation, memory
estimates, the files a run writes, the Keras classes to register) reaches the family's own
code through its entry here instead of switching on the kind by hand. Adding a family is one
package, its public class in `textlstm.api`, and one entry. Light: importing this module
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
    memory_estimate: "module:function" estimating the bytes training needs (`textlstm.memory`).
    artefacts: the files and folders its runs write besides those every run writes
        (`rundir.RUN_ARTEFACTS`: what `--overwrite` removes).
    keras_modules: the modules defining its Keras classes, registered once Keras is
        imported (`textlstm._registry`) so `keras.saving.load_model` finds them.
    run_check: "module:function" listing what its run files say about its layer shapes
        (`textlstm.runcheck`: vocabulary sizes against the saved models, before loading).
    """

    kind: str
    title: str
    model_class: str
    trainer: str
    memory_estimate: str
    artefacts: tuple[str, ...]
    keras_modules: tuple[str, ...]
    run_check: str

    @property
    def long_title(self) -> str:
        """The title, with the kind in brackets where the title does not spell it:
        "char LM", "tagger", "translator (seq2seq)"."""
        spelled = self.title.replace(" ", "").lower() == self.kind
        return self.title if spelled else f"{self.title} ({self.kind})"


FAMILIES = {
    family.kind: family
    for family in (
        Family(
            CHARLM,
            "char LM",
            "textlstm.api.charlm:CharLM",
            "textlstm.charlm.train:CharLMTraining",
            "textlstm.memory:charlm_bytes",
            artefacts=("vocab.json", "subwords.model"),
            keras_modules=("textlstm.charlm.model",),
            run_check="textlstm.runcheck:charlm_files",
        ),
        Family(
            TAGGER,
            "tagger",
            "textlstm.api.tagger:Tagger",
            "textlstm.tagger.train:TaggerTraining",
            "textlstm.memory:tagger_bytes",
            artefacts=("words.json", "chars.json", "tags.json", "tagset.json", "charlm"),  # charlm/: LM copies
            keras_modules=("textlstm.tagger.model", "textlstm.tagger.charlm_features"),
            run_check="textlstm.runcheck:tagger_files",
        ),
        Family(
            SEQ2SEQ,
            "translator",
            "textlstm.api.translator:Translator",
            "textlstm.seq2seq.train:Seq2SeqTraining",
            "textlstm.memory:seq2seq_bytes",
            artefacts=("source.model", "target.model"),
            keras_modules=("textlstm.seq2seq.model",),
            run_check="textlstm.runcheck:seq2seq_files",
        ),
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


def model_classes():
    """`{kind: public class}` of every family, in registry order."""
    return {kind: model_class(kind) for kind in KINDS}


def trainer(kind: str):
    """The training-contract class of `kind` (imports it on first use)."""
    return _resolve(family(kind).trainer)


def run_check(kind: str):
    """The function listing what `kind`'s run files say about its layer shapes (`textlstm.runcheck`)."""
    return _resolve(family(kind).run_check)


def memory_estimate(kind: str):
    """The function estimating the bytes that training a `kind` model needs (`textlstm.memory`)."""
    return _resolve(family(kind).memory_estimate)


def artefacts() -> tuple[str, ...]:
    """Every family's run files and folders (each family's `artefacts`, in registry order)."""
    return tuple(name for entry in FAMILIES.values() for name in entry.artefacts)


def keras_modules() -> tuple[str, ...]:
    """Every family's modules that register Keras classes, in registry order."""
    return tuple(name for entry in FAMILIES.values() for name in entry.keras_modules)
