"""`textlstm serve`: a real server in a subprocess on a free loopback port (endpoints, results
equal to the Python API's, streaming, errors, concurrent clients), and the app in-process with
fake models for what a real model will not do on demand (fail, hang)."""

import asyncio
import json
import pathlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import starlette  # noqa: F401  (the test extra installs the serve extra: missing it fails, never skips)
import uvicorn  # noqa: F401

import textlstm  # noqa: E402
from support.runs import tiny_run  # noqa: E402
from support.server import Server  # noqa: E402
from textlstm.serve.app import build_app  # noqa: E402
from textlstm.serve.limits import Limits  # noqa: E402
from textlstm.serve.slots import ModelSlot  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {kind: tiny_run(tmp_path_factory, kind) for kind in ("charlm", "tagger", "seq2seq")}


@pytest.fixture(scope="module")
def server(runs):
    with Server(
        [f"lm={runs['charlm']}", runs["tagger"], runs["seq2seq"]],
        "--max-body-bytes",
        "4096",
        "--max-length",
        "300",
        "--max-sentences",
        "8",
    ) as running:
        yield running


def test_health_and_models(server):
    assert server.get("/health") == (200, {"status": "ok", "models": 3})
    status, models = server.get("/models")
    assert status == 200
    assert [(m["name"], m["kind"], m["run_dir"]) for m in models] == [
        ("lm", "charlm", "charlm-run"),
        ("tagger-run", "tagger", "tagger-run"),
        ("seq2seq-run", "seq2seq", "seq2seq-run"),
    ]
    assert models[0]["recipe"]["model"]["units"] == 16 and "temperature" in models[0]["recipe"]["decode"]
    assert "O" in models[1]["tags"]


def test_generate_is_the_api_text_and_repeats_by_seed(server, runs):
    body = {"prompt": "the ", "length": 40, "seed": 3, "temperature": 0.9}
    status, first = server.post("/models/lm/generate", body)
    assert status == 200 and first["seed"] == 3 and len(first["text"]) == 40
    assert server.post("/models/lm/generate", body) == (200, first)
    expected = textlstm.load(runs["charlm"]).generate("the ", length=40, seed=3, temperature=0.9)
    assert first["text"] == expected[0]
    status, drawn = server.post("/models/lm/generate", {})
    assert status == 200 and isinstance(drawn["seed"], int)  # a drawn seed is reported, to repeat it
    assert len(drawn["text"]) == 300  # the recipe's decode.length (500) within --max-length 300


def test_stream_sends_the_text_as_server_sent_events_piece_by_piece(server):
    body = {"prompt": "a", "length": 150, "seed": 5}
    status, content_type, events = server.events("/models/lm/generate", {**body, "stream": True})
    assert status == 200 and content_type.startswith("text/event-stream")
    names = [event for event, _, _ in events]
    assert names == ["piece"] * 3 + ["done"]  # 64-character chunks: 64 + 64 + 22
    assert events[-1][1] == {"seed": 5}
    streamed = "".join(data["text"] for event, data, _ in events if event == "piece")
    assert streamed == server.post("/models/lm/generate", body)[1]["text"]


def test_tag_is_the_api_result_for_strings_and_token_lists(server, runs):
    sentences = ["Anna saw Paris", ["New", "York", "is", "big", "."]]
    status, answer = server.post("/models/tagger-run/tag", {"sentences": sentences})
    assert status == 200
    assert answer == {"tags": textlstm.load(runs["tagger"]).tag(sentences)}
    assert [len(tags) for tags in answer["tags"]] == [3, 5]
    status, answer = server.post("/models/tagger-run/tag", {"sentences": ["a b c"], "n_best": 3})
    paths = answer["n_best"][0]
    assert status == 200 and len(paths) == 3
    assert answer["n_best"] == textlstm.load(runs["tagger"]).tag(["a b c"], n_best=3)
    assert len({tuple(path["tags"]) for path in paths}) == 3  # distinct output sequences
    assert paths[0]["prob"] >= paths[1]["prob"] >= paths[2]["prob"] > 0


def test_translate_is_the_api_result(server, runs):
    sentences = ["alpha beta", "gamma delta eta", ""]
    status, answer = server.post("/models/seq2seq-run/translate", {"sentences": sentences, "beam_size": 2})
    assert status == 200
    assert answer == {"translations": textlstm.load(runs["seq2seq"]).translate(sentences, beam_size=2)}
    status, answer = server.post("/models/seq2seq-run/translate", {"sentences": ["alpha"], "beam_size": 2, "n_best": 2})
    assert status == 200 and len(answer["n_best"][0]) == 2
    assert answer["n_best"][0][0]["score"] >= answer["n_best"][0][1]["score"]


