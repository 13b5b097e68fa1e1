"""The fast paths of featurisation and the task rules agree with their regexes.

``features.py`` and ``tasks.py`` skip or replace regex scans when the answer
is known without them (ASCII character counts, literal pre-checks). These
tests compare each shortcut with the plain pattern it stands for, on text
generated from fragments that exercise the patterns: keywords in mixed
case, word boundaries, and the non-ASCII characters that match ASCII
letters when case is ignored.
"""

from __future__ import annotations

import itertools
import zlib
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from megarouter.routing import features
from megarouter.routing.tasks import RULES, matching_rule

# Characters of interest: ASCII classes, non-ASCII letters, digits and
# numerics, case-folding oddities (Kelvin sign, long s, dotless and dotted
# i), non-ASCII spaces, CJK and emoji.
_CHARS = [
    *"aAzZ09 _\n\t.,;:?!$=+-*/^<>{}()`#\\",
    "é", "ß", "日", "٣", "²", "\u212a", "\u017f", "\u0131", "\u0130",
    "😀", "\u00a0", "\u3000",
]  # fmt: skip
_WORDS = [
    "Answer:", "answer :", "\\frac", "\\sqrt", "solve", "prove", "resolve",
    "def ", "class ", "return", "```", "=>", "#include", "{\n", "function",
    "Python", "javaScript", "debug", "API", "Summarize", "tl;dr", "TLDR",
    "the main points", "in 3 sentences", "translation", "into French",
    "in german.", "based on the provided context", "Context:", "passage :",
    "classify", "Categorise", "sentiment", "which label", "positive or neutral",
    "is this spam", "extract", "pull out all", "parse the following",
    "from the attached documents", "using the given text", "\u017fummary", "\u212aey",
]  # fmt: skip

_fragments = st.one_of(st.sampled_from(_CHARS), st.sampled_from(_WORDS))
_mixed_text = st.lists(_fragments, max_size=60).map("".join)
_ascii_text = st.lists(
    st.one_of(
        st.sampled_from([c for c in _CHARS if c.isascii()]),
        st.sampled_from([w for w in _WORDS if w.isascii()]),
    ),
    max_size=60,
).map("".join)
_any_text = st.one_of(_mixed_text, _ascii_text, st.text(max_size=200))


def _regex_char_counts(text: str) -> tuple[int, int, int, int]:
    return (
        len(features._LETTER.findall(text)),
        len(features._DIGIT.findall(text)),
        len(features._UPPER.findall(text)),
        sum(not c.isascii() for c in text),
    )


@settings(max_examples=400)
@given(_any_text)
def test_char_counts_match_the_character_patterns(text: str) -> None:
    assert features._char_counts(text) == _regex_char_counts(text)


@settings(max_examples=400)
@given(_any_text)
def test_marker_shortcuts_match_their_patterns(text: str) -> None:
    lowered = text.lower() if text.isascii() else None

    assert features._answer_cues(text) == len(features._ANSWER_CUE.findall(text))
    assert features._has_code_markers(text) == bool(features._CODE_MARKERS.search(text))
    assert features._has_code_request(text, lowered) == bool(
        features._CODE_REQUEST.search(text)
    )
    assert features._math_marker_count(text) == len(
        features._MATH_MARKERS.findall(text)
    )


@settings(max_examples=400)
@given(_any_text)
def test_matching_rule_is_the_first_rule_whose_pattern_matches(text: str) -> None:
    expected = next((task for task, p in RULES if p.search(text)), None)

    assert matching_rule(text) == expected


@settings(max_examples=300)
@given(_any_text)
def test_hashed_terms_count_the_buckets_of_each_word_gram(text: str) -> None:
    tokens = [t.lower() for t in features._TOKEN.findall(text)]
    grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    expected = Counter(zlib.crc32(g.encode("utf-8")) % 97 for g in grams)

    buckets, counts = features.hashed_terms(text, 97)

    assert features.word_grams(text) == grams
    assert buckets.tolist() == list(expected.keys())
    assert np.array_equal(counts, np.array(list(expected.values()), dtype=float))
