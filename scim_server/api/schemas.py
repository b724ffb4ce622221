"""Marshmallow wire schemas that describe the SCIM messages in the OpenAPI document.

They document; they do not parse. The server reads request bodies itself (strict JSON,
case-insensitive attribute names, extension URNs as keys), because marshmallow would drop or
reject what an identity provider legitimately sends.

The User schema and its extension are generated from the attribute catalog, so the document
describes the attributes, mutability and required flags the server actually enforces. Nested
component names follow SCIM attribute paths (``User.name``, ``User.emails``,
``EnterpriseUser.manager``).
"""

from __future__ import annotations

import copy
from typing import Any, cast

from marshmallow import Schema, fields, validate

from scim_server.api.examples import BULK, CERTIFICATE_EXAMPLE, EXAMPLE_ID, GROUP_NAME
from scim_server.errors import ERROR_SCHEMA
from scim_server.schema.attributes import Attribute, AttributeType, Mutability, Returned
from scim_server.schema.attributes import Schema as ScimSchema
from scim_server.schema.catalog import (
    BULK_REQUEST_SCHEMA,
    BULK_RESPONSE_SCHEMA,
    ENTERPRISE_USER_SCHEMA,
    ENTERPRISE_USER_SCHEMA_ID,
    EXTERNAL_ID,
    GROUP_SCHEMA,
    GROUP_SCHEMA_ID,
    ID,
    LIST_RESPONSE_SCHEMA,
    META,
    PATCH_OP_SCHEMA,
    RESOURCE_TYPE_SCHEMA_ID,
    SCHEMA_SCHEMA_ID,
    SEARCH_REQUEST_SCHEMA,
    SERVICE_PROVIDER_CONFIG_SCHEMA_ID,
    USER_SCHEMA,
    USER_SCHEMA_ID,
)

# -- generated from the catalog ------------------------------------------------------------------

_SCALARS: dict[AttributeType, type[fields.Field]] = {
    AttributeType.STRING: fields.String,
    AttributeType.BOOLEAN: fields.Boolean,
    AttributeType.DECIMAL: fields.Float,
    AttributeType.INTEGER: fields.Integer,
    AttributeType.DATETIME: fields.DateTime,
    AttributeType.REFERENCE: fields.String,
    AttributeType.BINARY: fields.String,
}

# One class per component name: apispec resolves components by class, and two classes with one
# name would be reported as a conflict.
_built: dict[str, type[Schema]] = {}


def _schema_class(name: str, declared: dict[str, fields.Field], description: str) -> type[Schema]:
    if name in _built:
        return _built[name]
    # ``register = False`` keeps generated classes out of marshmallow's global class registry;
    # apispec reads ``Meta.description`` into the component.
    meta = type("Meta", (), {"register": False, "description": description})
    built = cast("type[Schema]", type(name + "Schema", (Schema,), {**declared, "Meta": meta}))
    _built[name] = built
    return built


# Examples of single attributes, shown in the schemas' view, keyed by component and attribute name.
# (What "Try it out" sends are the whole-body examples of scim_server.api.examples.)
_EXAMPLES: dict[str, Any] = {
    "User.userName": "bjensen@example.com",
    "User.displayName": "Babs Jensen",
    "User.active": True,
    "User.name.givenName": "Barbara",
    "User.name.familyName": "Jensen",
    "User.emails.value": "bjensen@example.com",
    "User.emails.type": "work",
    "EnterpriseUser.department": "Tour Operations",
    "User.x509Certificates.value": CERTIFICATE_EXAMPLE,
    "Group.displayName": GROUP_NAME,
    "Group.members.value": EXAMPLE_ID,
}


def _description(attribute: Attribute) -> str:
    text = attribute.description
    if attribute.canonical_values and not attribute.strict_canonical:
        text += f" Canonical values: {', '.join(attribute.canonical_values)}."
    if attribute.mutability is Mutability.IMMUTABLE:
        text += " Immutable once set."
    return text.strip()


