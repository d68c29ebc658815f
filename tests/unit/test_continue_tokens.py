"""An expired ``continue`` token: the 410 carries a new token (resourceVersion -1, as
upstream's etcd3 store writes it) that continues from the same key at the current revision."""

from __future__ import annotations

import base64

import orjson
import pytest

from pyk8s.apiserver.app import APIServer
from pyk8s.apiserver.options import decode_continue, encode_continue
from pyk8s.store import BACKENDS, open_store
from resourcehelpers import call, names, ok, pod

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture(params=BACKENDS)
def app(request):
    server = APIServer(open_store(request.param), compaction_interval=0)
    yield server
    server.store.close()


def _token_fields(token: str) -> dict:
    return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def test_expired_continue_carries_an_inconsistent_continuation(app):
    for i in range(4):
        ok(call(app, "POST", PODS, pod(f"p{i}")), 201)
    first = ok(call(app, "GET", PODS, query="limit=2"))
    assert names(first) == ["p0", "p1"]
    token = first["metadata"]["continue"]
    ok(call(app, "DELETE", f"{PODS}/p0"))
    ok(call(app, "POST", PODS, pod("p9")), 201)
    app.store.compact(app.store.current_revision())

    status, expired = call(app, "GET", PODS, query=f"limit=2&continue={token}")
    assert status == 410 and expired["reason"] == "Expired", expired
    assert expired["message"].endswith("or use the continue value from the 410 response.")
    fresh = expired["metadata"]["continue"]
    fields = _token_fields(fresh)
    assert fields["rv"] == -1 and fields["start"] == _token_fields(token)["start"]

    # The new token lists the rest as it is now: p9 (created after the first page) included.
    rest = ok(call(app, "GET", PODS, query=f"limit=2&continue={fresh}"))
    assert names(rest) == ["p2", "p3"]
    current = app.store.current_revision()
    assert rest["metadata"]["resourceVersion"] == str(current)
    # Later pages are consistent again, at that revision.
    assert _token_fields(rest["metadata"]["continue"])["rv"] == current
    last = ok(call(app, "GET", PODS, query=f"limit=2&continue={rest['metadata']['continue']}"))
    assert names(last) == ["p9"] and "continue" not in last["metadata"]


def test_a_minus_one_token_is_accepted(app):
    for i in range(3):
        ok(call(app, "POST", PODS, pod(f"p{i}")), 201)
    listed = ok(call(app, "GET", PODS, query=f"continue={encode_continue(-1, 'default/p0')}"))
    assert names(listed) == ["p1", "p2"]
    assert decode_continue(encode_continue(-1, "k")) == (-1, "k")


def test_a_zero_revision_token_is_still_refused(app):
    status, body = call(app, "GET", PODS, query=f"continue={encode_continue(0, 'default/p0')}")
    assert status == 400 and body["reason"] == "BadRequest"
