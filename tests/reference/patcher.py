"""A reference application of PATCH operations to a SCIM resource, from RFC 7644 §3.5.2 and RFC 7643 §2.

Plain and slow, for the property test: it applies the operations the test generates to a resource as
GET returns it (``meta`` left out) and returns the resource the RFC says results, or raises
:class:`RefusalError` naming the rule that lets a server refuse the request. It uses the filter parser
and the attribute catalog, never the server's PATCH compiler.

Beyond the letter of the RFC it models the server's documented IdP leniencies (README, "Identity-provider
compatibility"; ``tests/compiler/test_patch_idp.py``) that the generator can produce:

* a filtered ``add``/``replace`` matching no element, whose filter is a conjunction of ``eq`` terms,
  creates the element from those terms (Entra); with a null (or "") value it creates nothing, and the
  RFC's noTarget stands;
* setting ``primary`` true on an element (by a filtered path or by adding elements) sets it false on the
  other elements (RFC 7643 §2.4 allows one primary; Entra switches it this way);
* ``add`` on a single-valued attribute that has a value replaces it (the RFC's own rule, §3.5.2.1);
* a no-path value object's keys may be attribute paths (``name.givenName``, ``urn:…:User:department``);
* an unqualified extension attribute name (``department``) names the enterprise attribute;
* the strings "True"/"False" (any case) for a boolean.

Inputs the generator avoids (so this module need not model them): ``$ref`` values, readOnly
attributes, sub-attribute paths on multi-valued attributes without a filter (``emails.value``), list
elements that are empty once their nulls are dropped, number-for-string values, the ``remove`` with a
value list form, and ``members``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from scim_server.filters import parse_path
from scim_server.filters.ast import And, Compare, CompareOp, Filter, PatchPath
from scim_server.schema.attributes import Attribute, AttributeType
from scim_server.schema.catalog import ResourceType, SchemaExtension
from tests.reference.evaluator import element_matches

__all__ = ["RefusalError", "apply_operations", "prune"]


class RefusalError(Exception):
    """The request is one the RFC lets the server refuse; ``scim_type`` is the error it names."""

    def __init__(self, scim_type: str, why: str) -> None:
        super().__init__(f"{scim_type}: {why}")
        self.scim_type = scim_type


def prune(value: Any) -> Any:
    """RFC 7643 §2.5: "Unassigned attributes, the null value, or empty array (in the case of a
    multi-valued attribute) SHALL be considered to be equivalent in "state". Assigning an attribute with
    the value "null" or an empty array (in the case of multi-valued attributes) has the effect of making
    the attribute "unassigned"." Empty strings and objects are dropped too; None means unassigned."""
    if isinstance(value, dict):
        kept = {k: p for k, v in value.items() if (p := prune(v)) is not None}
        return kept or None
    if isinstance(value, list):
        items = [p for v in value if (p := prune(v)) is not None]
        return items or None
    if value is None or value == "":
        return None
    return value


def apply_operations(
    resource: Mapping[str, Any], operations: list[dict[str, Any]], rt: ResourceType
) -> dict[str, Any]:
    """The resource after ``operations`` (RFC 7644 §3.5.2), or :class:`RefusalError`.

    §3.5.2: "A PATCH request, regardless of the number of operations, SHALL be treated as atomic. If a
    single operation encounters an error condition, the original target resource MUST be restored, and
    a failure status SHALL be returned." So the work is done on a copy, and a refusal returns nothing.
    """
    doc = copy.deepcopy(dict(resource))
    for operation in operations:
        op = operation["op"].lower()
        path = operation.get("path")
        if path is None:
            # §3.5.2.1: "If omitted, the target location is assumed to be the resource itself. The "value"
            # parameter contains a set of attributes to be added to the resource." (§3.5.2.3 likewise.)
            for key, value in operation["value"].items():
                _apply_path(doc, op, key, value, rt)
        else:
            _apply_path(doc, op, path, operation.get("value"), rt)
    result = prune({k: v for k, v in doc.items() if k != "schemas"}) or {}
    for attribute in rt.schema.attributes:  # the enterprise extension has no multi-valued attribute
        # RFC 7643 §2.4: "The primary attribute value "true" MUST appear no more than once."
        values = result.get(attribute.name)
        if not attribute.multi_valued or not isinstance(values, list):
            continue
        if sum(1 for e in values if isinstance(e, dict) and e.get("primary") is True) > 1:
            raise RefusalError("invalidValue", f"two primary values of {attribute.name}")
    if "userName" not in result and rt.name == "User":
        raise RefusalError("invalidValue", "userName is required (RFC 7643 §4.1)")
    extensions = [e.schema.id for e in rt.extensions if e.schema.id in result]
    # RFC 7643 §3: "schemas ... the list of schemas ... that define the attributes present".
    return {"schemas": [rt.schema.id, *extensions], **result}


