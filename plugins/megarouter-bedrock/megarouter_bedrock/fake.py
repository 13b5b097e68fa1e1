"""A fake Amazon Bedrock runtime on loopback, for tests of this and other packages.

It answers Converse, ConverseStream (as real AWS event-stream frames) and
InvokeModel for Titan text embeddings, checks each request's SigV4
signature by recomputing it with botocore (or its Bedrock API key), checks
the request's shape as Bedrock does, and answers errors with Bedrock's
status codes, ``x-amzn-ErrorType`` headers and ``{"message": ...}`` bodies.

Example::

    with FakeBedrock() as fake:
        client = new_client(fake.provider_spec())
        adapter = BedrockAdapter(fake.provider_spec(), fake.credential(), client)
"""

from __future__ import annotations

import json
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote
from zlib import crc32

from megarouter.providers.spec import (
    AuthScheme,
    Capabilities,
    Credential,
    ModelMode,
    ModelSpec,
    Price,
    ProviderSpec,
)
from megarouter.testing.fake_http import CUT, FakeHTTPServer, FakeRequest, FakeResponse
from megarouter.testing.fakes import FailureKind
from megarouter_bedrock.adapter import EVENT_STREAM, BedrockAdapter
from megarouter_bedrock.fake_checks import (
    BedrockRefusal,
    aws_error_response,
    check_converse,
    check_sigv4,
    check_titan,
    example_for,
    prompt_words,
    validation_error,
)

JSON = dict[str, Any]

__all__ = [
    "FakeBedrock",
    "aws_error_response",
    "embedding_of",
    "encode_event",
    "encode_exception",
    "encode_frame",
]


