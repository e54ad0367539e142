"""`textlstm serve` without a network: request bodies checked into API arguments, model
names from run directories, the loopback rule, and the one line when the [serve] extra is absent."""

import sys

import pytest

from support.cli import assert_one_error_line, invoke
from textlstm.errors import TextlstmError
from textlstm.serve.bodies import BadRequest, generate_args, tag_args, translate_args
from textlstm.serve.limits import Limits
from textlstm.serve.server import is_loopback, parse_specs

LIMITS = Limits(
    max_prompt_chars=10, max_length=100, max_sentences=2, max_sentence_chars=12, max_beam_size=4, max_output_subwords=20
)


def test_generate_body_becomes_api_arguments():
    kwargs, stream = generate_args({"prompt": "ab", "length": 5, "top_p": 0.9, "seed": 7, "stream": True}, LIMITS)
    assert stream is True
    assert kwargs == {
        "prompt": "ab",
        "length": 5,
        "sampler": None,
        "temperature": None,
        "top_k": None,
        "top_p": 0.9,
        "seed": 7,
    }
    assert generate_args({}, LIMITS) == (
        {
            "prompt": "",
            "length": None,
            "sampler": None,
            "temperature": None,
            "top_k": None,
            "top_p": None,
            "seed": None,
        },
        False,
    )


def test_tag_and_translate_bodies():
    assert tag_args({"sentences": ["a b", ["c", "d"]], "n_best": 2}, LIMITS) == {
        "sentences": ["a b", ["c", "d"]],
        "n_best": 2,
    }
    assert translate_args({"sentences": ["x"], "beam_size": 3}, LIMITS) == {
        "sentences": ["x"],
        "beam_size": 3,
        "length_penalty": None,
        "n_best": 1,
        "max_length": None,
    }


@pytest.mark.parametrize(
    "function, body, fragment",
    [
        (generate_args, [], "must be a JSON object, got an array"),
        (generate_args, {"prompt": 5}, "prompt must be a string, got an integer"),
        (generate_args, {"length": True}, "length must be an integer, got a boolean"),
        (generate_args, {"length": 101}, "length must be an integer >= 1 and <= 100, got 101"),
        (generate_args, {"length": 0}, ">= 1"),
        (generate_args, {"prompt": "x" * 11}, "at most 10"),
        (generate_args, {"temperature": "hot"}, "temperature must be a finite number"),
        (generate_args, {"temperature": float("nan")}, "temperature must be a finite number, got nan"),
        (generate_args, {"top_p": float("-inf")}, "top_p must be a finite number, got -inf"),
        (generate_args, {"sampler": 1}, "sampler must be a string, got an integer"),
        (generate_args, {"stream": "yes"}, "stream must be true or false"),
        (generate_args, {"seed": -1}, "seed must be an integer >= 0"),
        (generate_args, {"path": "/etc/passwd"}, "unknown field 'path'"),
        (tag_args, {}, "missing field 'sentences'"),
        (tag_args, {"sentences": "a b"}, "sentences must be an array, got a string"),
        (tag_args, {"sentences": ["a", "b", "c"]}, "3 sentences; this server takes at most 2"),
        (tag_args, {"sentences": [["a", 1]]}, "sentences[0] must hold only strings"),
        (tag_args, {"sentences": [3]}, "sentences[0] must be a string or an array of token strings"),
        (tag_args, {"sentences": ["a" * 13]}, "sentences[0] has 13 characters"),
        (tag_args, {"sentences": ["a"], "n_best": 5}, "n_best must be an integer >= 1 and <= 4"),
        (translate_args, {"sentences": [["a"]]}, "sentences[0] must be a string, got an array"),
        (translate_args, {"sentences": ["a"], "length_penalty": -1}, "length_penalty must be a finite number >= 0"),
        (translate_args, {"sentences": ["a"], "max_length": 21}, "max_length must be an integer >= 1 and <= 20"),
        (translate_args, {"sentences": ["a"], "beam_size": 5}, "beam_size must be an integer >= 1 and <= 4"),
    ],
)
def test_bad_bodies_are_one_line(function, body, fragment):
    with pytest.raises(BadRequest) as error:
        function(body, LIMITS)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_models_are_named_after_the_run_directory_or_by_name(tmp_path):
    assert parse_specs([str(tmp_path / "runs" / "upos"), f"ner={tmp_path}/x", str(tmp_path / "y") + "/"]) == {
        "upos": str(tmp_path / "runs" / "upos"),
        "ner": f"{tmp_path}/x",
        "y": str(tmp_path / "y") + "/",
    }
    with pytest.raises(TextlstmError, match="two models named 'a'"):
        parse_specs(["runs/a", "other/a"])


