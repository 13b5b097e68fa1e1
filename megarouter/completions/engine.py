"""One completion end to end: route, call, fall back, meter, record.

The caller is answered only after the call's usage record is durable, and a
call that fails still leaves a record of what it tried. A streamed answer
never switches model once tokens have been sent: a failure after the first
token ends the stream with an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from megarouter.completions.attempts import try_candidates
from megarouter.completions.catalogs import OrgAdapters
from megarouter.completions.requests import (
    Billing,
    CallContext,
    CompletionRequest,
    CompletionResult,
    EmbeddingCall,
    EmbeddingResult,
)
from megarouter.completions.results import (
    StreamBroken,
    answer_text,
    assemble_stream,
    billing,
    chat_result,
    cost_of,
    status_of,
)
from megarouter.completions.routes import RouteResolver
from megarouter.errors import (
    AllCandidatesFailed,
    ProviderError,
)
from megarouter.governance.governor import (
    Admission,
    Governor,
    worst_case_cost,
    worst_case_output,
)
from megarouter.governance.ledger import UsageLedger
from megarouter.governance.usage import Attempt, CallKind, CallStatus, UsageRecord
from megarouter.providers.health import HealthBoard
from megarouter.providers.tokens import TokenCounter
from megarouter.providers.types import (
    ChatChunk,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from megarouter.routing.decision import Candidate, RouteDecision
from megarouter.routing.prompt_samples import PromptSampler

logger = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class StreamPiece:
    """A streamed delta, or (last) the summary of the finished call."""

    chunk: ChatChunk | None = None
    summary: CompletionResult | None = None


class CompletionEngine:
    """Runs completion and embedding calls.

    Args:
        routes: decides the candidates for a call.
        adapters: the providers' adapters.
        health: circuit breakers and latency averages, fed by every attempt.
        ledger: where usage records become durable.
        tokens: counts tokens locally.
        governor: budgets and rate limits; none when None.
        prompts: keeps an opt-in sample of prompts; none when None.
    """

    def __init__(
        self,
        routes: RouteResolver,
        adapters: OrgAdapters,
        health: HealthBoard,
        ledger: UsageLedger,
        tokens: TokenCounter,
        governor: Governor | None = None,
        prompts: PromptSampler | None = None,
    ) -> None:
        self._routes = routes
        self._governor = governor or Governor(None, None)
        self._adapters = adapters
        self._health = health
        self._ledger = ledger
        self._tokens = tokens
        self._prompts = prompts
        self._in_flight: dict[tuple[str, str], asyncio.Future[str]] = {}

    # --- deciding without calling -----------------------------------------

    async def route(
        self, call: CallContext, request: CompletionRequest, *, stream: bool
    ) -> tuple[RouteDecision, int]:
        """The decision a call would follow, and the prompt's token count."""
        request.validate()
        input_tokens = self._count_input(request)
        decision = await self._routes.decide(call, request, input_tokens, stream=stream)
        return decision, input_tokens

    # --- unary ------------------------------------------------------------

    async def complete(
        self, call: CallContext, request: CompletionRequest
    ) -> CompletionResult:
        """Answer ``request``; returns once its usage record is durable."""
        request.validate()
        replayed = await self._replay(call, request.client_request_id)
        if replayed is not None:
            return CompletionResult.from_json(replayed)
        return await self._once(
            call, request.client_request_id, lambda: self._complete(call, request)
        )

    async def _complete(
        self, call: CallContext, request: CompletionRequest
    ) -> CompletionResult:
        started = time.monotonic()
        input_tokens = self._count_input(request)
        decision = await self._routes.decide(call, request, input_tokens, stream=False)
        record = self._new_record(call, request, CallKind.COMPLETE, decision)
        record.input_tokens = input_tokens

        async def attempt(candidate: Candidate, timeout: float | None) -> ChatResponse:
            adapter = await self._adapters.adapter(
                call.caller.org_id, candidate.provider
            )
            provider_request = request.to_provider(candidate.model.spec.id, timeout)
            return await adapter.complete(provider_request)

        admission = None
        try:
            admission = await self._admit(
                call, request.scenario, decision, input_tokens, request.max_tokens
            )
            candidate, response, attempts = await try_candidates(
                self._health,
                call,
                decision,
                attempt,
                decision.max_attempts,
            )
        except BaseException as error:
            await self._record_failure(call, record, started, error)
            await self._settle(admission, record)
            raise

        usage = billing(
            candidate, response.usage, input_tokens, answer_text(response), self._tokens
        )
        result = chat_result(
            call.request_id, decision, candidate, response, attempts, usage
        )
        record.attempts = attempts
        self._bill(record, candidate, result.usage, started)
        if request.client_request_id:
            record.response = result.to_json()
        await self._ledger.record(record)
        if self._prompts is not None:
            self._prompts.offer(record, request)
        await self._settle(admission, record)
        return result

    # --- streaming --------------------------------------------------------

    async def stream(
        self, call: CallContext, request: CompletionRequest
    ) -> AsyncIterator[StreamPiece]:
        """Stream ``request``'s answer; the last piece carries the summary."""
        request.validate()
        replayed = await self._replay(call, request.client_request_id)
        if replayed is not None:
            result = CompletionResult.from_json(replayed)
            yield StreamPiece(ChatChunk(content=result.content))
            yield StreamPiece(summary=result)
            return

        started = time.monotonic()
        input_tokens = self._count_input(request)
        decision = await self._routes.decide(call, request, input_tokens, stream=True)
        record = self._new_record(call, request, CallKind.STREAM, decision)
        record.input_tokens = input_tokens
        opened: list[AsyncIterator[ChatChunk]] = []

        async def attempt(
            candidate: Candidate, timeout: float | None
        ) -> tuple[AsyncIterator[ChatChunk], ChatChunk]:
            adapter = await self._adapters.adapter(
                call.caller.org_id, candidate.provider
            )
            chunks = adapter.stream(
                request.to_provider(candidate.model.spec.id, timeout)
            )
            opened.append(chunks)
            # Fall back only before the first chunk: after it, tokens are out.
            first = await anext(chunks)
            return chunks, first

        admission = None
        try:
            admission = await self._admit(
                call, request.scenario, decision, input_tokens, request.max_tokens
            )
            candidate, (chunks, first), attempts = await try_candidates(
                self._health,
                call,
                decision,
                attempt,
                decision.max_attempts,
                record_success=False,  # the stream's end decides
            )
        except BaseException as error:
            await self._record_failure(call, record, started, error)
            await self._settle(admission, record)
            raise
        record.attempts = attempts
        record.model, record.provider = candidate.global_id, candidate.provider

        collected: list[ChatChunk] = []
        try:
            chunk: ChatChunk | None = first
            record.ttft_ms = (time.monotonic() - started) * 1000
            while chunk is not None:
                collected.append(chunk)
                if chunk.content or chunk.tool_calls:
                    yield StreamPiece(chunk)
                chunk = await anext(chunks, None)
        except BaseException as error:
            await self._close(opened)
            text = "".join(c.content for c in collected)
            record.output_tokens = self._tokens.count_text(text)
            # The provider bills what it streamed, so the caller is billed too.
            record.cost_micros = cost_of(candidate, input_tokens, record.output_tokens)
            broken = error
            if isinstance(error, ProviderError):
                broken = StreamBroken(
                    f"the stream from {candidate.global_id} broke after "
                    f"{record.output_tokens} tokens ({error}); it was not retried "
                    "on another model, to avoid mixing two answers",
                    provider=candidate.provider,
                )
                self._health.record_failure(
                    candidate.provider, candidate.model.spec.id, error
                )
            await self._record_failure(call, record, started, broken)
            await self._settle(admission, record)
            if broken is error:
                raise
            raise broken from error

        whole, reported = assemble_stream(collected)
        usage = billing(
            candidate, reported, input_tokens, answer_text(whole), self._tokens
        )
        result = chat_result(
            call.request_id, decision, candidate, whole, record.attempts, usage
        )
        self._bill(record, candidate, result.usage, started)
        self._health.record_success(
            candidate.provider,
            candidate.model.spec.id,
            record.latency_ms,
            record.ttft_ms,
        )
        if request.client_request_id:
            record.response = result.to_json()
        await self._ledger.record(record)
        if self._prompts is not None:
            self._prompts.offer(record, request)
        await self._settle(admission, record)
        yield StreamPiece(summary=result)

    # --- embeddings -------------------------------------------------------

    async def embed(self, call: CallContext, request: EmbeddingCall) -> EmbeddingResult:
        """Embed ``request.inputs``; returns once its usage record is durable."""
        request.validate()
        replayed = await self._replay(call, request.client_request_id)
        if replayed is not None:
            return EmbeddingResult.from_json(replayed)
        return await self._once(
            call, request.client_request_id, lambda: self._embed(call, request)
        )

    async def _embed(
        self, call: CallContext, request: EmbeddingCall
    ) -> EmbeddingResult:
        started = time.monotonic()
        input_tokens = sum(self._tokens.count_text(text) for text in request.inputs)
        decision = await self._routes.decide_embedding(call, request, input_tokens)
        record = UsageRecord(
            org_id=call.caller.org_id,
            team_id=call.caller.team_id or "",
            principal_id=call.caller.principal_id,
            key_id=call.caller.key_id,
            kind=CallKind.EMBED,
            requested_model=request.model,
            status=CallStatus.OK,
            request_id=call.request_id,
            client_request_id=request.client_request_id,
            scenario=request.scenario,
            task_type=decision.task_type,
            route_reason=decision.reason,
            input_tokens=input_tokens,
        )

        async def attempt(
            candidate: Candidate, timeout: float | None
        ) -> EmbeddingResponse:
            adapter = await self._adapters.adapter(
                call.caller.org_id, candidate.provider
            )
            return await adapter.embed(
                EmbeddingRequest(
                    model=candidate.model.spec.id,
                    inputs=request.inputs,
                    dimensions=request.dimensions,
                    timeout=timeout,
                )
            )

        admission = None
        try:
            admission = await self._admit(
                call, request.scenario, decision, input_tokens, None
            )
            candidate, response, attempts = await try_candidates(
                self._health, call, decision, attempt, decision.max_attempts
            )
        except BaseException as error:
            await self._record_failure(call, record, started, error)
            await self._settle(admission, record)
            raise

        tokens = response.usage.input_tokens if response.usage else input_tokens
        usage = Billing(tokens, 0, cost_of(candidate, tokens, 0))
        result = EmbeddingResult(
            vectors=response.vectors,
            usage=usage,
            model=candidate.global_id,
            provider=candidate.provider,
            attempts=attempts,
            request_id=call.request_id,
        )
        record.attempts = attempts
        self._bill(record, candidate, usage, started)
        if request.client_request_id:
            record.response = result.to_json()
        await self._ledger.record(record)
        await self._settle(admission, record)
        return result

    # --- budgets and rate limits --------------------------------------------

    async def _admit(
        self,
        call: CallContext,
        scenario: str,
        decision: RouteDecision,
        input_tokens: int,
        max_tokens: int | None,
    ) -> Admission:
        """Hold the call's worst case from budgets and rate limits."""
        tried = [c.model for c in decision.candidates[: decision.max_attempts]]
        worst = worst_case_cost(tried, input_tokens, max_tokens)
        output = max((worst_case_output(m, max_tokens) for m in tried), default=0)
        return await self._governor.admit(
            call.caller, scenario, worst, input_tokens + output
        )

    async def _settle(self, admission: Admission | None, record: UsageRecord) -> None:
        """Count what the call really cost; shielded, so a cancel still counts."""
        if admission is None or (
            admission.reservation is None and admission.permit is None
        ):
            return  # no budget or rate limit applies: nothing to count
        used = record.input_tokens + record.output_tokens
        try:
            await asyncio.shield(
                self._governor.settle(admission, record.cost_micros, used)
            )
        except Exception:
            logger.exception("could not settle request_id=%s", record.request_id)

    # --- idempotency ------------------------------------------------------

    async def _replay(self, call: CallContext, client_request_id: str) -> str | None:
        """The stored answer of an earlier call with this idempotency key."""
        if not client_request_id:
            return None
        key = (call.caller.org_id, client_request_id)
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        found = await self._ledger.find(call.caller.org_id, client_request_id)
        if found is not None and found.status is CallStatus.OK and found.response:
            return found.response
        return None

    async def _once(
        self,
        call: CallContext,
        client_request_id: str,
        run: Callable[[], Awaitable[R]],
    ) -> R:
        """Run ``run``, letting concurrent retries with the same key wait for it."""
        if not client_request_id:
            return await run()
        key = (call.caller.org_id, client_request_id)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await run()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited one is not logged
            raise
        else:
            future.set_result(result.to_json())  # type: ignore[attr-defined]
            return result
        finally:
            self._in_flight.pop(key, None)

    # --- metering ---------------------------------------------------------

    def _count_input(self, request: CompletionRequest) -> int:
        count = self._tokens.count_messages(request.messages)
        if request.tools:
            count += self._tokens.count_tools(request.tools)
        return count

    @staticmethod
    def _new_record(
        call: CallContext,
        request: CompletionRequest,
        kind: CallKind,
        decision: RouteDecision,
    ) -> UsageRecord:
        return UsageRecord(
            org_id=call.caller.org_id,
            team_id=call.caller.team_id or "",
            principal_id=call.caller.principal_id,
            key_id=call.caller.key_id,
            kind=kind,
            requested_model=request.model,
            status=CallStatus.OK,
            request_id=call.request_id,
            client_request_id=request.client_request_id,
            scenario=request.scenario,
            task_type=decision.task_type,
            route_reason=decision.reason,
        )

    @staticmethod
    def _bill(
        record: UsageRecord, candidate: Candidate, usage: Billing, started: float
    ) -> None:
        record.model, record.provider = candidate.global_id, candidate.provider
        record.input_tokens, record.output_tokens = (
            usage.input_tokens,
            usage.output_tokens,
        )
        record.cost_micros = usage.cost_micros
        record.latency_ms = round((time.monotonic() - started) * 1000, 3)

    async def _record_failure(
        self,
        call: CallContext,
        record: UsageRecord,
        started: float,
        error: BaseException,
    ) -> None:
        """Record a failed or cancelled call; never lets the caller's error go."""
        record.status = status_of(error)
        # gRPC cancels the handler when the caller's deadline passes.
        remaining = call.remaining()
        past_deadline = remaining is not None and remaining <= 0
        if record.status is CallStatus.CANCELLED and past_deadline:
            record.status = CallStatus.DEADLINE_EXCEEDED
        record.latency_ms = round((time.monotonic() - started) * 1000, 3)
        record.response = ""
        if isinstance(error, AllCandidatesFailed):
            record.attempts = tuple(
                Attempt(a.provider, a.model, False, "ProviderError", a.error)
                for a in error.attempts
            )
        try:
            # Shielded: a cancelled call still leaves its record.
            await asyncio.shield(self._ledger.record(record))
        except Exception:
            logger.exception(
                "could not record usage of request_id=%s", record.request_id
            )

    @staticmethod
    async def _close(opened: list[AsyncIterator[ChatChunk]]) -> None:
        for chunks in opened:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # closing a broken stream may fail too
                    logger.debug("closing a provider stream failed", exc_info=True)
