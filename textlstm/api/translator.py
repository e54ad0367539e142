"""`Translator`: a trained attention encoder-decoder, loaded once, ready to translate lines."""

import warnings

from textlstm.api.checks import check_declared, check_path, check_string_list
from textlstm.api.run_model import RunModel
from textlstm.errors import TextlstmError
from textlstm.families import SEQ2SEQ


def _check_decoding(**values):
    """Each decoding argument against the declaration of the `decode.*` key of its name."""
    for name, value in values.items():
        check_declared(name, value, f"decode.{name}", SEQ2SEQ)


def _warn(message):
    warnings.warn(message, UserWarning, stacklevel=4)


class Translator(RunModel):
    """A seq2seq run directory loaded for use from Python (what `textlstm.load` returns for it).

    Loading reads the best checkpoint (else the last), the SentencePiece models and the
    recipe; the object keeps its compiled encoder and beam-search loops, so a second call
    with batches of the same padded shapes does not trace again. Results do not depend on
    the batch size or on the other sentences of a call (see `textlstm.seq2seq.translate`).

    Args:
        run_dir: path of a run directory of kind "seq2seq".
        checkpoint: which model to load: None or "best" (default), "last", an epoch number
            or a path to a .keras file (`textlstm.checkpoints`).
        quantize: None (default: the weights as trained) or "int8": every recurrent, Dense and
            Embedding layer's weights quantized to int8 once loaded (`textlstm.layers.int8`).

    Raises:
        TextlstmError: missing, damaged or other-kind run directory, or one whose files do
            not fit together (`textlstm.runcheck`).

    Example:
        >>> translator = textlstm.load("runs/multi30k")
        >>> translator.translate(["A dog runs .", ""], beam_size=4)
        ['Ein Hund rennt .', '']

    Reference: Luong, Pham and Manning (2015), "Effective Approaches to Attention-based Neural
    Machine Translation"; Wu et al. (2016) for the length penalty.
    """

    kind = SEQ2SEQ
    endpoint = "translate"
    evaluate_inputs = ("source_path", "reference_path")
    evaluate_options = ("beam_size", "length_penalty")
    export_options = ("beam_size",)
    highlights = ("data.subword_model", "model.cell", "model.layers", "model.units", "model.attention")
    dev_metric = "val_bleu"

    def __init__(self, run_dir, checkpoint=None, quantize=None):
        from textlstm.seq2seq.subwords import Subwords

        run = self._open(run_dir)
        self.subwords = Subwords.load(run)  # the source and target SentencePiece models
        self.model = self._load_model(checkpoint, quantize)

    def __repr__(self):
        return f"Translator({str(self.run_dir)!r})"

    def hypotheses(
        self,
        sentences,
        beam_size=None,
        length_penalty=None,
        n_best=None,
        max_length=None,
        batch_size=None,
        alignments=False,
        warn=_warn,
    ):
        """For each sentence, its `n_best` hypotheses `Hypothesis(text, score, alignment)`, best
        first: `score` is the length-penalised log-probability, `alignment` "i-j" word pairs
        (with `alignments=True`, else None). Arguments as in `translate`; None: the recipe's.
        Warnings (inputs cut to `decode.max_source_length`) go to `warn(message)`."""
        check_string_list("sentences", sentences)
        _check_decoding(
            beam_size=beam_size,
            length_penalty=length_penalty,
            n_best=n_best,
            max_length=max_length,
            batch_size=batch_size,
        )
        if not callable(warn):
            raise TextlstmError(f"warn must be a function of one message, got {type(warn).__name__} {warn!r}")
        from textlstm.seq2seq.translate import translate_lines

        return translate_lines(
            self.model,
            self.subwords,
            self.recipe["decode"],
            list(sentences),
            beam_size=beam_size,
            length_penalty=length_penalty,
            max_length=max_length,
            n_best=n_best,
            batch_size=batch_size,
            alignments=bool(alignments),
            warn=warn,
        )

    def translate(self, sentences, beam_size=None, length_penalty=None, n_best=1, max_length=None, batch_size=None):
        """Translate sentences (detokenized text, one string each).

        Args:
            sentences: list of strings; an empty string gives an empty translation.
            beam_size: hypotheses kept per sentence, 1 = greedy (default: the recipe's).
            length_penalty: GNMT length penalty alpha >= 0 (default: the recipe's).
            n_best: 1 for the best translation only; K <= beam_size for the K best.
            max_length: most subwords generated per sentence (default: the recipe's).
            batch_size: sentences decoded together (default: the recipe's).

        Returns:
            `n_best=1`: one string per sentence. `n_best=K`: one list per sentence of K
            `(text, score)` pairs, best first (score: length-penalised log-probability).

        Raises:
            TextlstmError: wrong argument types, values outside the range `textlstm.schema`
                declares for the `decode.*` key of the same name (the CLI's caps), `n_best >
                beam_size`, a sentence that is not valid Unicode text (a lone surrogate).
        """
        results = self.hypotheses(sentences, beam_size, length_penalty, n_best, max_length, batch_size)
        if (n_best or 1) == 1:
            return [hypotheses[0].text for hypotheses in results]
        return [[(h.text, h.score) for h in hypotheses] for hypotheses in results]

    def evaluate(self, source_path, reference_path, beam_size=None, length_penalty=None, batch_size=None, warn=_warn):
        """Translate a source file and score it against line-aligned references.

        Returns:
            dict with "bleu" (sacreBLEU, 0-100, detokenized cased text), "bleu_lc" (the same
            lowercased: sacreBLEU's -lc, as published Multi30k figures are) and "chrf", their
            signatures "bleu_signature"/"bleu_lc_signature"/"chrf_signature", "bleu_detail",
            "bleu_lc_detail" and "sentences".

        Raises:
            TextlstmError: unreadable files, or files of different line counts.
        """
        from textlstm.seq2seq.evaluate import evaluate_seq2seq

        check_path("source_path", source_path)
        check_path("reference_path", reference_path)
        _check_decoding(beam_size=beam_size, length_penalty=length_penalty, batch_size=batch_size)
        return evaluate_seq2seq(
            self,
            source_path,
            reference_path,
            beam_size=beam_size,
            length_penalty=length_penalty,
            batch_size=batch_size,
            warn=warn,
        )

    @staticmethod
    def evaluation_report(metrics):
        """The scores and sacreBLEU's signatures `textlstm evaluate` prints."""
        return (
            f"sentences: {metrics['sentences']:,}  BLEU: {metrics['bleu']:.2f}  chrF: {metrics['chrf']:.2f}  "
            f"lowercased BLEU: {metrics['bleu_lc']:.2f}\n"
            f"cased: {metrics['bleu_detail']}\nlowercased: {metrics['bleu_lc_detail']}\n"
            f"BLEU signature: {metrics['bleu_signature']}\nlowercased BLEU signature: "
            f"{metrics['bleu_lc_signature']}\nchrF signature: {metrics['chrf_signature']}"
        )

    def vocab_sizes(self):
        """`{"source", "target"}`: pieces of each SentencePiece model."""
        return {"source": self.subwords.source_vocab_size, "target": self.subwords.target_vocab_size}
