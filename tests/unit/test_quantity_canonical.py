"""resource.Quantity canonical form: ``canonical_quantity`` against apimachinery's
quantity_test.go examples, the schema check rewriting Quantity fields on both of its passes,
and kube-apiserver's storing of the canonical form over HTTP."""

from __future__ import annotations

import httpx
import pytest

from pyk8s.api._scalars import canonical_quantity, quantity_error
from pyk8s.api.schema import check_gvk
from pyk8s.apiserver.testing import APIServerProcess

# (input, Quantity.String() after ParseQuantity)
UPSTREAM = [
    # TestQuantityParseEmit
    ("1Ki", "1Ki"), ("1Mi", "1Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"),
    (".001Ki", "1024m"), (".000001Ki", "1024u"), (".000000001Ki", "1024n"), (".000000000001Ki", "2n"),
    # TestQuantityString: the alternate spellings print the canonical one
    ("307200Ki", "300Mi"), ("1025024Mi", "1001Gi"), ("1024Gi", "1Ti"), ("5000m", "5"), ("0.5", "500m"),
    ("1000M", "1G"), ("0.001T", "1G"), ("1000u", "1m"), ("1.08", "1080m"), ("1080000000n", "1080m"),
    ("1000E", "1e21"), ("5000E", "5e21"), ("1000000E", "1e24"), (".001e12", "1e9"), ("0.001e0", "1e-3"),
    ("1000e-12", "1e-9"), ("00", "0"),
    # TestQuantityString: canonical text is kept as written
    ("1Gi", "1Gi"), ("300Mi", "300Mi"), ("6Ki", "6Ki"), ("1001Gi", "1001Gi"), ("5", "5"), ("500m", "500m"),
    ("1G", "1G"), ("1m", "1m"), ("80m", "80m"), ("1080m", "1080m"), ("300M", "300M"), ("1T", "1T"),
    ("1E", "1E"), ("1e21", "1e21"), ("1234567M", "1234567M"), ("1234567m", "1234567m"), ("3k", "3k"),
    ("1025", "1025"), ("0", "0"), ("1e9", "1e9"), ("1e-3", "1e-3"), ("1e-9", "1e-9"), ("80e-3", "80e-3"),
    ("300e6", "300e6"), ("1e12", "1e12"), ("1e3", "1e3"), ("3e3", "3e3"), ("1n", "1n"), ("80n", "80n"),
    ("1080n", "1080n"), ("1u", "1u"), ("80u", "80u"), ("1080u", "1080u"),
    # TestQuantityParse values, printed (a fraction whose digits fit int64 with a suffix
    # exponent that is a multiple of 3 keeps its text: "100.035k")
    ("0n", "0"), ("0Ki", "0"), ("0Mi", "0"), ("0T", "0"), ("8Ki", "8Ki"), ("7Mi", "7Mi"), ("5Ti", "5Ti"),
    ("4Pi", "4Pi"), ("3Ei", "3Ei"), ("100Ti", "100Ti"), ("50k", "50k"), ("40T", "40T"), ("12E", "12E"),
    ("1E-3", "1E-3"), ("1E6", "1E6"), ("1e14", "100e12"), ("1e13", "10e12"), ("100.035k", "100.035k"),
    ("0.001", "1m"), ("0.0005k", "500m"), ("0.00050k", "500m"), ("0.50000", "500m"), ("0.5e0", "500e-3"),
    ("0.5e-1", "50e-3"), ("10.035M", "10.035M"), ("1.2e3", "1200"), ("1.3E+6", "1300e3"), ("1.40e9", "1400e6"),
    ("1.53E12", "1530e9"), ("9.01", "9010m"), ("8.1k", "8100"), ("7.123456M", "7.123456M"),
    ("6.987654321G", "6.987654321G"), ("2.5P", "2500T"), ("1.01E", "1010P"),
    ("3.001n", "4n"), ("1.1E-9", "2e-9"), ("0.0000000001", "1n"), ("0.00000000050", "1n"), ("0.5e-9", "1e-9"),
    ("0.9n", "1n"), ("0.00000012345", "124n"), ("9Ei", "9223372036854775807"),
    ("9223372036854775807Ki", "9223372036854775807"), ("100.035Ki", "102435840m"), ("0.5Mi", "512Ki"),
    ("0.05Gi", "53687091200m"), ("0.025Ti", "27487790694400m"), ("0.000000000001Ki", "2n"), (".001", "1m"),
    (".0001k", "100m"), ("1.G", "1.G"),
    # TestJSONWhitespace / TestNewSet outputs (without a suffix the format is DecimalSI)
    (" 1", "1"), ("1 ", "1"), ("-1", "-1"), ("1000", "1k"), ("1234000", "1234k"), ("1024", "1024"),
    ("1048576", "1048576"), ("1234", "1234"),
]

