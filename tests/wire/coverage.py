"""A pytest plugin for the run over the wire: every storage operation must have run there at least once.

A storage operation is a ``with driver_errors():`` block of ``scim_server/storage`` (one driver call
each), named by its function and line, since a function may make several (the purge's ``find`` and
``delete_many``, the declared indexes' listing, drop and creation). The plugin records each block
entered with a driver collection or database of pymongo's (not the embedded store, which some tests
build for themselves) and, at the end of the session, fails it if an operation never ran over the
wire, naming the missing ones. ``scripts/test-wire`` loads it
(``-p tests.wire.coverage``), so a subset of the suite cannot silently leave a storage call untried.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from scim_server.storage import repository

STORAGE = Path(repository.__file__).resolve().parent
_DRIVER = (AsyncCollection, AsyncDatabase)


def operation(function: str, path: str, line: int) -> str:
    """An operation's name: the qualified name of its function, its file and the line of its block."""
    return f"{function} ({Path(path).name}:{line})"


def storage_operations() -> set[str]:
    """Every ``with driver_errors():`` block of the storage package, named by :func:`operation`."""
    found: set[str] = set()

    def visit(node: ast.AST, prefix: str, path: Path) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.", path)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(child):
                    if isinstance(inner, ast.With | ast.AsyncWith) and any(
                        isinstance(item.context_expr, ast.Call)
                        and isinstance(item.context_expr.func, ast.Name)
                        and item.context_expr.func.id == "driver_errors"
                        for item in inner.items
                    ):
                        found.add(operation(f"{prefix}{child.name}", str(path), inner.lineno))

    for path in sorted(STORAGE.glob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), "", path)
    return found


def _holds_driver_object(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _DRIVER):
        return True
    if depth < 2 and isinstance(value, tuple | list):
        return any(_holds_driver_object(item, depth + 1) for item in value)
    return False


def _over_the_wire(frame: FrameType) -> bool:
    """Whether the storage call in ``frame`` works on a pymongo collection or database: one of its
    locals, or of its ``self``'s attributes, is one."""
    values = list(frame.f_locals.values())
    owner = frame.f_locals.get("self")
    if owner is not None and hasattr(owner, "__dict__"):
        values += list(vars(owner).values())
    return any(_holds_driver_object(value) for value in values)


class StorageCoverage:
    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._enter: Any = None

    def install(self) -> None:
        original = self._enter = repository.driver_errors.__enter__
        seen = self.seen

        def recording_enter(errors: repository.driver_errors) -> None:
            frame = sys._getframe(1)
            if _over_the_wire(frame):
                seen.add(operation(frame.f_code.co_qualname, frame.f_code.co_filename, frame.f_lineno))
            original(errors)

        repository.driver_errors.__enter__ = recording_enter  # type: ignore[method-assign]

    def uninstall(self) -> None:
        repository.driver_errors.__enter__ = self._enter  # type: ignore[method-assign]


_COVERAGE = StorageCoverage()


def pytest_configure(config: pytest.Config) -> None:
    _COVERAGE.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _COVERAGE.uninstall()
    missing = sorted(storage_operations() - _COVERAGE.seen)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if missing:
        if reporter is not None:
            reporter.write_line(
                f"storage operations that never ran over the wire: {', '.join(missing)}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(f"every storage operation ran over the wire ({len(_COVERAGE.seen)} of them)")
