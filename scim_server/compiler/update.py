"""Update plans: the ``$set``/``$unset`` that turn one stored document into another (pure).

Plans are computed per top-level field, so a write touches only what changed; the repository applies a
plan in one version-guarded ``update_one``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    set_fields: dict[str, Any] = field(default_factory=dict)
    unset_fields: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.set_fields and not self.unset_fields


def plan_update(
    old: Mapping[str, Any], new: Mapping[str, Any], *, keep: frozenset[str] = frozenset()
) -> UpdatePlan:
    """The top-level changes from ``old`` to ``new``; fields named in ``keep`` are never touched."""
    # A value shared with the old document (a write rebuilds only what changed) is equal at once.
    set_fields = {
        k: v for k, v in new.items() if k not in keep and (o := old.get(k, _MISSING)) is not v and o != v
    }
    unset_fields = tuple(sorted(k for k in old if k not in new and k not in keep))
    return UpdatePlan(set_fields, unset_fields)


_MISSING = object()
