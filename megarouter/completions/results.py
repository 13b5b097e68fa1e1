"""What a finished call answers: its content, usage, cost and route."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from megarouter.completions.requests import Billing, CompletionResult, RouteInfo
from megarouter.errors import MegaRouterError, ProviderError
from megarouter.governance.usage import Attempt, CallStatus
from megarouter.providers.tokens import TokenCounter
from megarouter.providers.types import (
    ChatChunk,
    ChatResponse,
    FinishReason,
    ToolCall,
    Usage,
)
from megarouter.routing.decision import Candidate, RouteDecision


class StreamBroken(ProviderError):
    """A stream failed after tokens were sent; it is not retried elsewhere."""


def cost_of(candidate: Candidate, input_tokens: int, output_tokens: int) -> int:
    """The candidate's price for these tokens, in micro-dollars."""
    price = candidate.model.price
    if price is None:  # the router drops unpriced models; this is a guard
        raise MegaRouterError(f"{candidate.global_id} has no price")
    return price.cost_micros(input_tokens, output_tokens)


def billing(
    candidate: Candidate,
    reported: Usage | None,
    input_tokens: int,
    answer_text: str,
    tokens: TokenCounter,
) -> Billing:
    """The provider's usage when it reports one, else our own count."""
    if reported is not None:
        used_in, used_out = reported.input_tokens, reported.output_tokens
    else:
        used_in, used_out = input_tokens, tokens.count_text(answer_text)
    return Billing(used_in, used_out, cost_of(candidate, used_in, used_out))


def route_info(decision: RouteDecision) -> RouteInfo:
    return RouteInfo(
        strategy=decision.strategy.value,
        task_type=decision.task_type,
        reason=decision.reason,
        candidates=len(decision.candidates),
    )


def chat_result(
    request_id: str,
    decision: RouteDecision,
    candidate: Candidate,
    response: ChatResponse,
    attempts: tuple[Attempt, ...],
    usage: Billing,
) -> CompletionResult:
    return CompletionResult(
        content=response.content,
        tool_calls=response.tool_calls,
        finish_reason=response.finish_reason,
        usage=usage,
        model=candidate.global_id,
        provider=candidate.provider,
        attempts=attempts,
        route=route_info(decision),
        request_id=request_id,
    )


def assemble_stream(chunks: Sequence[ChatChunk]) -> tuple[ChatResponse, Usage | None]:
    """The whole answer a stream's chunks add up to, and its reported usage."""
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls:
            entry = calls.setdefault(delta.index, ["", "", ""])
            entry[0] = entry[0] or delta.id
            entry[1] = entry[1] or delta.name
            entry[2] += delta.arguments
    finish = next(
        (c.finish_reason for c in reversed(chunks) if c.finish_reason),
        FinishReason.STOP,
    )
    response = ChatResponse(
        content="".join(c.content for c in chunks),
        tool_calls=tuple(ToolCall(*calls[k]) for k in sorted(calls)),
        finish_reason=finish,
    )
    usage = next((c.usage for c in reversed(chunks) if c.usage), None)
    return response, usage


def answer_text(response: ChatResponse) -> str:
    """The text billed as output: content plus tool-call arguments."""
    return response.content + "".join(c.arguments for c in response.tool_calls)


def status_of(error: BaseException) -> CallStatus:
    """How a call that raised ``error`` ended, for its usage record."""
    if isinstance(error, asyncio.CancelledError):
        return CallStatus.CANCELLED
    if isinstance(error, StreamBroken):
        return CallStatus.STREAM_BROKEN
    if isinstance(error, MegaRouterError):
        try:
            return CallStatus(error.code.name)
        except ValueError:
            return CallStatus.UNAVAILABLE
    return CallStatus.UNAVAILABLE
