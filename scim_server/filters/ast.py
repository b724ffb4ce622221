"""The typed, frozen syntax tree of SCIM filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2).

The tree says only what the text says: attribute names keep the caller's spelling and are resolved
against the catalog later, by the compiler, which is where an unknown attribute becomes an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CompareOp(StrEnum):
    """The attribute operators of RFC 7644 §3.4.2.2, Table 3 (``pr`` is :class:`Present`)."""

    EQ = "eq"
    NE = "ne"
    CO = "co"
    SW = "sw"
    EW = "ew"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


# A comparison value as written: a JSON string, true/false, null or a number. An unquoted bare word
# that is none of these (Entra's ``externalId eq jyoung``) is kept as a string.
CompValue = str | bool | int | float | None


@dataclass(frozen=True, slots=True)
class AttrPath:
    """``[URI ":"] ATTRNAME ["." subAttr]`` (RFC 7644 §3.4.2.2 ABNF ``attrPath``).

    ``uri`` is set only when the text starts with a known schema URN (or, failing that, any
    ``urn:`` prefix up to its last colon); the spelling of every part is kept as written.
    """

    uri: str | None
    attr: str
    sub_attr: str | None = None

    def __str__(self) -> str:
        text = self.attr if self.sub_attr is None else f"{self.attr}.{self.sub_attr}"
        return text if self.uri is None else f"{self.uri}:{text}"


@dataclass(frozen=True, slots=True)
class Compare:
    """``attrPath SP compareOp SP compValue``."""

    path: AttrPath
    op: CompareOp
    value: CompValue


@dataclass(frozen=True, slots=True)
class Present:
    """``attrPath SP "pr"``."""

    path: AttrPath


@dataclass(frozen=True, slots=True)
class And:
    """Logical ``and`` over two or more terms (chains are flattened, so deep text stays shallow)."""

    terms: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Logical ``or`` over two or more terms."""

    terms: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``"not" "(" valFilter ")"``."""

    term: Filter


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``attrPath "[" valFilter "]"``: elements of a multi-valued attribute matching ``filter``.

    ``path`` names the multi-valued attribute (``sub_attr`` is ``None``); the attribute paths inside
    ``filter`` are relative to one element (``type``, ``value``).
    """

    path: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True, slots=True)
class PatchPath:
    """A PATCH ``path`` (RFC 7644 §3.5.2, ABNF ``PATH = attrPath / valuePath [subAttr]``).

    * ``name.familyName``            -> attr=AttrPath(None, "name", "familyName")
    * ``emails[type eq "work"]``     -> attr=AttrPath(None, "emails"), filter=Compare(...)
    * ``emails[type eq "work"].value`` -> the same plus sub_attr="value"
    * ``urn:…:enterprise:2.0:User:manager`` -> attr=AttrPath("urn:…:enterprise:2.0:User", "manager")
    * ``urn:…:enterprise:2.0:User``  -> attr=AttrPath("urn:…:enterprise:2.0:User", ""), the whole extension
    """

    attr: AttrPath
    filter: Filter | None = None
    sub_attr: str | None = None
