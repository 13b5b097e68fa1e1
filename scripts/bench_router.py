"""Latency of the learned router: predict every model's quality for one prompt.

Method: load the shipped predictor once, then for each of N prompts taken
evenly from the shared training data (plus the labelled task prompts, for
chat-like text) time one call of ``predict(prompt, all models)``; that call
includes featurisation (focus extraction, shape features, hashing, TF-IDF)
and the dot products. ``prompt_logits(prompt)`` (every fitted model's logit
and the offset for unseen ones in one call) is timed too. The task classifier
is timed the same way. Reports p50 / p90 / p99 in milliseconds with the machine's facts.

Usage: python scripts/bench_router.py [--prompts N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from megarouter.routing.bundle import load_default_predictor
from megarouter.routing.outcomes import load_outcomes
from megarouter.routing.tasks import load_default_task_classifier, load_labelled_prompts

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "routing"


def _percentiles(samples: list[float]) -> str:
    """p50, p90 and p99 of samples given in seconds, as milliseconds."""
    ms = np.array(samples) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"p50 {p50:.3f} ms  p90 {p90:.3f} ms  p99 {p99:.3f} ms  (n={len(ms)})"


def _time_each(
    prompts: list[str], call: Callable[[str], object], repeat: int
) -> list[float]:
    """Wall time of ``call(prompt)`` for every prompt, ``repeat`` times over."""
    samples = []
    for _ in range(repeat):
        for prompt in prompts:
            start = time.perf_counter()
            call(prompt)
            samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    predictor = load_default_predictor()
    classifier = load_default_task_classifier()
    load_seconds = time.perf_counter() - start

    outcomes = load_outcomes(SHARED / "routerbench_train.csv", sample=args.prompts)
    chat, _ = load_labelled_prompts(SHARED / "task_type_prompts.csv")
    prompts = outcomes.prompts + chat[: args.prompts // 2]
    models = predictor.models

    for prompt in prompts[:50]:  # warm caches and lazy imports
        predictor.predict(prompt, models)
        classifier.classify(prompt)
    quality = _time_each(prompts, lambda p: predictor.predict(p, models), args.repeat)
    vector = _time_each(prompts, predictor.prompt_logits, args.repeat)
    tasks = _time_each(prompts, classifier.classify, args.repeat)

    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}"
    )
    versions = f"python {platform.python_version()}, numpy {np.__version__}"
    print(f"cpus: {os.cpu_count()}, {versions}")
    print(f"artifacts loaded in {load_seconds * 1e3:.0f} ms")
    lengths = [len(p) for p in prompts]
    print(
        f"prompts: {len(prompts)} (chars median {statistics.median(lengths):.0f}, "
        f"max {max(lengths)}), repeat {args.repeat}"
    )
    label = f"quality, {len(models)} models, featurisation included"
    print(f"{label}: {_percentiles(quality)}")
    print(f"prompt_logits (every model at once): {_percentiles(vector)}")
    print(f"task type: {_percentiles(tasks)}")


if __name__ == "__main__":
    main()
