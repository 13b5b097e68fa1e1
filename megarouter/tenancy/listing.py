"""List pages and filters shared by every List call.

Pages are keyset pages ordered by id: the page token is the last id of the
previous page, opaque to callers. Filters are conjunctions of equality tests,
``team = "orgs/acme/teams/ml" AND disabled != true``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from megarouter.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
_ID = re.compile(r"[a-z0-9-]{1,63}")
MAX_PAGE_SIZE = 1000

_CLAUSE = re.compile(r'\s*([a-z_]+)\s*(!=|=)\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_./-]+)\s*')


@dataclass(frozen=True, slots=True)
class PageRequest:
    size: int
    after: str  # the last id of the previous page, "" for the first page


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    negated: bool
    value: Any


def page_request(page_size: int, page_token: str) -> PageRequest:
    """Validate a page size and token.

    Raises:
        InvalidArgument: a negative size or a token this server did not make.
    """
    if page_size < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    after = ""
    if page_token:
        try:
            after = base64.urlsafe_b64decode(page_token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidArgument.for_field(
                "page_token", "is not a token from an earlier List call"
            ) from None
        if not after.startswith("id:") or not _ID.fullmatch(after[3:]):
            raise InvalidArgument.for_field(
                "page_token", "is not a token from an earlier List call"
            )
        after = after.removeprefix("id:")
    return PageRequest(size, after)


def next_page_token(ids: list[str], size: int) -> str:
    """The token after a page of ``ids``, or "" when it was the last page."""
    if len(ids) < size or not ids:
        return ""
    return base64.urlsafe_b64encode(f"id:{ids[-1]}".encode()).decode()


def parse_filter(
    text: str, fields: Mapping[str, Callable[[str], Any]]
) -> list[Condition]:
    """Parse ``text`` into conditions on the allowed ``fields``.

    Args:
        text: the caller's filter expression.
        fields: allowed field names, each with a converter from the literal
            (quotes removed) to the value to compare; a converter raises
            ValueError for a literal it does not accept.

    Raises:
        InvalidArgument: on ``filter``, saying what is wrong.
    """
    if not text.strip():
        return []
    if "\x00" in text or len(text) > 2000:
        raise InvalidArgument.for_field(
            "filter", "must be at most 2000 characters, without NUL"
        )
    conditions = []
    for clause in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise InvalidArgument.for_field(
                "filter", f'cannot parse {clause!r}; expected field = "value"'
            )
        field, operator, literal = match.groups()
        if field not in fields:
            allowed = ", ".join(sorted(fields))
            raise InvalidArgument.for_field(
                "filter", f"unknown field {field!r}; filterable: {allowed}"
            )
        if literal.startswith('"'):
            literal = literal[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        try:
            value = fields[field](literal)
        except ValueError as exc:
            raise InvalidArgument.for_field(
                "filter", f"bad value for {field}: {exc}"
            ) from None
        conditions.append(Condition(field, operator == "!=", value))
    return conditions


def as_bool(literal: str) -> bool:
    lowered = literal.lower()
    if lowered not in {"true", "false"}:
        raise ValueError(f"expected true or false, got {literal!r}")
    return lowered == "true"


def as_text(literal: str) -> str:
    return literal
