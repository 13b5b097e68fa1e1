"""TokenCounter: cl100k_base counts, offline, for text, messages and tools."""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from megarouter.providers.tokens import (
    DEFAULT_IMAGE_TOKENS,
    SLICE_CHARS,
    TokenCounter,
    estimate_text_tokens,
    image_tokens,
    load_encoding,
)
from megarouter.providers.types import (
    ImagePart,
    Message,
    Role,
    TextPart,
    Tool,
    ToolCall,
)

PROSE = (
    "Routing picks the model that fits the task, the budget and the health of "
    "each provider. It falls back when one fails, and records what was used.\n\n"
)


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def png(width: int, height: int) -> str:
    """Base64 of a PNG signature and header chunk of the given size."""
    header = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header
    return base64.b64encode(data + b"\x00" * 16).decode()


def jpeg(width: int, height: int) -> str:
    """Base64 of a JPEG start, an APP0 segment and a baseline frame header."""
    app0 = (
        b"\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00"
        + b"\x01\x01\x00"
        + b"\x00" * 6
    )
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3)
    return base64.b64encode(b"\xff\xd8" + app0 + frame + b"\x00" * 15).decode()


def test_encoding_is_cl100k_base_loaded_offline() -> None:
    encoding = load_encoding()

    assert encoding is not None
    assert encoding.encode_ordinary("hello world") == [15339, 1917]
    assert encoding.encode_ordinary("tiktoken is great!") == [
        83, 1609, 5963, 374, 2294, 0,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("hello world", 2),
        ("Hello, world!", 4),
        ("tiktoken is great!", 6),
        (" ", 1),
        ("\n\n", 1),
        ("<|endoftext|>", 7),  # special-token text in input is ordinary text
    ],
)
def test_text_counts_match_cl100k_base(
    counter: TokenCounter, text: str, tokens: int
) -> None:
    assert counter.count_text(text) == tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("こんにちは世界", 4), ("👍🏽", 6), ("naïve café", 4)],
    ids=["japanese", "emoji-with-skin-tone", "accents"],
)
def test_unicode_counts_match_cl100k_base(
    counter: TokenCounter, text: str, tokens: int
) -> None:
    count = counter.count_text(text)

    assert count == tokens
    assert count <= len(text.encode())  # byte-level BPE: never more than bytes


def test_empty_inputs_count_zero(counter: TokenCounter) -> None:
    assert counter.count_text("") == 0
    assert counter.count_messages([]) == 0
    assert counter.count_tools([]) == 0


def test_message_count_adds_openai_chat_framing(counter: TokenCounter) -> None:
    one = [Message.text(Role.USER, "hello world")]
    two = [Message.text(Role.SYSTEM, "Be brief."), *one]

    # 3 per message + role + content, then 3 to prime the reply
    assert counter.count_messages(one) == 3 + 1 + 2 + 3
    assert counter.count_messages(two) == (3 + 1 + 3) + (3 + 1 + 2) + 3


def test_message_name_costs_one_token_more_than_its_text(
    counter: TokenCounter,
) -> None:
    plain = Message.text(Role.USER, "hi")
    named = Message(Role.USER, (TextPart("hi"),), name="alice")

    extra = counter.count_messages([named]) - counter.count_messages([plain])

    assert extra == 1 + counter.count_text("alice")


def test_tool_calls_and_results_are_counted(counter: TokenCounter) -> None:
    arguments = '{"city": "Paris", "unit": "celsius"}'
    call = Message(
        Role.ASSISTANT, tool_calls=(ToolCall("call_1", "get_weather", arguments),)
    )
    result = Message(Role.TOOL, (TextPart('{"temp": 21}'),), tool_call_id="call_1")

    call_count = counter.count_messages([call])
    result_count = counter.count_messages([result])

    expected_call = (
        3 + counter.count_text("get_weather") + counter.count_text(arguments)
    )
    assert call_count == 3 + 1 + expected_call + 3
    assert result_count == 3 + 1 + counter.count_text('{"temp": 21}') + 3


