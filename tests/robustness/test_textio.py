import io
import sys

import pytest

from textlstm.errors import UserError
from textlstm.textio import open_text_stream, read_lines, read_text_file, read_text_sources


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_reads_utf8_strips_bom_and_normalises_crlf(tmp_path):
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfh\xc3\xa9llo\r\nworld\r\n")
    assert read_text_file(path) == "héllo\nworld\n"


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file: .*nope.txt"):
        read_text_file(tmp_path / "nope.txt")


def test_directory_where_file_expected(tmp_path):
    with pytest.raises(UserError, match="is a directory, expected a text file"):
        read_text_file(tmp_path)


@pytest.mark.parametrize("data", [b"", b" \n\t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path, data):
    path = write(tmp_path / "e.txt", data)
    with pytest.raises(UserError, match=r"e\.txt is empty"):
        read_text_file(path)


def test_nul_byte_is_binary(tmp_path):
    path = write(tmp_path / "b.bin", b"abc\x00def")
    with pytest.raises(
        UserError,
        match=r"b\.bin looks like a binary file \(NUL byte at offset 3\), "
        r"not text",
    ):
        read_text_file(path)


def test_invalid_utf8_names_byte_and_offset(tmp_path):
    path = write(tmp_path / "l.txt", b"ok\ncaf\xe9\n")
    with pytest.raises(
        UserError,
        match=r"l\.txt is not valid UTF-8 \(byte 0xe9 at offset 6, "
        r"line 2\)",
    ):
        read_text_file(path)


def test_truncated_utf8_sequence_at_end(tmp_path):
    path = write(tmp_path / "t.txt", b"ab\xe2\x82")
    with pytest.raises(UserError, match=r"byte 0xe2 at offset 2"):
        read_text_file(path)


def test_utf16_gets_its_own_message(tmp_path):
    path = write(tmp_path / "w.txt", "hi\n".encode("utf-16"))
    with pytest.raises(UserError, match="UTF-16"):
        read_text_file(path)


def test_read_lines(tmp_path):
    path = write(tmp_path / "l.txt", "a b\r\nc\x0cd\u2028e\n\nf")
    assert read_lines(path) == ["a b", "c\x0cd\u2028e", "", "f"]
    assert read_lines(write(tmp_path / "n.txt", "x\n")) == ["x"]


def test_read_lines_empty(tmp_path):
    path = write(tmp_path / "e.txt", b"")
    with pytest.raises(UserError, match="is empty"):
        read_lines(path)
    assert read_lines(path, allow_empty=True) == []
    with pytest.raises(UserError, match="not valid UTF-8"):
        read_lines(write(tmp_path / "bad.txt", b"\xff"), allow_empty=True)


def test_read_text_sources_files_and_directories(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "b.txt", "bee")
    write(corpus / "a" / "z.txt", "zed")
    write(corpus / "a-b.txt", "dash")
    write(corpus / ".hidden.txt", "no")
    write(corpus / ".git" / "config", "no")
    write(corpus / "a" / ".cache" / "x.txt", "no")
    single = write(tmp_path / "one.txt", "one")
    sources = read_text_sources([str(single), str(corpus)])
    assert sources == [
        (str(single), "one"),
        (str(corpus / "a" / "z.txt"), "zed"),
        (str(corpus / "a-b.txt"), "dash"),
        (str(corpus / "b.txt"), "bee"),
    ]
    assert read_text_sources(str(single)) == [(str(single), "one")]


def test_read_text_sources_errors(tmp_path):
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    write(tmp_path / "empty" / ".dotfile", "x")
    with pytest.raises(UserError, match=r"empty holds no text files"):
        read_text_sources([str(tmp_path / "empty")])
    write(tmp_path / "d" / "good.txt", "fine")
    write(tmp_path / "d" / "bad.bin", b"\x00")
    with pytest.raises(UserError, match=r"bad\.bin looks like a binary file"):
        read_text_sources([str(tmp_path / "d")])
    with pytest.raises(UserError, match="no such file: .*missing"):
        read_text_sources([str(tmp_path / "missing")])
    with pytest.raises(UserError, match="no text files given"):
        read_text_sources([])


def test_open_text_stream_file_and_stdin(tmp_path, monkeypatch):
    path = write(tmp_path / "p.txt", "prompt\r\n")
    assert open_text_stream(str(path)) == "prompt\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("héllo\r\n".encode())))
    assert open_text_stream("-") == "héllo\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9")))
    with pytest.raises(UserError, match=r"<stdin> is not valid UTF-8 \(byte 0xe9 at offset 3"):
        open_text_stream("-")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(UserError, match="<stdin> is empty"):
        open_text_stream("-")
    monkeypatch.setattr(sys, "stdin", io.StringIO("text only\r\n"))
    assert open_text_stream("-") == "text only\n"


def test_byte_order_marks_are_dropped_everywhere(tmp_path):
    from textlstm.tagger.conll import read_text

    path = tmp_path / "two.txt"  # `cat a.txt b.txt` of two files saved with a BOM
    path.write_bytes(b"\xef\xbb\xbfone\n\xef\xbb\xbftwo\n")
    assert read_text_sources([str(path)]) == [(str(path), "one\ntwo\n")]
    assert read_text(path) == "one\ntwo\n"


def test_empty_input_is_recognised(tmp_path):
    from textlstm.textio import empty_input_note, is_empty_input

    assert is_empty_input(write(tmp_path / "e.txt", "\ufeff \n"))
    assert not is_empty_input(write(tmp_path / "f.txt", "x"))
    assert not is_empty_input(tmp_path / "missing.txt") and not is_empty_input("-")
    assert empty_input_note("e.txt", "tag") == "note: e.txt is empty; nothing to tag"


def test_a_missing_input_has_one_wording_in_every_reader(tmp_path):
    """`tag`/`evaluate` (CoNLL reader) and `translate`/`generate` (text reader) say the same words."""
    from textlstm.tagger import conll
    from textlstm.textio import check_input_path, open_text_stream

    missing = tmp_path / "missing.conllu"
    messages = set()
    for read in (conll.read_conllu, open_text_stream, read_text_file, check_input_path):
        with pytest.raises(UserError) as error:
            read(missing)
        messages.add(str(error.value))
    assert messages == {f"no such file: {missing}"}


def test_check_input_path_allows_directories_only_when_asked(tmp_path):
    from textlstm.textio import check_input_path

    assert check_input_path(tmp_path, directory_ok=True) == tmp_path
    with pytest.raises(UserError, match="is a directory, expected a text file"):
        check_input_path(tmp_path)
