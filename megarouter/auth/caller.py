"""Who is calling: the principal behind an API key, and its roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """A role held by the caller, org-wide (team "") or in one team."""

    role: str
    team_id: str = ""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated principal, as every layer after the interceptor sees it."""

    org_id: str
    principal_id: str
    key_id: str
    team_id: str | None
    grants: tuple[Grant, ...]
    key_expire_time: datetime | None = None

    @property
    def subject(self) -> str:
        """The Casbin subject and resource name of the principal."""
        return f"orgs/{self.org_id}/principals/{self.principal_id}"

    @property
    def key_name(self) -> str:
        return f"{self.subject}/keys/{self.key_id}"

    def holds(self, role: str) -> bool:
        return any(g.role == role for g in self.grants)

    @property
    def is_platform_admin(self) -> bool:
        return self.holds("platform_admin")

    @property
    def is_org_admin(self) -> bool:
        """Administers the whole of its org (or every org)."""
        return self.holds("org_admin") or self.is_platform_admin

    @property
    def admin_teams(self) -> frozenset[str]:
        """Teams this caller administers as team_admin."""
        return frozenset(g.team_id for g in self.grants if g.role == "team_admin")

    def can_see_org(self, org_id: str) -> bool:
        return org_id == self.org_id or self.is_platform_admin
