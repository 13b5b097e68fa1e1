"""The plugin host: finds provider plugins and holds what they register.

Plugins are found through the ``megarouter`` entry-point group (see
:mod:`megarouter.providers.hookspecs`). Loading runs in two rounds: every
plugin's ``register_families`` first, then every plugin's
``register_providers``, so a provider may sit on a family that another
plugin brings. A broken plugin never stops the others: an import error, an
exception in a hook or an invalid registration is recorded as a
:class:`PluginProblem`, logged as a warning, and skipped.

Models have a global id, ``<provider>/<model id>`` (for example
``groq/llama-3.3-70b-versatile``). Provider names never contain a slash, so
the id splits at its first slash; model ids may contain more slashes
(``together/meta-llama/Llama-3.3-70B-Instruct-Turbo``). An alias of a model
stands in for its id in a global id too.

After the plugins, a deployment's providers file (the ``providers_file``
setting, see :meth:`ProviderRegistry.apply_providers_file`) may add
providers over the families plugins brought, or replace a plugin's provider
outright, to point a self-hosted server at the host it runs on and declare
the models it serves. Unlike a plugin's, a bad file is an error, not a
skipped problem: the operator wrote it for this deployment.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pluggy

from megarouter.catalog.specfile import read_providers_file
from megarouter.errors import ConfigurationError, NotFound
from megarouter.providers import hookspecs
from megarouter.providers.adapter import ProviderAdapter
from megarouter.providers.spec import ModelSpec, ProviderSpec
from megarouter.providers.validation import (
    InvalidRegistration,
    check_family,
    check_provider,
)

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = hookspecs.PROJECT
ALLOW_LIST_ENV = "MEGAROUTER_PLUGINS"


PROVIDERS_FILE_ORIGIN = "providers-file"


@dataclass(frozen=True, slots=True)
class PluginOrigin:
    """Which plugin, from which distribution and version, registered a thing.

    ``distribution`` and ``version`` are empty for plugins registered in
    process rather than installed (tests, built-ins). A deployment's
    providers file is an origin too: plugin ``providers-file``, with
    ``file`` its path.
    """

    plugin: str
    distribution: str = ""
    version: str = ""
    file: str = ""

    @classmethod
    def providers_file(cls, path: Path) -> PluginOrigin:
        """The origin of what a deployment's providers file registered."""
        return cls(PROVIDERS_FILE_ORIGIN, file=str(path))

    def __str__(self) -> str:
        if self.file:
            return f"providers file {self.file}"
        if not self.distribution:
            return self.plugin
        return f"{self.plugin} ({self.distribution} {self.version})"


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """Why a plugin, or one thing it registered, was skipped."""

    origin: PluginOrigin
    message: str

    def __str__(self) -> str:
        return f"plugin {self.origin}: {self.message}"


@dataclass(frozen=True, slots=True)
class RegisteredProvider:
    """A provider spec and the plugin that registered it.

    ``replaced`` is the origin of a plugin's spec that a providers file
    replaced, None otherwise.
    """

    spec: ProviderSpec
    origin: PluginOrigin
    replaced: PluginOrigin | None = None


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """One model of one provider, as registered (unpriced; see PriceTable)."""

    provider: ProviderSpec
    model: ModelSpec

    @property
    def global_id(self) -> str:
        return global_model_id(self.provider.name, self.model.id)


def global_model_id(provider: str, model: str) -> str:
    """The catalog id of ``model`` at ``provider``: ``<provider>/<model>``."""
    return f"{provider}/{model}"


def split_global_model_id(global_id: str) -> tuple[str, str]:
    """Split ``<provider>/<model>`` at its first slash.

    Raises:
        NotFound: the id has no slash, or an empty side.
    """
    provider, _, model = global_id.partition("/")
    if not provider or not model:
        raise NotFound(
            f"model id {global_id!r} is not of the form '<provider>/<model>'"
        )
    return provider, model


def parse_allow_list(value: str | None) -> frozenset[str] | None:
    """The plugin names a ``MEGAROUTER_PLUGINS`` value allows; None means all."""
    names = frozenset(n.strip() for n in (value or "").split(",") if n.strip())
    return names or None


