"""Attribute and schema definitions (RFC 7643 §2, §7).

These frozen objects are the catalog's vocabulary: validation, the filter and PATCH compilers, the
document layout and the /Schemas endpoint all read them, so they cannot drift apart.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from enum import StrEnum


class AttributeType(StrEnum):
    """RFC 7643 §2.3 data types."""

    STRING = "string"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATETIME = "dateTime"
    REFERENCE = "reference"
    BINARY = "binary"
    COMPLEX = "complex"


class Mutability(StrEnum):
    """RFC 7643 §7 ``mutability``."""

    READ_ONLY = "readOnly"
    READ_WRITE = "readWrite"
    IMMUTABLE = "immutable"
    WRITE_ONLY = "writeOnly"


class Returned(StrEnum):
    """RFC 7643 §7 ``returned``."""

    ALWAYS = "always"
    NEVER = "never"
    DEFAULT = "default"
    REQUEST = "request"


class Uniqueness(StrEnum):
    """RFC 7643 §7 ``uniqueness``."""

    NONE = "none"
    SERVER = "server"
    GLOBAL = "global"


# The types whose comparisons honour caseExact (RFC 7643 §2.3.1 string, §2.3.7 reference); binary
# values are caseExact always.
_CASE_FOLDING_TYPES = frozenset({AttributeType.STRING, AttributeType.REFERENCE})


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute definition (RFC 7643 §7 "attributes").

    ``strict_canonical`` marks the attributes whose canonical values form a closed set the RFC fixes
    (for example ``groups.type``); elsewhere canonical values are advertised suggestions (RFC 7643 §7:
    "MAY be used") and IdPs send others, such as Entra's ``addresses[type eq "untyped"]``.
    """

    name: str
    type: AttributeType
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = Mutability.READ_WRITE
    returned: Returned = Returned.DEFAULT
    uniqueness: Uniqueness = Uniqueness.NONE
    canonical_values: tuple[str, ...] = ()
    strict_canonical: bool = False
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()
    description: str = ""
    _by_lower: dict[str, Attribute] = field(init=False, repr=False, compare=False, hash=False)
    # Sub-attributes by their name as spelled in the catalog, and lower-cased (see ``sub_attribute``).
    subs_by_name: dict[str, Attribute] = field(init=False, repr=False, compare=False, hash=False)
    # The Python type of a value that is canonical as it is: ``str`` for a single-valued string
    # attribute (a non-empty one, within the length limit), ``bool`` for a single-valued boolean one.
    plain: builtins.type[object] | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_lower = {a.name.lower(): a for a in self.sub_attributes}
        object.__setattr__(self, "_by_lower", by_lower)
        object.__setattr__(self, "subs_by_name", {**by_lower, **{a.name: a for a in self.sub_attributes}})
        plain = None
        if not self.multi_valued:
            plain = {AttributeType.STRING: str, AttributeType.BOOLEAN: bool}.get(self.type)
        object.__setattr__(self, "plain", plain)

    def sub_attribute(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name``, matched case-insensitively (RFC 7643 §2.1)."""
        return self._by_lower.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type is AttributeType.COMPLEX

    @property
    def folds_case(self) -> bool:
        """True when comparisons ignore case, so the document keeps a lower-cased shadow.

        Never-returned attributes (``password``) can be neither filtered nor sorted, so they get no shadow.
        """
        return (
            self.type in _CASE_FOLDING_TYPES and not self.case_exact and self.returned is not Returned.NEVER
        )


@dataclass(frozen=True, slots=True)
class Schema:
    """A schema resource (RFC 7643 §7): a URN id and its top-level attributes."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _by_lower: dict[str, Attribute] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {a.name.lower(): a for a in self.attributes})

    def attribute(self, name: str) -> Attribute | None:
        """The top-level attribute called ``name``, matched case-insensitively."""
        return self._by_lower.get(name.lower())
