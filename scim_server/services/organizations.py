"""The organizations file: what each organization's configuration is, the one place that answers it.

A TOML file (setting ``organizations_file``) names organizations that differ from the default::

    [organizations.acme]
    delete = "soft"                  # "hard" (default) or "soft"
    soft_delete_retention_days = 30  # soft-deleted resources are purged after this many days
    adopt_existing = true            # default false
    extensions = ["acme-user.json"]  # paths relative to this file: RFC 7643 §7 schema resources

    [[organizations.acme.webhooks]]
    url = "https://hooks.example.com/scim"
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

Every key is parsed and validated when the file is read; an error names the key (``organizations.acme.
delete``) so the operator can fix it. An organization not in the file gets :data:`DEFAULT_ORGANIZATION`,
today's behaviour. :class:`OrganizationsRegistry` holds the configuration in force and reloads it (on
SIGHUP): an invalid file then keeps the previous configuration, because a typo must not take a running
server's organizations back to the defaults.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from scim_server.schema.catalog import ENTERPRISE_USER_SCHEMA_ID, GROUP_SCHEMA_ID, USER_SCHEMA_ID
from scim_server.schema.declared import OrganizationResourceTypes
from scim_server.settings import SettingsError

logger = logging.getLogger("scim_server.organizations")

DeleteMode = Literal["hard", "soft"]
DEFAULT_SOFT_DELETE_RETENTION_DAYS = 30
# Organization ids form collection names (storage/repository.py): the same alphabet.
_ORG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_ORGANIZATION_KEYS = frozenset(
    {"delete", "soft_delete_retention_days", "adopt_existing", "extensions", "webhooks"}
)
_WEBHOOK_KEYS = frozenset({"url", "secret"})
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)

# RFC 7643 §7: the characteristics of an attribute definition, and the values each may take (§2.2,
# §2.3 for the types). Omitted characteristics take the §2.2 defaults, as /Schemas would show them.
_ATTRIBUTE_TYPES = ("string", "boolean", "decimal", "integer", "dateTime", "reference", "binary", "complex")
_ENUMS: dict[str, tuple[str, ...]] = {
    "type": _ATTRIBUTE_TYPES,
    "mutability": ("readOnly", "readWrite", "immutable", "writeOnly"),
    "returned": ("always", "never", "default", "request"),
    "uniqueness": ("none", "server", "global"),
}
_BOOLEANS = ("multiValued", "required", "caseExact")
_STRING_LISTS = ("canonicalValues", "referenceTypes")
_ATTRIBUTE_KEYS = frozenset({"name", "description", "subAttributes", *_ENUMS, *_BOOLEANS, *_STRING_LISTS})
_SCHEMA_KEYS = frozenset({"id", "name", "description", "attributes", "resourceType", "schemas", "meta"})
# RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA.
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_BUILT_IN_SCHEMAS = frozenset({USER_SCHEMA_ID, GROUP_SCHEMA_ID, ENTERPRISE_USER_SCHEMA_ID})
RESOURCE_TYPES = ("User", "Group")


class OrganizationsError(SettingsError):
    """The organizations file is invalid; the message names the key and the file."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """One endpoint that receives an organization's change events (Standard Webhooks).

    ``key`` is the HMAC-SHA256 key: the base64-decoded part of the secret after ``whsec_``. Neither the
    secret nor the key is in ``repr``, so logging a configuration cannot leak them.
    """

    url: str
    secret: str = field(repr=False)
    key: bytes = field(repr=False)

    @property
    def id(self) -> str:
        """A stable name for the endpoint (its delivery state is kept under it): a hash of the URL."""
        return hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:24]

    @property
    def display_url(self) -> str:
        """The URL without credentials, query or fragment, which may carry secrets: for logs."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class DeclaredExtension:
    """A schema extension an organization declares: an RFC 7643 §7 schema resource as ``/Schemas``
    would return it (``schema``, read-only, without ``resourceType``), extending ``resource_type``."""

    id: str
    resource_type: str
    path: Path
    schema: Mapping[str, Any] = field(compare=True)


