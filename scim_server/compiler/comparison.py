"""One rule for comparisons: how a filter's comparison value is typed for an attribute, and how two
values compare (RFC 7644 §3.4.2.2 operators over the RFC 7643 §2.3 data types).

Pure. Both the filter compiler (:mod:`scim_server.compiler.query`, which turns the typed value into a
Mongo condition) and PATCH value-path filters (:mod:`scim_server.compiler.patch`, which test elements
in Python with :func:`matches`) take the value from :func:`typed_operand`, so a comparison one of
them accepts the other accepts, and both read it the same way. Each caller passes the error its
entry point raises (``invalidFilter`` for a filter, ``invalidPath`` for a PATCH path).

The rule:

* strings, references and binaries compare with a quoted string only (``userName gt 5`` is an
  error); case folds when the attribute is caseExact false (:attr:`Attribute.folds_case`, the same
  rule that gives the stored document its lower-cased shadow);
* booleans compare with ``true``/``false``, or the strings ``"true"``/``"false"`` in any case
  (Entra sends ``roles[primary eq "True"]``), with eq and ne only;
* dateTimes compare with an RFC 3339 string, integers with a whole number, decimals with a number;
* gt/ge/lt/le on booleans and binaries, and co/sw/ew on anything but strings, are errors
  (RFC 7644 §3.4.2.2: "Boolean and Binary attributes SHALL cause a failed response");
* ``null`` goes with eq and ne only, meaning "not present" and "present" (RFC 7643 §2.5).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from scim_server.errors import ScimError
from scim_server.filters.ast import CompareOp, CompValue
from scim_server.schema.attributes import Attribute, AttributeType
from scim_server.schema.validation import is_unassigned, parse_boolean
from scim_server.schema.values import parse_datetime

EQ, NE = CompareOp.EQ, CompareOp.NE
SUBSTRING_OPS = frozenset({CompareOp.CO, CompareOp.SW, CompareOp.EW})
ORDERING_OPS = frozenset({CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE})
STRING_TYPES = frozenset({AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY})

# Which operators each attribute type allows (RFC 7644 §3.4.2.2).
ALLOWED_OPS: dict[AttributeType, frozenset[CompareOp]] = {
    AttributeType.STRING: frozenset(CompareOp),
    AttributeType.REFERENCE: frozenset(CompareOp),
    AttributeType.BINARY: frozenset({EQ, NE, *SUBSTRING_OPS}),
    AttributeType.BOOLEAN: frozenset({EQ, NE}),
    AttributeType.DATETIME: frozenset({EQ, NE, *ORDERING_OPS}),
    AttributeType.INTEGER: frozenset({EQ, NE, *ORDERING_OPS}),
    AttributeType.DECIMAL: frozenset({EQ, NE, *ORDERING_OPS}),
    AttributeType.COMPLEX: frozenset(),
}


def show(value: CompValue) -> str:
    """A comparison value as the filter spells it, for error details."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 50 else f"{value[:47]}..."
        return f'"{text}"'
    return repr(value)


def typed_operand(
    attribute: Attribute, op: CompareOp, value: CompValue, text: str, error: Callable[[str], ScimError]
) -> Any:
    """``value`` as ``attribute`` holds it (case-folded when the attribute folds case).

    Raises ``error(detail)``, the detail naming ``text``, when ``op`` does not apply to the
    attribute's type or ``value`` has the wrong type. Returns ``None`` for ``null`` with eq or ne
    (the caller reads it as presence)."""
    kind = attribute.type
    if value is None:
        if op is EQ or op is NE:
            return None
        raise error(f'Operator "{op}" cannot compare "{text}" with null; use eq, ne or pr.')
    if op not in ALLOWED_OPS[kind]:
        raise error(f'Operator "{op}" cannot be used with {kind} attribute "{text}".')
    if kind in STRING_TYPES:
        if not isinstance(value, str):
            raise error(
                f'Attribute "{text}" is a {kind}; compare it with a quoted string, not {show(value)}.'
            )
        return value.lower() if attribute.folds_case else value
    if kind is AttributeType.BOOLEAN:
        try:
            return parse_boolean(value)
        except ValueError:
            raise error(f'Attribute "{text}" is a boolean; compare it with true or false.') from None
    if kind is AttributeType.DATETIME:
        if isinstance(value, str):
            try:
                return parse_datetime(value)
            except ValueError:
                pass
        raise error(
            f'Attribute "{text}" is a dateTime; compare it with an RFC 3339 string such as '
            f'"2011-05-13T04:42:34Z", not {show(value)}.'
        )
    if kind is AttributeType.INTEGER:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise error(f'Attribute "{text}" is an integer; compare it with a whole number, not {show(value)}.')
    if kind is AttributeType.DECIMAL:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise error(f'Attribute "{text}" is a decimal; compare it with a number, not {show(value)}.')
    raise error(f'Attribute "{text}" is complex and cannot be compared.')


def matches(actual: Any, op: CompareOp, expected: Any, attribute: Attribute) -> bool:
    """Whether a stored value of ``attribute`` satisfies ``actual op expected``, ``expected`` being
    what :func:`typed_operand` returned. An unassigned value satisfies ``ne`` and ``eq null`` only
    (RFC 7643 §2.5: it is no value at all), as it does in the compiled query."""
    if expected is None:
        present = not is_unassigned(actual)
        return not present if op is EQ else present
    if is_unassigned(actual):
        return op is NE
    if isinstance(actual, str) and attribute.folds_case:
        actual = actual.lower()
    if isinstance(actual, datetime):
        actual = parse_datetime(actual)
    if op is EQ:
        return _same(actual, expected)
    if op is NE:
        return not _same(actual, expected)
    try:
        if op is CompareOp.CO:
            return bool(expected in actual)
        if op is CompareOp.SW:
            return bool(actual.startswith(expected))
        if op is CompareOp.EW:
            return bool(actual.endswith(expected))
        if op is CompareOp.GT:
            return bool(actual > expected)
        if op is CompareOp.GE:
            return bool(actual >= expected)
        if op is CompareOp.LT:
            return bool(actual < expected)
        return bool(actual <= expected)
    except (TypeError, AttributeError):
        return False


def _same(actual: Any, expected: Any) -> bool:
    # A boolean is never equal to a number (Python's True == 1 is not BSON's), nor a string to either.
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    return bool(actual == expected)
