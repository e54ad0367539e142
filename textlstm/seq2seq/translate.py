"""Batched, compiled translation whose result for a sentence never depends on its batch.

Sentences are grouped by their source length rounded up to a multiple of `LENGTH_STEP`
and a batch only ever holds sentences of one group, so a sentence is always padded to
the same length: every sum over source positions (the attention softmax) then adds the
same numbers in the same order. A batch of one sentence gets a copy of it as a second
row, because the CPU matmul takes another code path (with other rounding) for a single
row. Together with the per-row decisions of `textlstm.decoding.beam_search`, a sentence
gets the same translation whatever the batch size and whatever else is in its batch.
Results come back in input order; an empty line gives an empty translation. `translate_lines`
does it for text (`textlstm.api.Translator`, the family's class, calls it with its model).
"""

import collections

import numpy as np
import tensorflow as tf

from textlstm.decoding import beam_search
from textlstm.decoding.samplers import compiled
from textlstm.families import SEQ2SEQ
from textlstm.schema import check_argument, check_n_best
from textlstm.seq2seq.data import pad
from textlstm.seq2seq.subwords import BOS_ID, EOS_ID, UNK_ID

KIND = SEQ2SEQ  # re-exported for seq2seq/train.py and the translate command
LENGTH_STEP = 8  # source lengths are padded to a multiple of this

Hypothesis = collections.namedtuple("Hypothesis", "text score alignment")


def _groups(lengths, batch_size):
    """Index batches: same padded length within a batch, input order within a group."""
    by_length = collections.defaultdict(list)
    for index, length in enumerate(lengths):
        by_length[-(-length // LENGTH_STEP) * LENGTH_STEP].append(index)
    for padded in sorted(by_length):
        members = by_length[padded]
        for start in range(0, len(members), batch_size):
            yield padded, members[start : start + batch_size]


def check_options(
    beam_size=None, n_best=None, max_length=None, batch_size=None, length_penalty=None, beam_size_given=True
):
    """Refuse impossible decoding options in one line naming the parameter (the CLI shows its
    option: `ParameterError`); options left as None are not checked. `beam_size_given` False: the
    beam size is the run's own (`schema.check_n_best` says so)."""
    for name, value in (
        ("beam_size", beam_size),
        ("max_length", max_length),
        ("batch_size", batch_size),
        ("n_best", n_best),
        ("length_penalty", length_penalty),
    ):
        if value is not None:  # ranges declared in textlstm.settings (finite, bounded)
            check_argument(name, value, f"decode.{name}", KIND)
    if beam_size is not None and n_best is not None:
        check_n_best(n_best, beam_size, beam_size_given=beam_size_given)


def translate_ids(
    model, sources, beam_size=1, length_penalty=0.0, max_length=100, n_best=1, batch_size=32, with_attention=False
):
    """Decode non-empty source id lists; for each, `n_best` tuples `(ids, score, attention or None)`."""
    check_options(beam_size, n_best, max_length, batch_size)
    encode = compiled(("encode", model.encode), lambda: tf.function(model.encode, reduce_retracing=True))
    step = model.decode_step_with_attention if with_attention else model.decode_step
    results = [None] * len(sources)
    for padded, members in _groups([len(s) for s in sources], batch_size):
        rows = [sources[i] for i in members]
        if len(rows) == 1:
            rows = rows * 2  # see the module docstring
        state, memory = encode(tf.constant(pad(rows, padded)))
        outputs = beam_search(
            step,
            state,
            len(rows),
            BOS_ID,
            EOS_ID,
            beam_size,
            max_length,
            length_penalty,
            n_best,
            constants=memory,
            with_extras=with_attention,
        )
        tokens, scores, lengths = (np.asarray(t) for t in outputs[:3])
        attention = np.asarray(outputs[3]) if with_attention else None
        for row, index in enumerate(members):
            results[index] = [
                (
                    tokens[row, k, : lengths[row, k]].tolist(),
                    float(scores[row, k]),
                    attention[row, k, : lengths[row, k], : len(sources[index])] if with_attention else None,
                )
                for k in range(n_best)
            ]
    return results


def _word_index(pieces):
    """Word number of each subword piece (a piece starting with ▁ starts a new word)."""
    index, words = -1, []
    for piece in pieces:
        if piece.startswith("\u2581") or index < 0:
            index += 1
        words.append(index)
    return words


def word_alignment(source_pieces, target_pieces, attention):
    """Pharaoh-style "i-j" pairs: each target word's subwords linked to their most attended source word."""
    source_words, target_words = _word_index(source_pieces), _word_index(target_pieces)
    links = {(source_words[int(np.argmax(attention[t]))], target_words[t]) for t in range(len(target_pieces))}
    return " ".join(f"{i}-{j}" for i, j in sorted(links, key=lambda link: (link[1], link[0])))


def translate_lines(
    model,
    subwords,
    decode,
    lines,
    beam_size=None,
    length_penalty=None,
    max_length=None,
    n_best=None,
    batch_size=None,
    alignments=False,
    warn=print,
):
    """For each line, its `n_best` hypotheses (`Hypothesis(text, score, alignment)`), best first.

    `model` and `subwords` are a run's (`textlstm.api.Translator` holds them); options left as
    None come from `decode`, the recipe's `[decode]`. Lines longer than `decode.max_source_length`
    subwords are cut, with a warning through `warn(message)`.
    """
    beam_size_given = beam_size is not None
    beam_size = decode["beam_size"] if beam_size is None else beam_size
    n_best = decode["n_best"] if n_best is None else n_best
    options = dict(
        beam_size=beam_size,
        n_best=n_best,
        length_penalty=decode["length_penalty"] if length_penalty is None else length_penalty,
        max_length=decode["max_length"] if max_length is None else max_length,
        batch_size=decode["batch_size"] if batch_size is None else batch_size,
    )
    check_options(**options, beam_size_given=beam_size_given)
    cap = decode["max_source_length"]
    wanted = [i for i, line in enumerate(lines) if line.strip()]
    sources = subwords.encode_source([lines[i] for i in wanted])
    cut = sum(len(s) > cap for s in sources)
    if cut:
        warn(f"warning: {cut} input line(s) longer than {cap} subwords were cut to {cap} (decode.max_source_length)")
    sources = [s[:cap] for s in sources]
    decoded = (
        translate_ids(model, [s or [UNK_ID] for s in sources], with_attention=alignments, **options) if sources else []
    )
    results = [[Hypothesis("", 0.0, "" if alignments else None)] for _ in lines]
    for index, source, hypotheses in zip(wanted, sources, decoded):
        source_pieces = [subwords.source.id_to_piece(i) for i in source]
        results[index] = [
            Hypothesis(
                subwords.decode_target(ids),
                score,
                word_alignment(source_pieces, subwords.target_pieces(ids), attention)
                if alignments and ids and source
                else ("" if alignments else None),
            )
            for ids, score, attention in hypotheses
        ]
    empty = sum(not results[index][0].text.strip() for index in wanted)
    if empty:  # a model trained too little says nothing: say so instead of printing blank lines
        warn(
            f"warning: {empty} of {len(wanted)} input line(s) translated to an empty output; the model may be "
            f"trained too little (`textlstm checkpoints RUN_DIR` shows its dev BLEU by epoch)"
        )
    return results
