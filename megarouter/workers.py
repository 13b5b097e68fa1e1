"""Several server processes on one port: ``megarouter serve --workers N``.

One Python process runs one event loop, and so uses one core, however many
calls it has. To use every core of a machine, a supervisor process starts
N workers that each run the whole server and bind the same port with
SO_REUSEPORT; the kernel spreads incoming connections over them.

Workers share state exactly as replicas on separate machines do, through the
database (and Redis when configured): budgets by leased slices, rate limits
in Redis or leased from the database, keys, roles and policies by the auth
epoch. What stays per worker: provider health (circuit breakers, latency
averages), which each worker learns from its own calls, and the wait of a
retry for its still-running original (a duplicate that reaches another worker
while the original runs gets ALREADY_EXISTS, as it would from another replica).
gRPC balances by connection: a client with one channel talks to one worker;
several clients (or channels) spread over all of them.

The supervisor:

* prepares storage once, before any worker starts (migrations, the generated
  secret, the bootstrap admin key, shown once), in a short-lived child
  process, so that it never imports the server and stays small;
* holds the port bound (without listening) while it runs, so a port of 0
  becomes one concrete port every worker binds, and so nothing else takes it
  between worker restarts;
* restarts a worker that exits unexpectedly, backing off, and gives up when
  workers keep failing right after they start (a configuration error, say);
* forwards SIGTERM and SIGINT, so each worker drains its in-flight calls;
* serves Prometheus metrics summed over the workers
  (prometheus_client's multiprocess mode) when ``metrics_listen`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from megarouter.config import ENV_PREFIX, Settings
from megarouter.errors import ConfigurationError

if TYPE_CHECKING:
    from megarouter.tenancy.bootstrap import BootstrapResult

logger = logging.getLogger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "megarouter", "serve", "--worker")
# A worker that exits sooner than this after its start counts as failing to
# start; this many such exits in a row stop the supervisor.
QUICK_EXIT_SECONDS = 10.0
MAX_QUICK_EXITS = 5
MAX_BACKOFF_SECONDS = 10.0
# After the grace period, workers get this long to close before SIGKILL.
CLOSE_MARGIN_SECONDS = 10.0


@dataclass
class Worker:
    """One worker process and its restart bookkeeping."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float = 0.0