def test_tool_definitions_count_their_json_text(counter: TokenCounter) -> None:
    small = Tool("now")
    weather = Tool(
        "get_weather",
        "Current weather for a city.",
        {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    )

    both = counter.count_tools([small, weather])

    assert counter.count_tools([small]) == counter.count_text(
        '{"name":"now","description":"","parameters":{}}'
    )
    assert both > counter.count_tools([small]) + 20


@pytest.mark.parametrize(
    ("image", "tokens"),
    [
        (ImagePart(data_base64=png(1024, 1024), media_type="image/png"), 765),
        (ImagePart(data_base64=png(512, 512), media_type="image/png"), 255),
        (ImagePart(data_base64=png(2048, 4096), media_type="image/png"), 1105),
        (ImagePart(data_base64=jpeg(1600, 900), media_type="image/jpeg"), 1105),
        (ImagePart(url=f"data:image/png;base64,{png(300, 200)}"), 255),
        (ImagePart(url="https://example.com/cat.png"), DEFAULT_IMAGE_TOKENS),
        (ImagePart(data_base64="not an image", media_type="image/png"), 765),
    ],
    ids=["png-1024", "png-512", "png-tall", "jpeg", "data-url", "url", "garbage"],
)
def test_images_cost_by_size_or_a_fixed_estimate(image: ImagePart, tokens: int) -> None:
    assert image_tokens(image) == tokens


def test_images_in_messages_add_their_estimate(counter: TokenCounter) -> None:
    text_only = Message.text(Role.USER, "What is this?")
    with_image = Message(
        Role.USER,
        (TextPart("What is this?"), ImagePart(data_base64=png(512, 512))),
    )

    extra = counter.count_messages([with_image]) - counter.count_messages([text_only])

    assert extra == 255


def test_long_prose_counts_exactly_across_slices(counter: TokenCounter) -> None:
    encoding = load_encoding()
    assert encoding is not None
    text = PROSE * (5 * SLICE_CHARS // len(PROSE))

    assert counter.count_text(text) == len(encoding.encode_ordinary(text))


def test_hundred_thousand_characters_complete(counter: TokenCounter) -> None:
    runs = "a" * 100_000
    blob = base64.b64encode(bytes(range(256)) * 300).decode()[:100_000]
    spaces = " " * 100_000

    assert counter.count_text(runs) == pytest.approx(12_500, abs=5)
    assert counter.count_text(blob) > 25_000
    assert 0 < counter.count_text(spaces) < 1_000


def test_counts_are_deterministic_across_threads(counter: TokenCounter) -> None:
    texts = [PROSE * n for n in range(1, 40)]
    expected = [counter.count_text(t) for t in texts]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(counter.count_text, texts))

    assert results == expected
    assert [counter.count_text(t) for t in texts] == expected


def test_estimate_is_a_quarter_of_the_characters_rounded_up() -> None:
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("abc") == 1
    assert estimate_text_tokens("abcd") == 1
    assert estimate_text_tokens("abcde") == 2


def test_missing_encoding_falls_back_to_estimates_and_warns_once(
    tmp_path: Path,
) -> None:
    # A broken install: a tiktoken_ext package without the rank file shadows
    # the real one, so the encoding cannot load.
    (tmp_path / "tiktoken_ext").mkdir()
    (tmp_path / "tiktoken_ext" / "__init__.py").write_text("")
    script = textwrap.dedent(
        """
        import logging
        logging.basicConfig(format="%(levelname)s %(message)s")
        from megarouter.providers.tokens import TokenCounter
        counter = TokenCounter()
        print(counter.count_text("hello world"), counter.count_text("abcdefgh"))
        """
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}

    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )

    assert done.stdout.split() == ["3", "2"]
    assert done.stderr.count("WARNING") == 1
    assert "cannot load the cl100k_base token encoding" in done.stderr


def test_loading_the_encoding_writes_and_fetches_nothing(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = (
        "from megarouter.providers.tokens import load_encoding\n"
        "print(load_encoding().encode_ordinary('hello world'))\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")
    }
    env |= {"PYTHONPATH": str(root), "TMPDIR": str(scratch), "HOME": str(scratch)}

    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )

    assert done.stdout.strip() == "[15339, 1917]"
    assert list(scratch.iterdir()) == []  # tiktoken's cache would land here
