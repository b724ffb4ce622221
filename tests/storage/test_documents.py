"""Canonical resources <-> stored documents: near-native layout, ``_lc`` shadows, the extension key."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from scim_server.schema.catalog import USER_RESOURCE_TYPE
from scim_server.storage.documents import (
    Assignment,
    StoredResource,
    changed_keys,
    from_document,
    from_documents,
    to_document,
    update_document,
)
from tests.helpers import assert_assignment_makes, assert_fields_make, condition_holds

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ENTERPRISE_KEY = "urn:ietf:params:scim:schemas:extension:enterprise:2_0:User"
CREATED = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
MODIFIED = datetime(2026, 2, 3, 4, 5, 6, 7000, tzinfo=UTC)

FULL_USER: dict[str, Any] = {
    "userName": "BJensen@Example.com",
    "externalId": "EXT-Abc",
    "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
    "displayName": "Babs Jensen",
    "profileUrl": "https://login.example.com/BJensen",
    "title": "Tour Guide",
    "active": True,
    "emails": [
        {"value": "BJensen@Example.com", "type": "work", "primary": True, "display": "Work Mail"},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
    "addresses": [{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "primary": True}],
    "groups": [{"value": "G-1", "$ref": "https://scim.test/scim/v2/Groups/G-1", "display": "Tour Guides"}],
    "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAA"}],
    ENTERPRISE: {
        "employeeNumber": "701984",
        "department": "Tour Operations",
        "manager": {"value": "M-26118915", "$ref": "https://scim.test/scim/v2/Users/M-26118915"},
    },
}


def document(resource: dict[str, Any]) -> dict[str, Any]:
    return to_document(
        resource, USER_RESOURCE_TYPE, id="u-1", created=CREATED, last_modified=MODIFIED, version=3
    )


def internal_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() if k.startswith("_")] + [
            k for v in value.values() for k in internal_keys(v)
        ]
    if isinstance(value, list):
        return [k for v in value for k in internal_keys(v)]
    return []


async def test_a_full_user_is_stored_near_natively_with_lower_cased_shadows() -> None:
    assert document(FULL_USER) == {
        "_id": "u-1",
        "userName": "BJensen@Example.com",
        "externalId": "EXT-Abc",
        "name": {
            "formatted": "Ms. Barbara J Jensen III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "_lc": {"formatted": "ms. barbara j jensen iii", "familyName": "jensen", "givenName": "barbara"},
        },
        "displayName": "Babs Jensen",
        "profileUrl": "https://login.example.com/BJensen",
        "title": "Tour Guide",
        "active": True,
        "emails": [
            {
                "value": "BJensen@Example.com",
                "type": "work",
                "primary": True,
                "display": "Work Mail",
                "_lc": {"value": "bjensen@example.com", "type": "work", "display": "work mail"},
            },
            {"value": "babs@jensen.org", "type": "home", "_lc": {"value": "babs@jensen.org", "type": "home"}},
        ],
        "phoneNumbers": [
            {"value": "555-555-8377", "type": "work", "_lc": {"value": "555-555-8377", "type": "work"}}
        ],
        "addresses": [
            {
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "primary": True,
                "_lc": {"streetAddress": "100 universal city plaza", "locality": "hollywood"},
            }
        ],
        "groups": [
            {
                "value": "G-1",
                "ref": "https://scim.test/scim/v2/Groups/G-1",
                "display": "Tour Guides",
                "_lc": {"display": "tour guides"},
            }
        ],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAA"}],
        ENTERPRISE_KEY: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            # $ref is stored as ref: MongoDB would read "$ref" as the start of a DBRef.
            "manager": {"value": "M-26118915", "ref": "https://scim.test/scim/v2/Users/M-26118915"},
            "_lc": {"employeeNumber": "701984", "department": "tour operations"},
        },
        "meta": {"created": CREATED, "lastModified": MODIFIED, "version": 3},
        "_lc": {
            "userName": "bjensen@example.com",
            "displayName": "babs jensen",
            # profileUrl is a reference with caseExact false (RFC 7643 §8.7.1): it folds case too.
            "profileUrl": "https://login.example.com/bjensen",
            "title": "tour guide",
        },
    }


async def test_a_full_user_round_trips_to_the_same_resource_and_metadata() -> None:
    original = copy.deepcopy(FULL_USER)

    stored = from_document(document(FULL_USER), USER_RESOURCE_TYPE)

    assert stored == StoredResource(
        id="u-1", resource=FULL_USER, created=CREATED, last_modified=MODIFIED, version=3
    )
    assert original == FULL_USER  # to_document does not modify its input


def test_a_page_of_documents_reads_as_each_document_does() -> None:
    docs = [document(FULL_USER), _doc({"userName": "b"}, 7, MODIFIED)]
    for response_only in (False, True):
        page = from_documents(docs, USER_RESOURCE_TYPE, response_only=response_only)
        one_by_one = [from_document(d, USER_RESOURCE_TYPE, response_only=response_only) for d in docs]
        assert [(s.id, s.created, s.last_modified, s.version, s.response_only) for s in page] == [
            (s.id, s.created, s.last_modified, s.version, s.response_only) for s in one_by_one
        ]
        assert all(a.document is b.document for a, b in zip(page, one_by_one, strict=True))
    assert from_documents(docs, USER_RESOURCE_TYPE) == [from_document(d, USER_RESOURCE_TYPE) for d in docs]
    assert from_documents([], USER_RESOURCE_TYPE) == []


async def test_the_extension_lives_under_its_dot_free_urn_key() -> None:
    doc = document({"userName": "a", ENTERPRISE: {"costCenter": "4130"}})

    assert ENTERPRISE not in doc
    assert doc[ENTERPRISE_KEY] == {"costCenter": "4130", "_lc": {"costCenter": "4130"}}
    assert "." not in ENTERPRISE_KEY


async def test_case_exact_values_have_no_shadow() -> None:
    doc = document(FULL_USER)

    assert "externalId" not in doc["_lc"]
    assert "id" not in doc["_lc"] and "_id" not in doc["_lc"]
    assert "active" not in doc["_lc"]  # a boolean
    assert "value" not in doc["groups"][0]["_lc"] and "$ref" not in doc["groups"][0]["_lc"]
    assert "_lc" not in doc["x509Certificates"][0]
    assert "primary" not in doc["emails"][0]["_lc"]
    assert "_lc" not in doc[ENTERPRISE_KEY]["manager"]
    assert "_lc" not in doc["meta"]


async def test_a_resource_without_case_insensitive_strings_gets_no_shadow_object() -> None:
    doc = document({"externalId": "X", "active": False, "x509Certificates": [{"value": "AAAA"}]})

    assert doc == {
        "_id": "u-1",
        "externalId": "X",
        "active": False,
        "x509Certificates": [{"value": "AAAA"}],
        "meta": {"created": CREATED, "lastModified": MODIFIED, "version": 3},
    }


async def test_internal_keys_never_come_back_from_a_document() -> None:
    doc = document(FULL_USER)
    doc["_legacy"] = "internal"
    doc["emails"][1]["_note"] = {"x": 1}

    stored = from_document(doc, USER_RESOURCE_TYPE)

    assert internal_keys(stored.resource) == []
    assert stored.resource == FULL_USER
    assert "meta" not in stored.resource and "id" not in stored.resource


async def test_an_empty_extension_is_not_stored() -> None:
    doc = document({"userName": "a", ENTERPRISE: {}})

    assert ENTERPRISE_KEY not in doc
    assert from_document(doc, USER_RESOURCE_TYPE).resource == {"userName": "a"}


def _doc(resource: dict[str, Any], version: int, modified: datetime = CREATED) -> dict[str, Any]:
    return to_document(
        resource, USER_RESOURCE_TYPE, id="u-1", created=CREATED, last_modified=modified, version=version
    )


def test_a_write_rebuilds_only_the_changed_attributes_and_the_shadows_that_follow_them() -> None:
    before = copy.deepcopy(FULL_USER)
    after = copy.deepcopy(FULL_USER)
    after["userName"] = "Babs@Example.com"  # a case-insensitive attribute: its shadow changes too
    del after["title"]
    after["nickName"] = "Babs"
    del after[ENTERPRISE]
    old = _doc(before, 1)
    changed = changed_keys(before, after)
    assert changed == ["userName", "nickName", "title", ENTERPRISE]
    update = update_document(old, after, changed, USER_RESOURCE_TYPE, last_modified=MODIFIED, version=2)
    new = update.document
    assert new == _doc(after, 2, MODIFIED)
    assert_fields_make(old, update)
    # Only what changed is written: the fields of the changed attributes, their shadows and meta.
    assert set(update.set_fields) == {"userName", "nickName", "_lc", "meta"}
    assert update.unset_fields == ("title", ENTERPRISE_KEY)
    assert new["_lc"]["userName"] == "babs@example.com"
    assert ENTERPRISE_KEY not in new and "title" not in new
    assert list(new)[-1] == "nickName"  # a new attribute goes last, as the store puts a new $set field
    assert new["emails"] is old["emails"]  # unchanged values are shared, not copied
    assert old == _doc(before, 1)  # the old document is left as it was


def test_an_assignment_sets_values_and_their_shadows_where_another_value_is_held() -> None:
    old = _doc({"userName": "bjensen", "displayName": "Babs", "active": True}, 1)
    assignment = Assignment({"userName": "BJensen2", "title": "Chief", "active": True}, USER_RESOURCE_TYPE)
    assert assignment.fields == {
        "userName": "BJensen2",
        "title": "Chief",
        "active": True,
        "_lc.userName": "bjensen2",
        "_lc.title": "chief",
    }
    assert assignment.condition == {
        "$or": [{"userName": {"$ne": "BJensen2"}}, {"title": {"$ne": "Chief"}}, {"active": {"$ne": True}}]
    }
    new = _doc({"userName": "BJensen2", "displayName": "Babs", "active": True, "title": "Chief"}, 2, MODIFIED)
    assert_assignment_makes(old, assignment, new, last_modified=MODIFIED)
    assert assignment.changed(old) == ["title", "userName"]
    # One value: the condition is that value's alone; an attribute without a shadow gets none.
    single = Assignment({"externalId": "e-1"}, USER_RESOURCE_TYPE)
    assert single.fields == {"externalId": "e-1"}
    assert single.condition == {"externalId": {"$ne": "e-1"}}
    assert not condition_holds(single.condition, _doc({"userName": "u", "externalId": "e-1"}, 1))


def test_removing_the_last_shadowed_value_unsets_the_shadow_and_an_absent_key_is_not_unset() -> None:
    # userName goes (a PUT cannot do it, a direct update could); title was never there.
    old = _doc({"userName": "bjensen", "active": True}, 1)
    update = update_document(
        old, {"active": True}, ["userName", "title"], USER_RESOURCE_TYPE, last_modified=MODIFIED, version=2
    )
    assert update.document == _doc({"active": True}, 2, MODIFIED)
    assert_fields_make(old, update)
    assert update.unset_fields == ("userName", "_lc")
    assert set(update.set_fields) == {"meta"}
    # With another shadowed attribute left, the shadow is rewritten instead.
    old = _doc({"userName": "bjensen", "displayName": "Babs"}, 1)
    update = update_document(
        old, {"displayName": "Babs"}, ["userName"], USER_RESOURCE_TYPE, last_modified=MODIFIED, version=2
    )
    assert update.document == _doc({"displayName": "Babs"}, 2, MODIFIED)
    assert_fields_make(old, update)
    assert update.unset_fields == ("userName",)
    assert update.set_fields["_lc"] == {"displayName": "babs"}


def test_nothing_changed_means_no_keys() -> None:
    assert changed_keys(FULL_USER, copy.deepcopy(FULL_USER)) == []
    assert changed_keys({"title": "a"}, {}) == ["title"]
