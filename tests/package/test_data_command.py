"""`textlstm data list|download|path` and `textlstm.datasets`: fetched over a loopback HTTP server that
serves files copied from ../shared/data (no other network), with TEXTLSTM_DATA_MIRROR and
TEXTLSTM_DATA_DIR pointing at it and at a temp cache."""

import hashlib
import http.server
import io
import re
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from support.cli import assert_one_error_line, invoke
from textlstm import datasets
from textlstm.datasets import CORPORA
from textlstm.datasets.unpack import gutenberg_text, split_points, unpack
from textlstm.errors import TextlstmError

WNUT17 = datasets.corpus("wnut17")
TRAIN = "wnut17train.conll"


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET with `Range: bytes=N-`; `server.cuts[path]` responses to `path` send half the body and close."""

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        file = server.root / self.path.lstrip("/")
        if not file.is_file():
            self.send_error(404)
            return
        data, start = file.read_bytes(), 0
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if asked and not server.ignore_range:
            start = int(asked.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cuts.get(self.path, 0) > 0:
            server.cuts[self.path] -= 1
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path, shared_data, monkeypatch):
    """A loopback server over a folder holding wnut17/ as the official host has it; the cache is tmp_path/cache."""
    root = tmp_path / "mirror"
    (root / "wnut17").mkdir(parents=True)
    for item in WNUT17.downloads:
        (root / "wnut17" / item.name).write_bytes((shared_data / "wnut17" / item.name).read_bytes())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.root, server.requests, server.cuts, server.ignore_range = root, [], {}, False
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("TEXTLSTM_DATA_MIRROR", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setenv("TEXTLSTM_DATA_DIR", str(tmp_path / "cache"))
    yield server
    server.shutdown()
    server.server_close()


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _leftovers(cache: Path):
    """Every file under the cache other than a downloaded corpus's own."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file() and "wnut17/" not in str(p))


@pytest.mark.data
def test_download_checks_files_and_path_prints_the_folder(mirror, tmp_path, shared_data):
    result = invoke("data", "download", "wnut17")
    assert result.exit_code == 0, result.output
    assert "CC BY 4.0" in result.stdout  # the licence is printed
    folder = tmp_path / "cache" / "wnut17"
    for name in (TRAIN, "emerging.dev.conll"):
        assert _sha256(folder / name) == _sha256(shared_data / "wnut17" / name)
    assert sorted(p.name for p in folder.iterdir()) == [".textlstm-data.json", "emerging.dev.conll", TRAIN]
    assert not (tmp_path / "cache" / ".downloads").exists()  # the staging folder is cleared
    result = invoke("data", "path", "wnut17")
    assert result.exit_code == 0 and result.stdout == f"{folder}\n"
    assert datasets.path("wnut17") == folder
    listing = invoke("data", "list")
    assert listing.exit_code == 0
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert set(rows) >= {entry.name for entry in CORPORA}
    assert re.search(r"\byes\b", rows["wnut17"]) and re.search(r"\bno\b", rows["btc"])
    assert "research/education only" in rows["multi30k"] and "CC BY-SA 4.0" in rows["ud-ewt"]


@pytest.mark.data
def test_a_second_download_reuses_the_cache_without_a_request(mirror):
    assert invoke("data", "download", "wnut17").exit_code == 0
    asked = len(mirror.requests)
    assert asked == 2
    result = invoke("data", "download", "wnut17")
    assert result.exit_code == 0 and "already downloaded" in result.stdout
    assert len(mirror.requests) == asked


@pytest.mark.data
def test_a_corrupted_file_is_refused_in_one_line_and_nothing_is_kept(mirror, tmp_path):
    served = mirror.root / "wnut17" / TRAIN
    data = bytearray(served.read_bytes())
    data[1000] ^= 1
    served.write_bytes(bytes(data))
    expected = next(item.sha256 for item in WNUT17.downloads if item.name == TRAIN)
    line = assert_one_error_line(
        invoke("data", "download", "wnut17"), TRAIN, expected, hashlib.sha256(data).hexdigest()
    )
    assert "checksum mismatch" in line
    cache = tmp_path / "cache"
    assert not (cache / "wnut17").exists()
    assert not [p for p in cache.rglob("*") if p.is_file()]  # no .part, no half-built folder
    assert_one_error_line(invoke("data", "path", "wnut17"), "textlstm data download wnut17")


