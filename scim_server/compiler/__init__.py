"""Pure compilers: filter AST -> Mongo query, sortBy -> sort specification, PATCH -> new resource."""

from scim_server.compiler.patch import PatchOperation, apply_patch, parse_patch_request
from scim_server.compiler.query import compile_filter, membership_references, string_comparison
from scim_server.compiler.sort import compile_sort

__all__ = [
    "PatchOperation",
    "apply_patch",
    "compile_filter",
    "compile_sort",
    "membership_references",
    "parse_patch_request",
    "string_comparison",
]