@pytest.mark.parametrize(
    "method, path, body, status, fragment",
    [
        ("POST", "/models/lm/generate", b'{"prompt": "a",', 400, "malformed JSON"),
        ("POST", "/models/lm/generate", b"\xff\xfe", 400, "not UTF-8"),
        ("POST", "/models/lm/generate", {"prompt": 3}, 400, "prompt must be a string"),
        ("POST", "/models/lm/generate", {"length": 301}, 400, "<= 300, got 301"),
        ("POST", "/models/lm/generate", {"temperature": 0}, 400, "temperature"),  # refused by the API itself
        ("POST", "/models/lm/generate", {"sampler": "beam"}, 400, "sampler must be one of greedy, temperature"),
        ("POST", "/models/lm/generate", {"sampler": "greedy", "temperature": 2}, 400, "temperature"),
        # a streamed request is checked as fully before its 200 as the same request unstreamed
        ("POST", "/models/lm/generate", {"stream": True, "sampler": "greedy", "temperature": 2}, 400, "temperature"),
        ("POST", "/models/lm/generate", {"stream": True, "top_p": 0}, 400, "top_p must be"),
        ("POST", "/models/lm/generate", b"[" * 3000, 400, "nested too deeply"),
        ("POST", "/models/lm/generate", {"prompt": "x" * 5000}, 413, "at most 4096"),
        ("POST", "/models/lm/generate", {"run_dir": "/etc"}, 400, "unknown field 'run_dir'"),
        ("POST", "/models/nope/generate", {}, 404, "no model named 'nope'; loaded: lm, tagger-run, seq2seq-run"),
        ("POST", "/models/lm/tag", {"sentences": ["a"]}, 409, "is a charlm model; it has no /tag"),
        ("POST", "/models/tagger-run/tag", {"sentences": ["a"] * 9}, 400, "at most 8"),
        ("POST", "/models/tagger-run/tag", {"sentences": "a b"}, 400, "sentences must be an array"),
        (
            "POST",
            "/models/seq2seq-run/translate",
            {"sentences": ["a"], "beam_size": 1, "n_best": 2},
            400,
            "cannot exceed",
        ),
        ("GET", "/models/lm/generate", None, 405, "Method Not Allowed"),
        ("GET", "/../../etc/passwd", None, 404, "Not Found"),
    ],
)
def test_bad_requests_get_one_line_and_the_server_keeps_serving(server, method, path, body, status, fragment):
    raw = body if isinstance(body, bytes) else None
    answer = server.request(method, path, body=None if raw is not None else body, raw=raw)
    assert answer[0] == status, answer
    assert list(answer[1]) == ["error"] and fragment in answer[1]["error"] and "\n" not in answer[1]["error"]
    assert server.get("/health")[0] == 200


@pytest.mark.parametrize(
    "headers, status, fragment",
    [
        ({"Host": "evil.example"}, 421, "Host 'evil.example' is not this server"),  # DNS rebinding
        ({"Host": "localhost:1"}, 421, "is not this server"),  # another port
        ({"Origin": "http://evil.example"}, 403, "requests from pages of 'http://evil.example' are refused"),
        ({"Origin": "null"}, 403, "refused"),
    ],
)
def test_requests_for_other_hosts_or_from_other_origins_are_refused(server, headers, status, fragment):
    answer = server.request("POST", "/models/lm/generate", {"length": 5}, headers=headers)
    assert answer[0] == status and list(answer[1]) == ["error"] and fragment in answer[1]["error"]
    same_origin = {"Host": f"localhost:{server.port}", "Origin": f"http://localhost:{server.port}"}
    assert server.request("POST", "/models/lm/generate", {"length": 5}, headers=same_origin)[0] == 200


def test_concurrent_clients_get_the_same_answers_as_one_at_a_time(server):
    calls = [("/models/lm/generate", {"prompt": "th", "length": 30, "seed": seed}) for seed in range(4)]
    calls += [("/models/tagger-run/tag", {"sentences": [f"w{i} b c"]}) for i in range(4)]
    calls += [("/models/seq2seq-run/translate", {"sentences": ["beta gamma"]})] * 2
    alone = [server.post(path, body) for path, body in calls]
    with ThreadPoolExecutor(len(calls) * 2) as pool:
        together = list(pool.map(lambda call: server.post(*call), calls * 2))
    assert together == alone * 2
    assert all(status == 200 for status, _ in alone)


# --- in-process, with fake models ------------------------------------------------------------


