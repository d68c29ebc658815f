"""Store micro-benchmarks: native against the pure-Python reference, in the same run.

Each benchmark times a *batch* of operations per round (``extra_info["ops"]``) so timer and
call overhead stay out of the figures; ``run_store.py`` divides the median by the batch
size and prints per-operation medians with the reference/native ratio.

Sizes come from ``PYK8S_BENCH_SIZES`` (default ``10000,100000``).  Lists are measured as
the API server uses them: ``list(...)`` plus ``render()`` of the full body.
"""

from __future__ import annotations

import itertools
import os
import random
import time

import pytest
from _pods import SELECTORS, pod_fields, pod_labels, pod_name, stored_pod

from pyk8s.api.selectors import parse_label_selector
from pyk8s.store import BACKENDS, WriteStatus, encode_template, open_store

SIZES = [int(s) for s in os.environ.get("PYK8S_BENCH_SIZES", "10000,100000").split(",") if s]
NAMESPACE = "default"
CREATE_NAMESPACE = "bench-create"  # creates go elsewhere so they do not change list sizes
LIST_PREFIX = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":['
LIST_SUFFIX = b"]}"
TARGET_SECONDS = float(os.environ.get("PYK8S_BENCH_SECONDS", "1.0"))  # per benchmark, roughly
MIN_ROUNDS, MAX_ROUNDS = 5, 200


class Loaded:
    def __init__(self, backend: str, size: int, templates: list[tuple[bytes, int]]) -> None:
        self.backend = backend
        self.size = size
        self.templates = templates
        self.store = open_store(backend)
        self.names = [pod_name(i) for i in range(size)]
        self.revisions: dict[str, int] = {}
        for i, name in enumerate(self.names):
            data, offset = templates[i]
            result = self.store.create("pods", NAMESPACE, name, data, offset, labels=pod_labels(i), fields=pod_fields(i))
            assert result.status == WriteStatus.OK, result
            self.revisions[name] = result.revision


@pytest.fixture(scope="session")
def templates() -> list[tuple[bytes, int]]:
    return [encode_template(stored_pod(i)) for i in range(max(SIZES))]


@pytest.fixture(scope="module", params=[(b, n) for n in SIZES for b in BACKENDS], ids=lambda p: f"{p[0]}-{p[1]}")
def loaded(request, templates):
    backend, size = request.param
    state = Loaded(backend, size, templates)  # an unbuilt native module is an error, not a skip
    yield state
    state.store.close()


def _run(benchmark, loaded: Loaded, op: str, batch: int, fn, **info) -> None:
    """Time ``fn`` (one batch of ``batch`` operations) for about TARGET_SECONDS."""
    benchmark.group = f"{op} {loaded.size}"
    benchmark.extra_info.update(op=op, size=loaded.size, backend=loaded.backend, ops=batch, **info)
    start = time.perf_counter()
    fn()  # warm-up, and an estimate for the number of rounds
    once = max(time.perf_counter() - start, 1e-6)
    rounds = max(MIN_ROUNDS, min(MAX_ROUNDS, int(TARGET_SECONDS / once)))
    benchmark.pedantic(fn, rounds=rounds, iterations=1)


def test_get(benchmark, loaded):
    keys = random.Random(1).sample(loaded.names, min(1000, loaded.size))
    get = loaded.store.get

    def batch(ns=NAMESPACE):
        for name in keys:
            get("pods", ns, name)

    _run(benchmark, loaded, "get", len(keys), batch)


def test_cas_update(benchmark, loaded):
    rng = random.Random(2)
    indexes = rng.sample(range(loaded.size), min(200, loaded.size))
    work = [(loaded.names[i], *loaded.templates[i], pod_labels(i), pod_fields(i)) for i in indexes]
    update, revisions = loaded.store.update, loaded.revisions

    def batch(ns=NAMESPACE):
        for name, data, offset, labels, fields in work:
            result = update("pods", ns, name, data, offset, labels, fields, expected_revision=revisions[name])
            revisions[name] = result.revision

    _run(benchmark, loaded, "cas update", len(work), batch)
    assert all(loaded.store.get("pods", NAMESPACE, name)[1] == revisions[name] for name, *_ in work)


@pytest.mark.parametrize("fraction", list(SELECTORS) + ["all"])
def test_selector_list(benchmark, loaded, fraction):
    selector = parse_label_selector(SELECTORS.get(fraction, ""))
    store = loaded.store

    def batch():
        store.list("pods", NAMESPACE, selector).render(LIST_PREFIX, LIST_SUFFIX)

    count = len(store.list("pods", NAMESPACE, selector))
    _run(benchmark, loaded, f"list {fraction}", 1, batch, matched=count)


def test_create(benchmark, loaded):
    counter = itertools.count()
    per_batch = 200
    templates, size = loaded.templates, loaded.size
    create = loaded.store.create

    work = [(pod_labels(k), pod_fields(k)) for k in range(per_batch)]  # labels: not what is timed

    def batch(ns=CREATE_NAMESPACE):
        for labels, fields in work:
            k = next(counter)
            data, offset = templates[k % size]
            create("pods", ns, f"bench-{k}", data, offset, labels, fields)

    _run(benchmark, loaded, "create", per_batch, batch)
    for k in range(next(counter)):  # leave the store as it was for later benchmarks
        loaded.store.delete("pods", CREATE_NAMESPACE, f"bench-{k}")
