"""Every recipe key and option, declared once: its default, its type and range, one line of help.

A family's recipe (`CHARLM`, `TAGGER`, `SEQ2SEQ`) is its sections in the order `recipe_to_toml`
writes them, each key a `Setting(default, spec, help)`. The [train] keys that every family
shares (`SHARED_TRAIN`) are declared once here and included by each family with `shared(...)`,
which may give that family's own default. Each family's `DEFAULTS` (`textlstm.<family>.model`)
is derived from these (`textlstm.schema.defaults`); `textlstm.schema` looks declarations up
and checks values against them; options that are no recipe key are `OPTIONS`.

Pure data and Python: no TensorFlow, so the CLI can read help texts and ranges instantly.
"""

from textlstm.spec import Setting, Spec, fraction, size

MAX_INT32 = 2**31 - 1
CELLS = ("lstm", "gru")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # textlstm.precision.PRECISIONS
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")  # textlstm.distribute.STRATEGIES
SAMPLERS = ("greedy", "temperature", "top_k", "top_p", "top_k_top_p")  # textlstm.decoding.samplers.SAMPLERS
TAG_INPUT_FORMATS = ("auto", "conllu", "conll", "plain")
TAG_OUTPUT_FORMATS = ("conllu", "conll", "jsonl")
STATE_ORDERS = ("reading", "text")  # textlstm.charlm.states.CharHiddenStates
QUANTIZE_MODES = ("int8",)  # textlstm.models.quantize_weights

TEMPERATURE = Spec(float, 0.001, 1000.0)  # below 1e-3 logits/temperature overflow float32: use greedy
TOP_K = size(1_000_000)
TOP_P = Spec(float, 0.0, 1.0, low_open=True)
SEED = Spec(int, 0, 2**32 - 1)  # NumPy's and Keras's seeds are 32-bit


def cell(help="recurrent cell: lstm or gru"):
    return Setting("lstm", Spec(str, choices=CELLS), help)


SHARED_TRAIN = {  # the [train] keys of every family (the schedule: of those that offer it)
    "batch_size": Setting(64, size(1_000_000), "the global batch: split over all devices and workers of a run"),
    "epochs": Setting(10, size(1_000_000), "passes over the training data (or of steps_per_epoch steps)"),
    "steps_per_epoch": Setting(0, size(MAX_INT32, low=0), "optimizer steps per epoch; 0 = one pass over the data"),
    "max_steps": Setting(0, size(MAX_INT32, low=0), "0 = no cap; else at most this many optimizer steps in all"),
    "learning_rate": Setting(0.002, Spec(float, 0.0, 10.0, low_open=True), "the optimizer's step size"),
    "lr_schedule": Setting(
        "constant",
        Spec(str, choices=("constant", "cosine")),
        '"constant", or "cosine": from learning_rate down to min_learning_rate (textlstm.optim)',
    ),
    "min_learning_rate": Setting(0.0, Spec(float, 0.0, 10.0), 'where "cosine" ends, at the last step the run plans'),
    "clipnorm": Setting(
        5.0, Spec(float, 0.0, 1e6, low_open=True), "gradient-norm clipping (keeps RNN training stable)"
    ),
    "patience": Setting(
        0, size(1_000_000, low=0), "epochs without a better validation metric before stopping; 0 = never"
    ),
    "keep_checkpoints": Setting(
        3, size(1_000_000, low=0), "epoch checkpoints kept (checkpoints/epoch-NNN.keras, the last ones); 0 = none"
    ),
    "seed": Setting(1234, SEED, "random seed of the weights, dropout and data order"),
    "strategy": Setting(
        "auto", Spec(str, choices=STRATEGIES), 'distribution strategy (textlstm.distribute); "auto" picks one'
    ),
}
COMMON_TRAIN = ("batch_size", "epochs", "steps_per_epoch", "max_steps", "learning_rate", "clipnorm", "patience")
COMMON_TRAIN += ("keep_checkpoints", "seed", "strategy")  # the shared keys that every family has


def shared(*names, **defaults):
    """Shared [train] keys for a family's `train` section, in the order given: `names` with the
    shared default, then `defaults` (key=this family's default)."""
    chosen = {name: SHARED_TRAIN[name] for name in names}
    chosen.update({name: SHARED_TRAIN[name].with_default(value) for name, value in defaults.items()})
    return chosen