class FakeBedrock:
    """A running fake of the Bedrock runtime (a :class:`FakeProvider`).

    Args:
        auth: ``SIGV4`` (access key and secret) or ``BEARER`` (a Bedrock
            API key).
        session_token: when set, signed requests must carry it.

    Attributes:
        context_window: prompts with more tokens (words, here) than this are
            refused with Bedrock's "Input is too long" error.
        cut_after: when set, streams are cut after this many frames.
        delay: seconds to wait before answering (for timeout tests).
        stream_error: when set, an exception event of this type (for example
            ``throttlingException``) follows the first text delta.
        tool_arguments: input of the tool calls the fake makes; by default an
            example built from the tool's input schema.
    """

    adapter_class = BedrockAdapter

    def __init__(
        self,
        *,
        auth: AuthScheme = AuthScheme.SIGV4,
        access_key: str = "AKIAFAKEBEDROCK0001",
        secret_key: str = "fake/secret+access/key",
        session_token: str = "",
        api_key: str = "ABSKfakebedrockapikey",
        region: str = "us-east-1",
        chat_model: str = "anthropic.claude-3-5-sonnet-20240620-v1:0",
        embedding_model: str = "amazon.titan-embed-text-v2:0",
        reply_text: str = "Hello from the fake Bedrock model, streamed in pieces.",
        stream_pause: float = 0.0,
    ) -> None:
        self.server = FakeHTTPServer()
        self.access_key = access_key
        self.secret_key = secret_key
        self.api_key = api_key
        self.region = region
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self._defaults = (auth, session_token, reply_text, stream_pause)
        self._failures: deque[FakeResponse] = deque()
        self._lock = threading.Lock()
        self.reset()
        self.server.route(
            "POST",
            "/model/(?P<model>[^/]+)/(?P<operation>converse|converse-stream|invoke)",
            self._handle,
        )

    # --- FakeProvider ------------------------------------------------------

    def provider_spec(self) -> ProviderSpec:
        """A spec pointing at this fake, listing its two models."""
        return ProviderSpec(
            name="fake-bedrock",
            family="bedrock",
            base_url=self.server.url,
            auth=self.auth,
            options={"region": self.region},
            models=(
                ModelSpec(
                    id=self.chat_model,
                    context_window=self.context_window,
                    price=Price(3_000_000, 15_000_000),
                    capabilities=Capabilities(tools=True, vision=True, json_mode=True),
                ),
                ModelSpec(
                    id=self.embedding_model,
                    mode=ModelMode.EMBEDDING,
                    price=Price(20_000),
                    capabilities=Capabilities(streaming=False, embeddings=True),
                ),
            ),
        )

    def credential(self) -> Credential:
        """The credential the fake accepts, for its auth scheme."""
        if self.auth is AuthScheme.BEARER:
            return Credential(api_key=self.api_key)
        extra = {"secret_access_key": self.secret_key}
        if self.session_token:
            extra["session_token"] = self.session_token
        return Credential(api_key=self.access_key, extra=extra)

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        """Answer the next request with Bedrock's error for ``kind``."""
        response = _FAILURES[kind]()
        if retry_after is not None:
            response.headers = {**response.headers, "retry-after": f"{retry_after:g}"}
        self.fail_next_with(response)

    def fail_next_with(self, response: FakeResponse) -> None:
        """Answer the next request with ``response``, whatever it was."""
        with self._lock:
            self._failures.append(response)

    def reset(self) -> None:
        """Forget queued failures and restore every knob to its default."""
        self.auth, self.session_token, self.reply_text, self.stream_pause = (
            self._defaults
        )
        self.context_window = 200_000
        self.cut_after: int | None = None
        self.delay = 0.0
        self.stream_error: str | None = None
        self.tool_arguments: JSON | None = None
        with self._lock:
            self._failures.clear()

    def start(self) -> FakeBedrock:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeBedrock:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- request handling --------------------------------------------------

    def _handle(self, request: FakeRequest) -> FakeResponse:
        """Answer one request: queued failure, auth, shape, then the answer."""
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return failure
        if self.delay:
            time.sleep(self.delay)
        assert request.match is not None
        model, operation = unquote(request.match["model"]), request.match["operation"]
        try:
            self._check_auth(request)
            if operation == "invoke":
                return self._invoke(model, request)
            if model != self.chat_model:
                raise validation_error("The provided model identifier is invalid.")
            body = check_converse(request)
            if prompt_words(body) > self.context_window:
                raise validation_error("Input is too long for requested model.")
            if operation == "converse":
                return FakeResponse(200, self._converse(body), headers=_request_id())
            return self._converse_stream(body)
        except BedrockRefusal as refusal:
            return refusal.response

    def _check_auth(self, request: FakeRequest) -> None:
        """Refuse a request without a valid API key or SigV4 signature."""
        if self.auth is AuthScheme.BEARER:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                raise BedrockRefusal(
                    aws_error_response(
                        403,
                        "AccessDeniedException",
                        "Authentication failed: Please make sure your API Key is "
                        "valid.",
                    )
                )
            return
        check_sigv4(
            request,
            access_key=self.access_key,
            secret_key=self.secret_key,
            session_token=self.session_token,
            region=self.region,
        )

    def _converse(self, body: JSON) -> JSON:
        """The Converse answer body for a checked request."""
        blocks, stop_reason = self._answer(body)
        input_tokens = prompt_words(body)
        output_tokens = sum(
            len(b["text"].split()) if "text" in b else len(json.dumps(b).split())
            for b in blocks
        )
        return {
            "output": {"message": {"role": "assistant", "content": blocks}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": 321},
        }

    def _answer(self, body: JSON) -> tuple[list[JSON], str]:
        """The content blocks and stop reason a model would answer with."""
        tool = self._tool_to_call(body)
        if tool is not None:
            schema = tool["inputSchema"]["json"]
            arguments = self.tool_arguments
            if arguments is None:
                arguments = example_for(schema)
            use = {
                "toolUseId": f"tooluse_{uuid.uuid4().hex[:22]}",
                "name": tool["name"],
                "input": arguments,
            }
            return [{"toolUse": use}], "tool_use"
        words = self.reply_text.split()
        limit = body.get("inferenceConfig", {}).get("maxTokens")
        if limit is not None and limit < len(words):
            return [{"text": " ".join(words[:limit])}], "max_tokens"
        return [{"text": self.reply_text}], "end_turn"

    def _tool_to_call(self, body: JSON) -> JSON | None:
        """The tool a model would call: the chosen one, until it is answered."""
        config = body.get("toolConfig")
        if not config:
            return None
        specs = [tool["toolSpec"] for tool in config["tools"]]
        choice = config.get("toolChoice", {"auto": {}})
        if "tool" in choice:
            chosen: JSON = next(s for s in specs if s["name"] == choice["tool"]["name"])
            return chosen
        answered = any("toolResult" in b for b in body["messages"][-1]["content"])
        if answered and "any" not in choice:
            return None
        first: JSON = specs[0]
        return first

    def _converse_stream(self, body: JSON) -> FakeResponse:
        """The ConverseStream answer: the same answer as frames."""
        answer = self._converse(body)
        frames = list(self._frames(answer))
        return FakeResponse(
            200,
            chunks=self._paced(frames),
            content_type=EVENT_STREAM,
            headers=_request_id(),
        )

    def _frames(self, answer: JSON) -> Iterator[bytes]:
        """The event-stream frames ConverseStream sends for ``answer``."""
        yield encode_event("messageStart", {"role": "assistant", "p": "abcd"})
        for index, block in enumerate(answer["output"]["message"]["content"]):
            if "toolUse" in block:
                use = block["toolUse"]
                start = {
                    "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}
                }
                yield encode_event(
                    "contentBlockStart", {"contentBlockIndex": index, "start": start}
                )
                text = json.dumps(use["input"])
                for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                    yield encode_event(
                        "contentBlockDelta",
                        {
                            "contentBlockIndex": index,
                            "delta": {"toolUse": {"input": piece}},
                            "p": "abcdefgh",
                        },
                    )
            else:
                for number, piece in enumerate(_pieces(block["text"])):
                    yield encode_event(
                        "contentBlockDelta",
                        {
                            "contentBlockIndex": index,
                            "delta": {"text": piece},
                            "p": "abcdefghijk",
                        },
                    )
                    if number == 0 and self.stream_error:
                        yield encode_exception(
                            self.stream_error,
                            _STREAM_ERRORS.get(
                                self.stream_error, "The request failed."
                            ),
                        )
            yield encode_event("contentBlockStop", {"contentBlockIndex": index})
        yield encode_event("messageStop", {"stopReason": answer["stopReason"]})
        yield encode_event(
            "metadata",
            {"usage": answer["usage"], "metrics": answer["metrics"], "p": "ab"},
        )

    def _paced(self, frames: list[bytes]) -> Iterator[bytes | str | float]:
        """The frames with pauses between them, cut where asked."""
        for index, frame in enumerate(frames):
            if self.cut_after is not None and index >= self.cut_after:
                yield CUT
                return
            if index and self.stream_pause:
                yield self.stream_pause
            yield frame

    def _invoke(self, model: str, request: FakeRequest) -> FakeResponse:
        """The InvokeModel answer of Titan text embeddings v2."""
        if model != self.embedding_model:
            raise validation_error("The provided model identifier is invalid.")
        text, dimensions = check_titan(request)
        vector = embedding_of(text, dimensions)
        body = {
            "embedding": vector,
            "inputTextTokenCount": len(text.split()),
            "embeddingsByType": {"float": vector},
        }
        return FakeResponse(200, body, headers=_request_id())


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream frame with string headers.

    A frame is a prelude (total length, headers length, CRC32 of those
    eight bytes), the headers (name length, name, type 7 = string, value
    length, value), the payload, and a CRC32 of everything before it.
    """
    encoded = b"".join(
        struct.pack(">B", len(name))
        + name.encode()
        + struct.pack(">BH", 7, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", crc32(message))


def encode_event(event_type: str, payload: JSON) -> bytes:
    """A ConverseStream event frame such as ``contentBlockDelta``."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, json.dumps(payload).encode())


def encode_exception(exception_type: str, message: str) -> bytes:
    """An exception frame, as Bedrock sends errors that happen mid-stream."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, json.dumps({"message": message}).encode())


def embedding_of(text: str, size: int) -> list[float]:
    """A deterministic vector for ``text``."""
    seed = sum(text.encode()) + len(text)
    return [round(((seed * (i + 7)) % 201 - 100) / 100, 4) for i in range(size)]


def _pieces(text: str) -> list[str]:
    """``text`` in pieces of two words, spaces kept."""
    words = text.split(" ")
    pieces = [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]
    return [piece + " " for piece in pieces[:-1]] + pieces[-1:]


def _request_id() -> dict[str, str]:
    return {"x-amzn-requestid": str(uuid.uuid4())}


_STREAM_ERRORS = {
    "throttlingException": "Too many tokens, please wait before trying again.",
    "modelStreamErrorException": "Model stream error: the model failed to respond.",
    "internalServerException": "The server encountered an internal error.",
    "serviceUnavailableException": "The service is currently unavailable.",
    "validationException": "Input is too long for requested model.",
}

_FAILURES: dict[FailureKind, Callable[[], FakeResponse]] = {
    FailureKind.RATE_LIMITED: lambda: aws_error_response(
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    ),
    FailureKind.SERVER_ERROR: lambda: aws_error_response(
        500,
        "InternalServerException",
        "The system encountered an unexpected error during processing. "
        "Try your request again.",
    ),
    FailureKind.OVERLOADED: lambda: aws_error_response(
        503, "ServiceUnavailableException", "Bedrock is unable to process your request."
    ),
    FailureKind.AUTH: lambda: aws_error_response(
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
    FailureKind.BAD_REQUEST: lambda: aws_error_response(
        400,
        "ValidationException",
        "A conversation must start with a user message. Try again with a "
        "conversation that starts with a user message.",
    ),
    FailureKind.CONTEXT_TOO_LONG: lambda: aws_error_response(
        400, "ValidationException", "Input is too long for requested model."
    ),
}
