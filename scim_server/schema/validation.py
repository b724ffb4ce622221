"""Validation and coercion of client-supplied values into the canonical resource form.

RFC 7643 §2 (attribute types and characteristics) and §7 (mutability), RFC 7644 §3.3 and §3.5.1
(POST and PUT bodies). The canonical form is what the rest of the server passes around: catalog
spellings, extension attributes nested under the extension URN (``ext.schema.id``), no ``id``,
``meta`` or ``schemas``, and no unassigned values (RFC 7643 §2.5: null, ``""``, ``[]`` and ``{}``
all mean "no value", so the attribute is simply absent).

Identity providers are lenient writers (see the IdP behaviour notes), so this module is a lenient
reader: keys match case-insensitively, ``"True"``/``"False"`` strings are booleans, integers sent for
string attributes keep their digits, and the enterprise ``manager`` arrives in several shapes. What it
stores is always the RFC form. Error details name the attribute but never echo the value, since a
value may be a password.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from scim_server.errors import InvalidSyntaxError, InvalidValueError
from scim_server.schema.attributes import Attribute, AttributeType, Mutability
from scim_server.schema.catalog import COMMON_ATTRIBUTES, ResolvedAttribute, ResourceType, SchemaExtension
from scim_server.schema.values import parse_datetime

__all__ = [
    "MAX_STRING_LENGTH",
    "check_resource",
    "coerce_resource",
    "coerce_value",
    "is_unassigned",
    "parse_boolean",
    "parse_datetime",
]

# Bodies are size-limited at the HTTP edge; this bounds a single value regardless.
MAX_STRING_LENGTH = 65_536

# Mongo stores integers as int64.
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# Other spellings of sub-attributes, per complex attribute (lower-cased). OneLogin templates send the
# enterprise manager as {"managerId": "…"}.
_SUB_ATTRIBUTE_ALIASES: dict[str, dict[str, str]] = {"manager": {"managerid": "value"}}
_NO_ALIASES: dict[str, str] = {}


_CONTAINERS = frozenset({str, list, dict, tuple})
_SCALARS = frozenset({bool, int, float})


def is_unassigned(value: Any) -> bool:
    """True for the values RFC 7643 §2.5 treats as "no value": null, ``""``, ``[]`` and ``{}``."""
    if value is None:
        return True
    kind = value.__class__
    if kind in _CONTAINERS:  # the usual JSON types, without the slower ABC check
        return len(value) == 0
    if kind in _SCALARS:
        return False
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


def parse_boolean(value: Any) -> bool:
    """A JSON boolean, or the strings ``"true"``/``"false"`` in any case (Entra sends ``"False"``).

    Raises :class:`ValueError` for anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low == "true":
            return True
        if low == "false":
            return False
    raise ValueError("not a boolean")


def attribute_path_text(extension: SchemaExtension | None, *names: str) -> str:
    """The path text used in error details: ``emails.value``, ``urn:…:User:manager.value``."""
    text = ".".join(names)
    return text if extension is None else f"{extension.schema.id}:{text}"


