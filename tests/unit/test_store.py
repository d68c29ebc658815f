"""The storage contract, run against every backend (see tests/conftest.py)."""

from __future__ import annotations

import select

import orjson
import pytest

from pyk8s.api.selectors import parse_field_selector, parse_label_selector
from pyk8s.store import ExpiredError, FutureRevisionError, WriteStatus, open_store

from storehelpers import decode, names, pod, put


def rv(data: bytes) -> str:
    return decode(data)["metadata"]["resourceVersion"]


class TestWrites:
    def test_revision_starts_at_one_and_first_write_is_two(self, store):
        assert store.current_revision() == 1
        res = put(store, pod("a"))
        assert res.status == WriteStatus.OK
        assert res.revision == 2 == store.current_revision()
        assert rv(res.data) == "2"
        assert store.get("pods", "default", "a") == (res.data, 2)

    def test_create_existing_is_already_exists_and_changes_nothing(self, store):
        first = put(store, pod("a"))
        again = put(store, pod("a", labels={"x": "y"}))
        assert again.status == WriteStatus.ALREADY_EXISTS
        assert again.data == first.data and again.revision == first.revision
        assert store.current_revision() == 2

    def test_same_name_in_other_namespace_is_another_object(self, store):
        put(store, pod("a", "ns1"))
        assert put(store, pod("a", "ns2")).status == WriteStatus.OK
        assert store.count("pods") == 2
        assert store.count("pods", "ns1") == 1

    def test_get_missing(self, store):
        assert store.get("pods", "default", "nope") is None
        assert store.get("nodes", "", "nope") is None

    def test_update_compare_and_swap(self, store):
        created = put(store, pod("a"))
        ok = put(store, pod("a", labels={"v": "1"}), update=True, expected=created.revision)
        assert ok.status == WriteStatus.OK and ok.revision == 3 and rv(ok.data) == "3"
        stale = put(store, pod("a", labels={"v": "2"}), update=True, expected=created.revision)
        assert stale.status == WriteStatus.CONFLICT
        assert stale.revision == 3 and stale.data == ok.data
        assert store.current_revision() == 3
        unconditional = put(store, pod("a", labels={"v": "3"}), update=True)
        assert unconditional.status == WriteStatus.OK and unconditional.revision == 4

    def test_update_missing_is_not_found(self, store):
        res = put(store, pod("ghost"), update=True)
        assert res.status == WriteStatus.NOT_FOUND and res.data is None
        assert store.current_revision() == 1

    def test_delete_returns_object_stamped_with_delete_revision(self, store):
        put(store, pod("a", labels={"k": "v"}))
        res = store.delete("pods", "default", "a")
        assert res.status == WriteStatus.OK and res.revision == 3
        obj = decode(res.data)
        assert obj["metadata"]["resourceVersion"] == "3" and obj["metadata"]["labels"] == {"k": "v"}
        assert store.get("pods", "default", "a") is None
        assert store.count("pods") == 0

    def test_delete_with_precondition(self, store):
        created = put(store, pod("a"))
        put(store, pod("a"), update=True)
        stale = store.delete("pods", "default", "a", expected_revision=created.revision)
        assert stale.status == WriteStatus.CONFLICT and store.get("pods", "default", "a") is not None
        assert store.delete("pods", "default", "a", expected_revision=3).status == WriteStatus.OK
        assert store.delete("pods", "default", "a").status == WriteStatus.NOT_FOUND

    def test_recreate_after_delete(self, store):
        put(store, pod("a"))
        store.delete("pods", "default", "a")
        res = put(store, pod("a"))
        assert res.status == WriteStatus.OK and res.revision == 4

    def test_revision_digits_grow(self, store):
        for i in range(12):
            put(store, pod(f"p{i}"))
        data, revision = store.get("pods", "default", "p11")
        assert revision == 13 and rv(data) == "13"
        deleted = store.delete("pods", "default", "p3")
        assert rv(deleted.data) == "14"
        orjson.loads(deleted.data)