@pytest.mark.data
def test_a_download_cut_off_half_way_resumes_with_range(mirror, shared_data):
    path = f"/wnut17/{TRAIN}"
    mirror.cuts[path] = 1
    result = invoke("data", "download", "wnut17")
    assert result.exit_code == 0, result.output
    asks = [asked for requested, asked in mirror.requests if requested == path]
    size = (shared_data / "wnut17" / TRAIN).stat().st_size
    assert asks == [None, f"bytes={size // 2}-"]
    assert _sha256(datasets.path("wnut17") / TRAIN) == _sha256(shared_data / "wnut17" / TRAIN)


@pytest.mark.data
def test_a_network_failure_is_one_line_keeps_the_part_and_the_next_call_resumes(mirror, tmp_path, shared_data):
    path = f"/wnut17/{TRAIN}"
    mirror.cuts[path] = 99  # every response is cut: each try brings half of what is left, then it gives up
    line = assert_one_error_line(invoke("data", "download", "wnut17"), f"cannot download {mirror_url(mirror)}{path}")
    assert "closed after" in line and "run the same command again to resume" in line
    part = tmp_path / "cache" / ".downloads" / "wnut17" / f"{TRAIN}.part"
    size = (shared_data / "wnut17" / TRAIN).stat().st_size
    kept = part.stat().st_size
    assert size // 2 < kept < size
    assert not (tmp_path / "cache" / "wnut17").exists()
    mirror.cuts[path] = 0
    mirror.requests.clear()
    result = invoke("data", "download", "wnut17")
    assert result.exit_code == 0, result.output
    assert f"at byte {kept:,}" in result.stdout
    assert (path, f"bytes={kept}-") in mirror.requests
    assert _sha256(datasets.path("wnut17") / TRAIN) == _sha256(shared_data / "wnut17" / TRAIN)
    assert _leftovers(tmp_path / "cache") == []


@pytest.mark.data
def test_a_server_that_ignores_range_sends_the_whole_file_again(mirror, tmp_path, shared_data):
    staging = tmp_path / "cache" / ".downloads" / "wnut17"
    staging.mkdir(parents=True)
    (staging / f"{TRAIN}.part").write_bytes(b"x" * 100)  # a .part from another file: the 200 replaces it
    mirror.ignore_range = True
    assert invoke("data", "download", "wnut17").exit_code == 0
    assert _sha256(datasets.path("wnut17") / TRAIN) == _sha256(shared_data / "wnut17" / TRAIN)


@pytest.mark.data
def test_a_stale_folder_is_replaced_whole(mirror, tmp_path):
    stale = tmp_path / "cache" / "wnut17"
    stale.mkdir(parents=True)
    (stale / TRAIN).write_text("half a file")
    (stale / "junk.txt").write_text("left by hand")
    assert invoke("data", "download", "wnut17").exit_code == 0
    assert sorted(p.name for p in stale.iterdir()) == [".textlstm-data.json", "emerging.dev.conll", TRAIN]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["wnut17"]


def mirror_url(server):
    return f"http://127.0.0.1:{server.server_port}"


