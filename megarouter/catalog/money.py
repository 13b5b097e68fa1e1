"""Turning published US-dollar prices into integer micro-dollars.

Providers publish prices as US dollars per token or per million tokens,
often as decimal fractions that a binary float cannot hold exactly. Every
conversion here goes through :class:`decimal.Decimal` built from the text
of the number and rounds half up once, at the end.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from megarouter.errors import InvalidArgument
from megarouter.providers.spec import MICROS_PER_USD, TOKENS_PER_PRICE_UNIT

UsdAmount = Decimal | str | int | float


def _as_decimal(value: UsdAmount) -> Decimal:
    """``value`` as a Decimal, read from its shortest text for floats."""
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise InvalidArgument(f"not a price: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidArgument(f"not a price: {value!r}")
    return amount


def micros_per_mtok_from_usd_per_token(value: UsdAmount) -> int:
    """Micro-dollars per million tokens for a price in US dollars per token.

    Args:
        value: dollars per token, e.g. ``2.5e-06`` for $2.50 per million.

    Returns:
        The price in micro-dollars per million tokens, rounded half up.

    Raises:
        InvalidArgument: ``value`` is not a finite, non-negative number.
    """
    per_mtok = _as_decimal(value) * TOKENS_PER_PRICE_UNIT * MICROS_PER_USD
    return int(per_mtok.to_integral_value(rounding=ROUND_HALF_UP))


def micros_per_mtok_from_usd_per_mtok(value: UsdAmount) -> int:
    """Micro-dollars per million tokens for a price in dollars per million.

    Args:
        value: dollars per million tokens, e.g. ``"0.15"``.

    Returns:
        The price in micro-dollars per million tokens, rounded half up.

    Raises:
        InvalidArgument: ``value`` is not a finite, non-negative number.
    """
    per_mtok = _as_decimal(value) * MICROS_PER_USD
    return int(per_mtok.to_integral_value(rounding=ROUND_HALF_UP))
