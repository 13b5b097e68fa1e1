"""Start, watch and stop the server processes a benchmark runs against."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

SCRIPTS = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ServerProcess:
    """A server in a child process (its own session), stopped on exit."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        env: dict[str, str | None] | None = None,
        log: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self._log = log
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        merged: dict[str, str | None] = {
            **os.environ,
            "PYTHONPATH": str(SCRIPTS),
            **(env or {}),
        }
        self._proc = subprocess.Popen(
            list(argv),
            env={k: v for k, v in merged.items() if v is not None},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )
        if not isinstance(out, int):
            out.close()  # the child holds its own copy
        self._peaks: dict[int, int] = {}

    @property
    def pid(self) -> int:
        return self._proc.pid

    def wait_listening(self, timeout: float = 120.0) -> None:
        """Return once the port accepts connections; fail if the child died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self._log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen within {timeout:.0f}s")

    def processes(self) -> list[psutil.Process]:
        """The child and its descendants (LiteLLM's workers, for instance)."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def peak_rss_bytes(self) -> int:
        """Sum over the process tree of each process's peak resident set."""
        for proc in self.processes():
            try:
                self._peaks[proc.pid] = max(
                    self._peaks.get(proc.pid, 0), _vm_hwm(proc.pid)
                )
            except (OSError, ValueError):
                continue
        return sum(self._peaks.values())

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the tree so far."""
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left."""
        if self._proc.poll() is not None:
            return
        self.peak_rss_bytes()
        try:
            os.killpg(self.pid, signal.SIGTERM)
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self._proc.wait(5)
        except ProcessLookupError:
            pass


def _vm_hwm(pid: int) -> int:
    """The kernel's high-water mark of a process's resident set, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no VmHWM")


def python_server(name: str, module: str, port: int, log: Path) -> ServerProcess:
    """One of our own small servers, ``python -m bench.<module> PORT``."""
    server = ServerProcess(
        name, [sys.executable, "-m", f"bench.{module}", str(port)], port, log=log
    )
    server.wait_listening()
    return server