def test_an_unreachable_host_is_one_line_with_the_url_and_the_reason(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("TEXTLSTM_DATA_MIRROR", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TEXTLSTM_DATA_DIR", str(tmp_path / "cache"))
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    line = assert_one_error_line(invoke("data", "download", "wnut17"), f"http://127.0.0.1:{port}/wnut17/{TRAIN}")
    assert "refused" in line.lower()


def test_an_unknown_name_is_one_line_with_the_known_names(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTLSTM_DATA_DIR", str(tmp_path / "cache"))
    for command in ("download", "path"):
        line = assert_one_error_line(invoke("data", command, "wnut"), "unknown corpus 'wnut'", "did you mean wnut17")
        assert all(entry.name in line for entry in CORPORA)
    assert not (tmp_path / "cache").exists()


def test_path_of_a_corpus_not_downloaded_says_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTLSTM_DATA_DIR", str(tmp_path / "cache"))
    assert_one_error_line(invoke("data", "path", "btc"), "not downloaded", "run: textlstm data download btc")
    (tmp_path / "cache" / "btc").mkdir(parents=True)  # a folder without its manifest: not a download
    assert_one_error_line(invoke("data", "path", "btc"), "incomplete", "textlstm data download btc")
    with pytest.raises(TextlstmError):
        datasets.path("btc")


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTLSTM_DATA_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.data_dir() == tmp_path / "a"
    monkeypatch.delenv("TEXTLSTM_DATA_DIR")
    assert datasets.data_dir() == tmp_path / "x" / "textlstm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert datasets.data_dir() == tmp_path / "home" / ".cache" / "textlstm"


def test_every_url_is_pinned_to_a_commit_or_release_and_the_mirror_replaces_the_host(monkeypatch):
    monkeypatch.delenv("TEXTLSTM_DATA_MIRROR", raising=False)
    for entry in CORPORA:
        for item in entry.downloads:
            assert datasets.source_url(entry, item) == item.url and item.url.startswith("https://")
            assert item.url.endswith("/" + item.name)
            if "githubusercontent" in item.url:
                assert re.search(r"/[0-9a-f]{40}/", item.url), item.url
            assert item.sha256 is not None or all(file.sha256 for file in item.files)
    monkeypatch.setenv("TEXTLSTM_DATA_MIRROR", "file:///srv/corpora/")
    assert datasets.source_url(WNUT17, WNUT17.downloads[0]) == f"file:///srv/corpora/wnut17/{TRAIN}"


@pytest.mark.data
def test_the_pinned_files_are_the_shared_data_files(shared_data):
    for entry in CORPORA:
        folder = shared_data / entry.shared_folder
        if not folder.is_dir() or entry.name == "glove-6b-50d":  # shared holds GloVe gzip'd; see the next test
            continue
        for file in entry.files:
            assert (folder / file.name).stat().st_size == file.size, (entry.name, file.name)
            assert _sha256(folder / file.name) == file.sha256, (entry.name, file.name)


@pytest.mark.data
def test_the_pinned_glove_file_is_the_one_whose_hash_shared_data_gives(shared_data):
    readme = (shared_data / "glove-6b-50d" / "README.md").read_text(encoding="utf-8")
    (file,) = datasets.corpus("glove-6b-50d").files
    assert f"uncompressed text sha256 `{file.sha256}`" in readme


def test_the_char_lm_split_is_90_5_5_by_character(tmp_path):
    text = "".join(chr(0x61 + i % 26) + ("é\n" if i % 7 == 0 else "") for i in range(1003))
    source = tmp_path / "input.txt"
    source.write_bytes(text.encode("utf-8"))
    unpack("split", source, ("train.txt", "valid.txt"), (), tmp_path)
    n1, n2 = split_points(len(text))
    assert (n1, n2) == (int(0.9 * len(text)), int(0.95 * len(text)))
    assert (tmp_path / "train.txt").read_bytes().decode("utf-8") == text[:n1]
    assert (tmp_path / "valid.txt").read_bytes().decode("utf-8") == text[n1:n2]


def test_a_gutenberg_book_loses_its_header_footer_and_crlf():
    book = (
        "\ufeffThe Project Gutenberg EBook\r\n\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n\r\n\r\n"
        "Chapter 1\r\n\r\nIt was.\r\n\r\n\r\nEnd of the Project Gutenberg EBook of X\r\n\r\n*** END OF ***\r\n"
    )
    assert gutenberg_text(book.lstrip("\ufeff")) == "Chapter 1\n\nIt was.\n"
    with pytest.raises(TextlstmError, match="START and END"):
        gutenberg_text("no markers here\n")


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt", "C:/evil.txt"])
def test_archive_members_with_an_absolute_path_or_dotdot_are_refused(tmp_path, member):
    zipped = tmp_path / "bad.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("good.txt", "fine")
        archive.writestr(member, "evil")
    tarred = tmp_path / "bad.tar.gz"
    with tarfile.open(tarred, "w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = 4
        archive.addfile(info, io.BytesIO(b"evil"))
    into = tmp_path / "out"
    into.mkdir()
    for kind, archive in (("zip", zipped), ("tar.gz", tarred)):
        with pytest.raises(TextlstmError, match="refusing archive member"):
            unpack(kind, archive, ("good.txt",), ("good.txt",), into)
    assert list(into.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_zip_and_tar_members_become_the_named_files(tmp_path):
    zipped, tarred = tmp_path / "a.zip", tmp_path / "a.tar.gz"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("dir/vectors.txt", "the 0.1\n")
        archive.writestr("other.txt", "skipped")
    with tarfile.open(tarred, "w:gz") as archive:
        info = tarfile.TarInfo("dir/vectors.txt")
        info.size = 8
        archive.addfile(info, io.BytesIO(b"the 0.1\n"))
    for kind, archive in (("zip", zipped), ("tar.gz", tarred)):
        into = tmp_path / kind
        into.mkdir()
        unpack(kind, archive, ("v.txt",), ("dir/vectors.txt",), into)
        assert [p.name for p in into.iterdir()] == ["v.txt"] and (into / "v.txt").read_text() == "the 0.1\n"
        with pytest.raises(TextlstmError, match="lacks missing.txt"):
            unpack(kind, archive, ("m.txt",), ("missing.txt",), into)


def test_the_data_commands_never_import_tensorflow():
    code = (
        "import sys\n"
        "from textlstm.cli import main\n"
        "try:\n    main(['data', 'list'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "glove-6b-50d" in done.stdout