@dataclass(frozen=True, slots=True)
class OrganizationConfig:
    """One organization's configuration; the defaults are today's behaviour."""

    delete: DeleteMode = "hard"
    soft_delete_retention_days: int = DEFAULT_SOFT_DELETE_RETENTION_DAYS
    adopt_existing: bool = False
    extensions: tuple[DeclaredExtension, ...] = ()
    webhooks: tuple[Webhook, ...] = ()


DEFAULT_ORGANIZATION = OrganizationConfig()


@dataclass(frozen=True, slots=True)
class Organizations:
    """The configuration of every organization: the file's, or the default for any other."""

    configured: Mapping[str, OrganizationConfig] = field(default_factory=lambda: MappingProxyType({}))
    source: Path | None = None

    def get(self, org_id: str) -> OrganizationConfig:
        """Organization ``org_id``'s configuration; :data:`DEFAULT_ORGANIZATION` when not in the file."""
        return self.configured.get(org_id, DEFAULT_ORGANIZATION)

    def with_webhooks(self) -> Iterator[tuple[str, OrganizationConfig]]:
        """The organizations that have at least one webhook, by id."""
        for org_id, config in sorted(self.configured.items()):
            if config.webhooks:
                yield org_id, config


NO_ORGANIZATIONS = Organizations()


def _fail(key: str, message: str, source: Path) -> OrganizationsError:
    return OrganizationsError(f"organizations file {source}: {key}: {message}")


