"""The decode check's fast pass (schema.py: per-field plain types, remembered timestamps and
base64 values, C-level integer bounds) against the path-tracking pass alone: on many
mutated objects both give the same outcome (the same error or warnings, the same object)."""

from __future__ import annotations

import copy
import random

import pytest

from pyk8s.api import schema
from pyk8s.api.errors import StatusError

EVENT = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "measured-00001.1", "namespace": "p", "labels": {"a": "b"}},
    "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": "p", "name": "x", "uid": "u", "resourceVersion": "5"},
    "reason": "Scheduled",
    "message": "Successfully assigned p/x to node-1",
    "type": "Normal",
    "source": {"component": "default-scheduler"},
    "reportingComponent": "default-scheduler",
    "reportingInstance": "host",
    "action": "Binding",
    "firstTimestamp": "2026-11-27T10:00:00Z",
    "lastTimestamp": "2026-11-27T10:00:00Z",
    "count": 1,
}

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "p", "labels": {"app": "web"}, "creationTimestamp": "2026-02-28T10:00:00Z"},
    "spec": {
        "containers": [
            {
                "name": "c",
                "image": "img",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}},
            }
        ],
        "priority": 5,
        "terminationGracePeriodSeconds": 30,
        "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 300}],
    },
}

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dmFsdWU=", "big": "QUJD" * 40}}

# Replacement values: every JSON type, bounds of the integer kinds, timestamps and base64
# texts valid and not, quantities in several spellings.
VALUES = [
    None, True, 0, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, 1.5, 0.5, "", "x", "100m", "1.5Gi", "abc",
    "2026-11-27T10:00:00Z", "2026-02-30T10:00:00Z", "2026-11-27T10:00:00+01:00", "2026-11-27T10:00:00+25:00",
    "2026-11-31T10:00:00Z", "2026-11-27", "dmFsdWU=", "dmFsdWU", "QUJD" * 30 + "!", [], [1, 2], [None], {}, {"x": 1},
]


def _outcome(obj, kind, directive):
    try:
        warnings = schema.check_gvk(obj, "", "v1", kind, directive)
    except StatusError as error:
        return ("error", error.code, error.message)
    return ("ok", warnings, obj)


def _slow_outcome(obj, kind, directive, monkeypatch):
    checker = schema._checker("", "v1", kind)
    with monkeypatch.context() as patched:
        patched.setattr(checker, "fast", schema._raise_slow)
        return _outcome(obj, kind, directive)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def _mutated(base, rng):
    obj = copy.deepcopy(base)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice([p for p in _paths(obj) if p])
        holder = obj
        for step in path[:-1]:
            holder = holder[step]
        if rng.random() < 0.15 and isinstance(holder, dict):
            holder["unknownField" + str(rng.randint(0, 3))] = rng.choice(VALUES)
        else:
            holder[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    return obj


@pytest.mark.parametrize("base", [EVENT, POD, SECRET], ids=["event", "pod", "secret"])
@pytest.mark.parametrize("directive", ["Warn", "Strict", "Ignore"])
def test_fast_pass_agrees_with_the_path_tracking_pass(base, directive, monkeypatch):
    rng = random.Random(f"{base['kind']}-{directive}")
    for _ in range(400):
        obj = _mutated(base, rng)
        slow = _slow_outcome(copy.deepcopy(obj), base["kind"], directive, monkeypatch)
        # Twice: the second run meets the values the first remembered.
        assert _outcome(copy.deepcopy(obj), base["kind"], directive) == slow, obj
        assert _outcome(copy.deepcopy(obj), base["kind"], directive) == slow, obj


def test_invalid_timestamps_and_base64_are_never_remembered():
    for _ in range(2):
        event = copy.deepcopy(EVENT)
        event["firstTimestamp"] = "2026-02-30T10:00:00Z"
        with pytest.raises(StatusError) as raised:
            schema.check_gvk(event, "", "v1", "Event")
        assert raised.value.code == 400
        secret = copy.deepcopy(SECRET)
        secret["data"]["k"] = "dmFsdWU"
        with pytest.raises(StatusError):
            schema.check_gvk(secret, "", "v1", "Secret")
    assert "2026-02-30T10:00:00Z" not in schema._KNOWN_TIMES
    assert "dmFsdWU" not in schema._KNOWN_BASE64
    # Long base64 values (secrets) are checked every time, not kept.
    assert schema.check_gvk(copy.deepcopy(SECRET), "", "v1", "Secret") == []
    assert "QUJD" * 40 not in schema._KNOWN_BASE64
    assert "dmFsdWU=" in schema._KNOWN_BASE64


def test_known_values_are_bounded():
    known = schema._KnownGood(lambda value: True, 1 << 30)
    for index in range(schema._KNOWN_GOOD_MAX + 10):
        assert known[str(index)] is True
    assert len(known) <= schema._KNOWN_GOOD_MAX


@pytest.mark.parametrize("value, ok", [(2**31 - 1, True), (-(2**31), True), (2**31, False), (-(2**31) - 1, False)])
def test_int32_bounds(value, ok):
    event = copy.deepcopy(EVENT)
    event["count"] = value
    if ok:
        assert schema.check_gvk(event, "", "v1", "Event") == []
    else:
        with pytest.raises(StatusError, match=f"cannot unmarshal number {value} into Go struct field Event.count of type int32"):
            schema.check_gvk(event, "", "v1", "Event")
