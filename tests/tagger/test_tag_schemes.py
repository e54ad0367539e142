import random

import pytest

from textlstm.errors import UserError
from textlstm.tagger import schemes


def random_entities(rng, length, types=("PER", "LOC", "creative-work")):
    """Non-overlapping (type, start, end) spans over `length` positions, some touching."""
    entities, position = [], 0
    while position < length:
        if rng.random() < 0.4:
            end = min(length, position + rng.randint(1, 3))
            entities.append((rng.choice(types), position, end))
            position = end
        else:
            position += 1
    return entities


def test_split_tag_splits_on_the_first_hyphen_only():
    assert schemes.split_tag("B-creative-work") == ("B", "creative-work")
    assert schemes.split_tag("O") == ("O", None)
    for bad in ["PER", "B-", "X-PER", "BI-PER", "o"]:
        with pytest.raises(UserError, match="not an entity tag"):
            schemes.split_tag(bad)


def test_scheme_names_and_aliases():
    assert schemes.normalize_scheme("bio") == "IOB2"
    assert schemes.normalize_scheme("IOBES") == "BIOES"
    with pytest.raises(UserError, match="unknown tag scheme 'BILOU'"):
        schemes.normalize_scheme("BILOU")


def test_spans_read_ill_formed_sequences_like_conlleval():
    tags = ["O", "I-X", "I-X", "B-X", "E-Y", "S-Z", "B-creative-work", "I-creative-work", "I-W"]
    assert schemes.spans(tags) == [
        ("X", 1, 3),
        ("X", 3, 4),
        ("Y", 4, 5),
        ("Z", 5, 6),
        ("creative-work", 6, 8),
        ("W", 8, 9),
    ]
    assert schemes.spans([]) == []
    assert schemes.spans(["O", "O"]) == []
    assert schemes.spans(["B-X", "I-Y"]) == [("X", 0, 1), ("Y", 1, 2)]


def test_encode_each_scheme():
    entities = [("X", 0, 1), ("X", 1, 3), ("Y", 4, 5)]
    assert schemes.encode_spans(entities, 6, "IOB2") == ["B-X", "B-X", "I-X", "O", "B-Y", "O"]
    assert schemes.encode_spans(entities, 6, "IOB1") == ["I-X", "B-X", "I-X", "O", "I-Y", "O"]
    assert schemes.encode_spans(entities, 6, "BIOES") == ["S-X", "B-X", "E-X", "O", "S-Y", "O"]


def test_conversions_round_trip_and_keep_the_entities():
    rng = random.Random(3)
    for _ in range(200):
        length = rng.randint(0, 9)
        entities = random_entities(rng, length)
        iob2 = schemes.encode_spans(entities, length, "IOB2")
        for target in schemes.SCHEMES:
            converted = schemes.convert(iob2, "IOB2", target)
            assert schemes.validate(converted, target) == []
            assert schemes.spans(converted, target) == entities
            assert schemes.convert(converted, target, "IOB2") == iob2


def test_repair_fixes_ill_formed_sequences():
    assert schemes.repair(["O", "I-X", "I-X", "O", "B-Y", "I-Z"], "IOB2") == [
        "O",
        "B-X",
        "I-X",
        "O",
        "B-Y",
        "B-Z",
    ]
    assert schemes.repair(["B-X", "O", "I-Y", "E-Y", "B-Z"], "BIOES") == [
        "S-X",
        "O",
        "B-Y",
        "E-Y",
        "S-Z",
    ]
    assert schemes.repair(["B-X", "I-X", "O", "B-Y"], "IOB1") == ["I-X", "I-X", "O", "I-Y"]


