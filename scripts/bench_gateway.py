"""MegaRouter against LiteLLM's proxy, and both against calling the upstream.

One run starts, on 127.0.0.1 only:

- a fast fake OpenAI-compatible upstream (raw asyncio HTTP/1.1, keep-alive,
  one small canned chat completion with usage; ``bench/upstream.py``);
- a bare grpc.aio server answering ``CompletionService.Complete`` with a
  canned response: the floor that gRPC itself sets (``bench/echo.py``);
- ``megarouter serve`` on SQLite in a temporary directory, with a bootstrap
  admin key and the upstream registered as provider ``bench-upstream`` by a
  plugin found on the server's ``PYTHONPATH`` (``bench/megarouter_gateway.py``).
  Every call is authenticated by API key, checked by Casbin RBAC, routed,
  metered, and answered only after its usage record has committed;
- LiteLLM's proxy (installed once into ``/tmp/litellm-venv``) with the
  upstream as an ``openai/`` model, no database, two workers, the master key
  checked on every call (``bench/litellm_gateway.py``).

Closed-loop clients in separate processes (aiohttp for HTTP, grpc.aio for
gRPC; ``bench/load.py``) then measure, in rounds that alternate the systems:

- latency at 1 and 16 callers (p50, p99), and the latency each gateway
  adds over calling the upstream directly, per round then the median;
- throughput at saturation: callers double from 4 until calls/s stop
  growing, the best level counts; with each server's CPU per call;
- the peak resident memory (VmHWM) of each server's process tree.

Run: ``python scripts/bench_gateway.py [--quick] [--profile SECONDS]``.
Needs ``aiohttp`` and ``psutil`` (and ``py-spy`` for ``--profile``).
Figures and their reading: ``docs/benchmark.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import litellm_gateway, machine, profile
from bench.load import LoadGenerator, Outcome, Plan, Target
from bench.megarouter_gateway import GLOBAL_MODEL, start_megarouter
from bench.processes import ServerProcess, free_port, python_server
from bench.report import Measures, percentile, ratio, table, verdict
from bench.upstream import MODEL

REPO = Path(__file__).resolve().parent.parent
DIRECT, ECHO, MEGAROUTER, LITELLM = "direct", "grpc-echo", "megarouter", "litellm"
BASELINE = "megarouter@base"
GATEWAYS = (ECHO, MEGAROUTER, BASELINE, LITELLM)

TARGET_ADDED_P50_MS = 1.0
TARGET_ADDED_P99_MS = 3.0
TARGET_THROUGHPUT_RATIO = 5.0


@dataclass(frozen=True)
class Settings:
    """How much to measure; ``--quick`` trades precision for time."""

    rounds: int
    calls_c1: int
    calls_c16: int
    max_seconds: float
    saturation_seconds: float
    levels: tuple[int, ...]
    client_processes: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> Settings:
        if args.quick:
            base = cls(1, 300, 1600, 6.0, 2.0, (4, 16, 64), args.client_processes)
        else:
            base = cls(
                3, 2000, 8000, 15.0, 4.0, (4, 8, 16, 32, 64, 128), args.client_processes
            )
        if args.rounds:
            base = cls(args.rounds, *list(base.__dict__.values())[1:])
        return base


@dataclass
class Systems:
    """The servers under test and the targets that reach them."""

    targets: dict[str, Target]
    servers: dict[str, ServerProcess]
    megarouter_db: Path


# --- starting everything ----------------------------------------------------


@contextlib.contextmanager
def running_systems(
    directory: Path,
    with_litellm: bool,
    litellm_workers: int,
    megarouter_workers: int,
    baseline: Path | None = None,
    settings_env: dict[str, str] | None = None,
) -> Iterator[Systems]:
    """Start the upstream, the echo floor and the gateways; stop them all after."""
    servers: dict[str, ServerProcess] = {}
    try:
        upstream = python_server(
            "upstream", "upstream", free_port(), directory / "up.log"
        )
        servers[DIRECT] = upstream
        servers[ECHO] = python_server(
            "echo", "echo", free_port(), directory / "echo.log"
        )
        print(f"starting megarouter with {megarouter_workers} workers ...", flush=True)
        servers[MEGAROUTER], key = start_megarouter(
            directory,
            upstream.port,
            extra_env={
                "MEGAROUTER_WORKERS": str(megarouter_workers),
                **(settings_env or {}),
            },
        )
        targets = {
            DIRECT: Target(
                DIRECT,
                "http",
                f"http://127.0.0.1:{upstream.port}/v1/chat/completions",
                MODEL,
            ),
            ECHO: Target(ECHO, "grpc", f"127.0.0.1:{servers[ECHO].port}", GLOBAL_MODEL),
            MEGAROUTER: Target(
                MEGAROUTER,
                "grpc",
                f"127.0.0.1:{servers[MEGAROUTER].port}",
                GLOBAL_MODEL,
                key,
            ),
        }
        if baseline is not None:
            print(f"starting {BASELINE} from {baseline} ...", flush=True)
            (directory / "base").mkdir()
            servers[BASELINE], base_key = start_megarouter(
                directory / "base",
                upstream.port,
                extra_env={"MEGAROUTER_WORKERS": str(megarouter_workers)},
                tree=baseline,
            )
            targets[BASELINE] = Target(
                BASELINE,
                "grpc",
                f"127.0.0.1:{servers[BASELINE].port}",
                GLOBAL_MODEL,
                base_key,
            )
        if with_litellm:
            print(f"starting litellm with {litellm_workers} workers ...", flush=True)
            servers[LITELLM] = litellm_gateway.start_litellm(
                directory, upstream.port, workers=litellm_workers
            )
            targets[LITELLM] = Target(
                LITELLM,
                "http",
                f"http://127.0.0.1:{servers[LITELLM].port}/v1/chat/completions",
                MODEL,
                litellm_gateway.MASTER_KEY,
            )
        yield Systems(targets, servers, directory / "data" / "megarouter.db")
    finally:
        for server in reversed(servers.values()):
            server.stop()


def wait_answering(load: LoadGenerator, target: Target, timeout: float = 180) -> None:
    """Return once ``target`` answers calls without errors."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = load.run(target, Plan(1, calls=3, max_seconds=30), processes=1)
        if outcome.errors == 0 and outcome.calls == 3:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.name} does not answer: {outcome.first_error}")
        time.sleep(1)