def _coerce_simple(attr: Attribute, value: Any, path: str) -> Any:
    """One value of a simple (non-complex) attribute; ``None`` when unassigned."""
    kind = attr.type
    if value.__class__ is str and kind is AttributeType.STRING:  # the usual case, first
        if not value:
            return None
        if len(value) > MAX_STRING_LENGTH:
            raise InvalidValueError(f"Attribute '{path}' is longer than {MAX_STRING_LENGTH} characters")
        return value
    if is_unassigned(value):
        return None
    if kind in (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY):
        # "Values must be stored as sent" (Entra): a phone number sent as the JSON number
        # 55555555555 keeps its digits. Only integers: a float's text form is not what was sent.
        if isinstance(value, int) and not isinstance(value, bool) and kind is not AttributeType.BINARY:
            value = str(value)
        if not isinstance(value, str):
            raise InvalidValueError(f"Attribute '{path}' must be a string")
        if len(value) > MAX_STRING_LENGTH:
            raise InvalidValueError(f"Attribute '{path}' is longer than {MAX_STRING_LENGTH} characters")
        if kind is AttributeType.BINARY:
            try:
                base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidValueError(f"Attribute '{path}' must be base64-encoded binary") from exc
        return value
    if kind is AttributeType.BOOLEAN:
        try:
            return parse_boolean(value)
        except ValueError as exc:
            raise InvalidValueError(f"Attribute '{path}' must be a boolean") from exc
    if kind is AttributeType.INTEGER:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidValueError(f"Attribute '{path}' must be an integer")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidValueError(f"Attribute '{path}' is out of range")
        return value
    if kind is AttributeType.DECIMAL:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidValueError(f"Attribute '{path}' must be a number")
        try:
            number = float(value)
        except OverflowError as exc:
            raise InvalidValueError(f"Attribute '{path}' is out of range") from exc
        if not math.isfinite(number):
            raise InvalidValueError(f"Attribute '{path}' must be a finite number")
        return number
    if kind is AttributeType.DATETIME:
        try:
            return parse_datetime(value)
        except ValueError as exc:
            raise InvalidValueError(f"Attribute '{path}' must be an RFC 3339 dateTime") from exc
    raise InvalidValueError(f"Attribute '{path}' has an unsupported type")  # pragma: no cover


def _coerce_complex(attr: Attribute, value: Any, path: str) -> dict[str, Any] | None:
    """One value of a complex attribute: known, writable sub-attributes, coerced; ``None`` when empty.

    A bare string or integer given for a complex attribute with a ``value`` sub-attribute is that
    sub-attribute (Entra sends ``"manager": "271"``; members arrive as bare ids).
    """
    if value.__class__ is not dict:  # a JSON object, the usual case, needs none of these checks
        if isinstance(value, str | int) and not isinstance(value, bool):
            if attr.sub_attribute("value") is None:
                raise InvalidValueError(f"Attribute '{path}' must be an object")
            value = {"value": value}
        if not isinstance(value, Mapping):
            raise InvalidValueError(f"Attribute '{path}' must be an object")
    out: dict[str, Any] = {}
    aliased: list[tuple[Attribute, Any]] | None = None
    subs = attr.subs_by_name
    for key, raw in value.items():
        if key.__class__ is not str and not isinstance(key, str):
            continue
        sub = subs.get(key) or attr.sub_attribute(key)
        if sub is None:
            alias = _SUB_ATTRIBUTE_ALIASES.get(attr.name, _NO_ALIASES).get(key.lower())
            if alias is not None and (target := attr.sub_attribute(alias)) is not None:
                aliased = aliased or []
                aliased.append((target, raw))
            continue
        if sub.mutability is Mutability.READ_ONLY:
            continue
        # _is_plain, inline: this loop runs for every sub-attribute of every complex value.
        kind = raw.__class__
        if kind is sub.plain and (kind is bool or 0 < len(raw) <= MAX_STRING_LENGTH):
            out[sub.name] = raw
        else:
            _put_sub(out, sub, raw, path)
    for sub, raw in aliased or ():
        if sub.name not in out:
            _put_sub(out, sub, raw, path)
    return out or None


def _is_plain(attr: Attribute, value: Any) -> bool:
    """Whether ``value`` is already the canonical value of ``attr``, as most values an IdP sends are:
    a non-empty string within the limit for a single-valued string attribute, or a JSON boolean for a
    single-valued boolean one (:attr:`Attribute.plain`). What ``_coerce_attribute`` returns unchanged,
    without its dispatch."""
    kind = value.__class__
    return kind is attr.plain and (kind is bool or 0 < len(value) <= MAX_STRING_LENGTH)


@functools.cache
def _sub_path(path: str, name: str) -> str:
    """The path text of a sub-attribute, for error details; cached, as paths are built from catalog
    names only (a bounded set) and the text is needed for every complex value."""
    return f"{path}.{name}"


def _put_sub(out: dict[str, Any], sub: Attribute, raw: Any, path: str) -> None:
    if sub.mutability is Mutability.READ_ONLY:
        return
    coerced = _coerce_attribute(sub, raw, _sub_path(path, sub.name))
    if coerced is None:
        out.pop(sub.name, None)
    else:
        out[sub.name] = coerced


