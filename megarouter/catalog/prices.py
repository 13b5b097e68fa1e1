"""The price table: every callable model, by global id, with its price.

A global model id is ``<provider>/<model>``, where ``<model>`` is the
provider's own id or one of its aliases (``groq/llama-3.3-70b-versatile``,
``together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo``). The table joins
the provider specs that plugins registered with the prices that
administrators set, which win over list prices.

A model without a list price and without an administrator's price has no
price at all: asking for it raises :class:`UnpricedModel`, never returns
zero. Budgets can then refuse the call instead of letting it run free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from megarouter.errors import ConfigurationError, InvalidArgument, NotFound
from megarouter.providers.spec import ModelMode, ModelSpec, Price, ProviderSpec

ModelKey = tuple[str, str]  # (provider name, model id or alias)

_SUGGESTIONS = 5


class UnpricedModel(ConfigurationError):
    """Neither the provider's list nor an administrator gives the model a price."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(
            f"model {provider}/{model} has no known price; an administrator must "
            "set one (input and output micro-dollars per million tokens) "
            "before it can be called"
        )
        self.provider = provider
        self.model = model


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One model of one provider, with the price MegaRouter charges for it.

    Attributes:
        provider: the provider that serves the model.
        spec: the model as the provider's catalog describes it.
        price: the administrator's price if set, else the list price, else
            None (the model cannot be called until someone sets a price).
    """

    provider: ProviderSpec
    spec: ModelSpec
    price: Price | None

    @property
    def global_id(self) -> str:
        return f"{self.provider.name}/{self.spec.id}"


class PriceTable:
    """Resolves global model ids to models and their effective prices.

    Args:
        providers: the registered provider specs.
        overrides: administrators' prices by ``(provider, model)``, where
            the model may be named by its id or an alias.

    Raises:
        ConfigurationError: two providers share a name, or an override
            names a model no provider serves.
        InvalidArgument: an override has a negative price.
    """

    def __init__(
        self,
        providers: Iterable[ProviderSpec],
        overrides: Mapping[ModelKey, Price] | None = None,
    ) -> None:
        self._providers: dict[str, ProviderSpec] = {}
        self._models: dict[ModelKey, ModelSpec] = {}
        self._aliases: dict[ModelKey, str] = {}
        for provider in providers:
            self._add_provider(provider)
        self._overrides = {
            self._canonical_key(key): _checked(key, price)
            for key, price in (overrides or {}).items()
        }

    def _add_provider(self, provider: ProviderSpec) -> None:
        """Index one provider's models and aliases."""
        if provider.name in self._providers:
            raise ConfigurationError(f"provider {provider.name!r} is registered twice")
        self._providers[provider.name] = provider
        for model in provider.models:
            self._models[(provider.name, model.id)] = model
        for model in provider.models:
            for alias in model.aliases:
                if (provider.name, alias) not in self._models:
                    self._aliases.setdefault((provider.name, alias), model.id)

    def _canonical_key(self, key: ModelKey) -> ModelKey:
        """The (provider, model id) an override key names."""
        provider, model = key
        model = self._aliases.get((provider, model), model)
        if (provider, model) not in self._models:
            raise ConfigurationError(
                f"a price is set for {provider}/{model}, which no provider serves"
            )
        return provider, model

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, global_id: object) -> bool:
        if not isinstance(global_id, str):
            return False
        try:
            self.resolve(global_id)
        except NotFound:
            return False
        return True

    def resolve(self, global_id: str) -> CatalogModel:
        """The model a global id names, with its effective price.

        Args:
            global_id: ``<provider>/<model id or alias>``.

        Returns:
            The model, its provider and the price that applies to it.

        Raises:
            NotFound: no registered provider serves a model by that name.
        """
        provider_name, _, model_name = global_id.partition("/")
        provider = self._providers.get(provider_name)
        if provider is None or not model_name:
            raise NotFound(self._not_found_message(global_id))
        model_id = self._aliases.get((provider_name, model_name), model_name)
        model = self._models.get((provider_name, model_id))
        if model is None:
            raise NotFound(self._not_found_message(global_id))
        return CatalogModel(provider, model, self._effective_price(provider, model))

    def _effective_price(
        self, provider: ProviderSpec, model: ModelSpec
    ) -> Price | None:
        """The administrator's price if set, else the list price."""
        return self._overrides.get((provider.name, model.id), model.price)

    def _not_found_message(self, global_id: str) -> str:
        """Say the id is unknown and, for a bare model id, who serves it."""
        message = f"no provider serves a model named {global_id!r}"
        bare = global_id.rpartition("/")[2]
        candidates = sorted(
            f"{provider}/{model}"
            for provider, model in self._models
            if model in (global_id, bare)
        )
        if candidates:
            message += "; did you mean " + ", ".join(candidates[:_SUGGESTIONS]) + "?"
        return message

    def price_for(self, global_id: str) -> Price:
        """The price charged for a model.

        Args:
            global_id: ``<provider>/<model id or alias>``.

        Returns:
            The administrator's price if one is set, else the list price.

        Raises:
            NotFound: no registered provider serves the model.
            UnpricedModel: the model has no price; an administrator must
                set one before it can be called.
        """
        entry = self.resolve(global_id)
        if entry.price is None:
            raise UnpricedModel(entry.provider.name, entry.spec.id)
        return entry.price

    def cost_micros(self, global_id: str, input_tokens: int, output_tokens: int) -> int:
        """What a finished call cost, in micro-dollars, rounded up.

        Raises:
            InvalidArgument: a token count is negative.
            NotFound: no registered provider serves the model.
            UnpricedModel: the model has no price.
        """
        _check_tokens(input_tokens=input_tokens, output_tokens=output_tokens)
        return self.price_for(global_id).cost_micros(input_tokens, output_tokens)

    def estimate_cost_micros(
        self,
        global_id: str,
        input_tokens: int,
        max_output_tokens: int | None = None,
    ) -> int:
        """The most a call can cost, to reserve from a budget before it runs.

        Args:
            global_id: ``<provider>/<model id or alias>``.
            input_tokens: the prompt's size in tokens.
            max_output_tokens: the caller's output limit; None or 0 means the
                model's own limit (or, if unknown, its whole context window).

        Returns:
            Micro-dollars, rounded up.

        Raises:
            InvalidArgument: a token count is negative.
            NotFound: no registered provider serves the model.
            UnpricedModel: the model has no price.
        """
        _check_tokens(
            input_tokens=input_tokens, max_output_tokens=max_output_tokens or 0
        )
        entry = self.resolve(global_id)
        price = self.price_for(global_id)
        output_tokens = worst_case_output(entry.spec, max_output_tokens)
        return price.cost_micros(input_tokens, output_tokens)

    def models(self, mode: ModelMode | None = None) -> Iterator[CatalogModel]:
        """Every model, priced or not, optionally of one mode only."""
        for (provider_name, _), model in self._models.items():
            if mode is None or model.mode is mode:
                provider = self._providers[provider_name]
                price = self._effective_price(provider, model)
                yield CatalogModel(provider, model, price)


