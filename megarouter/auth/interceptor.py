"""The request interceptor: identify, authenticate, authorize, translate, log.

Every RPC but health and reflection passes through here before reaching a
servicer: its request id is taken from ``x-request-id`` (or made), its API
key (``authorization: Bearer <key>`` or ``x-api-key``) becomes a
:class:`Caller`, and Casbin decides whether the caller's roles grant the
method's permission in the caller's org. Errors raised by servicers are
translated to gRPC status with details in one place, and one INFO line per
RPC records what happened.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import grpc
from grpc import aio

from megarouter.auth.authenticator import Authenticator
from megarouter.auth.caller import Caller
from megarouter.auth.permissions import PUBLIC_PREFIXES, RPC_PERMISSIONS
from megarouter.auth.policy import PolicyEnforcer
from megarouter.auth.roles import Permission
from megarouter.context import bind_request_id
from megarouter.errors import MegaRouterError, PermissionDenied, Unauthenticated
from megarouter.services.status import to_status

logger = logging.getLogger("megarouter.rpc")

REQUEST_ID_HEADER = "x-request-id"


@dataclass(slots=True)
class RequestInfo:
    """What the layers after the interceptor know about the current call."""

    request_id: str
    method: str
    caller: Caller | None = None
    extra: dict[str, str] = field(default_factory=dict)


# grpc-stubs makes these generic for mypy; grpcio does not at run time.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "aio.ServicerContext[Any, Any]"
_current: ContextVar[RequestInfo] = ContextVar("megarouter_request")


def current_request() -> RequestInfo:
    return _current.get()


def current_caller() -> Caller:
    """The authenticated caller of the current RPC."""
    caller = _current.get().caller
    if caller is None:  # only public methods run without one
        raise Unauthenticated("this call needs an API key")
    return caller


@dataclass(frozen=True, slots=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


class RequestInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every method handler once and reuses the wrapper per method."""

    def __init__(
        self,
        authenticator: Authenticator,
        enforcer: PolicyEnforcer,
        permissions: Mapping[str, Permission] = RPC_PERMISSIONS,
    ) -> None:
        self._authenticator = authenticator
        self._enforcer = enforcer
        self._permissions = permissions
        self._handlers: dict[str, Handler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        method = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        wrapped = self._wrap(method, handler)
        self._handlers[method] = wrapped
        return wrapped

    def _wrap(self, method: str, handler: Handler) -> Handler:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._server_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        raise TypeError(f"{method}: client-streaming methods are not supported")

    def _unary(self, method: str, behavior: Any) -> Any:
        async def handle(request: Any, context: Context) -> Any:
            info, started = self._open(method, context), time.perf_counter()
            token = _current.set(info)
            try:
                await self._admit(info, context)
                response = await behavior(request, context)
            except MegaRouterError as error:
                self._log(info, started, error.code.name)
                await context.abort_with_status(  # type: ignore[attr-defined]
                    self._status(info, error)
                )  # (missing from grpc-stubs)
            except (aio.AbortError, GeneratorExit):
                raise
            except Exception:
                self._log_crash(info, started)
                await context.abort(grpc.StatusCode.INTERNAL, _internal(info))
            finally:
                _current.reset(token)
            context.set_trailing_metadata(((REQUEST_ID_HEADER, info.request_id),))
            self._log(info, started, "OK")
            return response

        return handle

    def _server_stream(self, method: str, behavior: Any) -> Any:
        async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
            info, started = self._open(method, context), time.perf_counter()
            token = _current.set(info)
            try:
                await self._admit(info, context)
                async for message in behavior(request, context):
                    yield message
            except MegaRouterError as error:
                self._log(info, started, error.code.name)
                await context.abort_with_status(  # type: ignore[attr-defined]
                    self._status(info, error)
                )  # (missing from grpc-stubs)
            except (aio.AbortError, GeneratorExit):
                raise
            except Exception:
                self._log_crash(info, started)
                await context.abort(grpc.StatusCode.INTERNAL, _internal(info))
            finally:
                _current.reset(token)
            context.set_trailing_metadata(((REQUEST_ID_HEADER, info.request_id),))
            self._log(info, started, "OK")

        return handle

    @staticmethod
    def _open(method: str, context: Context) -> RequestInfo:
        request_id = ""
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_HEADER and isinstance(value, str):
                request_id = value[:128]
        request_id = request_id or uuid.uuid4().hex
        bind_request_id(request_id)  # for code that must not import gRPC
        return RequestInfo(request_id, method)

    async def _admit(self, info: RequestInfo, context: Context) -> None:
        key = _api_key(context)
        if not key:
            raise Unauthenticated(
                "missing API key: send 'authorization: Bearer <key>' or "
                "'x-api-key: <key>' metadata"
            )
        caller = await self._authenticator.authenticate(key)
        info.caller = caller

        permission = self._permissions.get(info.method)
        if permission is None:
            raise PermissionDenied(f"{info.method} has no access rule; refused")
        obj, action = permission
        if not self._enforcer.allows(caller.subject, caller.org_id, obj, action):
            roles = ", ".join(sorted({g.role for g in caller.grants})) or "none"
            raise PermissionDenied(
                f"{obj}.{action} is not allowed for {caller.subject} (roles: {roles})"
            )

    @staticmethod
    def _status(info: RequestInfo, error: MegaRouterError) -> grpc.Status:
        status = to_status(error)
        return _Status(
            code=status.code,
            details=status.details,
            trailing_metadata=(
                *status.trailing_metadata,
                (REQUEST_ID_HEADER, info.request_id),
            ),
        )

    @staticmethod
    def _log(info: RequestInfo, started: float, outcome: str) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        caller = info.caller
        logger.info(
            "rpc %s request_id=%s org=%s principal=%s outcome=%s ms=%.2f",
            info.method,
            info.request_id,
            caller.org_id if caller else "-",
            caller.principal_id if caller else "-",
            outcome,
            (time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _log_crash(info: RequestInfo, started: float) -> None:
        logger.exception(
            "rpc %s request_id=%s failed unexpectedly", info.method, info.request_id
        )
        RequestInterceptor._log(info, started, "INTERNAL")


def _api_key(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if not isinstance(value, str):
            continue
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
        elif key == "x-api-key":
            return value.strip()
    return ""


def _internal(info: RequestInfo) -> str:
    return f"internal error; quote request id {info.request_id} to the operator"
