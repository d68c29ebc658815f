"""Routing, list options, continue tokens, merge patch, compaction scheduling, public surface."""

from __future__ import annotations

import pytest

from pyk8s.api.kinds import DEPLOYMENTS, NAMESPACES, NODES, PODS, default_registry
from pyk8s.api.errors import StatusError
from pyk8s.api.patch import merge_patch
from pyk8s.apiserver.compaction import Compactor
from pyk8s.apiserver.options import decode_continue, encode_continue, parse_list_options, parse_query
from pyk8s.apiserver.routing import Route, route
from pyk8s.store.reference import ReferenceStore

REGISTRY = default_registry()


@pytest.mark.parametrize("path,expected", [
    ("/api/v1/pods", Route(PODS, "", "", "", False)),
    ("/api/v1/pods/", Route(PODS, "", "", "", False)),
    ("/api/v1/namespaces/ns/pods", Route(PODS, "ns", "", "", False)),
    ("/api/v1/namespaces/ns/pods/p", Route(PODS, "ns", "p", "", False)),
    ("/api/v1/namespaces/ns/pods/p/status", Route(PODS, "ns", "p", "status", False)),
    ("/api/v1/nodes", Route(NODES, "", "", "", False)),
    ("/api/v1/nodes/n", Route(NODES, "", "n", "", False)),
    ("/api/v1/nodes/n/status", Route(NODES, "", "n", "status", False)),
    ("/api/v1/watch/pods", Route(PODS, "", "", "", True)),
    ("/api/v1/watch/namespaces/ns/pods", Route(PODS, "ns", "", "", True)),
    ("/api/v1/namespaces/watch/pods", Route(PODS, "watch", "", "", False)),
    ("/api/v1/pods/p", None),
    ("/api/v1/namespaces/ns/nodes", None),
    ("/api/v1/namespaces/ns/pods/p/status/x", None),
    ("/api/v1/foos", None),
    ("/api/v2/pods", None),
    ("/apis/apps/v1/deployments", Route(DEPLOYMENTS, "", "", "", False)),
    ("/apis/apps/v1/daemonsets", None),
    ("/api/v1/namespaces/ns/finalize", Route(NAMESPACES, "", "ns", "finalize", False)),
    ("/api/v1/namespaces/ns/pods/p/log", Route(PODS, "ns", "p", "log", False)),
    ("/api/v1/namespaces/ns/pods/p/exec", None),
    ("/api", None),
    ("/", None),
    ("/api/v1/namespaces//pods", None),
    ("/api/v1/watch", None),
    ("/api/v1/watch/nodes/n", Route(NODES, "", "n", "", True)),
])
def test_route(path, expected):
    assert route(REGISTRY, path) == expected


def test_parse_query_takes_first_value():
    assert parse_query("a=1&a=2&b=&c=x%3Dy") == {"a": "1", "b": "", "c": "x=y"}


def test_continue_token_round_trip():
    token = encode_continue(42, "default/p1")
    assert "=" not in token
    assert decode_continue(token) == (42, "default/p1")
    for bad in ("", "%%%", "eyJ2IjoieCJ9", encode_continue(42, "x").upper()):
        with pytest.raises(StatusError) as info:
            decode_continue(bad)
        assert info.value.code == 400


def test_list_options():
    options = parse_list_options(PODS, parse_query("labelSelector=a%3Db&fieldSelector=spec.nodeName%3Dn&limit=5&watch=1&timeoutSeconds=7"))
    assert options.label_selector == (("a", "=", ("b",)),)
    assert options.field_selector == (("spec.nodeName", "=", "n"),)
    assert (options.limit, options.watch, options.timeout_seconds) == (5, True, 7)
    with pytest.raises(StatusError):
        parse_list_options(NODES, parse_query("fieldSelector=spec.nodeName%3Dn"))
    with pytest.raises(StatusError):
        parse_list_options(PODS, parse_query(f"continue={encode_continue(3, 'a')}&resourceVersion=5"))


def test_merge_patch_rfc7386_examples():
    # The examples of RFC 7386 appendix A.
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for target, patch, expected in cases:
        assert merge_patch(target, patch) == expected


def test_compactor_keeps_retention_window():
    store = ReferenceStore()
    compactor = Compactor(store, interval=1, retention=10)
    assert compactor.tick(0.0) == 0
    store.create("pods", "default", "a", b'{"metadata":{"resourceVersion":""}}', len(b'{"metadata":{"resourceVersion":"'))
    assert compactor.tick(5.0) == 0
    assert compactor.tick(10.0) == 1  # the revision current at 0, ten seconds ago
    store.create("pods", "default", "b", b'{"metadata":{"resourceVersion":""}}', len(b'{"metadata":{"resourceVersion":"'))
    assert compactor.tick(15.0) == 2  # sampled at 5, now older than the window


def test_public_surface():
    import pyk8s.apiserver.app as app_module
    import pyk8s.apiserver.testing as testing_module

    assert app_module.__all__ == ["APIServer", "Response"]
    assert set(testing_module.__all__) == {"APIServerProcess", "run_apiserver", "apiserver_fixture", "free_port"}
    import pyk8s.apiserver

    assert set(pyk8s.apiserver.__all__) == {
        "APIServer", "Response", "ServerConfig", "serve", "APIServerProcess", "run_apiserver",
    }
    for name in pyk8s.apiserver.__all__:
        assert getattr(pyk8s.apiserver, name) is not None
