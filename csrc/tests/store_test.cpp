// Store core tests without Python: semantics spot checks plus a multi-threaded run meant
// for -fsanitize=thread / address builds.  Exits non-zero on the first failure.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "host_release.h"
#include "store.h"

using namespace pyk8s::store;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::exit(1);                                                         \
    }                                                                       \
  } while (0)

namespace {

const std::string kTemplate = R"({"metadata":{"name":"x","resourceVersion":""}})";
const std::size_t kOffset = kTemplate.find(R"("")") + 1;

WriteRequest request(const std::string& ns, const std::string& name, StringPairs labels = {}) {
  WriteRequest r;
  r.resource = "pods";
  r.namespace_ = ns;
  r.name = name;
  r.template_bytes = kTemplate;
  r.rv_offset = kOffset;
  r.labels = std::move(labels);
  return r;
}

void test_semantics() {
  Store store(100);
  CHECK(store.current_revision() == 1);
  std::string ns = "default", a = "a";
  WriteResult created = store.create(request(ns, a, {{"app", "web"}}));
  CHECK(created.status == WriteStatus::kOk && created.revision == 2);
  CHECK(created.object->data == R"({"metadata":{"name":"x","resourceVersion":"2"}})");
  CHECK(store.create(request(ns, a)).status == WriteStatus::kAlreadyExists);
  CHECK(store.update(request(ns, a), 1).status == WriteStatus::kConflict);
  CHECK(store.update(request(ns, a), 2).revision == 3);
  WriteResult deleted = store.remove("pods", ns, a, 0);
  CHECK(deleted.revision == 4 && deleted.object->data.find(R"("resourceVersion":"4")") != std::string::npos);
  CHECK(!store.get("pods", ns, a));

  ListRequest list;
  list.resource = "pods";
  list.revision = 2;
  ListResult at2;
  store.list(list, &at2);
  CHECK(at2.error == RevisionError::kNone && at2.items.size() == 1);
  CHECK(store.compact(3, 1) == 3);
  ListResult expired;
  store.list(list, &expired);
  CHECK(expired.error == RevisionError::kCompacted && expired.error_bound == 3);
}

// Lists at the current revision that the selection index answers must equal the scan's
// answer for the same state: a write to another resource bumps the revision without
// touching pods, so a list at the previous revision scans the very same objects.
void test_selection_index() {
  Store store(1 << 20);
  const char* apps[] = {"a", "b", "c"};
  const char* nodes[] = {"n1", "n2", ""};
  std::uint64_t seed = 12345;
  auto next = [&seed](std::uint64_t n) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (seed >> 33) % n;
  };
  auto make_selector = [](std::vector<LabelRequirement> labels, std::vector<FieldRequirement> fields) {
    Selector s;
    s.labels = std::move(labels);
    s.fields = std::move(fields);
    return s;
  };
  auto label = [](std::string key, LabelOp op, std::vector<std::string> values) {
    LabelRequirement r;
    r.key = std::move(key);
    r.op = op;
    r.values = std::move(values);
    return r;
  };
  auto field = [](std::string name, FieldOp op, std::string value) {
    FieldRequirement r;
    r.field = std::move(name);
    r.op = op;
    r.value = std::move(value);
    return r;
  };
  std::vector<Selector> selectors = {
      make_selector({label("app", LabelOp::kEquals, {"a"})}, {}),
      make_selector({label("app", LabelOp::kIn, {"a", "c"})}, {}),
      make_selector({label("app", LabelOp::kIn, {"b", "b", "a"})}, {}),
      make_selector({label("app", LabelOp::kIn, {})}, {}),
      make_selector({label("app", LabelOp::kIn, {"a", "b"}), label("tier", LabelOp::kNotIn, {"x"})},
                    {field("spec.nodeName", FieldOp::kNotEquals, "n2")}),
      make_selector({}, {field("spec.nodeName", FieldOp::kEquals, "n1")}),
      make_selector({label("tier", LabelOp::kEquals, {"x"})}, {field("spec.nodeName", FieldOp::kEquals, "n2")}),
  };
  std::string other_ns = "o", other_name = "x";
  for (int round = 0; round < 40; ++round) {
    for (int op = 0; op < 25; ++op) {
      std::string ns = "ns" + std::to_string(next(3));
      std::string name = "p" + std::to_string(next(40));
      StringPairs labels = {{"app", apps[next(3)]}};
      if (next(2)) labels.push_back({"tier", "x"});
      WriteRequest r = request(ns, name, labels);
      r.fields = {{"spec.nodeName", nodes[next(3)]}};
      normalize_pairs(r.labels);
      ObjectPtr current = store.get("pods", ns, name);
      if (!current) {
        CHECK(store.create(std::move(r)).status == WriteStatus::kOk);
      } else if (next(4) == 0) {
        CHECK(store.remove("pods", ns, name, 0).status == WriteStatus::kOk);
      } else {
        CHECK(store.update(std::move(r), 0).status == WriteStatus::kOk);
      }
    }
    if (round % 10 == 9) store.compact(store.current_revision() - 5, 3);
    WriteRequest bump = request(other_ns, other_name);
    bump.resource = "other";
    if (store.get("other", other_ns, other_name)) {
      store.update(std::move(bump), 0);
    } else {
      store.create(std::move(bump));
    }
    Revision current = store.current_revision();
    std::size_t counted = 0;
    for (const char* ns : {"", "ns0", "ns1", "ns2"}) {
      ListRequest all;
      all.resource = "pods";
      all.namespace_ = ns;
      ListResult everything;
      store.list(all, &everything);
      CHECK(store.count("pods", ns) == everything.items.size());
      if (*ns) counted += everything.items.size();
      for (const Selector& selector : selectors) {
        for (std::size_t limit : {0, 1, 3}) {
          std::string start[2];
          for (;;) {
            ListResult pages[2];
            for (int scan = 0; scan < 2; ++scan) {
              ListRequest list;
              list.resource = "pods";
              list.namespace_ = ns;
              list.selector = &selector;
              list.limit = limit;
              list.start_after = start[scan];
              list.revision = scan ? current - 1 : 0;
              store.list(list, &pages[scan]);
              CHECK(pages[scan].error == RevisionError::kNone);
            }
            CHECK(pages[0].items == pages[1].items);
            CHECK(pages[0].remaining == pages[1].remaining);
            CHECK(pages[0].body_size == pages[1].body_size);
            if (pages[0].remaining == 0) break;
            CHECK(pages[0].next_key == pages[1].next_key);
            start[0] = start[1] = pages[0].next_key;
          }
        }
      }
    }
    CHECK(counted == store.count("pods", ""));
  }
}

