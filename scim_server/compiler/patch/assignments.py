"""The simple-assignment fast path: a PATCH that only sets simple single-valued attributes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from scim_server.compiler.patch.operations import PatchOperation
from scim_server.compiler.patch.paths import Target, object_target, resolve_target, target_of
from scim_server.errors import (
    ScimError,
)
from scim_server.schema.attributes import Attribute, Mutability, Returned
from scim_server.schema.catalog import (
    COMMON_ATTRIBUTES,
    ResourceType,
)
from scim_server.schema.validation import (
    coerce_value,
)


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


def _assigned_value(target: Target | None, raw: Any, resource_type: ResourceType) -> tuple[str, Any] | None:
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
                    target: Target | None = target_of(operation.text, resource_type)
                else:
                    target = resolve_target(operation.path, resource_type)
                pairs = [(target, operation.value)]
            elif isinstance(operation.value, dict) and operation.value:
                # Every key must name such an attribute: a key apply_patch would skip (schemas, id,
                # an unknown name) or treat otherwise leaves the PATCH to it.
                pairs = [
                    (object_target(key, None, resource_type), raw)
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