def _metadata(owner: str, attribute: Attribute) -> dict[str, Any]:
    metadata: dict[str, Any] = {"description": _description(attribute)}
    example = _EXAMPLES.get(f"{owner}.{attribute.name}")
    if example is not None:
        metadata["example"] = example
    return metadata


def _value(owner: str, attribute: Attribute, **kwargs: Any) -> fields.Field:
    """One value of ``attribute``: a nested component for complex attributes, else a scalar."""
    if attribute.type is AttributeType.COMPLEX:
        return fields.Nested(_complex(f"{owner}.{attribute.name}", attribute), **kwargs)
    metadata: dict[str, Any] = kwargs.pop("metadata", {})
    if attribute.type is AttributeType.BINARY:
        metadata = {**metadata, "format": "byte"}
    strict = validate.OneOf(attribute.canonical_values) if attribute.strict_canonical else None
    return _SCALARS[attribute.type](validate=strict, metadata=metadata, **kwargs)


def _field(owner: str, attribute: Attribute) -> fields.Field:
    """The field documenting one catalog attribute (RFC 7643 §2.2, §7 characteristics)."""
    kwargs: dict[str, Any] = {
        "required": attribute.required,
        "metadata": _metadata(owner, attribute),
    }
    if attribute.mutability is Mutability.READ_ONLY:
        kwargs["dump_only"] = True  # readOnly in the document
    if attribute.mutability is Mutability.WRITE_ONLY or attribute.returned is Returned.NEVER:
        kwargs["load_only"] = True  # writeOnly in the document
    if attribute.multi_valued:
        return fields.List(_value(owner, attribute), **kwargs)
    return _value(owner, attribute, **kwargs)


def _complex(name: str, attribute: Attribute) -> type[Schema]:
    declared = {sub.name: _field(name, sub) for sub in attribute.sub_attributes}
    return _schema_class(name, declared, attribute.description)


def _attributes(owner: str, schema: ScimSchema) -> dict[str, fields.Field]:
    return {attribute.name: _field(owner, attribute) for attribute in schema.attributes}


def _schemas_field(*uris: str) -> fields.List:
    return fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The URNs of the schemas this message follows.", "example": list(uris)},
    )


EnterpriseUserSchema = _schema_class(
    "EnterpriseUser",
    _attributes("EnterpriseUser", ENTERPRISE_USER_SCHEMA),
    f"{ENTERPRISE_USER_SCHEMA.description} extension ({ENTERPRISE_USER_SCHEMA_ID}, RFC 7643 §4.3).",
)

_RESOURCE = "Resource"  # owner of the common attributes, so their meta is the component Resource.meta

# Rendered resources always carry these (RFC 7643 §7 "returned": "always"); every other attribute may
# be left out by attributes/excludedAttributes (RFC 7644 §3.9), required or not.
_ALWAYS_RETURNED = frozenset({"schemas", "id"})
_PROJECTION_NOTE = (
    " As a response, it carries schemas and id always and any other attribute only when it has a value "
    "and attributes/excludedAttributes (RFC 7644 §3.9) do not leave it out, required ones included."
)


def _response_fields(declared: dict[str, fields.Field]) -> dict[str, fields.Field]:
    """The same fields with ``required`` only where the response always carries the attribute."""
    out: dict[str, fields.Field] = {}
    for name, declared_field in declared.items():
        response_field = copy.copy(declared_field)
        response_field.required = name in _ALWAYS_RETURNED
        out[name] = response_field
    return out


