"""Pruning: a patched resource is canonical again once its unassigned values are gone (RFC 7643 §2.5)."""

from __future__ import annotations

from typing import Any


def prune(value: Any) -> Any:
    """Drop unassigned values (null, "", [], {}) recursively, so the result is canonical again."""
    if isinstance(value, dict):
        pruned = {k: p for k, v in value.items() if (p := prune(v)) is not None}
        return pruned or None
    if isinstance(value, list):
        items = [p for v in value if (p := prune(v)) is not None]
        return items or None
    if isinstance(value, str) and not value:
        return None
    return value
