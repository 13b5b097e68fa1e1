"""One ``megarouter admin`` run: its client, and what the user typed as API values.

Commands accept ids where a full resource name would be long: ``ml`` in the
caller's org (or ``--org``) stands for ``orgs/acme/teams/ml``, a key may be
``bot/keys/k1a2`` or its id alone, and ``--expires`` takes ``30d`` as well as
ISO 8601 times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from megarouter.client import MegaRouterClient

# The client's names for these (megarouter.client_transport), repeated because
# that module imports grpc, which `megarouter --help` should not wait for.
# tests/cli/test_cli_imports.py checks that both agree.
DEFAULT_TARGET = "127.0.0.1:50051"
TARGET_ENV = "MEGAROUTER_TARGET"
API_KEY_ENV = "MEGAROUTER_API_KEY"
ALL_PRINCIPALS = "-"

MISSING_KEY = (
    f"no API key: pass --key KEY or set {API_KEY_ENV}. The first admin "
    "key is printed by `megarouter serve` when it creates the database."
)


@dataclass(slots=True)
class AdminSession:
    """The target and key of one ``megarouter admin`` run, and its client."""

    target: str
    key: str | None
    timeout: float
    _client: MegaRouterClient | None = None
    _caller: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> MegaRouterClient:
        """The client, connected on first use; exits with status 2 without a key."""
        if self._client is None:
            if not self.key:
                fail(MISSING_KEY, 2)
            from megarouter.client import MegaRouterClient

            self._client = MegaRouterClient(self.target, self.key, timeout=self.timeout)
        return self._client

    @property
    def connected(self) -> bool:
        """Whether a client was made, and so whether a call may have failed."""
        return self._client is not None

    def caller(self, attribute: str) -> str:
        """The caller's ``org`` or ``principal`` name, asked for once."""
        if not self._caller:
            caller = self.client.get_caller()
            self._caller = {"org": caller.org, "principal": caller.principal.name}
        return self._caller[attribute]

    def org(self, override: str | None) -> str:
        """``orgs/{org}`` from ``--org``, or else the caller's org."""
        return org_name(override) if override else self.caller("org")

    def name(self, value: str, collection: str, org: str | None) -> str:
        """A full resource name, from itself or from an id in the org."""
        if value.startswith("orgs/"):
            return value
        return f"{self.org(org)}/{collection}/{value}"

    def key_name(self, value: str, org: str | None) -> str:
        """A key's full name; a bare key id is looked up among the org's keys."""
        if value.startswith("orgs/"):
            return value
        if "/" in value:
            return f"{self.org(org)}/principals/{value}"
        every_key = f"{self.org(org)}/principals/{ALL_PRINCIPALS}"
        for key in self.client.list_api_keys(every_key):
            if key.name.endswith(f"/keys/{value}"):
                return key.name
        fail(f"no API key {value!r} in {self.org(org)} that you may see")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def session_of(ctx: typer.Context) -> AdminSession:
    """The session the ``admin`` callback put on the context."""
    session = ctx.find_object(AdminSession)
    assert session is not None, "the admin callback creates the session"
    return session


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit; 2 means a usage error."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(exit_code)


def org_name(value: str) -> str:
    """``orgs/{value}``, unless ``value`` is already an org's name."""
    return value if value.startswith("orgs/") else f"orgs/{value}"


def quoted(value: str) -> str:
    """``value`` as a filter string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_DURATION = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(value: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w`` from ``now``, or an ISO 8601 time."""
    match = _DURATION.fullmatch(value.strip())
    if match:
        amount, unit = match.groups()
        return now + timedelta(**{_UNITS[unit]: int(amount)})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            "expected an ISO 8601 time such as 2027-01-31T00:00:00Z, "
            "or a duration such as 30d, 12h, 90m or 2w",
            param_hint="--expires",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