def test_validate_reports_positions():
    assert schemes.validate(["O", "I-X", "O", "B-Y", "I-Z"], "IOB2") == [
        (1, "I-X does not follow B-X or I-X"),
        (4, "I-Z does not follow B-Z or I-Z"),
    ]
    problems = schemes.validate(["B-X", "O", "E-Y", "S-Z", "B-Z"], "BIOES")
    assert [position for position, _ in problems] == [0, 2, 4]
    assert schemes.validate(["O", "B-X", "O"], "IOB1") == [(1, "B-X in IOB1 must directly follow an entity of type X")]
    problems = schemes.validate(["S-X", "PER"], "IOB2")
    assert problems[0] == (0, "prefix S- is not used in IOB2")
    assert problems[1][0] == 1 and "not an entity tag" in problems[1][1]


def test_detect_scheme():
    assert schemes.detect_scheme([["B-X", "I-X", "O"], ["O", "B-Y"]]) == "IOB2"
    assert schemes.detect_scheme([["I-X", "I-X", "O"], ["I-X", "B-X"]]) == "IOB1"
    assert schemes.detect_scheme([["B-X", "E-X", "O", "S-Y"]]) == "BIOES"
    assert schemes.detect_scheme([["O", "O"], []]) == "IOB2"
    assert schemes.detect_scheme([["NOUN", "VERB"]]) is None
    # mostly IOB2 with one stray I- after O: still IOB2
    assert schemes.detect_scheme([["B-X", "O"], ["B-Y", "I-Y"], ["O", "I-X"]]) == "IOB2"


@pytest.mark.data
def test_wnut17_train_is_valid_iob2(shared_data):
    path = shared_data / "wnut17" / "wnut17train.conll"
    from textlstm.tagger.conll import read_conll

    sentences = read_conll(path)
    tag_seqs = [sentence.tags for sentence in sentences]
    assert schemes.detect_scheme(tag_seqs) == "IOB2"
    assert all(schemes.validate(tags, "IOB2") == [] for tags in tag_seqs)
    types = {entity_type for tags in tag_seqs for entity_type, _, _ in schemes.spans(tags)}
    assert "creative-work" in types and len(types) == 6


@pytest.mark.data
def test_wnut17_entities_survive_the_ner_recipes_bioes_training_data(shared_data):
    """Issue 14 (low WNUT-17 recall): the data side loses nothing. Read the way `train tagger -r
    tagger-ner` reads them, train (converted to BIOES) and dev (kept in IOB2) hold exactly the
    entities of the files (counts from shared/data/wnut17/README.md), and BIOES reads back as IOB2."""
    from textlstm.recipes import resolve_recipe, shipped_recipe
    from textlstm.tagger.conll import read_conll
    from textlstm.tagger.model import DEFAULTS
    from textlstm.tagger.train import load_training_data

    folder = shared_data / "wnut17"
    recipe = resolve_recipe(
        DEFAULTS,
        shipped_recipe("tagger-ner"),
        [f"data.train={folder / 'wnut17train.conll'}", f"data.dev={folder / 'emerging.dev.conll'}"],
    )
    train, dev, tagset = load_training_data(recipe)
    assert (tagset["file_scheme"], tagset["model_scheme"]) == ("IOB2", "BIOES")
    for sentences, name, sentence_count, count in (
        (train, "wnut17train.conll", 3394, 1975),
        (dev, "emerging.dev.conll", 1009, 836),
    ):
        original = read_conll(folder / name)
        assert len(sentences) == sentence_count  # a lone TAB line ends a sentence in train
        assert [s.tokens for s in sentences] == [s.tokens for s in original]  # whitespace separators included
        scheme = "BIOES" if sentences is train else "IOB2"
        assert all(schemes.validate(s.tags, scheme) == [] for s in sentences)
        read = [schemes.spans(s.tags, scheme) for s in sentences]
        assert read == [schemes.spans(s.tags) for s in original]
        assert sum(map(len, read)) == count
    assert [schemes.convert(s.tags, "BIOES", "IOB2") for s in train] == [
        s.tags for s in read_conll(folder / "wnut17train.conll")
    ]
