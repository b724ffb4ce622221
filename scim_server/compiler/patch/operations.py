"""Parse a PatchOp message into operations (RFC 7644 §3.5.2), leniently as IdPs need."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from scim_server.errors import (
    InvalidPathError,
    InvalidSyntaxError,
    InvalidValueError,
    NoTargetError,
)
from scim_server.filters.ast import (
    PatchPath,
)
from scim_server.filters.parser import parse_path
from scim_server.schema.catalog import (
    ResourceType,
)

OpName = Literal["add", "remove", "replace"]
_OPS: dict[str, OpName] = {"add": "add", "remove": "remove", "replace": "replace"}


@dataclass(frozen=True, slots=True)
class PatchOperation:
    """One PATCH operation (RFC 7644 §3.5.2): the op, its parsed path and its raw JSON value.

    The value is coerced when the operation is applied, against the attribute the path names.
    """

    op: OpName
    path: PatchPath | None
    value: Any
    # The path as the request wrote it: the key under which its resolution is cached.
    text: str | None = field(default=None, compare=False, repr=False)


def _member(obj: Mapping[Any, Any], name: str) -> tuple[bool, Any]:
    """A JSON member matched case-insensitively ("Don't require a case-sensitive match on structural
    elements", Entra); an exact spelling wins over another case."""
    if name in obj:
        return True, obj[name]
    low = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == low:
            return True, value
    return False, None


def excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 50 else f"{text[:47]}..."


@functools.lru_cache(maxsize=1024)
def parse_patch_path(text: str, resource_type: ResourceType) -> PatchPath:
    """Paths parsed once per text: IdPs send the same few paths over and over. The parsed path is
    immutable; a text that fails to parse raises every time (exceptions are not cached)."""
    return parse_path(text, schema_uris=resource_type.schema_uris)


def _parse_operation(index: int, raw: Any, resource_type: ResourceType) -> PatchOperation:
    where = f"Operations[{index}]"
    if raw.__class__ is not dict and not isinstance(raw, Mapping):
        raise InvalidSyntaxError(f"{where} must be an object")
    # The members as the RFC spells them, looked up directly (the usual case); else in any case.
    has_op, op_text = (True, raw["op"]) if "op" in raw else _member(raw, "op")
    if not has_op:
        raise InvalidSyntaxError(f"{where} has no 'op'")
    op = _OPS.get(op_text.lower()) if isinstance(op_text, str) else None
    if op is None:
        raise InvalidSyntaxError(f"{where} has an unknown op '{excerpt(op_text)}' (add, remove, replace)")
    path_text = raw["path"] if "path" in raw else _member(raw, "path")[1]
    path: PatchPath | None = None
    if path_text is not None:
        if not isinstance(path_text, str):
            raise InvalidPathError(f"{where}: 'path' must be a string")
        if path_text.strip():
            path = parse_patch_path(path_text, resource_type)
    has_value, value = (True, raw["value"]) if "value" in raw else _member(raw, "value")
    if op == "remove":
        if path is None:
            # RFC 7644 §3.5.2.2: "If 'path' is unspecified, the operation fails with ... 'noTarget'".
            raise NoTargetError(f"{where}: a remove operation requires a 'path'")
    elif not has_value:
        raise InvalidValueError(f"{where}: '{op}' requires a 'value'")
    elif path is None and not isinstance(value, Mapping):
        raise InvalidValueError(f"{where}: without a 'path', the 'value' must be an object of attributes")
    return PatchOperation(op, path, value, path_text if path is not None else None)


def parse_patch_request(
    body: Any, resource_type: ResourceType, *, max_operations: int = 1000
) -> tuple[PatchOperation, ...]:
    """Parse a PatchOp message (RFC 7644 §3.5.2) into operations, leniently.

    ``schemas`` may be missing or carry extra URNs; a top-level ``id`` and per-operation ``name``
    (Microsoft test noise) are ignored; ``op`` and the member names match in any case. Raises
    :class:`InvalidSyntaxError` for a malformed message or an unknown op, :class:`InvalidPathError`
    for a bad path, :class:`NoTargetError` for a remove without a path and
    :class:`InvalidValueError` for an add or replace without a value.
    """
    if body.__class__ is not dict and not isinstance(body, Mapping):  # a JSON object, without the ABC
        raise InvalidSyntaxError("The PATCH request body must be a JSON object")
    found, operations = _member(body, "Operations")
    if not found:
        raise InvalidSyntaxError("The PATCH request body has no 'Operations'")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntaxError("'Operations' must be a non-empty array")
    if len(operations) > max_operations:
        raise InvalidSyntaxError(f"A PATCH request may carry at most {max_operations} operations")
    return tuple(_parse_operation(i, raw, resource_type) for i, raw in enumerate(operations))
