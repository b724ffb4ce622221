"""Apply parsed PATCH operations to a canonical resource (RFC 7644 §3.5.2.1-3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scim_server.compiler.patch.operations import OpName, PatchOperation
from scim_server.compiler.patch.paths import (
    Target,
    eq_seed,
    is_read_only,
    object_target,
    resolve_target,
    target_of,
)
from scim_server.compiler.patch.pruning import prune
from scim_server.errors import (
    InvalidValueError,
    MutabilityError,
    NoTargetError,
)
from scim_server.schema.attributes import Attribute, Mutability
from scim_server.schema.catalog import (
    ResourceType,
    SchemaExtension,
)
from scim_server.schema.mutability import check_immutable
from scim_server.schema.validation import (
    check_resource,
    coerce_value,
    is_unassigned,
)


def _elements(container: dict[str, Any], attribute: Attribute) -> list[Any]:
    existing = container.get(attribute.name)
    if not isinstance(existing, list):
        existing = container[attribute.name] = []
    return existing


def _merge(current: dict[str, Any], new: Mapping[str, Any], cleared: Sequence[str] = ()) -> None:
    """Merge sub-attributes into a complex value (RFC 7644 §3.5.2.1/3: unspecified ones are kept),
    and unassign the ``cleared`` ones (given as null: RFC 7643 §2.5, see :func:`_cleared`).

    ``$ref`` describes ``value``: when the value changes or goes without a new ``$ref``, the old one
    is dropped rather than left pointing at the previous resource.
    """
    changed = "value" in new and new["value"] != current.get("value")
    if (changed or "value" in cleared) and "$ref" not in new:
        current.pop("$ref", None)
    current.update(new)
    for name in cleared:
        current.pop(name, None)


def _cleared(attribute: Attribute, raw: Any) -> tuple[str, ...]:
    """The writable sub-attributes a complex value gives as null (or "", [], {}).

    RFC 7643 §2.5: "Unassigned attributes, the null value, or empty array (in the case of a
    multi-valued attribute) SHALL be considered to be equivalent in 'state'", wherever the null
    appears: ``{"familyName": null}`` unassigns ``familyName`` as ``name.familyName: null`` does.
    """
    if not isinstance(raw, Mapping):
        return ()
    names = []
    for key, item in raw.items():
        if isinstance(key, str) and is_unassigned(item):
            sub = attribute.sub_attribute(key)
            if sub is not None and sub.mutability is not Mutability.READ_ONLY:
                names.append(sub.name)
    return tuple(names)


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
                container[attribute.name] = copy_tree(value)
        return container

    def apply(self, operation: PatchOperation) -> None:
        if operation.path is None:
            self._apply_object(operation.op, operation.value, None)
            return
        if operation.text is not None:
            target = target_of(operation.text, self.resource_type)
        else:
            target = resolve_target(operation.path, self.resource_type)
        if is_read_only(target):
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
            target = object_target(key, uri, self.resource_type)
            if target is not None and not is_read_only(target):
                self._apply_target(op, target, raw)

    def _apply_target(self, op: OpName, target: Target, raw: Any) -> None:
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

    def _apply_extension(self, op: OpName, target: Target, raw: Any) -> None:
        """The whole extension object (``path`` equal to its URN)."""
        assert target.extension is not None
        if op == "remove" or is_unassigned(raw):
            self.touched[target.extension.schema.id] = None
            self.doc.pop(target.extension.schema.id, None)
            return
        if not isinstance(raw, Mapping):
            raise InvalidValueError(f"The value for '{target.text}' must be an object")
        self._apply_object(op, raw, target.extension)

    def _set_attribute(self, op: OpName, target: Target, raw: Any) -> None:
        """add/replace on ``attr`` (RFC 7644 §3.5.2.1, §3.5.2.3)."""
        attribute = target.attr
        container = self._container(target.extension, target.attr)
        value = coerce_value(target.resolved(), raw)
        cleared = _cleared(attribute, raw) if attribute.is_complex and not attribute.multi_valued else ()
        if value is None and not cleared:
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
            _merge(merged, value or {}, cleared)
            container[attribute.name] = merged
        else:
            container[attribute.name] = value

    def _set_sub_attribute(self, target: Target, raw: Any) -> None:
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

    def _set_filtered(self, op: OpName, target: Target, raw: Any) -> None:
        """add/replace on ``attr[filter]`` or ``attr[filter].sub`` (RFC 7644 §3.5.2.3)."""
        attribute, sub = target.attr, target.sub
        assert target.filter is not None
        assert target.predicate is not None
        container = self._container(target.extension, target.attr)
        elements = _elements(container, attribute)
        matches = [e for e in elements if isinstance(e, dict) and target.predicate(e)]
        new: dict[str, Any]
        if sub is None:
            values = coerce_value(target.resolved(), raw)
            one = raw[0] if isinstance(raw, list) and len(raw) == 1 else raw
            cleared = _cleared(attribute, one)
            if values is None and not cleared:
                # Unassigning the selected elements removes them.
                if matches:
                    container[attribute.name] = [e for e in elements if not _contains(matches, e)]
                    return
                new = {}
            else:
                values = values or [{}]
                if len(values) != 1:
                    raise InvalidValueError(f"The value for '{target.text}' must be a single object")
                new = values[0]
                for element in matches:
                    _merge(element, new, cleared)
        else:
            value = coerce_value(target.resolved(), raw)
            new = {} if value is None else {sub.name: value}
            for element in matches:
                _set_sub(element, sub, value)
        if not matches:
            # RFC 7644 §3.5.2.3: a filter that matches no record is noTarget. The leniency creates
            # the element an eq filter describes, to hold the value sent: null, "" or an object of
            # nulls holds none, so nothing is created and noTarget stands.
            seed = eq_seed(target.filter, attribute, target.text) if new else None
            if seed is None:
                raise NoTargetError(f"No value matches the filter of path '{target.text}'")
            created = {**seed, **new}
            elements.append(created)
            matches = [created]
        _make_sole_primary(attribute, elements, matches)

    def _remove(self, target: Target, raw: Any) -> None:
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


def copy_tree(value: Any) -> Any:
    """A deep copy of a canonical resource: JSON containers are copied, leaves (str, numbers, bool,
    None, datetime) are immutable and shared, so only containers are copied."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


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
            pruned = prune(doc[key])
            if pruned is None:
                del doc[key]
            else:
                doc[key] = pruned
    result = doc
    check_immutable(resource, result, resource_type)
    check_resource(result, resource_type, keys=applier.touched)
    return result
