"""Quick checks of the native store's own corners (the shared suite is test_store*.py)."""

from __future__ import annotations

import select
import threading

import orjson
import pytest

from pyk8s.store import Event, ExpiredError, FutureRevisionError, WriteStatus, encode_template
from pyk8s.store.native import NativeStore


def obj(name: str, ns: str = "default", labels: dict | None = None, node: str = "") -> dict:
    meta: dict = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": {"nodeName": node}}


def create(store, o: dict, resource: str = "pods"):
    data, off = encode_template(o)
    m = o["metadata"]
    return store.create(resource, m["namespace"], m["name"], data, off, m.get("labels"),
                        {"spec.nodeName": o["spec"]["nodeName"]})


def update(store, o: dict, expected: int = 0):
    data, off = encode_template(o)
    m = o["metadata"]
    return store.update("pods", m["namespace"], m["name"], data, off, m.get("labels"),
                        {"spec.nodeName": o["spec"]["nodeName"]}, expected_revision=expected)


def rv(data: bytes) -> str:
    return orjson.loads(data)["metadata"]["resourceVersion"]


def names(result) -> list[str]:
    return [orjson.loads(b)["metadata"]["name"] for b in result.items()]


@pytest.fixture
def store():
    s = NativeStore()
    yield s
    s.close()


def test_create_get_update_conflict_delete(store):
    assert store.current_revision() == 1
    created = create(store, obj("a"))
    assert created.status == WriteStatus.OK and created.revision == 2 and rv(created.data) == "2"
    assert store.get("pods", "default", "a") == (created.data, 2)
    assert create(store, obj("a")).status == WriteStatus.ALREADY_EXISTS
    ok = update(store, obj("a", labels={"x": "1"}), expected=2)
    assert ok.status == WriteStatus.OK and ok.revision == 3
    stale = update(store, obj("a"), expected=2)
    assert stale == (WriteStatus.CONFLICT, 3, ok.data)
    assert store.delete("pods", "default", "a", expected_revision=2).status == WriteStatus.CONFLICT
    gone = store.delete("pods", "default", "a")
    assert gone.status == WriteStatus.OK and gone.revision == 4 and rv(gone.data) == "4"
    assert orjson.loads(gone.data)["metadata"]["labels"] == {"x": "1"}
    assert store.get("pods", "default", "a") is None
    assert store.delete("pods", "default", "a") == (WriteStatus.NOT_FOUND, 0, None)


def test_bad_arguments_are_python_errors(store):
    data, off = encode_template(obj("a"))
    with pytest.raises(ValueError):
        store.create("pods", "default", "a", data, len(data) + 1)
    with pytest.raises(TypeError):
        store.create("pods", "default", "a", "not bytes", 0)
    with pytest.raises(ValueError):
        store.list("pods", label_selector=(("a", "~", ("b",)),))
    assert store.current_revision() == 1


def test_list_selectors_paging_and_old_revision(store):
    for i in range(10):
        create(store, obj(f"p{i}", "ns1" if i % 2 else "ns2", labels={"app": "web" if i < 5 else "db"},
                          node=f"n{i % 3}"))
    rev = store.current_revision()
    assert names(store.list("pods", "ns1")) == ["p1", "p3", "p5", "p7", "p9"]
    assert names(store.list("pods", label_selector=(("app", "=", ("web",)),))) == ["p1", "p3", "p0", "p2", "p4"]
    assert len(store.list("pods", label_selector=(("tier", "!=", ("x",)),))) == 10
    assert len(store.list("pods", label_selector=(("app", "notin", ("web", "db")),))) == 0
    assert names(store.list("pods", field_selector=(("spec.nodeName", "=", "n0"),), namespace="ns2")) == ["p0", "p6"]
    assert names(store.list("pods", field_selector=(("metadata.name", "=", "p3"),))) == ["p3"]
    page = store.list("pods", limit=4)
    assert len(page) == 4 and page.remaining == 6 and page.next_key == "ns1/p7"
    page2 = store.list("pods", limit=4, start_after=page.next_key, revision=page.revision)
    assert names(page2) == ["p9", "p0", "p2", "p4"]
    last = store.list("pods", limit=4, start_after=page2.next_key)
    assert len(last) == 2 and last.remaining == 0 and last.next_key is None
    store.delete("pods", "ns1", "p1")
    update(store, obj("p3", "ns1", labels={"app": "db"}))
    assert len(store.list("pods")) == 9
    old = store.list("pods", label_selector=(("app", "=", ("web",)),), revision=rev)
    assert names(old) == ["p1", "p3", "p0", "p2", "p4"]
    assert old.render(b"[", b"]") == b"[" + b",".join(old.items()) + b"]"
    assert store.list("nothing").render(b"[", b"]") == b"[]"
    with pytest.raises(FutureRevisionError):
        store.list("pods", revision=store.current_revision() + 1)
    assert store.count("pods") == 9 and store.count("pods", "ns1") == 4


