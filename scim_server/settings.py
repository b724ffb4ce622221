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
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTION = "scim-server"
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "scim-server.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")


def package_version() -> str:
    """The installed distribution's version (``--version``, the OpenAPI document); 0.0.0 when the
    package runs from a source tree that was never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0.0.0"


class SettingsError(ValueError):
    """The configuration is invalid; the message says which setting and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the server; each is documented in the configuration documentation (docs/).

    Secrets (the MongoDB URI, bootstrap and metrics tokens) are left out of ``repr``, so logging a
    Settings object cannot leak them.
    """

    host: str = "127.0.0.1"
    # 0 asks the system for any free port; the server prints the one it listens on.
    port: int = 8080
    # MongoDB connection string; empty means the embedded in-memory store (mongomock-motor).
    mongodb_uri: str = field(default="", repr=False)  # may carry a password
    database: str = "scim"
    # How long a database operation waits for a reachable server before it fails (answered 503 with
    # Retry-After); a serverSelectionTimeoutMS in the URI wins over it.
    server_selection_timeout_seconds: float = 5.0
    # "org1:token1,org2:token2": tokens known in advance, loaded at startup (embedded store and tests).
    bootstrap_tokens: str = field(default="", repr=False)
    # A file keeping the embedded store's demo token across restarts, so that an IdP pointed at a trial
    # server need not be reconfigured at each start. Used only on the embedded store without
    # bootstrap_tokens: the token is read from the file, or generated and written there (mode 0600).
    # Empty: a new demo token at every start, printed once.
    demo_token_file: str = ""
    # Public base URL used in meta.location and $ref (e.g. "https://scim.example.com"); empty means
    # derive it from the request's Host header and scheme.
    base_url: str = ""
    # The secret cursors of cursor paging (RFC 9865) are signed with, shared by every worker process
    # (any string; long and random). Empty: a secret made once and stored in the database
    # (server_secrets), which every worker reads. Changing it invalidates the cursors issued before.
    cursor_secret: str = field(default="", repr=False)
    default_page_size: int = 100
    max_page_size: int = 1000
    max_body_bytes: int = 1_048_576
    max_filter_length: int = 4096
    max_filter_depth: int = 32
    max_filter_terms: int = 256
    max_patch_operations: int = 1000
    max_attributes: int = 100
    # Bulk requests (RFC 7644 §3.7): at most this many operations, and this many bytes of body; both
    # advertised in ServiceProviderConfig (bulk.maxOperations, bulk.maxPayloadSize).
    bulk_max_operations: int = 1000
    bulk_max_payload_bytes: int = 1_048_576
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
    # Token bucket per organization and per process: sustained requests per second and the bucket
    # size, the burst allowed on top; with K worker processes an organization can reach K times the
    # rate. Off (0) by default: an IdP's initial sync, a conformance checker or a benchmark must never
    # meet a 429 at default settings, so the limit is a choice the operator makes knowingly.
    rate_limit_per_second: float = 0.0
    rate_limit_burst: int = 200
    # Bearer token that /metrics requires; empty serves /metrics without authentication.
    metrics_token: str = field(default="", repr=False)
    # On SIGTERM, how long in-flight requests may take to finish before the process exits anyway.
    shutdown_timeout_seconds: float = 30.0
    # TOML file of per-organization configuration (docs/organizations.md); empty: every organization
    # gets the defaults. Read at startup and again on SIGHUP.
    organizations_file: str = ""
    # Days change events (the audit trail) are kept; a feed cursor older than that answers 410.
    event_retention_days: int = 90
    # How long the event feed waits for a sequence number that was taken but not yet written before
    # it gives that number up (a writer that crashed between the two steps); see docs/organizations.md.
    event_gap_grace_seconds: float = 10.0
    # Webhook deliveries: how long an event is retried before it is given up, the first retry delay
    # (doubled on each further failure, with jitter), the time a receiver has to answer, and how
    # often each worker looks for events to deliver.
    webhook_retry_hours: float = 24.0
    webhook_backoff_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0
    webhook_poll_seconds: float = 1.0

    @property
    def embedded(self) -> bool:
        """True when no MongoDB URI is configured, so the in-memory store is used."""
        return not self.mongodb_uri


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def setting_names() -> tuple[str, ...]:
    """Every setting's name, in declaration order; ``SCIM_<NAME>`` in upper case sets it."""
    return tuple(_FIELDS)


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
    if not 0 <= settings.port <= 65535:
        raise SettingsError("setting 'port' must be between 0 (any free port) and 65535")
    if settings.bulk_max_operations < 1 or settings.bulk_max_payload_bytes < 1:
        raise SettingsError("settings 'bulk_max_operations' and 'bulk_max_payload_bytes' must be at least 1")
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
    if not 1 <= settings.event_retention_days <= 36500:
        raise SettingsError("setting 'event_retention_days' must be between 1 and 36500")
    if not 0 < settings.event_gap_grace_seconds <= 3600:  # also rejects NaN
        raise SettingsError("setting 'event_gap_grace_seconds' must be above 0 and at most 3600")
    if not 0 < settings.webhook_retry_hours <= 720:
        raise SettingsError("setting 'webhook_retry_hours' must be above 0 and at most 720")
    for name in ("webhook_backoff_seconds", "webhook_timeout_seconds", "webhook_poll_seconds"):
        if not 0 < getattr(settings, name) <= 3600:
            raise SettingsError(f"setting {name!r} must be above 0 and at most 3600")
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