_USER_FIELDS: dict[str, fields.Field] = {
    "schemas": _schemas_field(USER_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID),
    "id": _field(_RESOURCE, ID),
    "externalId": _field(_RESOURCE, EXTERNAL_ID),
    **_attributes("User", USER_SCHEMA),
    "enterprise": fields.Nested(
        EnterpriseUserSchema,
        data_key=ENTERPRISE_USER_SCHEMA_ID,
        metadata={"description": "The enterprise User extension attributes (RFC 7643 §4.3)."},
    ),
    "meta": _field(_RESOURCE, META),
}
_USER_DESCRIPTION = (
    f"{USER_SCHEMA.description} ({USER_SCHEMA_ID}, RFC 7643 §4.1). Attribute names are case-insensitive; "
    "attributes marked readOnly are ignored on input, writeOnly ones are never returned."
)
UserSchema = _schema_class("User", _USER_FIELDS, _USER_DESCRIPTION)
UserResponseSchema = _schema_class(
    "UserResponse", _response_fields(_USER_FIELDS), _USER_DESCRIPTION + _PROJECTION_NOTE
)

_GROUP_FIELDS: dict[str, fields.Field] = {
    "schemas": _schemas_field(GROUP_SCHEMA_ID),
    "id": _field(_RESOURCE, ID),
    "externalId": _field(_RESOURCE, EXTERNAL_ID),
    **_attributes("Group", GROUP_SCHEMA),
    "meta": _field(_RESOURCE, META),
}
_GROUP_DESCRIPTION = (
    f"{GROUP_SCHEMA.description} ({GROUP_SCHEMA_ID}, RFC 7643 §4.2). displayName is required and unique per "
    "organization (case-insensitively); members are Users or Groups of the same organization, given by id."
)
GroupSchema = _schema_class("Group", _GROUP_FIELDS, _GROUP_DESCRIPTION)
GroupResponseSchema = _schema_class(
    "GroupResponse", _response_fields(_GROUP_FIELDS), _GROUP_DESCRIPTION + _PROJECTION_NOTE
)


def _meta_field() -> fields.Field:
    """The common ``meta`` attribute (RFC 7643 §3.1), one component shared by every resource."""
    return _field(_RESOURCE, META)


# -- protocol messages (RFC 7644) ----------------------------------------------------------------


class ListResponseSchema(Schema):
    """A page of results (RFC 7644 §3.4.2)."""

    class Meta:
        description = f"A page of results ({LIST_RESPONSE_SCHEMA}, RFC 7644 §3.4.2)."

    schemas = _schemas_field(LIST_RESPONSE_SCHEMA)
    total_results = fields.Integer(
        required=True, data_key="totalResults", metadata={"description": "The number of matching resources."}
    )
    start_index = fields.Integer(
        data_key="startIndex", metadata={"description": "The 1-based index of the first result on this page."}
    )
    items_per_page = fields.Integer(
        data_key="itemsPerPage", metadata={"description": "The number of resources on this page."}
    )
    next_cursor = fields.String(
        data_key="nextCursor",
        metadata={
            "description": "Cursor paging (RFC 9865): the cursor of the next page; absent on the last page."
        },
    )
    previous_cursor = fields.String(
        data_key="previousCursor",
        metadata={
            "description": "Cursor paging (RFC 9865): the cursor of the previous page; absent on the first "
            "page (and at the server root, which pages forward only)."
        },
    )
    resources = fields.List(
        fields.Dict(), data_key="Resources", metadata={"description": "The resources on this page."}
    )


class UserListResponseSchema(ListResponseSchema):
    class Meta:
        description = "A page of User resources (RFC 7644 §3.4.2)."

    resources = fields.List(
        fields.Nested(UserResponseSchema),
        data_key="Resources",
        metadata={"description": "The Users on this page."},
    )


class GroupListResponseSchema(ListResponseSchema):
    class Meta:
        description = "A page of Group resources (RFC 7644 §3.4.2)."

    resources = fields.List(
        fields.Nested(GroupResponseSchema),
        data_key="Resources",
        metadata={"description": "The Groups on this page."},
    )


