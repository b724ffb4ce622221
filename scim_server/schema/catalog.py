"""The attribute catalog: the User schema, the enterprise extension and the common attributes.

RFC 7643 §3.1 (common attributes), §4.1 (User), §4.3 (enterprise User extension) and the schema
representations of §8.7.1. /Schemas and /ResourceTypes are rendered from these objects, and validation,
filters and PATCH read them, so what the server advertises is what it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scim_server.schema.attributes import (
    Attribute,
    AttributeType,
    Mutability,
    Returned,
    Schema,
    Uniqueness,
)

STRING = AttributeType.STRING
BOOLEAN = AttributeType.BOOLEAN
REFERENCE = AttributeType.REFERENCE
COMPLEX = AttributeType.COMPLEX
DATETIME = AttributeType.DATETIME
BINARY = AttributeType.BINARY

USER_SCHEMA_ID = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA_ID = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA_ID = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
SCHEMA_SCHEMA_ID = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA_ID = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SERVICE_PROVIDER_CONFIG_SCHEMA_ID = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def _s(name: str, description: str = "", **kw: object) -> Attribute:
    return Attribute(name=name, type=STRING, description=description, **kw)  # type: ignore[arg-type]


def _multi_complex(
    name: str,
    description: str,
    value: Attribute,
    type_values: tuple[str, ...],
    *,
    extra: tuple[Attribute, ...] = (),
) -> Attribute:
    """The common multi-valued shape of RFC 7643 §2.4: value, display, type, primary."""
    return Attribute(
        name=name,
        type=COMPLEX,
        multi_valued=True,
        description=description,
        sub_attributes=(
            value,
            *extra,
            _s("display", "A human-readable name, primarily used for display purposes."),
            _s("type", "A label indicating the attribute's function.", canonical_values=type_values),
            Attribute(
                name="primary",
                type=BOOLEAN,
                description="Indicates the 'primary' or preferred attribute value for this attribute.",
            ),
        ),
    )


# RFC 7643 §3.1: "id", "externalId" and "meta" belong to every resource but to no schema's
# attribute list in /Schemas.
ID = Attribute(
    name="id",
    type=STRING,
    case_exact=True,
    mutability=Mutability.READ_ONLY,
    returned=Returned.ALWAYS,
    uniqueness=Uniqueness.SERVER,
    description="A unique identifier for a SCIM resource as defined by the service provider.",
)
EXTERNAL_ID = Attribute(
    name="externalId",
    type=STRING,
    case_exact=True,
    description="An identifier for the resource as defined by the provisioning client.",
)
META = Attribute(
    name="meta",
    type=COMPLEX,
    mutability=Mutability.READ_ONLY,
    description="A complex attribute containing resource metadata.",
    sub_attributes=(
        Attribute(
            name="resourceType",
            type=STRING,
            case_exact=True,
            mutability=Mutability.READ_ONLY,
            description="The name of the resource type of the resource.",
        ),
        Attribute(
            name="created",
            type=DATETIME,
            mutability=Mutability.READ_ONLY,
            description="The date and time the resource was added to the service provider.",
        ),
        Attribute(
            name="lastModified",
            type=DATETIME,
            mutability=Mutability.READ_ONLY,
            description="The most recent date and time that the details of this resource were updated.",
        ),
        Attribute(
            name="location",
            type=REFERENCE,
            case_exact=True,
            mutability=Mutability.READ_ONLY,
            reference_types=("uri",),
            description="The URI of the resource being returned.",
        ),
        Attribute(
            name="version",
            type=STRING,
            case_exact=True,
            mutability=Mutability.READ_ONLY,
            description="The version of the resource being returned (an ETag, RFC 7232).",
        ),
    ),
)
COMMON_ATTRIBUTES: tuple[Attribute, ...] = (ID, EXTERNAL_ID, META)

_EMAIL_TYPES = ("work", "home", "other")
_PHONE_TYPES = ("work", "home", "mobile", "fax", "pager", "other")
_IM_TYPES = ("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")
_PHOTO_TYPES = ("photo", "thumbnail")

USER_SCHEMA = Schema(
    id=USER_SCHEMA_ID,
    name="User",
    description="User Account",
    attributes=(
        _s(
            "userName",
            "Unique identifier for the User, typically used by the user to directly authenticate to the "
            "service provider. Unique per organization, compared case-insensitively.",
            required=True,
            uniqueness=Uniqueness.SERVER,
        ),
        Attribute(
            name="name",
            type=COMPLEX,
            description="The components of the user's real name.",
            sub_attributes=(
                _s("formatted", "The full name, including all middle names, titles, and suffixes."),
                _s("familyName", "The family name of the User, or last name."),
                _s("givenName", "The given name of the User, or first name."),
                _s("middleName", "The middle name(s) of the User."),
                _s("honorificPrefix", "The honorific prefix(es) of the User, or title."),
                _s("honorificSuffix", "The honorific suffix(es) of the User, or suffix."),
            ),
        ),
        _s("displayName", "The name of the User, suitable for display to end-users."),
        _s("nickName", "The casual way to address the user in real life."),
        Attribute(
            name="profileUrl",
            type=REFERENCE,
            reference_types=("external",),
            description="A fully qualified URL pointing to a page representing the User's online profile.",
        ),
        _s("title", "The user's title, such as 'Vice President'."),
        _s("userType", "Used to identify the relationship between the organization and the user."),
        _s("preferredLanguage", "Indicates the User's preferred written or spoken language."),
        _s("locale", "Used to indicate the User's default location for purposes of localizing items."),
        _s("timezone", "The User's time zone in the 'Olson' time zone database format."),
        Attribute(
            name="active",
            type=BOOLEAN,
            description="A Boolean value indicating the User's administrative status.",
        ),
        _s(
            "password",
            "The User's cleartext password. Write-only: stored only as a salted hash, never returned.",
            mutability=Mutability.WRITE_ONLY,
            returned=Returned.NEVER,
        ),
        _multi_complex(
            "emails",
            "Email addresses for the user.",
            _s("value", "Email addresses for the user."),
            _EMAIL_TYPES,
        ),
        _multi_complex(
            "phoneNumbers",
            "Phone numbers for the User.",
            _s("value", "Phone number of the User."),
            _PHONE_TYPES,
        ),
        _multi_complex(
            "ims",
            "Instant messaging addresses for the User.",
            _s("value", "Instant messaging address for the User."),
            _IM_TYPES,
        ),
        _multi_complex(
            "photos",
            "URLs of photos of the User.",
            Attribute(
                name="value",
                type=REFERENCE,
                reference_types=("external",),
                description="URL of a photo of the User.",
            ),
            _PHOTO_TYPES,
        ),
        Attribute(
            name="addresses",
            type=COMPLEX,
            multi_valued=True,
            description="A physical mailing address for this User.",
            sub_attributes=(
                _s("formatted", "The full mailing address, formatted for display or for a mailing label."),
                _s("streetAddress", "The full street address component."),
                _s("locality", "The city or locality component."),
                _s("region", "The state or region component."),
                _s("postalCode", "The zip code or postal code component."),
                _s("country", "The country name component."),
                _s("type", "A label indicating the attribute's function.", canonical_values=_EMAIL_TYPES),
                Attribute(
                    name="primary",
                    type=BOOLEAN,
                    description="Indicates the 'primary' or preferred address.",
                ),
            ),
        ),
        Attribute(
            name="groups",
            type=COMPLEX,
            multi_valued=True,
            mutability=Mutability.READ_ONLY,
            description="A list of groups to which the user belongs, either direct or indirect.",
            sub_attributes=(
                _s(
                    "value",
                    "The identifier of the User's group.",
                    case_exact=True,
                    mutability=Mutability.READ_ONLY,
                ),
                Attribute(
                    name="$ref",
                    type=REFERENCE,
                    case_exact=True,
                    mutability=Mutability.READ_ONLY,
                    reference_types=("User", "Group"),
                    description="The URI of the corresponding 'Group' resource.",
                ),
                _s("display", "A human-readable name.", mutability=Mutability.READ_ONLY),
                _s(
                    "type",
                    "A label indicating the attribute's function.",
                    mutability=Mutability.READ_ONLY,
                    canonical_values=("direct", "indirect"),
                    strict_canonical=True,
                ),
            ),
        ),
        _multi_complex(
            "entitlements",
            "A list of entitlements for the User that represent a thing the User has.",
            _s("value", "The value of an entitlement."),
            (),
        ),
        _multi_complex(
            "roles",
            "A list of roles for the User that collectively represent who the User is.",
            _s("value", "The value of a role."),
            (),
        ),
        _multi_complex(
            "x509Certificates",
            "A list of certificates issued to the User.",
            Attribute(
                name="value",
                type=BINARY,
                case_exact=True,
                description="The value of an X.509 certificate (base64, DER).",
            ),
            (),
        ),
    ),
)

ENTERPRISE_USER_SCHEMA = Schema(
    id=ENTERPRISE_USER_SCHEMA_ID,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        _s("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
        _s("costCenter", "Identifies the name of a cost center."),
        _s("organization", "Identifies the name of an organization."),
        _s("division", "Identifies the name of a division."),
        _s("department", "Identifies the name of a department."),
        Attribute(
            name="manager",
            type=COMPLEX,
            description="The User's manager.",
            sub_attributes=(
                _s("value", "The id of the SCIM resource representing the User's manager.", case_exact=True),
                Attribute(
                    name="$ref",
                    type=REFERENCE,
                    case_exact=True,
                    reference_types=("User",),
                    description="The URI of the SCIM resource representing the User's manager.",
                ),
                _s(
                    "displayName",
                    "The displayName of the User's manager.",
                    mutability=Mutability.READ_ONLY,
                ),
            ),
        ),
    ),
)


GROUP_SCHEMA = Schema(
    id=GROUP_SCHEMA_ID,
    name="Group",
    description="Group",
    attributes=(
        _s(
            "displayName",
            "A human-readable name for the Group. Required and unique per organization, compared "
            "case-insensitively (Entra ID relies on it to match groups).",
            required=True,
            uniqueness=Uniqueness.SERVER,
        ),
        Attribute(
            name="members",
            type=COMPLEX,
            multi_valued=True,
            description="A list of members of the Group: Users or Groups of the same organization.",
            sub_attributes=(
                _s(
                    "value",
                    "Identifier of the member of this Group.",
                    case_exact=True,
                    mutability=Mutability.IMMUTABLE,
                ),
                Attribute(
                    name="$ref",
                    type=REFERENCE,
                    case_exact=True,
                    mutability=Mutability.IMMUTABLE,
                    reference_types=("User", "Group"),
                    description="The URI corresponding to a SCIM resource that is a member of this Group.",
                ),
                _s(
                    "type",
                    "A label indicating the type of resource, e.g., 'User' or 'Group'.",
                    mutability=Mutability.IMMUTABLE,
                    canonical_values=("User", "Group"),
                    strict_canonical=True,
                ),
                _s(
                    "display",
                    "A human-readable name of the member: its userName or displayName.",
                    mutability=Mutability.READ_ONLY,
                ),
            ),
        ),
    ),
)

# Membership is stored on the member documents, not in the group (see schema.layout): these two
# attributes are derived when read, and the filter compiler treats them specially.
GROUP_MEMBERS = next(a for a in GROUP_SCHEMA.attributes if a.name == "members")
USER_GROUPS = next(a for a in USER_SCHEMA.attributes if a.name == "groups")


@dataclass(frozen=True, slots=True)
class SchemaExtension:
    """An extension schema attached to a resource type (RFC 7643 §6 ``schemaExtensions``).

    ``storage_key`` is the document key holding the extension's attributes: the URN with its dots
    replaced, since a Mongo field path cannot contain a dot. ``aliases`` are other spellings IdPs
    use for the same URN (for example Entra's legacy gallery form). ``declared``: an organization
    declared it (the organizations file, ``schema/declared.py``), so its attributes are indexed in
    that organization's collections; the built-in enterprise extension is not.
    """

    schema: Schema
    required: bool
    aliases: tuple[str, ...] = ()
    declared: bool = False

    @property
    def storage_key(self) -> str:
        return self.schema.id.replace(".", "_")

    def matches(self, uri: str) -> bool:
        low = uri.lower()
        return low == self.schema.id.lower() or any(low == a.lower() for a in self.aliases)


@dataclass(frozen=True, slots=True)
class ResolvedAttribute:
    """An attribute path resolved against a resource type: where it lives and what it is."""

    extension: SchemaExtension | None
    attribute: Attribute
    sub_attribute: Attribute | None = None

    @property
    def leaf(self) -> Attribute:
        """The attribute the path finally names (the sub-attribute when there is one)."""
        return self.sub_attribute if self.sub_attribute is not None else self.attribute

    def text(self) -> str:
        """The canonical path text, URN-qualified for extension attributes (RFC 7644 §3.10)."""
        base = self.attribute.name
        if self.sub_attribute is not None:
            base = f"{base}.{self.sub_attribute.name}"
        if self.extension is not None:
            return f"{self.extension.schema.id}:{base}"
        return base


@dataclass(frozen=True, slots=True, eq=False)
class ResourceType:
    """A resource type (RFC 7643 §6) with attribute resolution over its schemas.

    Compared and hashed by identity: the catalog's resource types are constants, and an
    organization's (with its declared extensions, ``schema/declared.py``) are built once per load of
    the organizations file, so values derived from one can be cached keyed by it at the cost of a
    pointer hash.
    """

    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[SchemaExtension, ...] = ()
    _uris: tuple[str, ...] = field(init=False, repr=False, compare=False, hash=False)
    _extension_ids: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_extension_ids", frozenset(ext.schema.id for ext in self.extensions))
        uris = [self.schema.id]
        for ext in self.extensions:
            uris.append(ext.schema.id)
            uris.extend(ext.aliases)
        # Longest first, so that prefix matching picks the most specific URN.
        object.__setattr__(self, "_uris", tuple(sorted(uris, key=len, reverse=True)))

    @property
    def schema_uris(self) -> tuple[str, ...]:
        """Every URN (and alias) this resource type understands, longest first."""
        return self._uris

    @property
    def extension_ids(self) -> frozenset[str]:
        """The extensions' schema URNs (the keys a canonical resource holds them under)."""
        return self._extension_ids

    def extension(self, uri: str) -> SchemaExtension | None:
        """The extension whose URN (or alias) is ``uri``, case-insensitively."""
        for ext in self.extensions:
            if ext.matches(uri):
                return ext
        return None

    def is_core_uri(self, uri: str) -> bool:
        return uri.lower() == self.schema.id.lower()

    def resolve(self, uri: str | None, attr: str, sub_attr: str | None = None) -> ResolvedAttribute | None:
        """Resolve an attribute path, case-insensitively (RFC 7643 §2.1); ``None`` when unknown.

        Without a URN, the common attributes and the core schema are searched first, then the
        extensions: Entra sends an unqualified ``manager`` path for the enterprise attribute.
        """
        extension: SchemaExtension | None = None
        attribute: Attribute | None = None
        if uri is None:
            attribute = _common_attribute(attr) or self.schema.attribute(attr)
            if attribute is None:
                for ext in self.extensions:
                    attribute = ext.schema.attribute(attr)
                    if attribute is not None:
                        extension = ext
                        break
        elif self.is_core_uri(uri):
            attribute = _common_attribute(attr) or self.schema.attribute(attr)
        else:
            extension = self.extension(uri)
            if extension is not None:
                attribute = extension.schema.attribute(attr)
        if attribute is None:
            return None
        if sub_attr is None:
            return ResolvedAttribute(extension, attribute)
        sub = attribute.sub_attribute(sub_attr)
        if sub is None:
            return None
        return ResolvedAttribute(extension, attribute, sub)


def _common_attribute(name: str) -> Attribute | None:
    low = name.lower()
    for attribute in COMMON_ATTRIBUTES:
        if attribute.name.lower() == low:
            return attribute
    return None


USER_RESOURCE_TYPE = ResourceType(
    name="User",
    endpoint="/Users",
    description="User Account",
    schema=USER_SCHEMA,
    extensions=(
        SchemaExtension(
            ENTERPRISE_USER_SCHEMA,
            required=False,
            # Entra's legacy gallery apps address enterprise attributes with this URN.
            aliases=("urn:scim:schemas:extension:enterprise:1.0",),
        ),
    ),
)

GROUP_RESOURCE_TYPE = ResourceType(
    name="Group",
    endpoint="/Groups",
    description="Group",
    schema=GROUP_SCHEMA,
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (USER_RESOURCE_TYPE, GROUP_RESOURCE_TYPE)