# --- measuring ----------------------------------------------------------------


def rotated(names: list[str], by: int) -> list[str]:
    by %= len(names)
    return names[by:] + names[:by]


def measure_latency(
    load: LoadGenerator, systems: Systems, settings: Settings, measures: Measures
) -> None:
    """Latency at 1 and 16 callers, rounds alternating the systems' order."""
    names = list(systems.targets)
    for round_ in range(settings.rounds):
        p50: dict[tuple[str, int], float] = {}
        p99: dict[tuple[str, int], float] = {}
        for name in rotated(names, round_):
            for concurrency, calls in (
                (1, settings.calls_c1),
                (16, settings.calls_c16),
            ):
                plan = Plan(concurrency, calls=calls, max_seconds=settings.max_seconds)
                processes = 1 if concurrency == 1 else settings.client_processes
                outcome = load.run(systems.targets[name], plan, processes)
                report_errors(name, f"c={concurrency}", outcome)
                p50[name, concurrency] = percentile(outcome.latencies_ms, 50)
                p99[name, concurrency] = percentile(outcome.latencies_ms, 99)
                measures.add(name, f"c{concurrency}_p50", p50[name, concurrency])
                measures.add(name, f"c{concurrency}_p99", p99[name, concurrency])
                measures.add(name, f"c{concurrency}_calls", outcome.calls)
        for name in names:
            for concurrency in (1, 16):
                for q, values in (("p50", p50), ("p99", p99)):
                    base = values[DIRECT, concurrency]
                    measures.add(
                        name,
                        f"add_c{concurrency}_{q}",
                        values[name, concurrency] - base,
                    )
                    floor = values[ECHO, concurrency]
                    measures.add(
                        name,
                        f"over_echo_c{concurrency}_{q}",
                        values[name, concurrency] - floor,
                    )
        print(f"  latency round {round_ + 1}/{settings.rounds} done", flush=True)


def measure_saturation(
    load: LoadGenerator, systems: Systems, settings: Settings, measures: Measures
) -> None:
    """Calls/s as callers grow until they stop growing; best level per round."""
    names = list(systems.targets)
    for round_ in range(settings.rounds):
        for name in rotated(names, round_ + 1):
            best, best_level, best_cpu = 0.0, 0, 0.0
            flat = 0
            for level in settings.levels:
                server = systems.servers[name]
                cpu_before = server.cpu_seconds()
                outcome = load.run(
                    systems.targets[name],
                    Plan(level, seconds=settings.saturation_seconds),
                    settings.client_processes,
                )
                cpu = server.cpu_seconds() - cpu_before
                report_errors(name, f"saturation x{level}", outcome)
                if outcome.throughput > best * 1.05:
                    flat = 0
                else:
                    flat += 1
                if outcome.throughput > best:
                    best, best_level = outcome.throughput, level
                    # The server also served the warm-up calls in this window.
                    served = outcome.calls + outcome.errors + outcome.warmup_calls
                    best_cpu = cpu / max(served, 1) * 1e6
                if flat >= 2:
                    break
            measures.add(name, "peak_rps", best)
            measures.add(name, "peak_level", best_level)
            measures.add(name, "cpu_us_per_call", best_cpu)
        print(f"  saturation round {round_ + 1}/{settings.rounds} done", flush=True)