CHARLM = {
    "data": {
        "paths": Setting(
            [],
            Spec(list, rule=lambda v: all(isinstance(p, str) for p in v), rule_text="a list of paths"),
            "text files or directories; empty = the built-in corpus",
        ),
        "valid": Setting("", Spec(str), "a validation file; empty = hold out valid_fraction of the data"),
        "valid_fraction": Setting(
            0.05,
            Spec(float, 0.0, 1.0, low_open=True, high_open=True),
            "share of the text held out for validation (its end) when data.valid is empty",
        ),
        "seq_len": Setting(100, size(100_000), "characters per training window (truncated backprop length)"),
        "eval_window": Setting(
            0,
            size(10_000_000, low=0),
            "characters per validation/evaluation window, each from a zero state; 0 = seq_len",
        ),
        "max_valid_chars": Setting(
            1_000_000,
            size(2**62, low=0),
            "validation characters evaluated each epoch (the first ones); 0 = all",
        ),
        "direction": Setting(
            "forward",
            Spec(str, choices=("forward", "backward")),
            '"backward": the model reads the text from its end (charlm/tokens.py reverses it)',
        ),
        "unit": Setting(
            "char",
            Spec(str, choices=("char", "subword")),
            '"subword": SentencePiece pieces of the training text (charlm/subword.py)',
        ),
        "vocab_size": Setting(
            2000,
            size(1_000_000, low=300),  # 256 byte pieces, 4 control pieces, "\n" and some learned ones
            "pieces, subword units only: 260 are bytes and control pieces, the rest learned",
        ),
    },
    "model": {
        "cell": cell(),
        "layers": Setting(2, size(64), "stacked recurrent layers"),
        "units": Setting(256, size(65_536), "units of each recurrent layer"),
        "embedding_dim": Setting(64, size(65_536), "size of each character's (or piece's) embedding"),
        "dropout": Setting(0.1, fraction(), "dropout between layers and before the output"),
        "input_dropout": Setting(
            0.0,
            fraction(),
            "dropout of each recurrent layer's inputs, one mask per sequence (Gal and Ghahramani 2016)",
        ),
    },
    "train": {
        **shared("batch_size", epochs=3, steps_per_epoch=100),  # 100 steps keep the default run to minutes
        **shared("max_steps", "learning_rate", "lr_schedule", "min_learning_rate"),
        "weight_decay": Setting(
            0.0, Spec(float, 0.0, 10.0), "> 0: AdamW, decoupled weight decay (per unit of learning rate); 0 = Adam"
        ),
        **shared("clipnorm", patience=3),
        **shared("keep_checkpoints"),
        **shared("seed", "strategy"),
        "precision": Setting(
            "float32",
            Spec(str, choices=PRECISIONS),
            'the layers\' dtype policy: "mixed_bfloat16" (bfloat16 compute, float32 weights); "mixed_float16" on a GPU',
        ),
    },
    "decode": {
        "length": Setting(500, size(10_000_000), "characters (or pieces) generated"),
        "sampler": Setting(
            "temperature", Spec(str, choices=SAMPLERS), "how each next unit is chosen (top_k_top_p: top-k, then top-p)"
        ),
        "temperature": Setting(0.8, TEMPERATURE, "logits are divided by it: below 1 sharper, above 1 flatter"),
        "top_k": Setting(40, TOP_K, "top_k samplers: draw among the k most likely units"),
        "top_p": Setting(0.95, TOP_P, "top_p samplers: draw among the most likely units holding this much probability"),
    },
}