# --- paths ----------------------------------------------------------------------------------------


def _apply_path(doc: dict[str, Any], op: str, text: str, value: Any, rt: ResourceType) -> None:
    parsed = parse_path(text, schema_uris=rt.schema_uris)
    if parsed.attr.attr == "":
        extension = rt.extension(parsed.attr.uri or "")
        assert extension is not None
        _apply_extension(doc, op, extension, value, rt)
        return
    resolved = rt.resolve(parsed.attr.uri, parsed.attr.attr)
    assert resolved is not None, text
    holder = doc
    if resolved.extension is not None:
        holder = doc.setdefault(resolved.extension.schema.id, {})
    attribute = resolved.attribute
    sub_name = parsed.attr.sub_attr if parsed.attr.sub_attr is not None else parsed.sub_attr
    sub = None if sub_name is None else _sub(attribute, sub_name)
    if parsed.filter is not None:
        _apply_filtered(holder, op, attribute, parsed, sub, value)
    elif sub is not None:
        _apply_sub(holder, op, attribute, sub, value)
    else:
        _apply_attribute(holder, op, attribute, value)


def _apply_extension(
    doc: dict[str, Any], op: str, extension: SchemaExtension, value: Any, rt: ResourceType
) -> None:
    """The whole extension object: its attributes one by one. ``remove``, null and ``{}`` unassign it all:
    the extension is held like a complex value, and an empty one is the unassigned state (RFC 7643 §2.5;
    the server documents "null, "", [] or {} unassign")."""
    if op == "remove" or _empty(value):
        doc.pop(extension.schema.id, None)
        return
    for key, item in value.items():
        _apply_path(doc, op, f"{extension.schema.id}:{key}", item, rt)


def _sub(attribute: Attribute, name: str) -> Attribute:
    found = attribute.sub_attribute(name)
    assert found is not None, name
    return found


def _typed(attribute: Attribute, value: Any) -> Any:
    """The value as the attribute's type holds it; the Entra strings for booleans. "" stays "": it is
    unassigned (like null) for every type, not the boolean false."""
    if attribute.type is AttributeType.BOOLEAN and isinstance(value, str) and value != "":
        return value.lower() == "true"
    if attribute.is_complex and isinstance(value, dict):
        return {_sub(attribute, k).name: _typed(_sub(attribute, k), v) for k, v in value.items()}
    return value


def _apply_attribute(holder: dict[str, Any], op: str, attribute: Attribute, value: Any) -> None:
    name = attribute.name
    if op == "remove":
        # §3.5.2.2: "If the target location is a single-value attribute, the attribute and its associated
        # value is removed"; "If the target location is a multi-valued attribute and no filter is
        # specified, the attribute and all values are removed".
        holder.pop(name, None)
        return
    if _empty(value):
        # RFC 7643 §2.5: assigning null or an empty array makes the attribute unassigned. Only the value
        # itself: ``{"familyName": null}`` is a complex value with one sub-attribute to unassign.
        holder.pop(name, None)
        return
    if attribute.multi_valued:
        elements = [prune(_typed(attribute, e)) for e in value]
        if op == "replace":
            # §3.5.2.3: "If the target location is a multi-valued attribute and no filter is specified,
            # the attribute and all values are replaced."
            holder[name] = elements
            return
        # §3.5.2.1: "If the target location specifies a multi-valued attribute, a new value is added to
        # the attribute." ... "If the target location already contains the value specified, no changes
        # SHOULD be made to the resource".
        current = holder.setdefault(name, [])
        added = []
        for element in elements:
            if element not in current:
                current.append(element)
                added.append(element)
        _sole_primary(current, added)
        return
    if attribute.is_complex:
        # §3.5.2.3: "If the target location specifies a complex attribute, a set of sub-attributes SHALL
        # be specified in the "value" parameter, which replaces any existing values or adds where an
        # attribute did not previously exist. Sub-attributes that are not specified in the "value"
        # parameter are left unchanged." A null sub-attribute is unassigned (RFC 7643 §2.5).
        existing = holder.get(name)
        holder[name] = _merged(existing if isinstance(existing, dict) else {}, _typed(attribute, value))
        return
    # §3.5.2.1: "If the target location specifies a single-valued attribute, the existing value is
    # replaced."; §3.5.2.3: "If the target location is a single-value attribute, the attributes value is
    # replaced."
    holder[name] = _typed(attribute, value)


