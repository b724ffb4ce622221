"""Resource ids: random (version 4) UUIDs, as RFC 7643 §3.1 suggests for ``id``.

The OS's randomness is read 256 ids at a time and each id is formatted directly, because every create
makes one and ``uuid.uuid4()`` costs a system call and a ``UUID`` object per id. The ids are the same:
122 random bits from the OS, the version and variant bits set as ``uuid4`` sets them. A forked worker
starts with an empty buffer, so two processes never hand out the same bytes.
"""

from __future__ import annotations

import os

_IDS_PER_READ = 256
_VERSION_4 = 4 << 76
_VARIANT_RFC_4122 = 0x8000 << 48
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))


class _RandomIds:
    __slots__ = ("_buffer", "_offset")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buffer = b""
        self._offset = 0

    def new(self) -> str:
        offset = self._offset
        if offset >= len(self._buffer):
            self._buffer = os.urandom(16 * _IDS_PER_READ)
            offset = 0
        self._offset = offset + 16
        number = int.from_bytes(self._buffer[offset : offset + 16]) & _CLEAR | _VERSION_4 | _VARIANT_RFC_4122
        text = f"{number:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_IDS = _RandomIds()
os.register_at_fork(after_in_child=_IDS.reset)


def new_resource_id() -> str:
    """A new random UUID in its canonical text form (``uuid4()``'s, lower-case hex)."""
    return _IDS.new()