class ProviderRegistry:
    """Loads provider plugins and answers what families, providers and models exist.

    Example::

        registry = ProviderRegistry()
        registry.load(parse_allow_list(os.environ.get("MEGAROUTER_PLUGINS")))
        spec = registry.providers["groq"].spec
        entry = registry.find_model("groq/llama-3.3-70b-versatile")

    Tests register plugin objects directly and skip entry points::

        registry.register(MyPlugin(), name="my-plugin")
        registry.load(entry_points=False)
    """

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._origins: dict[str, PluginOrigin] = {}
        self._families: dict[str, type[ProviderAdapter]] = {}
        self._family_origins: dict[str, PluginOrigin] = {}
        self._providers: dict[str, RegisteredProvider] = {}
        self._problems: list[PluginProblem] = []
        self._loaded = False

    # --- registering plugins ------------------------------------------------

    def register(self, plugin: object, name: str) -> None:
        """Register an in-process plugin (a module, class or object with hooks).

        Args:
            plugin: the object whose ``@hookimpl`` functions to call.
            name: the plugin's name, as problems and listings show it.

        Raises:
            ValueError: ``name`` or ``plugin`` is already registered, or the
                plugin's hooks do not match the hookspecs.
        """
        try:
            self._pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise ValueError(f"plugin {name!r} is invalid: {exc}") from exc
        self._origins.setdefault(name, PluginOrigin(name))

    def unregister(self, name: str) -> None:
        """Forget a plugin registered under ``name`` (what it registered stays)."""
        self._pm.unregister(name=name)
        self._origins.pop(name, None)

    def load(
        self,
        allow: Collection[str] | None = None,
        *,
        entry_points: bool = True,
        providers_file: Path | None = None,
    ) -> None:
        """Load plugins and run their registration hooks, once.

        A second call does nothing. Plugin problems are collected in
        :attr:`problems`, never raised; a bad providers file is raised.

        Args:
            allow: entry-point names to load (the ``MEGAROUTER_PLUGINS``
                setting); None or empty loads every installed plugin.
                Plugins registered in process are always used.
            entry_points: whether to look for installed plugins at all
                (tests turn it off and register plugins in process).
            providers_file: a deployment's providers file to apply once the
                plugins are loaded (the ``providers_file`` setting).

        Raises:
            ConfigurationError: the providers file is unusable (see
                :meth:`apply_providers_file`).
        """
        if self._loaded:
            return
        self._loaded = True
        if entry_points:
            self._load_entry_points(frozenset(allow) if allow else None)
        self._run_hook("register_families", self._add_family)
        self._run_hook("register_providers", self._add_provider)
        logger.info(
            "loaded %d plugins: %d families, %d providers, %d problems",
            len(self._origins),
            len(self._families),
            len(self._providers),
            len(self._problems),
        )
        if providers_file is not None:
            self.apply_providers_file(providers_file)

    def apply_providers_file(self, path: Path) -> None:
        """Add or replace providers from a deployment's providers file.

        An entry whose name no plugin registered adds a provider over a
        family a plugin did register; an entry whose name is registered
        replaces that provider's spec wholesale (fields the entry leaves out
        take their defaults, not the plugin's values). Either way the file
        becomes the provider's origin. Nothing is applied unless every entry
        is valid.

        Args:
            path: a JSON or TOML file as :func:`read_providers_file` reads.

        Raises:
            ConfigurationError: the file is unreadable or malformed, an entry
                names an unknown family, an entry is not a valid spec, or a
                name appears twice; the message names the file and entry.
            RuntimeError: plugins are not loaded yet.
        """
        if not self._loaded:
            raise RuntimeError("load the plugins before applying a providers file")
        origin = PluginOrigin.providers_file(path)
        specs = [self._checked_file_entry(s, path) for s in read_providers_file(path)]

        for spec in specs:
            previous = self._providers.get(spec.name)
            replaced = previous.origin if previous is not None else None
            self._providers[spec.name] = RegisteredProvider(spec, origin, replaced)
        added = [s.name for s in specs if self._providers[s.name].replaced is None]
        logger.info(
            "providers file %s: added %s; replaced %s",
            path,
            ", ".join(added) or "none",
            ", ".join(s.name for s in specs if s.name not in added) or "none",
        )

    def _checked_file_entry(self, spec: ProviderSpec, path: Path) -> ProviderSpec:
        """A providers file's entry, once valid over the loaded families."""
        where = f"providers file {path}: provider {spec.name!r}"
        if spec.family not in self._families:
            loaded = ", ".join(sorted(self._families)) or "none"
            raise ConfigurationError(
                f"{where}: unknown family {spec.family!r}; the loaded plugins "
                f"bring {loaded}"
            )
        try:
            return check_provider(spec, self._families)
        except InvalidRegistration as exc:
            message = str(exc).removeprefix(f"provider {spec.name!r}: ")
            raise ConfigurationError(f"{where}: {message}") from None

    def _load_entry_points(self, allow: frozenset[str] | None) -> None:
        """Import and register every allowed entry point of our group."""
        found: set[str] = set()
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            name = entry_point.name
            if name in found or (allow is not None and name not in allow):
                continue
            found.add(name)
            if self._pm.has_plugin(name) or self._pm.is_blocked(name):
                continue

            origin = _origin_of(entry_point)
            try:
                plugin = entry_point.load()
                self._pm.register(plugin, name=name)
            except Exception as exc:
                self._report(origin, f"cannot load: {type(exc).__name__}: {exc}")
                continue
            self._origins[name] = origin

        for name in sorted((allow or frozenset()) - found):
            self._report(
                PluginOrigin(name),
                f"allowed by {ALLOW_LIST_ENV} but no such entry point is installed",
            )

    # --- running the hooks --------------------------------------------------

    def _run_hook(
        self, hook_name: str, add: Callable[[Any, PluginOrigin], None]
    ) -> None:
        """Call one hook plugin by plugin, keeping each plugin's failures its own."""
        caller = getattr(self._pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.wrapper or impl.hookwrapper:
                continue
            origin = self._origins.get(impl.plugin_name, PluginOrigin(impl.plugin_name))
            staged: list[Any] = []
            kwargs = {arg: staged.append for arg in impl.argnames}
            try:
                impl.function(**kwargs)
            except Exception as exc:
                self._report(
                    origin,
                    f"{hook_name} raised {type(exc).__name__}: {exc}; "
                    "nothing it registered there was kept",
                )
                continue
            for item in staged:
                try:
                    add(item, origin)
                except InvalidRegistration as exc:
                    self._report(origin, str(exc))

    def _add_family(self, adapter_class: Any, origin: PluginOrigin) -> None:
        family = check_family(adapter_class)
        if family in self._families:
            raise InvalidRegistration(
                f"family {family!r} is already registered by "
                f"{self._family_origins[family]}"
            )
        self._families[family] = adapter_class
        self._family_origins[family] = origin

    def _add_provider(self, spec: Any, origin: PluginOrigin) -> None:
        spec = check_provider(spec, self._families)
        if spec.name in self._providers:
            raise InvalidRegistration(
                f"provider {spec.name!r} is already registered by "
                f"{self._providers[spec.name].origin}"
            )
        self._providers[spec.name] = RegisteredProvider(spec, origin)

    def _report(self, origin: PluginOrigin, message: str) -> None:
        problem = PluginProblem(origin, message)
        logger.warning("skipped: %s", problem)
        self._problems.append(problem)

    # --- what was registered ------------------------------------------------

    @property
    def families(self) -> Mapping[str, type[ProviderAdapter]]:
        """Adapter classes by family name."""
        return MappingProxyType(self._families)

    @property
    def family_origins(self) -> Mapping[str, PluginOrigin]:
        """Which plugin registered each family."""
        return MappingProxyType(self._family_origins)

    @property
    def providers(self) -> Mapping[str, RegisteredProvider]:
        """Registered providers by name."""
        return MappingProxyType(self._providers)

    @property
    def problems(self) -> tuple[PluginProblem, ...]:
        """Everything that was skipped while loading, in order."""
        return tuple(self._problems)

    @property
    def plugins(self) -> tuple[PluginOrigin, ...]:
        """Every plugin registered, in registration order."""
        return tuple(self._origins.values())

    def adapter_class(self, provider: str) -> type[ProviderAdapter]:
        """The adapter class that speaks to ``provider``.

        Raises:
            NotFound: no such provider.
        """
        return self._families[self.provider(provider).family]

    def provider(self, name: str) -> ProviderSpec:
        """The spec of provider ``name``.

        Raises:
            NotFound: no such provider.
        """
        registered = self._providers.get(name)
        if registered is None:
            raise NotFound(f"no provider named {name!r} is registered")
        return registered.spec

    def model(self, provider: str, model: str) -> ModelSpec:
        """The model ``model`` (an id or an alias) of ``provider``.

        Raises:
            NotFound: no such provider, or it serves no such model.
        """
        spec = self.provider(provider)
        for candidate in spec.models:
            if model == candidate.id or model in candidate.aliases:
                return candidate
        raise NotFound(f"provider {provider!r} serves no model {model!r}")

    def find_model(self, global_id: str) -> RegisteredModel:
        """The model a global id ``<provider>/<model or alias>`` names.

        Raises:
            NotFound: the id is malformed or names nothing registered.
        """
        provider, model = split_global_model_id(global_id)
        return RegisteredModel(self.provider(provider), self.model(provider, model))

    def models(self) -> Iterator[RegisteredModel]:
        """Every registered model, by provider name then catalog order."""
        for name in sorted(self._providers):
            spec = self._providers[name].spec
            for model in spec.models:
                yield RegisteredModel(spec, model)


def _origin_of(entry_point: importlib.metadata.EntryPoint) -> PluginOrigin:
    """The plugin name, distribution and version behind an entry point."""
    dist = entry_point.dist
    if dist is None:
        return PluginOrigin(entry_point.name)
    return PluginOrigin(entry_point.name, dist.metadata["Name"] or "", dist.version)