TAGGER = {
    "data": {
        "train": Setting("", Spec(str), "training file"),
        "dev": Setting("", Spec(str), "development file: the dev metric each epoch picks the best model"),
        "format": Setting(
            "auto",
            Spec(str, choices=("auto", "conllu", "conll")),
            '"conllu", "conll" or "auto" (guessed from the training file)',
        ),
        "column": Setting(
            "upos",
            Spec(
                str,
                rule=lambda v: v in ("upos", "xpos") or (v.startswith("feats:") and len(v) > 6),
                rule_text="upos, xpos or feats:KEY",
            ),
            'CoNLL-U tag column: "upos", "xpos" or "feats:KEY"',
        ),
        "token_column": Setting(0, Spec(int, -1000, 1000), "CoNLL column files: the token's column"),
        "tag_column": Setting(-1, Spec(int, -1000, 1000), "CoNLL column files: the tag's column (-1 = last)"),
        "scheme": Setting(
            "auto",
            Spec(str, choices=("auto", "IOB1", "IOB2", "BIO", "BIOES", "IOBES")),
            'entity tags: "auto" (keep the file\'s), "IOB1", "IOB2" or "BIOES"',
        ),
        "invalid_tags": Setting(
            "error", Spec(str, choices=("error", "repair")), 'an ill-formed entity sequence: "error" or "repair"'
        ),
        "lowercase": Setting(False, Spec(bool), "lowercase words before the vocabulary lookup (characters keep case)"),
        "min_freq": Setting(1, size(MAX_INT32), "words seen fewer times become <unk> (characters still describe them)"),
        "max_len": Setting(100, size(100_000), "tokens per chunk; longer sentences are split into chunks of this size"),
        "max_word_chars": Setting(20, size(10_000), "characters per word seen by the char features (the rest is cut)"),
        "word_vectors": Setting("", Spec(str), "optional word2vec/GloVe text file: frozen vectors for its every word"),
        "max_vectors": Setting(
            0,
            size(MAX_INT32, low=0),
            "read only the vectors file's first rows (0 = all; GloVe/word2vec list frequent words first)",
        ),
    },
    "model": {
        "word_dim": Setting(
            100, size(65_536), "trainable word embedding size (beside the frozen vectors when a file is given)"
        ),
        "char_features": Setting(
            "cnn", Spec(str, choices=("cnn", "lstm", "none")), '"cnn", "lstm" (char BiLSTM) or "none"'
        ),
        "char_dim": Setting(30, size(65_536), "size of each character's embedding"),
        "char_units": Setting(50, size(65_536), "CNN filters, or the two directions of the char BiLSTM together"),
        "char_kernel": Setting(3, size(1_000), "CNN window in characters"),
        "casing": Setting(
            False, Spec(bool), "8 casing features per word (all caps, initial capital, digits...): see casing.py"
        ),
        "cell": cell(),
        "layers": Setting(1, size(64), "stacked bidirectional layers"),
        "units": Setting(128, size(65_536), "units per direction"),
        "dropout": Setting(0.33, fraction(), "on the embeddings and between/after the recurrent layers"),
        "word_dropout": Setting(
            0.05, fraction(), "share of training words replaced by <unk>: teaches the unknown word"
        ),
        "decoder": Setting("crf", Spec(str, choices=("crf", "softmax")), '"crf" or "softmax"'),
        "charlm": Setting(
            [],
            Spec(
                list,
                rule=lambda v: all(isinstance(p, str) and p for p in v),
                rule_text="a list of char LM run directories",
            ),
            "char LM run directories whose hidden states become word features (Akbik et al. 2018)",
        ),
        "charlm_trainable": Setting(
            False, Spec(bool), "false: frozen, features computed once; true: fine-tuned in the tagger"
        ),
    },
    "train": {
        **shared(batch_size=32, epochs=20),
        **shared("steps_per_epoch", "max_steps"),
        "optimizer": Setting(
            "adam",
            Spec(str, choices=("adam", "sgd")),
            '"adam" or "sgd" (with momentum, as Lample et al. 2016 and Ma and Hovy 2016)',
        ),
        "momentum": Setting(0.9, Spec(float, 0.0, 1.0, high_open=True), "SGD's momentum (unused by Adam)"),
        **shared("learning_rate"),
        "lr_decay": Setting(
            0.9,
            Spec(float, 0.0, 1.0, low_open=True),
            "the learning rate is multiplied by this after every epoch (1.0 = constant)",
        ),
        **shared("clipnorm", patience=4),
        **shared("keep_checkpoints"),
        **shared("seed", "strategy"),
    },
    "decode": {
        "batch_size": Setting(128, size(1_000_000), "sentences tagged together"),
    },
}

