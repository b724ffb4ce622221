"""Where each attribute lives in a stored document (pure naming rules, no I/O).

Documents are near-native SCIM resources. The differences, all derived from the catalog:

* ``id`` is stored as ``_id``; ``meta`` keeps only ``created``, ``lastModified`` (datetimes) and
  ``version`` (an integer); resourceType and location are derived when rendering.
* ``$ref`` sub-attributes are stored as ``ref``: MongoDB reads a ``$ref`` key as the start of a DBRef
  and refuses one without ``$id``, and ``$``-prefixed names are awkward in update paths.
* An extension's attributes live under :attr:`SchemaExtension.storage_key` (the URN without dots).
* Every object that holds case-insensitive strings (``caseExact: false``) carries a ``_lc`` object with
  the lower-cased copies: ``_lc.userName`` at the root, ``name._lc.givenName`` in a complex value and
  ``emails[]._lc.value`` in each element of a multi-valued one. Equality, prefix, sorting and unique
  indexes use these shadows, so they stay index-backed and need no collation (which mongomock lacks).

* Group membership is not in either document: each (group, member) pair is one small document in the
  organization's ``memberships`` collection (``{_id: "<group>/<member>", g, m, t}``). No document grows
  with a group's size, adding or removing k members writes k pair documents whatever the group's size,
  a group is read without touching its members, and concurrent membership changes are independent
  inserts and deletes. A group's ``members`` and a user's ``groups`` are derived from the pairs.

Keys beginning with ``_`` are internal and never rendered. Mongo field paths are built only from
catalog names, never from request text.
"""

from __future__ import annotations

from scim_server.schema.attributes import Attribute
from scim_server.schema.catalog import ID, META, ResolvedAttribute

SHADOW = "_lc"
ID_FIELD = "_id"
CREATED_FIELD = "meta.created"


_REFERENCE, _STORED_REFERENCE = "$ref", "ref"


def stored_name(name: str) -> str:
    """The document key of a (sub-)attribute name: ``$ref`` is stored as ``ref``."""
    return _STORED_REFERENCE if name == _REFERENCE else name


def scim_name(key: str) -> str:
    """The attribute name of a document key (the inverse of :func:`stored_name`)."""
    return _REFERENCE if key == _STORED_REFERENCE else key


def container_path(resolved: ResolvedAttribute) -> str:
    """The document path of the object holding the resolved top-level attribute ('' for the root)."""
    return resolved.extension.storage_key if resolved.extension is not None else ""


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def field_path(resolved: ResolvedAttribute) -> str:
    """The path of the stored value itself (``emails.value``, ``urn:…:2_0:User.department``)."""
    if resolved.attribute is ID:
        return ID_FIELD
    sub = stored_name(resolved.sub_attribute.name) if resolved.sub_attribute is not None else ""
    return _join(container_path(resolved), resolved.attribute.name, sub)


def shadow_path(resolved: ResolvedAttribute) -> str | None:
    """The path of the lower-cased shadow, or ``None`` when the attribute is compared exactly."""
    if not resolved.leaf.folds_case or resolved.attribute is META:
        return None
    if resolved.sub_attribute is None:
        return _join(container_path(resolved), SHADOW, resolved.attribute.name)
    return _join(container_path(resolved), resolved.attribute.name, SHADOW, resolved.sub_attribute.name)


def query_path(resolved: ResolvedAttribute) -> str:
    """The path a comparison on this attribute must use: the shadow when case folds, else the value."""
    shadow = shadow_path(resolved)
    return shadow if shadow is not None else field_path(resolved)


def element_query_path(sub_attribute: Attribute) -> str:
    """The path of a sub-attribute relative to one element of a multi-valued complex attribute.

    Used inside ``$elemMatch``, where paths are relative to the element.
    """
    if sub_attribute.folds_case:
        return _join(SHADOW, sub_attribute.name)
    return stored_name(sub_attribute.name)
