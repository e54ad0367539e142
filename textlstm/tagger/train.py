"""`textlstm train tagger`, top to bottom: recipe → data → vocabularies → model → fit → dev score."""

import sys
import time

import keras

from textlstm import distribute, memory, training
from textlstm.errors import UserError
from textlstm.interrupts import interruptible
from textlstm.rundir import RunDir, atomic_write_json
from textlstm.schema import check_recipe
from textlstm.tagger import corpus, metrics, schemes
from textlstm.tagger import data as data_lib
from textlstm.tagger.casing import char_classes
from textlstm.tagger.embeddings import extend_with_vectors
from textlstm.tagger.model import build_and_compile
from textlstm.tagger.tag import (
    CHARS_FILE,
    KIND,
    TAGS_FILE,
    TAGSET_FILE,
    WORDS_FILE,
    encode_untagged,
    make_predictor,
    open_charlm_copies,
    predict_tags,
    predictable_tags,
    read_tagset,
    to_file_scheme,
)
from textlstm.tagger.vocab import Vocabulary, build_char_vocab, build_tag_vocab, build_word_vocab


def dev_scores(gold_sentences, predicted, tagset):
    """{"accuracy", and for entity tags "f1", "precision", "recall"} of predictions vs gold."""
    gold = [sentence.tags for sentence in gold_sentences]
    scores = {"accuracy": metrics.token_accuracy(gold, predicted)}
    if tagset.get("entities"):
        micro = metrics.span_scores(gold, predicted, tagset["file_scheme"])["micro"]
        scores.update(f1=micro["f1"], precision=micro["precision"], recall=micro["recall"])
    return scores


class DevMetrics(keras.callbacks.Callback):
    """Tags the dev set after each epoch and adds val_accuracy (and val_f1 etc.) to the logs,
    so the checkpointer keeps best.keras by them and the progress line shows them."""

    def __init__(self, dev_sentences, vocabs, tagset, data_recipe, batch_size, charlm=None, dev_examples=None):
        super().__init__()
        self.dev_sentences, self.vocabs, self.tagset = dev_sentences, vocabs, tagset
        self.data_recipe, self.batch_size = data_recipe, batch_size
        self.charlm, self.dev_examples = charlm, dev_examples  # frozen LMs: dev features computed once
        self._predictor, self._for_model = None, None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._for_model is not self.model:
            self._predictor, self._for_model = make_predictor(self.model, self.charlm), self.model
        ids = predict_tags(
            self._predictor,
            self.dev_sentences,
            self.vocabs,
            self.data_recipe,
            self.batch_size,
            charlm=self.charlm,
            examples=self.dev_examples,
        )
        predicted = [to_file_scheme(self.vocabs[2].decode(row), self.tagset) for row in ids]
        scores = dev_scores(self.dev_sentences, predicted, self.tagset)
        logs.update({f"val_{name}": value for name, value in scores.items()})
        shown = "  ".join(f"dev {name} {value:.4f}" for name, value in scores.items())
        after_bar = "\n" if training.progress_verbosity() == 1 else ""  # a terminal's bar has no newline yet
        print(f"{after_bar}epoch {epoch + 1}: {shown}", flush=True)


def load_training_data(recipe):
    """(train sentences, dev sentences, tagset) read, checked and converted as the recipe says."""
    data = recipe["data"]
    if not data["train"] or not data["dev"]:
        raise UserError("a tagger needs --train FILE and --dev FILE (data.train, data.dev)")
    if data["invalid_tags"] not in ("error", "repair"):
        raise UserError(f"data.invalid_tags must be 'error' or 'repair', got {data['invalid_tags']!r}")
    file_format = corpus.resolve_format(data["train"], data["format"])
    train = corpus.read_tagged(data["train"], data, file_format)
    corpus.check_tag_variety(train, data["train"], data["column"] if file_format == "conllu" else data["tag_column"])
    dev = corpus.read_tagged(data["dev"], data, file_format)
    file_scheme = schemes.detect_scheme(sentence.tags for sentence in train)
    tagset = {
        "entities": file_scheme is not None,
        "file_scheme": file_scheme,
        "model_scheme": file_scheme,
        "format": file_format,
    }
    if file_scheme is None:
        if data["scheme"] != "auto":
            raise UserError(
                f"{data['train']}: data.scheme={data['scheme']!r} needs entity tags (O, B-X, I-X ...), "
                f"but found tags like {train[0].tags[0]!r}"
            )
        return train, dev, tagset
    model_scheme = file_scheme if data["scheme"] == "auto" else schemes.normalize_scheme(data["scheme"])
    tagset["model_scheme"] = model_scheme
    corpus.prepare_entity_tags(train, data["train"], file_scheme, model_scheme, data["invalid_tags"])
    corpus.check_entity_tags(dev, file_scheme, data["dev"], data["invalid_tags"])  # dev stays in file scheme
    return train, dev, tagset