def test_loopback_hosts():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.org")


def test_without_the_serve_extra_one_line_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # importing it now raises ImportError
    result = invoke("serve", tmp_path)
    assert_one_error_line(result, "[serve] extra", 'pip install "textlstm[serve]"')


def test_a_run_directory_that_does_not_load_is_one_line(tmp_path):
    result = invoke("serve", tmp_path / "missing", "--port", "0")
    assert_one_error_line(result, "missing", "does not exist")


def test_another_host_than_loopback_is_warned_about(tmp_path):
    result = invoke("serve", tmp_path / "missing", "--host", "0.0.0.0", "--port", "0")  # fails before binding
    assert "warning: listening on 0.0.0.0" in result.stderr and "no authentication" in result.stderr
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_the_page_is_self_contained():
    import re
    from importlib import resources

    page = resources.files("textlstm.serve").joinpath("page.html").read_text(encoding="utf-8")
    assert "<style>" in page and "<script>" in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)  # no external script, style, font, icon
    assert not re.search(r"https?://|@import|url\(", page)


def test_the_listening_socket_is_tcp_so_answers_are_not_held_back_by_nagle():
    import socket

    from textlstm.serve.server import bind

    sock = bind("127.0.0.1", 0)
    try:  # asyncio sets TCP_NODELAY on accepted connections only when proto says TCP
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
    finally:
        sock.close()


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"temperature": 0}, "temperature must be a finite number >= 0.001 and <= 1000, got 0.0"),
        ({"temperature": 10**400}, "temperature must be a finite number, got an integer of 401 digits"),
        ({"top_k": 10**30}, "top_k must be an integer >= 1 and <= 1_000_000, got an integer of 31 digits"),
        ({"top_p": 1.5}, "top_p must be a finite number > 0 and <= 1"),
        ({"seed": -(10**40)}, "got an integer of 41 digits"),
    ],
)
def test_sampler_numbers_are_checked_against_their_declarations(body, fragment):
    with pytest.raises(BadRequest) as error:
        generate_args(body, LIMITS)
    assert fragment in str(error.value) and len(str(error.value)) < 120


def test_length_penalty_is_checked_against_its_declaration():
    with pytest.raises(BadRequest, match="length_penalty must be a finite number >= 0 and <= 100, got -1.0"):
        translate_args({"sentences": ["x"], "length_penalty": -1}, LIMITS)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_serve_timeouts_must_be_positive_and_finite(value, tmp_path):
    for option in ("--timeout", "--header-timeout"):
        result = invoke("serve", tmp_path, option, value)
        assert_one_error_line(result, f"{option} must be a finite number > 0")


@pytest.mark.parametrize(
    "host, allowed",
    [
        ("127.0.0.1:8080", True),
        ("localhost:8080", True),
        ("LOCALHOST", True),
        ("[::1]:8080", True),
        ("10.0.0.5:8080", True),  # the address the client connected to
        ("evil.example:8080", False),
        ("evil.example", False),
        ("127.0.0.1:9999", False),
        ("localhost:x", False),
        ("app.example:8080", True),
        ("app.example", True),
        ("app.example:443", False),
        ("proxy.example:443", True),
    ],
)
def test_host_header_must_name_this_server(host, allowed):
    from textlstm.serve.guard import HostOriginGuard

    guard = HostOriginGuard(None, allow_hosts=("app.example", "proxy.example:443"))
    assert guard.host_allowed(host, ("10.0.0.5", 8080)) is allowed


def test_origin_must_be_this_servers_page_or_allowed():
    from textlstm.serve.guard import HostOriginGuard

    guard = HostOriginGuard(None, allow_origins=("https://app.example/",))
    assert guard.origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", "http")
    assert guard.origin_allowed("https://APP.example", "127.0.0.1:8080", "http")
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1:8080"):
        assert not guard.origin_allowed(origin, "127.0.0.1:8080", "http")
