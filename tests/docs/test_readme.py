"""README.md is a front page: short, with the two set-up commands, and links that resolve."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAIN_JOB = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && textlstm train charlm --run-dir runs/charlm "
    '&& textlstm generate runs/charlm --prompt "def " --length 300'
)
TESTS = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest -q'


def test_readme_is_a_front_page_of_at_most_12_kb():
    assert len(README.encode("utf-8")) <= 12 * 1024


def test_readme_and_quick_start_hold_the_two_set_up_commands():
    quickstart = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    for command in (MAIN_JOB, TESTS):
        assert f"```bash\n{command}\n```" in README
        assert f"```bash\n{command}\n```" in quickstart


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not link.startswith("http")]
    assert len(local) >= 10
    for link in local:
        assert (ROOT / link).exists(), link
