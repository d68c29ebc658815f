"""Server-made uids (pyk8s.api.meta.new_uid): random version-4 UUIDs in their text form,
made a batch at a time."""

from __future__ import annotations

import collections
import re
import uuid

from pyk8s.api import meta

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_a_batch_is_distinct_version_4_uuids():
    batch = meta._uid_batch()
    assert len(batch) == meta._UUID_BATCH
    assert len(set(batch)) == len(batch)
    for text in batch:
        assert _UUID4.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_the_random_digits_are_all_used():
    batch = meta._uid_batch() + meta._uid_batch()
    # The variant digit takes its four values, every other random digit its sixteen,
    # at every position (a mask or a group cut in the wrong place would pin some).
    assert set(collections.Counter(text[19] for text in batch)) == set("89ab")
    for position in (0, 7, 9, 12, 15, 17, 20, 24, 35):
        assert len({text[position] for text in batch}) == 16, position


def test_new_uid_takes_from_the_pool_and_refills_it():
    meta._reset_random_pool()
    first = meta.new_uid()
    assert _UUID4.match(first)
    assert len(meta._uids) == meta._UUID_BATCH - 1
    seen = {first} | {meta.new_uid() for _ in range(meta._UUID_BATCH + 5)}
    assert len(seen) == meta._UUID_BATCH + 6
