"""CompletionService: protobuf in, CompletionEngine, protobuf out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from grpc import aio

from megarouter.auth.interceptor import current_caller, current_request
from megarouter.completions.engine import CompletionEngine
from megarouter.completions.requests import CallContext, EmbeddingCall
from megarouter.routing.feedback import FeedbackStore
from megarouter.services import chat_convert as convert
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import completion_service_pb2 as api
from megarouter.v1 import completion_service_pb2_grpc as api_grpc

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"


def call_context(context: Context) -> CallContext:
    """The domain view of the current RPC: caller, request id, deadline."""
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    return CallContext(current_caller(), current_request().request_id, deadline)


class CompletionServicer(api_grpc.CompletionServiceServicer):
    def __init__(self, engine: CompletionEngine, feedback: FeedbackStore) -> None:
        self._engine = engine
        self._feedback = feedback

    async def SubmitFeedback(
        self, request: api.SubmitFeedbackRequest, context: Context
    ) -> api.SubmitFeedbackResponse:
        caller = current_caller()
        scored = await self._feedback.submit(
            caller.org_id,
            caller.principal_id,
            request.request_id,
            request.score,
            request.label,
        )
        return api.SubmitFeedbackResponse(
            model=scored.model, task_type=scored.task_type
        )

    async def Complete(
        self, request: api.CompleteRequest, context: Context
    ) -> api.CompleteResponse:
        result = await self._engine.complete(
            call_context(context), convert.completion_request(request)
        )
        return api.CompleteResponse(
            message=convert.assistant_message(result),
            finish_reason=convert.FINISH.get(
                result.finish_reason, chat.FINISH_REASON_UNSPECIFIED
            ),
            usage=convert.usage(result),
            model=result.model,
            provider=result.provider,
            attempts=convert.attempts(result.attempts),
            route=convert.route(result),
            request_id=result.request_id,
        )

    async def StreamComplete(
        self, request: api.StreamCompleteRequest, context: Context
    ) -> AsyncIterator[api.StreamCompleteResponse]:
        pieces = self._engine.stream(
            call_context(context), convert.completion_request(request)
        )
        async for piece in pieces:
            if piece.chunk is not None:
                delta = api.StreamDelta(content=piece.chunk.content)
                for call in piece.chunk.tool_calls:
                    delta.tool_calls.add(
                        index=call.index,
                        id=call.id,
                        name=call.name,
                        arguments=call.arguments,
                    )
                yield api.StreamCompleteResponse(delta=delta)
            elif piece.summary is not None:
                result = piece.summary
                yield api.StreamCompleteResponse(
                    summary=api.StreamSummary(
                        finish_reason=convert.FINISH.get(
                            result.finish_reason, chat.FINISH_REASON_UNSPECIFIED
                        ),
                        usage=convert.usage(result),
                        model=result.model,
                        provider=result.provider,
                        attempts=convert.attempts(result.attempts),
                        route=convert.route(result),
                        request_id=result.request_id,
                    )
                )

    async def Embed(
        self, request: api.EmbedRequest, context: Context
    ) -> api.EmbedResponse:
        call = EmbeddingCall(
            model=request.model,
            inputs=tuple(request.inputs),
            dimensions=request.dimensions if request.HasField("dimensions") else None,
            scenario=request.scenario,
            client_request_id=request.client_request_id,
        )
        result = await self._engine.embed(call_context(context), call)
        return api.EmbedResponse(
            embeddings=[api.Embedding(values=vector) for vector in result.vectors],
            usage=chat.Usage(
                input_tokens=result.usage.input_tokens,
                output_tokens=0,
                cost_micros=result.usage.cost_micros,
            ),
            model=result.model,
            provider=result.provider,
            attempts=convert.attempts(result.attempts),
            request_id=result.request_id,
        )