class PatchOperationSchema(Schema):
    class Meta:
        description = "One PATCH operation (RFC 7644 §3.5.2); ``op`` is matched case-insensitively."

    op = fields.String(
        required=True,
        metadata={"description": "add, remove or replace.", "enum": ["add", "remove", "replace"]},
    )
    path = fields.String(
        metadata={
            "description": 'An attribute path, optionally with a value filter: emails[type eq "work"].value. '
            "Required for remove; without it, value is an object of attributes.",
            "example": "active",
        }
    )
    value = fields.Raw(
        metadata={"description": "The value to add or replace with; any JSON type.", "example": False}
    )


class PatchOpSchema(Schema):
    class Meta:
        description = f"A PATCH request ({PATCH_OP_SCHEMA}, RFC 7644 §3.5.2)."

    schemas = _schemas_field(PATCH_OP_SCHEMA)
    operations = fields.List(
        fields.Nested(PatchOperationSchema),
        required=True,
        data_key="Operations",
        metadata={"description": "Applied in order, atomically: all succeed or none is stored."},
    )


class SearchRequestSchema(Schema):
    class Meta:
        description = f"A search with its parameters in the body ({SEARCH_REQUEST_SCHEMA}, RFC 7644 §3.4.3)."

    schemas = _schemas_field(SEARCH_REQUEST_SCHEMA)
    attributes = fields.List(
        fields.String(), metadata={"description": "Return only these attributes (and those always returned)."}
    )
    excluded_attributes = fields.List(
        fields.String(),
        data_key="excludedAttributes",
        metadata={"description": "Do not return these attributes."},
    )
    filter = fields.String(
        metadata={"description": "A filter (RFC 7644 §3.4.2.2).", "example": 'userName eq "bjensen"'}
    )
    sort_by = fields.String(data_key="sortBy", metadata={"description": "The attribute path to sort by."})
    sort_order = fields.String(
        data_key="sortOrder",
        validate=validate.OneOf(["ascending", "descending"]),
        metadata={"description": "The sort direction; ascending by default."},
    )
    start_index = fields.Integer(
        data_key="startIndex",
        metadata={"description": "The 1-based index of the first result.", "example": 1},
    )
    cursor = fields.String(
        metadata={
            "description": "Cursor paging (RFC 9865): empty for the first page, then a response's "
            "nextCursor or previousCursor. Not together with startIndex."
        }
    )
    count = fields.Integer(
        metadata={"description": "The maximum number of results per page.", "example": 100}
    )


class ErrorSchema(Schema):
    class Meta:
        description = f"An error response ({ERROR_SCHEMA}, RFC 7644 §3.12)."

    schemas = _schemas_field(ERROR_SCHEMA)
    status = fields.String(
        required=True, metadata={"description": "The HTTP status code, as a string.", "example": "400"}
    )
    scim_type = fields.String(
        data_key="scimType",
        metadata={
            "description": "The SCIM detail error keyword for 400 and 409 errors: invalidFilter, tooMany, "
            "uniqueness, mutability, invalidSyntax, invalidPath, noTarget, invalidValue, invalidVersion, "
            "sensitive."
        },
    )
    detail = fields.String(metadata={"description": "A human-readable explanation."})


# -- discovery resources (RFC 7643 §5, §6, §7) ---------------------------------------------------


class SupportedSchema(Schema):
    supported = fields.Boolean(required=True)


class BulkSupportSchema(Schema):
    supported = fields.Boolean(required=True)
    max_operations = fields.Integer(data_key="maxOperations")
    max_payload_size = fields.Integer(
        data_key="maxPayloadSize", metadata={"description": "The largest request body accepted, in bytes."}
    )


class FilterSupportSchema(Schema):
    supported = fields.Boolean(required=True)
    max_results = fields.Integer(
        data_key="maxResults", metadata={"description": "The largest page a list or search returns."}
    )


class AuthenticationSchemeSchema(Schema):
    type = fields.String(required=True, metadata={"example": "oauthbearertoken"})
    name = fields.String(required=True)
    description = fields.String()
    spec_uri = fields.String(data_key="specUri")
    documentation_uri = fields.String(data_key="documentationUri")
    primary = fields.Boolean()


