import json

import pytest

from textlstm.errors import UserError
from textlstm.tagger import conll

CONLLU = (
    "# newdoc id = doc1\n"
    "# sent_id = 1\n"
    "# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\tCase=Nom|Number=Sing|Person=1\t4\tnsubj\t4:nsubj\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\tMood=Ind|Tense=Pres\t4\taux\t4:aux\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\t_\n"
    "4\tknow\tknow\tVERB\tVB\tVerbForm=Inf\t0\troot\t0:root\tSpaceAfter=No\n"
    "4.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t4:conj\tCopyOf=4\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_\n"
    "\n"
    "# sent_id = 2\n"
    "1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t0:root\t_\n"
    "\n"
)


def write(tmp_path, text, name="input.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_conllu_skips_ranges_and_empty_nodes(tmp_path):
    sentences = conll.read_conllu(write(tmp_path, CONLLU))
    assert [s.tokens for s in sentences] == [["I", "do", "n't", "know", "."], ["Yes"]]
    assert sentences[0].tags == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert sentences[0].line_numbers == [4, 6, 7, 8, 10]
    assert sentences[0].comments[0] == "# newdoc id = doc1"
    xpos = conll.read_conllu(write(tmp_path, CONLLU), column="xpos")
    assert xpos[0].tags == ["PRP", "VBP", "RB", "VB", "."]
    number = conll.read_conllu(write(tmp_path, CONLLU), column="feats:Number")
    assert number[0].tags == ["Sing", "_", "_", "_", "_"]


def test_write_conllu_changes_only_the_chosen_column(tmp_path):
    sentences = conll.read_conllu(write(tmp_path, CONLLU))
    same = conll.write_conllu(sentences, [s.tags for s in sentences], "upos")
    assert same == CONLLU
    predicted = [["X"] * len(s.tokens) for s in sentences]
    out = conll.write_conllu(sentences, predicted, "upos").split("\n")
    original = CONLLU.split("\n")
    changed = [i for i, (a, b) in enumerate(zip(original, out)) if a != b]
    assert changed == [3, 5, 6, 7, 9, 12]
    for index in changed:
        before, after = original[index].split("\t"), out[index].split("\t")
        assert after[3] == "X" and after[:3] + after[4:] == before[:3] + before[4:]


def test_write_conllu_features(tmp_path):
    sentences = conll.read_conllu(write(tmp_path, CONLLU), column="feats:Number")
    predicted = [["_", "Plur", "_", "_", "_"], ["Sing"]]
    lines = conll.write_conllu(sentences, predicted, "feats:Number").split("\n")
    assert lines[3].split("\t")[5] == "Case=Nom|Person=1"
    assert lines[5].split("\t")[5] == "Mood=Ind|Number=Plur|Tense=Pres"
    assert lines[12].split("\t")[5] == "Number=Sing"


def test_write_conllu_from_plain_text():
    sentences = conll.read_plain("a b\n")
    text = conll.write_conllu(sentences, [["DET", "NOUN"]], "upos")
    assert text == "1\ta\t_\tDET\t_\t_\t_\t_\t_\t_\n2\tb\t_\tNOUN\t_\t_\t_\t_\t_\t_\n\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("1\tI\tI\tPRON\n", r"input.txt:1: expected 10 tab-separated columns, found 4"),
        ("# c\n\nx\tI\t_\t_\t_\t_\t_\t_\t_\t_\n", r"input.txt:3: expected a word ID"),
        ("", r"input.txt: file is empty"),
        ("# only a comment\n", r"input.txt: no sentences found"),
    ],
)
def test_read_conllu_errors(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        conll.read_conllu(write(tmp_path, text))


def test_read_errors_for_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(UserError, match="no such file: .*missing.conllu"):
        conll.read_conllu(tmp_path / "missing.conllu")
    path = tmp_path / "latin1.conll"
    path.write_bytes(b"a\tO\n\ncaf\xe9\tO\n")
    with pytest.raises(UserError, match=r"latin1.conll:3: not valid UTF-8"):
        conll.read_conll(path)
    with pytest.raises(UserError, match="unknown CoNLL-U tag column 'lemma'"):
        conll.read_conllu(write(tmp_path, CONLLU), column="lemma")


def test_read_conll_handles_separator_quirks(tmp_path):
    # WNUT-17: a lone TAB separates sentences; BTC: an empty token "<TAB>O", a lone space
    text = "@user\tO\nParis\tB-location\n\t\nNew\tB-creative-work\n\tO\n \nok\tO\n"
    sentences = conll.read_conll(write(tmp_path, text))
    assert [s.tokens for s in sentences] == [["@user", "Paris"], ["New", ""], ["ok"]]
    assert sentences[1].tags == ["B-creative-work", "O"]
    assert sentences[1].line_numbers == [4, 5]
    assert conll.write_conll(sentences, [s.tags for s in sentences]) == text  # line for line


def test_read_conll_columns_and_docstart(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    path = write(tmp_path, text)
    sentences = conll.read_conll(path)
    assert [s.tokens for s in sentences] == [["EU", "rejects"], ["Peter"]]
    assert sentences[0].tags == ["B-ORG", "O"]
    chunks = conll.read_conll(path, tag_column=2)
    assert chunks[0].tags == ["B-NP", "B-VP"]
    written = conll.write_conll(sentences, [["O", "O"], ["B-PER"]])
    assert written == "-DOCSTART- -X- -X- O\n\nEU NNP B-NP O\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    untagged = conll.read_conll(path, tag_column=None)
    assert untagged[0].tags is None
    appended = conll.write_conll(untagged, [["T", "T"], ["T"]])
    assert appended.startswith("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG T\n")


def test_read_conll_errors(tmp_path):
    path = write(tmp_path, "a\tO\nb\tO\n\nc\tO\tX\n")
    with pytest.raises(UserError, match=r"input.txt:4: expected 2 columns .* found 3"):
        conll.read_conll(path)
    with pytest.raises(UserError, match="tag column 5 does not exist"):
        conll.read_conll(write(tmp_path, "a\tO\n"), tag_column=5)
    with pytest.raises(UserError, match="the tag column is the token column"):
        conll.read_conll(write(tmp_path, "a\nb\n"))
    with pytest.raises(UserError, match=r"input.txt:2: empty tag in column 1"):
        conll.read_conll(write(tmp_path, "a\tO\nb\t\n"))
    with pytest.raises(UserError, match="file is empty"):
        conll.read_conll(write(tmp_path, "\n \n"))
    with pytest.raises(UserError, match="no sentences found"):
        conll.read_conll(write(tmp_path, "-DOCSTART- O\n\n"))


def test_read_plain_keeps_empty_lines():
    sentences = conll.read_plain("Hello world !\n\n  one  \n")
    assert [s.tokens for s in sentences] == [["Hello", "world", "!"], [], ["one"]]
    assert sentences[2].line_numbers == [3]
    assert conll.read_plain("") == []
    written = conll.write_conll(sentences, [["A", "B", "C"], [], ["D"]])
    assert written == "Hello\tA\nworld\tB\n!\tC\n\n\none\tD\n\n"


def test_write_jsonl():
    sentences = conll.read_plain("café au lait\n\n")
    lines = conll.write_jsonl(sentences, [["N", "P", "N"], []]).splitlines()
    assert json.loads(lines[0]) == {"tokens": ["café", "au", "lait"], "tags": ["N", "P", "N"]}
    assert json.loads(lines[1]) == {"tokens": [], "tags": []}
    assert "café" in lines[0]
    with pytest.raises(ValueError, match="3 tokens but 2 tags"):
        conll.write_jsonl(sentences, [["N", "P"], []])


def test_detect_format(tmp_path):
    assert conll.detect_format(CONLLU) == "conllu"
    assert conll.detect_format(write(tmp_path, CONLLU, "x.conllu")) == "conllu"
    assert conll.detect_format(str(tmp_path / "x.conllu")) == "conllu"
    assert conll.detect_format("a\tO\nb\tB-X\n\nc\tO\n") == "conll"
    assert conll.detect_format("EU NNP B-ORG\nrejects VBZ O\n\nit PRP O\n") == "conll"
    assert conll.detect_format("-DOCSTART- O\n\nx O\n") == "conll"
    assert conll.detect_format("This is a sentence .\nAnd another one\n") == "plain"
    assert conll.detect_format("") == "plain"


@pytest.mark.data
def test_ud_english_ewt_dev_reads_and_writes_back_unchanged(shared_data):
    path = shared_data / "ud-english-ewt" / "en_ewt-ud-dev.conllu"
    sentences = conll.read_conllu(path)
    assert len(sentences) == 2001
    assert sum(len(s) for s in sentences) == 25147
    assert len({tag for s in sentences for tag in s.tags}) == 17
    written = conll.write_conllu(sentences, [s.tags for s in sentences], "upos")
    assert written == path.read_text(encoding="utf-8")
    assert conll.detect_format(path) == "conllu"


@pytest.mark.data
@pytest.mark.parametrize(
    "parts, count, tokens",
    [
        (("wnut17", "wnut17train.conll"), 3394, 62730),
        (("wnut17", "emerging.dev.conll"), 1009, 15733),
        (("broad-twitter-corpus", "btc.dev"), 1001, 15027),
    ],
)
def test_shared_conll_corpora_match_their_readme_counts(shared_data, parts, count, tokens):
    path = shared_data.joinpath(*parts)
    sentences = conll.read_conll(path)
    assert len(sentences) == count
    assert sum(len(s) for s in sentences) == tokens
    assert conll.detect_format(path) == "conll"
