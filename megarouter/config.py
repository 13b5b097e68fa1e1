"""Settings, from ``MEGAROUTER_*`` environment variables or a TOML file.

Precedence, highest first: explicit overrides (command-line flags), the
environment, the config file named by ``MEGAROUTER_CONFIG`` (or
``--config``), then the defaults below. Every setting is validated at start;
a bad one stops the process with a message naming it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from megarouter.errors import ConfigurationError

ENV_PREFIX = "MEGAROUTER_"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "megarouter"


class Settings(BaseSettings):
    """Everything that configures a MegaRouter process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True
    )

    listen: str = Field(
        "127.0.0.1:50051", description="HOST:PORT the gRPC server binds."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded database and the generated secret live.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy async URL; empty means SQLite in data_dir.",
    )
    sqlite_synchronous: str = Field(
        "NORMAL",
        description="The embedded database's durability: NORMAL keeps every "
        "acknowledged call's record through a killed process; FULL also through "
        "a power cut, at one fsync per commit.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description=(
            "Server secret keying API-key hashes and encrypting provider "
            "credentials. Generated into data_dir when unset; set the same "
            "value on every replica that shares a database."
        ),
    )
    bootstrap_key: SecretStr | None = Field(
        None, description="The admin API key to create on an empty database."
    )
    bootstrap_org: str = Field("default", description="Id of the bootstrap org.")
    auto_migrate: bool | None = Field(
        None,
        description="Apply migrations on start; default: only for embedded SQLite.",
    )
    workers: int = Field(
        1,
        ge=0,
        le=64,
        description="Server processes sharing the gRPC port (SO_REUSEPORT), "
        "each with its own event loop; 0: one per CPU. Workers share budgets, "
        "rate limits and keys through the database (and Redis) as replicas do.",
    )
    grace_period: float = Field(
        10.0, ge=0, description="Seconds in-flight calls get to finish on shutdown."
    )
    max_message_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest gRPC message accepted/sent."
    )
    keepalive_time_ms: int = Field(
        60_000, ge=1000, description="Milliseconds between keepalive pings."
    )
    keepalive_timeout_ms: int = Field(
        20_000,
        ge=1000,
        description="Milliseconds a ping may wait for its ack before the "
        "connection, and every call on it, is dropped.",
    )
    auth_refresh_interval: float = Field(
        1.0,
        gt=0,
        description=(
            "Seconds between checks for key, role and policy changes made by "
            "other processes."
        ),
    )
    auth_cache_ttl: float = Field(
        30.0, ge=0, description="Seconds a verified API key stays cached."
    )
    plugins: str = Field(
        "", description="Comma-separated allow-list of plugin names; empty: all."
    )
    providers_file: Path | None = Field(
        None,
        description="A JSON or TOML file of this deployment's own provider "
        "endpoints and models (self-hosted servers), added to or replacing what "
        "plugins register; unset: plugins only.",
    )
    router_quality: str = Field(
        "learned",
        description="The router's quality model: learned (the fitted predictor) "
        "or prior (catalog facts only).",
    )
    router_artifact: Path | None = Field(
        None,
        description="A directory written by `megarouter router fit`; unset for "
        "the artifact shipped in the package. Reloaded when its files change.",
    )
    feedback_refresh_interval: float = Field(
        10.0, gt=0, description="Seconds between re-reads of callers' scores."
    )
    outcome_prompt_sample_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of successful completions whose prompt text (the "
        "system text and last user turn the router reads) is stored for "
        "`megarouter router fit --from-store`; 0 stores no prompt at all.",
    )
    outcome_prompt_max_chars: int = Field(
        4000,
        ge=1,
        le=100_000,
        description="Longest stored prompt sample; a longer prompt keeps its "
        "last characters, which hold the question the router reads.",
    )
    outcome_prompt_retention_days: int = Field(
        30,
        ge=0,
        description="Days a stored prompt sample is kept before the server "
        "deletes it; 0 keeps samples until `megarouter db prune-prompts`.",
    )
    redis_url: str = Field(
        "",
        description="redis://HOST:PORT/DB holding rate-limit counters shared by "
        "replicas; empty: the database holds them (leased per replica).",
    )
    metrics_listen: str = Field(
        "",
        description="HOST:PORT serving Prometheus metrics over HTTP "
        "(budget alerts and refusals); empty: no metrics endpoint.",
    )
    log_level: str = Field("INFO")

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("expected HOST:PORT, such as 127.0.0.1:50051")
        return value

    @field_validator("providers_file", mode="before")
    @classmethod
    def _empty_providers_file_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("metrics_listen")
    @classmethod
    def _check_metrics_listen(cls, value: str) -> str:
        if value:
            cls._check_listen(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite:", "postgresql+asyncpg:")):
            raise ValueError(
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
            )
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_sqlite_synchronous(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"NORMAL", "FULL"}:
            raise ValueError("expected NORMAL or FULL")
        return upper

    @field_validator("router_quality")
    @classmethod
    def _check_router_quality(cls, value: str) -> str:
        if value not in {"learned", "prior"}:
            raise ValueError("expected learned or prior")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'megarouter.db'}"

    @property
    def is_embedded_database(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.is_embedded_database

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def plugin_allow_list(self) -> list[str]:
        return [name.strip() for name in self.plugins.split(",") if name.strip()]


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from the file, the environment and ``overrides``.

    Raises:
        ConfigurationError: a setting is invalid; the message names it.
    """
    file_values: dict[str, Any] = {}
    path = config_file or _env_config_path()
    if path is not None:
        file_values = _read_config_file(path)

    env_names = {
        name
        for name in Settings.model_fields
        if f"{ENV_PREFIX}{name.upper()}" in os.environ
    }
    values = {k: v for k, v in file_values.items() if k not in env_names}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def _env_config_path() -> Path | None:
    value = os.environ.get(f"{ENV_PREFIX}CONFIG")
    return Path(value) if value else None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"config file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from None
    section = data.get("megarouter", data)
    if not isinstance(section, dict):
        raise ConfigurationError(f"config file {path}: expected a table of settings")
    return section


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        env = f"{ENV_PREFIX}{name.upper()}"
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown setting {name!r}")
        else:
            lines.append(f"invalid setting {env} ({name}): {error['msg']}")
    return "; ".join(lines)
