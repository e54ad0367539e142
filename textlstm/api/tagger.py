"""`Tagger`: a trained sequence tagger (BiLSTM-CRF), loaded once, ready to tag plain lists."""

from textlstm.api.checks import check_declared, check_path, check_str
from textlstm.api.run_model import RunModel
from textlstm.errors import TextlstmError, UserError
from textlstm.families import TAGGER


def _sentences(sentences):
    """`conll.Sentence` objects from a list of strings (split on whitespace) or of token lists."""
    from textlstm.tagger.conll import Sentence

    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise TextlstmError(f"sentences must be a list of strings or of token lists, got {type(sentences).__name__}")
    result = []
    for index, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            tokens = check_str(f"sentences[{index}]", sentence).split()
        elif isinstance(sentence, (list, tuple)) and all(isinstance(token, str) for token in sentence):
            tokens = list(sentence)
            for position, token in enumerate(tokens):
                check_str(f"sentences[{index}][{position}]", token)
                if not token or token != token.strip() or len(token.split()) != 1:
                    raise TextlstmError(
                        f"sentences[{index}] has the token {token!r}; tokens must be non-empty and hold no whitespace"
                    )
        else:
            raise TextlstmError(
                f"sentences[{index}] must be a string or a list of token strings, "
                f"got {type(sentence).__name__} {sentence!r}"
            )
        result.append(Sentence(tokens=tokens))
    return result