class FakeLM:
    """A char LM stand-in: "boom" raises, "slow" takes 0.6 s; counts calls running at once."""

    kind, recipe, run_dir = "charlm", {"model": {}, "decode": {"length": 10}}, pathlib.Path("fake")

    def __init__(self):
        self.running = self.most_running = 0
        self.guard = threading.Lock()

    def decoding_options(self, **options):
        pass

    def generate(self, prompt, **options):
        with self.guard:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            if prompt == "boom":
                raise RuntimeError("the fake model broke")
            if prompt == "slow":
                time.sleep(0.6)
            return [prompt.upper()]
        finally:
            with self.guard:
                self.running -= 1


async def call_app(app, method, path, body=b"", headers=()):
    """One request straight through the ASGI interface: (status, decoded JSON)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # no disconnect

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_a_model_error_is_500_and_the_next_request_is_served():
    app = build_app({"lm": ModelSlot("lm", FakeLM())}, Limits())

    async def scenario():
        failed = await call_app(app, "POST", "/models/lm/generate", b'{"prompt": "boom"}')
        served = await call_app(app, "POST", "/models/lm/generate", b'{"prompt": "ok"}')
        return failed, served

    failed, served = asyncio.run(scenario())
    assert failed == (500, {"error": "model error: RuntimeError: the fake model broke"})
    assert served[0] == 200 and served[1]["text"] == "OK"


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"[" * 50_000, "malformed JSON: arrays or objects nested too deeply"),
        (b'{"prompt": ' * 5000, "malformed JSON: arrays or objects nested too deeply"),
        (b'{"seed": 1' + b"0" * 5000 + b"}", "malformed JSON: a number with too many digits"),
        (
            b'{"top_k": 1' + b"0" * 4000 + b"}",
            "top_k must be an integer >= 1 and <= 1_000_000, got an integer of 4001 digits",
        ),
    ],
)
def test_json_that_python_cannot_read_is_400_not_500(body, fragment):
    app = build_app({"lm": ModelSlot("lm", FakeLM())}, Limits())
    status, answer = asyncio.run(call_app(app, "POST", "/models/lm/generate", body))
    assert (status, answer) == (400, {"error": fragment})


@pytest.mark.parametrize(
    "headers, status",
    [
        ([(b"host", b"evil.example")], 421),
        ([(b"host", b"127.0.0.1:80"), (b"origin", b"http://evil.example")], 403),
        ([(b"host", b"127.0.0.1:80"), (b"origin", b"http://127.0.0.1:80")], 200),
        ([(b"host", b"localhost")], 200),
    ],
)
def test_the_app_checks_host_and_origin_before_any_route(headers, status):
    app = build_app({"lm": ModelSlot("lm", FakeLM())}, Limits())
    assert asyncio.run(call_app(app, "POST", "/models/lm/generate", b'{"prompt": "a"}', headers))[0] == status


def test_timeout_answers_504_and_calls_of_one_model_never_overlap():
    model = FakeLM()
    app = build_app({"lm": ModelSlot("lm", model)}, Limits(timeout_s=0.25))

    async def scenario():
        start = time.monotonic()
        slow, queued = await asyncio.gather(
            call_app(app, "POST", "/models/lm/generate", b'{"prompt": "slow"}'),
            call_app(app, "POST", "/models/lm/generate", b'{"prompt": "x"}'),
        )
        answered_after = time.monotonic() - start
        await asyncio.sleep(0.6)  # the abandoned slow call finishes and frees the model
        return slow, queued, answered_after, await call_app(app, "POST", "/models/lm/generate", b'{"prompt": "y"}')

    slow, queued, answered_after, later = asyncio.run(scenario())
    assert slow[0] == 504 and "timeout" in slow[1]["error"] and "0.25 s" in slow[1]["error"]
    assert queued[0] == 504 and "busy" in queued[1]["error"]  # waiting for the model counts
    assert answered_after < 0.55  # answered at the deadline, not when the slow call ended
    assert later[0] == 200 and later[1]["text"] == "Y"
    assert model.most_running == 1


# --- connections, with uvicorn in a thread ---------------------------------------------------


class ServerThread:
    """`build_app` over a fake model, served by uvicorn as `textlstm serve` configures it."""

    def __init__(self, limits):
        from textlstm.serve.server import bind, uvicorn_config

        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn_config(build_app({"lm": ModelSlot("lm", FakeLM())}, limits), limits))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def post(self, prompt):
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("POST", "/models/lm/generate", json.dumps({"prompt": prompt}))
        response = connection.getresponse()
        answer = response.status, response.read()
        connection.close()
        return answer

    def connect(self):
        import socket

        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


def closed_by_server(sock):
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_idle_and_slow_loris_connections_are_closed_after_the_head_timeout_and_answers_go_on():
    with ServerThread(Limits(header_timeout_s=0.5)) as server:
        idle = [server.connect() for _ in range(300)]
        loris = server.connect()
        loris.sendall(b"POST /models/lm/generate HTTP/1.1\r\n")
        status, body = server.post("ok")  # 301 connections open: still answered
        assert status == 200 and json.loads(body)["text"] == "OK"
        start = time.monotonic()
        try:
            while time.monotonic() - start < 1.5:  # a byte at a time: never a whole head
                loris.sendall(b"X")
                time.sleep(0.05)
        except OSError:  # closed under it
            pass
        assert time.monotonic() - start < 1.5 or closed_by_server(loris)
        assert all(closed_by_server(sock) for sock in idle)
        assert server.post("again")[0] == 200
        for sock in idle + [loris]:
            sock.close()


def test_past_max_connections_requests_are_answered_503():
    with ServerThread(Limits(max_connections=8)) as server:
        idle = [server.connect() for _ in range(8)]
        time.sleep(0.2)  # accepted
        assert server.post("x")[0] == 503
        for sock in idle:
            sock.close()
        time.sleep(0.2)
        assert server.post("x")[0] == 200


# --- the page, in headless Chromium ----------------------------------------------------------


def test_the_page_tries_each_model_in_a_browser(server, browser):
    browser.page("Runtime.enable")
    browser.page("Log.enable")
    browser.page("Page.enable")
    browser.page("Page.navigate", url=server.url + "/")
    browser.wait_for("document.body.dataset.ready === 'yes'")
    assert browser.evaluate("document.querySelectorAll('section.model').length") == 3

    # char LM: type a prompt and a seed, click, the streamed text equals the server's for that seed
    browser.type_into("#model-lm textarea", "the ")
    browser.evaluate("document.querySelector('#model-lm input[name=length]').value = ''")
    browser.type_into("#model-lm input[name=length]", "150")
    browser.type_into("#model-lm input[name=seed]", "11")
    browser.click("#model-lm button.run")
    assert (
        browser.wait_for(
            "['done', 'error'].includes(document.querySelector('#model-lm').dataset.state) "
            "&& document.querySelector('#model-lm').dataset.state"
        )
        == "done"
    )
    shown = browser.evaluate("document.querySelector('#model-lm pre.output').textContent")
    expected = server.post("/models/lm/generate", {"prompt": "the ", "length": 150, "seed": 11})[1]["text"]
    assert shown == "the " + expected

    # tagger: one token per span, coloured unless tagged O
    browser.type_into("#model-tagger-run textarea", "Anna saw Paris\nNew York is big .")
    browser.click("#model-tagger-run button.run")
    assert (
        browser.wait_for(
            "document.querySelector('#model-tagger-run').dataset.state !== 'busy' && "
            "document.querySelector('#model-tagger-run').dataset.state"
        )
        == "done"
    )
    spans = browser.evaluate(
        "[...document.querySelectorAll('#model-tagger-run .sentence')].map(s => "
        "[...s.querySelectorAll('.tok')].map(t => [t.firstChild.textContent, t.dataset.tag, "
        "t.style.background !== '']))"
    )
    tags = server.post("/models/tagger-run/tag", {"sentences": ["Anna saw Paris", "New York is big ."]})[1]["tags"]
    assert [[tag for _, tag, _ in line] for line in spans] == tags
    assert [[token for token, _, _ in line] for line in spans] == [
        ["Anna", "saw", "Paris"],
        ["New", "York", "is", "big", "."],
    ]
    assert all(coloured == (tag != "O") for line in spans for _, tag, coloured in line)

    # translator: one list item per sentence, the server's translations
    browser.type_into("#model-seq2seq-run textarea", "alpha beta\ngamma")
    browser.click("#model-seq2seq-run button.run")
    assert (
        browser.wait_for(
            "document.querySelector('#model-seq2seq-run').dataset.state !== 'busy' && "
            "document.querySelector('#model-seq2seq-run').dataset.state"
        )
        == "done"
    )
    items = browser.evaluate("[...document.querySelectorAll('#model-seq2seq-run li')].map(li => li.textContent)")
    translations = server.post("/models/seq2seq-run/translate", {"sentences": ["alpha beta", "gamma"]})[1]
    empty = "(empty translation: the model may be trained too little)"  # the tiny model says nothing yet
    assert items == [text if text.strip() else empty for text in translations["translations"]]

    assert browser.problems() == []  # no console errors or warnings, no uncaught exception

    # a refused request shows its one line in the card; the browser logs only the 400 itself
    browser.evaluate("document.querySelector('#model-lm input[name=length]').value = '99999'")
    browser.click("#model-lm button.run")
    browser.wait_for("document.querySelector('#model-lm').dataset.state === 'error'")
    assert "<= 300" in browser.evaluate("document.querySelector('#model-lm .status').textContent")
    assert browser.problems() == [
        "log error: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
