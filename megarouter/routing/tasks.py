"""What kind of task a prompt is: a small fitted model plus transparent rules.

Nine task types. Labelled prompts exist for five of them (chat, extraction,
coding, math/reasoning, creative writing; see :data:`LABEL_MAP` for how the
labelled data's own labels fold onto ours), and a multinomial logistic
regression over hashed words and prompt shape is fitted on those. The other
four (classification, summarization, translation, retrieval QA) have no
labelled data, so explicit patterns decide them: when a pattern for one of
them matches the prompt's instruction, it wins over the fitted model, and
the prediction says which rule fired. Classifying a prompt takes well under a
millisecond and needs nothing but numpy.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import log_softmax

from megarouter.routing.artifacts import load_artifact, save_artifact
from megarouter.routing.features import SHAPE_NAMES, featurise, normalise_prompt

ARTIFACT_NAME = "task_classifier"
ARTIFACT_KIND = "megarouter.task-classifier"
FORMAT_VERSION = 1
INSTRUCTION_CHARS = 600  # rules read the start and end of a prompt


class TaskType(enum.StrEnum):
    """The kinds of task the router tells apart."""

    CHAT = "chat"
    CLASSIFICATION = "classification"
    EXTRACTION = "extraction"
    SUMMARIZATION = "summarization"
    TRANSLATION = "translation"
    RETRIEVAL_QA = "retrieval_qa"
    CODING = "coding"
    MATH_REASONING = "math_reasoning"
    CREATIVE_WRITING = "creative_writing"


# How the labels of task_type_prompts.csv fold onto our task types.
LABEL_MAP: dict[str, TaskType] = {
    "writing": TaskType.CREATIVE_WRITING,
    "roleplay": TaskType.CREATIVE_WRITING,
    "creative_writing": TaskType.CREATIVE_WRITING,
    "creativity": TaskType.CREATIVE_WRITING,
    "reasoning": TaskType.MATH_REASONING,
    "reflexion": TaskType.MATH_REASONING,
    "math": TaskType.MATH_REASONING,
    "stem": TaskType.MATH_REASONING,
    "coding": TaskType.CODING,
    "code": TaskType.CODING,
    "extraction": TaskType.EXTRACTION,
    "humanities": TaskType.CHAT,
    "knowledge": TaskType.CHAT,
    "instruct": TaskType.CHAT,
}

# Rules for the task types without labelled data, checked in this order.
RULES: tuple[tuple[TaskType, re.Pattern[str]], ...] = (
    (
        TaskType.TRANSLATION,
        re.compile(
            r"\btranslat(e|ion|ing)\b|\bin(to)? (english|french|spanish|german|"
            r"italian|portuguese|chinese|japanese|korean|russian|arabic|hindi|dutch)"
            r"\s*[:?.]?\s*$",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
    (
        TaskType.SUMMARIZATION,
        re.compile(
            r"\bsummar(y|ise|ize|ising|izing|isation|ization)\b|\btl;?dr\b|"
            r"\bcondense\b|\bthe (main|key) points\b|\bin (one|a few|\d+) sentences?\b",
            re.IGNORECASE,
        ),
    ),
    (
        TaskType.RETRIEVAL_QA,
        re.compile(
            r"\b(based on|according to|using|from) the (following|above|provided|"
            r"given|attached) (context|documents?|passages?|text|article|sources?)\b|"
            r"^\s*(context|document|passage)\s*:",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
    (
        TaskType.CLASSIFICATION,
        re.compile(
            r"\bclassify\b|\bcategori[sz]e\b|\bsentiment\b|\bwhich (category|class|"
            r"label)\b|\b(positive|negative) or (positive|negative|neutral)\b|"
            r"\bis (this|it) (spam|toxic|positive|negative)\b",
            re.IGNORECASE,
        ),
    ),
    (
        TaskType.EXTRACTION,
        re.compile(
            r"\bextract\b|\bpull out (all|the|every)\b|\bparse (the|this) "
            r"(following|text)\b",
            re.IGNORECASE,
        ),
    ),
)


# Lower-case words of which every match of each rule's pattern contains one,
# so that a rule whose words are all absent from ASCII text is not run. The
# patterns ignore case, which for non-ASCII text also lets a few non-ASCII
# characters match ASCII letters (the Kelvin sign matches "k"), so non-ASCII
# text always runs every pattern. ``tests/routing`` checks the words against
# the patterns on generated text.
RULE_WORDS: dict[TaskType, tuple[str, ...]] = {
    TaskType.TRANSLATION: (
        "translat", "english", "french", "spanish", "german", "italian",
        "portuguese", "chinese", "japanese", "korean", "russian", "arabic",
        "hindi", "dutch",
    ),
    TaskType.SUMMARIZATION: (
        "summar", "tldr", "tl;dr", "condense", "points", "sentence",
    ),
    TaskType.RETRIEVAL_QA: (
        "based on the ", "according to the ", "using the ", "from the ",
        "context", "document", "passage",
    ),
    TaskType.CLASSIFICATION: (
        "class", "categor", "sentiment", "label", "positive", "negative",
        "spam", "toxic",
    ),
    TaskType.EXTRACTION: ("extract", "pull out", "parse "),
}  # fmt: skip


def matching_rule(instruction: str) -> TaskType | None:
    """The first of :data:`RULES` whose pattern matches ``instruction``."""
    lowered = instruction.lower() if instruction.isascii() else None
    for task, pattern in RULES:
        if lowered is not None and not any(w in lowered for w in RULE_WORDS[task]):
            continue
        if pattern.search(instruction):
            return task
    return None


# A short prompt that opens with a greeting or thanks is small talk.
_GREETING = re.compile(
    r"^\W*(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening)|"
    r"how are you)\b",
    re.IGNORECASE,
)
SHORT_CHAT_CHARS = 200


@dataclass(frozen=True, slots=True)
class TaskPrediction:
    """A prompt's task type and how it was decided.

    Attributes:
        task: the predicted task type.
        confidence: the fitted model's probability of ``task``, or 1.0 when
            a rule decided.
        rule: the task type whose rule fired, or None when the model decided.
    """

    task: TaskType
    confidence: float
    rule: TaskType | None = None


@dataclass
class TaskClassifier:
    """Fitted weights over hashed words, plus the fixed rules.

    Attributes:
        classes: the task types the fitted part can output, in weight order.
        weights: shape (features, classes).
        bias: shape (classes,).
        n_buckets: hashed word buckets used by the features.
    """

    classes: list[TaskType]
    weights: NDArray[np.float64]
    bias: NDArray[np.float64]
    n_buckets: int

    def classify(self, prompt: str) -> TaskPrediction:
        """The task type of ``prompt``."""
        text = normalise_prompt(prompt)
        instruction = text[:INSTRUCTION_CHARS] + "\n" + text[-INSTRUCTION_CHARS:]
        task = matching_rule(instruction)
        if task is not None:
            return TaskPrediction(task, 1.0, rule=task)
        if _GREETING.search(text) and len(text) < SHORT_CHAT_CHARS:
            return TaskPrediction(TaskType.CHAT, 1.0, rule=TaskType.CHAT)
        probabilities = self.probabilities(text)
        best = int(np.argmax(probabilities))
        return TaskPrediction(self.classes[best], float(probabilities[best]))

    def probabilities(self, prompt: str) -> NDArray[np.float64]:
        """The fitted model's probability of each of :attr:`classes`."""
        columns, values = _row(prompt, self.n_buckets)
        logits = values @ self.weights[columns] + self.bias
        # numpy's own softmax: scipy's costs three times as much for 5 classes.
        exp = np.exp(logits - logits.max())
        return np.asarray(exp / exp.sum())

    def save(self, directory: Path) -> None:
        """Write the classifier as an artifact into ``directory``."""
        manifest = {
            "kind": ARTIFACT_KIND,
            "format": FORMAT_VERSION,
            "classes": [c.value for c in self.classes],
            "n_buckets": self.n_buckets,
        }
        save_artifact(
            directory,
            ARTIFACT_NAME,
            manifest,
            {"weights": self.weights, "bias": self.bias},
        )


