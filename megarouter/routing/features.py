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
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")

# Fast exact shortcuts for the patterns above (``tests/routing`` checks each
# against its pattern on generated text):
# * For an ASCII character, ``_LETTER`` is exactly [A-Za-z] and ``_DIGIT``
#   exactly [0-9], so the ASCII part of a text is counted with
#   ``bytes.translate`` and only its non-ASCII characters go to the regexes.
# * Every match of ``_CODE_MARKERS`` contains one of ``_CODE_LITERALS``, and
#   every match of ``_CODE_REQUEST`` one of ``_CODE_WORDS`` once lower-cased;
#   when none is present the pattern cannot match, so it is not run.
#   Case-insensitive patterns can match some non-ASCII characters (the
#   Kelvin sign matches "k"), so that shortcut is only taken for ASCII text.
# * ``_MATH_MARKERS`` alternatives never overlap one another, so its match
#   count is the sum of each alternative's count, taken with ``str.count``.
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ASCII_UPPER = _ASCII_LETTERS[:26]
_ASCII_DIGITS = b"0123456789"
_CODE_LITERALS = (
    "```", "def ", "class ", "import ", "return", "{\n", "}\n", ";\n",
    "function", "=>", "#include",
)  # fmt: skip
_CODE_WORDS = (
    "python", "function", "code", "script", "program", "algorithm", "sql",
    "regex", "implement", "compile", "bug", "api",
)  # fmt: skip
_MATH_LITERALS = ("=", "+", "-", "*", "/", "^", "<", ">", "\\frac", "\\sqrt", "$")
_MATH_WORDS = re.compile(r"\bsolve\b|\bprove\b")

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
    letters, digits, upper, non_ascii = _char_counts(focus)
    lowered = focus.lower() if focus.isascii() else None
    return np.array(
        [
            math.log1p(len(prompt)),
            math.log1p(len(focus)),
            math.log1p(prompt.count("\n\n")),
            min(_answer_cues(prompt), 10) / 10.0,
            min(len(_OPTION_LINE.findall(focus)), 8) / 4.0,
            float(_has_code_markers(focus)),
            float(_has_code_request(focus, lowered)),
            min(_math_marker_count(focus) / n_chars * 20.0, 3.0),
            digits / n_chars,
            float("?" in focus),
            non_ascii / n_chars,
            upper / (letters or 1),
        ],
        dtype=np.float64,
    )


def _char_counts(text: str) -> tuple[int, int, int, int]:
    """Counts of ``_LETTER``, ``_DIGIT``, ``_UPPER`` and non-ASCII characters.

    Each of these classes looks at one character at a time, so the ASCII
    characters (counted with ``bytes.translate``) and the non-ASCII ones
    (counted with the regexes) add up to the regexes' count over the text.
    """
    ascii_part = text.encode("ascii", "ignore")
    size = len(ascii_part)
    letters = size - len(ascii_part.translate(None, _ASCII_LETTERS))
    digits = size - len(ascii_part.translate(None, _ASCII_DIGITS))
    upper = size - len(ascii_part.translate(None, _ASCII_UPPER))
    non_ascii = len(text) - size
    if non_ascii:
        rest = "".join(_NON_ASCII.findall(text))
        letters += len(_LETTER.findall(rest))
        digits += len(_DIGIT.findall(rest))
    return letters, digits, upper, non_ascii


def _answer_cues(prompt: str) -> int:
    """How many ``Answer:`` cues the prompt holds (matches of ``_ANSWER_CUE``)."""
    if prompt.isascii() and "answer" not in prompt.lower():
        return 0
    return len(_ANSWER_CUE.findall(prompt))


def _has_code_markers(text: str) -> bool:
    """Whether ``_CODE_MARKERS`` matches, skipping it when no literal is there."""
    if not any(literal in text for literal in _CODE_LITERALS):
        return False
    return _CODE_MARKERS.search(text) is not None


def _has_code_request(text: str, lowered: str | None) -> bool:
    """Whether ``_CODE_REQUEST`` matches; ``lowered`` is ASCII text lower-cased.

    ``lowered`` is None for non-ASCII text, which always runs the pattern.
    """
    if lowered is not None and not any(word in lowered for word in _CODE_WORDS):
        return False
    return _CODE_REQUEST.search(text) is not None


def _math_marker_count(text: str) -> int:
    """The number of ``_MATH_MARKERS`` matches in ``text``."""
    count = sum(text.count(literal) for literal in _MATH_LITERALS)
    if "solve" in text or "prove" in text:
        count += len(_MATH_WORDS.findall(text))
    return count


def word_grams(text: str) -> list[str]:
    """The text's lower-cased word unigrams followed by its bigrams."""
    tokens = _lower_tokens(text)
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def _lower_tokens(text: str) -> list[str]:
    """The text's ``_TOKEN`` matches, lower-cased.

    Lower-casing ASCII text first gives the same tokens (it maps letters to
    letters), in one call; other text can change length when lower-cased
    ("İ" becomes two characters), so its tokens are lower-cased one by one.
    """
    if text.isascii():
        return _TOKEN.findall(text.lower())
    return [t.lower() for t in _TOKEN.findall(text)]


def gram_bucket(gram: str, n_buckets: int) -> int:
    """The stable hash bucket of one word gram."""
    return zlib.crc32(gram.encode("utf-8")) % n_buckets


def hashed_terms(
    text: str, n_buckets: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Bucket ids and counts of the text's word unigrams and bigrams.

    The same buckets as :func:`gram_bucket` of each of :func:`word_grams`, in
    order of first appearance. Each word is encoded once: the CRC-32 of a
    bigram "a b" continues the CRC-32 of "a" over the bytes of " b".
    """
    encoded = [token.encode("utf-8") for token in _lower_tokens(text)]
    unigrams = list(map(zlib.crc32, encoded))
    bigrams = map(zlib.crc32, [b" " + word for word in encoded[1:]], unigrams)
    counts = Counter(crc % n_buckets for crc in itertools.chain(unigrams, bigrams))
    buckets = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    return buckets, values


def featurise(prompt: str, n_buckets: int) -> PromptFeatures:
    """Shape and hashed word features of one prompt."""
    text = normalise_prompt(prompt)
    focus = prompt_focus(text)
    buckets, counts = hashed_terms(focus, n_buckets)
    return PromptFeatures(shape_vector(text, focus), buckets, counts)
