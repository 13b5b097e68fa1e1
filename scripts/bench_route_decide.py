"""How long Router.decide takes over the whole shipped catalog.

Every provider of every installed plugin is treated as configured, so the
router filters all chat models (about 2,300) on every decision. Prints p50
and p99 of decide() for each rule strategy and for the learned quality model
(task classification and featurisation included), with machine facts.

    python scripts/bench_route_decide.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from megarouter.catalog.prices import PriceTable
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
) -> tuple[float, float, int]:
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
    return statistics.median(times), times[int(len(times) * 0.99)], candidates


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
    for name, router in (("rule", rule), ("learned", learned)):
        for strategy in Strategy:
            p50, p99, considered = measure(router, context, args.rounds, strategy)
            print(
                f"{name:8s} {strategy.value:14s} p50 {p50:8.1f}  p99 {p99:8.1f}"
                f"  (models considered: {considered})"
            )
    print(f"load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
