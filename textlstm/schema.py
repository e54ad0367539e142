"""Every recipe key and numeric option, declared once: its type, its allowed range, its meaning.

The same declaration checks a recipe file, a `--set section.key=value` override, a command-line
option (`--max-steps`, `--length-penalty`) and the arguments of the Python functions behind
them, and every refusal is one line naming the key, the value and the allowed range:

    model.dropout must be a finite number >= 0 and < 1, got 1.5

Floats must always be finite (NaN and infinity are refused). Sizes have upper bounds that
keep arithmetic in range; whether a model and a batch fit in memory is checked separately
from the real vocabulary sizes (`textlstm.memory`) before anything is built.

The declarations follow pydantic-style field constraints and click's `IntRange`/`FloatRange`,
written out here so that recipes, overrides and options share them.
"""

import dataclasses
import math
import numbers
from collections.abc import Callable

from textlstm.errors import UserError
from textlstm.textio import check_text

_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string", list: "a list"}


@dataclasses.dataclass(frozen=True)
class Spec:
    """One value's declaration: its type, range (bounds included unless `*_open`) or choices."""

    type: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: `low` itself is not allowed
    high_open: bool = False
    choices: tuple = ()
    rule: Callable | None = None  # an extra test: value -> True if allowed ...
    rule_text: str = ""  # ... and how to say what it allows

    def describe(self) -> str:
        """The allowed values in words: "an integer >= 1 and <= 1000", "one of lstm, gru"."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.rule_text:
            return self.rule_text
        noun = {int: "an integer", float: "a finite number"}.get(self.type, _TYPE_NAMES.get(self.type, "a value"))
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {_number(self.low)}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {_number(self.high)}")
        return f"{noun} {' and '.join(bounds)}".strip()

    def check(self, name: str, value, source: str = ""):
        """`value` if allowed (ints widen to floats for float keys), else one `UserError` line."""
        prefix = f"{source}: " if source else ""
        value = _check_type(name, self.type, value, prefix)
        if self.type is str:
            check_text(value, f"{prefix}{name}")
        elif self.type is list:
            for index, item in enumerate(value):
                if isinstance(item, str):
                    check_text(item, f"{prefix}{name}[{index}]")
        if self.type is float and not math.isfinite(value):
            raise UserError(f"{prefix}{name} must be {self.describe()}, got {value!r}")
        ok = not self.choices or value in self.choices
        if self.low is not None:
            ok = ok and (value > self.low if self.low_open else value >= self.low)
        if self.high is not None:
            ok = ok and (value < self.high if self.high_open else value <= self.high)
        if self.rule is not None:
            ok = ok and self.rule(value)
        if not ok:
            raise UserError(f"{prefix}{name} must be {self.describe()}, got {value!r}")
        return value


def _number(value):
    return (
        f"{value:g}" if isinstance(value, float) else f"{value:,}".replace(",", "_") if value >= 10**5 else str(value)
    )


def _check_type(name, expected, value, prefix):
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif expected is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        value = int(value) if ok else value
    elif expected is list:
        ok = isinstance(value, (list, tuple))
        value = list(value) if ok else value
    else:
        ok = isinstance(value, expected)
    if not ok:
        got = _TYPE_NAMES.get(type(value), type(value).__name__)
        raise UserError(f"{prefix}{name} must be {_TYPE_NAMES.get(expected, expected.__name__)}, got {value!r} ({got})")
    return value


def size(high, low=1):
    """An integer count or width, `low`..`high` (the upper bound keeps arithmetic in range)."""
    return Spec(int, low, high)


def fraction(low_open=False, high=1.0, high_open=True):
    """A share: 0 <= x < 1 unless told otherwise (dropout, label smoothing)."""
    return Spec(float, 0.0, high, low_open=low_open, high_open=high_open)


MAX_INT32 = 2**31 - 1
CELLS = ("lstm", "gru")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # textlstm.precision.PRECISIONS
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")  # textlstm.distribute.STRATEGIES
SAMPLERS = ("greedy", "temperature", "top_k", "top_p", "top_k_top_p")  # textlstm.decoding.samplers.SAMPLERS

TEMPERATURE = Spec(float, 0.001, 1000.0)  # below 1e-3 logits/temperature overflow float32: use greedy
TOP_K = size(1_000_000)
TOP_P = Spec(float, 0.0, 1.0, low_open=True)
SEED = Spec(int, 0, 2**32 - 1)  # NumPy's and Keras's seeds are 32-bit

TRAIN = {  # every family's [train] shares these
    "train.batch_size": size(1_000_000),  # the global batch
    "train.epochs": size(1_000_000),
    "train.steps_per_epoch": size(MAX_INT32, low=0),  # 0 = one pass over the data
    "train.max_steps": size(MAX_INT32, low=0),  # 0 = no cap
    "train.learning_rate": Spec(float, 0.0, 10.0, low_open=True),
    "train.clipnorm": Spec(float, 0.0, 1e6, low_open=True),
    "train.patience": size(1_000_000, low=0),
    "train.keep_checkpoints": size(1_000_000, low=0),  # epoch checkpoints kept (the last ones); 0 = none
    "train.seed": SEED,
    "train.strategy": Spec(str, choices=STRATEGIES),
}

SCHEDULE = {  # the learning-rate schedule of textlstm.optim, for the families that offer it
    "train.lr_schedule": Spec(str, choices=("constant", "cosine")),
    "train.min_learning_rate": Spec(float, 0.0, 10.0),  # the cosine schedule's floor
}

CHARLM = {
    "data.paths": Spec(list, rule=lambda v: all(isinstance(p, str) for p in v), rule_text="a list of paths"),
    "data.valid": Spec(str),
    "data.valid_fraction": Spec(float, 0.0, 1.0, low_open=True, high_open=True),
    "data.seq_len": size(100_000),
    "data.max_valid_chars": size(2**62, low=0),  # 0 = the whole validation text
    "data.eval_window": size(10_000_000, low=0),  # 0 = data.seq_len
    "data.direction": Spec(str, choices=("forward", "backward")),
    "data.unit": Spec(str, choices=("char", "subword")),
    "data.vocab_size": size(1_000_000, low=300),  # subword pieces: 256 bytes, 4 control pieces, "\n" and some learned
    "model.cell": Spec(str, choices=CELLS),
    "model.layers": size(64),
    "model.units": size(65_536),
    "model.embedding_dim": size(65_536),
    "model.dropout": fraction(),
    "model.input_dropout": fraction(),  # the recurrent layers' own input dropout: one mask per sequence
    **TRAIN,
    **SCHEDULE,
    "train.weight_decay": Spec(float, 0.0, 10.0),  # AdamW's decoupled decay; 0 = Adam
    "train.precision": Spec(str, choices=PRECISIONS),  # the layers' dtype policy (textlstm.precision)
    "decode.length": size(10_000_000),
    "decode.sampler": Spec(str, choices=SAMPLERS),
    "decode.temperature": TEMPERATURE,
    "decode.top_k": TOP_K,
    "decode.top_p": TOP_P,
}

TAGGER = {
    "data.train": Spec(str),
    "data.dev": Spec(str),
    "data.format": Spec(str, choices=("auto", "conllu", "conll")),
    "data.column": Spec(
        str,
        rule=lambda v: v in ("upos", "xpos") or (v.startswith("feats:") and len(v) > 6),
        rule_text="upos, xpos or feats:KEY",
    ),
    "data.token_column": Spec(int, -1000, 1000),
    "data.tag_column": Spec(int, -1000, 1000),
    "data.scheme": Spec(str, choices=("auto", "IOB1", "IOB2", "BIO", "BIOES", "IOBES")),
    "data.invalid_tags": Spec(str, choices=("error", "repair")),
    "data.lowercase": Spec(bool),
    "data.min_freq": size(MAX_INT32),
    "data.max_len": size(100_000),
    "data.max_word_chars": size(10_000),
    "data.word_vectors": Spec(str),
    "data.max_vectors": size(MAX_INT32, low=0),  # 0 = every row of the vectors file
    "model.word_dim": size(65_536),
    "model.char_features": Spec(str, choices=("cnn", "lstm", "none")),
    "model.char_dim": size(65_536),
    "model.char_units": size(65_536),
    "model.char_kernel": size(1_000),
    "model.casing": Spec(bool),
    "model.cell": Spec(str, choices=CELLS),
    "model.layers": size(64),
    "model.units": size(65_536),
    "model.dropout": fraction(),
    "model.word_dropout": fraction(),
    "model.decoder": Spec(str, choices=("crf", "softmax")),
    "model.charlm": Spec(
        list, rule=lambda v: all(isinstance(p, str) and p for p in v), rule_text="a list of char LM run directories"
    ),
    "model.charlm_trainable": Spec(bool),
    **TRAIN,
    "train.lr_decay": Spec(float, 0.0, 1.0, low_open=True),  # per epoch; 1 = constant
    "train.optimizer": Spec(str, choices=("adam", "sgd")),
    "train.momentum": Spec(float, 0.0, 1.0, high_open=True),
    "decode.batch_size": size(1_000_000),
}

SEQ2SEQ = {
    "data.src": Spec(str),
    "data.tgt": Spec(str),
    "data.tsv": Spec(str),
    "data.valid_src": Spec(str),
    "data.valid_tgt": Spec(str),
    "data.valid_tsv": Spec(str),
    "data.subword_model": Spec(str, choices=("unigram", "bpe")),
    "data.joint_vocab": Spec(bool),
    "data.vocab_size": size(1_000_000, low=8),  # SentencePiece needs its 4 special pieces and some more
    "data.max_length": size(100_000),
    "model.cell": Spec(str, choices=CELLS),
    "model.layers": size(64),
    "model.units": Spec(
        int,
        2,
        65_536,
        rule=lambda v: v % 2 == 0,
        rule_text="an even integer >= 2 and <= 65536 (two encoder directions)",
    ),
    "model.embedding_dim": size(65_536),
    "model.attention": Spec(str, choices=("dot", "general", "bahdanau")),
    "model.input_feeding": Spec(bool),
    "model.dropout": fraction(),
    "model.tie_embeddings": Spec(bool),
    **TRAIN,
    **SCHEDULE,
    "train.warmup_steps": size(MAX_INT32, low=0),  # linear ramp before the cosine; 0 = none
    "train.label_smoothing": fraction(),
    "train.bleu_every": size(1_000_000),
    "train.bleu_sentences": size(MAX_INT32, low=0),  # 0 = all
    "decode.beam_size": size(1_000),
    "decode.length_penalty": Spec(float, 0.0, 100.0),
    "decode.max_length": size(100_000),
    "decode.max_source_length": size(100_000),
    "decode.n_best": size(1_000),
    "decode.batch_size": size(1_000_000),
}

SCHEMAS = {"charlm": CHARLM, "tagger": TAGGER, "seq2seq": SEQ2SEQ}

TAG_INPUT_FORMATS = ("auto", "conllu", "conll", "plain")
TAG_OUTPUT_FORMATS = ("conllu", "conll", "jsonl")
STATE_ORDERS = ("reading", "text")  # textlstm.charlm.states.CharHiddenStates

OPTIONS = {  # options (of the CLI and the Python API) that are not recipe keys
    "generate.num_samples": size(100_000),
    "generate.seed": Spec(int, 0, 2**63 - 1),
    "generate.chunk": size(10_000_000),  # characters per streamed piece (CharLM.stream)
    "tag.n_best": size(100),  # the k-best Viterbi holds k paths per token and tag (up to 64k while merging)
    "tag.input_format": Spec(str, choices=TAG_INPUT_FORMATS),
    "tag.output_format": Spec(str, choices=TAG_OUTPUT_FORMATS),
    "states.order": Spec(str, choices=STATE_ORDERS),
    "states.batch_size": size(1_000_000),
    "inspect.max_chars": size(10_000_000),
    "inspect.analysis_chars": size(100_000_000),
    "inspect.top_k": size(10_000),
    "inspect.span_distance": size(1_000_000),
    "inspect.span_windows": size(100_000),
    "serve.timeout": Spec(float, 0.0, 86_400.0, low_open=True),  # seconds a request may take
    "serve.header_timeout": Spec(float, 0.0, 3_600.0, low_open=True),  # seconds to send a request's head
    "serve.max_connections": size(1_000_000),  # open connections, idle ones included
}


def spec_of(kind: str | None, name: str) -> Spec:
    """The declaration of `name` ("model.units") for the family `kind`, of a key every family
    shares ("train.seed", with `kind` None), or of an option that is no recipe key ("inspect.top_k")."""
    if name in OPTIONS:
        return OPTIONS[name]
    return TRAIN[name] if kind is None else SCHEMAS[kind][name]


def check_value(kind: str | None, name: str, value, source: str = ""):
    """Check one recipe value or option; returns it (ints widened for float keys)."""
    return spec_of(kind, name).check(name, value, source)


def check_option(option: str, kind: str | None, name: str, value):
    """Check a command-line option that stands for `name`: "--max-steps (train.max_steps) must be ..."."""
    shown = option if name in OPTIONS else f"{option} ({name})"
    return spec_of(kind, name).check(shown, value)


def check_recipe(recipe: dict, kind: str) -> dict:
    """Check every declared key of a resolved recipe, then the rules that join two keys.

    Used by each family's `train_*` (so the Python API and `--resume` are checked too) and
    by `resolve_recipe`. Returns the recipe, with ints widened to floats where declared.
    """
    for name, spec in SCHEMAS[kind].items():
        section, key = name.split(".", 1)
        table = recipe.get(section)
        if not isinstance(table, dict) or key not in table:
            raise UserError(f"the recipe has no {name} (every {kind} recipe needs it)")
        if table[key] is not None:
            table[key] = spec.check(name, table[key])
    check_joint_rules(recipe, kind)
    return recipe


def check_joint_rules(recipe: dict, kind: str):
    """Rules about two keys together."""
    decode = recipe.get("decode", {})
    if kind == "seq2seq" and decode.get("n_best", 1) > decode.get("beam_size", 1):
        raise UserError(f"decode.n_best ({decode['n_best']}) cannot exceed decode.beam_size ({decode['beam_size']})")
    check_learning_rate_floor(recipe.get("train", {}))


def check_learning_rate_floor(train: dict):
    """One `UserError` line if `train.min_learning_rate` is above `train.learning_rate` (whatever
    the schedule: a floor above the rate is a mistake even where the constant rate ignores it).
    Recipes without a floor pass."""
    rate, floor = train.get("learning_rate"), train.get("min_learning_rate")
    if rate is not None and floor is not None and floor > rate:
        raise UserError(f"train.min_learning_rate={floor} is above train.learning_rate={rate}")
