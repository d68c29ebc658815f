"""Threads hammering one store: no lost update, and every watcher sees every event of its
range exactly once, in revision order."""

from __future__ import annotations

import random
import threading

import orjson

from pyk8s.api.selectors import parse_label_selector
from pyk8s.store import WriteStatus

from storehelpers import pod, put

WRITERS = 6
COUNTER_THREADS = 4
WATCH_THREADS = 4
LIST_THREADS = 2
OPS = 400
INCREMENTS = 150


def test_threads_mixing_writes_lists_and_watches(store):
    put(store, {**pod("counter", "sys"), "spec": {"containers": [], "count": 0}})
    start_revision = store.current_revision()
    done = threading.Event()
    barrier = threading.Barrier(WRITERS + COUNTER_THREADS + WATCH_THREADS + LIST_THREADS)
    write_revisions: list[set[int]] = [set() for _ in range(WRITERS + COUNTER_THREADS)]
    watched: list[list] = [[] for _ in range(WATCH_THREADS)]
    errors: list[BaseException] = []

    def guarded(fn):
        def run(*args):
            try:
                fn(*args)
            except BaseException as e:  # surfaced by the main thread
                errors.append(e)
                done.set()
        return run

    @guarded
    def writer(idx: int) -> None:
        rng = random.Random(idx)
        barrier.wait()
        for i in range(OPS):
            name = f"w{idx}-{rng.randrange(20)}"
            op = rng.random()
            if op < 0.5:
                res = put(store, pod(name, f"ns{idx % 3}", {"app": rng.choice(["a", "b"])}))
            elif op < 0.8:
                cur = store.get("pods", f"ns{idx % 3}", name)
                res = put(store, pod(name, f"ns{idx % 3}", {"i": str(i)}), update=True,
                          expected=cur[1] if cur else 0)
            else:
                res = store.delete("pods", f"ns{idx % 3}", name)
            if res.status == WriteStatus.OK:
                write_revisions[idx].add(res.revision)

    @guarded
    def incrementer(idx: int) -> None:
        barrier.wait()
        for _ in range(INCREMENTS):
            while True:  # the classic CAS loop: read, modify, write if unchanged
                data, revision = store.get("pods", "sys", "counter")
                obj = orjson.loads(data)
                obj["spec"]["count"] += 1
                res = put(store, obj, update=True, expected=revision)
                if res.status == WriteStatus.OK:
                    write_revisions[WRITERS + idx].add(res.revision)
                    break
                assert res.status == WriteStatus.CONFLICT

    @guarded
    def watcher(idx: int) -> None:
        w = store.watch("pods", from_revision=start_revision)
        barrier.wait()
        while not done.is_set() or w.wait(0):
            w.wait(0.05)
            watched[idx].extend(w.pop())
        watched[idx].extend(w.pop())
        assert not w.expired
        w.close()

    @guarded
    def lister(idx: int) -> None:
        barrier.wait()
        selector = parse_label_selector("app=a")
        while not done.is_set():
            page = store.list("pods", "", selector, limit=7)
            seen = len(page)
            while page.next_key is not None:
                page = store.list("pods", "", selector, limit=7, start_after=page.next_key, revision=page.revision)
                seen += len(page)
            total = len(store.list("pods", "", selector, revision=page.revision))
            assert seen == total

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    threads += [threading.Thread(target=incrementer, args=(i,)) for i in range(COUNTER_THREADS)]
    observers = [threading.Thread(target=watcher, args=(i,)) for i in range(WATCH_THREADS)]
    observers += [threading.Thread(target=lister, args=(i,)) for i in range(LIST_THREADS)]
    for t in threads + observers:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    for t in observers:
        t.join(120)
    assert not errors, errors

    # No lost update: every increment landed exactly once.
    data, _ = store.get("pods", "sys", "counter")
    assert orjson.loads(data)["spec"]["count"] == COUNTER_THREADS * INCREMENTS

    # Every successful write has a unique revision, and revisions are dense.
    all_writes = set().union(*write_revisions)
    assert sum(len(s) for s in write_revisions) == len(all_writes)
    assert all_writes == set(range(start_revision + 1, store.current_revision() + 1))

    # Every watcher saw every event exactly once, in revision order.
    for events in watched:
        revisions = [e.revision for e in events]
        assert revisions == sorted(all_writes)

    # The history replayed afterwards matches what the live watchers saw.
    replay = store.watch("pods", from_revision=start_revision)
    assert replay.pop(1_000_000) == watched[0]
    replay.close()