class ServiceProviderConfigSchema(Schema):
    class Meta:
        description = f"What this server supports ({SERVICE_PROVIDER_CONFIG_SCHEMA_ID}, RFC 7643 §5)."

    schemas = _schemas_field(SERVICE_PROVIDER_CONFIG_SCHEMA_ID)
    documentation_uri = fields.String(data_key="documentationUri")
    patch = fields.Nested(SupportedSchema, required=True)
    bulk = fields.Nested(BulkSupportSchema, required=True)
    filter = fields.Nested(FilterSupportSchema, required=True)
    change_password = fields.Nested(SupportedSchema, required=True, data_key="changePassword")
    sort = fields.Nested(SupportedSchema, required=True)
    etag = fields.Nested(SupportedSchema, required=True)
    authentication_schemes = fields.List(
        fields.Nested(AuthenticationSchemeSchema), required=True, data_key="authenticationSchemes"
    )
    meta = _meta_field()


class SchemaAttributeSchema(Schema):
    class Meta:
        description = "An attribute definition (RFC 7643 §7)."

    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf([t.value for t in AttributeType]))
    multi_valued = fields.Boolean(required=True, data_key="multiValued")
    description = fields.String()
    required = fields.Boolean()
    case_exact = fields.Boolean(data_key="caseExact")
    canonical_values = fields.List(fields.String(), data_key="canonicalValues")
    reference_types = fields.List(fields.String(), data_key="referenceTypes")
    mutability = fields.String(validate=validate.OneOf([m.value for m in Mutability]))
    returned = fields.String(validate=validate.OneOf([r.value for r in Returned]))
    uniqueness = fields.String()
    sub_attributes = fields.List(fields.Nested(lambda: SchemaAttributeSchema()), data_key="subAttributes")


class SchemaSchema(Schema):
    class Meta:
        description = f"A schema definition ({SCHEMA_SCHEMA_ID}, RFC 7643 §7)."

    schemas = _schemas_field(SCHEMA_SCHEMA_ID)
    id = fields.String(required=True, metadata={"example": USER_SCHEMA_ID})
    name = fields.String()
    description = fields.String()
    attributes = fields.List(fields.Nested(SchemaAttributeSchema), required=True)
    meta = _meta_field()


class SchemaExtensionSchema(Schema):
    schema = fields.String(required=True, metadata={"example": ENTERPRISE_USER_SCHEMA_ID})
    required = fields.Boolean(required=True)


class ResourceTypeSchema(Schema):
    class Meta:
        description = f"A resource type ({RESOURCE_TYPE_SCHEMA_ID}, RFC 7643 §6)."

    schemas = _schemas_field(RESOURCE_TYPE_SCHEMA_ID)
    id = fields.String(metadata={"example": "User"})
    name = fields.String(required=True)
    endpoint = fields.String(required=True, metadata={"example": "/Users"})
    description = fields.String()
    schema = fields.String(required=True, metadata={"example": USER_SCHEMA_ID})
    schema_extensions = fields.List(fields.Nested(SchemaExtensionSchema), data_key="schemaExtensions")
    meta = _meta_field()


class SchemaListResponseSchema(ListResponseSchema):
    class Meta:
        description = "The schemas the server supports (RFC 7644 §4)."

    resources = fields.List(fields.Nested(SchemaSchema), data_key="Resources")


class ResourceTypeListResponseSchema(ListResponseSchema):
    class Meta:
        description = "The resource types the server supports (RFC 7644 §4)."

    resources = fields.List(fields.Nested(ResourceTypeSchema), data_key="Resources")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


# -- the server root: queries over every type, Bulk (RFC 7644 §3.4.2.1, §3.7) --------------------


class RootListResponseSchema(ListResponseSchema):
    class Meta:
        description = (
            "A page of Users and Groups together (RFC 7644 §3.4.2.1); each resource carries its own "
            "schemas and meta.resourceType."
        )

    resources = fields.List(
        fields.Dict(),
        data_key="Resources",
        metadata={"description": "The Users and Groups on this page, in the combined order."},
    )


