"""API key secrets: minting, keyed hashing and checking.

A key's secret is ``mr-`` followed by 43 url-safe characters (256 random
bits). MegaRouter stores only HMAC-SHA256(server secret, key): with keys this
random no slow hash is needed, and checking a key costs about a microsecond.
The first characters after ``mr-`` are kept as a visible prefix so a person
can tell keys apart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "mr-"
VISIBLE_PREFIX_LENGTH = 8
MIN_KEY_LENGTH = 20


class KeyHasher:
    """Hashes API keys with the server secret."""

    def __init__(self, server_secret: bytes) -> None:
        self._secret = server_secret

    def hash(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()


def mint_key() -> str:
    """A new random API key secret."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def visible_prefix(key: str) -> str:
    body = key.removeprefix(KEY_PREFIX)
    return body[:VISIBLE_PREFIX_LENGTH]


def new_key_id() -> str:
    """The id segment of a key's resource name (not secret)."""
    return "k" + secrets.token_hex(6)
