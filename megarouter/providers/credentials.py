"""Provider credentials per org, stored encrypted.

An org's administrator stores a credential for a provider once; MegaRouter
keeps it only as a Fernet token (AES-128-CBC with an HMAC-SHA256 tag) under a
key derived from the server secret with HKDF-SHA256, and shows nothing of it
again but the names of its extra parts. Replicas sharing a database share
the server secret, so each can decrypt what another stored.

When an org has no stored credential for a provider, the provider spec's
``credential_env`` variables of the server's environment are used instead.
Secrets are never logged: :class:`Credential` redacts its ``repr``, and this
module logs provider names and extra-part names only.
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlmodel import col

from megarouter.auth.caller import Caller
from megarouter.errors import ConfigurationError, InvalidArgument, NotFound
from megarouter.governance.audit import NO_AUDIT, AuditTrail, credential_state
from megarouter.providers.pool import credential_from_env
from megarouter.providers.spec import Credential, ProviderSpec
from megarouter.store.database import Database
from megarouter.store.provider_tables import ProviderCredentialRow, upsert
from megarouter.store.tables import as_utc, utcnow

logger = logging.getLogger(__name__)

# Changing the label changes the key and orphans every stored credential.
KEY_INFO = b"megarouter provider credentials v1"

EXTRA_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_EXTRA_PARTS = 16
MAX_PART_LENGTH = 8192

# Environment variables whose value a family reads from a named extra part
# (the Bedrock adapter reads ``secret_access_key`` and ``session_token``).
_ENV_EXTRA_NAMES = {
    "AWS_SECRET_ACCESS_KEY": "secret_access_key",
    "AWS_SESSION_TOKEN": "session_token",
}


class CredentialSource(enum.StrEnum):
    """Where an org's credential for a provider comes from."""

    STORED = "stored"
    ENVIRONMENT = "environment"
    MISSING = "missing"
    NOT_NEEDED = "not_needed"


@dataclass(frozen=True, slots=True)
class CredentialMetadata:
    """What may be shown about a stored credential: never its secret parts."""

    org_id: str
    provider: str
    extra_keys: tuple[str, ...]
    create_time: datetime
    update_time: datetime