def report_errors(name: str, what: str, outcome: Outcome) -> None:
    if outcome.errors:
        print(
            f"  ! {name} {what}: {outcome.errors} errors, first: {outcome.first_error}",
            flush=True,
        )


def usage_records(database: Path) -> int:
    """How many usage records MegaRouter committed (every answered call has one)."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return int(
            connection.execute("select count(*) from usage_records").fetchone()[0]
        )


# --- reporting ----------------------------------------------------------------


def print_report(measures: Measures, systems: list[str]) -> None:
    rows = [
        ("c=1  latency p50 (ms)", "c1_p50", 2),
        ("c=1  latency p99 (ms)", "c1_p99", 2),
        ("c=16 latency p50 (ms)", "c16_p50", 2),
        ("c=16 latency p99 (ms)", "c16_p99", 2),
        ("c=1  added p50 vs direct (ms)", "add_c1_p50", 2),
        ("c=1  added p99 vs direct (ms)", "add_c1_p99", 2),
        ("c=16 added p50 vs direct (ms)", "add_c16_p50", 2),
        ("c=16 added p99 vs direct (ms)", "add_c16_p99", 2),
        ("c=1  p50 over gRPC echo (ms)", "over_echo_c1_p50", 2),
        ("saturation (calls/s)", "peak_rps", 0),
        ("  at callers", "peak_level", 0),
        ("  server CPU per call (us)", "cpu_us_per_call", 0),
        ("peak RSS (MiB)", "peak_rss_mib", 1),
    ]
    print()
    print("\n".join(table(measures, systems, rows)))


def print_verdict(measures: Measures) -> None:
    """Ratios of MegaRouter against LiteLLM, and the issue's targets."""
    med = measures.median
    mr, ll = MEGAROUTER, LITELLM
    ratios = [
        ("added p50 at c=1, LiteLLM / MegaRouter", ll, mr, "add_c1_p50"),
        ("added p99 at c=1, LiteLLM / MegaRouter", ll, mr, "add_c1_p99"),
        ("p50 at c=16, LiteLLM / MegaRouter", ll, mr, "c16_p50"),
        ("throughput, MegaRouter / LiteLLM", mr, ll, "peak_rps"),
        ("CPU per call, LiteLLM / MegaRouter", ll, mr, "cpu_us_per_call"),
        ("peak RSS, LiteLLM / MegaRouter", ll, mr, "peak_rss_mib"),
    ]
    print("\nMegaRouter against LiteLLM (medians)")
    for label, top, bottom, measure in ratios:
        print(f"  {label:<42}{ratio(med(top, measure), med(bottom, measure))}")

    add_p50, add_p99 = med(mr, "add_c1_p50"), med(mr, "add_c1_p99")
    rps, ll_rps = med(mr, "peak_rps"), med(ll, "peak_rps")
    enough = None
    if rps is not None and ll_rps:
        enough = rps >= TARGET_THROUGHPUT_RATIO * ll_rps
    targets = [
        (
            f"added p50 <= {TARGET_ADDED_P50_MS} ms at c=1",
            _check(add_p50, TARGET_ADDED_P50_MS),
        ),
        (
            f"added p99 <= {TARGET_ADDED_P99_MS} ms at c=1",
            _check(add_p99, TARGET_ADDED_P99_MS),
        ),
        (
            f"throughput >= {TARGET_THROUGHPUT_RATIO:.0f}x LiteLLM's",
            f"{verdict(enough)} ({ratio(rps, ll_rps)})",
        ),
    ]
    print("\nTargets (auth, RBAC and metering on)")
    for label, outcome in targets:
        print(f"  {label:<42}{outcome}")


def print_against_baseline(measures: Measures) -> None:
    """This tree against the baseline checkout, measured in the same rounds."""
    med = measures.median
    rows = [
        ("added p50 at c=1, base / this", BASELINE, MEGAROUTER, "add_c1_p50"),
        ("added p99 at c=1, base / this", BASELINE, MEGAROUTER, "add_c1_p99"),
        ("p50 at c=16, base / this", BASELINE, MEGAROUTER, "c16_p50"),
        ("throughput, this / base", MEGAROUTER, BASELINE, "peak_rps"),
        ("CPU per call, base / this", BASELINE, MEGAROUTER, "cpu_us_per_call"),
    ]
    print(f"\nThis tree against {BASELINE} (medians; above 1 means this is better)")
    for label, top, bottom, measure in rows:
        print(f"  {label:<42}{ratio(med(top, measure), med(bottom, measure), 2)}")


