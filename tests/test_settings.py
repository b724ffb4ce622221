"""Settings: defaults, the TOML file, the ``SCIM_*`` environment and validation with clear messages."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from scim_server.settings import DEFAULT_CONFIG_PATH, Settings, SettingsError, load_settings, package_version


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scim-server.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_an_empty_file_and_environment_give_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, path=write_config(tmp_path, ""))

    assert settings == Settings()
    assert dataclasses.asdict(settings) == {
        "host": "127.0.0.1",
        "port": 8080,
        "mongodb_uri": "",
        "database": "scim",
        "server_selection_timeout_seconds": 5.0,
        "bootstrap_tokens": "",
        "demo_token_file": "",
        "base_url": "",
        "cursor_secret": "",
        "default_page_size": 100,
        "max_page_size": 1000,
        "max_body_bytes": 1_048_576,
        "max_filter_length": 4096,
        "max_filter_depth": 32,
        "max_filter_terms": 256,
        "max_patch_operations": 1000,
        "max_attributes": 100,
        "bulk_max_operations": 1000,
        "bulk_max_payload_bytes": 1_048_576,
        "token_cache_seconds": 5.0,
        "token_last_used_flush_seconds": 60.0,
        "render_cache_entries": 10000,
        "render_cache_seconds": 60.0,
        "log_level": "INFO",
        "log_format": "json",
        "rate_limit_per_second": 0.0,
        "rate_limit_burst": 200,
        "metrics_token": "",
        "shutdown_timeout_seconds": 30.0,
        "organizations_file": "",
        "event_retention_days": 90,
        "event_gap_grace_seconds": 10.0,
        "webhook_retry_hours": 24.0,
        "webhook_backoff_seconds": 5.0,
        "webhook_timeout_seconds": 10.0,
        "webhook_poll_seconds": 1.0,
    }


async def test_the_shipped_config_file_states_the_defaults() -> None:
    assert DEFAULT_CONFIG_PATH.exists()
    assert load_settings(environ={}) == Settings()


async def test_values_come_from_the_server_table_of_the_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        '[server]\nport = 9000\ndatabase = "idp"\ntoken_cache_seconds = 2\nbase_url = "https://scim.example.com"\n',
    )

    settings = load_settings(environ={}, path=path)

    assert settings == Settings(
        port=9000, database="idp", token_cache_seconds=2.0, base_url="https://scim.example.com"
    )
    assert isinstance(settings.token_cache_seconds, float)


async def test_a_file_without_a_server_table_is_read_at_top_level(tmp_path: Path) -> None:
    settings = load_settings(
        environ={}, path=write_config(tmp_path, "max_page_size = 50\ndefault_page_size = 10\n")
    )

    assert settings == Settings(max_page_size=50, default_page_size=10)


async def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[server]\nport = 9000\nhost = "::"\n')

    settings = load_settings(environ={"SCIM_PORT": "9100", "SCIM_LOG_LEVEL": "DEBUG"}, path=path)

    assert settings == Settings(port=9100, host="::", log_level="DEBUG")


async def test_environment_strings_are_converted_to_the_setting_type(tmp_path: Path) -> None:
    environ = {
        "SCIM_PORT": " 8443 ",
        "SCIM_TOKEN_CACHE_SECONDS": "0.5",
        "SCIM_MAX_BODY_BYTES": "2048",
        "SCIM_MONGODB_URI": "mongodb://db.internal:27017",
    }

    settings = load_settings(environ=environ, path=write_config(tmp_path, ""))

    assert settings == Settings(
        port=8443, token_cache_seconds=0.5, max_body_bytes=2048, mongodb_uri="mongodb://db.internal:27017"
    )


async def test_the_log_level_is_case_insensitive(tmp_path: Path) -> None:
    settings = load_settings(environ={"SCIM_LOG_LEVEL": "debug"}, path=write_config(tmp_path, ""))

    assert settings.log_level == "debug"


async def test_unrelated_environment_variables_are_ignored(tmp_path: Path) -> None:
    environ = {"PORT": "1", "SCIM_UNKNOWN_THING": "x", "SCIM_TEST_MONGODB_URI": "mongodb://x"}

    assert load_settings(environ=environ, path=write_config(tmp_path, "")) == Settings()


async def test_scim_config_names_the_file_to_read(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[server]\nport = 9001\n")

    assert load_settings(environ={"SCIM_CONFIG": str(path)}) == Settings(port=9001)


async def test_keyword_overrides_win_over_environment_and_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[server]\nport = 9000\n")

    settings = load_settings(environ={"SCIM_PORT": "9100"}, path=path, port=9200, host="::1")

    assert settings == Settings(port=9200, host="::1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nprot = 9000\n", "unknown setting 'prot'"),
        ('[server]\nport = "eighty"\n', "setting 'port': cannot use 'eighty' as int"),
        ("[server]\nport = true\n", "setting 'port': cannot use True as int"),
        ("[server]\nport = 8080.5\n", "setting 'port': cannot use 8080.5 as int"),
        ("[server]\ntoken_cache_seconds = true\n", "setting 'token_cache_seconds': cannot use True as float"),
        ("[server]\nhost = 5\n", "setting 'host': cannot use 5 as str"),
        ("[server]\nport = -1\n", "setting 'port' must be between 0 (any free port) and 65535"),
        ("[server]\nport = 70000\n", "setting 'port' must be between 0 (any free port) and 65535"),
        ("[server]\nport = \n", "cannot read config file"),
        ('server = "x"\n', "'server' must be a table"),
    ],
)
async def test_a_bad_file_names_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(environ={}, path=write_config(tmp_path, text))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SCIM_PORT": "abc"}, "setting 'port': cannot use 'abc' as int"),
        ({"SCIM_PORT": ""}, "setting 'port': cannot use '' as int"),
        ({"SCIM_PORT": "-1"}, "setting 'port' must be between 0 (any free port) and 65535"),
        ({"SCIM_PORT": "70000"}, "setting 'port' must be between 0 (any free port) and 65535"),
        ({"SCIM_MAX_PAGE_SIZE": "-5"}, "setting 'max_page_size' must be at least 1"),
        (
            {"SCIM_DEFAULT_PAGE_SIZE": "200", "SCIM_MAX_PAGE_SIZE": "100"},
            "setting 'default_page_size' must not exceed 'max_page_size'",
        ),
        ({"SCIM_TOKEN_CACHE_SECONDS": "-1"}, "setting 'token_cache_seconds' must be between 0 and 60"),
        ({"SCIM_TOKEN_CACHE_SECONDS": "61"}, "setting 'token_cache_seconds' must be between 0 and 60"),
        ({"SCIM_TOKEN_CACHE_SECONDS": "nan"}, "setting 'token_cache_seconds' must be between 0 and 60"),
        ({"SCIM_RENDER_CACHE_ENTRIES": "-1"}, "setting 'render_cache_entries' must be between 0 and 1000000"),
        ({"SCIM_RENDER_CACHE_SECONDS": "nan"}, "setting 'render_cache_seconds' must be between 0 and 3600"),
        ({"SCIM_TOKEN_CACHE_SECONDS": "soon"}, "setting 'token_cache_seconds': cannot use 'soon' as float"),
        *(
            ({"SCIM_TOKEN_LAST_USED_FLUSH_SECONDS": raw}, "'token_last_used_flush_seconds' must be more")
            for raw in ("0", "-1", "3601", "nan")
        ),
        ({"SCIM_DATABASE": "my.db"}, "setting 'database' must be a plain MongoDB database name"),
        ({"SCIM_DATABASE": "a/b"}, "setting 'database' must be a plain MongoDB database name"),
        ({"SCIM_DATABASE": "$x"}, "setting 'database' must be a plain MongoDB database name"),
        ({"SCIM_DATABASE": ""}, "setting 'database' must be a plain MongoDB database name"),
        ({"SCIM_BASE_URL": "scim.example.com"}, "setting 'base_url' must start with http:// or https://"),
        ({"SCIM_LOG_LEVEL": "verbose"}, "setting 'log_level' must be one of"),
        ({"SCIM_LOG_FORMAT": "xml"}, "setting 'log_format' must be one of json, text"),
        *(
            ({"SCIM_RATE_LIMIT_PER_SECOND": raw}, "'rate_limit_per_second' must be between 0 (off)")
            for raw in ("-1", "nan", "1e9")
        ),
        ({"SCIM_RATE_LIMIT_BURST": "0"}, "setting 'rate_limit_burst' must be at least 1"),
        ({"SCIM_RATE_LIMIT_BURST": "1.5"}, "setting 'rate_limit_burst': cannot use '1.5' as int"),
        *(
            ({"SCIM_SHUTDOWN_TIMEOUT_SECONDS": raw}, "'shutdown_timeout_seconds' must be above 0")
            for raw in ("0", "-1", "3601", "nan")
        ),
        *(
            (
                {"SCIM_SERVER_SELECTION_TIMEOUT_SECONDS": raw},
                "setting 'server_selection_timeout_seconds' must be above 0 and at most 300",
            )
            for raw in ("0", "-1", "301", "nan")
        ),
    ],
)
async def test_a_bad_environment_value_names_the_setting(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(environ=environ, path=write_config(tmp_path, ""))


async def test_a_missing_scim_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(SettingsError, match=f"config file {re.escape(str(missing))} does not exist"):
        load_settings(environ={"SCIM_CONFIG": str(missing)})


async def test_a_missing_explicit_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={}, path=tmp_path / "nowhere.toml")


async def test_an_unknown_keyword_override_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings(environ={}, path=write_config(tmp_path, ""), prot=1)


async def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


async def test_embedded_is_true_exactly_when_no_mongodb_uri_is_set(tmp_path: Path) -> None:
    empty = write_config(tmp_path, "")

    assert load_settings(environ={}, path=empty).embedded is True
    assert load_settings(environ={"SCIM_MONGODB_URI": ""}, path=empty).embedded is True
    assert load_settings(environ={"SCIM_MONGODB_URI": "mongodb://localhost"}, path=empty).embedded is False


async def test_settings_are_frozen() -> None:
    settings = Settings()

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


async def test_operations_settings_come_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "SCIM_LOG_FORMAT": "TEXT",
        "SCIM_RATE_LIMIT_PER_SECOND": "0",
        "SCIM_RATE_LIMIT_BURST": "5",
        "SCIM_METRICS_TOKEN": "metrics-secret",
        "SCIM_SHUTDOWN_TIMEOUT_SECONDS": "2.5",
        "SCIM_DEMO_TOKEN_FILE": "~/.scim-demo-token",
    }

    settings = load_settings(environ=environ, path=write_config(tmp_path, ""))

    assert settings == Settings(
        log_format="TEXT",
        rate_limit_per_second=0.0,
        rate_limit_burst=5,
        metrics_token="metrics-secret",
        shutdown_timeout_seconds=2.5,
        demo_token_file="~/.scim-demo-token",
    )


async def test_port_0_asks_for_any_free_port(tmp_path: Path) -> None:
    assert load_settings(environ={"SCIM_PORT": "0"}, path=write_config(tmp_path, "")).port == 0


def test_the_package_version_is_the_installed_distributions() -> None:
    assert package_version() == metadata.version("scim-server")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", package_version())


async def test_secrets_are_left_out_of_the_settings_repr() -> None:
    settings = Settings(
        mongodb_uri="mongodb://admin:pw-123@db",
        bootstrap_tokens="acme:boot-secret",
        metrics_token="m-secret",
        cursor_secret="c-secret",
    )

    text = repr(settings)

    assert "pw-123" not in text and "boot-secret" not in text and "m-secret" not in text
    assert "c-secret" not in text
    assert "log_format='json'" in text


def test_the_shipped_config_file_lists_every_setting_at_its_default() -> None:
    data = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))["server"]
    assert set(data) == {f.name for f in dataclasses.fields(Settings)}
    assert load_settings(environ={}, path=DEFAULT_CONFIG_PATH) == Settings()
