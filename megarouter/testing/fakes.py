"""What a provider fake offers the conformance kit.

Each protocol family ships a fake of its provider (a :class:`FakeHTTPServer`
answering the provider's documented wire format) that implements
:class:`FakeProvider`. The conformance kit in
:mod:`megarouter.testing.conformance` drives an adapter against it.
"""

from __future__ import annotations

import enum
from typing import Protocol

from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import Credential, ProviderSpec
from megarouter.testing.fake_http import FakeHTTPServer


class FailureKind(enum.StrEnum):
    """Failures a fake can be told to answer the next request with.

    The fake answers with the provider's real status code and error body for
    that condition, as its public documentation shows them.
    """

    RATE_LIMITED = "rate_limited"  # expect ProviderRateLimited
    SERVER_ERROR = "server_error"  # expect ProviderServerError
    OVERLOADED = "overloaded"  # expect ProviderOverloaded
    AUTH = "auth"  # expect ProviderAuthError
    BAD_REQUEST = "bad_request"  # expect ProviderBadRequest
    CONTEXT_TOO_LONG = "context_too_long"  # expect ContextTooLong


class FakeProvider(Protocol):
    """A running fake provider and the knobs the kit turns.

    Attributes:
        adapter_class: the family's adapter class under test.
        server: the loopback server; its ``requests`` and ``disconnects``
            let the kit check what the adapter sent and whether it hung up.
        chat_model: a chat model id the fake serves.
        embedding_model: an embedding model id, or "" if the family has none.
        reply_text: the text the fake answers every chat request with.
        stream_pause: seconds the fake waits between streamed chunks.
    """

    adapter_class: type[ProviderAdapter]
    server: FakeHTTPServer
    chat_model: str
    embedding_model: str
    reply_text: str
    stream_pause: float

    def provider_spec(self) -> ProviderSpec:
        """A spec whose base URL points at ``server`` and lists its models."""
        ...

    def credential(self) -> Credential | None:
        """The credential the fake accepts (it rejects any other with 401)."""
        ...

    def fail_next(self, kind: FailureKind, retry_after: float | None = None) -> None:
        """Answer the next request with ``kind``'s status and error body.

        Args:
            kind: which failure to send.
            retry_after: seconds to put in a Retry-After header, if any.
        """
        ...
