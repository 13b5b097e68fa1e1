"""Sample a running server with py-spy and name what costs the most.

``py-spy record --format raw`` writes one folded stack per line with its
sample count (``--threads`` puts the thread first). We keep the samples of
the server's event-loop thread (the main thread) and rank functions by
self time and by inclusive time, as shares of that thread's samples.
Samples of the database driver's thread are counted apart.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


@dataclass
class Profile:
    """Sample counts of the event-loop thread and of the other threads."""

    loop_samples: int = 0
    other_samples: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    other_inclusive: Counter[str] = field(default_factory=Counter)

    def top(self, counter: Counter[str], total: int, count: int) -> list[str]:
        return [
            f"{100 * n / max(total, 1):5.1f}%  {name}"
            for name, n in counter.most_common(count)
        ]


def record(
    pid: int, seconds: float, output: Path, rate: int = 200
) -> subprocess.Popen[bytes]:
    """Start py-spy on ``pid`` for ``seconds``; wait on the returned process."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
            "--threads",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarize(raw: Path) -> Profile:
    """Fold py-spy's raw output into per-function shares."""
    profile = Profile()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        thread, *rest = stack.split(";")
        frames = [_LINE.sub(")", frame) for frame in rest]
        if not frames:
            continue
        on_loop = thread.endswith("MainThread")  # asyncio.run's thread
        if on_loop:
            profile.loop_samples += samples
            profile.self_time[frames[-1]] += samples
            for name in set(frames):
                profile.inclusive[name] += samples
        else:
            profile.other_samples += samples
            for name in set(frames):
                profile.other_inclusive[name] += samples
    return profile