def load_organizations(path: Path) -> Organizations:
    """Read and validate the organizations file; :class:`OrganizationsError` names the bad key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OrganizationsError(f"cannot read organizations file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise OrganizationsError(f"organizations file {path} is not valid TOML: {error}") from None
    unknown = sorted(set(data) - {"organizations"})
    if unknown:
        raise _fail(unknown[0], "unknown key (the file holds only [organizations.<id>] tables)", path)
    table = data.get("organizations", {})
    if not isinstance(table, dict):
        raise _fail("organizations", "must be a table of organizations", path)
    configured: dict[str, OrganizationConfig] = {}
    for org_id, entry in table.items():
        key = f"organizations.{org_id}"
        if not _ORG_ID.fullmatch(org_id):
            raise _fail(key, "an organization id is 1 to 64 letters, digits, '_' or '-'", path)
        if not isinstance(entry, dict):
            raise _fail(key, "must be a table", path)
        configured[org_id] = _organization(key, entry, path)
    return Organizations(MappingProxyType(configured), path)


def _organization(key: str, entry: Mapping[str, Any], source: Path) -> OrganizationConfig:
    unknown = sorted(set(entry) - _ORGANIZATION_KEYS)
    if unknown:
        raise _fail(f"{key}.{unknown[0]}", "unknown key", source)
    delete = entry.get("delete", "hard")
    if delete not in ("hard", "soft"):
        raise _fail(f"{key}.delete", 'must be "hard" or "soft"', source)
    retention = entry.get("soft_delete_retention_days", DEFAULT_SOFT_DELETE_RETENTION_DAYS)
    if type(retention) is not int or not 1 <= retention <= 36500:
        raise _fail(
            f"{key}.soft_delete_retention_days", "must be a whole number of days from 1 to 36500", source
        )
    adopt = entry.get("adopt_existing", False)
    if type(adopt) is not bool:
        raise _fail(f"{key}.adopt_existing", "must be true or false", source)
    paths = entry.get("extensions", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise _fail(f"{key}.extensions", "must be a list of file paths", source)
    extensions: list[DeclaredExtension] = []
    for index, relative in enumerate(paths):
        extension = _extension(f"{key}.extensions[{index}]", source.parent / relative, source)
        if any(e.id == extension.id for e in extensions):
            raise _fail(f"{key}.extensions[{index}]", f"schema {extension.id} is declared twice", source)
        extensions.append(extension)
    hooks = entry.get("webhooks", [])
    if not isinstance(hooks, list):
        raise _fail(f"{key}.webhooks", "must be an array of tables ([[...webhooks]])", source)
    webhooks: list[Webhook] = []
    for index, hook in enumerate(hooks):
        webhook = _webhook(f"{key}.webhooks[{index}]", hook, source)
        if any(w.url == webhook.url for w in webhooks):
            raise _fail(f"{key}.webhooks[{index}].url", "the same URL is given twice", source)
        webhooks.append(webhook)
    return OrganizationConfig(
        delete=delete,
        soft_delete_retention_days=retention,
        adopt_existing=adopt,
        extensions=tuple(extensions),
        webhooks=tuple(webhooks),
    )


def _webhook(key: str, hook: Any, source: Path) -> Webhook:
    if not isinstance(hook, dict):
        raise _fail(key, "must be a table with url and secret", source)
    unknown = sorted(set(hook) - _WEBHOOK_KEYS)
    if unknown:
        raise _fail(f"{key}.{unknown[0]}", "unknown key", source)
    url = hook.get("url")
    if not isinstance(url, str):
        raise _fail(f"{key}.url", "is required: the http:// or https:// URL to POST events to", source)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(f"{key}.url", "must be an http:// or https:// URL with a host", source)
    secret = hook.get("secret")
    if not isinstance(secret, str):
        raise _fail(f"{key}.secret", "is required: a Standard Webhooks secret, whsec_<base64>", source)
    # The message never repeats the secret: it ends up in logs.
    if not secret.startswith(SECRET_PREFIX):
        raise _fail(f"{key}.secret", "must start with whsec_ (Standard Webhooks secret format)", source)
    try:
        key_bytes = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise _fail(f"{key}.secret", "the part after whsec_ must be base64", source) from None
    if not 24 <= len(key_bytes) <= 64:
        raise _fail(f"{key}.secret", "must encode 24 to 64 bytes of key (Standard Webhooks)", source)
    return Webhook(url=url, secret=secret, key=key_bytes)


def _extension(key: str, path: Path, source: Path) -> DeclaredExtension:
    """Load an extension file: an RFC 7643 §7 schema resource plus a top-level ``resourceType``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise _fail(key, f"cannot read {path}: {error.strerror}", source) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _fail(key, f"{path} is not valid JSON: {error}", source) from None
    if not isinstance(document, dict):
        raise _fail(key, f"{path} must hold a JSON object (a schema resource)", source)
    where = f"{key} ({path.name})"
    unknown = sorted(set(document) - _SCHEMA_KEYS)
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", "unknown key in a schema resource (RFC 7643 §7)", source)
    schema_id = document.get("id")
    if not isinstance(schema_id, str) or not schema_id.lower().startswith("urn:") or len(schema_id) < 5:
        raise _fail(f"{where}.id", "must be the schema's URN (urn:...)", source)
    if schema_id in _BUILT_IN_SCHEMAS:
        raise _fail(f"{where}.id", f"{schema_id} is a built-in schema", source)
    for name in ("name", "description"):
        if name in document and not isinstance(document[name], str):
            raise _fail(f"{where}.{name}", "must be a string", source)
    if not isinstance(document.get("name"), str) or not document["name"]:
        raise _fail(f"{where}.name", "is required: the schema's human-readable name", source)
    resource_type = document.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise _fail(f"{where}.resourceType", 'must be "User" or "Group" (what the schema extends)', source)
    attributes = document.get("attributes")
    if not isinstance(attributes, list) or not attributes:
        raise _fail(f"{where}.attributes", "must be a non-empty list of attribute definitions", source)
    normalized = _attributes(f"{where}.attributes", attributes, source, nested=False)
    schema: dict[str, Any] = {"id": schema_id, "name": document["name"]}
    if "description" in document:
        schema["description"] = document["description"]
    schema["attributes"] = normalized
    return DeclaredExtension(schema_id, resource_type, path, MappingProxyType(schema))


