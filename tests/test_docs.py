"""The README and docs/ hold together: every link resolves inside the repository, and every setting is
documented.

A link that leaves the repository (an absolute URL, or a relative path climbing out of it) breaks for
whoever reads a copy, so none is allowed; a link to a heading must name a heading that exists.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from scim_server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]*)\)")
_AUTOLINK = re.compile(r"<[a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*>")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return _LINK.findall(text) + _AUTOLINK.findall(text)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    found = set()
    for heading in _HEADING.findall(text):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_pages_exist_and_the_readme_links_into_each_page_of_docs() -> None:
    assert [p.name for p in PAGES[1:]] == [
        "configuration.md",
        "design.md",
        "embedded-store.md",
        "idps.md",
        "operations.md",
        "organizations.md",
        "performance.md",
        "wire.md",
    ]
    readme_targets = {target.partition("#")[0] for target in links(ROOT / "README.md")}
    assert {f"docs/{page.name}" for page in PAGES[1:]} <= readme_targets


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    problems = []
    for target in links(page):
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target.strip("<")) or target.startswith("//"):
            problems.append(f"{target}: leaves the repository")
            continue
        path_text, _, anchor = target.partition("#")
        resolved = (page.parent / path_text).resolve() if path_text else page
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: leaves the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(resolved):
            problems.append(f"{target}: no such heading in {resolved.relative_to(ROOT)}")
    assert problems == []


def test_the_link_check_catches_what_it_must(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n[a](https://example.com) [b](../x.md) [c](#title) <http://x.y> `[d](nowhere.md)`\n"
        "```\n[e](also-nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert links(page) == ["https://example.com", "../x.md", "#title", "<http://x.y>"]
    assert anchors(page) == {"title"}


def test_every_setting_is_in_the_configuration_table_with_its_environment_variable() -> None:
    table = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [
        name
        for name in (f.name for f in dataclasses.fields(Settings))
        if f"| `{name}` / `SCIM_{name.upper()}` |" not in table
    ]
    assert missing == []