def _check(value: float | None, limit: float) -> str:
    """Whether a latency met its limit, with the value."""
    if value is None:
        return "-"
    return f"{verdict(value <= limit)} ({value:.2f} ms)"


def run_profile(
    load: LoadGenerator, systems: Systems, seconds: float, callers: int
) -> None:
    """py-spy the MegaRouter process under load; print the top costs.

    With several workers, py-spy follows the supervisor's process only:
    profile with ``--megarouter-workers 1``.
    """
    server = systems.servers[MEGAROUTER]
    raw = Path(tempfile.gettempdir()) / "megarouter-profile.txt"
    print(f"\nprofiling megarouter (pid {server.pid}) for {seconds:.0f}s ...")
    spy = profile.record(server.pid, seconds, raw)
    time.sleep(1.0)
    outcome = load.run(
        systems.targets[MEGAROUTER], Plan(callers, seconds=seconds - 2), 1
    )
    spy.wait()
    found = profile.summarize(raw)
    total = found.loop_samples + found.other_samples
    print(
        f"{outcome.throughput:.0f} calls/s while sampled; {total} samples, "
        f"{100 * found.loop_samples / max(total, 1):.0f}% on the event-loop thread"
    )
    print("\nevent-loop thread, self time (share of its samples):")
    print("\n".join(found.top(found.self_time, found.loop_samples, 25)))
    print("\nevent-loop thread, inclusive time:")
    print("\n".join(found.top(found.inclusive, found.loop_samples, 45)))
    print("\nother threads, inclusive time (share of all samples):")
    print("\n".join(found.top(found.other_inclusive, total, 10)))
    print(f"\nraw stacks: {raw}")


# --- main -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=0, help="override the rounds")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--litellm-workers", type=int, default=2)
    parser.add_argument(
        "--megarouter-workers",
        type=int,
        default=2,
        help="megarouter serve --workers (processes sharing the port)",
    )
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument(
        "--megarouter-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for this tree's MegaRouter only, such as "
        "MEGAROUTER_SQLITE_SYNCHRONOUS=FULL (repeatable)",
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        metavar="DIR",
        help=f"also run MegaRouter from another checkout (say, `git worktree add "
        f"DIR main`), as {BASELINE!r}, in the same rounds",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then py-spy MegaRouter under load for SECONDS",
    )
    parser.add_argument(
        "--profile-callers",
        type=int,
        default=16,
        help="concurrent callers while profiling",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    settings = Settings.of(args)

    litellm_version = "skipped"
    if not args.no_litellm:
        litellm_version = litellm_gateway.ensure_installed()
    print("\n".join(machine.describe(litellm_version, REPO)))
    print(
        f"method            {settings.rounds} round(s); "
        f"c=1: {settings.calls_c1} calls, "
        f"c=16: {settings.calls_c16} calls (each at most {settings.max_seconds:.0f}s); "
        f"saturation: callers {settings.levels}, {settings.saturation_seconds:.0f}s "
        f"each, {settings.client_processes} client processes",
        flush=True,
    )

    measures = Measures()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        directory = Path(tmp)
        load = LoadGenerator(max(2, settings.client_processes))
        try:
            with running_systems(
                directory,
                not args.no_litellm,
                args.litellm_workers,
                args.megarouter_workers,
                args.baseline_tree,
                dict(item.split("=", 1) for item in args.megarouter_env),
            ) as systems:
                for target in systems.targets.values():
                    wait_answering(load, target)
                print("all systems answer; measuring latency ...", flush=True)
                measure_latency(load, systems, settings, measures)
                print("measuring throughput at saturation ...", flush=True)
                measure_saturation(load, systems, settings, measures)
                for name, server in systems.servers.items():
                    measures.add(name, "peak_rss_mib", server.peak_rss_bytes() / 2**20)
                records = usage_records(systems.megarouter_db)
                if args.profile:
                    run_profile(load, systems, args.profile, args.profile_callers)
        finally:
            load.close()

    names = list(measures.rounds)
    print_report(measures, names)
    print(f"\nMegaRouter committed {records} usage records (one per answered call).")
    if BASELINE in names:
        print_against_baseline(measures)
    if LITELLM in names:
        print_verdict(measures)
    print(
        f"\nload average at end: {machine.load_average()}; "
        f"wall time {time.monotonic() - started:.0f}s"
    )
    if args.json:
        args.json.write_text(json.dumps(measures.rounds, indent=2))


if __name__ == "__main__":
    main()
