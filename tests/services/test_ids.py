"""Resource ids: canonical version 4 UUIDs, unique, and never shared with a forked worker."""

from __future__ import annotations

import os
import uuid

import pytest

from scim_server.services import ids
from scim_server.services.ids import new_resource_id


def test_ids_are_canonical_random_uuids() -> None:
    made = [new_resource_id() for _ in range(3 * 256 + 7)]  # across several reads of randomness

    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case, hyphenated: uuid4()'s text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert len(set(made)) == len(made)


def test_the_random_bits_are_the_operating_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    source = ids._RandomIds()
    monkeypatch.setattr(ids.os, "urandom", lambda n: b"\xff" * n)
    assert source.new() == "ffffffff-ffff-4fff-bfff-ffffffffffff"
    monkeypatch.setattr(ids.os, "urandom", lambda n: b"\x00" * n)
    source.reset()
    assert source.new() == "00000000-0000-4000-8000-000000000000"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Python 3.12+ warns about fork() in a process with threads; the child here only writes to a pipe.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_worker_does_not_repeat_the_parents_ids() -> None:
    new_resource_id()  # the buffer now holds the parent's next ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.close(read)
        os.write(write, new_resource_id().encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode()
    os.waitpid(pid, 0)

    assert child and child != new_resource_id()
