"""`textlstm train charlm`, top to bottom: recipe → data → model → fit → sample."""

import keras

from textlstm import distribute, memory, training
from textlstm import precision as precision_lib
from textlstm.charlm import corpus as corpus_lib
from textlstm.charlm import data as data_lib
from textlstm.charlm import subword as subword_lib
from textlstm.charlm import tokens as tokens_lib
from textlstm.charlm.metrics import add_bits_per_char
from textlstm.charlm.model import build_model, compile_model
from textlstm.errors import UserError
from textlstm.families import CHARLM
from textlstm.interrupts import interruptible
from textlstm.layers.dispatch import gpu_available
from textlstm.optim import check_schedule_covers
from textlstm.rundir import RunDir
from textlstm.schema import check_recipe

KIND = CHARLM
VOCAB_FILE = corpus_lib.VOCAB_FILE


class BitsPerCharacter(keras.callbacks.Callback):
    """Shows bits per character and perplexity in the progress bar and the metrics log."""

    def __init__(self, ids_per_char=(1.0, 1.0)):
        super().__init__()
        self.ids_per_char = ids_per_char

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            add_bits_per_char(logs, self.ids_per_char)


@interruptible(KIND)
def train_charlm(recipe, run_path, resume=False):
    """Train (or resume) a char LM into `run_path`; returns `(run, metrics of the best model)`.

    Under a multi-worker strategy, workers other than the chief return `(run, None)`.
    `resume` on a run stopped before its first checkpoint trains it from the beginning.
    Raises `UserError` for unusable data or settings, and `Interrupted` on Ctrl-C at any
    moment (`textlstm.interrupts`: the line says how to continue).
    """
    data, model_recipe, train = recipe["data"], recipe["model"], recipe["train"]
    check_recipe(recipe, KIND)  # every key in its declared range, the learning-rate floor too, before any work
    strategy = distribute.make_strategy(
        train["strategy"], train["batch_size"]
    )  # first: multi-worker sets up TensorFlow's runtime
    training.absolute_paths(recipe, "data.paths", "data.valid")  # the saved recipe works from any directory
    resume = training.resume_or_restart(run_path, KIND, resume)  # no checkpoint yet: from the beginning
    subword = corpus_lib.is_subword(recipe)
    unit = "pieces" if subword else "characters"
    previous = corpus = None
    if resume:
        run = RunDir.open(run_path, KIND)
        previous = training.load_state(run)
        vocab = corpus_lib.load_vocabulary(run, data)
        corpus = tokens_lib.TokenCorpus.open(run, len(vocab), data)  # the token file of the first start
        if corpus is None:
            print("note: no token file of these data settings in the run directory; encoding the corpus again")
    if corpus is None:  # read every file once: all checks and the counts, before anything is written
        train_scan, valid_scan = tokens_lib.scan_corpus(data)
        train_chars, valid_chars = tokens_lib.split_of(data, train_scan)
        valid_chars = valid_scan.chars if valid_scan is not None else valid_chars
        if not resume and subword:  # SentencePiece on a sample of the training part (written once the run exists)
            vocab, subword_model = subword_lib.train_vocabulary(train_scan, train_chars, data["vocab_size"])
        elif not resume:
            vocab = tokens_lib.vocabulary_of(train_scan, train_chars)
        if subword:  # ids are pieces: count them where the text is small enough for it to matter
            train_chars, valid_chars = subword_lib.ids_at_least(
                vocab, data, train_scan, valid_scan, train_chars, valid_chars, data["seq_len"] * train["batch_size"]
            )
    else:
        train_chars, valid_chars = corpus.train_chars, corpus.valid_chars
    memory.check_fits(
        memory.charlm_bytes(recipe, len(vocab)),
        memory.recipe_sizes(
            recipe, "model.layers", "model.units", "model.embedding_dim", "train.batch_size", "data.seq_len"
        ),
    )
    seq_len, batch_size = data["seq_len"], train["batch_size"]
    _check_sizes(data, train_chars, valid_chars, batch_size, unit)  # before any run directory is made
    if not resume:
        run = training.start_run(run_path, KIND, recipe)  # only once the data are known to be usable
    if corpus is None:  # a worker other than the chief encodes into its own scratch directory
        target = run if distribute.is_chief() else RunDir.create(run_path, KIND)
        if subword and not resume:
            subword_lib.save_model(target, subword_model)
        corpus = tokens_lib.build_token_file(target, data, vocab, train_scan, valid_scan)
    capped = corpus.valid_chars
    if data["max_valid_chars"] > 0:  # a cap in characters: for pieces, the first ones that cover that many
        capped = (
            vocab.ids_for_chars(corpus.valid, data["max_valid_chars"])
            if subword
            else min(capped, data["max_valid_chars"])
        )
    if subword:  # now exact
        _check_sizes(data, corpus.train_chars, capped, batch_size, unit)
    train_ids, valid_ids = corpus.train, corpus.valid[:capped]
    window = data_lib.evaluation_window(data)
    ids_per_char = subword_lib.ids_per_char(vocab, corpus, valid_ids, window) if subword else (1.0, 1.0)
    unigram = corpus_lib.unigram_entropy_bits(valid_ids, len(vocab)) * ids_per_char[1]
    backward = " (read backwards: data.direction = backward)" if corpus_lib.is_backward(recipe) else ""
    pieces = f" ({len(train_ids):,} and {corpus.valid_chars:,} pieces)" if subword else ""
    print(
        f"corpus: {corpus.description}{backward}: {corpus.text_chars[0]:,} training and {corpus.text_chars[1]:,} "
        f"validation characters{pieces}, vocabulary {len(vocab)}; unigram entropy of the validation text: "
        f"{unigram:.3f} bits/char"
    )
    if corpus.unknown_valid_chars:
        print(corpus_lib.unknown_characters_note(corpus.unknown_valid_chars) + " (in the validation text)")
    if capped < corpus.valid_chars:
        print(
            f"validation: the first {capped:,} of {corpus.valid_chars:,} {unit} each epoch "
            f"(data.max_valid_chars={data['max_valid_chars']:,})"
        )

    note = precision_lib.precision_note(train["precision"], gpu_available(), precision_lib.cpu_has_bfloat16())
    if note:
        print(note)
    schedule = training.plan_schedule(
        data_lib.window_count(train_ids, seq_len) // batch_size,
        train["epochs"],
        train["steps_per_epoch"],
        train["max_steps"],
        previous=previous,
        monitor="val_loss",
        mode="min",
        patience=train["patience"],
    )
    if resume:
        with strategy.scope():
            model, state = training.load_checkpoint(run)
        check_schedule_covers(model.optimizer, schedule.total_steps)  # before the recipe is rewritten
        if distribute.is_chief():
            run.write_recipe(recipe)  # --epochs/--max-steps may have extended it
    else:
        with strategy.scope():
            model = build_model(len(vocab), model_recipe, train["seed"], train["precision"])
            compile_model(model, train, train["epochs"] * schedule.steps_per_epoch)  # max_steps only stops early
        if not subword:  # a subword run keeps its SentencePiece model (saved above) instead
            vocab.save(run.file(VOCAB_FILE))
        state = None
    state = training.fit(
        model,
        run,
        lambda start: data_lib.training_batches(train_ids, seq_len, batch_size, train["seed"], start),
        schedule,
        data_lib.evaluation_batches(valid_ids, window, batch_size),
        state=state,
        callbacks=[BitsPerCharacter(ids_per_char)],
        seed=train["seed"],
    )
    if not distribute.is_chief():  # the chief evaluates and reports; this worker's part is done
        return run, None
    metrics = {"val_loss": state.best, "unigram_bpc": unigram}  # the best epoch's validation loss, as fit measured it
    if state.best is None:  # train.max_steps stopped it inside the first epoch: last.keras is the model
        print(f"best model: none yet (no whole epoch done); last.keras holds step {state.step}")
        return run, metrics
    add_bits_per_char(metrics, ids_per_char)
    per = "per piece" if subword else "per character"
    print(
        f"best model: validation {metrics['val_bpc']:.3f} bits/char (loss {state.best:.4f} nats {per}, perplexity "
        f"{metrics['val_perplexity']:.2f} {per}) vs unigram {unigram:.3f} bits/char"
    )
    return run, metrics


def _check_sizes(data, train_ids, valid_ids, batch_size, unit):
    """Refuse a validation text shorter than one window, or a training text shorter than one batch."""
    seq_len, window = data["seq_len"], data_lib.evaluation_window(data)
    capped = (
        min(valid_ids, data["max_valid_chars"]) if data["max_valid_chars"] > 0 and unit == "characters" else valid_ids
    )
    if capped - 1 < window:
        name = "data.eval_window" if data.get("eval_window") else "data.seq_len"
        raise UserError(f"the validation text has {capped} {unit}, fewer than {name}={window} + 1")
    corpus_lib.check_one_batch(train_ids, seq_len, batch_size, unit=unit)
