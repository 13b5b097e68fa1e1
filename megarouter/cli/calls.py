"""The client's call helpers, for the admin commands.

``megarouter.client_transport`` imports grpc, which ``megarouter --help``
should not wait for; these import it when a command makes its first call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def translated() -> Iterator[None]:
    """Raise MegaRouterRpcError in place of grpc.RpcError."""
    from megarouter import client_transport

    with client_transport.translated():
        yield


def follow_pages(fetch: Callable[[str], tuple[Sequence[T], str]]) -> Iterator[T]:
    """Every item of every page, following next_page_token."""
    from megarouter import client_transport

    return client_transport.follow_pages(fetch)
