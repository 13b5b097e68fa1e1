"""Prometheus metrics over HTTP, for a server or a workers' supervisor.

Kept apart from :mod:`megarouter.server` so that a supervisor serving its
workers' metrics imports prometheus_client and nothing of the server.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from megarouter.errors import ConfigurationError

logger = logging.getLogger(__name__)


def serve_metrics(listen: str, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``registry`` as Prometheus metrics over HTTP on ``listen``.

    Raises:
        ConfigurationError: the address cannot be bound.
    """
    host, _, port = listen.rpartition(":")
    try:
        start_http_server(int(port), addr=host, registry=registry)
    except OSError as exc:
        raise ConfigurationError(
            f"invalid setting MEGAROUTER_METRICS_LISTEN: cannot bind {listen}: {exc}"
        ) from None
    logger.info("metrics on http://%s/metrics", listen)
