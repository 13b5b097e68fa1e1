"""What both SDK clients share: the key on every call, errors, requests, pages.

``megarouter.client`` and ``megarouter.async_client`` are the public face;
this module holds the pieces under both so that neither repeats the other:
interceptors that attach the API key and a default timeout, the decoding of
google.rpc status details into :class:`MegaRouterRpcError`, the requests
whose building is more than one line, and the loops that follow
``next_page_token``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc import aio
from grpc_status import rpc_status

from megarouter.errors import AttemptFailure, FieldViolation, QuotaViolation
from megarouter.v1 import admin_service_pb2 as api
from megarouter.v1 import resources_pb2 as pb

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 30.0
TARGET_ENV = "MEGAROUTER_TARGET"
API_KEY_ENV = "MEGAROUTER_API_KEY"
REQUEST_ID_HEADER = "x-request-id"
ALL_PRINCIPALS = "-"

T = TypeVar("T")


class MissingApiKey(ValueError):
    """No API key was given and MEGAROUTER_API_KEY is not set."""


@dataclass(eq=False)  # exceptions compare and hash by identity
class MegaRouterRpcError(Exception):
    """A failed call, with the details MegaRouter sent decoded.

    Attributes:
        code: The gRPC status code, such as ``grpc.StatusCode.NOT_FOUND``.
        message: The server's message.
        field_violations: The bad request fields (INVALID_ARGUMENT).
        reason: The ErrorInfo reason, such as ``ETAG_MISMATCH``; "" if none.
        metadata: The ErrorInfo metadata.
        quota_violations: The exhausted budgets or limits (RESOURCE_EXHAUSTED).
        attempts: What each candidate said when all of them failed.
        retry_delay: Seconds to wait before retrying, when the server said.
        request_id: The request id to quote to an operator, when known.
    """

    code: grpc.StatusCode
    message: str
    field_violations: tuple[FieldViolation, ...] = ()
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    quota_violations: tuple[QuotaViolation, ...] = ()
    attempts: tuple[AttemptFailure, ...] = ()
    retry_delay: float | None = None
    request_id: str = ""

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    @classmethod
    def from_grpc(cls, error: grpc.RpcError) -> MegaRouterRpcError:
        """Decode a ``grpc.RpcError`` (sync or aio) and its status details.

        Args:
            error: The error a stub raised; it is also the call that failed.

        Returns:
            The decoded error.
        """
        call: Any = error  # every RpcError grpc raises is also its Call
        if not all(hasattr(call, m) for m in ("code", "details", "trailing_metadata")):
            return cls(grpc.StatusCode.UNKNOWN, str(error))
        decoded = cls(call.code(), call.details() or "")
        for key, value in call.trailing_metadata() or ():
            if key == REQUEST_ID_HEADER and isinstance(value, str):
                decoded.request_id = value
        try:
            status = rpc_status.from_call(call)
        except ValueError:  # details that contradict the status: ignore them
            status = None
        for detail in status.details if status is not None else ():
            decoded._add_detail(detail)
        return decoded

    def _add_detail(self, detail: Any) -> None:
        """Fold one packed google.rpc detail into this error."""
        info = error_details_pb2.ErrorInfo()
        bad_request = error_details_pb2.BadRequest()
        quota = error_details_pb2.QuotaFailure()
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            if info.reason == "ATTEMPT_FAILED":
                meta = info.metadata
                self.attempts += (
                    AttemptFailure(
                        meta.get("provider", ""),
                        meta.get("model", ""),
                        meta.get("error", ""),
                        meta.get("retryable", "") == "true",
                    ),
                )
            elif not self.reason:
                self.reason, self.metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(bad_request):
            self.field_violations += tuple(
                FieldViolation(v.field, v.description)
                for v in bad_request.field_violations
            )
        elif detail.Unpack(quota):
            self.quota_violations += tuple(
                QuotaViolation(v.subject, v.description) for v in quota.violations
            )
        elif detail.Unpack(retry):
            self.retry_delay = retry.retry_delay.ToNanoseconds() / 1e9


@contextmanager
def translated() -> Iterator[None]:
    """Raise MegaRouterRpcError in place of grpc.RpcError."""
    try:
        yield
    except MegaRouterRpcError:
        raise
    except grpc.RpcError as error:
        raise MegaRouterRpcError.from_grpc(error) from error


# --- connecting with a key -------------------------------------------------


def resolve_target_and_key(target: str | None, api_key: str | None) -> tuple[str, str]:
    """The target and key, from the arguments or else the environment."""
    target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        raise MissingApiKey(f"no API key: pass api_key=... or set {API_KEY_ENV}")
    return target, api_key


def open_channel(
    target: str,
    key: str,
    timeout: float | None,
    root_certificates: bytes | None,
    secure: bool,
) -> tuple[grpc.Channel, grpc.Channel]:
    """A sync channel, and the same channel sending the key on every call."""
    if secure:
        credentials = grpc.ssl_channel_credentials(root_certificates)
        channel = grpc.secure_channel(target, credentials)
    else:
        channel = grpc.insecure_channel(target)
    return channel, grpc.intercept_channel(channel, _KeyInterceptor(key, timeout))


def open_aio_channel(
    target: str,
    key: str,
    timeout: float | None,
    root_certificates: bytes | None,
    secure: bool,
) -> aio.Channel:
    """An async channel that sends the key on every call."""
    interceptors: list[Any] = [
        _AioUnaryKeyInterceptor(key, timeout),
        _AioStreamKeyInterceptor(key, timeout),
    ]
    if secure:
        credentials = grpc.ssl_channel_credentials(root_certificates)
        return aio.secure_channel(target, credentials, interceptors=interceptors)
    return aio.insecure_channel(target, interceptors=interceptors)


def _with_key(
    metadata: Sequence[tuple[str, str | bytes]] | None, key: str
) -> list[tuple[str, str | bytes]]:
    """The call's metadata plus the bearer key, unless the call set a key."""
    items = list(metadata or ())
    if not any(name in ("authorization", "x-api-key") for name, _ in items):
        items.append(("authorization", f"Bearer {key}"))
    return items