class TestList:
    @pytest.fixture
    def filled(self, store):
        put(store, pod("web-1", "prod", {"app": "web", "tier": "front"}, node="n1", phase="Running"))
        put(store, pod("web-2", "prod", {"app": "web", "tier": "front"}, node="n2", phase="Pending"))
        put(store, pod("db-1", "prod", {"app": "db"}, node="n1", phase="Running"))
        put(store, pod("web-1", "dev", {"app": "web", "env": "dev"}))
        put(store, pod("job-1", "dev", {}, phase="Succeeded"))
        return store

    def sel(self, store, label="", field="", namespace=""):
        return names(store.list("pods", namespace, parse_label_selector(label), parse_field_selector(field)))

    def test_order_is_namespace_then_name(self, filled):
        assert self.sel(filled) == ["job-1", "web-1", "db-1", "web-1", "web-2"]
        assert self.sel(filled, namespace="prod") == ["db-1", "web-1", "web-2"]
        assert self.sel(filled, namespace="pro") == []

    @pytest.mark.parametrize(
        ("label", "expected"),
        [
            ("app=web", ["web-1", "web-1", "web-2"]),
            ("app==db", ["db-1"]),
            ("app!=web", ["job-1", "db-1"]),  # != matches objects without the key
            ("app in (db,web),tier", ["web-1", "web-2"]),
            ("app notin (web)", ["job-1", "db-1"]),
            ("env", ["web-1"]),
            ("!app", ["job-1"]),
            ("!tier,app", ["web-1", "db-1"]),
            ("app=nothing", []),
        ],
    )
    def test_label_selectors(self, filled, label, expected):
        assert self.sel(filled, label=label) == expected

    @pytest.mark.parametrize(
        ("field", "expected"),
        [
            ("spec.nodeName=n1", ["db-1", "web-1"]),
            ("spec.nodeName=", ["job-1", "web-1"]),  # unset field compares as ""
            ("spec.nodeName!=", ["db-1", "web-1", "web-2"]),
            ("status.phase=Running,spec.nodeName=n1", ["db-1", "web-1"]),
            ("metadata.name=web-1", ["web-1", "web-1"]),
            ("metadata.namespace=dev", ["job-1", "web-1"]),
            ("metadata.namespace!=dev,status.phase!=Running", ["web-2"]),
            ("unknown.field=x", []),
        ],
    )
    def test_field_selectors(self, filled, field, expected):
        assert self.sel(filled, field=field) == expected

    @pytest.mark.parametrize("indexed", [(), ("status.phase",), ("spec.nodeName", "metadata.name")])
    @pytest.mark.parametrize("when", ["before writes", "after writes"])
    def test_field_selectors_whatever_is_indexed(self, store, indexed, when):
        # An unindexed field is answered by a scan: the same selection, whether the index
        # was narrowed before the objects came or rebuilt after.
        def fill():
            put(store, pod("web-1", "prod", {"app": "web"}, node="n1", phase="Running"))
            put(store, pod("web-2", "prod", {"app": "web"}, node="n2", phase="Pending"))
            put(store, pod("db-1", "prod", {"app": "db"}, node="n1", phase="Running"))
            put(store, pod("web-2", "prod", {"app": "web"}, node="n1", phase="Running"), update=True)
            put(store, pod("job-1", "dev", {}, phase="Succeeded"))
            store.delete("pods", "prod", "db-1")

        if when == "after writes":
            fill()
            store.index_fields("pods", indexed)
        else:
            store.index_fields("pods", indexed)
            fill()
        assert self.sel(store, field="spec.nodeName=n1") == ["web-1", "web-2"]
        assert self.sel(store, field="status.phase=Running") == ["web-1", "web-2"]
        assert self.sel(store, field="status.phase=Succeeded,spec.nodeName=") == ["job-1"]
        assert self.sel(store, field="spec.nodeName=n2") == []
        assert self.sel(store, label="app=web", field="status.phase=Running") == ["web-1", "web-2"]

    def test_labels_and_fields_together(self, filled):
        assert self.sel(filled, label="app=web", field="status.phase=Pending", namespace="prod") == ["web-2"]

    def test_paging_is_consistent_at_one_revision(self, store):
        for i in range(10):
            put(store, pod(f"p{i:02d}"))
        first = store.list("pods", "default", limit=4)
        assert names(first) == ["p00", "p01", "p02", "p03"]
        assert first.remaining == 6 and first.next_key == "default/p03" and first.revision == 11
        # Writes between pages do not show up in later pages of the same list.
        store.delete("pods", "default", "p05")
        put(store, pod("p04", labels={"changed": "yes"}), update=True)
        put(store, pod("p055"))
        second = store.list("pods", "default", limit=4, start_after=first.next_key, revision=first.revision)
        assert names(second) == ["p04", "p05", "p06", "p07"]
        assert "changed" not in decode(second.items()[0])["metadata"].get("labels", {})
        third = store.list("pods", "default", limit=4, start_after=second.next_key, revision=first.revision)
        assert names(third) == ["p08", "p09"] and third.next_key is None and third.remaining == 0
        now = store.list("pods", "default")
        assert "p055" in names(now) and "p05" not in names(now)

    def test_paging_with_selector_counts_only_matches(self, store):
        for i in range(10):
            put(store, pod(f"p{i}", labels={"even": str(i % 2 == 0).lower()}))
        page = store.list("pods", "", parse_label_selector("even=true"), limit=2)
        assert names(page) == ["p0", "p2"] and page.remaining == 3

    def test_limit_equal_to_matches_has_no_next(self, store):
        for i in range(3):
            put(store, pod(f"p{i}"))
        page = store.list("pods", limit=3)
        assert len(page) == 3 and page.next_key is None and page.remaining == 0

    def test_list_at_old_revision_sees_old_state(self, store):
        put(store, pod("a", labels={"v": "1"}))
        at = store.current_revision()
        put(store, pod("a", labels={"v": "2"}), update=True)
        put(store, pod("b"))
        store.delete("pods", "default", "a")
        old = store.list("pods", revision=at)
        assert names(old) == ["a"] and decode(old.items()[0])["metadata"]["labels"] == {"v": "1"}
        assert old.revision == at
        assert names(store.list("pods", label_selector=parse_label_selector("v=1"), revision=at)) == ["a"]
        assert names(store.list("pods")) == ["b"]

    def test_future_revision(self, store):
        put(store, pod("a"))
        with pytest.raises(FutureRevisionError):
            store.list("pods", revision=store.current_revision() + 1)

    def test_render_builds_a_list_body(self, filled):
        res = filled.list("pods", "prod", parse_label_selector("app=web"))
        body = res.render(b'{"kind":"PodList","items":[', b"]}")
        doc = orjson.loads(body)
        assert [o["metadata"]["name"] for o in doc["items"]] == ["web-1", "web-2"]
        empty = filled.list("pods", "nowhere")
        assert len(empty) == 0 and orjson.loads(empty.render(b'{"items":[', b"]}")) == {"items": []}

    def test_resources_are_separate(self, store):
        put(store, pod("a"))
        put(store, {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "a"}, "spec": {}, "status": {}},
            resource="nodes")
        assert store.count("pods") == 1 and store.count("nodes") == 1
        assert names(store.list("nodes")) == ["a"]


