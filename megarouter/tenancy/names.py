"""Resource names such as ``orgs/{org}/teams/{team}``, parsed and checked."""

from __future__ import annotations

import re

from megarouter.errors import InvalidArgument

ID_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,62}")
ID_RULE = "1 to 63 lowercase letters, digits and hyphens, starting with a letter"


def check_id(value: str, field: str) -> str:
    """``value`` if it is a valid resource id, else INVALID_ARGUMENT on ``field``."""
    if not ID_PATTERN.fullmatch(value):
        raise InvalidArgument.for_field(field, f"must be {ID_RULE}, got {value!r}")
    return value


def parse(name: str, field: str, *collections: str) -> tuple[str, ...]:
    """The ids in ``name``, which must read ``c1/{id}/c2/{id}/...``.

    Args:
        name: the resource name sent by the caller.
        field: the request field it came from, for the error.
        collections: the expected collection segments, such as
            ``("orgs", "teams")``.

    Raises:
        InvalidArgument: the name does not have that shape.
    """
    parts = name.split("/")
    expected = "/".join(f"{c}/{{{c[:-1]}}}" for c in collections)
    if len(parts) != 2 * len(collections):
        raise InvalidArgument.for_field(field, f"expected {expected}, got {name!r}")
    ids = []
    for index, collection in enumerate(collections):
        segment, value = parts[2 * index], parts[2 * index + 1]
        if segment != collection or not (ID_PATTERN.fullmatch(value) or value == "-"):
            raise InvalidArgument.for_field(field, f"expected {expected}, got {name!r}")
        ids.append(value)
    return tuple(ids)


def org_name(org: str) -> str:
    return f"orgs/{org}"


def team_name(org: str, team: str) -> str:
    return f"orgs/{org}/teams/{team}"


def principal_name(org: str, principal: str) -> str:
    return f"orgs/{org}/principals/{principal}"


def key_name(org: str, principal: str, key: str) -> str:
    return f"orgs/{org}/principals/{principal}/keys/{key}"


def binding_name(org: str, binding: str) -> str:
    return f"orgs/{org}/roleBindings/{binding}"