def _coerce_one(attr: Attribute, value: Any, path: str) -> Any:
    if attr.type is AttributeType.COMPLEX:
        return _coerce_complex(attr, value, path)
    return _coerce_simple(attr, value, path)


def _coerce_attribute(attr: Attribute, value: Any, path: str) -> Any:
    """A whole attribute value: a list for multi-valued, a dict for complex, else a scalar; or None."""
    if value.__class__ is str and not attr.multi_valued and attr.type is AttributeType.STRING:
        return _coerce_simple(attr, value, path)  # the usual case, without the general dispatch
    if is_unassigned(value):
        return None
    if attr.multi_valued:
        items = value if isinstance(value, list | tuple) else [value]
        out = []
        is_complex = attr.type is AttributeType.COMPLEX
        for item in items:
            if is_complex and item.__class__ is dict:  # an element as IdPs send it: straight through
                coerced = _coerce_complex(attr, item, path) if item else None
            else:
                coerced = None if is_unassigned(item) else _coerce_one(attr, item, path)
            if coerced is not None:
                out.append(coerced)
        return out or None
    if isinstance(value, list | tuple):
        # The enterprise manager arrives as a one-element array (Entra's documented example).
        items = [item for item in value if not is_unassigned(item)]
        if not attr.is_complex or len(items) > 1:
            raise InvalidValueError(f"Attribute '{path}' is single-valued")
        if not items:
            return None
        value = items[0]
    return _coerce_one(attr, value, path)


def coerce_value(resolved: ResolvedAttribute, value: Any) -> Any:
    """Coerce ``value`` for the attribute a path resolved to (used by PATCH, RFC 7644 §3.5.2).

    For a multi-valued attribute, a list of canonical elements (a single object or value is wrapped
    into a list); for a complex attribute, a canonical dict (readOnly and unknown sub-attributes
    dropped); for a simple one, the canonical scalar. ``None`` when the value is unassigned.
    Raises :class:`InvalidValueError` naming the attribute path.
    """
    if _is_plain(resolved.leaf, value):
        return value  # the usual PATCH value: a string or a boolean for a simple attribute
    names = [resolved.attribute.name]
    if resolved.sub_attribute is not None:
        names.append(resolved.sub_attribute.name)
    return _coerce_attribute(resolved.leaf, value, attribute_path_text(resolved.extension, *names))


def _qualified_key(key: str, resource_type: ResourceType) -> tuple[str, str] | None:
    """Split ``urn:…:User:attr`` into (URN, attr) for a URN the resource type knows."""
    low = key.lower()
    for uri in resource_type.schema_uris:  # longest first
        if low.startswith(uri.lower() + ":") and len(key) > len(uri) + 1:
            return uri, key[len(uri) + 1 :]
    return None


@functools.cache
def _exact_names(resource_type: ResourceType) -> dict[str, tuple[SchemaExtension | None, Attribute]]:
    """Top-level keys spelled exactly as in the catalog, resolved as ``resolve(None, key)`` would
    (common attributes, then the core schema, then the extensions): most keys skip the case-insensitive
    search. Cached per resource type, a catalog constant."""
    names: dict[str, tuple[SchemaExtension | None, Attribute]] = {}
    for extension in reversed(resource_type.extensions):
        names.update((a.name, (extension, a)) for a in extension.schema.attributes)
    names.update((a.name, (None, a)) for a in resource_type.schema.attributes)
    names.update((a.name, (None, a)) for a in COMMON_ATTRIBUTES)
    # Only where resolve agrees (a name that differs from another only in case could resolve elsewhere).
    names = {
        key: value
        for key, value in names.items()
        if (r := resource_type.resolve(None, key)) is not None
        and r.extension is value[0]
        and r.attribute is value[1]
    }
    return names


