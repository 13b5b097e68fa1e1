"""The one table from MegaRouter errors to gRPC status, with rich details.

Details follow google.rpc conventions so that generated clients in any
language can read them: BadRequest field violations, QuotaFailure, RetryInfo
and ErrorInfo (reason and domain).
"""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from megarouter.errors import (
    AllCandidatesFailed,
    Code,
    InvalidArgument,
    MegaRouterError,
    ProviderError,
    ResourceExhausted,
)

ERROR_DOMAIN = "megarouter.dev"

GRPC_CODES: dict[Code, grpc.StatusCode] = {
    Code[code.name]: code for code in grpc.StatusCode
}


def to_status(error: MegaRouterError) -> grpc.Status:
    """The gRPC status, with details, that tells a caller about ``error``."""
    status = status_pb2.Status(code=int(error.code), message=error.message)

    info = error_details_pb2.ErrorInfo(reason=_reason(error), domain=ERROR_DOMAIN)
    if isinstance(error, ProviderError) and error.provider:
        info.metadata["provider"] = error.provider
    status.details.add().Pack(info)

    if isinstance(error, InvalidArgument) and error.violations:
        bad_request = error_details_pb2.BadRequest()
        for violation in error.violations:
            bad_request.field_violations.add(
                field=violation.field, description=violation.description
            )
        status.details.add().Pack(bad_request)

    if isinstance(error, ResourceExhausted) and error.violations:
        quota = error_details_pb2.QuotaFailure()
        for item in error.violations:
            quota.violations.add(subject=item.subject, description=item.description)
        status.details.add().Pack(quota)

    if isinstance(error, AllCandidatesFailed):
        for attempt in error.attempts:
            detail = error_details_pb2.ErrorInfo(
                reason="ATTEMPT_FAILED", domain=ERROR_DOMAIN
            )
            detail.metadata.update(
                {
                    "provider": attempt.provider,
                    "model": attempt.model,
                    "error": attempt.error[:500],
                    "retryable": str(attempt.retryable).lower(),
                }
            )
            status.details.add().Pack(detail)

    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return rpc_status.to_status(status)


def _reason(error: MegaRouterError) -> str:
    """UPPER_SNAKE_CASE of the error class: ``EtagMismatch`` -> ``ETAG_MISMATCH``."""
    name = type(error).__name__
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index and not name[index - 1].isupper():
            out.append("_")
        out.append(char.upper())
    return "".join(out)
