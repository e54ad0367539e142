"""`textlstm train charlm`, top to bottom: recipe → data → model → fit → sample."""

import math

import keras

from textlstm import distribute, memory, training
from textlstm.charlm import corpus as corpus_lib
from textlstm.charlm import data as data_lib
from textlstm.charlm import tokens as tokens_lib
from textlstm.charlm.model import build_model, compile_model
from textlstm.errors import UserError
from textlstm.rundir import RunDir
from textlstm.schema import check_recipe

KIND = "charlm"
VOCAB_FILE = "vocab.json"
LN2 = math.log(2.0)


def add_bits_per_char(logs):
    """Bits per character and perplexity from a loss in nats, for every loss in `logs`."""
    for prefix in ("", "val_"):
        loss = logs.get(f"{prefix}loss")
        if loss is not None:
            logs[f"{prefix}bpc"] = loss / LN2
            logs[f"{prefix}perplexity"] = math.exp(min(loss, 50.0))


class BitsPerCharacter(keras.callbacks.Callback):
    """Shows bits per character and perplexity in the progress bar and the metrics log."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            add_bits_per_char(logs)


def train_charlm(recipe, run_path, resume=False):
    """Train (or resume) a char LM into `run_path`; returns `(run, metrics of the best model)`.

    Under a multi-worker strategy, workers other than the chief return `(run, None)`.
    """
    data, model_recipe, train = recipe["data"], recipe["model"], recipe["train"]
    check_recipe(recipe, KIND)  # every key in its declared range (textlstm.schema), before any work
    strategy = distribute.make_strategy(train["strategy"])  # first: multi-worker sets up TensorFlow's runtime
    training.absolute_paths(recipe, "data.paths", "data.valid")  # the saved recipe works from any directory
    previous = corpus = None
    if resume:
        run = RunDir.open(run_path, KIND)
        previous = training.load_state(run)
        vocab = corpus_lib.CharVocabulary.load(run.file(VOCAB_FILE))
        corpus = tokens_lib.TokenCorpus.open(run, len(vocab), data)  # the token file of the first start
        if corpus is None:
            print("note: no token file of these data settings in the run directory; encoding the corpus again")
    if corpus is None:  # read every file once: all checks and the counts, before anything is written
        train_scan, valid_scan = tokens_lib.scan_corpus(data)
        train_chars, valid_chars = tokens_lib.split_of(data, train_scan)
        valid_chars = valid_scan.chars if valid_scan is not None else valid_chars
        if not resume:
            vocab = tokens_lib.vocabulary_of(train_scan, train_chars)
    else:
        train_chars, valid_chars = corpus.train_chars, corpus.valid_chars
    memory.check_fits(memory.charlm_bytes(recipe, len(vocab)), memory.recipe_sizes(
        recipe, "model.layers", "model.units", "model.embedding_dim", "train.batch_size", "data.seq_len"))
    seq_len, batch_size = data["seq_len"], train["batch_size"]
    capped = min(valid_chars, data["max_valid_chars"]) if data["max_valid_chars"] > 0 else valid_chars
    if capped - 1 < seq_len:
        raise UserError(f"the validation text has {capped} characters, fewer than data.seq_len={seq_len} + 1")
    corpus_lib.check_one_batch(train_chars, seq_len, batch_size)  # before any run directory is made
    if not resume:
        run = RunDir.create(run_path, KIND)  # only once the data are known to be usable
    if corpus is None:  # a worker other than the chief encodes into its own scratch directory
        target = run if distribute.is_chief() else RunDir.create(run_path, KIND)
        corpus = tokens_lib.build_token_file(target, data, vocab, train_scan, valid_scan)
    train_ids, valid_ids = corpus.train, corpus.valid[:capped]
    unigram = corpus_lib.unigram_entropy_bits(valid_ids, len(vocab))
    backward = " (read backwards: data.direction = backward)" if data.get("direction") == "backward" else ""
    print(f"corpus: {corpus.description}{backward}: {len(train_ids):,} training and {corpus.valid_chars:,} validation "
          f"characters, vocabulary {len(vocab)}; unigram entropy of the validation text: {unigram:.3f} bits/char")
    if corpus.unknown_valid_chars:
        print(corpus_lib.unknown_characters_note(corpus.unknown_valid_chars) + " (in the validation text)")
    if capped < corpus.valid_chars:
        print(f"validation: the first {capped:,} of {corpus.valid_chars:,} characters each epoch "
              f"(data.max_valid_chars={data['max_valid_chars']:,})")

    schedule = training.plan_schedule(
        data_lib.window_count(train_ids, seq_len) // batch_size, train["epochs"], train["steps_per_epoch"],
        train["max_steps"], previous=previous, monitor="val_loss", mode="min", patience=train["patience"],
    )
    if resume:
        with strategy.scope():
            model, state = training.load_checkpoint(run)
        if distribute.is_chief():
            run.write_recipe(recipe)  # --epochs/--max-steps may have extended it
    else:
        with strategy.scope():
            model = build_model(len(vocab), model_recipe, train["seed"])
            compile_model(model, train, train["epochs"] * schedule.steps_per_epoch)  # max_steps only stops early
        vocab.save(run.file(VOCAB_FILE))
        run.write_recipe(recipe)
        state = None
    state = training.fit(
        model, run,
        lambda start: data_lib.training_batches(train_ids, seq_len, batch_size, train["seed"], start),
        schedule, data_lib.evaluation_batches(valid_ids, seq_len, batch_size),
        state=state, callbacks=[BitsPerCharacter()], seed=train["seed"],
    )
    if not distribute.is_chief():  # the chief evaluates and reports; this worker's part is done
        return run, None
    metrics = {"val_loss": state.best, "unigram_bpc": unigram}  # the best epoch's validation loss, as fit measured it
    if state.best is None:  # train.max_steps stopped it inside the first epoch: last.keras is the model
        print(f"best model: none yet (no whole epoch done); last.keras holds step {state.step}")
        return run, metrics
    add_bits_per_char(metrics)
    print(f"best model: validation {metrics['val_bpc']:.3f} bits/char (loss {state.best:.4f} nats, perplexity "
          f"{metrics['val_perplexity']:.2f}) vs unigram {unigram:.3f} bits/char")
    return run, metrics
