"""MegaRouter's one error tree.

Every failure that can reach a caller is one of these classes, and every class
carries exactly one :class:`Code`, which mirrors a gRPC status code. The gRPC
layer translates with a single table (``megarouter.services.status``); nothing
else in the package needs to know about gRPC.

    MegaRouterError
    ├── InvalidArgument            INVALID_ARGUMENT  (field violations)
    ├── Unauthenticated            UNAUTHENTICATED
    ├── PermissionDenied           PERMISSION_DENIED
    ├── NotFound                   NOT_FOUND
    ├── AlreadyExists              ALREADY_EXISTS
    ├── FailedPrecondition         FAILED_PRECONDITION
    │   └── EtagMismatch
    ├── ResourceExhausted          RESOURCE_EXHAUSTED (quota violations)
    ├── DeadlineExceeded           DEADLINE_EXCEEDED
    ├── Unavailable                UNAVAILABLE
    │   └── AllCandidatesFailed    (what every attempt said)
    ├── ConfigurationError         FAILED_PRECONDITION (bad settings or catalog)
    └── ProviderError              (code depends on the kind; see below)
        ├── retryable: ProviderTimeout, ProviderConnectionError,
        │   ProviderRateLimited, ProviderOverloaded, ProviderServerError,
        │   ProviderResponseError
        └── final: ProviderAuthError, ProviderBadRequest, ContentFiltered,
            ContextTooLong, ProviderNotFound
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class Code(enum.IntEnum):
    """The gRPC status codes, by their canonical numbers."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request: its path and what is wrong with it."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class QuotaViolation:
    """One exhausted quota: which budget or limit, and what happened."""

    subject: str
    description: str


class MegaRouterError(Exception):
    """Base of every error MegaRouter raises on purpose."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(MegaRouterError):
    """The request is malformed; ``violations`` says which fields and why."""

    code = Code.INVALID_ARGUMENT

    def __init__(self, message: str, violations: Sequence[FieldViolation] = ()) -> None:
        super().__init__(message)
        self.violations = tuple(violations)

    @classmethod
    def for_field(cls, field_path: str, description: str) -> InvalidArgument:
        return cls(
            f"{field_path}: {description}", [FieldViolation(field_path, description)]
        )


class Unauthenticated(MegaRouterError):
    code = Code.UNAUTHENTICATED


class PermissionDenied(MegaRouterError):
    code = Code.PERMISSION_DENIED


class NotFound(MegaRouterError):
    code = Code.NOT_FOUND


class AlreadyExists(MegaRouterError):
    code = Code.ALREADY_EXISTS


class FailedPrecondition(MegaRouterError):
    code = Code.FAILED_PRECONDITION


class EtagMismatch(FailedPrecondition):
    """The caller's etag is stale: someone changed the resource meanwhile."""


class ConfigurationError(MegaRouterError):
    """Settings, a plugin or the catalog are wrong; the message says which."""

    code = Code.FAILED_PRECONDITION


class ResourceExhausted(MegaRouterError):
    """A budget or rate limit refused the call."""

    code = Code.RESOURCE_EXHAUSTED

    def __init__(
        self,
        message: str,
        violations: Sequence[QuotaViolation] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.violations = tuple(violations)
        self.retry_after = retry_after


class DeadlineExceeded(MegaRouterError):
    code = Code.DEADLINE_EXCEEDED


class Unavailable(MegaRouterError):
    code = Code.UNAVAILABLE


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    """What one attempt at one provider and model ended with."""

    provider: str
    model: str
    error: str
    retryable: bool


class AllCandidatesFailed(Unavailable):
    """Every candidate model was tried and failed; ``attempts`` says how."""

    def __init__(self, message: str, attempts: Sequence[AttemptFailure]) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)


# --- provider errors -------------------------------------------------------


class ProviderError(MegaRouterError):
    """An upstream provider failed; ``retryable`` says whether to fall back."""

    code = Code.UNAVAILABLE
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        details: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.details = dict(details or {})


class ProviderTimeout(ProviderError):
    code = Code.DEADLINE_EXCEEDED


class ProviderConnectionError(ProviderError):
    pass


class ProviderRateLimited(ProviderError):
    code = Code.RESOURCE_EXHAUSTED


class ProviderOverloaded(ProviderError):
    pass


class ProviderServerError(ProviderError):
    pass


class ProviderResponseError(ProviderError):
    """The provider answered something we could not parse."""


class ProviderAuthError(ProviderError):
    """The provider refused our credential: an operator must fix it."""

    code = Code.FAILED_PRECONDITION
    retryable = False


class ProviderBadRequest(ProviderError):
    code = Code.INVALID_ARGUMENT
    retryable = False


class ProviderNotFound(ProviderError):
    """The provider does not know the model or endpoint."""

    code = Code.NOT_FOUND
    retryable = False


class ContentFiltered(ProviderError):
    code = Code.INVALID_ARGUMENT
    retryable = False


class ContextTooLong(ProviderError):
    code = Code.INVALID_ARGUMENT
    retryable = False


@dataclass(slots=True)
class ErrorInfo:
    """A flat description of an error for logs and records (no secrets)."""

    kind: str
    message: str
    retryable: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: BaseException) -> ErrorInfo:
        retryable = isinstance(exc, ProviderError) and exc.retryable
        return cls(type(exc).__name__, str(exc), retryable)