def _empty(value: Any) -> bool:
    """null, "", [] or {} as a whole (not a value holding only nulls)."""
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


def _merged(current: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, item in new.items():
        if prune(item) is None:
            merged.pop(key, None)
        else:
            merged[key] = item
    return merged


def _apply_sub(holder: dict[str, Any], op: str, attribute: Attribute, sub: Attribute, value: Any) -> None:
    """``name.givenName`` (a single-valued complex attribute's sub-attribute)."""
    assert not attribute.multi_valued, "the generator sends no unfiltered sub-attribute paths on lists"
    current = dict(holder.get(attribute.name) or {})
    if op == "remove" or prune(value) is None:
        current.pop(sub.name, None)
    else:
        current[sub.name] = _typed(sub, value)
    holder[attribute.name] = current


def _apply_filtered(
    holder: dict[str, Any], op: str, attribute: Attribute, path: PatchPath, sub: Attribute | None, value: Any
) -> None:
    assert path.filter is not None
    elements: list[dict[str, Any]] = holder.setdefault(attribute.name, [])
    matched = [e for e in elements if element_matches(e, path.filter, attribute)]
    if op == "remove":
        if not matched:
            # RFC 7644 §3.12, noTarget: "The specified "path" did not yield an attribute or attribute value
            # that could be operated on. This occurs when the specified "path" value contains a filter
            # that yields no match."
            raise RefusalError("noTarget", "the filter matches no value")
        if sub is None:
            # §3.5.2.2: "If the target location is a complex multi-valued attribute and a complex filter is
            # specified based on the attribute's sub-attributes, the matching records are removed."
            holder[attribute.name] = [e for e in elements if not any(e is m for m in matched)]
        else:
            for element in matched:
                element.pop(sub.name, None)
        return
    if sub is None and _empty(value):
        # Unassigning the selected values removes them (RFC 7643 §2.5, as §3.5.2.3 replaces them).
        if not matched:
            raise RefusalError("noTarget", "the filter matches no value, and null creates none")
        holder[attribute.name] = [e for e in elements if not any(e is m for m in matched)]
        return
    if not matched:
        seed = _eq_seed(path.filter, attribute)
        if seed is None:
            # §3.5.2.3: "If the target location is a multi-valued attribute for which a value selection
            # filter ("valuePath") has been supplied and no record match was made, the service provider
            # SHALL indicate failure by returning HTTP status code 400 and a "scimType" error code of
            # "noTarget"."
            raise RefusalError("noTarget", "the filter matches no value and describes none")
        if prune(value) is None:
            # The leniency creates an element to hold a value; null or "" holds none, so the RFC's
            # noTarget stands (docs/design.md, "Filtered adds").
            raise RefusalError("noTarget", "the filter matches no value, and null creates none")
        elements.append(seed)
        matched = [seed]
    for element in matched:
        if sub is None:
            # §3.5.2.3: "If the target location is a multi-valued attribute and a value selection
            # ("valuePath") filter is specified that matches one or more values of the multi-valued
            # attribute, then all matching record values SHALL be replaced." Each value is complex, and
            # for a complex target "Sub-attributes that are not specified in the "value" parameter are
            # left unchanged" — the server reads it that way, and so does this reference.
            merged = _merged(element, _typed(attribute, value))
            element.clear()
            element.update(merged)
        elif prune(value) is None:
            element.pop(sub.name, None)
        else:
            # §3.5.2.3: "the matching sub-attribute of all matching records is replaced."
            element[sub.name] = _typed(sub, value)
    _sole_primary(elements, matched)


def _eq_seed(node: Filter, attribute: Attribute) -> dict[str, Any] | None:
    """The element a conjunction of ``eq`` terms (with values) describes (the Entra leniency), else None."""
    terms = node.terms if isinstance(node, And) else (node,)
    seed: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Compare) or term.op is not CompareOp.EQ or term.value is None:
            return None
        sub = _sub(attribute, term.path.attr)
        value = _typed(sub, term.value)
        if sub.name in seed and seed[sub.name] != value:
            return None
        seed[sub.name] = value
    return seed


def _sole_primary(elements: list[dict[str, Any]], chosen: list[dict[str, Any]]) -> None:
    """When a chosen element is primary, the others stop being primary (set to false)."""
    if not any(e.get("primary") is True for e in chosen):
        return
    for element in elements:
        if element.get("primary") is True and not any(element is c for c in chosen):
            element["primary"] = False
