"""`textlstm serve` under load: N concurrent clients on loopback for a fixed time, per model.

Starts `textlstm serve RUN_DIR...` on a free loopback port, warms each model up (its first
calls compile), then for each model runs `--clients` threads, each with its own keep-alive
connection, sending one small request after another for `--seconds` (at most `--max-requests`
in all). Prints requests/s, p50 and p99 latency and the errors, beside the wall time of one
CLI call doing the same single request (TensorFlow start-up, loading, compiling included):
the cost the server pays once.

Requests: a tagger tags one 10-token sentence; a char LM generates `--length` characters
(seed per request); a translator translates one short sentence at its recipe's beam.

    python benchmarks/bench_serve.py runs/upos runs/shakespeare --clients 8 --seconds 10
"""

import argparse
import http.client
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_CLIENTS, MAX_SECONDS = 64, 120
SENTENCE = "The old river runs past the green window of Paris ."


def body_for(kind, index, length):
    if kind == "tagger":
        return "tag", {"sentences": [SENTENCE]}
    if kind == "charlm":
        return "generate", {"prompt": "The ", "length": length, "seed": index}
    return "translate", {"sentences": ["A dog runs in the park ."]}


def start_server(run_dirs):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, sys.path)]))
    process = subprocess.Popen(
        [sys.executable, "-m", "textlstm", "serve", *run_dirs, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    first = process.stdout.readline()
    match = re.search(r"127\.0\.0\.1:(\d+)/", first)
    if not match:
        process.kill()
        sys.exit(f"the server did not start: {first!r}")
    return process, int(match.group(1))


def post(connection, path, body):
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    return response.status, payload


def load(port, name, kind, clients, seconds, max_requests, length):
    """(requests, seconds taken, latencies in s, errors) of `clients` threads for `seconds`."""
    latencies, errors = [], []
    budget = threading.Semaphore(max_requests)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(number):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        sent = 0
        while time.monotonic() < stop_at and budget.acquire(blocking=False):
            endpoint, body = body_for(kind, number * 100000 + sent, length)
            start = time.perf_counter()
            try:
                status, payload = post(connection, f"/models/{name}/{endpoint}", body)
                failed = None if status == 200 else f"{status} {payload[:80]!r}"
            except (OSError, http.client.HTTPException) as error:
                failed = f"{type(error).__name__}: {error}"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - start
            with lock:
                (errors if failed else latencies).append(failed or elapsed)
            sent += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) + len(errors), time.perf_counter() - began, latencies, errors


def cli_call(run_dir, kind, length, scratch):
    """Wall seconds of one `textlstm` call doing one request's work."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, sys.path)]))
    if kind == "tagger":
        (scratch / "one.txt").write_text(SENTENCE + "\n", encoding="utf-8")
        args = ["tag", run_dir, str(scratch / "one.txt"), "-i", "plain"]
    elif kind == "charlm":
        args = ["generate", run_dir, "--prompt", "The ", "--length", str(length), "--seed", "1"]
    else:
        (scratch / "one.txt").write_text("A dog runs in the park .\n", encoding="utf-8")
        args = ["translate", run_dir, str(scratch / "one.txt")]
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "textlstm", *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", help="trained run directories (any kinds)")
    parser.add_argument("--clients", type=int, default=8, help=f"concurrent clients (1..{MAX_CLIENTS})")
    parser.add_argument("--seconds", type=float, default=10.0, help=f"load time per model (<= {MAX_SECONDS})")
    parser.add_argument("--max-requests", type=int, default=20000, help="cap on requests per model")
    parser.add_argument("--length", type=int, default=100, help="characters per char LM request")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.seconds <= MAX_SECONDS or args.max_requests < 1:
        sys.exit(f"--clients must be 1..{MAX_CLIENTS}, --seconds in (0, {MAX_SECONDS}], --max-requests >= 1")

    started = time.perf_counter()
    process, port = start_server(args.run_dirs)
    print(
        f"server up in {time.perf_counter() - started:.1f} s (TensorFlow import + loading "
        f"{len(args.run_dirs)} model(s)), port {port}"
    )
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        connection.request("GET", "/models")
        models = json.loads(connection.getresponse().read())
        print(
            f"{'model':<16} {'kind':<8} {'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'errors':>6} {'1st call s':>10} {'CLI call s':>10} {'CLI/p50':>8}"
        )
        with tempfile.TemporaryDirectory() as scratch:
            for model, spec in zip(models, args.run_dirs):  # the server keeps the order given
                run_dir = spec.partition("=")[2] if "=" in spec and not os.path.exists(spec) else spec
                name, kind = model["name"], model["kind"]
                endpoint, body = body_for(kind, 0, args.length)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)  # idle ones are closed
                first = time.perf_counter()
                post(connection, f"/models/{name}/{endpoint}", body)  # compiles
                first = time.perf_counter() - first
                for warm in range(3):
                    post(connection, f"/models/{name}/{endpoint}", body_for(kind, warm + 1, args.length)[1])
                count, took, latencies, errors = load(
                    port, name, kind, args.clients, args.seconds, args.max_requests, args.length
                )
                p50 = percentile(latencies, 50)
                cli = cli_call(run_dir, kind, args.length, pathlib.Path(scratch))
                print(
                    f"{name:<16} {kind:<8} {args.clients:>7} {count:>8} {count / took:>8.1f} {p50 * 1e3:>8.1f} "
                    f"{percentile(latencies, 99) * 1e3:>8.1f} {len(errors):>6} {first:>10.2f} {cli:>10.2f} "
                    f"{cli / p50:>8.0f}x"
                )
                for error in sorted(set(errors))[:3]:
                    print(f"    error: {error}")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