class Tagger(RunModel):
    """A tagger run directory loaded for use from Python (what `textlstm.load` returns for it).

    Loading reads the best checkpoint (else the last), the word, character and tag
    vocabularies, the tag set and the recipe, and for a tagger with char-LM features
    (`model.charlm`) the LM copies in its `charlm/` folder; the object keeps its compiled tagging
    functions, so a second call whose batches have the same padded shapes does not trace
    again (lengths are padded to multiples of 8, so few shapes occur).

    Args:
        run_dir: path of a run directory of kind "tagger".
        checkpoint: which model to load: None or "best" (default), "last", an epoch number
            or a path to a .keras file (`textlstm.checkpoints`).
        quantize: None (default: the weights as trained) or "int8": every recurrent, Dense and
            Embedding layer's weights quantized to int8 once loaded (`textlstm.layers.int8`).

    Raises:
        TextlstmError: missing, damaged or other-kind run directory, or one whose files do
            not fit together (`textlstm.runcheck`).

    Example:
        >>> tagger = textlstm.load("runs/wnut17")
        >>> tagger.tag(["I saw Anna in Paris ."])
        [['O', 'O', 'B-person', 'O', 'B-location', 'O']]

    Reference: Lample et al. (2016), "Neural Architectures for Named Entity Recognition";
    Ma and Hovy (2016), "End-to-end Sequence Labeling via Bi-directional LSTM-CNNs-CRF";
    Akbik et al. (2018), "Contextual String Embeddings for Sequence Labeling" (char-LM features).
    """

    kind = TAGGER
    endpoint = "tag"
    evaluate_inputs = ("path",)
    evaluate_options = ("batch_size",)
    evaluate_note = " (a tagged file like the training data)"
    highlights = ("data.column", "data.scheme", "model.cell", "model.layers", "model.units", "model.decoder")

    def __init__(self, run_dir, checkpoint=None, quantize=None):
        from textlstm.tagger.tag import make_predictor, open_charlm_copies, read_tagset
        from textlstm.tagger.vocab import CHARS_FILE, TAGS_FILE, WORDS_FILE, Vocabulary

        run = self._open(run_dir)
        self.vocabs = tuple(Vocabulary.load(run.file(name)) for name in (WORDS_FILE, CHARS_FILE, TAGS_FILE))
        self.tagset = read_tagset(run)  # file format, entity scheme of the file and of the model
        self.model = self._load_model(checkpoint, quantize)
        self.charlm = open_charlm_copies(run, self.recipe)  # the run's char LMs (`CharLMSet`), or None
        self.predictor = make_predictor(self.model, self.charlm)
        self._scorer = None  # the n-best scorer, compiled on first use

    def shown_highlights(self):
        """`highlights` without `data.column` for a run trained on CoNLL column files (it names a
        CoNLL-U column; their tag column is `data.tag_column`)."""
        if self.tagset.get("format") == "conllu":
            return self.highlights
        return tuple(name for name in self.highlights if name != "data.column")

    def __repr__(self):
        return f"Tagger({str(self.run_dir)!r}, tags={len(self.vocabs[2]) - 1})"

    @property
    def dev_metric(self):
        """Span F1 for entity tags, else token accuracy (what training monitored)."""
        return "val_f1" if self.tagset.get("entities") else "val_accuracy"

    @property
    def tags(self):
        """The tags the model can predict, in the scheme its answers use: the training file's (IOB2
        for a file in IOB2, even when the model works in BIOES internally, `data.scheme`)."""
        from textlstm.tagger.tag import predictable_tags

        return list(predictable_tags(self.vocabs[2], self.tagset).items[1:])

    def tag(self, sentences, n_best=1, batch_size=None):
        """Tag sentences given as plain Python values.

        Args:
            sentences: list of sentences, each a string (tokens split on whitespace) or a
                list of token strings. Empty sentences get no tags.
            n_best: 1 for the best tag sequence only; K > 1 for the K best sequences with
                their probabilities (CRF: exact k-best Viterbi and exp(score - log Z)).
            batch_size: sentences (chunks of `data.max_len` tokens) tagged together
                (default: the recipe's `decode.batch_size`).

        Returns:
            `n_best=1`: one list of tag strings per sentence, one tag per token.
            `n_best=K`: one list per sentence of up to K dicts `{"tags": [...], "prob": p}`,
            best first (fewer when the sentence has fewer possible sequences).

        Raises:
            TextlstmError: `sentences` of the wrong type or not valid Unicode text (a lone
                surrogate), `n_best` or `batch_size` outside the range `textlstm.schema`
                declares (`tag.n_best`, `decode.batch_size`: the CLI's caps).
        """
        n_best = check_declared("n_best", n_best, "tag.n_best", allow_none=False)
        batch_size = check_declared("batch_size", batch_size, "decode.batch_size", TAGGER)
        parsed = _sentences(sentences)
        if n_best == 1:
            return [list(tags) for tags in self.tag_sentences(parsed, batch_size)]
        return [
            [{"tags": list(tags), "prob": prob} for tags, prob in paths]
            for paths in self.nbest_sentences(parsed, n_best, batch_size)
        ]

    def tag_file(self, input_path=None, input_format="auto", output_format=None, batch_size=None, n_best=1):
        """Tag a CoNLL-U, CoNLL-columns or plain-text file (stdin for None or "-"); returns the
        output text in `output_format` ("conllu", "conll", "jsonl"; default: the input's).
        This is what `textlstm tag` prints. `input_format` is "auto", "conllu", "conll" or "plain".

        Raises:
            TextlstmError: an unreadable input, a format or `n_best`/`batch_size` outside what
                `textlstm.schema` declares (`tag.input_format`, `tag.output_format`, ...).
        """
        from textlstm.tagger.tag import tag_text

        if input_path is not None:
            check_path("input_path", input_path)
        check_declared("input_format", input_format, "tag.input_format", allow_none=False)
        check_declared("output_format", output_format, "tag.output_format")
        n_best = check_declared("n_best", n_best, "tag.n_best", allow_none=False)
        batch_size = check_declared("batch_size", batch_size, "decode.batch_size", TAGGER)
        return tag_text(self, input_path, input_format, output_format, batch_size, n_best=n_best)

    def evaluate(self, path, batch_size=None, warn=None):
        """Tag a tagged file (read like the training file) and compare with its tags.

        Returns:
            dict with "sentences", "tokens", "accuracy" (token accuracy in [0, 1]),
            "per_tag" (a text table), "predicted" (the tag lists) and, for entity tags,
            "spans" (precision, recall, F1 per type and micro, conlleval semantics) and
            "report" (its table).

        `warn(message)` gets the warning about gold tags the model cannot predict (default: stderr).

        Raises:
            TextlstmError: unreadable file, wrong columns, a tag the model cannot predict.
        """
        from textlstm.tagger.evaluate import evaluate_tagger

        check_path("path", path)
        batch_size = check_declared("batch_size", batch_size, "decode.batch_size", TAGGER)
        return evaluate_tagger(self, path, batch_size, warn=warn)

    @staticmethod
    def evaluation_report(metrics):
        """The per-tag table, the entity table (entity tags) and the totals `textlstm evaluate` prints."""
        text = metrics["per_tag"]
        if "report" in metrics:
            text += "\n\nentities (exact span match, conlleval semantics):\n" + metrics["report"]
        return (
            text
            + f"\n\nsentences: {metrics['sentences']:,}  tokens: {metrics['tokens']:,}  "
            + f"token accuracy: {metrics['accuracy']:.4f}"
            + (f"  span F1: {metrics['spans']['micro']['f1']:.4f}" if "spans" in metrics else "")
        )

    # --- what `tag`, `tag_file` and `evaluate` share: `conll.Sentence` lists in, tags out -------

    def tag_sentences(self, sentences, batch_size=None, progress=None):
        """Tag strings per `conll.Sentence`, in the scheme of the training file for entity tags.
        `progress(done, total)` is called after each batch of chunks."""
        from textlstm.tagger.tag import predict_tags

        batch_size = self._batch_size(batch_size)
        ids = predict_tags(
            self.predictor, sentences, self.vocabs, self.recipe["data"], batch_size, progress, self.charlm
        )
        return [self.tag_strings(row) for row in ids]

    def nbest_sentences(self, sentences, k, batch_size=None, progress=None):
        """For each `conll.Sentence`, up to `k` pairs `(tag strings, probability)`, best first, the
        tag strings distinct (internal sequences giving the same ones are merged; see `nbest`)."""
        from textlstm.tagger.nbest import distinct_nbest, make_scorer

        batch_size = self._batch_size(batch_size)
        if k < 1:
            raise UserError(f"--n-best must be at least 1, got {k}")
        if self._scorer is None:
            self._scorer = make_scorer(self.model, self.charlm)
        return distinct_nbest(
            *self._scorer, sentences, self.vocabs, self.recipe["data"], batch_size, k, self.tag_strings, self.charlm
        )

    def tag_strings(self, tag_ids):
        """Tag ids of one sentence as tag strings in the training file's scheme."""
        from textlstm.tagger.tag import to_file_scheme

        return to_file_scheme(self.vocabs[2].decode(tag_ids), self.tagset)

    def _batch_size(self, batch_size):
        if batch_size is None:
            return self.recipe["decode"]["batch_size"]
        if batch_size < 1:  # `tag` and `evaluate` both pass --batch-size here
            raise UserError(f"--batch-size must be at least 1, got {batch_size}")
        return batch_size

    # --- summary, serving, export ------------------------------------------------------------

    def vocab_sizes(self):
        """`{"words", "chars", "tags"}`: entries of each vocabulary (padding and unknown included)."""
        return {name: len(vocab) for name, vocab in zip(("words", "chars", "tags"), self.vocabs)}

    def serving_fields(self):
        """The tags it predicts (`textlstm serve`'s model list shows them)."""
        return {"tags": self.tags}

    def check_exportable(self, format):
        """A tagger with char-LM features is refused: its signature would need the LMs' text encoding."""
        if self.recipe["model"]["charlm"]:
            raise TextlstmError(
                f"{self.run_dir}: a tagger with char-LM features (model.charlm) cannot be exported yet; "
                "tag with textlstm tag or textlstm.load instead"
            )
