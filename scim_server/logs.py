"""Log formatting: one JSON object per line (the default) or readable text, and the request id.

Records may carry structured fields in ``extra={"fields": {...}}`` (the access log does); the JSON
formatter writes them as top-level keys, the text formatter as ``key=value`` pairs after the message.
The id of the request being handled (a context variable set by the access-log middleware) is added to
every record logged while handling it, so an error's traceback can be matched with its access line.

Nothing here knows about secrets: callers never log tokens, token hashes or ``Authorization`` headers.
``configure_logging`` also keeps the driver's command log (which would show the token-hash lookups)
and aiohttp's default access log (which shows raw paths and query strings) quiet.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

FIELDS = "fields"
"""The ``extra`` key under which a record carries its structured fields."""

current_request_id: ContextVar[str | None] = ContextVar("scim_request_id", default=None)

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Loggers whose records can hold what must not be logged. pymongo logs every command at DEBUG (a
# token lookup's filter is the token's hash); aiohttp.access logs raw paths and query strings.
_QUIETED = {"pymongo": logging.INFO, "aiohttp.access": logging.WARNING}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's request id (if any) and structured fields, in that order."""
    fields: dict[str, Any] = {}
    request_id = getattr(record, "request_id", None)
    if request_id is not None:
        fields["request_id"] = request_id
    extra = getattr(record, FIELDS, None)
    if isinstance(extra, Mapping):
        fields.update(extra)
    return fields


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being handled, when there is one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id, fields.

    A traceback, when there is one, is the ``exception`` string, so a record is always one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(record_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))


def _text_value(value: Any) -> str:
    text = "-" if value is None else str(value)
    # Quote anything that could be mistaken for another field or another line.
    if not text or any(c in text for c in ' "=\\') or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...``: the structured fields appended to the message."""

    def __init__(self, fmt: str = _TEXT_FORMAT) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = record_fields(record)
        if not fields:
            return text
        pairs = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        head, newline, rest = text.partition("\n")  # a traceback stays below the first line
        return f"{head} {pairs}{newline}{rest}"


def make_formatter(log_format: str) -> logging.Formatter:
    return TextFormatter() if log_format.lower() == "text" else JsonFormatter()


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every record to ``stream`` (standard error) in ``log_format``; returns the handler.

    Replaces the root logger's handlers, so call it once, from the command that serves.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    threshold = logging.getLogger().level
    for name, floor in _QUIETED.items():
        logging.getLogger(name).setLevel(max(threshold, floor))
    return handler
