"""Assemble and run the grpc.aio server."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from megarouter.auth.authenticator import Authenticator
from megarouter.auth.epoch import EpochWatcher
from megarouter.auth.interceptor import RequestInterceptor
from megarouter.auth.keys import KeyHasher
from megarouter.auth.policy import PolicyEnforcer
from megarouter.auth.secret import server_secret
from megarouter.config import Settings
from megarouter.errors import ConfigurationError
from megarouter.providers.admin import ProviderAdmin
from megarouter.providers.credentials import CredentialCipher, CredentialStore
from megarouter.providers.registry import ProviderRegistry
from megarouter.providers.settings import ProviderSettings
from megarouter.services.admin import AdminServicer, Tenancy
from megarouter.store import migrations
from megarouter.store.database import Database
from megarouter.tenancy.bindings import RoleBindings
from megarouter.tenancy.bootstrap import BootstrapResult, bootstrap, prepare
from megarouter.tenancy.credentials import ApiKeys
from megarouter.tenancy.directory import Orgs, Principals, Teams
from megarouter.v1 import admin_service_pb2, admin_service_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAMES = (
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
)


@dataclass(slots=True)
class Runtime:
    """Everything a running server holds, for tests and for shutdown."""

    settings: Settings
    database: Database
    server: aio.Server
    health: HealthServicer
    watcher: EpochWatcher
    port: int
    bootstrap: BootstrapResult | None
    providers: ProviderAdmin | None = None


async def start(settings: Settings) -> Runtime:
    """Prepare storage and start serving; returns once the port is open.

    Raises:
        ConfigurationError: settings, the database or the port are unusable.
    """
    database = Database(settings.effective_database_url)
    if settings.should_auto_migrate:
        await migrations.upgrade_async(database.url)
    await migrations.require_current(database)

    secret = server_secret(settings)
    hasher = KeyHasher(secret)
    await prepare(database)
    bootstrap_key = (
        settings.bootstrap_key.get_secret_value() if settings.bootstrap_key else None
    )
    created = await bootstrap(database, hasher, settings.bootstrap_org, bootstrap_key)

    enforcer = PolicyEnforcer(database)
    authenticator = Authenticator(database, hasher, settings.auth_cache_ttl)
    watcher = EpochWatcher(
        database, enforcer, authenticator, settings.auth_refresh_interval
    )
    await watcher.refresh()
    watcher.start()

    server = aio.server(
        interceptors=[RequestInterceptor(authenticator, enforcer)],
        options=_channel_options(settings),
    )
    store_args = {"on_auth_change": watcher.refresh}
    providers = provider_admin(settings, database, secret)
    tenancy = Tenancy(
        orgs=Orgs(database, **store_args),
        teams=Teams(database, **store_args),
        principals=Principals(database, **store_args),
        keys=ApiKeys(database, hasher, **store_args),
        bindings=RoleBindings(database, **store_args),
    )
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(tenancy, providers), server
    )
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )

    port = _bind(server, settings)
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    logger.info("serving on port %d (database %s)", port, _safe_url(database.url))
    return Runtime(
        settings, database, server, health_servicer, watcher, port, created, providers
    )


def provider_admin(
    settings: Settings, database: Database, secret: bytes
) -> ProviderAdmin:
    """Load the allowed provider plugins and open the org settings stores."""
    registry = ProviderRegistry()
    registry.load(settings.plugin_allow_list or None)
    credentials = CredentialStore(database, CredentialCipher(secret))
    return ProviderAdmin(database, registry, credentials, ProviderSettings(database))


async def stop(runtime: Runtime, grace: float | None = None) -> None:
    """Drain: report NOT_SERVING, let in-flight calls finish, then close."""
    await runtime.health.enter_graceful_shutdown()
    grace = runtime.settings.grace_period if grace is None else grace
    logger.info("draining: in-flight calls have %.1fs to finish", grace)
    await runtime.server.stop(grace)
    await runtime.watcher.stop()
    await runtime.database.dispose()
    logger.info("stopped")


async def serve(
    settings: Settings, announce: Callable[[Runtime], None] | None = None
) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    runtime = await start(settings)
    if announce is not None:
        announce(runtime)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await stop(runtime)


def _channel_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", settings.keepalive_timeout_ms),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.so_reuseport", 0),
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
    created = runtime.bootstrap
    if created is None or not created.secret:
        return
    print(
        f"\nCreated org '{created.org_id}' and its administrator {created.principal}.\n"
        f"Admin API key (shown once, store it now):\n\n    {created.secret}\n",
        file=sys.stdout,
        flush=True,
    )