@dataclass(frozen=True, slots=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _KeyInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the API key, and the default timeout, to every sync call."""

    def __init__(self, key: str, timeout: float | None) -> None:
        self._key, self._timeout = key, timeout

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        return _CallDetails(
            details.method,
            details.timeout if details.timeout is not None else self._timeout,
            _with_key(details.metadata, self._key),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)


def _aio_details(
    details: aio.ClientCallDetails, key: str, timeout: float | None
) -> aio.ClientCallDetails:
    """``details`` with the key added and the default timeout filled in."""
    metadata: Any = details.metadata
    return aio.ClientCallDetails(
        details.method,
        details.timeout if details.timeout is not None else timeout,
        aio.Metadata(*_with_key(metadata, key)),
        details.credentials,
        details.wait_for_ready,
    )


class _AioUnaryKeyInterceptor(
    aio.UnaryUnaryClientInterceptor  # type: ignore[type-arg]
):
    """Adds the API key, and the default timeout, to every async unary call."""

    def __init__(self, key: str, timeout: float | None) -> None:
        self._key, self._timeout = key, timeout

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        details = _aio_details(client_call_details, self._key, self._timeout)
        return await continuation(details, request)


# grpc.aio files an interceptor under one call type only, hence two classes.
class _AioStreamKeyInterceptor(
    aio.UnaryStreamClientInterceptor  # type: ignore[type-arg]
):
    """Adds the API key, and the default timeout, to every async stream call."""

    def __init__(self, key: str, timeout: float | None) -> None:
        self._key, self._timeout = key, timeout

    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        details = _aio_details(client_call_details, self._key, self._timeout)
        return await continuation(details, request)


# --- requests shared by both clients ------------------------------------------


def timestamp(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    if when is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def changed_fields(
    changes: dict[str, Any],
) -> tuple[dict[str, Any], field_mask_pb2.FieldMask]:
    """The changed fields (those not None) and the update mask naming them."""
    changed = {name: value for name, value in changes.items() if value is not None}
    return changed, field_mask_pb2.FieldMask(paths=sorted(changed))


def update_org_request(name: str, etag: str, **changes: Any) -> api.UpdateOrgRequest:
    values, mask = changed_fields(changes)
    org = pb.Org(name=name, etag=etag, **values)
    return api.UpdateOrgRequest(org=org, update_mask=mask)


def update_team_request(name: str, etag: str, **changes: Any) -> api.UpdateTeamRequest:
    values, mask = changed_fields(changes)
    team = pb.Team(name=name, etag=etag, **values)
    return api.UpdateTeamRequest(team=team, update_mask=mask)


def update_principal_request(
    name: str, etag: str, **changes: Any
) -> api.UpdatePrincipalRequest:
    values, mask = changed_fields(changes)
    principal = pb.Principal(name=name, etag=etag, **values)
    return api.UpdatePrincipalRequest(principal=principal, update_mask=mask)


def create_principal_request(
    parent: str,
    principal_id: str,
    kind: pb.PrincipalKind.ValueType,
    display_name: str,
    email: str,
    team: str,
    disabled: bool,
    request_id: str,
) -> api.CreatePrincipalRequest:
    principal = pb.Principal(
        kind=kind,
        display_name=display_name,
        email=email,
        team=team,
        disabled=disabled,
    )
    return api.CreatePrincipalRequest(
        parent=parent,
        principal=principal,
        principal_id=principal_id,
        request_id=request_id,
    )


def create_api_key_request(
    parent: str, display_name: str, expire_time: datetime | None, request_id: str
) -> api.CreateApiKeyRequest:
    key = pb.ApiKey(display_name=display_name, expire_time=timestamp(expire_time))
    return api.CreateApiKeyRequest(parent=parent, api_key=key, request_id=request_id)


def create_binding_request(
    parent: str, principal: str, role: str, team: str
) -> api.CreateRoleBindingRequest:
    binding = pb.RoleBinding(principal=principal, role=role, team=team)
    return api.CreateRoleBindingRequest(parent=parent, role_binding=binding)


def follow_pages(fetch: Callable[[str], tuple[Sequence[T], str]]) -> Iterator[T]:
    """Every item of every page, following next_page_token."""
    token = ""
    while True:
        with translated():
            items, token = fetch(token)
        yield from items
        if not token:
            return


async def follow_async_pages(
    fetch: Callable[[str], Awaitable[tuple[Sequence[T], str]]],
) -> AsyncIterator[T]:
    """Every item of every page, following next_page_token."""
    token = ""
    while True:
        with translated():
            items, token = await fetch(token)
        for item in items:
            yield item
        if not token:
            return
