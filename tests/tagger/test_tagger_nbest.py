"""n-best tag sequences: internal sequences that read back as one output sequence are merged."""

import pytest

from textlstm.tagger import schemes
from textlstm.tagger.nbest import merge_outputs

TAGS = ["<pad>", "O", "B-person", "I-person", "E-person", "S-person"]


def _to_iob2(ids):
    return schemes.convert([TAGS[i] for i in ids], "BIOES", "IOB2")


def test_sequences_with_the_same_output_are_merged_and_summed():
    # "Anna sings" in BIOES: S-person O and the ill-formed B-person O both read as B-person O
    paths = [([1, 1], 0.50), ([5, 1], 0.089), ([2, 1], 0.081), ([5, 5], 0.07), ([4, 1], 0.06), ([1, 5], 0.02)]
    merged = merge_outputs(paths, _to_iob2, 3)
    assert [tags for tags, _ in merged] == [["O", "O"], ["B-person", "O"], ["B-person", "B-person"]]
    assert [prob for _, prob in merged] == pytest.approx([0.50, 0.089 + 0.081 + 0.06, 0.07])


def test_merging_re_sorts_and_keeps_fewer_when_fewer_outputs_exist():
    # two small internal probabilities that sum past a larger one move their output up
    paths = [([5, 1], 0.30), ([1, 5], 0.25), ([2, 1], 0.20), ([1, 1], 0.15)]
    merged = merge_outputs(paths, _to_iob2, 5)
    assert merged == [
        (["B-person", "O"], pytest.approx(0.50)),
        (["O", "B-person"], pytest.approx(0.25)),
        (["O", "O"], pytest.approx(0.15)),
    ]
    assert merge_outputs([([1, 1], 1.0)], _to_iob2, 1) == [(["O", "O"], 1.0)]
