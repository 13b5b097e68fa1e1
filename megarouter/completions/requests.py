"""A completion or embedding call as the engine sees it, and its answer."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from megarouter.auth.caller import Caller
from megarouter.errors import InvalidArgument
from megarouter.governance.usage import Attempt
from megarouter.providers.types import (
    ChatRequest,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    ResponseFormatType,
    Role,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
)

MAX_STOP_SEQUENCES = 4
MAX_EMBED_INPUTS = 2048
PROMPT_CHARS = 4000  # how much of the prompt the router reads


@dataclass(frozen=True, slots=True)
class RoutingHints:
    policy: str = ""
    task_type: str = ""
    max_cost_micros: int | None = None
    min_quality: float | None = None
    max_latency_ms: int | None = None


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who calls and until when.

    Attributes:
        caller: the authenticated principal.
        request_id: the RPC's request id.
        deadline: ``time.monotonic()`` value after which the caller has
            given up, or None for no deadline.
    """

    caller: Caller
    request_id: str
    deadline: float | None = None

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    messages: Sequence[Message]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: Sequence[str] = ()
    seed: int | None = None
    tools: Sequence[Tool] = ()
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    routing: RoutingHints = field(default_factory=RoutingHints)
    scenario: str = ""
    client_request_id: str = ""

    def validate(self) -> None:
        """Check what no provider would accept.

        Raises:
            InvalidArgument: with a field violation naming the bad field.
        """
        if not self.model:
            raise InvalidArgument.for_field("model", "is required (or use 'auto')")
        if not self.messages:
            raise InvalidArgument.for_field("messages", "needs at least one message")
        for index, message in enumerate(self.messages):
            _check_message(index, message)
        if self.max_tokens is not None and self.max_tokens < 1:
            raise InvalidArgument.for_field("max_tokens", "must be at least 1")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise InvalidArgument.for_field("temperature", "must be between 0 and 2")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise InvalidArgument.for_field("top_p", "must be in (0, 1]")
        if len(self.stop) > MAX_STOP_SEQUENCES or any(not s for s in self.stop):
            raise InvalidArgument.for_field(
                "stop", f"at most {MAX_STOP_SEQUENCES} non-empty sequences"
            )
        names = [tool.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise InvalidArgument.for_field("tools", "tool names must be unique")
        choice = self.tool_choice
        function_choice = choice is not None and choice.mode is ToolChoiceMode.FUNCTION
        if function_choice and choice is not None and choice.name not in names:
            raise InvalidArgument.for_field(
                "tool_choice.name", "must name one of the tools"
            )
        fmt = self.response_format
        if (
            fmt is not None
            and fmt.type is ResponseFormatType.JSON_SCHEMA
            and not fmt.schema
        ):
            raise InvalidArgument.for_field(
                "response_format.schema", "is required for JSON_SCHEMA"
            )
        _check_text(self.scenario, "scenario", 128)
        _check_text(self.client_request_id, "client_request_id", 128)

    @property
    def wants_tools(self) -> bool:
        mode = self.tool_choice.mode if self.tool_choice else ToolChoiceMode.AUTO
        return bool(self.tools) and mode is not ToolChoiceMode.NONE

    @property
    def has_images(self) -> bool:
        return any(m.has_images for m in self.messages)

    @property
    def wants_json(self) -> bool:
        fmt = self.response_format
        return fmt is not None and fmt.type is not ResponseFormatType.TEXT

    def prompt_text(self) -> str:
        """The text the router reads: the last user turn and the system text."""
        users = [m for m in self.messages if m.role is Role.USER]
        system = " ".join(
            m.text_content for m in self.messages if m.role is Role.SYSTEM
        )
        last = users[-1].text_content if users else ""
        return (f"{system}\n{last}" if system else last)[-PROMPT_CHARS:]

    def to_provider(self, model: str, timeout: float | None) -> ChatRequest:
        return ChatRequest(
            model=model,
            messages=self.messages,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=self.stop,
            seed=self.seed,
            tools=self.tools,
            tool_choice=self.tool_choice,
            response_format=self.response_format,
            timeout=timeout,
        )


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    model: str
    inputs: Sequence[str]
    dimensions: int | None = None
    scenario: str = ""
    client_request_id: str = ""

    def validate(self) -> None:
        if not self.model:
            raise InvalidArgument.for_field("model", "is required")
        if not self.inputs or len(self.inputs) > MAX_EMBED_INPUTS:
            raise InvalidArgument.for_field(
                "inputs", f"needs 1 to {MAX_EMBED_INPUTS} texts"
            )
        if self.dimensions is not None and self.dimensions < 1:
            raise InvalidArgument.for_field("dimensions", "must be at least 1")
        _check_text(self.scenario, "scenario", 128)
        _check_text(self.client_request_id, "client_request_id", 128)


@dataclass(frozen=True, slots=True)
class RouteInfo:
    strategy: str
    task_type: str
    reason: str
    candidates: int


@dataclass(frozen=True, slots=True)
class Billing:
    input_tokens: int
    output_tokens: int
    cost_micros: int


@dataclass(frozen=True, slots=True)
class CompletionResult:
    """What the caller gets back from a completion."""

    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Billing
    model: str
    provider: str
    attempts: tuple[Attempt, ...]
    route: RouteInfo
    request_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CompletionResult:
        data: dict[str, Any] = json.loads(text)
        return cls(
            content=data["content"],
            tool_calls=tuple(ToolCall(**c) for c in data["tool_calls"]),
            finish_reason=FinishReason(data["finish_reason"]),
            usage=Billing(**data["usage"]),
            model=data["model"],
            provider=data["provider"],
            attempts=tuple(Attempt(**a) for a in data["attempts"]),
            route=RouteInfo(**data["route"]),
            request_id=data["request_id"],
        )


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    vectors: tuple[tuple[float, ...], ...]
    usage: Billing
    model: str
    provider: str
    attempts: tuple[Attempt, ...]
    request_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EmbeddingResult:
        data: dict[str, Any] = json.loads(text)
        return cls(
            vectors=tuple(tuple(v) for v in data["vectors"]),
            usage=Billing(**data["usage"]),
            model=data["model"],
            provider=data["provider"],
            attempts=tuple(Attempt(**a) for a in data["attempts"]),
            request_id=data["request_id"],
        )


def _check_message(index: int, message: Message) -> None:
    where = f"messages[{index}]"
    if message.role is Role.TOOL and not message.tool_call_id:
        raise InvalidArgument.for_field(
            f"{where}.tool_call_id", "is required for a tool message"
        )
    if not message.content and not message.tool_calls:
        raise InvalidArgument.for_field(f"{where}.content", "is empty")
    for part_index, part in enumerate(message.content):
        if isinstance(part, ImagePart):
            if message.role is not Role.USER:
                raise InvalidArgument.for_field(
                    f"{where}.content[{part_index}]", "only user messages carry images"
                )
            if not part.url and not (part.data_base64 and part.media_type):
                raise InvalidArgument.for_field(
                    f"{where}.content[{part_index}].image",
                    "needs a url, or data with its media_type",
                )


def _check_text(value: str, field_name: str, limit: int) -> None:
    if len(value) > limit or "\x00" in value:
        raise InvalidArgument.for_field(
            field_name, f"must be at most {limit} characters, without NUL"
        )