def build_vocabularies(train, data):
    return (
        build_word_vocab(train, min_freq=data["min_freq"], lowercase=data["lowercase"]),
        build_char_vocab(train),
        build_tag_vocab(train),
    )


@interruptible(KIND)
def train_tagger(recipe, run_path, resume=False):
    """Train (or resume) a tagger into `run_path`; returns (run, best dev scores).

    Under a multi-worker strategy, workers other than the chief return `(run, None)`.
    `resume` on a run stopped before its first checkpoint trains it from the beginning.
    Raises `UserError` for unusable data or settings, and `Interrupted` on Ctrl-C at any
    moment (`textlstm.interrupts`: the line says how to continue).
    """
    data, train_recipe = recipe["data"], recipe["train"]
    check_recipe(recipe, KIND)  # every key in its declared range (textlstm.schema), before any work
    strategy = distribute.make_strategy(
        train_recipe["strategy"], train_recipe["batch_size"]
    )  # first: multi-worker sets up TensorFlow's runtime
    training.absolute_paths(recipe, "data.train", "data.dev", "data.word_vectors", "model.charlm")  # works anywhere
    resume = training.resume_or_restart(run_path, KIND, resume)  # no checkpoint yet: from the beginning
    train, dev, tagset = load_training_data(recipe)
    previous = None
    if resume:
        run = RunDir.open(run_path, KIND)
        previous = training.load_state(run)
        vocabs = tuple(Vocabulary.load(run.file(name)) for name in (WORDS_FILE, CHARS_FILE, TAGS_FILE))
        tagset = read_tagset(run)
        charlm = open_charlm_copies(run, recipe)  # the run's own copies: the sources may be gone
    else:
        vocabs = build_vocabularies(train, data)
        vectors, vocabs = _word_vectors(data, vocabs)  # the file's words join the vocabulary
        charlm = open_charlm_sources(recipe["model"])
    tag_vocab = vocabs[2]
    lm_size = charlm.size if charlm is not None else 0
    stored = 0 if charlm is None or charlm.trainable else 4 * lm_size * sum(len(s.tokens) for s in train + dev)
    memory.check_fits(
        memory.tagger_bytes(
            recipe,
            *map(len, vocabs),
            lm_features=lm_size,
            trainable_words=vocabs[0].trainable_rows,
            vector_dim=vocabs[0].vector_dim or 0,
        )
        + stored,
        memory.recipe_sizes(recipe, "model.layers", "model.units", "model.word_dim", "train.batch_size", "data.max_len")
        + (f", word vectors {len(vocabs[0]):,} x {vocabs[0].vector_dim}" if vocabs[0].extended else ""),
    )
    warning = corpus.unseen_tags_warning(dev, predictable_tags(tag_vocab, tagset), data["dev"])
    if warning:  # not fatal: they count as errors, as in `evaluate`
        print(warning, file=sys.stderr)
    examples = data_lib.encode_sentences(
        train, vocabs[0], vocabs[1], tag_vocab, data["max_len"], data["max_word_chars"]
    )
    scorable = [s for s in _in_model_scheme(dev, tagset) if all(tag in tag_vocab for tag in s.tags)]
    dev_examples = data_lib.encode_sentences(  # for val_loss: sentences whose tags training saw
        scorable or train[:1], vocabs[0], vocabs[1], tag_vocab, data["max_len"], data["max_word_chars"]
    )
    decode_batch = recipe["decode"]["batch_size"]
    dev_tagging = None  # the dev set's chunks for the dev metric, with frozen LM features computed once
    if charlm is not None:
        charlm.encode(examples, train)
        charlm.encode(dev_examples, scorable or train[:1])
        if not charlm.trainable:
            dev_tagging = encode_untagged(dev, vocabs, data, charlm)
            _attach_features(charlm, [examples, dev_examples, dev_tagging], decode_batch)
    tokens = sum(len(sentence.tokens) for sentence in train)
    print(
        f"data: {len(train):,} training sentences ({tokens:,} tokens, {len(examples):,} chunks), "
        f"{len(dev):,} dev sentences; {vocabs[0].trainable_rows:,} words, {len(vocabs[1]):,} characters, "
        f"{len(tag_vocab) - 1} tags" + (f" ({tagset['model_scheme']})" if tagset["entities"] else "")
    )
    monitor = "val_f1" if tagset["entities"] else "val_accuracy"
    batch_size = train_recipe["batch_size"]
    schedule = training.plan_schedule(
        data_lib.batches_per_epoch(examples, batch_size),
        train_recipe["epochs"],
        train_recipe["steps_per_epoch"],
        train_recipe["max_steps"],
        previous=previous,
        monitor=monitor,
        mode="max",
        patience=train_recipe["patience"],
    )
    if resume:
        with strategy.scope():
            model, state = training.load_checkpoint(run)
        if distribute.is_chief():
            run.write_recipe(recipe)  # --epochs/--max-steps may have extended it
    else:
        run = training.start_run(run_path, KIND, recipe)  # only once the data are known to be usable
        if charlm is not None and distribute.is_chief():
            charlm.save_copies(run)  # the run is self-contained: tagging never reads the LM run dirs
        with strategy.scope():
            model = build_and_compile(
                len(vocabs[0]),
                len(vocabs[1]),
                len(tag_vocab),
                recipe,
                vectors,
                schedule.steps_per_epoch,
                charlm,
                vocabs[0].trainable_rows,
                char_classes(vocabs[1]),
            )
        del vectors  # the model holds its own copy
        for vocab, name in zip(vocabs, (WORDS_FILE, CHARS_FILE, TAGS_FILE)):
            vocab.save(run.file(name))
        atomic_write_json(run.file(TAGSET_FILE), tagset)
        state = None
    callback = DevMetrics(dev, vocabs, tagset, data, decode_batch, charlm, dev_tagging)
    training.fit(
        model,
        run,
        lambda start: data_lib.training_batches(examples, batch_size, train_recipe["seed"], start),
        schedule,
        data_lib.evaluation_batches(dev_examples, decode_batch),
        state=state,
        callbacks=[callback],
        seed=train_recipe["seed"],
    )
    if not distribute.is_chief():  # the chief reports; this worker's part is done
        return run, None
    best = training.load_best_or_last(run)
    ids = predict_tags(
        make_predictor(best, charlm), dev, vocabs, data, decode_batch, charlm=charlm, examples=dev_tagging
    )
    scores = dev_scores(dev, [to_file_scheme(tag_vocab.decode(row), tagset) for row in ids], tagset)
    shown = ", ".join(f"{name} {value:.4f}" for name, value in scores.items())
    which = "best model" if run.file(training.BEST).is_file() else "model (no whole epoch done: last.keras)"
    print(f"{which}: dev {shown}")
    return run, scores


