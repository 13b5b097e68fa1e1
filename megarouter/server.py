"""Assemble and run the grpc.aio server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from megarouter import components
from megarouter.auth.interceptor import RequestInterceptor
from megarouter.components import Components
from megarouter.config import Settings
from megarouter.errors import ConfigurationError
from megarouter.metrics_http import serve_metrics
from megarouter.services.admin import AdminServicer
from megarouter.services.completion import CompletionServicer
from megarouter.services.route import RouteServicer
from megarouter.store.database import Database
from megarouter.tenancy.bootstrap import BootstrapResult
from megarouter.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    completion_service_pb2,
    completion_service_pb2_grpc,
    route_service_pb2,
    route_service_pb2_grpc,
)

logger = logging.getLogger(__name__)

SERVICE_NAMES = (
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    completion_service_pb2.DESCRIPTOR.services_by_name["CompletionService"].full_name,
    route_service_pb2.DESCRIPTOR.services_by_name["RouteService"].full_name,
)


@dataclass(slots=True)
class Runtime:
    """Everything a running server holds, for tests and for shutdown."""

    settings: Settings
    components: Components
    server: aio.Server
    health: HealthServicer
    port: int

    @property
    def bootstrap(self) -> BootstrapResult | None:
        return self.components.bootstrap

    @property
    def database(self) -> Database:
        return self.components.database


async def start(
    settings: Settings,
    plugins: Mapping[str, object] | None = None,
    *,
    reuse_port: bool = False,
) -> Runtime:
    """Prepare storage and start serving; returns once the port is open.

    Args:
        settings: the process's settings.
        plugins: extra plugin objects to register by name (see
            :func:`megarouter.components.build`).
        reuse_port: bind with SO_REUSEPORT, sharing the port with the other
            workers of ``megarouter serve --workers`` (:mod:`megarouter.workers`).

    Raises:
        ConfigurationError: settings, the database or the port are unusable.
    """
    parts = await components.build(settings, plugins)
    server = aio.server(
        interceptors=[RequestInterceptor(parts.authenticator, parts.enforcer)],
        options=_channel_options(settings, reuse_port),
    )
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(parts.tenancy, parts.providers, parts.policies, parts.governance),
        server,
    )
    completion_service_pb2_grpc.add_CompletionServiceServicer_to_server(
        CompletionServicer(parts.engine, parts.feedback), server
    )
    route_service_pb2_grpc.add_RouteServiceServicer_to_server(
        RouteServicer(parts.engine, parts.routes), server
    )
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    try:
        port = _bind(server, settings)
        if settings.metrics_listen:
            serve_metrics(settings.metrics_listen)
    except ConfigurationError:
        await components.close(parts)
        raise
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    logger.info("serving on port %d (database %s)", port, _safe_url(parts.database.url))
    return Runtime(settings, parts, server, health_servicer, port)


async def stop(runtime: Runtime, grace: float | None = None) -> None:
    """Drain: report NOT_SERVING, let in-flight calls finish, then close."""
    await runtime.health.enter_graceful_shutdown()
    grace = runtime.settings.grace_period if grace is None else grace
    logger.info("draining: in-flight calls have %.1fs to finish", grace)
    await runtime.server.stop(grace)
    await components.close(runtime.components)
    logger.info("stopped")


async def serve(
    settings: Settings,
    announce: Callable[[Runtime], None] | None = None,
    plugins: Mapping[str, object] | None = None,
    *,
    reuse_port: bool = False,
    parent_pid: int | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully.

    Args:
        parent_pid: a supervisor's pid (``serve --workers``); the server
            also shuts down when that process is gone, so a supervisor
            killed with SIGKILL leaves no worker behind.
    """
    runtime = await start(settings, plugins, reuse_port=reuse_port)
    if announce is not None:
        announce(runtime)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    watch = None
    if parent_pid is not None:
        watch = asyncio.create_task(_watch_parent(parent_pid, stopping))
    try:
        await stopping.wait()
    finally:
        if watch is not None:
            watch.cancel()
        await stop(runtime)


async def _watch_parent(parent_pid: int, stopping: asyncio.Event) -> None:
    """Set ``stopping`` once this process's parent is no longer ``parent_pid``."""
    # Nothing signals a parent's death to a child on every platform: poll.
    while os.getppid() == parent_pid:  # noqa: ASYNC110
        await asyncio.sleep(1.0)
    logger.warning("the supervisor (pid %d) is gone; stopping", parent_pid)
    stopping.set()


def _channel_options(settings: Settings, reuse_port: bool) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", settings.keepalive_timeout_ms),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Off unless asked: a second server started by mistake on a taken
        # port must fail to bind, not silently share the traffic.
        ("grpc.so_reuseport", int(reuse_port)),
    ]


def _bind(server: aio.Server, settings: Settings) -> int:
    try:
        port = server.add_insecure_port(settings.listen)
    except RuntimeError as exc:
        raise ConfigurationError(
            f"invalid setting MEGAROUTER_LISTEN: cannot bind {settings.listen}: {exc}"
        ) from None
    if port == 0:
        raise ConfigurationError(
            f"invalid setting MEGAROUTER_LISTEN: cannot bind {settings.listen}"
        )
    return port


def _safe_url(url: str) -> str:
    """The database URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def print_bootstrap(runtime: Runtime) -> None:
    """Show the bootstrap admin key, once, on the terminal (never in logs)."""
    print_created(runtime.bootstrap)


def print_created(created: BootstrapResult | None) -> None:
    """Show a newly created admin key on the terminal (never in logs)."""
    if created is None or not created.secret:
        return
    print(
        f"\nCreated org '{created.org_id}' and its administrator {created.principal}.\n"
        f"Admin API key (shown once, store it now):\n\n    {created.secret}\n",
        file=sys.stdout,
        flush=True,
    )