class TestCompaction:
    def test_compacted_history_is_expired_and_state_kept(self, store):
        put(store, pod("a", labels={"v": "1"}))  # 2
        put(store, pod("b"))  # 3
        put(store, pod("a", labels={"v": "2"}), update=True)  # 4
        store.delete("pods", "default", "b")  # 5
        put(store, pod("c"))  # 6
        assert store.compact(5) == 5 and store.compacted_revision() == 5
        with pytest.raises(ExpiredError):
            store.list("pods", revision=4)
        with pytest.raises(ExpiredError):
            store.watch("pods", from_revision=4)
        at5 = store.list("pods", revision=5)
        assert names(at5) == ["a"] and decode(at5.items()[0])["metadata"]["labels"] == {"v": "2"}
        assert names(store.list("pods")) == ["a", "c"]
        assert store.count("pods") == 2
        w = store.watch("pods", from_revision=5)
        assert [(e.type, e.revision) for e in w.pop()] == [("ADDED", 6)]
        w.close()

    def test_compaction_in_small_batches(self, store):
        for i in range(50):
            put(store, pod(f"p{i}"))
        for i in range(0, 50, 2):
            store.delete("pods", "default", f"p{i}")
        assert store.compact(store.current_revision(), batch_size=3) == store.current_revision()
        assert store.count("pods") == 25
        assert len(store.list("pods")) == 25
        # Compacting backwards is a no-op.
        assert store.compact(3) == store.compacted_revision()

    def test_pop_lines_is_pop_as_the_wire_sends_it(self, store):
        # Two watchers of the same selection: one popped as events, one as lines.
        selector = parse_field_selector("spec.nodeName=n1")
        events, lines = (store.watch("pods", "", (), selector) for _ in range(2))
        assert lines.pop_lines() == (b"", 0, 0)
        put(store, pod("a", node="n1"))
        put(store, pod("b", node="n2"))
        put(store, pod("b", node="n1"), update=True)  # moves in: ADDED
        put(store, pod("a", node="n2"), update=True)  # moves out: DELETED
        put(store, pod("b", node="n1", phase="Running"), update=True)
        store.delete("pods", "default", "b")
        expected = events.pop()
        assert [e.type for e in expected] == ["ADDED", "ADDED", "DELETED", "MODIFIED", "DELETED"]
        def line(e):
            return b'{"type":"%s","object":%s}\n' % (e.type.encode(), e.data)

        assert lines.pop_lines(2) == (line(expected[0]) + line(expected[1]), 2, expected[1].revision)
        assert lines.pop_lines() == (b"".join(map(line, expected[2:])), 3, expected[-1].revision)
        assert lines.pop_lines() == (b"", 0, 0)
        events.close()
        lines.close()

    def test_live_watch_survives_compaction(self, store):
        w = store.watch("pods")
        put(store, pod("a"))
        store.compact(store.current_revision())
        put(store, pod("b"))
        assert [e.type for e in w.pop()] == ["ADDED", "ADDED"] and not w.expired
        w.close()