def worst_case_output(
    model: ModelSpec, requested: int | None, unknown: int | None = None
) -> int:
    """The most output tokens a call to ``model`` can bill.

    Args:
        model: the model.
        requested: the caller's output limit, if any.
        unknown: what to assume when neither the caller nor the catalog
            gives a limit; None makes that an error.

    Raises:
        InvalidArgument: no limit is known and ``unknown`` is None.
    """
    if model.mode is ModelMode.EMBEDDING:
        return 0
    ceiling = model.max_output_tokens or model.context_window
    if not requested:
        if not ceiling:
            if unknown is not None:
                return unknown
            raise InvalidArgument.for_field(
                "max_output_tokens",
                f"required for {model.id}, whose output limit is unknown",
            )
        return ceiling
    return min(requested, ceiling) if ceiling else requested


def _check_tokens(**counts: int) -> None:
    """Refuse negative token counts, naming the field."""
    for name, count in counts.items():
        if count < 0:
            raise InvalidArgument.for_field(name, "must not be negative")


def _checked(key: ModelKey, price: Price) -> Price:
    """An administrator's price, refused if any part is negative."""
    if price.input_per_mtok < 0 or price.output_per_mtok < 0:
        provider, model = key
        raise InvalidArgument(f"the price set for {provider}/{model} is negative")
    return price
