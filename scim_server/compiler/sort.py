"""Compile ``sortBy`` / ``sortOrder`` into a MongoDB sort specification (RFC 7644 §3.4.2.3).

Pure, like the filter compiler. Every specification ends with ``_id`` as a tiebreaker (or sorts by a
unique attribute), so the order is total and stays the same across ``startIndex``/``count`` pages (Okta
pages through imports and requires a consistent order). The tiebreaker runs in the same direction as
the sort key, so one ascending index ``(key, _id)`` serves both directions.

Decisions beyond the RFC text:

* Without ``sortBy`` the order is creation order, ``meta.created`` then ``_id``; ``sortOrder`` alone is
  ignored (RFC 7644 §3.4.2.3 defines it only together with ``sortBy``).
* An unknown or unsortable ``sortBy`` raises :class:`~scim_server.errors.InvalidValueError` (400
  ``invalidValue``): the RFC names no error for it, and it is a bad parameter value, not a bad filter.
* caseExact=false strings sort on their lower-cased shadow, i.e. case-insensitively.
* An attribute unique per organization (``userName``, a group's ``displayName``) needs no ``_id``
  tiebreaker, and leaving it out lets the unique index serve the sort.
* A complex attribute sorts by its ``value`` sub-attribute. For a multi-valued one the RFC asks for the
  primary or else the first value; MongoDB sorts an array by its smallest element (largest when
  descending), which is what we offer as the approximation.
* ``meta.resourceType`` is the same for every resource, so sorting by it gives the default order.
"""

from __future__ import annotations

from scim_server.compiler.query import is_hidden, with_value_sub_attribute
from scim_server.errors import InvalidValueError
from scim_server.filters.ast import AttrPath
from scim_server.schema.attributes import Uniqueness
from scim_server.schema.catalog import GROUP_MEMBERS, ID, META, USER_GROUPS, ResourceType
from scim_server.schema.layout import CREATED_FIELD, ID_FIELD, query_path

SortSpec = list[tuple[str, int]]


def default_sort() -> SortSpec:
    """The order used without ``sortBy``: creation order, ``_id`` breaking ties."""
    return [(CREATED_FIELD, 1), (ID_FIELD, 1)]


def compile_sort(sort_by: AttrPath | None, descending: bool, resource_type: ResourceType) -> SortSpec:
    """Compile ``sortBy`` (already parsed as an attribute path) and ``sortOrder`` (RFC 7644 §3.4.2.3).

    Returns ``[(field, direction), ...]`` for ``find().sort()``; raises :class:`InvalidValueError`
    naming the attribute when it is unknown or cannot be sorted.
    """
    if sort_by is None:
        return default_sort()
    uri = sort_by.uri
    if uri is not None and not resource_type.is_core_uri(uri) and resource_type.extension(uri) is None:
        raise InvalidValueError(f'Unknown schema URN "{uri}" in sortBy "{sort_by}".')
    resolved = resource_type.resolve(uri, sort_by.attr, sort_by.sub_attr)
    if resolved is None:
        raise InvalidValueError(f'Unknown attribute "{sort_by}" in sortBy.')
    if is_hidden(resolved):
        raise InvalidValueError(f'Attribute "{sort_by}" is never returned and cannot be used in sortBy.')
    if resolved.attribute is GROUP_MEMBERS or resolved.attribute is USER_GROUPS:
        raise InvalidValueError(
            f'Attribute "{sort_by}" is derived from group membership and cannot be sorted.'
        )
    direction = -1 if descending else 1
    if resolved.attribute is ID:
        return [(ID_FIELD, direction)]
    if resolved.attribute is META and resolved.sub_attribute is not None:
        name = resolved.sub_attribute.name
        if name == "resourceType":
            return default_sort()
        if name in ("location", "version"):
            raise InvalidValueError(f'Attribute "{sort_by}" cannot be used in sortBy.')
    target = with_value_sub_attribute(resolved)
    if target is None:
        raise InvalidValueError(
            f'Attribute "{sort_by}" is complex; sort by one of its sub-attributes instead.'
        )
    if (
        target.sub_attribute is None
        and target.extension is None
        and target.attribute.uniqueness is not Uniqueness.NONE
    ):
        # Unique per organization (a unique index in the store) and always present: no ties to break,
        # and the sort is then served by that index alone. (A declared extension's unique attribute
        # may be absent from many resources, which tie.)
        return [(query_path(target), direction)]
    return [(query_path(target), direction), (ID_FIELD, direction)]
