"""What the benchmark ran on: CPU, load, and the versions that matter."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_commit(repo: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    suffix = " (with uncommitted changes)" if dirty.stdout.strip() else ""
    return (out.stdout.strip() or "unknown") + suffix


def describe(litellm_version: str, repo: Path) -> list[str]:
    """Lines describing the machine and the software under test."""
    return [
        f"cpus (nproc)      {os.cpu_count()}  {cpu_model()}",
        f"load average      {load_average()}  (1, 5, 15 min; at start)",
        f"python            {platform.python_version()} ({platform.machine()})",
        f"grpcio            {package_version('grpcio')}",
        f"protobuf          {package_version('protobuf')}",
        f"aiohttp (client)  {package_version('aiohttp')}",
        f"httpx (gateway)   {package_version('httpx')}",
        f"megarouter        {package_version('megarouter')} at {git_commit(repo)}",
        f"litellm           {litellm_version}",
    ]
