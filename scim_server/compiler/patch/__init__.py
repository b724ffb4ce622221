"""PATCH: parse a PatchOp message and apply its operations to a canonical resource (RFC 7644 §3.5.2).

By job: :mod:`.operations` parses the message, :mod:`.paths` resolves paths (value filters
included), :mod:`.applier` applies operations, :mod:`.pruning` makes the result canonical again and
:mod:`.assignments` recognises the PATCHes the store can apply as a plain ``$set``.

Pure: no I/O, no clock. :func:`apply_patch` works on a deep copy and returns the new canonical
resource, so a failing operation leaves nothing half-applied; the service then stores the result
under its version guard.

Beyond the letter of the RFC, the IdP behaviour notes require (and this package does):

* ``op`` and member names in any case; ``schemas``, a top-level ``id`` and per-operation ``name`` ignored;
* ``add`` on a single-valued attribute is an upsert (Entra sends ``Add`` for attributes already set);
* a no-path value object whose keys are attribute *paths* (``name.givenName``, ``urn:…:User:employeeNumber``);
  readOnly keys there (``id``, ``meta``, ``groups``) and ``schemas`` are ignored (Okta sends ``id``);
* a filtered ``add``/``replace`` matching nothing, whose filter is a conjunction of ``eq`` terms, creates
  the element from those terms (``emails[type eq "work"].value`` when there is no work email);
* setting ``primary`` to true on one element clears it on the others;
* ``remove`` with ``path: "emails"`` and a ``value`` removes only the listed elements, never all of them.

Error choices: a malformed message is ``invalidSyntax``; ``remove`` without a path is ``noTarget``
(RFC 7644 §3.5.2.2); ``add``/``replace`` without a ``value`` member is ``invalidValue`` ("a required value
was missing", RFC 7644 §3.12); an unknown attribute or a filter on a non-multi-valued attribute is
``invalidPath``; an explicit path to a readOnly attribute, or a change to a set immutable one, is
``mutability``; a value filter matching nothing (and not creatable) is ``noTarget``.
"""

from scim_server.compiler.patch.applier import apply_patch
from scim_server.compiler.patch.assignments import simple_assignments
from scim_server.compiler.patch.operations import OpName, PatchOperation, parse_patch_request

__all__ = ["OpName", "PatchOperation", "apply_patch", "parse_patch_request", "simple_assignments"]