class CredentialCipher:
    """Encrypts credentials with a Fernet key derived from the server secret.

    Args:
        server_secret: the installation's secret (see
            :func:`megarouter.auth.secret.server_secret`).
    """

    def __init__(self, server_secret: bytes) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO
        ).derive(server_secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def __repr__(self) -> str:
        return "CredentialCipher(<redacted>)"

    def encrypt(self, credential: Credential) -> str:
        """The Fernet token of ``credential``'s key and extra parts."""
        plain = {"api_key": credential.api_key, "extra": dict(credential.extra)}
        return self._fernet.encrypt(json.dumps(plain).encode()).decode("ascii")

    def decrypt(self, token: str) -> Credential:
        """The credential a token holds.

        Raises:
            ConfigurationError: the token was made with another server secret,
                or was altered.
        """
        try:
            plain = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except (InvalidToken, ValueError):
            raise ConfigurationError(
                "a stored provider credential cannot be decrypted with this "
                "server's secret (MEGAROUTER_SECRET_KEY changed?); store it again"
            ) from None
        return Credential(api_key=plain["api_key"], extra=plain["extra"])


def check_credential(credential: Credential) -> Credential:
    """``credential`` if it is well formed, else INVALID_ARGUMENT.

    Raises:
        InvalidArgument: the key is empty or too long, or an extra part has a
            bad name or value.
    """
    if not credential.api_key.strip():
        raise InvalidArgument.for_field("api_key", "is required")
    if len(credential.api_key) > MAX_PART_LENGTH:
        raise InvalidArgument.for_field(
            "api_key", f"must be at most {MAX_PART_LENGTH} characters"
        )
    if len(credential.extra) > MAX_EXTRA_PARTS:
        raise InvalidArgument.for_field(
            "extra", f"must have at most {MAX_EXTRA_PARTS} parts"
        )
    for name, value in credential.extra.items():
        if not EXTRA_KEY.fullmatch(name):
            raise InvalidArgument.for_field(
                "extra",
                f"key {name[:70]!r} must be 1 to 64 lowercase letters, digits "
                "and underscores, starting with a letter",
            )
        if len(value) > MAX_PART_LENGTH:
            raise InvalidArgument.for_field(
                f"extra[{name}]", f"must be at most {MAX_PART_LENGTH} characters"
            )
    return credential


def credential_from_environment(spec: ProviderSpec) -> Credential | None:
    """The credential the server's environment holds for ``spec``, if any.

    The first set variable of ``spec.credential_env`` is the key; every set
    variable is also an extra part under its own name and, for the AWS
    variables, under the name the Bedrock family reads
    (``secret_access_key``, ``session_token``).
    """
    found = credential_from_env(spec)
    if found is None:
        return None
    extra = dict(found.extra)
    for variable, part in _ENV_EXTRA_NAMES.items():
        if variable in extra:
            extra.setdefault(part, extra[variable])
    return Credential(api_key=found.api_key, extra=extra)


class CredentialStore:
    """Stores, lists and resolves the provider credentials of every org.

    The store does not check that a provider exists; callers name providers
    that the registry knows.

    Args:
        database: where the encrypted rows live.
        cipher: encrypts and decrypts them.
        audit: records every change in the audit log (part names only);
            None records nothing.
    """

    def __init__(
        self,
        database: Database,
        cipher: CredentialCipher,
        audit: AuditTrail | None = None,
    ) -> None:
        self._database = database
        self._cipher = cipher
        self._audit = audit or NO_AUDIT

    async def set(
        self,
        org_id: str,
        provider: str,
        credential: Credential,
        actor: Caller | None = None,
    ) -> CredentialMetadata:
        """Store ``credential`` as the org's for ``provider``, replacing any.

        Raises:
            InvalidArgument: the credential is malformed.
        """
        check_credential(credential)
        token = self._cipher.encrypt(credential)
        extra_keys = ",".join(sorted(credential.extra))

        async with self._database.transaction() as session:
            stored = await session.get(ProviderCredentialRow, (org_id, provider))
            before = credential_state(stored.extra_keys if stored else None)
            await upsert(
                session,
                ProviderCredentialRow,
                {"org_id": org_id, "provider": provider},
                {"ciphertext": token, "extra_keys": extra_keys},
                insert_only={"create_time": utcnow(), "version": 1},
            )
            row = await session.get(
                ProviderCredentialRow, (org_id, provider), populate_existing=True
            )
            assert row is not None, "the upsert wrote it"
            after = credential_state(row.extra_keys)
            name = _credential_name(org_id, provider)
            self._audit.record(session, actor, "credentials.set", name, before, after)

        logger.info(
            "stored a credential for org=%s provider=%s (extra parts: %s)",
            org_id,
            provider,
            extra_keys or "none",
        )
        return _metadata(row)

    async def delete(
        self, org_id: str, provider: str, actor: Caller | None = None
    ) -> None:
        """Forget the org's stored credential for ``provider``.

        Raises:
            NotFound: none is stored.
        """
        name = _credential_name(org_id, provider)
        async with self._database.transaction() as session:
            stored = await session.get(ProviderCredentialRow, (org_id, provider))
            result = await session.execute(
                delete(ProviderCredentialRow).where(
                    col(ProviderCredentialRow.org_id) == org_id,
                    col(ProviderCredentialRow.provider) == provider,
                )
            )
            if not result.rowcount or stored is None:  # type: ignore[attr-defined]
                raise NotFound(f"{name} not found")
            before = credential_state(stored.extra_keys)
            self._audit.record(session, actor, "credentials.delete", name, before, None)
        logger.info("deleted the credential of org=%s provider=%s", org_id, provider)

    async def list_metadata(self, org_id: str) -> list[CredentialMetadata]:
        """The metadata of every credential the org stored, by provider."""
        async with self._database.sessions() as session:
            rows = (
                await session.execute(
                    select(ProviderCredentialRow)
                    .where(col(ProviderCredentialRow.org_id) == org_id)
                    .order_by(col(ProviderCredentialRow.provider))
                )
            ).scalars()
            return [_metadata(row) for row in rows]

    async def stored_providers(self, org_id: str) -> frozenset[str]:
        """The providers the org stored a credential for."""
        async with self._database.sessions() as session:
            names = await session.scalars(
                select(col(ProviderCredentialRow.provider)).where(
                    col(ProviderCredentialRow.org_id) == org_id
                )
            )
            return frozenset(names)

    async def resolve(self, org_id: str, spec: ProviderSpec) -> Credential | None:
        """The credential to call ``spec`` with for the org.

        The org's stored credential wins; else the provider's
        ``credential_env`` variables; else None.

        Raises:
            ConfigurationError: the stored credential cannot be decrypted.
        """
        async with self._database.sessions() as session:
            row = await session.get(ProviderCredentialRow, (org_id, spec.name))
        if row is not None:
            return self._cipher.decrypt(row.ciphertext)
        return credential_from_environment(spec)


def credential_source(spec: ProviderSpec, stored: bool) -> CredentialSource:
    """Where a call to ``spec`` would take its credential from."""
    if stored:
        return CredentialSource.STORED
    if not spec.needs_credential:
        return CredentialSource.NOT_NEEDED
    if credential_from_env(spec) is not None:
        return CredentialSource.ENVIRONMENT
    return CredentialSource.MISSING


def _credential_name(org_id: str, provider: str) -> str:
    return f"orgs/{org_id}/providers/{provider}/credential"


def _metadata(row: ProviderCredentialRow) -> CredentialMetadata:
    keys = tuple(name for name in row.extra_keys.split(",") if name)
    return CredentialMetadata(
        row.org_id, row.provider, keys, as_utc(row.create_time), as_utc(row.update_time)
    )