def _row(prompt: str, n_buckets: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Sparse features of one prompt: shape columns, then L2-normalised words."""
    feats = featurise(prompt[:4000], n_buckets)
    words = 1.0 + np.log(feats.counts)
    words /= np.linalg.norm(words) or 1.0
    columns = np.concatenate(
        [np.arange(len(feats.shape)), len(feats.shape) + feats.buckets]
    )
    return columns, np.concatenate([feats.shape / 4.0, words])


def _matrix(prompts: Sequence[str], n_buckets: int) -> sparse.csr_matrix:
    """The features of many prompts as a sparse matrix, for fitting."""
    rows = [_row(p, n_buckets) for p in prompts]
    return sparse.csr_matrix(
        (
            np.concatenate([values for _, values in rows]),
            (
                np.concatenate([np.full(len(c), i) for i, (c, _) in enumerate(rows)]),
                np.concatenate([c for c, _ in rows]),
            ),
        ),
        shape=(len(prompts), len(SHAPE_NAMES) + n_buckets),
    )


def fit_task_classifier(
    prompts: Sequence[str],
    labels: Sequence[TaskType],
    n_buckets: int = 1 << 12,
    l2: float = 1e-3,
) -> TaskClassifier:
    """Fit the multinomial logistic part on labelled prompts."""
    classes = sorted(set(labels), key=list(TaskType).index)
    x = _matrix(prompts, n_buckets)
    xt = x.T.tocsr()
    y = np.zeros((len(prompts), len(classes)))
    y[np.arange(len(prompts)), [classes.index(t) for t in labels]] = 1.0
    n_features = x.shape[1]

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w = theta[: n_features * len(classes)].reshape(n_features, len(classes))
        b = theta[n_features * len(classes) :]
        logp = log_softmax(x @ w + b, axis=1)
        r = (np.exp(logp) - y) / len(prompts)
        value = -(y * logp).sum() / len(prompts) + l2 * (w * w).sum()
        grad = np.concatenate([(xt @ r + 2 * l2 * w).ravel(), r.sum(0)])
        return float(value), grad

    theta0 = np.zeros(n_features * len(classes) + len(classes))
    result = minimize(
        loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 300}
    )
    w = result.x[: n_features * len(classes)].reshape(n_features, len(classes))
    return TaskClassifier(classes, w, result.x[n_features * len(classes) :], n_buckets)


def load_task_classifier(directory: Path | Traversable) -> TaskClassifier:
    """Read a classifier artifact written by :meth:`TaskClassifier.save`."""
    manifest, arrays = load_artifact(
        directory, ARTIFACT_NAME, ARTIFACT_KIND, FORMAT_VERSION
    )
    return TaskClassifier(
        classes=[TaskType(c) for c in manifest["classes"]],
        weights=arrays["weights"],
        bias=arrays["bias"],
        n_buckets=int(manifest["n_buckets"]),
    )


def load_default_task_classifier() -> TaskClassifier:
    """The classifier shipped with MegaRouter, fitted on the shared prompts."""
    return load_task_classifier(resources.files("megarouter.routing") / "data")


def load_labelled_prompts(path: Path) -> tuple[list[str], list[TaskType]]:
    """Prompts and their task types from a ``label,prompt`` CSV.

    Rows whose label has no entry in :data:`LABEL_MAP` are skipped.
    """
    import csv
    import sys

    csv.field_size_limit(sys.maxsize)
    prompts: list[str] = []
    labels: list[TaskType] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            task = LABEL_MAP.get(row["label"].strip().lower())
            if task is not None:
                prompts.append(row["prompt"])
                labels.append(task)
    return prompts, labels
