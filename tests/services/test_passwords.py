"""Passwords are stored as salted scrypt hashes that applications reading the store can verify."""

from __future__ import annotations

from scim_server.services.passwords import hash_password, verify_password


def test_a_hash_verifies_its_password_and_nothing_else() -> None:
    stored = hash_password("t1meMa$heen")
    assert stored.startswith("$scrypt$n=16384,r=8,p=1$")
    assert "t1meMa$heen" not in stored
    assert verify_password("t1meMa$heen", stored)
    assert not verify_password("t1memaheen", stored)


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same") != hash_password("same")


def test_malformed_stored_values_never_verify() -> None:
    for stored in ("", "plain-text", "$scrypt$n=x$abc$def", "$scrypt$n=16384,r=8,p=1$!!$!!"):
        assert not verify_password("anything", stored)