class TestWatch:
    def test_live_events(self, store):
        w = store.watch("pods", "default")
        c = put(store, pod("a"))
        u = put(store, pod("a", labels={"x": "1"}), update=True)
        d = store.delete("pods", "default", "a")
        put(store, pod("other", "elsewhere"))
        events = w.pop()
        assert [(e.type, e.revision) for e in events] == [("ADDED", 2), ("MODIFIED", 3), ("DELETED", 4)]
        assert [e.data for e in events] == [c.data, u.data, d.data]
        w.close()

    def test_replay_from_revision(self, store):
        put(store, pod("a"))  # 2
        put(store, pod("b"))  # 3
        put(store, pod("a"), update=True)  # 4
        w = store.watch("pods", from_revision=2)
        assert [(e.type, e.revision) for e in w.pop()] == [("ADDED", 3), ("MODIFIED", 4)]
        put(store, pod("c"))
        assert [(e.type, e.revision) for e in w.pop()] == [("ADDED", 5)]
        w.close()

    def test_send_initial_then_live(self, store):
        put(store, pod("a"))
        put(store, pod("b", labels={"app": "x"}))
        put(store, pod("a"), update=True)
        w = store.watch("pods", send_initial=True)
        initial = w.pop()
        assert [(e.type, decode(e.data)["metadata"]["name"], e.revision) for e in initial] == [
            ("ADDED", "a", 4),
            ("ADDED", "b", 3),
        ]
        store.delete("pods", "default", "b")
        assert [(e.type, e.revision) for e in w.pop()] == [("DELETED", 5)]
        w.close()

    def test_selector_moves_in_and_out(self, store):
        w = store.watch("pods", "", parse_label_selector("app=web"), parse_field_selector("status.phase!=Failed"))
        put(store, pod("a", labels={"app": "db"}))  # not selected
        put(store, pod("a", labels={"app": "web"}), update=True)  # moves in
        put(store, pod("a", labels={"app": "web", "x": "1"}), update=True)  # stays
        moved_out = put(store, pod("a", labels={"app": "web"}, phase="Failed"), update=True)  # moves out
        put(store, pod("a", labels={"app": "db"}), update=True)  # not selected before nor after
        store.delete("pods", "default", "a")
        events = w.pop()
        assert [(e.type, e.revision) for e in events] == [("ADDED", 3), ("MODIFIED", 4), ("DELETED", 5)]
        assert events[-1].data == moved_out.data  # moving out carries the new state
        w.close()

    def test_namespace_filter_and_field_selector_on_name(self, store):
        w = store.watch("pods", "ns1", (), parse_field_selector("metadata.name=a"))
        put(store, pod("a", "ns1"))
        put(store, pod("b", "ns1"))
        put(store, pod("a", "ns2"))
        assert [(e.type, e.revision) for e in w.pop()] == [("ADDED", 2)]
        w.close()

    def test_wait_times_out_then_wakes(self, store):
        w = store.watch("pods")
        assert w.wait(0.01) is False
        put(store, pod("a"))
        assert w.wait(1) is True
        assert len(w.pop()) == 1
        w.close()

    def test_pop_respects_max(self, store):
        w = store.watch("pods")
        for i in range(5):
            put(store, pod(f"p{i}"))
        assert len(w.pop(2)) == 2 and len(w.pop(10)) == 3 and w.pop() == []
        w.close()

    def test_closed_watcher_gets_nothing_and_writes_go_on(self, store):
        w = store.watch("pods")
        w.close()
        assert w.closed
        put(store, pod("a"))
        assert w.pop() == []

    def test_slow_watcher_expires_without_blocking_writers(self, backend):
        store = open_store(backend, watch_buffer=3)
        try:
            put(store, pod("x"))
            put(store, pod("y"))
            slow = store.watch("pods", send_initial=True)  # 2 initial events do not count
            fast = store.watch("pods")
            for i in range(3):
                put(store, pod(f"p{i}"))
                fast.pop()
            assert not slow.expired
            put(store, pod("p3"))  # the 4th live event overflows the bound of 3
            assert slow.expired and slow.closed and slow.wait(0) is True
            assert slow.pop() == []
            put(store, pod("p4"))
            assert not fast.expired and [e.revision for e in fast.pop()] == [7, 8]
            fast.close()
            slow.close()
        finally:
            store.close()

    def test_popping_keeps_a_watcher_alive(self, backend):
        store = open_store(backend, watch_buffer=2)
        try:
            w = store.watch("pods")
            for i in range(10):
                put(store, pod(f"p{i}"))
                assert len(w.pop()) == 1
            assert not w.expired
            w.close()
        finally:
            store.close()

    def test_notifier_wakes_when_watchers_get_events(self, store):
        notifier = store.new_notifier()
        w1 = store.watch("pods", "a", notifier=notifier)
        w2 = store.watch("pods", "b", notifier=notifier)
        assert select.select([notifier.fileno()], [], [], 0)[0] == []
        put(store, pod("x", "a"))
        put(store, pod("y", "a"))  # w1 was already non-empty: no second id
        assert select.select([notifier.fileno()], [], [], 1)[0] == [notifier.fileno()]
        assert notifier.drain() == [w1.id]
        assert select.select([notifier.fileno()], [], [], 0)[0] == []
        put(store, pod("z", "b"))
        assert notifier.drain() == [w2.id]
        assert len(w1.pop()) == 2 and len(w2.pop()) == 1
        w1.close()
        w2.close()
        notifier.close()

    def test_notifier_signals_replayed_events(self, store):
        put(store, pod("a"))
        notifier = store.new_notifier()
        w = store.watch("pods", send_initial=True, notifier=notifier)
        assert select.select([notifier.fileno()], [], [], 1)[0] == [notifier.fileno()]
        assert notifier.drain() == [w.id]
        w.close()
        notifier.close()
