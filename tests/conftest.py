"""Shared pytest set-up: the TensorFlow backend, and the location of the real corpora."""

import os
from pathlib import Path

import pytest

import textlstm  # noqa: F401  (pins KERAS_BACKEND before any test imports keras)

SHARED_DATA = Path(
    os.environ.get("TEXTLSTM_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
)


@pytest.fixture
def shared_data():
    """The folder of real corpora beside the checkout; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real corpora not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven over the DevTools pipe (`support.cdp_pipe.Browser`); skips where
    Chromium is not installed, unless TEXTLSTM_EXPECT_CHROMIUM=1 (CI installed it), where it fails."""
    from support.cdp_pipe import Browser, find_chromium

    binary = find_chromium()
    if binary is None:
        if os.environ.get("TEXTLSTM_EXPECT_CHROMIUM") == "1":
            pytest.fail("TEXTLSTM_EXPECT_CHROMIUM=1 but no chromium binary is on PATH")
        pytest.skip("chromium is not installed")
    opened = Browser(binary, tmp_path / "profile")
    yield opened
    opened.close()
