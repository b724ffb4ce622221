"""Log formatting: JSON lines and text lines, the request id, and the quieted loggers."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from scim_server.logs import (
    FIELDS,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure_logging,
    current_request_id,
    make_formatter,
)

ACCESS_FIELDS = {
    "request_id": "req-1",
    "org": "acme",
    "token_name": "entra prod",
    "idp": "entra",
    "method": "GET",
    "route": "/scim/v2/Users/{id}",
    "status": 200,
    "duration_ms": 3.25,
}


def make_record(
    message: str = "GET %s %d", args: tuple[object, ...] = ("/scim/v2/Users/{id}", 200)
) -> logging.LogRecord:
    record = logging.LogRecord("scim_server.access", logging.INFO, __file__, 1, message, args, None)
    record.created = 1767225600.5  # 2026-01-01T00:00:00.500Z
    return record


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces (and closes) the root handlers: set pytest's aside meanwhile."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("pymongo", "aiohttp.access")}
    root.handlers.clear()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


async def test_an_access_record_is_one_json_object_with_its_fields_as_keys() -> None:
    record = make_record()
    setattr(record, FIELDS, ACCESS_FIELDS)

    line = JsonFormatter().format(record)

    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-01-01T00:00:00.500+00:00",
        "level": "INFO",
        "logger": "scim_server.access",
        "message": "GET /scim/v2/Users/{id} 200",
        **ACCESS_FIELDS,
    }
    assert list(json.loads(line))[:5] == ["time", "level", "logger", "message", "request_id"]


async def test_a_traceback_stays_inside_the_json_line() -> None:
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        record = logging.LogRecord("scim_server", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    line = JsonFormatter().format(record)

    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed"
    assert parsed["exception"].startswith("Traceback") and "ValueError: broken" in parsed["exception"]


async def test_text_lines_append_the_fields_quoting_what_needs_it() -> None:
    record = make_record()
    setattr(record, FIELDS, {**ACCESS_FIELDS, "org": None, "token_name": 'entra "prod"\nX=1'})

    line = TextFormatter().format(record)

    assert line.endswith(
        " INFO scim_server.access GET /scim/v2/Users/{id} 200 request_id=req-1 org=- "
        'token_name="entra \\"prod\\"\\nX=1" idp=entra method=GET route=/scim/v2/Users/{id} status=200 '
        "duration_ms=3.25"
    )
    assert "\n" not in line


async def test_the_request_id_is_added_to_records_logged_while_handling_a_request() -> None:
    record = make_record("plain", ())
    token = current_request_id.set("req-9")
    try:
        RequestIdFilter().filter(record)
    finally:
        current_request_id.reset(token)
    outside = make_record("plain", ())
    RequestIdFilter().filter(outside)

    assert json.loads(JsonFormatter().format(record))["request_id"] == "req-9"
    assert "request_id" not in json.loads(JsonFormatter().format(outside))
    assert TextFormatter().format(record).endswith("plain request_id=req-9")


async def test_the_log_format_setting_selects_the_formatter() -> None:
    assert isinstance(make_formatter("json"), JsonFormatter)
    assert isinstance(make_formatter("text"), TextFormatter)
    assert isinstance(make_formatter("TEXT"), TextFormatter)


@pytest.mark.usefixtures("restore_logging")
async def test_configure_logging_writes_json_lines_and_quiets_the_leaky_loggers() -> None:
    stream = io.StringIO()

    handler = configure_logging("debug", "json", stream)
    logging.getLogger("scim_server").info("started on %s", "port 8080")
    logging.getLogger("pymongo.command").debug('{"find": "tokens", "filter": {"hash": "abc"}}')
    logging.getLogger("aiohttp.access").info('GET /scim/v2/Users?filter=userName eq "a@b"')

    assert logging.getLogger().handlers == [handler]
    assert logging.getLogger().level == logging.DEBUG
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "started on port 8080"
    assert logging.getLogger("pymongo").level == logging.INFO
    assert logging.getLogger("aiohttp.access").level == logging.WARNING


@pytest.mark.usefixtures("restore_logging")
async def test_configure_logging_at_warning_keeps_the_higher_level_for_quieted_loggers() -> None:
    configure_logging("WARNING", "text", io.StringIO())

    assert logging.getLogger("pymongo").level == logging.WARNING
    assert isinstance(logging.getLogger().handlers[0].formatter, TextFormatter)
