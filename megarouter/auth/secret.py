"""The server secret that keys API-key hashes and credential encryption."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from megarouter.config import Settings
from megarouter.errors import ConfigurationError

SECRET_FILE = "secret.key"
MIN_SECRET_LENGTH = 32


def server_secret(settings: Settings) -> bytes:
    """The configured secret, or one kept in the data directory.

    Only the embedded database gets a generated secret: replicas sharing a
    PostgreSQL database must all hash keys with the same secret, so there it
    has to be configured.

    Raises:
        ConfigurationError: the secret is missing or too short.
    """
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"invalid setting MEGAROUTER_SECRET_KEY: must be at least "
                f"{MIN_SECRET_LENGTH} characters"
            )
        return value.encode()
    if not settings.is_embedded_database:
        raise ConfigurationError(
            "MEGAROUTER_SECRET_KEY is required with a shared database: set the "
            "same value (32+ random characters) on every replica"
        )
    return _file_secret(settings.data_dir / SECRET_FILE)


def _file_secret(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value
