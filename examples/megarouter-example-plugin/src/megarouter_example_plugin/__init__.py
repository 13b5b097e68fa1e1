"""An echo provider: the smallest MegaRouter plugin.

The ``example-echo`` family answers every chat request with the text of the
last user message, without any network call; tokens are counted as words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from megarouter.providers import (
    AuthScheme,
    ModelSpec,
    Price,
    ProviderAdapter,
    ProviderSpec,
    hookimpl,
)
from megarouter.providers.hookspecs import RegisterFamily, RegisterProvider
from megarouter.providers.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    FinishReason,
    Role,
    Usage,
)

FAMILY = "example-echo"


class EchoAdapter(ProviderAdapter):
    """Answers with the last user message, word by word when streaming."""

    family = FAMILY

    async def complete(self, request: ChatRequest) -> ChatResponse:
        text = _last_user_text(request)
        return ChatResponse(text, usage=_usage(request, text), model=request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        text = _last_user_text(request)
        for i, word in enumerate(text.split(" ")):
            yield ChatChunk(content=word if i == 0 else f" {word}")
        yield ChatChunk(finish_reason=FinishReason.STOP, usage=_usage(request, text))


def _last_user_text(request: ChatRequest) -> str:
    users = [m for m in request.messages if m.role is Role.USER]
    return users[-1].text_content if users else ""


def _usage(request: ChatRequest, answer: str) -> Usage:
    prompt = sum(len(m.text_content.split()) for m in request.messages)
    return Usage(input_tokens=prompt, output_tokens=len(answer.split()))


@hookimpl
def register_families(register: RegisterFamily) -> None:
    register(EchoAdapter)


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    register(
        ProviderSpec(
            name="example-echo",
            family=FAMILY,
            display_name="Example echo",
            auth=AuthScheme.NONE,
            self_hosted=True,
            models=(
                # Echo costs nothing: a known price of zero, not a missing one.
                ModelSpec("echo-1", context_window=4096, price=Price(0, 0)),
            ),
        )
    )
