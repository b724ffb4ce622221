"""PATCH: parse a PatchOp message and apply its operations to a canonical resource (RFC 7644 §3.5.2).

Pure: no I/O, no clock. :func:`apply_patch` works on a deep copy and returns the new canonical
resource, so a failing operation leaves nothing half-applied; the service then stores the result
under its version guard.

Beyond the letter of the RFC, the IdP behaviour notes require (and this module does):

* ``op`` and member names in any case; ``schemas``, a top-level ``id`` and per-operation ``name`` ignored;
* ``add`` on a single-valued attribute is an upsert (Entra sends ``Add`` for attributes already set);
* a no-path value object whose keys are attribute *paths* (``name.givenName``, ``urn:…:User:employeeNumber``);
  readOnly keys there (``id``, ``meta``, ``groups``) and ``schemas`` are ignored (Okta sends ``id``);
* a filtered ``add``/``replace`` matching nothing, whose filter is a conjunction of ``eq`` terms, creates
  the element from those terms (``emails[type eq "work"].value`` when there is no work email);
* setting ``primary`` to true on one element clears it on the others;
* ``remove`` with ``path: "emails"`` and a ``value`` removes only the listed elements, never all of them.

Error choices: a malformed message is ``invalidSyntax``; ``remove`` without a path is ``noTarget``
(RFC 7644 §3.5.2.2); ``add``/``replace`` without a ``value`` member is ``invalidValue`` ("a required value
was missing", RFC 7644 §3.12); an unknown attribute or a filter on a non-multi-valued attribute is
``invalidPath``; an explicit path to a readOnly attribute, or a change to a set immutable one, is
``mutability``; a value filter matching nothing (and not creatable) is ``noTarget``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from scim_server.compiler.comparison import matches, typed_operand
from scim_server.errors import (
    InvalidPathError,
    InvalidSyntaxError,
    InvalidValueError,
    MutabilityError,
    NoTargetError,
    ScimError,
)
from scim_server.filters.ast import (
    And,
    AttrPath,
    Compare,
    CompareOp,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
)
from scim_server.filters.parser import parse_path
from scim_server.schema.attributes import Attribute, Mutability, Returned
from scim_server.schema.catalog import (
    COMMON_ATTRIBUTES,
    ResolvedAttribute,
    ResourceType,
    SchemaExtension,
)
from scim_server.schema.mutability import check_immutable
from scim_server.schema.validation import (
    check_resource,
    coerce_value,
    is_unassigned,
)

__all__ = ["PatchOperation", "apply_patch", "parse_patch_request", "simple_assignments"]

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


# --- parsing -------------------------------------------------------------------------------------


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


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 50 else f"{text[:47]}..."


@functools.lru_cache(maxsize=1024)
def _parse_path(text: str, resource_type: ResourceType) -> PatchPath:
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
        raise InvalidSyntaxError(f"{where} has an unknown op '{_excerpt(op_text)}' (add, remove, replace)")
    path_text = raw["path"] if "path" in raw else _member(raw, "path")[1]
    path: PatchPath | None = None
    if path_text is not None:
        if not isinstance(path_text, str):
            raise InvalidPathError(f"{where}: 'path' must be a string")
        if path_text.strip():
            path = _parse_path(path_text, resource_type)
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


# --- path rendering (for error details) ----------------------------------------------------------


def _render_filter(node: Filter) -> str:
    if isinstance(node, Compare):
        return f"{node.path} {node.op.value} {json.dumps(node.value)}"
    if isinstance(node, Present):
        return f"{node.path} pr"
    if isinstance(node, And):
        return " and ".join(
            f"({_render_filter(t)})" if isinstance(t, Or) else _render_filter(t) for t in node.terms
        )
    if isinstance(node, Or):
        return " or ".join(_render_filter(t) for t in node.terms)
    if isinstance(node, Not):
        return f"not ({_render_filter(node.term)})"
    return f"{node.path}[{_render_filter(node.filter)}]"


def _render_path(path: PatchPath) -> str:
    text = str(path.attr) if path.attr.attr else (path.attr.uri or "")
    if path.filter is not None:
        text += f"[{_render_filter(path.filter)}]"
    if path.sub_attr is not None:
        text += f".{path.sub_attr}"
    return text if len(text) <= 200 else f"{text[:197]}..."


# --- targets -------------------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class _Target:
    """A resolved PATCH path: the attribute (``None`` for a whole extension), filter and sub-attribute."""

    text: str
    extension: SchemaExtension | None
    attribute: Attribute | None
    filter: Filter | None = None
    predicate: Predicate | None = None
    sub: Attribute | None = None
    # The catalog's resolution of the path (extension, attribute, sub-attribute); None for an extension.
    resolution: ResolvedAttribute | None = None

    @property
    def attr(self) -> Attribute:
        assert self.attribute is not None
        return self.attribute

    def resolved(self) -> ResolvedAttribute:
        assert self.resolution is not None
        return self.resolution


@functools.lru_cache(maxsize=1024)
def _target(text: str, resource_type: ResourceType) -> _Target:
    """The resolved target of a path text (parsed and resolved once per text: a target, its compiled
    filter included, is a pure function of the two). Errors are raised, never cached."""
    return _resolve_target(_parse_path(text, resource_type), resource_type)


@functools.lru_cache(maxsize=1024)
def _object_target(key: str, extension_uri: str | None, resource_type: ResourceType) -> _Target | None:
    """The target of a key of a no-path value object (inside the extension object ``extension_uri``,
    when given), or ``None`` for a key that names no attribute (ignored, as in a POST body)."""
    try:
        path = _parse_path(key, resource_type)
        extension = resource_type.extension(extension_uri) if extension_uri is not None else None
        if extension is not None and path.attr.uri is None:
            path = _qualified(path, key, extension, resource_type)
        return _resolve_target(path, resource_type)
    except InvalidPathError:
        return None


def _resolve_target(path: PatchPath, resource_type: ResourceType) -> _Target:
    """Resolve a parsed path against the catalog; unknown names are :class:`InvalidPathError`."""
    text = _render_path(path)
    attr_path = path.attr
    if not attr_path.attr:
        extension = resource_type.extension(attr_path.uri or "")
        if extension is None or path.filter is not None or path.sub_attr is not None:
            raise InvalidPathError(f"Invalid path '{text}'")
        return _Target(text, extension, None)
    if path.filter is not None and attr_path.sub_attr is not None:
        raise InvalidPathError(f"Invalid path '{text}'")
    sub_name = attr_path.sub_attr if attr_path.sub_attr is not None else path.sub_attr
    resolved = resource_type.resolve(attr_path.uri, attr_path.attr, sub_name)
    if resolved is None:
        raise InvalidPathError(f"Unknown attribute path '{text}'")
    attribute = resolved.attribute
    predicate: Predicate | None = None
    if path.filter is not None:
        if not (attribute.multi_valued and attribute.is_complex):
            raise InvalidPathError(
                f"Invalid path '{text}': a value filter needs a multi-valued complex attribute"
            )
        predicate = _compile_filter(path.filter, attribute, text)
    return _Target(
        text, resolved.extension, attribute, path.filter, predicate, resolved.sub_attribute, resolved
    )


def _is_read_only(target: _Target) -> bool:
    if target.attribute is None:
        return False
    if target.attribute.mutability is Mutability.READ_ONLY:
        return True
    return target.sub is not None and target.sub.mutability is Mutability.READ_ONLY


# --- value filters inside paths ------------------------------------------------------------------


def _filter_sub_attribute(path: AttrPath, attribute: Attribute, text: str) -> Attribute:
    sub = attribute.sub_attribute(path.attr) if path.uri is None and path.sub_attr is None else None
    if sub is None:
        raise InvalidPathError(f"Unknown attribute '{path}' in the filter of path '{text}'")
    return sub


def _compile_filter(node: Filter, attribute: Attribute, text: str) -> Predicate:
    """A predicate over one element of ``attribute`` (RFC 7644 §3.4.2.2 operators), honouring each
    sub-attribute's caseExact. Unknown sub-attributes and ill-typed comparisons raise
    :class:`InvalidPathError` up front, even when there are no elements to test."""
    if isinstance(node, Compare):
        sub = _filter_sub_attribute(node.path, attribute, text)
        op = node.op
        expected = typed_operand(
            sub,
            op,
            node.value,
            f"{attribute.name}[{sub.name}]",
            lambda detail: InvalidPathError(f"Invalid path '{text}': {detail}"),
        )
        return lambda element: matches(element.get(sub.name), op, expected, sub)
    if isinstance(node, Present):
        sub = _filter_sub_attribute(node.path, attribute, text)
        return lambda element: not is_unassigned(element.get(sub.name))
    if isinstance(node, And):
        terms = [_compile_filter(t, attribute, text) for t in node.terms]
        return lambda element: all(term(element) for term in terms)
    if isinstance(node, Or):
        terms = [_compile_filter(t, attribute, text) for t in node.terms]
        return lambda element: any(term(element) for term in terms)
    if isinstance(node, Not):
        term = _compile_filter(node.term, attribute, text)
        return lambda element: not term(element)
    raise InvalidPathError(f"Nested value filters are not supported in path '{text}'")


def _eq_seed(node: Filter, attribute: Attribute, text: str) -> dict[str, Any] | None:
    """The element a conjunction of ``eq`` terms describes, or ``None`` for any other filter.

    Entra issues ``emails[type eq "work"].value`` even when there is no work email, expecting it to
    be created (ssoready PR#249, SSDK#416).
    """
    terms = node.terms if isinstance(node, And) else (node,)
    seed: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Compare) or term.op is not CompareOp.EQ or term.value is None:
            return None
        sub = _filter_sub_attribute(term.path, attribute, text)
        value = coerce_value(ResolvedAttribute(None, attribute, sub), term.value)
        if value is None or (sub.name in seed and seed[sub.name] != value):
            return None
        seed[sub.name] = value
    return seed


# --- applying ------------------------------------------------------------------------------------


def _elements(container: dict[str, Any], attribute: Attribute) -> list[Any]:
    existing = container.get(attribute.name)
    if not isinstance(existing, list):
        existing = container[attribute.name] = []
    return existing


def _merge(current: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Merge sub-attributes into a complex value (RFC 7644 §3.5.2.1/3: unspecified ones are kept).

    ``$ref`` describes ``value``: when the value changes without a new ``$ref``, the old one is
    dropped rather than left pointing at the previous resource.
    """
    if "value" in new and new["value"] != current.get("value") and "$ref" not in new:
        current.pop("$ref", None)
    current.update(new)


def _set_sub(element: dict[str, Any], sub: Attribute, value: Any) -> None:
    if value is None:
        element.pop(sub.name, None)
    else:
        element[sub.name] = value


def _make_sole_primary(attribute: Attribute, elements: list[Any], chosen: list[dict[str, Any]]) -> None:
    """Clear ``primary`` on every element but the chosen ones (RFC 7643 §2.4: at most one primary)."""
    if attribute.sub_attribute("primary") is None:
        return
    if not any(element.get("primary") is True for element in chosen):
        return
    for element in elements:
        if isinstance(element, dict) and element.get("primary") is True and not _contains(chosen, element):
            element["primary"] = False


def _contains(items: Sequence[Any], element: Any) -> bool:
    return any(item is element for item in items)


def _same_element(element: Any, listed: Any, attribute: Attribute) -> bool:
    """Whether ``element`` is the one a remove's value lists: by ``value`` when given, else equality."""
    value_sub = attribute.sub_attribute("value")
    if isinstance(listed, Mapping) and isinstance(element, Mapping) and value_sub and "value" in listed:
        mine, theirs = element.get("value"), listed["value"]
        if isinstance(mine, str) and isinstance(theirs, str) and not value_sub.case_exact:
            return mine.lower() == theirs.lower()
        return bool(mine == theirs)
    return bool(element == listed)


def _qualified(
    path: PatchPath, key: str, extension: SchemaExtension, resource_type: ResourceType
) -> PatchPath:
    """``key`` (parsed as ``path``, without a URN) inside the extension's object: the path qualified by
    the extension's URN, parsed once per text like every other path."""
    try:
        qualified = _parse_path(f"{extension.schema.id}:{key}", resource_type)
    except InvalidPathError:
        qualified = None
    expected = replace(path, attr=replace(path.attr, uri=extension.schema.id))
    # The same path either way; a text whose qualified form reads otherwise keeps the direct form.
    return qualified if qualified == expected else expected


class _Applier:
    """Applies operations, in order, to a working copy of a resource that is copied on write.

    ``doc`` starts as a shallow copy: its values are the original resource's. An attribute's value
    (and an extension's object) is deep-copied the first time an operation is about to change it,
    so the original is never mutated and what no operation touches is never copied. ``touched``
    lists the top-level keys (attribute names, extension URNs) that may have changed.
    """

    def __init__(self, doc: dict[str, Any], resource_type: ResourceType) -> None:
        self.doc = doc
        self.resource_type = resource_type
        self.touched: dict[str, None] = {}  # ordered set of top-level keys
        self._owned: set[tuple[str | None, str]] = set()

    def _container(self, extension: SchemaExtension | None, attribute: Attribute) -> dict[str, Any]:
        """The object holding ``attribute`` (the resource, or its extension's object), with the
        attribute's value owned by the working copy: safe to change in place."""
        uri = None if extension is None else extension.schema.id
        if uri is None:
            container = self.doc
            self.touched[attribute.name] = None
        else:
            existing = self.doc.get(uri)
            if uri not in self.touched:
                self.touched[uri] = None
                existing = self.doc[uri] = dict(existing) if isinstance(existing, dict) else {}
            elif not isinstance(existing, dict):
                existing = self.doc[uri] = {}
            container = existing
        key = (uri, attribute.name)
        if key not in self._owned:
            self._owned.add(key)
            value = container.get(attribute.name)
            if isinstance(value, dict | list):
                container[attribute.name] = _copy_tree(value)
        return container

    def apply(self, operation: PatchOperation) -> None:
        if operation.path is None:
            self._apply_object(operation.op, operation.value, None)
            return
        if operation.text is not None:
            target = _target(operation.text, self.resource_type)
        else:
            target = _resolve_target(operation.path, self.resource_type)
        if _is_read_only(target):
            raise MutabilityError(f"Attribute '{target.text}' is readOnly")
        self._apply_target(operation.op, target, operation.value)

    def _apply_object(self, op: OpName, value: Any, extension: SchemaExtension | None) -> None:
        """A value object whose keys are attribute paths (RFC 7644 §3.5.2.1/3 without ``path``;
        Entra's ``{"name.givenName": …, "urn:…:User:employeeNumber": …}``). Each key is applied as its
        own operation. Keys that name no writable attribute (``schemas``, ``id``, ``meta``, ``groups``,
        unknown names) are ignored, as in a POST body."""
        if not isinstance(value, Mapping):
            raise InvalidValueError("Without a 'path', the 'value' must be an object of attributes")
        for key, raw in value.items():
            if not isinstance(key, str) or key.lower() == "schemas":
                continue
            uri = extension.schema.id if extension is not None else None
            target = _object_target(key, uri, self.resource_type)
            if target is not None and not _is_read_only(target):
                self._apply_target(op, target, raw)

    def _apply_target(self, op: OpName, target: _Target, raw: Any) -> None:
        if target.attribute is None:
            self._apply_extension(op, target, raw)
        elif op == "remove":
            self._remove(target, raw)
        elif target.filter is not None:
            self._set_filtered(op, target, raw)
        elif target.sub is not None:
            self._set_sub_attribute(target, raw)
        else:
            self._set_attribute(op, target, raw)

    def _apply_extension(self, op: OpName, target: _Target, raw: Any) -> None:
        """The whole extension object (``path`` equal to its URN)."""
        assert target.extension is not None
        if op == "remove" or is_unassigned(raw):
            self.touched[target.extension.schema.id] = None
            self.doc.pop(target.extension.schema.id, None)
            return
        if not isinstance(raw, Mapping):
            raise InvalidValueError(f"The value for '{target.text}' must be an object")
        self._apply_object(op, raw, target.extension)

    def _set_attribute(self, op: OpName, target: _Target, raw: Any) -> None:
        """add/replace on ``attr`` (RFC 7644 §3.5.2.1, §3.5.2.3)."""
        attribute = target.attr
        container = self._container(target.extension, target.attr)
        value = coerce_value(target.resolved(), raw)
        if value is None:
            # null, "", [] or {} unassign; an object whose keys were all dropped (readOnly or unknown
            # sub-attributes, such as a manager with only displayName) changes nothing.
            if is_unassigned(raw):
                container.pop(attribute.name, None)
        elif attribute.multi_valued:
            if op == "replace":
                container[attribute.name] = value
                return
            elements = _elements(container, attribute)
            added = []
            for element in value:
                if element not in elements:
                    elements.append(element)
                    added.append(element)
            _make_sole_primary(attribute, elements, added)
        elif attribute.is_complex:
            current = container.get(attribute.name)
            merged = dict(current) if isinstance(current, dict) else {}
            _merge(merged, value)
            container[attribute.name] = merged
        else:
            container[attribute.name] = value

    def _set_sub_attribute(self, target: _Target, raw: Any) -> None:
        """add/replace on ``attr.sub`` without a filter: the complex value's sub-attribute, or that
        sub-attribute of every element of a multi-valued attribute (one new element when empty)."""
        attribute, sub = target.attr, target.sub
        assert sub is not None
        container = self._container(target.extension, target.attr)
        value = coerce_value(target.resolved(), raw)
        if attribute.multi_valued:
            elements = _elements(container, attribute)
            if not elements and value is not None:
                elements.append({sub.name: value})
            for element in elements:
                _set_sub(element, sub, value)
            return
        current = container.get(attribute.name)
        merged = dict(current) if isinstance(current, dict) else {}
        if sub.name == "value" and value != merged.get("value"):
            merged.pop("$ref", None)
        _set_sub(merged, sub, value)
        container[attribute.name] = merged

    def _set_filtered(self, op: OpName, target: _Target, raw: Any) -> None:
        """add/replace on ``attr[filter]`` or ``attr[filter].sub`` (RFC 7644 §3.5.2.3)."""
        attribute, sub = target.attr, target.sub
        assert target.filter is not None
        assert target.predicate is not None
        container = self._container(target.extension, target.attr)
        elements = _elements(container, attribute)
        matches = [e for e in elements if isinstance(e, dict) and target.predicate(e)]
        if sub is None:
            values = coerce_value(target.resolved(), raw)
            if values is None:
                # Unassigning the selected elements removes them.
                container[attribute.name] = [e for e in elements if not _contains(matches, e)]
                return
            if len(values) != 1:
                raise InvalidValueError(f"The value for '{target.text}' must be a single object")
            new: dict[str, Any] = values[0]
            for element in matches:
                _merge(element, new)
        else:
            value = coerce_value(target.resolved(), raw)
            if value is None and not matches:
                return
            new = {sub.name: value}
            for element in matches:
                _set_sub(element, sub, value)
        if not matches:
            seed = _eq_seed(target.filter, attribute, target.text)
            if seed is None:
                raise NoTargetError(f"No value matches the filter of path '{target.text}'")
            created = {**seed, **new}
            elements.append(created)
            matches = [created]
        _make_sole_primary(attribute, elements, matches)

    def _remove(self, target: _Target, raw: Any) -> None:
        """remove (RFC 7644 §3.5.2.2), with Entra's ``path: "members"`` plus ``value`` form."""
        attribute, sub = target.attr, target.sub
        container = self._container(target.extension, target.attr)
        if target.predicate is not None:
            elements = _elements(container, attribute)
            matches = [e for e in elements if isinstance(e, dict) and target.predicate(e)]
            if not matches:
                raise NoTargetError(f"No value matches the filter of path '{target.text}'")
            if sub is None:
                container[attribute.name] = [e for e in elements if not _contains(matches, e)]
            else:
                for element in matches:
                    element.pop(sub.name, None)
            return
        current = container.get(attribute.name)
        if sub is not None:
            items = current if isinstance(current, list) else [current]
            for item in items:
                if isinstance(item, dict):
                    item.pop(sub.name, None)
            return
        if attribute.multi_valued and not is_unassigned(raw) and isinstance(current, list):
            listed = coerce_value(target.resolved(), raw) or []
            container[attribute.name] = [
                e for e in current if not any(_same_element(e, item, attribute) for item in listed)
            ]
            return
        container.pop(attribute.name, None)


def _prune(value: Any) -> Any:
    """Drop unassigned values (null, "", [], {}) recursively, so the result is canonical again."""
    if isinstance(value, dict):
        pruned = {k: p for k, v in value.items() if (p := _prune(v)) is not None}
        return pruned or None
    if isinstance(value, list):
        items = [p for v in value if (p := _prune(v)) is not None]
        return items or None
    if isinstance(value, str) and not value:
        return None
    return value


def _copy_tree(value: Any) -> Any:
    """A deep copy of a canonical resource: JSON containers are copied, leaves (str, numbers, bool,
    None, datetime) are immutable and shared. Several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_tree(v) for v in value]
    return value


# --- simple assignments ----------------------------------------------------------------------------


@functools.cache
def _assignable(resource_type: ResourceType) -> frozenset[Attribute]:
    """Single-valued string and boolean attributes of the core schema (and the common ``externalId``)
    that are readWrite, returned, and free of a closed canonical set: a new value for one of them
    depends on nothing else the resource holds, and no whole-resource rule can refuse it."""
    return frozenset(
        attribute
        for attribute in COMMON_ATTRIBUTES + resource_type.schema.attributes
        if attribute.plain is not None
        and attribute.mutability is Mutability.READ_WRITE
        and attribute.returned is not Returned.NEVER
        and not (attribute.strict_canonical and attribute.canonical_values)
    )


def _assigned_value(target: _Target | None, raw: Any, resource_type: ResourceType) -> tuple[str, Any] | None:
    attribute = target.attribute if target is not None else None
    if (
        target is None
        or attribute is None
        or target.extension is not None
        or target.filter is not None
        or target.sub is not None
        or attribute not in _assignable(resource_type)
    ):
        return None
    value = coerce_value(target.resolved(), raw)
    if value.__class__ is not attribute.plain:
        return None  # unassigned (None: null or "" remove the attribute)
    return attribute.name, value


def simple_assignments(
    operations: Sequence[PatchOperation], resource_type: ResourceType
) -> dict[str, Any] | None:
    """The new values a PATCH gives, when it does nothing else: every operation is an ``add`` or a
    ``replace`` of simple single-valued core attributes (:func:`_assignable`), by path or in a no-path
    value object, with values that are not unassigned. By attribute name, the last operation's value
    for each, in the order first named. ``None`` for any other PATCH, and for one that would fail:
    :func:`apply_patch` is then the one to apply it (and to raise).

    Such a PATCH is what :func:`apply_patch` applied to any resource would make of it: the named
    attributes set to these values (coerced as it coerces them), nothing else changed, nothing to
    prune, and no rule of :func:`check_resource` or immutability that could refuse it. So the store can
    apply it as a ``$set`` without the resource being read first (``tests/compiler/test_patch_fuzz.py``
    and ``tests/api/test_patch_assignments.py`` hold the two to the same results).
    """
    assignments: dict[str, Any] = {}
    try:
        for operation in operations:
            if operation.op == "remove":
                return None
            if operation.path is not None:
                if operation.text is not None:
                    target: _Target | None = _target(operation.text, resource_type)
                else:
                    target = _resolve_target(operation.path, resource_type)
                pairs = [(target, operation.value)]
            elif isinstance(operation.value, dict) and operation.value:
                # Every key must name such an attribute: a key apply_patch would skip (schemas, id,
                # an unknown name) or treat otherwise leaves the PATCH to it.
                pairs = [
                    (_object_target(key, None, resource_type), raw)
                    for key, raw in operation.value.items()
                    if isinstance(key, str)
                ]
                if len(pairs) != len(operation.value):
                    return None
            else:
                return None
            for found, raw in pairs:
                assigned = _assigned_value(found, raw, resource_type)
                if assigned is None:
                    return None
                assignments[assigned[0]] = assigned[1]
    except ScimError:
        return None
    return assignments


def apply_patch(
    resource: Mapping[str, Any], operations: Sequence[PatchOperation], resource_type: ResourceType
) -> dict[str, Any]:
    """Apply PATCH operations in order (RFC 7644 §3.5.2) and return the new canonical resource.

    Pure: works on a copy (copied on write, see ``_Applier``), so ``resource`` is never mutated and a
    failing operation (any :class:`ScimError`) leaves nothing partially applied ("each operation ...
    is atomic", §3.5.2).
    The result is pruned of unassigned values and must pass :func:`check_resource` (a patch that
    removes ``userName`` or leaves two primaries fails as a whole) and keep immutable values.
    """
    doc = dict(resource)
    applier = _Applier(doc, resource_type)
    for operation in operations:
        applier.apply(operation)
    # Only what an operation touched can hold unassigned values: the rest is canonical already.
    for key in applier.touched:
        if key in doc:
            pruned = _prune(doc[key])
            if pruned is None:
                del doc[key]
            else:
                doc[key] = pruned
    result = doc
    check_immutable(resource, result, resource_type)
    check_resource(result, resource_type, keys=applier.touched)
    return result
