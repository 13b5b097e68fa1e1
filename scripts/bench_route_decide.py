"""How long Router.decide takes over the whole shipped catalog.

Every provider of every installed plugin is treated as configured, so the
router filters all chat models (about 2,300) on every decision. Prints p50,
p90 and p99 of decide() for each rule strategy and for the learned quality
model (task classification and featurisation included), with machine facts;
then the rule router once more with a busy health board (latencies observed
for hundreds of models, a few circuits open), as a long-running server has.

    python scripts/bench_route_decide.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time

from megarouter.catalog.prices import PriceTable
from megarouter.errors import ProviderServerError
from megarouter.providers.health import HealthBoard
from megarouter.providers.registry import ProviderRegistry
from megarouter.routing.bundle import load_default_predictor
from megarouter.routing.catalog_view import RoutableCatalog
from megarouter.routing.decision import (
    Requirements,
    RouteRequest,
    RoutingPolicy,
    Strategy,
)
from megarouter.routing.learned import LearnedQuality
from megarouter.routing.router import PriorQuality, RouteContext, Router
from megarouter.routing.tasks import load_default_task_classifier

PROMPTS = [
    "Classify the sentiment of this review: the battery died after two days.",
    "Write a Python function that merges two sorted lists.",
    "Summarise the following meeting notes in three bullet points: ...",
    "What is 17 * 23? Explain step by step.",
    "Translate into French: where is the train station?",
    "Tell me a short story about a lighthouse keeper.",
]


def measure(
    router: Router, context: RouteContext, rounds: int, strategy: Strategy
) -> tuple[float, float, float, int]:
    times = []
    candidates = 0
    for i in range(rounds):
        request = RouteRequest(
            "auto",
            Requirements(input_tokens=200),
            prompt=PROMPTS[i % len(PROMPTS)],
            policy=RoutingPolicy(strategy=strategy),
        )
        start = time.perf_counter()
        decision = router.decide(request, context)
        times.append((time.perf_counter() - start) * 1e6)
        candidates = decision.considered
    times.sort()
    p90, p99 = times[int(len(times) * 0.9)], times[int(len(times) * 0.99)]
    return statistics.median(times), p90, p99, candidates


def busy_board(catalog: RoutableCatalog, observed: int, failing: int) -> HealthBoard:
    """A board that has seen ``observed`` models and opened ``failing``."""
    logging.getLogger("megarouter.providers.health").setLevel(logging.ERROR)
    board = HealthBoard()
    for i, model in enumerate(catalog.models[:observed]):
        board.record_success(model.provider.name, model.spec.id, 300.0 + i)
    for model in catalog.models[:failing]:
        error = ProviderServerError("bench", provider=model.provider.name)
        for _ in range(5):
            board.record_failure(model.provider.name, model.spec.id, error)
    return board


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()

    registry = ProviderRegistry()
    registry.load()
    table = PriceTable(entry.spec for entry in registry.providers.values())
    catalog = RoutableCatalog(table.models(), lambda provider: True)
    context = RouteContext(catalog, HealthBoard(), org_id="bench")
    classifier = load_default_task_classifier()

    def classify(prompt: str) -> str:
        return classifier.classify(prompt).task.value

    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}, python {platform.python_version()}"
    )
    print(
        f"catalog: {len(catalog)} models, all providers configured; "
        f"{args.rounds} decisions each, times in microseconds"
    )
    rule = Router(quality=PriorQuality(), classify=classify)
    learned = Router(
        quality=LearnedQuality(load_default_predictor()), classify=classify
    )
    busy = RouteContext(catalog, busy_board(catalog, 300, 5), org_id="bench")
    runs = [("rule", rule, context, s) for s in Strategy]
    runs += [("learned", learned, context, s) for s in Strategy]
    runs.append(("rule+busy", rule, busy, Strategy.BALANCED))
    for name, router, where, strategy in runs:
        p50, p90, p99, considered = measure(router, where, args.rounds, strategy)
        print(
            f"{name:9s} {strategy.value:14s} p50 {p50:7.1f}  p90 {p90:7.1f}"
            f"  p99 {p99:7.1f}  (models considered: {considered})"
        )
    print("rule+busy: 300 models with observed latency, 5 circuits open")
    print(f"load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