@dataclass
class Supervisor:
    """Starts, watches, restarts and stops the workers.

    Args:
        settings: the supervisor's settings; workers get the same ones.
        listen: the concrete HOST:PORT every worker binds.
        command: how to start one worker (tests may name another launcher).
        metrics_dir: prometheus_client's multiprocess directory, or None.
        config_file: the settings file given with ``--config``, or None.
    """

    settings: Settings
    listen: str
    command: Sequence[str] = WORKER_COMMAND
    metrics_dir: Path | None = None
    config_file: Path | None = None
    workers: list[Worker] = field(default_factory=list)
    stopping: bool = False

    def run(self) -> int:
        """Run until SIGTERM or SIGINT; returns the exit status."""
        self.workers = [Worker(i) for i in range(self.settings.worker_count)]
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        status = 0
        try:
            for worker in self.workers:
                self._start(worker)
            logger.info("serving on %s with %d workers", self.listen, len(self.workers))
            status = self._watch()
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return status

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _watch(self) -> int:
        while not self.stopping:
            now = time.monotonic()
            for worker in self.workers:
                process = worker.process
                if process is None:
                    if now >= worker.restart_at:
                        self._start(worker)
                    continue
                code = process.poll()
                if code is None:
                    continue
                if not self._schedule_restart(worker, code, now):
                    return 1
            time.sleep(0.2)
        return 0

    def _schedule_restart(self, worker: Worker, code: int, now: float) -> bool:
        """Note a worker's exit; False when workers keep failing to start."""
        assert worker.process is not None
        pid = worker.process.pid
        worker.process = None
        self._forget_metrics(pid)
        quick = now - worker.started < QUICK_EXIT_SECONDS
        worker.quick_exits = worker.quick_exits + 1 if quick else 0
        if worker.quick_exits >= MAX_QUICK_EXITS:
            logger.error(
                "worker %d (pid %d) exited with status %d %d times in a row "
                "right after starting; stopping (its log says why)",
                worker.index,
                pid,
                code,
                worker.quick_exits,
            )
            return False
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** max(0, worker.quick_exits - 1))
        worker.restart_at = now + (delay if quick else 0.0)
        logger.warning(
            "worker %d (pid %d) exited with status %d; restarting it%s",
            worker.index,
            pid,
            code,
            f" in {delay:.1f}s" if quick else "",
        )
        return True

    def _start(self, worker: Worker) -> None:
        worker.process = subprocess.Popen(list(self.command), env=self._worker_env())
        worker.started = time.monotonic()
        logger.info("worker %d started (pid %d)", worker.index, worker.process.pid)

    def _worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Environment variables win over a config file, so these reach the
        # worker whatever its file says.
        env.update(
            {
                f"{ENV_PREFIX}LISTEN": self.listen,
                f"{ENV_PREFIX}DATABASE_URL": self.settings.effective_database_url,
                f"{ENV_PREFIX}DATA_DIR": str(self.settings.data_dir),
                f"{ENV_PREFIX}WORKERS": "1",
                f"{ENV_PREFIX}AUTO_MIGRATE": "false",  # the supervisor did it
                f"{ENV_PREFIX}METRICS_LISTEN": "",  # the supervisor serves them
            }
        )
        if self.config_file is not None:
            env[f"{ENV_PREFIX}CONFIG"] = str(self.config_file.resolve())
        if self.metrics_dir is not None:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.metrics_dir)
        return env

    def _stop_all(self) -> None:
        """SIGTERM every worker, wait for their drain, then SIGKILL the rest."""
        running = [w.process for w in self.workers if w.process is not None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.grace_period + CLOSE_MARGIN_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error(
                    "worker pid %d did not stop in time; killing it", process.pid
                )
                process.kill()
                process.wait()
        for worker in self.workers:
            worker.process = None

    def _forget_metrics(self, pid: int) -> None:
        if self.metrics_dir is not None:
            from prometheus_client import multiprocess

            forget = multiprocess.mark_process_dead  # untyped in prometheus_client
            forget(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]


def run(
    settings: Settings,
    command: Sequence[str] = WORKER_COMMAND,
    config_file: Path | None = None,
) -> int:
    """Prepare storage, then supervise ``settings.worker_count`` workers.

    Args:
        settings: the supervisor's settings; workers get the same ones.
        command: how to start one worker.
        config_file: the settings file given with ``--config``, which the
            workers read too.

    Returns:
        The exit status: 0 after a signal, 1 when workers keep failing.

    Raises:
        ConfigurationError: settings, the database or the port are unusable.
    """
    prepare_storage(settings)
    with _reserved(settings.listen) as listen, _metrics(settings) as metrics_dir:
        supervisor = Supervisor(settings, listen, command, metrics_dir, config_file)
        return supervisor.run()


def prepare_storage(settings: Settings) -> None:
    """Prepare storage in a child process, which shows a new admin key.

    Preparing needs most of the server's modules (sqlalchemy, alembic,
    casbin, ...). The child takes them with it when it exits, so the
    supervisor stays small while it watches the workers.

    Raises:
        ConfigurationError: settings, the providers file or the database are
            unusable.
    """
    # fork: the supervisor has no threads and no server module yet, and the
    # child keeps its logging set-up. The child's errors are raised here.
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=fork) as child:
        child.submit(_prepare_and_show, settings).result()


def _prepare_and_show(settings: Settings) -> None:
    from megarouter.server import print_created

    print_created(asyncio.run(_prepare(settings)))


async def _prepare(settings: Settings) -> BootstrapResult | None:
    from megarouter import components

    # A bad providers file stops the supervisor here, with its message, not
    # each worker in turn until the supervisor gives up.
    components.load_registry(settings)
    database, _, created = await components.prepare_storage(settings)
    await database.dispose()
    return created


@contextlib.contextmanager
def _reserved(listen: str) -> Iterator[str]:
    """Hold ``listen``'s port bound, with SO_REUSEPORT, and yield HOST:PORT.

    Port 0 becomes the port the kernel picked. The socket never listens, so
    it takes no connections; it only keeps the port for the workers.
    """
    host, _, port = listen.rpartition(":")
    bare_host = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            bare_host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        holder = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigurationError(
            f"invalid setting MEGAROUTER_LISTEN: cannot bind {listen}: {exc}"
        ) from None
    with holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            holder.bind(address)
        except OSError as exc:
            raise ConfigurationError(
                f"invalid setting MEGAROUTER_LISTEN: cannot bind {listen}: {exc}"
            ) from None
        yield f"{host}:{holder.getsockname()[1]}"


@contextlib.contextmanager
def _metrics(settings: Settings) -> Iterator[Path | None]:
    """Serve the workers' summed metrics when ``metrics_listen`` is set."""
    if not settings.metrics_listen:
        yield None
        return
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from megarouter.metrics_http import serve_metrics

    directory = Path(tempfile.mkdtemp(prefix="megarouter-metrics-"))
    try:
        registry = CollectorRegistry()
        collect = MultiProcessCollector  # untyped in prometheus_client
        collect(registry, path=str(directory))  # type: ignore[no-untyped-call]
        serve_metrics(settings.metrics_listen, registry)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
