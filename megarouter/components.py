"""Build, and later close, everything a server process holds.

The gRPC layer (``megarouter.server``) only registers servicers over these
components; tests and tools can build the same set without a port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from megarouter.auth.authenticator import Authenticator
from megarouter.auth.epoch import EpochWatcher
from megarouter.auth.keys import KeyHasher
from megarouter.auth.policy import PolicyEnforcer
from megarouter.auth.secret import server_secret
from megarouter.completions.catalogs import OrgAdapters, OrgCatalogs
from megarouter.completions.engine import CompletionEngine
from megarouter.completions.routes import RouteResolver
from megarouter.config import Settings
from megarouter.governance.analytics import Analytics
from megarouter.governance.audit import AuditLog, AuditTrail
from megarouter.governance.budget_admin import BudgetAdmin
from megarouter.governance.budgets import BudgetBook
from megarouter.governance.governor import Governor
from megarouter.governance.ledger import UsageLedger
from megarouter.governance.ratelimit_leases import DatabaseRateLimiter
from megarouter.governance.ratelimit_redis import RedisRateLimiter
from megarouter.governance.ratelimit_store import RateLimitStore
from megarouter.governance.ratelimits import RateLimiter, RateLimitGate
from megarouter.providers.admin import ProviderAdmin
from megarouter.providers.credentials import CredentialCipher, CredentialStore
from megarouter.providers.health import HealthBoard
from megarouter.providers.registry import ProviderRegistry
from megarouter.providers.settings import ProviderSettings
from megarouter.providers.tokens import TokenCounter, load_encoding
from megarouter.routing.feedback import FeedbackStore
from megarouter.routing.learned import (
    FeedbackAdjustments,
    LearnedQuality,
    ReloadingArtifact,
)
from megarouter.routing.policies import RoutingPolicies
from megarouter.routing.prompt_samples import PromptSampler
from megarouter.routing.router import PriorQuality, QualityModel, Router
from megarouter.routing.tasks import load_default_task_classifier
from megarouter.services.admin import Tenancy
from megarouter.services.budget_admin import Governance
from megarouter.store import migrations
from megarouter.store.database import Database
from megarouter.tenancy.bindings import RoleBindings
from megarouter.tenancy.bootstrap import BootstrapResult, bootstrap, prepare
from megarouter.tenancy.credentials import ApiKeys
from megarouter.tenancy.directory import Orgs, Principals, Teams

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Components:
    settings: Settings
    database: Database
    authenticator: Authenticator
    enforcer: PolicyEnforcer
    watcher: EpochWatcher
    tenancy: Tenancy
    providers: ProviderAdmin
    policies: RoutingPolicies
    ledger: UsageLedger
    health: HealthBoard
    adapters: OrgAdapters
    engine: CompletionEngine
    routes: RouteResolver
    budgets: BudgetBook
    feedback: FeedbackStore
    artifact: ReloadingArtifact | None
    bootstrap: BootstrapResult | None
    governance: Governance
    prompts: PromptSampler


async def prepare_storage(
    settings: Settings,
) -> tuple[Database, bytes, BootstrapResult | None]:
    """Open the database, migrate it when allowed, and bootstrap it.

    Safe to run from several processes at once, and again on a prepared
    database (it then changes nothing). ``megarouter serve --workers`` runs
    it once before starting its workers, so the admin key is created and
    shown once.

    Returns:
        The open database, the server secret, and what bootstrap created
        (None when the database already had an org).

    Raises:
        ConfigurationError: settings or the database are unusable.
    """
    database = Database(
        settings.effective_database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    try:
        if settings.should_auto_migrate:
            await migrations.upgrade_async(database.url)
        await migrations.require_current(database)
        secret = server_secret(settings)
        await prepare(database)
        bootstrap_key = (
            settings.bootstrap_key.get_secret_value()
            if settings.bootstrap_key
            else None
        )
        created = await bootstrap(
            database, KeyHasher(secret), settings.bootstrap_org, bootstrap_key
        )
    except BaseException:
        await database.dispose()
        raise
    return database, secret, created


async def build(
    settings: Settings, plugins: Mapping[str, object] | None = None
) -> Components:
    """Load providers, open storage, bootstrap, and build the call path.

    Args:
        settings: the process's settings.
        plugins: extra plugin objects to register by name before the
            installed entry points load (how tests add fake providers).

    Raises:
        ConfigurationError: settings, the providers file or the database
            are unusable.
    """
    # Plugins and the providers file first: a bad file then stops the
    # process before anything is opened that would need closing.
    registry = load_registry(settings, plugins)
    database, secret, created = await prepare_storage(settings)
    hasher = KeyHasher(secret)

    enforcer = PolicyEnforcer(database)
    authenticator = Authenticator(database, hasher, settings.auth_cache_ttl)
    watcher = EpochWatcher(
        database, enforcer, authenticator, settings.auth_refresh_interval
    )
    await watcher.refresh()
    watcher.start()
    store_args = {"on_auth_change": watcher.refresh}
    trail = AuditTrail()
    tenancy = Tenancy(
        orgs=Orgs(database, audit=trail, **store_args),
        teams=Teams(database, audit=trail, **store_args),
        principals=Principals(database, audit=trail, **store_args),
        keys=ApiKeys(database, hasher, audit=trail, **store_args),
        bindings=RoleBindings(database, audit=trail, **store_args),
        audit=AuditLog(database),
    )

    providers = ProviderAdmin(
        database,
        registry,
        CredentialStore(database, CredentialCipher(secret), audit=trail),
        ProviderSettings(database, audit=trail),
    )

    # Loading the tokenizer and the task classifier takes a few hundred ms;
    # do it now, off the event loop, not on the first call.
    await asyncio.to_thread(load_encoding)
    classifier = await asyncio.to_thread(load_default_task_classifier)
    health = HealthBoard()
    ledger = UsageLedger(database)
    ledger.start()
    adapters = OrgAdapters(providers)
    adjustments = FeedbackAdjustments()
    quality: QualityModel = PriorQuality()
    artifact: ReloadingArtifact | None = None
    if settings.router_quality == "learned":
        artifact = ReloadingArtifact(
            settings.router_artifact, on_load=lambda new: learned.use(new)
        )
        learned = quality = LearnedQuality(
            await asyncio.to_thread(artifact.load), adjustments
        )
        artifact.start()
    # After the artifact: the shift leaves out the scores it learned from.
    feedback = FeedbackStore(
        database,
        adjustments,
        settings.feedback_refresh_interval,
        learned=artifact.learned_feedback if artifact else None,
    )
    await feedback.refresh()
    feedback.start()
    router = Router(
        quality=quality,
        classify=lambda prompt: classifier.classify(prompt).task.value,
    )
    policies = RoutingPolicies(database, audit=trail)
    budgets = BudgetBook(database)
    await budgets.start()
    ratelimits = RateLimitStore(database, audit=trail)
    governor = Governor(budgets, rate_limit_gate(settings, database, ratelimits))
    routes = RouteResolver(router, OrgCatalogs(providers), health, policies, governor)
    prompts = PromptSampler(
        database,
        settings.outcome_prompt_sample_rate,
        settings.outcome_prompt_max_chars,
        settings.outcome_prompt_retention_days,
    )
    prompts.start()
    engine = CompletionEngine(
        routes, adapters, health, ledger, TokenCounter(), governor, prompts
    )
    governance = Governance(
        budgets=BudgetAdmin(database, budgets.forget, audit=trail),
        book=budgets,
        ratelimits=ratelimits,
        analytics=Analytics(database),
    )

    return Components(
        settings=settings,
        database=database,
        authenticator=authenticator,
        enforcer=enforcer,
        watcher=watcher,
        tenancy=tenancy,
        providers=providers,
        policies=policies,
        ledger=ledger,
        health=health,
        adapters=adapters,
        engine=engine,
        routes=routes,
        budgets=budgets,
        feedback=feedback,
        artifact=artifact,
        bootstrap=created,
        governance=governance,
        prompts=prompts,
    )


def load_registry(
    settings: Settings, plugins: Mapping[str, object] | None = None
) -> ProviderRegistry:
    """The provider plugins the settings allow, then the providers file.

    Args:
        settings: the allow-list and the providers file.
        plugins: extra plugin objects to register by name first.

    Raises:
        ConfigurationError: the providers file is unusable.
    """
    registry = ProviderRegistry()
    for name, plugin in (plugins or {}).items():
        registry.register(plugin, name)
    registry.load(
        settings.plugin_allow_list or None, providers_file=settings.providers_file
    )
    return registry


def rate_limit_gate(
    settings: Settings, database: Database, store: RateLimitStore
) -> RateLimitGate:
    """Counters in Redis when configured (the database as its fallback),
    else leased from the database."""
    leases = DatabaseRateLimiter(database)
    limiter: RateLimiter = leases
    if settings.redis_url:
        client = Redis.from_url(settings.redis_url)
        limiter = RedisRateLimiter(client, fallback=leases)
    return RateLimitGate(limiter, store.limits_for)


async def close(components: Components) -> None:
    """Flush usage records, close provider connections and the database."""
    await components.ledger.stop()
    await components.budgets.stop()  # hands unused budget slices back
    await components.feedback.stop()
    await components.prompts.stop()
    if components.artifact is not None:
        await components.artifact.stop()
    await components.adapters.aclose()
    await components.watcher.stop()
    await components.database.dispose()