# The brief's cases plus sign and fast-path details of ParseQuantity.
MORE = [
    ("1000m", "1"), ("1.5", "1500m"), ("2000", "2k"), ("0.5Gi", "512Mi"), ("1536Mi", "1536Mi"),
    ("12e6", "12e6"), ("0.5Ki", "512"), ("1.5Ki", "1536"), ("0.1n", "1n"), ("1.1Ki", "1126400m"),
    ("-0.5", "-500m"), ("-1024Mi", "-1Gi"), ("-1Ki", "-1Ki"), ("-0.5Ki", "-512"), ("-0.1n", "-1n"),
    ("-0", "0"), ("+0.0Gi", "0"), ("0.0", "0"), ("1024Ki", "1Mi"), ("2048", "2048"), ("1.5e0", "1500e-3"),
    ("1e0", "1e0"), ("1000e0", "1e3"),
    # the fast path keeps text it judges canonical, quirks included
    ("+1", "+1"), ("01", "01"), ("1.", "1."), ("1.500", "1.500"), ("+2Ki", "+2Ki"),
    # BinarySI beyond the int64 fast path is capped at 2^63-1
    ("-9Ei", "-9223372036854775807"), ("8Ei", "9223372036854775807"), ("7Ei", "7Ei"),
]


@pytest.mark.parametrize("text,expected", UPSTREAM + MORE)
def test_canonical_quantity(text, expected):
    assert quantity_error(text) is None
    assert canonical_quantity(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("1Ki", "1Ki"), ("1024Mi", "1Gi"), ("1000M", "1G"), (".001Ki", "1024m"), ("0.5", "500m"), ("1.08", "1080m"),
])
def test_negative_prints_with_sign(text, expected):
    assert canonical_quantity("-" + text) == "-" + expected


def test_canonical_form_is_a_fixed_point():
    for text, expected in UPSTREAM + MORE:
        assert canonical_quantity(expected) == expected, text


def test_huge_exponent_is_not_materialized():
    assert canonical_quantity("1e2000000000") == "100e1999999998"
    assert canonical_quantity("123456789012345678901e-2000") == "1e-9"


def _pod(resources, **extra):
    container = {"name": "c", "image": "busybox", "resources": resources, **extra}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [container]}}


def test_schema_check_stores_canonical_on_the_fast_path():
    pod = _pod({"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": 2, "memory": 0.5}})
    pod["spec"]["overhead"] = {"cpu": "1000m"}
    assert check_gvk(pod, "", "v1", "Pod") == []
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "500m"}}
    assert pod["spec"]["overhead"] == {"cpu": "1"}


def test_schema_check_stores_canonical_on_the_slow_path():
    # An unknown field sends the object through the path-tracking pass.
    pod = _pod({"requests": {"cpu": "1.5", "memory": 2048}}, bogus=True)
    assert check_gvk(pod, "", "v1", "Pod") == ['unknown field "spec.containers[0].bogus"']
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1500m", "memory": "2048"}


def test_schema_check_still_rejects_bad_quantities():
    from pyk8s.api.errors import StatusError

    with pytest.raises(StatusError) as info:
        check_gvk(_pod({"requests": {"cpu": "1.5x"}}), "", "v1", "Pod")
    assert "quantities must match the regular expression" in str(info.value.status)


@pytest.fixture(scope="module")
def http():
    with APIServerProcess("native") as server, httpx.Client(base_url=server.url, timeout=10) as client:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
        assert client.post("/api/v1/namespaces", json=namespace).status_code in (201, 409)
        yield client


def test_server_stores_pod_quantities_canonical(http):
    pod = _pod({"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "1.5", "memory": "1536Mi"}})
    created = http.post("/api/v1/namespaces/default/pods", json=pod)
    assert created.status_code == 201, created.text
    expected = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1500m", "memory": "1536Mi"}}
    assert created.json()["spec"]["containers"][0]["resources"] == expected
    stored = http.get("/api/v1/namespaces/default/pods/p").json()
    assert stored["spec"]["containers"][0]["resources"] == expected


def test_server_stores_node_quantities_canonical(http):
    node = {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "status": {"capacity": {"cpu": "4000m", "memory": "8388608Ki", "pods": "110"},
                   "allocatable": {"cpu": "3.5", "memory": "0.5Gi", "ephemeral-storage": 10e9}},
    }
    assert http.post("/api/v1/nodes", json=node).status_code == 201
    patch = {"status": {"capacity": {"cpu": "4000m", "memory": "8388608Ki", "pods": "110"},
                        "allocatable": {"cpu": "3.5", "memory": "0.5Gi", "ephemeral-storage": 10e9}}}
    patched = http.patch("/api/v1/nodes/n1/status", json=patch, headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text
    status = http.get("/api/v1/nodes/n1").json()["status"]
    assert status["capacity"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    assert status["allocatable"] == {"cpu": "3500m", "memory": "512Mi", "ephemeral-storage": "10G"}
