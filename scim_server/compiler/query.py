"""Compile a filter AST into a MongoDB query document (RFC 7644 §3.4.2.2).

Pure: the output depends only on the AST and the resource type, so the same filter always yields the
same dict (callers may cache it). Field names come only from the catalog and the layout rules of
:mod:`scim_server.schema.layout`; text from the request appears only in value positions, and regex
operands are escaped, so no filter can inject a Mongo operator or pattern.

Nothing in a filter is silently dropped: an unknown attribute, URN or sub-attribute, a value of the
wrong type and an operator that makes no sense for the attribute's type all raise
:class:`~scim_server.errors.InvalidFilterError` (400 ``invalidFilter``).

Decisions beyond the RFC text:

* ``attr eq null`` means "not present" and ``attr ne null`` means "present" (RFC 7643 §2.5 treats
  null, an empty string and an empty array as unassigned), so they compile to ``not (attr pr)`` and
  ``attr pr``. Other operators with ``null`` are errors.
* A complex attribute used without a sub-attribute is compared through its ``value`` sub-attribute
  (RFC 7644 §3.4.2.2, for multi-valued ones; the same is done for the enterprise ``manager``, which
  Entra compares as ``manager eq "<id>"``). A complex attribute without ``value``, or any complex
  attribute with ``gt``/``ge``/``lt``/``le``, is an error.
* ``schemas`` is not stored: the core URN matches every resource, an extension URN matches the
  resources holding a non-empty extension object, any other URN matches none.
* ``meta.resourceType`` is constant per collection; ``meta.location`` and ``meta.version`` are
  rendered (a URL, an ETag) rather than stored in that form, so comparing them is an error
  (``pr`` on them, as on ``meta.resourceType``, matches every resource).
* Group membership is stored apart, as (group, member) pairs (see :mod:`scim_server.schema.layout`).
  A user's ``groups.value eq "<group>"`` and a group's ``members.value eq "<member>"`` therefore need
  the related ids, which the caller looks up first (:func:`membership_references` says for which ids)
  and passes as ``related``; they compile to ``_id`` ``$in`` those ids, and the compiler stays pure.
  Only ``value eq "<id>"`` (alone, or joined by and/or inside brackets) can be filtered on these
  derived attributes: ``ne``, ``pr`` and a ``not`` inside brackets would hold through ids the filter
  does not name, which only every membership could answer, so they are errors rather than guesses
  (``not (groups.value eq "<id>")`` finds the resources not related to the id).
* On a multi-valued attribute every operator means "some value matches" (RFC 7644 §3.4.2.2): a
  dotted path does that in Mongo for every operator but ``$ne``. The values of ``emails.type`` are
  the assigned types (an element without one adds none), and with no value the attribute is null,
  which is not the operand: ``ne`` is "some assigned value differs, or none is assigned"
  (:func:`_multi_valued_ne`).
* Brackets on a single-valued complex attribute (``name[...]``) apply to its value, which must be
  there (RFC 7644 §3.4.2.2, Table 5). Inside ``$elemMatch`` the query stays flat for portability: no
  ``$and``, and ``not`` pushed down to the fields (:func:`_element_conjunction`,
  :func:`_element_negation`).
* Value typing and comparison follow :mod:`scim_server.compiler.comparison`, the rule PATCH value
  filters use too. A conjunction is one query document when its keys differ (no ``$and``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim_server.compiler.comparison import (
    ALLOWED_OPS,
    ORDERING_OPS,
    STRING_TYPES,
    matches,
    typed_operand,
)
from scim_server.errors import InvalidFilterError
from scim_server.filters.ast import (
    And,
    AttrPath,
    Compare,
    CompareOp,
    CompValue,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
)
from scim_server.schema.attributes import Attribute, Mutability, Returned
from scim_server.schema.catalog import (
    GROUP_MEMBERS,
    META,
    USER_GROUPS,
    ResolvedAttribute,
    ResourceType,
    SchemaExtension,
)
from scim_server.schema.layout import ID_FIELD, element_query_path, field_path, query_path

Query = dict[str, Any]


def match_all() -> Query:
    """A query matching every document: an explicit predicate rather than ``{}``, valid in any position."""
    return {"_id": {"$exists": True}}


def match_none() -> Query:
    """A query matching no document."""
    return {"_id": {"$exists": False}}


_EQ, _NE = CompareOp.EQ, CompareOp.NE

# One row per SCIM operator: how the value (typed and case-folded by :func:`typed_operand`) becomes a
# Mongo condition.
_OPERATORS: dict[CompareOp, Callable[[Any], Any]] = {
    CompareOp.EQ: lambda v: v,
    CompareOp.NE: lambda v: {"$ne": v},
    CompareOp.CO: lambda v: {"$regex": re.escape(v)},
    CompareOp.SW: lambda v: {"$regex": "^" + re.escape(v)},
    CompareOp.EW: lambda v: {"$regex": re.escape(v) + "$"},
    CompareOp.GT: lambda v: {"$gt": v},
    CompareOp.GE: lambda v: {"$gte": v},
    CompareOp.LT: lambda v: {"$lt": v},
    CompareOp.LE: lambda v: {"$lte": v},
}


def compile_filter(
    filter: Filter,
    resource_type: ResourceType,
    *,
    related: Mapping[str, Sequence[str]] | None = None,
) -> Query:
    """Compile a parsed SCIM filter into a MongoDB query for ``resource_type``'s collection.

    RFC 7644 §3.4.2.2. Raises :class:`InvalidFilterError` naming the offending attribute as written.
    ``related`` maps each id of :func:`membership_references` to the ids of the resources of this
    type related to it by membership: for Users, a group's direct members; for Groups, the groups a
    member directly belongs to. It is needed only when the filter names ``groups`` or ``members``.
    """
    return _Compiler(resource_type, related or {}).compile(filter, None)


def string_comparison(
    path: AttrPath, op: CompareOp, resource_type: ResourceType
) -> Callable[[str], Query] | None:
    """``compile_filter(Compare(path, op, value))`` as a function of the string ``value``, for a
    comparison of a string attribute at the root (an IdP's probe: ``userName eq "…"``), or None.

    None when the query depends on more than the string (``groups``/``members``, ``schemas``,
    ``meta``), or when ``compile_filter`` refuses some or every string for it (an unknown or hidden
    attribute, an operator the attribute does not allow, a non-string attribute): such comparisons
    are compiled, or refused, by :func:`compile_filter` itself. Whenever the function is returned,
    it builds exactly what ``compile_filter`` builds (``tests/compiler/test_query.py`` holds it to
    that for every attribute and operator), so it can be kept per path and operator and used for
    every new string: a probe's text is new each time, its shape is not.
    """
    return _Compiler(resource_type, {}).string_comparison(path, op)


def membership_references(filter: Filter, resource_type: ResourceType) -> frozenset[str]:
    """The ids a filter compares ``groups.value`` or ``members.value`` with: what ``related`` must cover."""
    found: set[str] = set()

    def visit(node: Filter, parent: AttrPath | None) -> None:
        if isinstance(node, And | Or):
            for term in node.terms:
                visit(term, parent)
        elif isinstance(node, Not):
            visit(node.term, parent)
        elif isinstance(node, ValuePath):
            visit(node.filter, node.path)
        elif isinstance(node, Compare) and isinstance(node.value, str):
            if parent is None:
                resolved = resource_type.resolve(node.path.uri, node.path.attr, node.path.sub_attr)
            elif node.path.uri is None and node.path.sub_attr is None:
                resolved = resource_type.resolve(parent.uri, parent.attr, node.path.attr)
            else:
                resolved = None
            if resolved is not None and _is_derived(resolved):
                found.add(node.value)

    visit(filter, None)
    return frozenset(found)


def with_value_sub_attribute(resolved: ResolvedAttribute) -> ResolvedAttribute | None:
    """A complex attribute named without a sub-attribute stands for its ``value`` sub-attribute.

    Returns ``resolved`` unchanged when it already names a simple attribute, and ``None`` for a
    complex attribute that has no ``value`` (``name``, ``addresses``, ``meta``).
    """
    if resolved.sub_attribute is not None or not resolved.attribute.is_complex:
        return resolved
    value = resolved.attribute.sub_attribute("value")
    if value is None:
        return None
    return ResolvedAttribute(resolved.extension, resolved.attribute, value)


def is_hidden(resolved: ResolvedAttribute) -> bool:
    """True for attributes a client can never read back (``password``), which must not be probed."""
    return any(
        a.returned is Returned.NEVER or a.mutability is Mutability.WRITE_ONLY
        for a in (resolved.attribute, resolved.sub_attribute)
        if a is not None
    )


@dataclass(frozen=True, slots=True)
class _Leaf:
    """A resolved attribute path and where its values are, at the root or inside one element."""

    resolved: ResolvedAttribute
    text: str
    # True inside ``$elemMatch``: paths are relative to one element of ``resolved.attribute``.
    in_element: bool

    @property
    def attribute(self) -> Attribute:
        return self.resolved.leaf

    def value_path(self) -> str:
        if self.in_element:
            assert self.resolved.sub_attribute is not None
            return self.resolved.sub_attribute.name
        return field_path(self.resolved)

    def query_path(self) -> str:
        if self.in_element:
            assert self.resolved.sub_attribute is not None
            return element_query_path(self.resolved.sub_attribute)
        return query_path(self.resolved)


class _Compiler:
    def __init__(self, resource_type: ResourceType, related: Mapping[str, Sequence[str]]) -> None:
        self.resource_type = resource_type
        self.related = related

    def compile(self, node: Filter, element_of: AttrPath | None) -> Query:
        """Compile ``node``; ``element_of`` is the multi-valued attribute whose element we are inside."""
        if isinstance(node, Compare):
            return self._compare(node, element_of)
        if isinstance(node, Present):
            return self._present(node.path, element_of)
        if isinstance(node, And):
            terms = [self.compile(t, element_of) for t in node.terms]
            return _conjunction(terms) if element_of is None else _element_conjunction(terms)
        if isinstance(node, Or):
            terms = [self.compile(t, element_of) for t in node.terms]
            return terms[0] if len(terms) == 1 else {"$or": terms}
        if isinstance(node, Not):
            term = self.compile(node.term, element_of)
            return {"$nor": [term]} if element_of is None else _element_negation(term)
        return self._value_path(node, element_of)

    # -- attribute resolution -------------------------------------------------------------------

    def _check_uri(self, path: AttrPath) -> None:
        uri = path.uri
        if (
            uri is not None
            and not self.resource_type.is_core_uri(uri)
            and self.resource_type.extension(uri) is None
        ):
            raise InvalidFilterError(f'Unknown schema URN "{uri}" in filter attribute "{path}".')

    def _is_schemas(self, path: AttrPath, element_of: AttrPath | None) -> bool:
        return (
            element_of is None
            and path.attr.lower() == "schemas"
            and path.sub_attr is None
            and (path.uri is None or self.resource_type.is_core_uri(path.uri))
        )

    def _resolve(self, path: AttrPath, element_of: AttrPath | None) -> _Leaf:
        if element_of is None:
            self._check_uri(path)
            resolved = self.resource_type.resolve(path.uri, path.attr, path.sub_attr)
            text = str(path)
            in_element = False
        else:
            text = f"{element_of}[{path}]"
            if path.uri is not None or path.sub_attr is not None:
                raise InvalidFilterError(
                    f'Unknown sub-attribute "{path}" of "{element_of}" in filter: inside brackets, '
                    "name a sub-attribute of the bracketed attribute."
                )
            resolved = self.resource_type.resolve(element_of.uri, element_of.attr, path.attr)
            in_element = True
        if resolved is None:
            raise InvalidFilterError(f'Unknown attribute "{text}" in filter.')
        if is_hidden(resolved):
            raise InvalidFilterError(f'Attribute "{text}" is never returned and cannot be used in a filter.')
        return _Leaf(resolved, text, in_element)

    # -- presence ---------------------------------------------------------------------------------

    def _present(self, path: AttrPath, element_of: AttrPath | None) -> Query:
        """``attr pr`` (RFC 7644 §3.4.2.2): a non-empty value, or a complex value with a non-empty node."""
        if self._is_schemas(path, element_of):
            return match_all()
        leaf = self._resolve(path, element_of)
        resolved = leaf.resolved
        if _is_derived(resolved):
            return self._derived(leaf, None, None)
        if resolved.attribute is META and resolved.sub_attribute is not None:
            name = resolved.sub_attribute.name
            if name in ("resourceType", "location", "version"):
                # Rendered for every resource.
                return match_all()
        attribute = leaf.attribute
        if leaf.in_element:
            return {leaf.value_path(): self._non_empty(attribute)}
        if resolved.sub_attribute is not None and resolved.attribute.multi_valued:
            # Some element has a non-empty sub-attribute; a dotted path with $nin would instead
            # demand that no element lacks it.
            return {
                field_path(ResolvedAttribute(resolved.extension, resolved.attribute)): {
                    "$elemMatch": {resolved.sub_attribute.name: self._non_empty(attribute)}
                }
            }
        if attribute.multi_valued:
            return {leaf.value_path() + ".0": {"$exists": True}}
        return {leaf.value_path(): self._non_empty(attribute)}

    @staticmethod
    def _non_empty(attribute: Attribute) -> Query:
        """Present and non-empty: RFC 7643 §2.5 treats null and "" (or {}) as unassigned."""
        return {"$exists": True, "$nin": [None, {} if attribute.is_complex else ""]}

    # -- comparison -------------------------------------------------------------------------------

    def _compare(self, node: Compare, element_of: AttrPath | None) -> Query:
        path, op, value = node.path, node.op, node.value
        if value is None:
            if op is _EQ:
                present = self._present(path, element_of)
                return _negate(present) if element_of is None else _element_negation(present)
            if op is _NE:
                return self._present(path, element_of)
            raise InvalidFilterError(f'Operator "{op}" cannot compare "{path}" with null; use eq, ne or pr.')
        if self._is_schemas(path, element_of):
            return self._compare_schemas(node)
        leaf = self._resolve(path, element_of)
        resolved = leaf.resolved
        if _is_derived(resolved):
            return self._derived(leaf, op, value)
        if resolved.attribute is META and resolved.sub_attribute is not None:
            special = self._compare_meta(leaf, op, value)
            if special is not None:
                return special
        leaf = self._compared(leaf, path, op)
        typed = typed_operand(leaf.attribute, op, value, leaf.text, InvalidFilterError)
        return _comparison(leaf, op, typed)

    @staticmethod
    def _compared(leaf: _Leaf, path: AttrPath, op: CompareOp) -> _Leaf:
        """The leaf a comparison reads: a complex attribute is compared through its ``value``."""
        resolved = leaf.resolved
        if not resolved.leaf.is_complex:
            return leaf
        if op in ORDERING_OPS:
            raise InvalidFilterError(
                f'Operator "{op}" cannot be used with complex attribute "{leaf.text}"; '
                "name one of its sub-attributes."
            )
        redirected = with_value_sub_attribute(resolved)
        if redirected is None:
            raise InvalidFilterError(
                f'Attribute "{leaf.text}" is complex; filter on one of its sub-attributes '
                f'(for example "{path.attr}.<subAttribute>") or use "pr".'
            )
        return _Leaf(redirected, leaf.text, leaf.in_element)

    def string_comparison(self, path: AttrPath, op: CompareOp) -> Callable[[str], Query] | None:
        """See :func:`string_comparison`."""
        if self._is_schemas(path, None):
            return None
        try:
            leaf = self._resolve(path, None)
            if _is_derived(leaf.resolved) or leaf.resolved.attribute is META:
                return None
            leaf = self._compared(leaf, path, op)
        except InvalidFilterError:
            return None
        attribute = leaf.attribute
        if attribute.type not in STRING_TYPES or op not in ALLOWED_OPS[attribute.type]:
            return None
        if _needs_any_element(leaf, op):
            fold = attribute.folds_case
            return lambda value: _comparison(leaf, op, value.lower() if fold else value)
        field, operator = leaf.query_path(), _OPERATORS[op]
        if attribute.folds_case:
            return lambda value: {field: operator(value.lower())}
        return lambda value: {field: operator(value)}

    def _derived(self, leaf: _Leaf, op: CompareOp | None, value: CompValue) -> Query:
        """Membership attributes (a user's ``groups``, a group's ``members``): ``value eq "<id>"``."""
        return {ID_FIELD: {"$in": sorted(self.related[_derived_id(leaf, op, value)])}}

    def _compare_meta(self, leaf: _Leaf, op: CompareOp, value: str | bool | int | float) -> Query | None:
        assert leaf.resolved.sub_attribute is not None
        name = leaf.resolved.sub_attribute.name
        if name in ("location", "version"):
            raise InvalidFilterError(f'Attribute "{leaf.text}" cannot be used in a filter.')
        if name != "resourceType":
            return None
        # Constant per collection: the comparison is decided here, by the one rule (caseExact,
        # RFC 7643 §3.1).
        attribute = leaf.resolved.sub_attribute
        typed = typed_operand(attribute, op, value, leaf.text, InvalidFilterError)
        return match_all() if matches(self.resource_type.name, op, typed, attribute) else match_none()

    def _compare_schemas(self, node: Compare) -> Query:
        """``schemas`` is derived from the stored extensions (RFC 7643 §3: the schema URNs in use)."""
        op, value = node.op, node.value
        if op in ORDERING_OPS:
            raise InvalidFilterError(f'Operator "{op}" cannot be used with "{node.path}".')
        if not isinstance(value, str):
            raise InvalidFilterError(f'Attribute "{node.path}" must be compared with a URN string.')
        wanted = value.lower()
        if op is _NE:
            # Some URN of the resource differs (RFC 7644 §3.4.2.2, any value of a multi-valued
            # attribute): the core URN, always there, unless it is the operand; then an extension's.
            if wanted != self.resource_type.schema.id.lower():
                return match_all()
            present = [_extension_present(ext) for ext in self.resource_type.extensions]
            if not present:
                return match_none()
            return present[0] if len(present) == 1 else {"$or": present}

        def hit(uri: str) -> bool:
            low = uri.lower()
            if op is CompareOp.CO:
                return wanted in low
            if op is CompareOp.SW:
                return low.startswith(wanted)
            if op is CompareOp.EW:
                return low.endswith(wanted)
            return low == wanted

        if hit(self.resource_type.schema.id):
            return match_all()
        clauses = [
            _extension_present(ext)
            for ext in self.resource_type.extensions
            if any(hit(uri) for uri in (ext.schema.id, *ext.aliases))
        ]
        if not clauses:
            return match_none()
        return clauses[0] if len(clauses) == 1 else {"$or": clauses}

    # -- value paths ------------------------------------------------------------------------------

    def _value_path(self, node: ValuePath, element_of: AttrPath | None) -> Query:
        """``attr[valFilter]``: one element must satisfy the whole inner filter (RFC 7644 §3.4.2.2)."""
        path = node.path
        if element_of is not None:
            raise InvalidFilterError(f'Value filters cannot be nested: "{path}" inside "{element_of}[...]".')
        if path.sub_attr is not None:
            raise InvalidFilterError(f'A value filter must follow a complex attribute, not "{path}".')
        leaf = self._resolve(path, None)
        attribute = leaf.attribute
        if not attribute.is_complex:
            raise InvalidFilterError(
                f'Attribute "{path}" is not complex and cannot take a value filter "[...]".'
            )
        if _is_derived(leaf.resolved):
            return self._derived_value_path(node, leaf)
        if attribute.multi_valued:
            return {leaf.value_path(): {"$elemMatch": self.compile(node.filter, path)}}
        # A single complex value: its sub-attributes are plain dotted paths, and the value must be
        # there, since the bracketed filter applies to a value of the attribute (RFC 7644 §3.4.2.2,
        # Table 5): name[givenName ne "x"] does not match a user without a name.
        # meta is rendered for every resource.
        inner = self.compile(_qualify(node.filter, path), None)
        if attribute is META or inner == match_none():
            return inner
        present = self._present(path, None)
        return present if inner == match_all() else _conjunction([present, inner])

    def _derived_value_path(self, node: ValuePath, leaf: _Leaf) -> Query:
        """``groups[...]``/``members[...]``: the filter applies to one related id (RFC 7644 §3.4.2.2,
        "applied to the same value"), so a resource matches when one of its related ids satisfies it.

        Only ``value eq "<id>"`` terms joined by and/or are answered: such a filter holds for no id
        it does not name, so the resources related to the named ids that satisfy it are exactly the
        answer. ``ne``, ``not`` and ``pr`` would hold for ids the filter does not name, which only
        every membership of the organization could answer: they are refused.
        """
        named: list[str] = []

        def check(inner: Filter) -> Callable[[str], bool]:
            if isinstance(inner, And | Or):
                terms = [check(t) for t in inner.terms]
                if isinstance(inner, And):
                    return lambda id_: all(t(id_) for t in terms)
                return lambda id_: any(t(id_) for t in terms)
            if isinstance(inner, Compare):
                target = self._resolve(inner.path, node.path)
                wanted = _derived_id(target, inner.op, inner.value)
                named.append(wanted)
                return lambda id_: id_ == wanted
            name = leaf.resolved.attribute.name
            raise InvalidFilterError(
                f'The value filter of "{node.path}" supports only value eq "<id>" terms joined by and '
                f'or or; to find the resources without a related id, use not ({name}.value eq "<id>").'
            )

        holds = check(node.filter)
        ids = sorted({related for id_ in dict.fromkeys(named) if holds(id_) for related in self.related[id_]})
        return {ID_FIELD: {"$in": ids}}


def _derived_id(leaf: _Leaf, op: CompareOp | None, value: CompValue) -> str:
    """The id a comparison on a membership attribute names; only ``value eq "<id>"`` is answered.

    ``ne`` (some related id other than this one, RFC 7644 §3.4.2.2) and ``pr`` (``op`` None) would
    need every membership of the organization; "not related to it" is the complement of eq.
    """
    resolved = leaf.resolved
    sub = resolved.sub_attribute
    name = resolved.attribute.name
    if sub is not None and sub.name != "value":
        raise InvalidFilterError(
            f'Attribute "{leaf.text}" cannot be used in a filter; filter on "{name}.value" instead.'
        )
    if op is _NE:
        raise InvalidFilterError(
            f'Attribute "{leaf.text}" supports only eq; to find the resources without that '
            f'related id, use not ({name}.value eq "<id>").'
        )
    if op is not _EQ:
        raise InvalidFilterError(f'Attribute "{leaf.text}" supports only eq, as in {name}.value eq "<id>".')
    if not isinstance(value, str):
        raise InvalidFilterError(f'Attribute "{leaf.text}" must be compared with an id string.')
    return value


def _conjunction(terms: list[Query]) -> Query:
    """``and``, in the plainest form: one document holding every term when their keys are distinct
    (a query document is the conjunction of its keys), ``$and`` only when two terms share a key.

    Some MongoDB-compatible engines refuse ``$and`` inside ``$elemMatch``; the flat form is accepted
    by every engine and by MongoDB's planner alike.
    """
    if len(terms) == 1:
        return terms[0]
    merged: Query = {}
    for term in terms:
        if not merged.keys().isdisjoint(term):
            return {"$and": terms}
        merged.update(term)
    return merged


def _needs_any_element(leaf: _Leaf, op: CompareOp) -> bool:
    return op is _NE and not leaf.in_element and leaf.resolved.attribute.multi_valued


def _comparison(leaf: _Leaf, op: CompareOp, typed: Any) -> Query:
    """The query of ``leaf op typed`` (the value typed by :func:`typed_operand`)."""
    if _needs_any_element(leaf, op):
        return _multi_valued_ne(leaf.resolved, typed)
    return {leaf.query_path(): _OPERATORS[op](typed)}


def _multi_valued_ne(resolved: ResolvedAttribute, typed: Any) -> Query:
    """``attr ne v`` on a multi-valued attribute (or a sub-attribute of one): some assigned value is
    not ``v``, or there is no assigned value at all.

    RFC 7644 §3.4.2.2: "the filter matches if any of the values of the specified attribute match".
    The values of ``emails.type`` are the assigned ``type`` of the elements: an element without one
    adds no value (as for ``pr`` and ``eq null``). With no value the attribute is unassigned, null
    in RFC 7643 §2.5, and null is not ``v`` (as for a single-valued attribute). On an array, Mongo's
    dotted ``$ne`` would mean "no element equals", hence ``$elemMatch``.
    """
    whole = ResolvedAttribute(resolved.extension, resolved.attribute)
    assigned = [None, ""]
    if resolved.sub_attribute is None:
        some_other: Query = {query_path(whole): {"$elemMatch": {"$nin": [*assigned, typed]}}}
        some_value: Query = {query_path(whole): {"$elemMatch": {"$nin": assigned}}}
    else:
        name = element_query_path(resolved.sub_attribute)
        some_other = {field_path(whole): {"$elemMatch": {name: {"$nin": [*assigned, typed]}}}}
        some_value = {field_path(whole): {"$elemMatch": {resolved.sub_attribute.name: {"$nin": assigned}}}}
    return {"$or": [some_other, {"$nor": [some_value]}]}


def _element_conjunction(terms: list[Query]) -> Query:
    """``and`` inside ``$elemMatch``, flat: one document holding the terms whose keys are distinct;
    when two share a key, the others are linked in below, as the single branch of an ``$or`` (or, when
    ``$or`` is taken by a disjunction, as ``$nor: [{$nor: [...]}]``); both forms are their conjunction
    too. So no ``$and`` appears inside ``$elemMatch``, which some MongoDB-compatible engines refuse."""
    flat = [part for term in terms for part in _conjuncts(term)]
    merged: Query = {}
    rest: list[Query] = []
    for term in flat:
        if rest or not merged.keys().isdisjoint(term):
            rest.append(term)
        else:
            merged.update(term)
    if rest:
        linked = _element_conjunction(rest)
        if "$or" not in merged:
            merged["$or"] = [linked]
        else:
            merged["$nor"] = [{"$nor": [linked]}]
    return merged


def _conjuncts(query: Query) -> list[Query]:
    """A query as a list of documents whose conjunction it is, links of :func:`_element_conjunction`
    undone (a one-branch ``$or``, a ``$nor`` of one ``$nor`` of one document)."""
    own = dict(query)
    parts: list[Query] = []
    branches = own.get("$or")
    if isinstance(branches, list) and len(branches) == 1:
        parts += _conjuncts(own.pop("$or")[0])
    negated = own.get("$nor")
    if (
        isinstance(negated, list)
        and len(negated) == 1
        and negated[0].keys() == {"$nor"}
        and len(negated[0]["$nor"]) == 1
    ):
        parts += _conjuncts(own.pop("$nor")[0]["$nor"][0])
    return [own, *parts] if own else parts


def _element_negation(query: Query) -> Query:
    """``not`` inside ``$elemMatch``, without ``$nor``: the negation pushed down to each field.

    A query document is the conjunction of its keys, so its negation is the disjunction of theirs
    (De Morgan). A field condition is negated with ``$ne``, ``$in``/``$nin`` or ``$not``, each of which
    (like ``$nor``) also holds for an element lacking the field, the unassigned value of RFC 7643 §2.5.
    """
    negated: list[Query] = []
    for key, condition in query.items():
        if key == "$or":
            negated.append(_element_conjunction([_element_negation(term) for term in condition]))
        elif key == "$nor":
            branches = list(condition)
            negated.append(branches[0] if len(branches) == 1 else {"$or": branches})
        else:
            negated.append({key: _negated_condition(condition)})
    return negated[0] if len(negated) == 1 else {"$or": negated}


def _negated_condition(condition: Any) -> Any:
    """The condition a field satisfies exactly when it does not satisfy ``condition``."""
    if not isinstance(condition, dict):
        return {"$ne": condition}
    if condition.keys() == {"$ne"}:
        return {"$eq": condition["$ne"]}
    if (
        condition.keys() in ({"$nin"}, {"$exists", "$nin"})
        and condition.get("$exists", True) is True
        and None in condition["$nin"]
    ):
        # "$nin" with null already demands the field; "$in" with null accepts a missing one.
        return {"$in": condition["$nin"]}
    if condition.keys() == {"$in"} and None in condition["$in"]:
        return {"$nin": condition["$in"]}
    return {"$not": condition}


def _qualify(node: Filter, parent: AttrPath) -> Filter:
    """Rewrite the relative paths inside ``parent[...]`` as ``parent.sub`` (single complex attributes)."""

    def path(inner: AttrPath) -> AttrPath:
        if inner.uri is not None or inner.sub_attr is not None:
            raise InvalidFilterError(f'Unknown sub-attribute "{inner}" of "{parent}" in filter.')
        return AttrPath(parent.uri, parent.attr, inner.attr)

    if isinstance(node, Compare):
        return Compare(path(node.path), node.op, node.value)
    if isinstance(node, Present):
        return Present(path(node.path))
    if isinstance(node, And):
        return And(tuple(_qualify(t, parent) for t in node.terms))
    if isinstance(node, Or):
        return Or(tuple(_qualify(t, parent) for t in node.terms))
    if isinstance(node, Not):
        return Not(_qualify(node.term, parent))
    raise InvalidFilterError(f'Value filters cannot be nested: "{node.path}" inside "{parent}[...]".')


def _is_derived(resolved: ResolvedAttribute) -> bool:
    return resolved.attribute is USER_GROUPS or resolved.attribute is GROUP_MEMBERS


def _negate(query: Query) -> Query:
    if query == match_all():
        return match_none()
    if query == match_none():
        return match_all()
    return {"$nor": [query]}


def _extension_present(extension: SchemaExtension) -> Query:
    return {extension.storage_key: {"$exists": True, "$nin": [None, {}]}}
