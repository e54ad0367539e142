"""Start `textlstm serve` in a subprocess on a free loopback port, talk to it, stop it.

The server is started with `--port 0` and prints the port the system gave it on its first
stdout line, so there is no race for a port. Requests use only the standard library.
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

START_TIMEOUT_S = 180  # loading TensorFlow on a loaded 2-core machine


class Server:
    """`with Server(["runs/a", "b=runs/b"], "--timeout", "5") as server: server.get("/health")`."""

    def __init__(self, specs, *options):
        self.args = [sys.executable, "-m", "textlstm", "serve", *map(str, specs), "--port", "0", *options]
        self.process = None
        self.url = None
        self.stderr_lines = []

    def __enter__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        timer = threading.Timer(START_TIMEOUT_S, self.process.kill)
        timer.start()
        first = self.process.stdout.readline()
        timer.cancel()
        match = re.search(r"at (http://127\.0\.0\.1:(\d+))/", first)
        if not match:
            self.__exit__()
            raise AssertionError(f"server did not start: {first!r}\n" + "".join(self.stderr_lines))
        self.url, self.port = match.group(1), int(match.group(2))
        self.first_line = first
        return self

    def _drain_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        return False

    def request(self, method, path, body=None, raw=None, headers=None):
        """(status, decoded JSON) of one request; `body` is sent as JSON, `raw` as given bytes."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body, raw)

    def events(self, path, body):
        """The Server-Sent Events of a streamed POST: (status, content type, [(event, data, arrival)])."""
        import time

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        events, event, data = [], None, None
        for line in response:
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and event is not None:
                events.append((event, data, time.monotonic()))
                event = data = None
        connection.close()
        return response.status, response.getheader("content-type"), events
