"""The documentation site: it builds with strict warnings, its pages render in a browser, and the
code blocks of the guides marked runnable run.

`mkdocs build --strict` fails on a broken link or anchor, a page missing from the navigation, a
reference to an object that does not exist, or a docstring the API reference cannot read. The
built site is then served on loopback and opened in headless Chromium. Code blocks written as
```` ```python title="runnable" ```` are executed, each in a fresh process in an empty folder, so
an example that stops working fails the suite.
"""

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNABLE = re.compile(r'^```python title="runnable"\n(.*?)^```', re.M | re.S)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with `mkdocs build --strict` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_page_is_in_the_navigation_and_built(site):
    pages = [path.relative_to(DOCS) for path in DOCS.rglob("*.md") if "_hooks" not in path.parts]
    assert len(pages) >= 15
    for page in pages:
        built = site / page.with_suffix("") / "index.html" if page.name != "index.md" else site / "index.html"
        assert built.is_file(), page


def test_references_are_generated(site):
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    for command in ("train", "generate", "tag", "translate", "evaluate", "export", "serve", "inspect", "doctor"):
        assert f"textlstm {command}" in cli, command
    settings = (site / "reference" / "settings" / "index.html").read_text(encoding="utf-8")
    for key in ("model.units", "train.learning_rate", "decode.beam_size", "data.word_vectors"):
        assert f"<code>{key}</code>" in settings, key
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("CharLM", "Tagger", "Translator", "load"):
        assert name in api, name


@pytest.mark.parametrize(
    "page, text",
    [
        ("", "textlstm"),
        ("quickstart/", "Install and quick start"),
        ("guides/charlm/", "Character-level language model"),
        ("guides/tagger/", "Sequence tagger"),
        ("reference/cli/", "Command line"),
        ("reference/settings/", "Recipe settings"),
        ("reference/api/", "Python API reference"),
        ("results/", "Results"),
    ],
)
def test_pages_render_in_a_browser(site_url, browser, page, text):
    browser.page("Runtime.enable")
    browser.page("Log.enable")
    browser.page("Page.enable")
    browser.page("Page.navigate", url=f"{site_url}/{page}")
    browser.wait_for("document.readyState === 'complete' && document.querySelector('article h1') !== null")
    assert text in browser.evaluate("document.querySelector('article h1').textContent")
    assert browser.evaluate("document.querySelector('nav.md-nav') !== null")  # the theme's navigation rendered
    assert browser.evaluate("document.querySelector('article').innerText.length") > 200
    problems = [p for p in browser.problems() if "favicon" not in p]
    assert not problems, problems


def runnable_blocks():
    blocks = []
    for path in sorted(DOCS.rglob("*.md")):
        for number, match in enumerate(RUNNABLE.finditer(path.read_text(encoding="utf-8")), 1):
            blocks.append(pytest.param(match.group(1), id=f"{path.relative_to(DOCS)}#{number}"))
    return blocks


def test_the_guides_hold_runnable_blocks():
    assert runnable_blocks(), 'no code block marked python title="runnable" in docs/: nothing below would run'


@pytest.mark.parametrize("code", runnable_blocks())
def test_runnable_code_blocks_run(code, tmp_path):
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
