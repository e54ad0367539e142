"""The char LM's training contract (`textlstm.driver`): corpus → token file → windows → model → bits/char."""

import keras

from textlstm import distribute, memory
from textlstm import precision as precision_lib
from textlstm.charlm import corpus as corpus_lib
from textlstm.charlm import data as data_lib
from textlstm.charlm import subword as subword_lib
from textlstm.charlm import tokens as tokens_lib
from textlstm.charlm.metrics import add_bits_per_char
from textlstm.charlm.model import build_model, compile_settings
from textlstm.driver import FamilyTraining, train_family
from textlstm.errors import UserError
from textlstm.families import CHARLM
from textlstm.layers.dispatch import gpu_available
from textlstm.rundir import RunDir

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


class CharLMTraining(FamilyTraining):
    """The char LM's part of a training (`textlstm.driver`): the corpus scanned once and encoded into
    the run's token file, characters or SentencePiece pieces, bits per character reported."""

    kind = KIND
    path_keys = ("data.paths", "data.valid")

    def read(self, run):
        data, train = self.recipe["data"], self.recipe["train"]
        self.subword = corpus_lib.is_subword(self.recipe)
        self.unit = "pieces" if self.subword else "characters"
        self.corpus = self.train_scan = self.valid_scan = self.subword_model = None
        if run is not None:
            self.vocab = corpus_lib.load_vocabulary(run, data)
            self.corpus = tokens_lib.TokenCorpus.open(run, len(self.vocab), data)  # the token file of the first start
            if self.corpus is None:
                print("note: no token file of these data settings in the run directory; encoding the corpus again")
        if self.corpus is None:  # read every file once: all checks and the counts, before anything is written
            self.train_scan, self.valid_scan = tokens_lib.scan_corpus(data)
            train_chars, valid_chars = tokens_lib.split_of(data, self.train_scan)
            valid_chars = self.valid_scan.chars if self.valid_scan is not None else valid_chars
            if run is None and self.subword:  # SentencePiece on a sample of the training part (saved in prepare)
                self.vocab, self.subword_model = subword_lib.train_vocabulary(
                    self.train_scan, train_chars, data["vocab_size"]
                )
            elif run is None:
                self.vocab = tokens_lib.vocabulary_of(self.train_scan, train_chars)
            if self.subword:  # ids are pieces: count them where the text is small enough for it to matter
                train_chars, valid_chars = tokens_lib.ids_at_least(
                    self.vocab,
                    data,
                    self.train_scan,
                    self.valid_scan,
                    train_chars,
                    valid_chars,
                    data["seq_len"] * train["batch_size"],
                )
        else:
            train_chars, valid_chars = self.corpus.train_chars, self.corpus.valid_chars
        self.sizes = (train_chars, valid_chars)

    def memory_estimate(self):
        self.check_sizes(*self.sizes)  # before any run directory is made
        return (
            memory.charlm_bytes(self.recipe, len(self.vocab)),
            memory.recipe_sizes(
                self.recipe, "model.layers", "model.units", "model.embedding_dim", "train.batch_size", "data.seq_len"
            ),
        )

    def check_sizes(self, train_ids, valid_ids):
        _check_sizes(self.recipe["data"], train_ids, valid_ids, self.recipe["train"]["batch_size"], self.unit)

    def prepare(self, run):
        data, vocab, subword = self.recipe["data"], self.vocab, self.subword
        if not self.resume and not subword:  # a subword run keeps its SentencePiece model instead
            vocab.save(run.file(VOCAB_FILE))
        corpus = self.corpus
        if corpus is None:  # a worker other than the chief encodes into its own scratch directory
            target = run if distribute.is_chief() else RunDir.create(self.run_path, KIND)
            if subword and not self.resume:
                subword_lib.save_model(target, self.subword_model)
            corpus = tokens_lib.build_token_file(target, data, vocab, self.train_scan, self.valid_scan)
            self.train_scan = self.valid_scan = self.subword_model = None
        capped = corpus.valid_chars
        if data["max_valid_chars"] > 0:  # a cap in characters: for pieces, the first ones that cover that many
            capped = (
                vocab.ids_for_chars(corpus.valid, data["max_valid_chars"])
                if subword
                else min(capped, data["max_valid_chars"])
            )
        if subword:  # now exact
            self.check_sizes(corpus.train_chars, capped)
        self.train_ids, self.valid_ids = corpus.train, corpus.valid[:capped]
        self.window = data_lib.evaluation_window(data)
        self.ids_per_char = (
            subword_lib.ids_per_char(vocab, corpus, self.valid_ids, self.window) if subword else (1.0, 1.0)
        )
        self.unigram = corpus_lib.unigram_entropy_bits(self.valid_ids, len(vocab)) * self.ids_per_char[1]
        backward = " (read backwards: data.direction = backward)" if corpus_lib.is_backward(self.recipe) else ""
        pieces = f" ({len(self.train_ids):,} and {corpus.valid_chars:,} pieces)" if subword else ""
        print(
            f"corpus: {corpus.description}{backward}: {corpus.text_chars[0]:,} training and "
            f"{corpus.text_chars[1]:,} validation characters{pieces}, vocabulary {len(vocab)}; unigram entropy of "
            f"the validation text: {self.unigram:.3f} bits/char"
        )
        if corpus.unknown_valid_chars:
            print(corpus_lib.unknown_characters_note(corpus.unknown_valid_chars) + " (in the validation text)")
        if capped < corpus.valid_chars:
            print(
                f"validation: the first {capped:,} of {corpus.valid_chars:,} {self.unit} each epoch "
                f"(data.max_valid_chars={data['max_valid_chars']:,})"
            )
        train = self.recipe["train"]
        note = precision_lib.precision_note(train["precision"], gpu_available(), precision_lib.cpu_has_bfloat16())
        if note:
            print(note)

    def batches_per_epoch(self):
        return (
            data_lib.window_count(self.train_ids, self.recipe["data"]["seq_len"]) // self.recipe["train"]["batch_size"]
        )

    def build(self):
        train = self.recipe["train"]
        return build_model(len(self.vocab), self.recipe["model"], train["seed"], train["precision"])

    def compile_settings(self):
        return compile_settings()

    def training_batches(self, start_step):
        data, train = self.recipe["data"], self.recipe["train"]
        return data_lib.training_batches(
            self.train_ids, data["seq_len"], train["batch_size"], train["seed"], start_step
        )

    def evaluation_batches(self):
        return data_lib.evaluation_batches(self.valid_ids, self.window, self.recipe["train"]["batch_size"])

    def callbacks(self, run):
        return [BitsPerCharacter(self.ids_per_char)]

    def report(self, run, state):
        unigram, ids_per_char = self.unigram, self.ids_per_char
        metrics = {"val_loss": state.best, "unigram_bpc": unigram}  # the best epoch's validation loss, as measured
        if state.best is None:  # train.max_steps stopped it inside the first epoch: last.keras is the model
            print(f"best model: none yet (no whole epoch done); last.keras holds step {state.step}")
            return metrics
        add_bits_per_char(metrics, ids_per_char)
        per = "per piece" if self.subword else "per character"
        print(
            f"best model: validation {metrics['val_bpc']:.3f} bits/char (loss {state.best:.4f} nats {per}, "
            f"perplexity {metrics['val_perplexity']:.2f} {per}) vs unigram {unigram:.3f} bits/char"
        )
        return metrics


def train_charlm(recipe, run_path, resume=False):
    """`textlstm.driver.train_family("charlm", ...)`: `(run, metrics of the best model)`, without the run's lock."""
    return train_family(KIND, recipe, run_path, resume)


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
