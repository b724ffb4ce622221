"""Password hashing for the writeOnly ``password`` attribute (RFC 7643 §4.1.1).

A provisioned password is stored only as a salted scrypt hash; it is never returned (returned: never)
and never filterable. Hashing costs tens of milliseconds of CPU, so callers run it in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "$scrypt$"
_N, _R, _P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{PREFIX}n={_N},r={_R},p={_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored hash in constant time (for applications reading the store)."""
    try:
        _, _, params, salt_b64, digest_b64 = stored.split("$")
        fields = dict(item.split("=") for item in params.split(","))
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(fields["n"]),
            r=int(fields["r"]),
            p=int(fields["p"]),
            dklen=len(expected),
        )
    except (ValueError, KeyError):
        return False
    return hmac.compare_digest(actual, expected)
