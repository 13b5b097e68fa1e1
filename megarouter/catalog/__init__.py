"""Models, capabilities and prices: what can be called, and at what cost."""

from megarouter.catalog.endpoints import fill_placeholders, resolve_base_url
from megarouter.catalog.money import (
    micros_per_mtok_from_usd_per_mtok,
    micros_per_mtok_from_usd_per_token,
)
from megarouter.catalog.prices import CatalogModel, PriceTable, UnpricedModel

__all__ = [
    "CatalogModel",
    "PriceTable",
    "UnpricedModel",
    "fill_placeholders",
    "micros_per_mtok_from_usd_per_mtok",
    "micros_per_mtok_from_usd_per_token",
    "resolve_base_url",
]