def coerce_resource(body: Mapping[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    """Turn a client JSON body (POST, PUT; RFC 7644 §3.3, §3.5.1) into the canonical resource.

    Keys match case-insensitively (RFC 7643 §2.1). readOnly attributes (``id``, ``meta``, ``groups``,
    ``manager.displayName``) are silently dropped (RFC 7643 §7: "SHALL be ignored"), as are ``schemas``
    and unknown attributes. null, ``""``, ``[]`` and ``{}`` leave the attribute absent. Extension
    attributes are accepted nested under their URN (or an alias of it) or as fully qualified
    top-level keys. Raises :class:`InvalidValueError` naming the attribute; does not check
    ``required`` (see :func:`check_resource`).
    """
    if not isinstance(body, Mapping):
        raise InvalidSyntaxError("The request body must be a JSON object")
    out: dict[str, Any] = {}

    def put(extension: SchemaExtension | None, attr: Attribute, raw: Any) -> None:
        if attr.mutability is Mutability.READ_ONLY:
            return
        coerced = _coerce_attribute(attr, raw, attribute_path_text(extension, attr.name))
        if coerced is None:
            return
        if extension is None:
            out[attr.name] = coerced
        else:
            out.setdefault(extension.schema.id, {})[attr.name] = coerced

    exact = _exact_names(resource_type)
    for key, raw in body.items():
        if not isinstance(key, str):
            continue
        found = exact.get(key)
        if found is not None:
            owner, attribute = found
            kind = raw.__class__  # _is_plain, inline: this runs for every attribute of a body
            if (
                owner is None
                and kind is attribute.plain
                and (kind is bool or 0 < len(raw) <= MAX_STRING_LENGTH)
                and attribute.mutability is not Mutability.READ_ONLY
            ):
                out[key] = raw  # a core attribute spelled as in the catalog: its name is the key
            else:
                put(owner, attribute, raw)
            continue
        if key == "schemas":  # in every body, and never an attribute: skip the searches below
            continue
        resolved = resource_type.resolve(None, key)
        if resolved is not None:
            put(resolved.extension, resolved.attribute, raw)
            continue
        extension = resource_type.extension(key)
        if extension is not None:
            if is_unassigned(raw):
                continue
            if not isinstance(raw, Mapping):
                raise InvalidValueError(f"'{extension.schema.id}' must be an object")
            for name, nested in raw.items():
                if isinstance(name, str) and (attr := extension.schema.attribute(name)) is not None:
                    put(extension, attr, nested)
            continue
        qualified = _qualified_key(key, resource_type)
        if qualified is not None:
            resolved = resource_type.resolve(*qualified)
            if resolved is not None:
                put(resolved.extension, resolved.attribute, raw)
        # Anything else (schemas, unknown attributes, unknown extensions) is ignored.
    return out


def _strict_ok(attr: Attribute, item: Any) -> bool:
    allowed = attr.canonical_values
    return item in allowed if attr.case_exact else str(item).lower() in {a.lower() for a in allowed}


def _is_strict(attr: Attribute) -> bool:
    return attr.strict_canonical and bool(attr.canonical_values)


def _required(attr: Attribute) -> bool:
    return attr.required and attr.mutability is not Mutability.READ_ONLY


@dataclass(frozen=True, slots=True)
class _Check:
    """What is checked of one attribute's value: its path text (for details) and, for a complex
    attribute, the sub-attributes that are required or hold a closed canonical set."""

    attribute: Attribute
    path: str
    subs: tuple[Attribute, ...]


@dataclass(frozen=True, slots=True)
class _CheckPlan:
    # (extension URN or None for the root, attribute name, path text) of each required attribute
    required: tuple[tuple[str | None, str, str], ...]
    # The checks of the attributes whose values have rules beyond their type, by the top-level key
    # that holds them: a root attribute's name, or an extension's URN (all its attributes' checks).
    values: dict[str, tuple[_Check, ...]]
    required_extensions: tuple[str, ...]


@functools.cache
def _check_plan(resource_type: ResourceType) -> _CheckPlan:
    """What :func:`check_resource` visits, cached per resource type (a catalog constant)."""
    required: list[tuple[str | None, str, str]] = []
    values: dict[str, list[_Check]] = {}
    common = tuple(a for a in COMMON_ATTRIBUTES if a.mutability is not Mutability.READ_ONLY)
    levels: list[tuple[SchemaExtension | None, tuple[Attribute, ...]]] = [
        (None, common + resource_type.schema.attributes),
        *((ext, ext.schema.attributes) for ext in resource_type.extensions),
    ]
    for extension, attributes in levels:
        urn = None if extension is None else extension.schema.id
        for attr in attributes:
            path = attribute_path_text(extension, attr.name)
            if _required(attr):
                required.append((urn, attr.name, path))
            key = attr.name if urn is None else urn
            if attr.is_complex:
                subs = tuple(sub for sub in attr.sub_attributes if _required(sub) or _is_strict(sub))
                values.setdefault(key, []).append(_Check(attr, path, subs))
            elif _is_strict(attr):
                values.setdefault(key, []).append(_Check(attr, path, ()))
    plan = _CheckPlan(
        tuple(required),
        {key: tuple(checks) for key, checks in values.items()},
        tuple(ext.schema.id for ext in resource_type.extensions if ext.required),
    )
    return plan


def _check_value(check: _Check, value: Any) -> None:
    """Required sub-attributes, a single primary and strict canonical values."""
    attr, path = check.attribute, check.path
    values = value if attr.multi_valued and isinstance(value, list) else [value]
    if not attr.is_complex:
        for item in values:
            if not _strict_ok(attr, item):
                raise InvalidValueError(
                    f"Attribute '{path}' must be one of: {', '.join(attr.canonical_values)}"
                )
        return
    if attr.multi_valued:
        primaries = sum(
            1
            for item in values
            if (item.__class__ is dict or isinstance(item, Mapping)) and item.get("primary") is True
        )
        if primaries > 1:
            raise InvalidValueError(f"At most one value of '{path}' may be primary")
    for item in values:
        if item.__class__ is not dict and not isinstance(item, Mapping):
            raise InvalidValueError(f"Attribute '{path}' must be an object")
        for sub in check.subs:
            sub_value = item.get(sub.name)
            if is_unassigned(sub_value):
                if _required(sub):
                    raise InvalidValueError(f"{path}.{sub.name} is required")
                continue
            sub_values = sub_value if sub.multi_valued and isinstance(sub_value, list) else [sub_value]
            if _is_strict(sub) and not all(_strict_ok(sub, v) for v in sub_values):
                allowed = ", ".join(sub.canonical_values)
                raise InvalidValueError(f"Attribute '{path}.{sub.name}' must be one of: {allowed}")


def check_resource(
    resource: Mapping[str, Any], resource_type: ResourceType, keys: Collection[str] | None = None
) -> None:
    """Whole-resource rules, checked after every write (RFC 7643 §2.2, §2.4, §7).

    Required attributes are present (``userName``: "userName is required"), at most one element of
    each multi-valued attribute is ``primary``, and attributes with a closed canonical set
    (:attr:`Attribute.strict_canonical`) hold one of its values. Raises :class:`InvalidValueError`.
    Only the attributes with such rules are visited (a plan per resource type).

    ``keys``: the top-level keys (attribute names, extension URNs) a PATCH changed; the values of the
    others, checked when they were written, are not visited again. Required attributes always are.
    """
    plan = _check_plan(resource_type)
    for extension_urn in plan.required_extensions:
        if not isinstance(resource.get(extension_urn), Mapping):
            raise InvalidValueError(f"{extension_urn} is required")
    for urn, name, path in plan.required:
        container = resource if urn is None else resource.get(urn)
        if container.__class__ is not dict and not isinstance(container, Mapping):
            continue  # an extension that is absent (and not required) requires nothing
        if is_unassigned(container.get(name)):
            raise InvalidValueError(f"{path} is required")
    # Only the attributes (and extensions) present are visited: the usual resource has a few of the
    # many attributes with such rules.
    values = plan.values
    for key in resource if keys is None else keys:
        checks = values.get(key)
        if checks is None:
            continue
        container = resource.get(key) if ":" in key else resource
        if container.__class__ is not dict and not isinstance(container, Mapping):
            continue
        for check in checks:
            value = container.get(check.attribute.name)
            if not is_unassigned(value):
                _check_value(check, value)
