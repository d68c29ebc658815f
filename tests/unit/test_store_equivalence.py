"""Random operation sequences through the native store and the reference must agree exactly:
write results (status, revision, bytes), lists (items, paging, revisions), watch events
(including selector moves, replays and overflow expiry) and compaction."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pyk8s.api.selectors import parse_field_selector, parse_label_selector
from pyk8s.store import ExpiredError, FutureRevisionError, encode_template, open_store

from storehelpers import pod, put

NAMESPACES = st.sampled_from(["", "a", "b"])
NAMES = st.sampled_from(["p1", "p2", "p3", "p4"])
LABELS = st.fixed_dictionaries(
    {},
    optional={"app": st.sampled_from(["web", "db"]), "tier": st.sampled_from(["front", "back"])},
)
PHASES = st.sampled_from(["Pending", "Running", "Failed"])
NODES = st.sampled_from(["", "n1", "n2"])
# Selectors with an "=" or "in" requirement (label or given field) take the native store's
# index path at the current revision; the others, and every list at an older revision, scan.
LABEL_SELECTORS = st.sampled_from(
    ["", "app=web", "app!=web", "app in (web,db)", "tier notin (front)", "tier", "!tier", "app=db,tier=back",
     "app in (web,db),tier=front", "tier=back,app notin (db)", "app in (db),!tier", "tier in (front,back,side)"]
)
FIELD_SELECTORS = st.sampled_from(
    ["", "status.phase=Running", "spec.nodeName!=", "spec.nodeName=n1,status.phase!=Failed", "metadata.name=p2",
     "spec.nodeName=n2", "spec.nodeName=", "status.phase=Pending,spec.nodeName=n1", "metadata.namespace=a"]
)
WATCH_BUFFER = 6


def _outcome(fn):
    try:
        return ("ok", fn())
    except ExpiredError as e:
        return ("expired", e.compacted)
    except FutureRevisionError as e:
        return ("future", e.current)


class StoresAgree(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.native = open_store("native", watch_buffer=WATCH_BUFFER)
        self.ref = open_store("reference", watch_buffer=WATCH_BUFFER)
        self.watchers: list[tuple] = []

    def both(self, fn):
        a, b = _outcome(lambda: fn(self.native)), _outcome(lambda: fn(self.ref))
        assert a == b, (a, b)
        return a

    @rule(ns=NAMESPACES, name=NAMES, labels=LABELS, phase=PHASES, node=NODES)
    def create(self, ns, name, labels, phase, node):
        obj = pod(name, ns, labels, node, phase)
        self.both(lambda s: tuple(put(s, obj)))

    @rule(ns=NAMESPACES, name=NAMES, labels=LABELS, phase=PHASES, node=NODES,
          cas=st.sampled_from(["current", "stale", "none"]))
    def update(self, ns, name, labels, phase, node, cas):
        cur = self.ref.get("pods", ns, name)
        expected = {"current": cur[1] if cur else 0, "stale": 1, "none": 0}[cas]
        obj = pod(name, ns, labels, node, phase)
        self.both(lambda s: tuple(put(s, obj, update=True, expected=expected)))

    @rule(ns=NAMESPACES, name=NAMES, cas=st.sampled_from(["current", "stale", "none"]))
    def delete(self, ns, name, cas):
        cur = self.ref.get("pods", ns, name)
        expected = {"current": cur[1] if cur else 0, "stale": 1, "none": 0}[cas]
        self.both(lambda s: tuple(s.delete("pods", ns, name, expected_revision=expected)))

    @rule(names=st.lists(st.sampled_from(["spec.nodeName", "status.phase", "metadata.name", "spec.other"]),
                         max_size=3))
    def index_fields(self, names):
        # Which fields are indexed (set at any time, objects present or not) never changes
        # what a selector selects: the native store rebuilds its postings and scans for
        # the rest; the reference always scans.
        self.native.index_fields("pods", names)
        self.ref.index_fields("pods", names)

    @rule(ns=NAMESPACES, name=NAMES)
    def get(self, ns, name):
        self.both(lambda s: s.get("pods", ns, name))

    @rule(ns=NAMESPACES, label=LABEL_SELECTORS, field=FIELD_SELECTORS, limit=st.integers(0, 3),
          back=st.integers(0, 6))
    def list_all_pages(self, ns, label, field, limit, back):
        revision = max(0, self.ref.current_revision() - back) if back else 0
        ls, fs = parse_label_selector(label), parse_field_selector(field)

        def pages(s):
            out, start, at = [], "", revision
            while True:
                res = s.list("pods", ns, ls, fs, limit=limit, start_after=start, revision=at)
                out.append((res.items(), res.revision, res.next_key, res.remaining, len(res)))
                if res.next_key is None:
                    return out
                start, at = res.next_key, res.revision

        self.both(pages)

    @rule(ns=NAMESPACES, label=LABEL_SELECTORS, field=FIELD_SELECTORS,
          start=st.one_of(st.just("initial"), st.just("now"), st.integers(0, 8)))
    def watch(self, ns, label, field, start):
        ls, fs = parse_label_selector(label), parse_field_selector(field)
        if start == "initial":
            kw = {"send_initial": True}
        elif start == "now":
            kw = {}
        else:
            kw = {"from_revision": max(1, self.ref.current_revision() - start)}
        got = []

        def open_watch(s):
            w = s.watch("pods", ns, ls, fs, **kw)
            got.append(w)
            return True

        if self.both(open_watch)[0] == "ok":
            self.watchers.append(tuple(got))

    @precondition(lambda self: self.watchers)
    @rule(i=st.integers(0, 20), n=st.integers(1, 5))
    def pop(self, i, n):
        wn, wr = self.watchers[i % len(self.watchers)]
        assert wn.pop(n) == wr.pop(n)
        assert (wn.expired, wn.closed) == (wr.expired, wr.closed)

    @precondition(lambda self: self.watchers)
    @rule(i=st.integers(0, 20))
    def close_watch(self, i):
        wn, wr = self.watchers.pop(i % len(self.watchers))
        wn.close()
        wr.close()

    @rule(back=st.integers(0, 5), batch=st.integers(1, 4))
    def compact(self, back, batch):
        target = max(1, self.ref.current_revision() - back)
        self.both(lambda s: s.compact(target, batch_size=batch))

    @invariant()
    def same_revisions_and_counts(self):
        assert self.native.current_revision() == self.ref.current_revision()
        assert self.native.compacted_revision() == self.ref.compacted_revision()
        for ns in ("", "a", "b"):
            assert self.native.count("pods", ns) == self.ref.count("pods", ns)

    def teardown(self):
        for wn, wr in self.watchers:
            assert wn.pop(10_000) == wr.pop(10_000)
            wn.close()
            wr.close()
        self.native.close()
        self.ref.close()


StoresAgree.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestStoresAgree = StoresAgree.TestCase


def test_index_edge_selectors_agree():
    """Requirements the parser never produces but the contract allows: repeated "in"
    values, an empty "in", and a given field named like an implicit one."""
    native, ref = open_store("native"), open_store("reference")
    for s in (native, ref):
        for i, (ns, app) in enumerate([("a", "web"), ("a", "db"), ("b", "web"), ("", "web"), ("b", "db")]):
            obj = pod(f"p{i}", ns, {"app": app}, "n1" if i % 2 else "", "Running")
            data, off = encode_template(obj)
            s.create("pods", ns, f"p{i}", data, off, {"app": app},
                     {"spec.nodeName": obj["spec"].get("nodeName", ""), "metadata.name": "other"})
    cases = [
        ((("app", "in", ("web", "web", "db")),), ()),
        ((("app", "in", ()),), ()),
        ((), (("metadata.name", "=", "other"),)),
        ((), (("metadata.name", "=", "p1"),)),
        ((("app", "in", ("db", "web")),), (("spec.nodeName", "=", "n1"),)),
    ]
    for labels, fields in cases:
        for ns in ("", "a", "b"):
            for limit in (0, 1, 2):
                start = ""
                while True:
                    a = native.list("pods", ns, labels, fields, limit=limit, start_after=start)
                    b = ref.list("pods", ns, labels, fields, limit=limit, start_after=start)
                    assert (a.items(), a.next_key, a.remaining) == (b.items(), b.next_key, b.remaining), (
                        labels, fields, ns, limit, start)
                    if a.next_key is None:
                        break
                    start = a.next_key
    native.close()
    ref.close()
