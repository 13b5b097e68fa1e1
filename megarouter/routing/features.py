"""Turn a prompt into the numbers the routing models read.

Two kinds of feature, both computed in well under a millisecond:

* **Shape**: a handful of dense numbers that describe what the prompt looks
  like rather than what it is about (length, few-shot structure, multiple
  choice options, code and math markers, script). They carry over to prompts
  from sources the models were never fitted on.
* **Words**: word unigrams and bigrams of the prompt's *focus* (the last
  question, after any few-shot examples), hashed into a fixed number of
  buckets with a stable CRC-32 hash, so the vocabulary needs no storage and
  the features are identical in every process.

Few-shot prompts repeat the same worked examples in front of every question;
reading only the focus keeps those shared examples from dominating the words.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FOCUS_CHARS = 1200  # the words of the prompt's tail are what we hash

# Words of alphabetic scripts, single CJK characters, single punctuation.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\W_]+|[^\w\s]")
_OPTION_LINE = re.compile(r"^\s*\(?[A-Ja-j][).:]\s+\S", re.MULTILINE)
_CODE_MARKERS = re.compile(
    r"```|\bdef |\bclass |\bimport |\breturn\b|[{};]\n|\bfunction\b|=>|#include"
)
_CODE_REQUEST = re.compile(
    r"\b(python|function|code|script|program|algorithm|sql|regex|javascript|"
    r"implement|compile|debug|bug|api)\b",
    re.IGNORECASE,
)
_MATH_MARKERS = re.compile(r"[=+\-*/^<>]|\\frac|\\sqrt|\$|\bsolve\b|\bprove\b")
_ANSWER_CUE = re.compile(r"\bAnswer\s*:", re.IGNORECASE)
_EXAMPLE_BREAK = re.compile(r"\n\s*\n")
_LETTER = re.compile(r"[^\W\d_]")
_UPPER = re.compile(r"[A-Z]")
_DIGIT = re.compile(r"\d")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")

SHAPE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_focus_chars",
    "log_blocks",
    "few_shot_examples",
    "option_count",
    "has_code_markers",
    "code_request",
    "math_density",
    "digit_share",
    "question_mark",
    "non_ascii_share",
    "upper_share",
)


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """A prompt's dense shape vector and its hashed word counts."""

    shape: NDArray[np.float64]
    buckets: NDArray[np.int64]
    counts: NDArray[np.float64]


def normalise_prompt(prompt: str) -> str:
    """The prompt with Windows line ends folded and outer blanks removed."""
    return prompt.replace("\r\n", "\n").strip()


def prompt_focus(prompt: str) -> str:
    """The part of a prompt that asks the actual question.

    A few-shot prompt ends with its real question after the worked examples,
    which are separated by blank lines; everything else is read from its end.
    """
    tail = prompt[-FOCUS_CHARS * 2 :]
    cues = list(_ANSWER_CUE.finditer(tail))
    if len(cues) >= 2:
        # Start after the previous example's answer, on the line after its cue.
        start = tail.find("\n", tail.find("\n", cues[-2].end()) + 1)
        blocks = _EXAMPLE_BREAK.split(tail[start:].strip())
        question = "\n\n".join(b for b in blocks if not _is_preamble(b))
        return question[-FOCUS_CHARS:]
    return tail[-FOCUS_CHARS:]


def _is_preamble(block: str) -> bool:
    """True for an instruction line that every few-shot example repeats."""
    return block.lower().startswith("please answer with")


def shape_vector(prompt: str, focus: str) -> NDArray[np.float64]:
    """The dense shape features, in the order of :data:`SHAPE_NAMES`."""
    n_chars = max(len(focus), 1)
    letters = len(_LETTER.findall(focus)) or 1
    return np.array(
        [
            math.log1p(len(prompt)),
            math.log1p(len(focus)),
            math.log1p(prompt.count("\n\n")),
            min(len(_ANSWER_CUE.findall(prompt)), 10) / 10.0,
            min(len(_OPTION_LINE.findall(focus)), 8) / 4.0,
            float(bool(_CODE_MARKERS.search(focus))),
            float(bool(_CODE_REQUEST.search(focus))),
            min(len(_MATH_MARKERS.findall(focus)) / n_chars * 20.0, 3.0),
            len(_DIGIT.findall(focus)) / n_chars,
            float("?" in focus),
            len(_NON_ASCII.findall(focus)) / n_chars,
            len(_UPPER.findall(focus)) / letters,
        ],
        dtype=np.float64,
    )


def word_grams(text: str) -> list[str]:
    """The text's lower-cased word unigrams followed by its bigrams."""
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def gram_bucket(gram: str, n_buckets: int) -> int:
    """The stable hash bucket of one word gram."""
    return zlib.crc32(gram.encode("utf-8")) % n_buckets


def hashed_terms(
    text: str, n_buckets: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Bucket ids and counts of the text's word unigrams and bigrams."""
    grams = word_grams(text)
    counts = Counter(zlib.crc32(g.encode("utf-8")) % n_buckets for g in grams)
    buckets = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    return buckets, values


def featurise(prompt: str, n_buckets: int) -> PromptFeatures:
    """Shape and hashed word features of one prompt."""
    text = normalise_prompt(prompt)
    focus = prompt_focus(text)
    buckets, counts = hashed_terms(focus, n_buckets)
    return PromptFeatures(shape_vector(text, focus), buckets, counts)