def open_charlm_sources(model_recipe):
    """The `CharLMSet` of the LM run directories `model.charlm` names (None for none), checked and
    printed before anything is written."""
    if not model_recipe["charlm"]:
        return None
    from textlstm.tagger.charlm_features import CharLMSet

    charlm = CharLMSet.open_sources(model_recipe["charlm"], model_recipe["charlm_trainable"])
    state = "fine-tuned" if charlm.trainable else "frozen"
    print(f"char LMs ({state}, {charlm.size} features per word): {charlm.describe()}")
    return charlm


def _attach_features(charlm, example_lists, batch_size):
    """Frozen LMs: every chunk's features, computed once before training (and reused every epoch)."""
    started = time.monotonic()
    chunks = 0
    for examples in example_lists:
        charlm.attach_features(examples, batch_size)
        chunks += len(examples)
    print(f"char LM features: {chunks:,} chunks in {time.monotonic() - started:.1f} s", flush=True)


def _in_model_scheme(sentences, tagset):
    if not tagset["entities"] or tagset["model_scheme"] == tagset["file_scheme"]:
        return sentences
    import copy

    converted = copy.deepcopy(sentences)
    for sentence in converted:
        sentence.tags = schemes.convert(sentence.tags, tagset["file_scheme"], tagset["model_scheme"])
    return converted


def _word_vectors(data, vocabs):
    """(frozen table or None, vocabularies): with `data.word_vectors`, the word vocabulary
    extended with the file's words (its first `data.max_vectors` rows) and their vectors."""
    if not data["word_vectors"]:
        return None, vocabs
    words, matrix, found = extend_with_vectors(data["word_vectors"], vocabs[0], data["max_vectors"])
    added = len(words) - words.trainable_rows
    print(
        f"word vectors: {found:,} of {len(vocabs[0]) - 2:,} training words found; {added:,} more words "
        f"from the file looked up (frozen, {words.vector_dim} values each) in {data['word_vectors']}",
        file=sys.stderr,
    )
    return matrix, (words, *vocabs[1:])
