"""RouteService: protobuf in, the router's decision, protobuf out."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeAlias

from grpc import aio

from megarouter.catalog.prices import CatalogModel
from megarouter.completions.engine import CompletionEngine
from megarouter.completions.routes import RouteResolver
from megarouter.errors import InvalidArgument
from megarouter.providers.spec import ModelMode
from megarouter.routing.decision import DropReason
from megarouter.services import chat_convert as convert
from megarouter.services.completion import call_context
from megarouter.tenancy.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from megarouter.v1 import chat_pb2 as chat
from megarouter.v1 import route_service_pb2 as api
from megarouter.v1 import route_service_pb2_grpc as api_grpc

# grpc-stubs makes this generic for mypy; grpcio does not at run time.
Context: TypeAlias = "aio.ServicerContext[Any, Any]"

DROP_REASONS = {
    DropReason.NOT_ALLOWED: api.DROP_REASON_NOT_ALLOWED,
    DropReason.WRONG_MODE: api.DROP_REASON_WRONG_MODE,
    DropReason.LACKS_CAPABILITY: api.DROP_REASON_LACKS_CAPABILITY,
    DropReason.CONTEXT_TOO_SHORT: api.DROP_REASON_CONTEXT_TOO_SHORT,
    DropReason.UNPRICED: api.DROP_REASON_UNPRICED,
    DropReason.NOT_CONFIGURED: api.DROP_REASON_NOT_CONFIGURED,
    DropReason.CIRCUIT_OPEN: api.DROP_REASON_CIRCUIT_OPEN,
    DropReason.OVER_BUDGET: api.DROP_REASON_OVER_BUDGET,
    DropReason.BELOW_QUALITY_FLOOR: api.DROP_REASON_BELOW_QUALITY_FLOOR,
    DropReason.ABOVE_COST_CAP: api.DROP_REASON_ABOVE_COST_CAP,
    DropReason.ABOVE_LATENCY_CAP: api.DROP_REASON_ABOVE_LATENCY_CAP,
}
MODES = {"": None, "chat": ModelMode.CHAT, "embedding": ModelMode.EMBEDDING}


class RouteServicer(api_grpc.RouteServiceServicer):
    def __init__(self, engine: CompletionEngine, routes: RouteResolver) -> None:
        self._engine = engine
        self._routes = routes

    async def Route(
        self, request: api.RouteRequest, context: Context
    ) -> api.RouteResponse:
        decision, input_tokens = await self._engine.route(
            call_context(context),
            convert.completion_request(request),
            stream=request.stream,
        )
        return api.RouteResponse(
            candidates=[
                api.RouteCandidate(
                    model=c.global_id,
                    provider=c.provider,
                    predicted_quality=c.quality,
                    estimated_cost_micros=c.cost_micros,
                    estimated_latency_ms=c.latency_ms or 0.0,
                    score=c.score,
                )
                for c in decision.candidates
            ],
            dropped=[
                api.DroppedModel(
                    model=d.model, reason=DROP_REASONS[d.reason], detail=d.detail
                )
                for d in decision.dropped
            ],
            summary=chat.RouteSummary(
                strategy=decision.strategy.value,
                task_type=decision.task_type,
                reason=decision.reason,
                candidates=len(decision.candidates),
            ),
            policy=decision.policy,
            quality_model=self._routes.router.quality.name,
            input_tokens=input_tokens,
        )

    async def ListAvailableModels(
        self, request: api.ListAvailableModelsRequest, context: Context
    ) -> api.ListAvailableModelsResponse:
        if request.mode not in MODES:
            raise InvalidArgument.for_field("mode", "must be chat, embedding or empty")
        if request.page_size < 0:
            raise InvalidArgument.for_field("page_size", "must not be negative")
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = _read_token(request.page_token)
        models = await self._routes.available_models(
            call_context(context), MODES[request.mode]
        )
        chosen = [m for m in models if m.global_id > after][:size]
        token = ""
        if len(chosen) == size and chosen[-1].global_id != models[-1].global_id:
            token = base64.urlsafe_b64encode(chosen[-1].global_id.encode()).decode()
        return api.ListAvailableModelsResponse(
            models=[_available(m) for m in chosen], next_page_token=token
        )


def _read_token(token: str) -> str:
    """The last model id of the previous page ("" for the first page)."""
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument.for_field(
            "page_token", "is not a token from an earlier call"
        ) from None


def _available(model: CatalogModel) -> api.AvailableModel:
    spec, price, caps = model.spec, model.price, model.spec.capabilities
    assert price is not None  # available_models lists priced models only
    flags = [
        name
        for name, on in (
            ("streaming", caps.streaming),
            ("tools", caps.tools),
            ("vision", caps.vision),
            ("json", caps.json_mode),
            ("embeddings", caps.embeddings),
        )
        if on
    ]
    return api.AvailableModel(
        model=model.global_id,
        provider=model.provider.name,
        mode=spec.mode.value,
        context_window=spec.context_window,
        input_price_per_mtok_micros=price.input_per_mtok,
        output_price_per_mtok_micros=price.output_per_mtok,
        capabilities=flags,
    )
