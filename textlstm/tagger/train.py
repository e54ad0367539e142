"""The tagger's training contract (`textlstm.driver`): data → vocabularies → model → dev score."""

import sys
import time

from textlstm import distribute, memory, training
from textlstm.driver import FamilyTraining, train_family
from textlstm.errors import ParameterError, UserError
from textlstm.rundir import atomic_write_json
from textlstm.tagger import corpus, metrics, schemes
from textlstm.tagger import data as data_lib
from textlstm.tagger.casing import char_classes
from textlstm.tagger.embeddings import extend_with_vectors
from textlstm.tagger.model import build_model, compile_settings
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


def load_training_data(recipe):
    """(train sentences, dev sentences, tagset) read, checked and converted as the recipe says."""
    data = recipe["data"]
    if not data["train"] or not data["dev"]:
        raise ParameterError(
            "a tagger needs a training file and a dev file: {train} and {dev}",
            train=("data.train", None, "data.train"),
            dev=("data.dev", None, "data.dev"),
        )
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


class TaggerTraining(FamilyTraining):
    """The tagger's part of a training (`textlstm.driver`): tagged files read and checked, word,
    character and tag vocabularies (and pretrained vectors, char LM copies) kept in the run, the
    dev set tagged after every epoch (accuracy, and span F1 for entity tags: the monitored metric)."""

    kind = KIND
    path_keys = ("data.train", "data.dev", "data.word_vectors", "model.charlm")
    mode = "max"

    def read(self, run):
        recipe, data = self.recipe, self.recipe["data"]
        self.train, self.dev, self.tagset = load_training_data(recipe)
        self.vectors = None
        if run is not None:
            self.vocabs = tuple(Vocabulary.load(run.file(name)) for name in (WORDS_FILE, CHARS_FILE, TAGS_FILE))
            self.tagset = read_tagset(run)
            self.charlm = open_charlm_copies(run, recipe)  # the run's own copies: the sources may be gone
        else:
            vocabs = build_vocabularies(self.train, data)
            self.vectors, self.vocabs = _word_vectors(data, vocabs)  # the file's words join the vocabulary
            self.charlm = open_charlm_sources(recipe["model"])
        self.monitor = "val_f1" if self.tagset["entities"] else "val_accuracy"

    def memory_estimate(self):
        recipe, vocabs, charlm, train, dev = self.recipe, self.vocabs, self.charlm, self.train, self.dev
        lm_size = charlm.size if charlm is not None else 0
        stored = 0 if charlm is None or charlm.trainable else 4 * lm_size * sum(len(s.tokens) for s in train + dev)
        needed = memory.tagger_bytes(
            recipe,
            *map(len, vocabs),
            lm_features=lm_size,
            trainable_words=vocabs[0].trainable_rows,
            vector_dim=vocabs[0].vector_dim or 0,
        )
        sizes = memory.recipe_sizes(
            recipe, "model.layers", "model.units", "model.word_dim", "train.batch_size", "data.max_len"
        ) + (f", word vectors {len(vocabs[0]):,} x {vocabs[0].vector_dim}" if vocabs[0].extended else "")
        return needed + stored, sizes

    def prepare(self, run):
        recipe, data, vocabs, tagset, charlm = self.recipe, self.recipe["data"], self.vocabs, self.tagset, self.charlm
        train, dev, tag_vocab = self.train, self.dev, vocabs[2]
        if not self.resume:
            if charlm is not None and distribute.is_chief():
                charlm.save_copies(run)  # the run is self-contained: tagging never reads the LM run dirs
            for vocab, name in zip(vocabs, (WORDS_FILE, CHARS_FILE, TAGS_FILE)):
                vocab.save(run.file(name))
            atomic_write_json(run.file(TAGSET_FILE), tagset)
        warning = corpus.unseen_tags_warning(dev, predictable_tags(tag_vocab, tagset), data["dev"])
        if warning:  # not fatal: they count as errors, as in `evaluate`
            print(warning, file=sys.stderr)
        self.examples = data_lib.encode_sentences(
            train, vocabs[0], vocabs[1], tag_vocab, data["max_len"], data["max_word_chars"]
        )
        scorable = [s for s in _in_model_scheme(dev, tagset) if all(tag in tag_vocab for tag in s.tags)]
        self.dev_examples = data_lib.encode_sentences(  # for val_loss: sentences whose tags training saw
            scorable or train[:1], vocabs[0], vocabs[1], tag_vocab, data["max_len"], data["max_word_chars"]
        )
        self.decode_batch = recipe["decode"]["batch_size"]
        self.dev_tagging = None  # the dev set's chunks for the dev metric, with frozen LM features computed once
        if charlm is not None:
            charlm.encode(self.examples, train)
            charlm.encode(self.dev_examples, scorable or train[:1])
            if not charlm.trainable:
                self.dev_tagging = encode_untagged(dev, vocabs, data, charlm)
                _attach_features(charlm, [self.examples, self.dev_examples, self.dev_tagging], self.decode_batch)
        tokens = sum(len(sentence.tokens) for sentence in train)
        print(
            f"data: {len(train):,} training sentences ({tokens:,} tokens, {len(self.examples):,} chunks), "
            f"{len(dev):,} dev sentences; {vocabs[0].trainable_rows:,} words, {len(vocabs[1]):,} characters, "
            f"{len(tag_vocab) - 1} tags" + (f" ({tagset['model_scheme']})" if tagset["entities"] else "")
        )
        self._predictor, self._for_model = None, None

    def batches_per_epoch(self):
        return data_lib.batches_per_epoch(self.examples, self.recipe["train"]["batch_size"])

    def build(self):
        vocabs = self.vocabs
        return build_model(
            len(vocabs[0]),
            len(vocabs[1]),
            len(vocabs[2]),
            self.recipe["model"],
            self.recipe["train"]["seed"],
            self.vectors,
            self.charlm,
            vocabs[0].trainable_rows,
            char_classes(vocabs[1]),
        )

    def after_build(self):
        self.vectors = None  # the model holds its own copy

    def compile_settings(self):
        return compile_settings()

    def training_batches(self, start_step):
        train = self.recipe["train"]
        return data_lib.training_batches(self.examples, train["batch_size"], train["seed"], start_step)

    def evaluation_batches(self):
        return data_lib.evaluation_batches(self.dev_examples, self.decode_batch)

    def _dev_scores(self, model):
        if self._for_model is not model:
            self._predictor, self._for_model = make_predictor(model, self.charlm), model
        ids = predict_tags(
            self._predictor,
            self.dev,
            self.vocabs,
            self.recipe["data"],
            self.decode_batch,
            charlm=self.charlm,
            examples=self.dev_tagging,
        )
        predicted = [to_file_scheme(self.vocabs[2].decode(row), self.tagset) for row in ids]
        return dev_scores(self.dev, predicted, self.tagset)

    def dev_metric(self, model, epoch):
        return self._dev_scores(model)

    def dev_line(self, scores):
        return "  ".join(f"dev {name} {value:.4f}" for name, value in scores.items())

    def report(self, run, state):
        scores = self._dev_scores(training.load_best_or_last(run))
        shown = ", ".join(f"{name} {value:.4f}" for name, value in scores.items())
        which = "best model" if run.file(training.BEST).is_file() else "model (no whole epoch done: last.keras)"
        print(f"{which}: dev {shown}")
        return scores


def train_tagger(recipe, run_path, resume=False):
    """`textlstm.driver.train_family("tagger", ...)`: `(run, best dev scores)`, without the run's lock."""
    return train_family(KIND, recipe, run_path, resume)


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
