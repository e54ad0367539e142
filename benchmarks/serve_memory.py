"""Server memory under requests that each ask for new sampler values: flat once warm, or not.

Every request sends values no earlier request sent: a char LM request its own temperature,
top_k or top_p and length, a translator request its own max_length and length penalty. Were
each new value to compile a new loop (as it once did, ~5 MB each), the server's resident
memory would climb with the request count; with the values passed as tensors it stays flat
after the warm-up (the first calls of each sampler kind and power-of-two buffer compile).

Trains a tiny char LM and a tiny translator (a few seconds each, kept in --work) unless run
directories are given, starts `textlstm serve` on a free loopback port and prints the
server's RSS (from /proc) at the start, after the warm-up and at the end.

    python benchmarks/serve_memory.py --requests 1000
    python benchmarks/serve_memory.py --charlm runs/shakespeare --seq2seq runs/multi30k
"""

import argparse
import http.client
import json
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORDS = "the a river stone light garden of and in runs sleeps green old small window".split()
SEQ_WORDS = "alpha beta gamma delta eps zeta eta theta".split()


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, sys.path)]))


def _textlstm(*args):
    result = subprocess.run(
        [sys.executable, "-m", "textlstm", *map(str, args)], env=_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"textlstm {args[0]} {args[1]} failed:\n{result.stderr[-2000:]}")


def tiny_runs(work):
    """(char LM run, translator run) in `work`, trained on made-up text unless already there."""
    rng = random.Random(0)
    work.mkdir(parents=True, exist_ok=True)
    charlm, seq2seq = work / "charlm", work / "seq2seq"
    if not (charlm / "last.keras").exists():
        text = work / "text.txt"
        text.write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(400)) + "\n")
        _textlstm(
            "train",
            "charlm",
            "--data",
            text,
            "--run-dir",
            charlm,
            "--overwrite",
            "--epochs",
            1,
            "--set",
            "model.units=32",
            "--set",
            "model.layers=1",
            "--set",
            "model.embedding_dim=8",
            "--set",
            "data.seq_len=32",
            "--set",
            "train.batch_size=8",
            "--set",
            "train.steps_per_epoch=5",
            "--set",
            "data.valid_fraction=0.1",
        )
    if not (seq2seq / "last.keras").exists():
        sources = [" ".join(rng.choice(SEQ_WORDS) for _ in range(rng.randint(1, 6))) for _ in range(200)]
        (work / "train.src").write_text("\n".join(sources) + "\n")
        (work / "train.tgt").write_text("\n".join(" ".join(reversed(s.split())).upper() for s in sources) + "\n")
        (work / "dev.tsv").write_text("".join(f"{s}\t{s.upper()}\n" for s in sources[:8]))
        _textlstm(
            "train",
            "seq2seq",
            "--src",
            work / "train.src",
            "--tgt",
            work / "train.tgt",
            "--valid-tsv",
            work / "dev.tsv",
            "--run-dir",
            seq2seq,
            "--overwrite",
            "--epochs",
            1,
            "--set",
            "data.vocab_size=30",
            "--set",
            "model.units=16",
            "--set",
            "model.embedding_dim=8",
            "--set",
            "train.batch_size=8",
            "--set",
            "train.steps_per_epoch=4",
            "--set",
            "train.bleu_sentences=4",
            "--set",
            "data.max_length=24",
        )
    return charlm, seq2seq


def rss_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request_for(i):
    """The i-th request: values no other request uses (sampler kinds and endpoints in turn)."""
    if i % 2:  # translator: its own max_length and length penalty
        return "tr/translate", {
            "sentences": ["alpha beta gamma", "zeta eta"],
            "beam_size": 2,
            "max_length": 5 + i % 250,
            "length_penalty": round(i * 0.0137 % 99, 4),
        }
    kind = (i // 2) % 3
    body = {"prompt": "the ", "length": 20 + i % 600, "seed": i}
    if kind == 0:
        body["temperature"] = round(0.2 + i * 0.00271, 5)
    elif kind == 1:
        body.update(top_k=1 + i, temperature=round(0.5 + i * 0.001, 4))
    else:
        body["top_p"] = round(0.05 + (i % 900) * 0.001, 4)
    return "lm/generate", body


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100, help="requests before the 'after warm-up' figure")
    parser.add_argument("--charlm", help="a char LM run directory (default: a tiny one trained in --work)")
    parser.add_argument("--seq2seq", help="a translator run directory (default: a tiny one trained in --work)")
    parser.add_argument("--work", default="/tmp/textlstm-serve-memory")
    args = parser.parse_args()
    charlm, seq2seq = (
        (args.charlm, args.seq2seq) if args.charlm and args.seq2seq else tiny_runs(pathlib.Path(args.work))
    )

    process = subprocess.Popen(
        [sys.executable, "-m", "textlstm", "serve", f"lm={charlm}", f"tr={seq2seq}", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    try:
        match = re.search(r"127\.0\.0\.1:(\d+)/", process.stdout.readline())
        if not match:
            sys.exit("the server did not start")
        connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=300)
        print(f"RSS at start:            {rss_mb(process.pid):8.1f} MB (models loaded, nothing compiled)")
        start, warm, failures = time.monotonic(), None, 0
        for i in range(args.requests):
            path, body = request_for(i)
            connection.request("POST", f"/models/{path}", json.dumps(body), {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            failures += response.status != 200
            if i + 1 == args.warmup:
                warm = rss_mb(process.pid)
                print(f"RSS after {args.warmup:>4} requests:  {warm:8.1f} MB (warm-up)")
            elif (i + 1) % 200 == 0 or i + 1 == args.requests:
                print(f"RSS after {i + 1:>4} requests:  {rss_mb(process.pid):8.1f} MB")
        end = rss_mb(process.pid)
        print(
            f"{args.requests} requests in {time.monotonic() - start:.1f} s, {failures} not 200; "
            f"growth after warm-up: {end - warm:+.1f} MB"
            if warm is not None
            else ""
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


if __name__ == "__main__":
    main()
