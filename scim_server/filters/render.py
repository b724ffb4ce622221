"""Filter trees back to filter text (RFC 7644 §3.4.2.2): the inverse of :func:`parse_filter`.

``parse_filter(render_filter(tree))`` means what ``tree`` means. A query at the server root narrows one
filter per resource type (``services/search.py``) and hands each narrowed filter, as text, to the
same compile path a resource endpoint's query takes.
"""

from __future__ import annotations

import json

from scim_server.filters.ast import And, Compare, CompValue, Filter, Not, Or, Present, ValuePath


def _value(value: CompValue) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return json.dumps(value, ensure_ascii=False)


def _term(node: Filter) -> str:
    """A term inside ``and``/``or``: logical expressions in parentheses, so precedence is kept."""
    text = render_filter(node)
    return f"({text})" if isinstance(node, And | Or) else text


def render_filter(node: Filter) -> str:
    """The filter text of a tree."""
    if isinstance(node, Compare):
        return f"{node.path} {node.op.value} {_value(node.value)}"
    if isinstance(node, Present):
        return f"{node.path} pr"
    if isinstance(node, ValuePath):
        return f"{node.path}[{render_filter(node.filter)}]"
    if isinstance(node, Not):
        return f"not ({render_filter(node.term)})"
    if isinstance(node, And):
        return " and ".join(_term(term) for term in node.terms)
    return " or ".join(_term(term) for term in node.terms)
