"""A failed call is one line on stderr with what the caller can act on."""

from __future__ import annotations

import grpc
import pytest

from megarouter.cli.output import report_error
from megarouter.client_transport import AttemptFailure, MegaRouterRpcError


def test_a_refused_call_says_when_to_retry(capsys: pytest.CaptureFixture[str]) -> None:
    error = MegaRouterRpcError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "rate limit of key k1: the limit of 5 requests per minute is reached",
        retry_delay=12.0,
    )

    report_error(error, "127.0.0.1:50051")

    assert capsys.readouterr().err == (
        "error: RESOURCE_EXHAUSTED: rate limit of key k1: the limit of 5 requests "
        "per minute is reached (retry in 12s)\n"
    )


def test_a_call_every_provider_failed_lists_the_attempts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = MegaRouterRpcError(
        grpc.StatusCode.UNAVAILABLE,
        "all 2 candidates failed",
        attempts=(
            AttemptFailure("a", "m", "ProviderTimeout", True),
            AttemptFailure("b", "m", "ProviderServerError", True),
        ),
    )

    report_error(error, "127.0.0.1:50051")

    line = capsys.readouterr().err
    assert "[attempts: a/m: ProviderTimeout; b/m: ProviderServerError]" in line
    assert "is MegaRouter running" not in line  # it answered; providers failed
