"""Resolve PATCH paths against the catalog (RFC 7644 §3.5.2, §3.10): the attribute, the value filter
compiled to a predicate over one element, and the sub-attribute a path names."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from scim_server.compiler.comparison import matches, typed_operand
from scim_server.compiler.patch.operations import parse_patch_path
from scim_server.errors import (
    InvalidPathError,
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
from scim_server.filters.render import render_filter
from scim_server.schema.attributes import Attribute, Mutability
from scim_server.schema.catalog import (
    ResolvedAttribute,
    ResourceType,
    SchemaExtension,
)
from scim_server.schema.validation import (
    coerce_value,
    is_unassigned,
)

# --- path rendering (for error details) ----------------------------------------------------------



def render_path(path: PatchPath) -> str:
    text = str(path.attr) if path.attr.attr else (path.attr.uri or "")
    if path.filter is not None:
        text += f"[{render_filter(path.filter)}]"
    if path.sub_attr is not None:
        text += f".{path.sub_attr}"
    return text if len(text) <= 200 else f"{text[:197]}..."


# --- targets -------------------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Target:
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
def target_of(text: str, resource_type: ResourceType) -> Target:
    """The resolved target of a path text (parsed and resolved once per text: a target, its compiled
    filter included, is a pure function of the two). Errors are raised, never cached."""
    return resolve_target(parse_patch_path(text, resource_type), resource_type)


@functools.lru_cache(maxsize=1024)
def object_target(key: str, extension_uri: str | None, resource_type: ResourceType) -> Target | None:
    """The target of a key of a no-path value object (inside the extension object ``extension_uri``,
    when given), or ``None`` for a key that names no attribute (ignored, as in a POST body)."""
    try:
        path = parse_patch_path(key, resource_type)
        extension = resource_type.extension(extension_uri) if extension_uri is not None else None
        if extension is not None and path.attr.uri is None:
            path = qualified_path(path, key, extension, resource_type)
        return resolve_target(path, resource_type)
    except InvalidPathError:
        return None


def resolve_target(path: PatchPath, resource_type: ResourceType) -> Target:
    """Resolve a parsed path against the catalog; unknown names are :class:`InvalidPathError`."""
    text = render_path(path)
    attr_path = path.attr
    if not attr_path.attr:
        extension = resource_type.extension(attr_path.uri or "")
        if extension is None or path.filter is not None or path.sub_attr is not None:
            raise InvalidPathError(f"Invalid path '{text}'")
        return Target(text, extension, None)
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
        predicate = compile_value_filter(path.filter, attribute, text)
    return Target(
        text, resolved.extension, attribute, path.filter, predicate, resolved.sub_attribute, resolved
    )


def is_read_only(target: Target) -> bool:
    if target.attribute is None:
        return False
    if target.attribute.mutability is Mutability.READ_ONLY:
        return True
    return target.sub is not None and target.sub.mutability is Mutability.READ_ONLY


# --- value filters inside paths ------------------------------------------------------------------


def filter_sub_attribute(path: AttrPath, attribute: Attribute, text: str) -> Attribute:
    sub = attribute.sub_attribute(path.attr) if path.uri is None and path.sub_attr is None else None
    if sub is None:
        raise InvalidPathError(f"Unknown attribute '{path}' in the filter of path '{text}'")
    return sub


def compile_value_filter(node: Filter, attribute: Attribute, text: str) -> Predicate:
    """A predicate over one element of ``attribute`` (RFC 7644 §3.4.2.2 operators), honouring each
    sub-attribute's caseExact. Unknown sub-attributes and ill-typed comparisons raise
    :class:`InvalidPathError` up front, even when there are no elements to test."""
    if isinstance(node, Compare):
        sub = filter_sub_attribute(node.path, attribute, text)
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
        sub = filter_sub_attribute(node.path, attribute, text)
        return lambda element: not is_unassigned(element.get(sub.name))
    if isinstance(node, And):
        terms = [compile_value_filter(t, attribute, text) for t in node.terms]
        return lambda element: all(term(element) for term in terms)
    if isinstance(node, Or):
        terms = [compile_value_filter(t, attribute, text) for t in node.terms]
        return lambda element: any(term(element) for term in terms)
    if isinstance(node, Not):
        term = compile_value_filter(node.term, attribute, text)
        return lambda element: not term(element)
    raise InvalidPathError(f"Nested value filters are not supported in path '{text}'")


def eq_seed(node: Filter, attribute: Attribute, text: str) -> dict[str, Any] | None:
    """The element a conjunction of ``eq`` terms describes, or ``None`` for any other filter.

    Entra issues ``emails[type eq "work"].value`` even when there is no work email, expecting it to
    be created (ssoready PR#249, SSDK#416).
    """
    terms = node.terms if isinstance(node, And) else (node,)
    seed: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Compare) or term.op is not CompareOp.EQ or term.value is None:
            return None
        sub = filter_sub_attribute(term.path, attribute, text)
        value = coerce_value(ResolvedAttribute(None, attribute, sub), term.value)
        if value is None or (sub.name in seed and seed[sub.name] != value):
            return None
        seed[sub.name] = value
    return seed


def qualified_path(
    path: PatchPath, key: str, extension: SchemaExtension, resource_type: ResourceType
) -> PatchPath:
    """``key`` (parsed as ``path``, without a URN) inside the extension's object: the path qualified by
    the extension's URN, parsed once per text like every other path."""
    try:
        qualified = parse_patch_path(f"{extension.schema.id}:{key}", resource_type)
    except InvalidPathError:
        qualified = None
    expected = replace(path, attr=replace(path.attr, uri=extension.schema.id))
    # The same path either way; a text whose qualified form reads otherwise keeps the direct form.
    return qualified if qualified == expected else expected
