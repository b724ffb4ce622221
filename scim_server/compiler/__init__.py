"""Pure compilers: filter AST -> Mongo query, sortBy -> sort specification (and PATCH -> update plan)."""

from scim_server.compiler.query import compile_filter
from scim_server.compiler.sort import compile_sort
from scim_server.compiler.values import parse_datetime

__all__ = ["compile_filter", "compile_sort", "parse_datetime"]
