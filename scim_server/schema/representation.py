"""Discovery documents rendered from the catalog (RFC 7643 §5, §6, §7; RFC 7644 §4).

/Schemas, /ResourceTypes and /ServiceProviderConfig are built from the same objects that drive
validation, filtering and PATCH, so they cannot drift from what the server does. No nulls are
emitted (Entra rejects them), and every ServiceProviderConfig field is present (authentik needs
``bulk.maxOperations`` even when bulk is unsupported).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scim_server.schema.attributes import Attribute, AttributeType, Schema
from scim_server.schema.catalog import (
    RESOURCE_TYPE_SCHEMA_ID,
    SCHEMA_SCHEMA_ID,
    SERVICE_PROVIDER_CONFIG_SCHEMA_ID,
    ResourceType,
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the running server supports, as advertised in /ServiceProviderConfig."""

    max_results: int
    max_payload_size: int
    documentation_uri: str
    # Operations a Bulk request may hold (RFC 7644 §3.7); 0 when Bulk is not offered.
    max_operations: int = 0
    # Paging (RFC 9865 §4): the page size without ``count`` and the seconds a cursor stays valid;
    # 0 when cursor paging is not offered.
    default_page_size: int = 0
    cursor_timeout: int = 0


def render_attribute(attribute: Attribute) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": attribute.name,
        "type": attribute.type.value,
        "multiValued": attribute.multi_valued,
        "description": attribute.description,
        "required": attribute.required,
    }
    if attribute.type is not AttributeType.COMPLEX:
        body["caseExact"] = attribute.case_exact
    if attribute.canonical_values:
        body["canonicalValues"] = list(attribute.canonical_values)
    if attribute.type is AttributeType.REFERENCE:
        body["referenceTypes"] = list(attribute.reference_types)
    body["mutability"] = attribute.mutability.value
    body["returned"] = attribute.returned.value
    body["uniqueness"] = attribute.uniqueness.value
    if attribute.sub_attributes:
        body["subAttributes"] = [render_attribute(sub) for sub in attribute.sub_attributes]
    return body


def render_schema(schema: Schema, base_url: str) -> dict[str, Any]:
    """A schema resource (RFC 7643 §7)."""
    return {
        "schemas": [SCHEMA_SCHEMA_ID],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": [render_attribute(a) for a in schema.attributes],
        "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema.id}"},
    }


def render_resource_type(resource_type: ResourceType, base_url: str) -> dict[str, Any]:
    """A resource type resource (RFC 7643 §6)."""
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA_ID],
        "id": resource_type.name,
        "name": resource_type.name,
        "endpoint": resource_type.endpoint,
        "description": resource_type.description,
        "schema": resource_type.schema.id,
        "schemaExtensions": [
            {"schema": ext.schema.id, "required": ext.required} for ext in resource_type.extensions
        ],
        "meta": {
            "resourceType": "ResourceType",
            "location": f"{base_url}/ResourceTypes/{resource_type.name}",
        },
    }


def render_service_provider_config(capabilities: Capabilities, base_url: str) -> dict[str, Any]:
    """The service provider configuration (RFC 7643 §5), true to what this server implements."""
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA_ID],
        "documentationUri": capabilities.documentation_uri,
        "patch": {"supported": True},
        # The limits are given even when Bulk is not offered: some clients fail to parse a
        # configuration without them.
        "bulk": {
            "supported": capabilities.max_operations > 0,
            "maxOperations": capabilities.max_operations,
            "maxPayloadSize": capabilities.max_payload_size,
        },
        "filter": {"supported": True, "maxResults": capabilities.max_results},
        # RFC 9865 §4: both paging methods; by index unless a request sends a cursor.
        "pagination": {
            "cursor": capabilities.cursor_timeout > 0,
            "index": True,
            "defaultPaginationMethod": "index",
            "defaultPageSize": capabilities.default_page_size or capabilities.max_results,
            "maxPageSize": capabilities.max_results,
            **({"cursorTimeout": capabilities.cursor_timeout} if capabilities.cursor_timeout else {}),
        },
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "An organization-scoped bearer token in the Authorization header.",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def all_schemas(resource_types: tuple[ResourceType, ...]) -> list[Schema]:
    """Every schema the resource types use, each once, in catalog order."""
    seen: dict[str, Schema] = {}
    for resource_type in resource_types:
        seen.setdefault(resource_type.schema.id, resource_type.schema)
        for ext in resource_type.extensions:
            seen.setdefault(ext.schema.id, ext.schema)
    return list(seen.values())
