"""`Tagger`: a trained sequence tagger (BiLSTM-CRF), loaded once, ready to tag plain lists."""

from textlstm.api.checks import check_declared, check_path, check_str
from textlstm.errors import TextlstmError


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


class Tagger:
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

    kind = "tagger"

    def __init__(self, run_dir, checkpoint=None):
        from textlstm.tagger.tag import TaggerRun

        check_path("run_dir", run_dir)
        self._run = TaggerRun.load(run_dir, checkpoint)
        self.run_dir = self._run.run.path
        self.recipe = self._run.recipe
        self.model = self._run.model

    def __repr__(self):
        return f"Tagger({str(self.run_dir)!r}, tags={len(self._run.vocabs[2]) - 1})"

    @property
    def tags(self):
        """The tags the model can predict (in the training file's scheme for entity tags)."""
        return [tag for tag in self._run.vocabs[2].items[1:]]

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
        batch_size = check_declared("batch_size", batch_size, "decode.batch_size", "tagger")
        parsed = _sentences(sentences)
        if n_best == 1:
            return [list(tags) for tags in self._run.tag(parsed, batch_size)]
        return [
            [{"tags": list(tags), "prob": prob} for tags, prob in paths]
            for paths in self._run.tag_nbest(parsed, n_best, batch_size)
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
        batch_size = check_declared("batch_size", batch_size, "decode.batch_size", "tagger")
        return tag_text(
            self.run_dir, input_path, input_format, output_format, batch_size, n_best=n_best, tagger=self._run
        )

    def evaluate(self, path, batch_size=None):
        """Tag a tagged file (read like the training file) and compare with its tags.

        Returns:
            dict with "sentences", "tokens", "accuracy" (token accuracy in [0, 1]),
            "per_tag" (a text table), "predicted" (the tag lists) and, for entity tags,
            "spans" (precision, recall, F1 per type and micro, conlleval semantics) and
            "report" (its table).

        Raises:
            TextlstmError: unreadable file, wrong columns, a tag the model cannot predict.
        """
        from textlstm.tagger.evaluate import evaluate_tagger

        check_path("path", path)
        batch_size = check_declared("batch_size", batch_size, "decode.batch_size", "tagger")
        return evaluate_tagger(self.run_dir, path, batch_size, tagger=self._run)
