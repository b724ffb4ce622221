"""Settings: a frozen dataclass read from a TOML file in config/, then the ``SCIM_*`` environment.

The environment wins over the file. Both are injected (``load_settings(environ=..., path=...)``) so
tests never depend on the process environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "scim-server.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")


class SettingsError(ValueError):
    """The configuration is invalid; the message says which setting and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the server. Each one is documented in the README's configuration table.

    Secrets (the MongoDB URI, bootstrap and metrics tokens) are left out of ``repr``, so logging a
    Settings object cannot leak them.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    # MongoDB connection string; empty means the embedded in-memory store (mongomock-motor).
    mongodb_uri: str = field(default="", repr=False)  # may carry a password
    database: str = "scim"
    # How long a database operation waits for a reachable server before it fails (answered 503 with
    # Retry-After); a serverSelectionTimeoutMS in the URI wins over it.
    server_selection_timeout_seconds: float = 5.0
    # "org1:token1,org2:token2": tokens known in advance, loaded at startup (embedded store and tests).
    bootstrap_tokens: str = field(default="", repr=False)
    # Public base URL used in meta.location and $ref (e.g. "https://scim.example.com"); empty means
    # derive it from the request's Host header and scheme.
    base_url: str = ""
    default_page_size: int = 100
    max_page_size: int = 1000
    max_body_bytes: int = 1_048_576
    max_filter_length: int = 4096
    max_filter_depth: int = 32
    max_filter_terms: int = 256
    max_patch_operations: int = 1000
    max_attributes: int = 100
    # Seconds a token lookup is cached per process: revocation and expiry take effect within this bound.
    token_cache_seconds: float = 5.0
    # Seconds between writes of tokens' last-used times (one update per used token per flush).
    token_last_used_flush_seconds: float = 60.0
    # Serialized resources kept per process for reads, keyed by version (0 entries disables); an entry
    # is used for at most render_cache_seconds, the bound on a change made outside the server.
    render_cache_entries: int = 10_000
    render_cache_seconds: float = 60.0
    log_level: str = "INFO"
    # "json": one JSON object per line (the access log's fields as keys); "text": human-readable lines.
    log_format: str = "json"
    # Token bucket per organization and per process: sustained requests per second (0 disables rate
    # limiting) and the bucket size, the burst allowed on top. With K worker processes an
    # organization can reach K times this rate.
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 200
    # Bearer token that /metrics requires; empty serves /metrics without authentication.
    metrics_token: str = field(default="", repr=False)
    # On SIGTERM, how long in-flight requests may take to finish before the process exits anyway.
    shutdown_timeout_seconds: float = 30.0

    @property
    def embedded(self) -> bool:
        """True when no MongoDB URI is configured, so the in-memory store is used."""
        return not self.mongodb_uri


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _convert(name: str, raw: Any) -> Any:
    default = _FIELDS[name].default
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            # int() would truncate 8080.5 and accept True: a typo must not become another value.
            if isinstance(raw, bool | float):
                raise ValueError(raw)
            return int(raw)
        if isinstance(default, float):
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if not isinstance(raw, str):
            raise ValueError(raw)
        return raw
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name!r}: cannot use {raw!r} as {type(default).__name__}") from None


def _check(settings: Settings) -> None:
    positive = (
        "port",
        "default_page_size",
        "max_page_size",
        "max_body_bytes",
        "max_filter_length",
        "max_filter_depth",
        "max_filter_terms",
        "max_patch_operations",
        "max_attributes",
        "rate_limit_burst",
    )
    for name in positive:
        if getattr(settings, name) < 1:
            raise SettingsError(f"setting {name!r} must be at least 1")
    if settings.port > 65535:
        raise SettingsError("setting 'port' must be at most 65535")
    if settings.default_page_size > settings.max_page_size:
        raise SettingsError("setting 'default_page_size' must not exceed 'max_page_size'")
    if not 0 <= settings.token_cache_seconds <= 60:  # also rejects NaN
        raise SettingsError("setting 'token_cache_seconds' must be between 0 and 60")
    if not 0 < settings.token_last_used_flush_seconds <= 3600:  # also rejects NaN
        raise SettingsError("setting 'token_last_used_flush_seconds' must be more than 0 and at most 3600")
    if not 0 <= settings.render_cache_entries <= 1_000_000:
        raise SettingsError("setting 'render_cache_entries' must be between 0 and 1000000")
    if not 0 <= settings.render_cache_seconds <= 3600:  # also rejects NaN
        raise SettingsError("setting 'render_cache_seconds' must be between 0 and 3600")
    if not 0 < settings.server_selection_timeout_seconds <= 300:  # also rejects NaN
        raise SettingsError("setting 'server_selection_timeout_seconds' must be above 0 and at most 300")
    if not settings.database or any(c in settings.database for c in '/\\. "$'):
        raise SettingsError("setting 'database' must be a plain MongoDB database name")
    if settings.log_level.upper() not in LOG_LEVELS:
        raise SettingsError(f"setting 'log_level' must be one of {', '.join(LOG_LEVELS)}")
    if settings.log_format.lower() not in LOG_FORMATS:
        raise SettingsError(f"setting 'log_format' must be one of {', '.join(LOG_FORMATS)}")
    if not 0 <= settings.rate_limit_per_second <= 1_000_000:  # also rejects NaN
        raise SettingsError("setting 'rate_limit_per_second' must be between 0 (off) and 1000000")
    if not 0 < settings.shutdown_timeout_seconds <= 3600:
        raise SettingsError("setting 'shutdown_timeout_seconds' must be above 0 and at most 3600")
    if settings.base_url and not settings.base_url.startswith(("http://", "https://")):
        raise SettingsError("setting 'base_url' must start with http:// or https://")


def load_settings(
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Read the config file (``SCIM_CONFIG`` or config/scim-server.toml), then ``SCIM_<NAME>`` variables.

    Unknown keys in the file are an error (a typo must not silently fall back to a default).
    """
    env = os.environ if environ is None else environ
    config_path = path or Path(env.get("SCIM_CONFIG", "") or DEFAULT_CONFIG_PATH)
    values: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {config_path}: {exc}") from None
        section = data.get("server", data)
        if not isinstance(section, dict):
            raise SettingsError(f"'server' must be a table in {config_path}")
        for key, raw in section.items():
            if key not in _FIELDS:
                raise SettingsError(f"unknown setting {key!r} in {config_path}")
            values[key] = _convert(key, raw)
    elif path is not None or env.get("SCIM_CONFIG"):
        raise SettingsError(f"config file {config_path} does not exist")
    for name in _FIELDS:
        raw_env = env.get(f"SCIM_{name.upper()}")
        if raw_env is not None:
            values[name] = _convert(name, raw_env)
    for name, raw in overrides.items():
        if name not in _FIELDS:
            raise SettingsError(f"unknown setting {name!r}")
        values[name] = raw
    settings = Settings(**values)
    _check(settings)
    return settings
