"""The house style's layering, checked on every module's imports (house-style.md, "Shape of the package").

Dependency direction: cli -> app -> api -> services -> (storage, compiler) -> filters -> schema -> errors.
The web framework is imported only in ``api/``, the database driver only in ``storage/``, and the pure
cores (``schema``, ``filters``, ``compiler``) import nothing that does I/O or reads the clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scim_server"

# Which parts of the package each part may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "schema": {"errors"},
    "filters": {"errors", "schema"},
    "compiler": {"errors", "schema", "filters"},
    "timing": set(),
    "storage": {"errors", "schema", "timing"},
    "settings": {"errors"},
    "services": {"errors", "schema", "filters", "compiler", "storage", "settings"},
    "logs": set(),
    "api": {"errors", "schema", "filters", "compiler", "services", "settings", "logs", "timing"},
    "workers": set(),
    "app": {"api", "services", "storage", "schema", "settings"},
    "cli": {"api", "app", "services", "storage", "settings", "errors", "logs", "workers"},
    "__main__": {"cli"},
    "__init__": set(),
}
WEB = {"aiohttp", "aiohttp_apigami", "marshmallow", "webargs", "apispec"}
DRIVER = {"motor", "pymongo", "mongomock", "mongomock_motor", "bson", "gridfs"}
IMPURE = {"asyncio", "socket", "time", "os", "subprocess", "threading", "random", "secrets", "uuid"}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_what_its_layer_may(path: Path) -> None:
    part = part_of(path)
    assert part in ALLOWED, f"{part} is not placed in the layering; add it to ALLOWED"
    for name in imports(path):
        top, _, rest = name.partition(".")
        if top == "scim_server":
            target = rest.partition(".")[0]
            assert target == part or target in ALLOWED[part], f"{part} must not import scim_server.{target}"
        elif top in WEB:
            assert part == "api", f"{name} is imported outside api/"
        elif top in DRIVER:
            assert part == "storage", f"{name} is imported outside storage/"
        elif part in ("schema", "filters", "compiler"):
            assert top not in IMPURE, f"the pure core {part}/ imports {name}"