def test_watch_replay_initial_and_selector_moves(store):
    create(store, obj("a", labels={"app": "web"}))
    create(store, obj("b"))
    replay = store.watch("pods", from_revision=2)
    initial = store.watch("pods", label_selector=(("app", "=", ("web",)),), send_initial=True)
    assert [e.type for e in initial.pop()] == ["ADDED"]
    assert [(e.type, e.revision) for e in replay.pop()] == [("ADDED", 3)]
    update(store, obj("b", labels={"app": "web"}))  # moves in
    update(store, obj("a"))  # moves out
    update(store, obj("a", labels={"other": "x"}))  # stays out
    events = initial.pop()
    assert [(e.type, e.revision) for e in events] == [("ADDED", 4), ("DELETED", 5)]
    assert isinstance(events[0], Event) and orjson.loads(events[1].data)["metadata"]["name"] == "a"
    store.delete("pods", "default", "b")
    (deleted,) = initial.pop()
    assert deleted.type == "DELETED" and rv(deleted.data) == "7"
    assert len(replay.pop()) == 4


def test_overflow_expires_and_compaction_expires_old_revisions():
    store = NativeStore(watch_buffer=3)
    slow = store.watch("pods")
    for i in range(5):
        create(store, obj(f"p{i}"))
    assert slow.expired and slow.closed and slow.pop() == []
    assert slow.wait(0) is True
    rev = store.current_revision()
    live = store.watch("pods", from_revision=1)
    assert store.compact(rev - 1, batch_size=2) == rev - 1
    with pytest.raises(ExpiredError) as info:
        store.watch("pods", from_revision=rev - 2)
    assert info.value.compacted == rev - 1
    with pytest.raises(ExpiredError):
        store.list("pods", revision=rev - 2)
    assert len(store.list("pods", revision=rev - 1)) == 4
    assert len(live.pop()) == 5 and not live.expired
    store.delete("pods", "default", "p0")
    store.compact(store.current_revision())
    assert store.count("pods") == 4 and len(store.list("pods")) == 4


def test_notifier_eventfd_wakes(store):
    notifier = store.new_notifier()
    w1 = store.watch("pods", notifier=notifier)
    w2 = store.watch("pods", namespace="other", notifier=notifier)
    assert select.select([notifier.fileno()], [], [], 0)[0] == []
    create(store, obj("a"))
    create(store, obj("b"))
    assert select.select([notifier.fileno()], [], [], 1)[0] == [notifier.fileno()]
    assert notifier.drain() == [w1.id]
    assert select.select([notifier.fileno()], [], [], 0)[0] == []
    assert len(w1.pop()) == 2 and w2.pop() == []
    create(store, obj("c", "other"))
    assert notifier.drain() == [w1.id, w2.id]
    notifier.close()


def test_wait_releases_the_gil(store):
    w = store.watch("pods")
    assert w.wait(0.01) is False
    threading.Timer(0.05, lambda: create(store, obj("a"))).start()
    assert w.wait(5) is True
    assert [e.type for e in w.pop()] == ["ADDED"]
    w.close()
    assert w.closed and w.wait(0) is True


def test_threaded_hammering():
    store = NativeStore(watch_buffer=1_000_000)
    watcher = store.watch("pods")
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(300):
                name = f"t{t}-{i % 20}"
                got = store.get("pods", "default", name)
                if got is None:
                    create(store, obj(name, labels={"t": str(t)}))
                elif i % 3 == 0:
                    store.delete("pods", "default", name, expected_revision=got[1])
                else:
                    update(store, obj(name, labels={"t": str(t), "i": str(i)}), expected=got[1])
                store.list("pods", label_selector=(("t", "=", (str(t),)),), limit=5)
                if i % 50 == 0:
                    store.compact(store.current_revision() - 50, batch_size=7)
                    store.watch("pods", send_initial=True).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    events = watcher.pop(10_000_000)
    revisions = [e.revision for e in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
    assert revisions[-1] == store.current_revision()
    live = {orjson.loads(b)["metadata"]["name"] for b in store.list("pods").items()}
    assert len(live) == store.count("pods")
