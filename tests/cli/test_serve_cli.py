"""``megarouter serve --workers N``: a small supervisor, and workers that get
the same settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from megarouter.testing.fake_http import free_port

pytestmark = pytest.mark.slow

# Shared objects that only an import of grpc, sqlalchemy or numpy maps.
SERVER_LIBRARIES = ("grpc/_cython/cygrpc", "site-packages/sqlalchemy/", "numpy/_core")


@contextmanager
def supervisor(
    tmp_path: Path, *args: str, **settings: str
) -> Iterator[tuple[psutil.Process, Path]]:
    """``megarouter serve --workers 2 ARGS``, its output going to a file."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MEGAROUTER_")}
    env = {
        **inherited,
        "MEGAROUTER_LISTEN": f"127.0.0.1:{free_port()}",
        "MEGAROUTER_DATA_DIR": str(tmp_path / "data"),
        "MEGAROUTER_METRICS_LISTEN": "",
        **settings,
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "megarouter", "serve", "--workers", "2", *args],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield psutil.Process(process.pid), log
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(60)
    assert status == 0, log.read_text()


def wait_until(done: Callable[[], bool], process: psutil.Process, log: Path) -> None:
    for _ in range(600):
        if done():
            return
        assert process.is_running(), log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting; the output so far:\n{log.read_text()}")


def started_workers(process: psutil.Process) -> list[psutil.Process]:
    workers = []
    for child in process.children():
        try:
            if "--worker" in child.cmdline():
                workers.append(child)
        except psutil.Error:  # the storage child, exiting or not yet reaped
            continue
    return workers


def test_supervisor_prepares_storage_without_loading_the_server(
    tmp_path: Path,
) -> None:
    with supervisor(tmp_path, MEGAROUTER_PLUGINS="openai") as (process, log):
        wait_until(lambda: len(started_workers(process)) == 2, process, log)
        mapped = {region.path for region in process.memory_maps()}

    # Storage was prepared, once, before the workers started...
    assert log.read_text().count("Admin API key (shown once") == 1
    # ...and the supervisor never imported what preparing it needs.
    loaded = [path for path in mapped if any(lib in path for lib in SERVER_LIBRARIES)]
    assert loaded == []


def test_workers_read_the_config_file_given_with_config(tmp_path: Path) -> None:
    config = tmp_path / "megarouter.toml"
    config.write_text('plugins = "openai"\n')
    loaded = "megarouter.providers.registry: loaded "

    # Without the file, a worker would load every installed plugin. The
    # supervisor loads them once too, to check the providers before starting
    # any worker; then each of the two workers does.
    with supervisor(tmp_path, "--config", str(config)) as (process, log):
        wait_until(lambda: log.read_text().count(loaded) == 3, process, log)

    output = log.read_text()
    assert output.count(f"{loaded}1 plugins") == 3, output