SEQ2SEQ = {
    "data": {
        "src": Setting("", Spec(str), "training source file (one sentence per line)"),
        "tgt": Setting("", Spec(str), "training target file, line-aligned with src"),
        "tsv": Setting("", Spec(str), 'or one file of "source<TAB>target" lines'),
        "valid_src": Setting("", Spec(str), "validation source file"),
        "valid_tgt": Setting("", Spec(str), "validation target file, line-aligned with valid_src"),
        "valid_tsv": Setting("", Spec(str), 'or one validation file of "source<TAB>target" lines'),
        "subword_model": Setting(
            "unigram", Spec(str, choices=("unigram", "bpe")), '"unigram" or "bpe" (SentencePiece)'
        ),
        "joint_vocab": Setting(False, Spec(bool), "one subword model for both languages"),
        "vocab_size": Setting(
            4000,
            size(1_000_000, low=8),  # SentencePiece needs its 4 special pieces and some more
            "pieces per model; the output softmax costs time in proportion",
        ),
        "max_length": Setting(
            64, size(100_000), "training pairs longer than this (in subwords, either side) are dropped"
        ),
    },
    "model": {
        "cell": cell(),
        "layers": Setting(1, size(64), "encoder and decoder layers each"),
        "units": Setting(
            256,
            Spec(
                int,
                2,
                65_536,
                rule=lambda v: v % 2 == 0,
                rule_text="an even integer >= 2 and <= 65536 (two encoder directions)",
            ),
            "decoder width; each encoder direction has units/2",
        ),
        "embedding_dim": Setting(256, size(65_536), "size of each subword's embedding"),
        "attention": Setting(
            "general",
            Spec(str, choices=("dot", "general", "bahdanau")),
            '"dot", "general" (Luong) or "bahdanau" (additive)',
        ),
        "input_feeding": Setting(
            False, Spec(bool), "feed the attentional state back into the next step (step-by-step training, slower)"
        ),
        "dropout": Setting(0.3, fraction(), "dropout on the embeddings and between the layers"),
        "tie_embeddings": Setting(False, Spec(bool), "share the target embedding with the output projection"),
    },
    "train": {
        **shared("batch_size", "epochs", "steps_per_epoch", "max_steps", "learning_rate", "lr_schedule"),
        **shared("min_learning_rate"),
        "warmup_steps": Setting(
            0, size(MAX_INT32, low=0), "steps of a linear ramp up to learning_rate before the cosine; 0 = none"
        ),
        **shared("clipnorm"),
        "label_smoothing": Setting(0.1, fraction(), "share of each target's probability spread over all pieces"),
        **shared(patience=0),  # epochs without dev BLEU improvement
        **shared("keep_checkpoints"),
        "bleu_every": Setting(1, size(1_000_000), "dev BLEU (greedy) every N epochs and after the last"),
        "bleu_sentences": Setting(500, size(MAX_INT32, low=0), "dev sentences translated for it; 0 = all"),
        **shared("seed", "strategy"),
    },
    "decode": {
        "beam_size": Setting(5, size(1_000), "hypotheses kept at each step (1 = greedy)"),
        "length_penalty": Setting(0.6, Spec(float, 0.0, 100.0), "GNMT alpha; 0 ranks by the plain log-probability"),
        "max_length": Setting(100, size(100_000), "subwords generated at most per sentence"),
        "max_source_length": Setting(
            256, size(100_000), "longer inputs are cut to this many subwords (with a warning)"
        ),
        "n_best": Setting(1, size(1_000), "translations returned per sentence, best first (at most beam_size)"),
        "batch_size": Setting(32, size(1_000_000), "sentences translated together"),
    },
}

FAMILIES = {"charlm": CHARLM, "tagger": TAGGER, "seq2seq": SEQ2SEQ}

OPTIONS = {  # options (of the CLI and the Python API) that are no recipe key; None: the command decides
    "generate.num_samples": Setting(1, size(100_000), "independent samples drawn"),
    "generate.seed": Setting(None, Spec(int, 0, 2**63 - 1), "sampling seed; none = a random one, printed"),
    "generate.chunk": Setting(64, size(10_000_000), "characters per streamed piece (CharLM.stream)"),
    "tag.n_best": Setting(  # the k-best Viterbi holds k paths per token and tag (up to 64k while merging)
        1, size(100), "tag sequences per sentence, best first"
    ),
    "tag.input_format": Setting("auto", Spec(str, choices=TAG_INPUT_FORMATS), "format of the input to tag"),
    "tag.output_format": Setting(
        None, Spec(str, choices=TAG_OUTPUT_FORMATS), "format of the tagged output; none = the input's"
    ),
    "load.quantize": Setting(
        None,
        Spec(str, choices=QUANTIZE_MODES),
        '"int8": quantize the weights once loaded (recurrent layers weight-only, Keras\'s int8 elsewhere); '
        "left out: as trained",
    ),
    "states.order": Setting(
        "reading", Spec(str, choices=STATE_ORDERS), '"reading": rows in the LM\'s reading order; "text": in text order'
    ),
    "states.batch_size": Setting(32, size(1_000_000), "texts run together"),
    "inspect.max_chars": Setting(2000, size(10_000_000), "characters whose activations are recorded and shown"),
    "inspect.analysis_chars": Setting(
        20000, size(100_000_000), "characters on which saturation and interpretable units are measured"
    ),
    "inspect.top_k": Setting(5, size(10_000), "next-character predictions kept per character"),
    "inspect.span_distance": Setting(
        1000, size(1_000_000), "longest distance (characters back) at which the memory span is measured"
    ),
    "inspect.span_windows": Setting(16, size(100_000), "windows of the text averaged for the memory span"),
    "serve.timeout": Setting(
        60.0,
        Spec(float, 0.0, 86_400.0, low_open=True),
        "seconds a request may take, reading its body and waiting for a busy model included",
    ),
    "serve.header_timeout": Setting(
        10.0,
        Spec(float, 0.0, 3_600.0, low_open=True),
        "seconds a connection has to send a whole request head; then it is closed",
    ),
    "serve.max_connections": Setting(
        2048, size(1_000_000), "open connections, idle ones included; past it requests are answered 503"
    ),
}