def _attributes(key: str, attributes: list[Any], source: Path, *, nested: bool) -> list[dict[str, Any]]:
    seen: set[str] = set()
    normalized: list[dict[str, Any]] = []
    for index, attribute in enumerate(attributes):
        at = f"{key}[{index}]"
        if not isinstance(attribute, dict):
            raise _fail(at, "must be an attribute definition (an object)", source)
        unknown = sorted(set(attribute) - _ATTRIBUTE_KEYS)
        if unknown:
            raise _fail(f"{at}.{unknown[0]}", "unknown attribute characteristic (RFC 7643 §7)", source)
        name = attribute.get("name")
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            raise _fail(
                f"{at}.name",
                "must be an attribute name (RFC 7643 §2.1: a letter, then letters, digits, '-' or '_')",
                source,
            )
        if name.lower() in seen:
            raise _fail(f"{at}.name", f"{name!r} is defined twice (names are case-insensitive)", source)
        seen.add(name.lower())
        at = f"{key}[{name}]"
        for characteristic, allowed in _ENUMS.items():
            if characteristic in attribute and attribute[characteristic] not in allowed:
                raise _fail(f"{at}.{characteristic}", f"must be one of {', '.join(allowed)}", source)
        if "type" not in attribute:
            raise _fail(f"{at}.type", f"is required: one of {', '.join(_ATTRIBUTE_TYPES)}", source)
        for characteristic in _BOOLEANS:
            if characteristic in attribute and type(attribute[characteristic]) is not bool:
                raise _fail(f"{at}.{characteristic}", "must be true or false", source)
        for characteristic in _STRING_LISTS:
            values = attribute.get(characteristic)
            if values is not None and (
                not isinstance(values, list) or not all(isinstance(v, str) for v in values)
            ):
                raise _fail(f"{at}.{characteristic}", "must be a list of strings", source)
        if "description" in attribute and not isinstance(attribute["description"], str):
            raise _fail(f"{at}.description", "must be a string", source)
        kind = attribute["type"]
        if "referenceTypes" in attribute and kind != "reference":
            raise _fail(f"{at}.referenceTypes", 'is only for attributes of type "reference"', source)
        definition: dict[str, Any] = {
            "name": name,
            "type": kind,
            "multiValued": attribute.get("multiValued", False),
            "description": attribute.get("description", ""),
            "required": attribute.get("required", False),
            "caseExact": attribute.get("caseExact", False),
            "mutability": attribute.get("mutability", "readWrite"),
            "returned": attribute.get("returned", "default"),
            "uniqueness": attribute.get("uniqueness", "none"),
        }
        for characteristic in _STRING_LISTS:
            if characteristic in attribute:
                definition[characteristic] = list(attribute[characteristic])
        subs = attribute.get("subAttributes")
        if kind == "complex":
            if nested:
                raise _fail(f"{at}.type", "a sub-attribute cannot be complex (RFC 7643 §2.3.8)", source)
            if not isinstance(subs, list) or not subs:
                raise _fail(
                    f"{at}.subAttributes", "a complex attribute needs a list of sub-attributes", source
                )
            definition["subAttributes"] = _attributes(f"{at}.subAttributes", subs, source, nested=True)
        elif subs is not None:
            raise _fail(f"{at}.subAttributes", 'is only for attributes of type "complex"', source)
        normalized.append(definition)
    return normalized


class OrganizationsRegistry:
    """The organizations configuration in force in this process, reloadable.

    ``path`` None means no file: every organization gets the default. ``resource_types`` holds each
    organization's User and Group resource types with its declared extensions, rebuilt with each
    configuration taken (``schema/declared.py``).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.resource_types = OrganizationResourceTypes()
        self._current = NO_ORGANIZATIONS if path is None else load_organizations(path)
        self._take(self._current)

    def _take(self, organizations: Organizations) -> None:
        self.resource_types.load(
            {
                org_id: [(e.resource_type, e.schema) for e in config.extensions]
                for org_id, config in organizations.configured.items()
            }
        )
        self._current = organizations

    @property
    def current(self) -> Organizations:
        return self._current

    def get(self, org_id: str) -> OrganizationConfig:
        """Organization ``org_id``'s configuration now."""
        return self._current.get(org_id)

    def reload(self) -> bool:
        """Read the file again (SIGHUP); on an error keep the previous configuration and log it."""
        if self.path is None:
            return True
        try:
            loaded = load_organizations(self.path)
        except OrganizationsError as error:
            logger.error("organizations file not reloaded, the previous configuration stays: %s", error)
            return False
        self._take(loaded)
        logger.info(
            "organizations file %s reloaded: %d organization(s)", self.path, len(self._current.configured)
        )
        return True
