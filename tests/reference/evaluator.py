"""A reference evaluator of SCIM filters over one resource, written from RFC 7644 §3.4.2.2 and RFC 7643 §2.

It decides whether a resource, as JSON the way GET returns it (with the derived ``groups`` of a user and
``members`` of a group, and ``meta``), matches a parsed filter. It reads the attribute catalog only for
what the RFC says comes from the schema (type, caseExact, multiValued) and shares no code with the
server's compiler, so the two can be compared. Plain, slow, and meant to be read next to the RFC.

Choices where the RFC is silent, each applied everywhere:

* The values of ``a.b`` (``a`` multi-valued complex) are the assigned ``b`` of its elements; an element
  without ``b`` contributes no value. An attribute with no values at all is unassigned, which RFC 7643
  §2.5 makes the same "state" as null, so it is compared as the single value null: ``eq null`` matches,
  ``ne "x"`` matches, every other operator does not. So ``a eq null`` is ``not (a pr)``, ``a ne null`` is
  ``a pr``.
* Inside ``a[...]`` the filter sees one element; a sub-attribute the element lacks is null there.
* A complex attribute compared without a sub-attribute is compared through its ``value`` sub-attribute
  (RFC 7644 §3.4.2.2 example ``emails co "example.com"``; the enterprise ``manager`` the same way).
* A boolean compared with the string "true" or "false" (any case) compares as that boolean (Entra's
  ``roles[primary eq "True"]``; the server documents this leniency).
* Case folding is ``str.lower`` on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scim_server.filters.ast import And, AttrPath, CompareOp, Filter, Not, Or, Present, ValuePath
from scim_server.schema.attributes import Attribute, AttributeType
from scim_server.schema.catalog import ResourceType

__all__ = ["UnevaluableError", "element_matches", "matches", "parse_instant"]


class UnevaluableError(Exception):
    """The filter has no meaning the RFC gives for this resource type (an unknown attribute, a complex
    attribute without ``value`` compared as a whole, a value of the wrong type)."""


# "schemas" is not in any schema's attribute list (RFC 7643 §3); it is a multi-valued string of URIs,
# with no caseExact given. Compared without regard to case, as schema URNs are everywhere else in a
# filter (RFC 7644 §3.10 names attributes by URN; §3.4.2.2 makes attribute names case-insensitive);
# the server documents the same choice (docs/design.md, "Filters").
_SCHEMAS = Attribute(name="schemas", type=AttributeType.STRING, multi_valued=True, case_exact=False)


def matches(resource: Mapping[str, Any], filter_ast: Filter, resource_type: ResourceType) -> bool:
    """Whether ``resource`` (SCIM JSON) matches ``filter_ast`` (RFC 7644 §3.4.2.2)."""
    return _eval(resource, filter_ast, resource_type)


def _eval(resource: Mapping[str, Any], node: Filter, rt: ResourceType) -> bool:
    # RFC 7644 §3.4.2.2, Table 4: "and: The filter is only a match if both expressions evaluate to true."
    if isinstance(node, And):
        return all(_eval(resource, term, rt) for term in node.terms)
    # "or: The filter is a match if either expression evaluates to true."
    if isinstance(node, Or):
        return any(_eval(resource, term, rt) for term in node.terms)
    # "not: The filter is a match if the expression evaluates to false."
    if isinstance(node, Not):
        return not _eval(resource, node.term, rt)
    if isinstance(node, ValuePath):
        return _value_path(resource, node, rt)
    attribute, values = _values(resource, node.path, rt)
    if isinstance(node, Present):
        # Table 3: "pr: If the attribute has a non-empty value, or if it contains a non-empty node for
        # complex attributes, there is a match."
        return bool(values)
    return _compare_any(values, node.op, node.value, attribute)


def _value_path(resource: Mapping[str, Any], node: ValuePath, rt: ResourceType) -> bool:
    """RFC 7644 §3.4.2.2, Table 5: "[ ]: Service providers MAY support complex filters where expressions
    MUST be applied to the same value of a parent attribute specified immediately before the left square
    bracket ("["). The expression within square brackets ("[" and "]") MUST be a valid filter expression
    based upon sub-attributes of the parent attribute."

    So each element is tried on its own; an attribute without values has no element to match.
    """
    if node.path.sub_attr is not None:
        raise UnevaluableError(f"a value filter must follow a complex attribute, not {node.path}")
    parent, container = _resolve(resource, node.path, rt)
    if not parent.is_complex:
        raise UnevaluableError(f"{node.path} is not complex")
    raw = _get(container, parent.name)
    if parent.multi_valued:
        elements = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    else:
        elements = [raw] if isinstance(raw, Mapping) else []
    return any(
        _eval_element(element, node.filter, parent) for element in elements if not _unassigned(element)
    )


def element_matches(element: Mapping[str, Any], node: Filter, parent: Attribute) -> bool:
    """Whether one value of the complex attribute ``parent`` satisfies a bracketed filter (Table 5)."""
    return _eval_element(element, node, parent)


def _eval_element(element: Mapping[str, Any], node: Filter, parent: Attribute) -> bool:
    """The bracketed filter over ONE element: its paths name sub-attributes of ``parent``."""
    if isinstance(node, And):
        return all(_eval_element(element, term, parent) for term in node.terms)
    if isinstance(node, Or):
        return any(_eval_element(element, term, parent) for term in node.terms)
    if isinstance(node, Not):
        return not _eval_element(element, node.term, parent)
    if isinstance(node, ValuePath):
        raise UnevaluableError("nested value filters")
    path = node.path
    if path.uri is not None or path.sub_attr is not None:
        raise UnevaluableError(f"{path} is not a sub-attribute of {parent.name}")
    sub = _sub(parent, path.attr)
    value = _get(element, sub.name)
    values = [] if _unassigned(value) else [value]
    if isinstance(node, Present):
        return bool(values)
    return _compare_any(values, node.op, node.value, sub)


# --- attribute values ------------------------------------------------------------------------------


def _get(container: Mapping[str, Any] | None, name: str) -> Any:
    """A member by name, case-insensitively (RFC 7643 §2.1: "Attribute names are case insensitive")."""
    if not isinstance(container, Mapping):
        return None
    if name in container:
        return container[name]
    low = name.lower()
    for key, value in container.items():
        if isinstance(key, str) and key.lower() == low:
            return value
    return None


def _unassigned(value: Any) -> bool:
    """RFC 7643 §2.5: "Unassigned attributes, the null value, or empty array (in the case of a
    multi-valued attribute) SHALL be considered to be equivalent in "state"." An empty string and an
    empty object are "empty values" (RFC 7644 §3.4.2.2 ``pr``: "a non-empty value")."""
    if value is None:
        return True
    if isinstance(value, str | list | dict):
        return len(value) == 0
    return False


def _sub(parent: Attribute, name: str) -> Attribute:
    low = name.lower()
    for sub in parent.sub_attributes:
        if sub.name.lower() == low:
            return sub
    raise UnevaluableError(f"{parent.name} has no sub-attribute {name}")


def _resolve(resource: Mapping[str, Any], path: AttrPath, rt: ResourceType) -> tuple[Attribute, Any]:
    """The attribute ``path`` names (without its sub-attribute) and the JSON object holding it.

    RFC 7644 §3.10: an attribute is named "urn:…:attributeName" or, for the core schema and an
    attribute no other schema shares, by its name alone; extension attributes live in the resource
    under the extension's URN (RFC 7643 §3.3).
    """
    uri = path.uri
    if uri is None or uri.lower() == rt.schema.id.lower():
        if path.attr.lower() == "schemas" and uri is None:
            return _SCHEMAS, resource
        resolved = rt.resolve(uri, path.attr)
    else:
        extension = rt.extension(uri)
        if extension is None:
            raise UnevaluableError(f"unknown schema {uri}")
        resolved = rt.resolve(extension.schema.id, path.attr)
    if resolved is None:
        raise UnevaluableError(f"unknown attribute {path}")
    container = resource if resolved.extension is None else _get(resource, resolved.extension.schema.id)
    return resolved.attribute, container


def _values(resource: Mapping[str, Any], path: AttrPath, rt: ResourceType) -> tuple[Attribute, list[Any]]:
    """The assigned values of ``path`` and the (leaf) attribute they have.

    RFC 7644 §3.4.2.2: "If the specified attribute in a filter expression is a multi-valued attribute,
    the filter matches if any of the values of the specified attribute match the specified criterion;
    e.g., if a User has multiple "emails" values, only one has to match for the entire User to match."
    """
    attribute, container = _resolve(resource, path, rt)
    raw = _get(container, attribute.name)
    items: list[Any] = raw if attribute.multi_valued and isinstance(raw, list) else [raw]
    items = [item for item in items if not _unassigned(item)]
    if path.sub_attr is not None:
        if not attribute.is_complex:
            raise UnevaluableError(f"{attribute.name} has no sub-attributes")
        sub = _sub(attribute, path.sub_attr)
        values = [_get(item, sub.name) for item in items]
        return sub, [v for v in values if not _unassigned(v)]
    # A complex value as a whole: for pr its "non-empty node"; for a comparison its "value".
    return attribute, items


# --- comparisons -----------------------------------------------------------------------------------

_ORDERING = (CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE)


def parse_instant(text: str) -> datetime:
    """An xsd:dateTime (RFC 7643 §2.3.5: "MUST be encoded as a valid xsd:dateTime ... and MUST include
    both a date and a time") as an aware instant; no zone means UTC."""
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _compare_any(values: list[Any], op: CompareOp, operand: Any, attribute: Attribute) -> bool:
    """Any value matches (see :func:`_values`); no value at all is null (RFC 7643 §2.5)."""
    if operand is None and op in (CompareOp.EQ, CompareOp.NE):
        # RFC 7643 §2.5: null is the unassigned state; "eq null" asks for it, "ne null" for a value.
        return not values if op is CompareOp.EQ else bool(values)
    if attribute.is_complex:
        # RFC 7644 §3.4.2.2: "For complex attributes, a fully qualified sub-attribute MUST be
        # specified"; the "value" sub-attribute stands for the whole (``emails co "example.com"``).
        value_sub = next((s for s in attribute.sub_attributes if s.name == "value"), None)
        if value_sub is None:
            raise UnevaluableError(f"{attribute.name} is complex and has no value sub-attribute")
        values = [v for v in (_get(item, "value") for item in values) if not _unassigned(v)]
        attribute = value_sub
    candidates: list[Any] = values or [None]
    return any(_compare(value, op, operand, attribute) for value in candidates)


def _compare(value: Any, op: CompareOp, operand: Any, attribute: Attribute) -> bool:
    if operand is None:
        # RFC 7643 §2.5: null is the unassigned state; "eq null" asks for it, "ne null" for a value.
        if op is CompareOp.EQ:
            return value is None
        if op is CompareOp.NE:
            return value is not None
        raise UnevaluableError(f"{op} with null")
    if value is None:
        # Table 3: "ne: The attribute and operator values are not identical." Nothing else holds of null.
        return op is CompareOp.NE
    kind = attribute.type
    if kind in (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY):
        if not isinstance(operand, str) or not isinstance(value, str):
            raise UnevaluableError(f"{attribute.name} compared with {operand!r}")
        # RFC 7644 §3.4.2.2: "When comparing attributes of type String, the case sensitivity for String
        # type attributes SHALL be determined by the attribute's "caseExact" characteristic". References
        # follow the same flag here: RFC 7643 §8.7.1 gives profileUrl and photos.value caseExact false
        # (although §2.3.7 says "A reference is case exact"), and the catalog publishes that.
        if kind is AttributeType.BINARY and op in _ORDERING:
            # Table 3, gt: "Boolean and Binary attributes SHALL cause a failed response".
            raise UnevaluableError(f"binary {attribute.name} {op}")
        if not attribute.case_exact:
            value, operand = value.lower(), operand.lower()
        return _ordered(value, op, operand, substrings=True)
    if kind is AttributeType.BOOLEAN:
        if isinstance(operand, str) and operand.lower() in ("true", "false"):
            operand = operand.lower() == "true"
        if not isinstance(operand, bool) or op not in (CompareOp.EQ, CompareOp.NE):
            # Table 3, gt: "Boolean and Binary attributes SHALL cause a failed response".
            raise UnevaluableError(f"boolean {attribute.name} {op} {operand!r}")
        return (value == operand) is (op is CompareOp.EQ)
    if kind is AttributeType.DATETIME:
        # Table 3, gt: "for DateTime types, it is a chronological comparison": instants, not text.
        if not isinstance(operand, str):
            raise UnevaluableError(f"dateTime {attribute.name} compared with {operand!r}")
        try:
            wanted = parse_instant(operand)
        except ValueError:
            raise UnevaluableError(f"{operand!r} is not a dateTime") from None
        return _ordered(parse_instant(value), op, wanted, substrings=False)
    if kind in (AttributeType.INTEGER, AttributeType.DECIMAL):
        # "For integer attributes, it is a comparison by numeric value."
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise UnevaluableError(f"number {attribute.name} compared with {operand!r}")
        return _ordered(value, op, operand, substrings=False)
    raise UnevaluableError(f"{attribute.name} ({kind}) cannot be compared")


def _ordered(value: Any, op: CompareOp, operand: Any, *, substrings: bool) -> bool:
    """Table 3 of RFC 7644 §3.4.2.2, one row per operator."""
    if op is CompareOp.EQ:
        # "eq: The attribute and operator values must be identical for a match."
        return bool(value == operand)
    if op is CompareOp.NE:
        # "ne: The attribute and operator values are not identical."
        return bool(value != operand)
    if op in (CompareOp.CO, CompareOp.SW, CompareOp.EW):
        if not substrings:
            raise UnevaluableError(f"{op} on a value that is not a string")
        if op is CompareOp.CO:
            # "co: The entire operator value must be a substring of the attribute value for a match."
            return bool(operand in value)
        if op is CompareOp.SW:
            # "sw: The entire operator value must be a substring of the attribute value, starting at the
            # beginning of the attribute value. This criterion is satisfied if the two strings are identical."
            return bool(value.startswith(operand))
        # "ew: ... matching at the end of the attribute value."
        return bool(value.endswith(operand))
    # "gt: If the attribute value is greater than the operator value, there is a match. ... For string
    # attribute types, this is a lexicographical comparison"; ge, lt, le likewise.
    if op is CompareOp.GT:
        return bool(value > operand)
    if op is CompareOp.GE:
        return bool(value >= operand)
    if op is CompareOp.LT:
        return bool(value < operand)
    return bool(value <= operand)
