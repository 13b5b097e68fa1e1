"""Outcome data: how well each model did on each prompt, and what it cost.

The file format is a CSV with one row per prompt: a ``prompt`` column, an
optional ``eval_name`` (the benchmark or source the prompt came from), then
for every model a ``score__<model>`` column (higher is better, usually 0 or
1) and optionally a ``cost__<model>`` column (US dollars for that call).
A prompt written as a Python list literal of strings (as RouterBench
exports them) is read as those strings joined by blank lines.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from megarouter.errors import InvalidArgument

SCORE_PREFIX = "score__"
COST_PREFIX = "cost__"


@dataclass(frozen=True)
class OutcomeData:
    """Per-prompt scores and costs of a set of models.

    Attributes:
        prompts: the prompt texts, one per row.
        sources: the benchmark or source of each prompt ("" when unknown).
        models: the model ids, one per column of ``scores`` and ``costs``.
        scores: shape (prompts, models), the score each model got.
        costs: shape (prompts, models), US dollars per call; NaN when unknown.
        sha256: the hex digest of the file the data was read from.
    """

    prompts: list[str]
    sources: NDArray[np.str_]
    models: list[str]
    scores: NDArray[np.float64]
    costs: NDArray[np.float64]
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, rows: NDArray[np.int64]) -> OutcomeData:
        """The same data restricted to ``rows``, in that order."""
        return OutcomeData(
            prompts=[self.prompts[i] for i in rows],
            sources=self.sources[rows],
            models=list(self.models),
            scores=self.scores[rows],
            costs=self.costs[rows],
            sha256=self.sha256,
        )

    def with_models(self, models: list[str]) -> OutcomeData:
        """The same prompts with only ``models``' columns, in that order."""
        missing = [m for m in models if m not in self.models]
        if missing:
            raise InvalidArgument(f"models not in the data: {', '.join(missing)}")
        columns = [self.models.index(m) for m in models]
        return OutcomeData(
            prompts=self.prompts,
            sources=self.sources,
            models=list(models),
            scores=self.scores[:, columns],
            costs=self.costs[:, columns],
            sha256=self.sha256,
        )


def merge_outcomes(first: OutcomeData, second: OutcomeData) -> OutcomeData:
    """Both data sets' rows, over the union of their models.

    A model one data set lacks has no score (NaN) on that set's rows; the
    fitter masks missing scores, so each row teaches only what it observed.
    The digest covers both sources.
    """
    models = list(first.models) + [m for m in second.models if m not in first.models]

    def widen(values: NDArray[np.float64], own: list[str]) -> NDArray[np.float64]:
        out = np.full((values.shape[0], len(models)), np.nan)
        out[:, [models.index(m) for m in own]] = values
        return out

    digest = hashlib.sha256(f"{first.sha256}+{second.sha256}".encode()).hexdigest()
    return OutcomeData(
        prompts=[*first.prompts, *second.prompts],
        sources=np.concatenate([first.sources, second.sources]).astype(np.str_),
        models=models,
        scores=np.vstack(
            [widen(first.scores, first.models), widen(second.scores, second.models)]
        ),
        costs=np.vstack(
            [widen(first.costs, first.models), widen(second.costs, second.models)]
        ),
        sha256=digest,
    )


def decode_prompt(raw: str) -> str:
    """A prompt cell as plain text, unpacking a list-of-strings literal."""
    stripped = raw.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            parts = ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            return raw
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return "\n\n".join(parts)
    return raw


def load_outcomes(path: Path, sample: int | None = None) -> OutcomeData:
    """Read an outcome CSV.

    Args:
        path: the CSV file.
        sample: keep only this many rows, evenly spaced through the file
            (for quick runs), or all rows when None.

    Returns:
        The prompts with their per-model scores and costs.

    Raises:
        InvalidArgument: the file is missing, unreadable or has no score
            columns.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read outcome data {path}: {exc}") from exc
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(raw.decode("utf-8").splitlines(keepends=True))
    columns = reader.fieldnames or []
    models = [c[len(SCORE_PREFIX) :] for c in columns if c.startswith(SCORE_PREFIX)]
    if "prompt" not in columns or not models:
        raise InvalidArgument(f"{path} needs a prompt column and score__ columns")

    prompts: list[str] = []
    sources: list[str] = []
    scores: list[list[float]] = []
    costs: list[list[float]] = []
    for row in reader:
        prompts.append(decode_prompt(row["prompt"]))
        sources.append(row.get("eval_name") or row.get("source") or "")
        scores.append([_number(row[SCORE_PREFIX + m]) for m in models])
        costs.append([_number(row.get(COST_PREFIX + m, "")) for m in models])

    data = OutcomeData(
        prompts=prompts,
        sources=np.array(sources, dtype=np.str_),
        models=models,
        scores=np.array(scores, dtype=np.float64),
        costs=np.array(costs, dtype=np.float64),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    if sample is None or sample >= len(data):
        return data
    rows = np.linspace(0, len(data) - 1, num=max(sample, 1)).round().astype(np.int64)
    return data.subset(np.unique(rows))


def _number(cell: str | None) -> float:
    """A CSV cell as a float, NaN when empty."""
    if cell is None or cell.strip() == "":
        return float("nan")
    return float(cell)
