"""SCIM filter and PATCH path parsing: text to the typed AST of :mod:`scim_server.filters.ast`."""

from scim_server.filters.ast import (
    And,
    AttrPath,
    Compare,
    CompareOp,
    CompValue,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)
from scim_server.filters.parser import parse_attr_path, parse_filter, parse_path, split_one_comparison

__all__ = [
    "And",
    "AttrPath",
    "CompValue",
    "Compare",
    "CompareOp",
    "Filter",
    "Not",
    "Or",
    "PatchPath",
    "Present",
    "ValuePath",
    "parse_attr_path",
    "parse_filter",
    "parse_path",
    "split_one_comparison",
]
