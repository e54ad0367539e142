"""BLEU and chrF with sacreBLEU, the field's reference implementation, on detokenized text."""

import sacrebleu

from textlstm.errors import UserError
from textlstm.textio import read_lines


def corpus_bleu(hypotheses, references):
    """sacreBLEU corpus BLEU (13a tokenization, cased) of detokenized lines."""
    return sacrebleu.metrics.BLEU().corpus_score(hypotheses, [references])


def score_translations(hypotheses, references):
    """Scores of line-aligned detokenized lists, all sacreBLEU's (0-100):

    "bleu" (cased, 13a tokenization: the WMT convention), "bleu_lc" (the same lowercased,
    sacreBLEU's `-lc`: the convention of published Multi30k figures, which are lowercased),
    "chrf", with "bleu_detail", "bleu_lc_detail", "bleu_signature", "bleu_lc_signature",
    "chrf_signature" and "sentences".
    """
    bleu, bleu_lc, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.BLEU(lowercase=True), sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    bleu_lc_score = bleu_lc.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": bleu_score.score,
        "bleu_detail": str(bleu_score),
        "bleu_lc": bleu_lc_score.score,
        "bleu_lc_detail": str(bleu_lc_score),
        "chrf": chrf_score.score,
        "bleu_signature": str(bleu.get_signature()),
        "bleu_lc_signature": str(bleu_lc.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hypotheses),
    }


def evaluate_seq2seq(
    translator,
    source_path,
    reference_path,
    beam_size=None,
    length_penalty=None,
    batch_size=None,
    warn=print,
):
    """Translate `source_path` with a loaded translator (`textlstm.api.Translator`) and score it
    against `reference_path` (`score_translations`)."""
    sources, references = read_lines(source_path), read_lines(reference_path)
    if len(sources) != len(references):
        raise UserError(
            f"{source_path} has {len(sources):,} lines but {reference_path} has "
            f"{len(references):,}; source and reference must be line-aligned"
        )
    results = translator.hypotheses(
        sources, beam_size=beam_size, length_penalty=length_penalty, batch_size=batch_size, n_best=1, warn=warn
    )
    return score_translations([r[0].text for r in results], references)