class BulkOperationSchema(Schema):
    class Meta:
        description = "One operation of a Bulk request (RFC 7644 §3.7)."

    method = fields.String(
        required=True,
        metadata={"description": "The HTTP method.", "enum": ["POST", "PUT", "PATCH", "DELETE"]},
    )
    path = fields.String(
        required=True,
        metadata={
            "description": "/Users or /Groups for a POST; /Users/{id} or /Groups/{id} otherwise, where the "
            "id may be bulkId:<bulkId> of a POST in the same request.",
            "example": "/Users",
        },
    )
    bulk_id = fields.String(
        data_key="bulkId",
        metadata={
            "description": "Required on a POST: names the new resource; bulkId:<bulkId> in later "
            "operations' paths and data stands for its id.",
            "example": "newuser",
        },
    )
    version = fields.String(
        metadata={
            "description": "Acts as If-Match: the operation answers 412 unless it names the current version."
        }
    )
    data = fields.Dict(
        metadata={"description": "The body the single request would carry (a resource, or a PatchOp)."}
    )


class BulkRequestSchema(Schema):
    class Meta:
        description = f"A Bulk request ({BULK_REQUEST_SCHEMA}, RFC 7644 §3.7)."

    schemas = _schemas_field(BULK_REQUEST_SCHEMA)
    fail_on_errors = fields.Integer(
        data_key="failOnErrors",
        metadata={"description": "Stop after this many failed operations; the rest are not attempted."},
    )
    operations = fields.List(
        fields.Nested(BulkOperationSchema),
        required=True,
        data_key="Operations",
        metadata={
            "description": "At most bulk.maxOperations operations (ServiceProviderConfig).",
            "example": BULK["Operations"],
        },
    )


class BulkOperationResultSchema(Schema):
    class Meta:
        description = "What one operation answered (RFC 7644 §3.7.3)."

    method = fields.String(required=True, metadata={"example": "POST"})
    bulk_id = fields.String(data_key="bulkId", metadata={"example": "newuser"})
    version = fields.String(metadata={"description": "The resource's ETag after the operation."})
    location = fields.String(metadata={"description": "The resource's URI."})
    status = fields.String(
        required=True, metadata={"description": "The HTTP status, as a string.", "example": "201"}
    )
    response = fields.Nested(ErrorSchema, metadata={"description": "The error, when the operation failed."})


class BulkResponseSchema(Schema):
    class Meta:
        description = f"A Bulk response ({BULK_RESPONSE_SCHEMA}, RFC 7644 §3.7.3)."

    schemas = _schemas_field(BULK_RESPONSE_SCHEMA)
    operations = fields.List(
        fields.Nested(BulkOperationResultSchema),
        required=True,
        data_key="Operations",
        metadata={"description": "One result per operation attempted, in request order."},
    )


class EventResourceSchema(Schema):
    type = fields.String(required=True, metadata={"example": "User"})
    id = fields.String(required=True)
    version = fields.String(allow_none=True, metadata={"example": 'W/"3"'})


class EventSchema(Schema):
    """A change event (services/events.py): names and attribute paths, never values."""

    id = fields.String(required=True)
    type = fields.String(required=True, metadata={"example": "User.updated"})
    time = fields.String(required=True, metadata={"example": "2026-11-03T10:00:00.000Z"})
    organization = fields.String(required=True)
    resource = fields.Nested(EventResourceSchema, required=True)
    changed = fields.List(fields.String(), required=True, metadata={"example": ["name.familyName"]})
    actor = fields.String(allow_none=True, metadata={"example": "okta-prod"})


class EventPageSchema(Schema):
    events = fields.List(fields.Nested(EventSchema), required=True)
    next = fields.String(required=True, metadata={"description": "The cursor to pass as 'after' next time."})