void test_threads() {
  Store store(1 << 20);
  WatchRequest all;
  all.resource = "pods";
  auto watcher = store.watch(std::move(all)).watcher;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&store, t] {
      std::string ns = "ns" + std::to_string(t % 2);
      for (int i = 0; i < 2000; ++i) {
        std::string name = "p" + std::to_string(t) + "-" + std::to_string(i % 30);
        ObjectPtr current = store.get("pods", ns, name);
        if (!current) {
          store.create(request(ns, name, {{"t", std::to_string(t)}}));
        } else if (i % 4 == 0) {
          store.remove("pods", ns, name, current->mod_revision);
        } else {
          store.update(request(ns, name, {{"i", std::to_string(i)}}), current->mod_revision);
        }
        if (i % 200 == 0) store.compact(store.current_revision() - 100, 5);
        if (i % 100 == 0) {
          WatchRequest initial;
          initial.resource = "pods";
          initial.send_initial = true;
          auto w = store.watch(std::move(initial)).watcher;
          std::vector<WatchEvent> events;
          w->pop(1 << 20, &events);
          w->end(false);
          store.unwatch(*w);
        }
      }
    });
  }
  threads.emplace_back([&] {
    Selector selector;
    LabelRequirement req;
    req.key = "t";
    req.op = LabelOp::kIn;
    req.values = {"1", "3"};
    selector.labels.push_back(req);
    while (!stop.load()) {
      ListRequest list;
      list.resource = "pods";
      list.selector = &selector;
      list.limit = 7;
      ListResult result;
      store.list(list, &result);
      CHECK(result.error == RevisionError::kNone);
    }
  });
  Revision last = 0;
  std::size_t seen = 0;
  auto drain = [&] {
    std::vector<WatchEvent> events;
    watcher->pop(1 << 20, &events);
    for (const auto& e : events) {
      CHECK(e.event->revision > last);
      last = e.event->revision;
      ++seen;
    }
  };
  for (int i = 0; i < 100; ++i) {
    watcher->wait(0.001);
    drain();
  }
  for (std::size_t i = 0; i + 1 < threads.size(); ++i) threads[i].join();
  stop.store(true);
  threads.back().join();
  drain();
  CHECK(last == store.current_revision());
  CHECK(seen == static_cast<std::size_t>(store.current_revision() - 1));
  take_deferred_host_releases();
}

}  // namespace

int main() {
  test_semantics();
  test_selection_index();
  test_threads();
  std::puts("store_test: ok");
  return 0;
}
