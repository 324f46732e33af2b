#include "api/runtime/informer.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "api/client/clock.h"
#include "api/client/errors.h"
#include "api/client/testing/fake_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::FakeClient;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

const client::Resource kPods{"", "v1", "pods", true};

nlohmann::json Pod(const std::string& name, const std::string& rv,
                   const std::string& uid = "") {
  return {{"metadata",
           {{"namespace", "ns"},
            {"name", name},
            {"uid", uid.empty() ? "uid-" + name : uid},
            {"resourceVersion", rv},
            {"labels", {{"pool", "db"}}}}},
          {"spec", {{"nodeName", "node-1"}, {"containers", {{{"name", "c"}}}}}},
          {"status", {{"phase", "Running"}}}};
}

nlohmann::json PodList(const std::vector<nlohmann::json>& items,
                       const std::string& rv) {
  return {{"kind", "PodList"},
          {"metadata", {{"resourceVersion", rv}}},
          {"items", items}};
}

nlohmann::json GoneStatus() {
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"status", "Failure"},
          {"reason", "Expired"},
          {"message", "too old resource version: 10 (20)"},
          {"code", 410}};
}

std::string Rv(const ObjectPtr& obj) {
  return MetadataString(*obj, "resourceVersion");
}

// Records handler calls as strings, in order.
class Recorder {
 public:
  EventHandler Handler() {
    EventHandler h;
    h.on_add = [this](const ObjectPtr& o) {
      Record(absl::StrCat("add ", ObjectKey(*o), " ", Rv(o)));
    };
    h.on_update = [this](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
      Record(absl::StrCat("update ", ObjectKey(*new_obj), " ", Rv(old_obj),
                          "->", Rv(new_obj)));
    };
    h.on_delete = [this](const ObjectPtr& o, bool unknown) {
      Record(absl::StrCat("delete ", ObjectKey(*o), " ", Rv(o),
                          unknown ? " final-state-unknown" : ""));
    };
    return h;
  }
  // Waits (real time) until n calls were recorded; returns them.
  std::vector<std::string> Await(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return calls_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    return calls_;
  }

 private:
  void Record(std::string call) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(std::move(call));
  }
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

// Polls Healthy until it is OK (want_ok) or not, or real time runs out;
// returns the last answer.
absl::Status WaitForHealthy(const Informer& informer,
                            absl::Duration max_handler_time,
                            absl::Duration timeout, bool want_ok = true) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    absl::Status s = informer.Healthy(max_handler_time);
    if (s.ok() == want_ok || absl::Now() > deadline) return s;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

// Polls cond until it holds or 10 s of real time pass.
template <typename F>
bool Eventually(F cond) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class InformerTest : public ::testing::Test {
 protected:
  InformerOptions Options() {
    InformerOptions options;
    options.resource = kPods;
    options.ns = "ns";
    options.label_selector = "pool";
    options.clock = &clock_;
    return options;
  }
  // Each call of the list hook answers the next of `lists` (then the last).
  void ScriptLists(const std::vector<absl::StatusOr<nlohmann::json>>& lists) {
    auto state = std::make_shared<std::pair<absl::Mutex, size_t>>();
    fake_.list = [lists, state](const client::Resource&, absl::string_view,
                                const client::ListOptions&) {
      absl::MutexLock lock(&state->first);
      size_t i = std::min(state->second++, lists.size() - 1);
      return lists[i];
    };
  }
  std::vector<std::string> StoreKeys(const Informer& informer) {
    std::vector<std::string> keys = informer.store().ListKeys();
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  client::FakeClock clock_;
  FakeClient fake_;
  Recorder recorder_;
};

TEST_F(InformerTest, ListsThenAppliesWatchEventsInOrder) {
  ScriptLists({PodList({Pod("a", "1"), Pod("b", "2")}, "10")});
  fake_.PushWatchEvent(client::WatchEvent::Type::kAdded, Pod("c", "11"));
  fake_.PushWatchEvent(client::WatchEvent::Type::kModified, Pod("a", "12"));
  fake_.PushWatchEvent(client::WatchEvent::Type::kDeleted, Pod("b", "13"));
  fake_.PushBookmark("20");
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.AddEventHandler(recorder_.Handler()).ok());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
  ASSERT_TRUE(fake_.AwaitIdleWatch(absl::Seconds(10)));

  EXPECT_THAT(recorder_.Await(5),
              ElementsAre("add ns/a 1", "add ns/b 2", "add ns/c 11",
                          "update ns/a 1->12", "delete ns/b 13"));
  EXPECT_THAT(StoreKeys(informer), ElementsAre("ns/a", "ns/c"));
  EXPECT_EQ(Rv(informer.store().Get("ns", "a")), "12");
  EXPECT_EQ(informer.LastResourceVersion(), "20");

  ASSERT_EQ(fake_.list_calls().size(), 1u);
  EXPECT_EQ(fake_.list_calls()[0].limit, 500);
  EXPECT_EQ(fake_.list_calls()[0].label_selector, "pool");
  ASSERT_EQ(fake_.watch_calls().size(), 1u);
  EXPECT_EQ(fake_.watch_calls()[0].resource_version, "10");
  EXPECT_TRUE(fake_.watch_calls()[0].allow_bookmarks);
  EXPECT_EQ(fake_.watch_calls()[0].label_selector, "pool");
  EXPECT_EQ(informer.stats().events, 3);
}

TEST_F(InformerTest, ListsInPagesFollowingContinueTokens) {
  fake_.list =
      [](const client::Resource&, absl::string_view,
         const client::ListOptions& options) -> absl::StatusOr<nlohmann::json> {
    nlohmann::json page;
    if (options.continue_token.empty()) {
      page = PodList({Pod("a", "1"), Pod("b", "2")}, "10");
      page["metadata"]["continue"] = "t1";
    } else if (options.continue_token == "t1") {
      page = PodList({Pod("c", "3"), Pod("d", "4")}, "10");
      page["metadata"]["continue"] = "t2";
    } else {
      page = PodList({Pod("e", "5")}, "10");
    }
    return page;
  };
  InformerOptions options = Options();
  options.page_size = 2;
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
  EXPECT_THAT(StoreKeys(informer),
              ElementsAre("ns/a", "ns/b", "ns/c", "ns/d", "ns/e"));
  std::vector<client::ListOptions> calls = fake_.list_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].continue_token, "");
  EXPECT_EQ(calls[1].continue_token, "t1");
  EXPECT_EQ(calls[2].continue_token, "t2");
  for (const client::ListOptions& call : calls) EXPECT_EQ(call.limit, 2);
  ASSERT_TRUE(fake_.AwaitWatchCalls(1, absl::Seconds(10)));
  EXPECT_EQ(fake_.watch_calls()[0].resource_version, "10");
}

TEST(ListPagesTest, HandsOutEachPageAndStopsOnItsError) {
  FakeClient fake;
  fake.list =
      [](const client::Resource&, absl::string_view,
         const client::ListOptions& options) -> absl::StatusOr<nlohmann::json> {
    nlohmann::json page =
        PodList({Pod(options.continue_token + "x", "1")}, "7");
    if (options.continue_token.size() < 3) {
      page["metadata"]["continue"] = options.continue_token + "t";
    }
    return page;
  };
  client::ListOptions options;
  options.limit = 1;
  std::vector<std::string> seen;
  absl::StatusOr<nlohmann::json> last =
      client::ListPages(fake, kPods, "ns", options, [&](nlohmann::json& page) {
        seen.push_back(ObjectKey(page["items"][0]));
        return absl::OkStatus();
      });
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_THAT(seen, ElementsAre("ns/x", "ns/tx", "ns/ttx", "ns/tttx"));
  EXPECT_EQ(MetadataString(*last, "resourceVersion"), "7");

  int pages = 0;
  absl::StatusOr<nlohmann::json> failed =
      client::ListPages(fake, kPods, "ns", options, [&](nlohmann::json&) {
        return ++pages == 2 ? absl::DataLossError("stop") : absl::OkStatus();
      });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(pages, 2);

  // ListAll, built on it, merges the items.
  absl::StatusOr<nlohmann::json> all =
      client::ListAll(fake, kPods, "ns", options);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)["items"].size(), 4u);
}

TEST_F(InformerTest, HasSyncedOnlyAfterInitialListIsDelivered) {
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  absl::Mutex gate_mu;
  bool open = false;
  EventHandler blocking;
  blocking.on_add = [&](const ObjectPtr&) {
    absl::MutexLock lock(&gate_mu);
    gate_mu.Await(absl::Condition(&open));
  };
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.AddEventHandler(blocking).ok());
  ASSERT_TRUE(informer.Start().ok());
  // The list is applied to the store (the watch is waiting) but the add is
  // still inside the handler: not synced.
  ASSERT_TRUE(fake_.AwaitIdleWatch(absl::Seconds(10)));
  EXPECT_NE(informer.store().Get("ns", "a"), nullptr);
  EXPECT_FALSE(informer.HasSynced());
  {
    absl::MutexLock lock(&gate_mu);
    open = true;
  }
  EXPECT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
}

TEST_F(InformerTest, WaitForSyncTimesOutOnTheClock) {
  ScriptLists({absl::UnavailableError("down")});
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.Start().ok());
  bool synced = true;
  std::thread waiter(
      [&] { synced = informer.WaitForSync(clock_.Now() + absl::Minutes(5)); });
  // The reflector's backoff and the waiter both wait on the clock.
  ASSERT_TRUE(clock_.AwaitWaiters(2, absl::Seconds(10)));
  clock_.Advance(absl::Minutes(5));
  waiter.join();
  EXPECT_FALSE(synced);
}

TEST_F(InformerTest, ResumesFromLastVersionWhenWatchEndsNormally) {
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  fake_.PushWatchEvent(client::WatchEvent::Type::kModified, Pod("a", "15"));
  fake_.EndWatch(absl::OkStatus());
  fake_.PushBookmark("30");
  fake_.EndWatch(absl::OkStatus());
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(3, absl::Seconds(10)));
  std::vector<client::WatchOptions> calls = fake_.watch_calls();
  EXPECT_EQ(calls[0].resource_version, "10");
  EXPECT_EQ(calls[1].resource_version, "15");
  // A bookmark alone moves the version forward.
  EXPECT_EQ(calls[2].resource_version, "30");
  EXPECT_EQ(fake_.list_calls().size(), 1u);  // no relist
}

TEST_F(InformerTest, RelistsOnGoneAndDeliversOnlyTheDifference) {
  ScriptLists({
      PodList(
          {Pod("a", "1"), Pod("b", "2"), Pod("c", "3"), Pod("e", "4", "u1")},
          "10"),
      // While disconnected: a unchanged, b changed, c deleted, d created,
      // e deleted and created again under the same name.
      PodList(
          {Pod("a", "1"), Pod("b", "7"), Pod("d", "8"), Pod("e", "9", "u2")},
          "20"),
  });
  fake_.EndWatch(client::StatusFromKubernetesStatus(GoneStatus()));
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.AddEventHandler(recorder_.Handler()).ok());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(2, absl::Seconds(10)));
  EXPECT_THAT(
      recorder_.Await(9),
      ElementsAre("add ns/a 1", "add ns/b 2", "add ns/c 3", "add ns/e 4",
                  // the relist
                  "delete ns/c 3 final-state-unknown", "update ns/b 2->7",
                  "add ns/d 8", "delete ns/e 4 final-state-unknown",
                  "add ns/e 9"));
  EXPECT_THAT(StoreKeys(informer), ElementsAre("ns/a", "ns/b", "ns/d", "ns/e"));
  EXPECT_EQ(MetadataString(*informer.store().Get("ns", "e"), "uid"), "u2");
  EXPECT_EQ(fake_.watch_calls()[1].resource_version, "20");
  EXPECT_EQ(informer.stats().gone, 1);
  EXPECT_EQ(informer.stats().lists, 2);
}

TEST_F(InformerTest, GoneAsAWatchErrorEventAlsoRelists) {
  ScriptLists({PodList({Pod("a", "1")}, "10"), PodList({}, "20")});
  fake_.PushWatchEvent(client::WatchEvent::Type::kError, GoneStatus());
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.AddEventHandler(recorder_.Handler()).ok());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(2, absl::Seconds(10)));
  EXPECT_THAT(recorder_.Await(2),
              ElementsAre("add ns/a 1", "delete ns/a 1 final-state-unknown"));
  EXPECT_EQ(fake_.watch_calls()[1].resource_version, "20");
}

TEST_F(InformerTest, OtherWatchErrorsBackOffThenResumeWithoutRelist) {
  InformerOptions options = Options();
  options.backoff_initial = absl::Seconds(1);
  options.backoff_max = absl::Seconds(8);
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  fake_.EndWatch(absl::UnavailableError("connection reset"));
  fake_.EndWatch(absl::UnavailableError("connection reset"));
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(1, absl::Seconds(10)));
  // The first backoff lasts between 0.5 s and 1 s of clock time.
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Milliseconds(499));
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_EQ(fake_.watch_calls().size(), 1u);
  clock_.Advance(absl::Milliseconds(501));
  ASSERT_TRUE(fake_.AwaitWatchCalls(2, absl::Seconds(10)));
  // The second, doubled: between 1 s and 2 s.
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Milliseconds(999));
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_EQ(fake_.watch_calls().size(), 2u);
  clock_.Advance(absl::Milliseconds(1001));
  ASSERT_TRUE(fake_.AwaitWatchCalls(3, absl::Seconds(10)));
  for (const client::WatchOptions& call : fake_.watch_calls()) {
    EXPECT_EQ(call.resource_version, "10");
  }
  EXPECT_EQ(fake_.list_calls().size(), 1u);
  EXPECT_EQ(informer.stats().errors, 2);
}

// Advances the fake clock by `wait` once the reflector waits on it, then
// expects watch call number `n` (real-time bounded).
#define ADVANCE_AND_EXPECT_WATCH(wait, n)                        \
  do {                                                           \
    ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));      \
    clock_.Advance(wait);                                        \
    ASSERT_TRUE(fake_.AwaitWatchCalls(n, absl::Seconds(10)))     \
        << "watch " << (n) << " did not start within " << (wait) \
        << " of clock time";                                     \
  } while (0)

// An API server restart after minutes of service used to double a backoff
// that earlier disruptions had already grown (only a clean end reset it):
// after a few restarts every informer waited 30 s before watching again.
TEST_F(InformerTest, AHealthyWatchThatBreaksStartsTheBackoffOver) {
  InformerOptions options = Options();
  options.backoff_initial = absl::Seconds(1);
  options.backoff_max = absl::Seconds(16);
  options.disconnected_backoff_max = absl::Seconds(16);  // the reset alone
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  // Three watches fail at once: the backoff grows 1 s, 2 s, 4 s.
  for (int i = 0; i < 3; ++i) {
    fake_.EndWatch(absl::UnavailableError("connection refused"));
  }
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(1, absl::Seconds(10)));
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(1), 2);
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(2), 3);
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(4), 4);
  // Watch 4 works (an event), then the API server restarts: the wait is
  // drawn from the initial backoff again (old code: 4 s to 8 s).
  fake_.PushWatchEvent(client::WatchEvent::Type::kModified, Pod("a", "11"));
  fake_.EndWatch(absl::UnavailableError("connection reset by peer"));
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(1), 5);
  // Watch 5 stays open, quiet, for kHealthyWatch, then breaks: healthy too.
  ASSERT_TRUE(fake_.AwaitIdleWatch(absl::Seconds(10)));
  clock_.Advance(Informer::kHealthyWatch);
  fake_.EndWatch(absl::UnavailableError("connection reset by peer"));
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(1), 6);
  EXPECT_EQ(fake_.watch_calls()[5].resource_version, "11");
  EXPECT_EQ(fake_.list_calls().size(), 1u);
}

// While the API server cannot be reached, waits stay short (it may be back
// any moment), yet never zero: a watch refused again and again does not spin.
TEST_F(InformerTest, RetriesWhileDisconnectedWaitAtMostTheCap) {
  InformerOptions options = Options();
  options.backoff_initial = absl::Seconds(1);
  options.backoff_max = absl::Seconds(30);
  options.disconnected_backoff_max = absl::Seconds(2);
  ScriptLists({PodList({}, "10")});
  for (int i = 0; i < 8; ++i) {
    fake_.EndWatch(i % 2 == 0 ? absl::UnavailableError("connection refused")
                              : client::StatusFromResponse(503, "starting"));
  }
  // Then an answer that is not a disconnection: the full backoff applies.
  fake_.EndWatch(client::StatusFromResponse(
      403, R"({"kind":"Status","reason":"Forbidden","code":403})"));
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(1, absl::Seconds(10)));
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(1), 2);
  for (int n = 3; n <= 8; ++n) {
    // At least half the cap: no hot loop.
    ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
    clock_.Advance(absl::Milliseconds(990));
    ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
    EXPECT_EQ(fake_.watch_calls().size(), static_cast<size_t>(n - 1));
    ADVANCE_AND_EXPECT_WATCH(absl::Milliseconds(1010), n);
  }
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(2), 9);
  // After the Forbidden answer: the backoff (30 s by now) is not capped.
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_EQ(fake_.watch_calls().size(), 9u);
  ADVANCE_AND_EXPECT_WATCH(absl::Seconds(20), 10);
}

TEST_F(InformerTest, FailedListsWhileDisconnectedWaitAtMostTheCap) {
  InformerOptions options = Options();
  options.backoff_initial = absl::Seconds(1);
  options.backoff_max = absl::Seconds(30);
  options.disconnected_backoff_max = absl::Seconds(2);
  std::vector<absl::StatusOr<nlohmann::json>> lists(
      6, absl::UnavailableError("connection refused"));
  lists.push_back(PodList({Pod("a", "1")}, "10"));
  ScriptLists(lists);
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
    EXPECT_FALSE(informer.HasSynced());
    clock_.Advance(absl::Seconds(2));
    ASSERT_TRUE(Eventually([&] { return fake_.list_calls().size() >= i + 2; }))
        << "list " << i + 2 << " did not start within 2 s of clock time";
  }
  EXPECT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
  EXPECT_EQ(fake_.list_calls().size(), 7u);
}

TEST_F(InformerTest, FailedListIsRetriedAfterBackoff) {
  ScriptLists({absl::UnavailableError("apiserver down"),
               PodList({Pod("a", "1")}, "10")});
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_FALSE(informer.HasSynced());
  clock_.Advance(absl::Seconds(30));
  EXPECT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
  EXPECT_EQ(fake_.list_calls().size(), 2u);
}

TEST_F(InformerTest, StopEndsAQuietWatch) {
  ScriptLists({PodList({}, "10")});
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(fake_.AwaitIdleWatch(absl::Seconds(10)));
  informer.Stop();  // returns: the informer's cancellation ended the watch
  EXPECT_FALSE(informer.Start().ok());
  EXPECT_FALSE(fake_.stopped());  // only this informer's watch was ended
  EXPECT_EQ(fake_.active_watches(), 0);
}

// One cache per process: every informer uses the same client, and stopping
// them must neither wait for their quiet watches to time out nor stop the
// client for the rest of the process.
TEST_F(InformerTest, InformersSharingOneClientStopAndLeaveItUsable) {
  ScriptLists({PodList({}, "10")});
  std::vector<std::unique_ptr<Informer>> informers;
  for (const char* resource : {"pods", "services", "leases"}) {
    InformerOptions options = Options();
    options.resource.resource = resource;
    informers.push_back(std::make_unique<Informer>(&fake_, std::move(options)));
    ASSERT_TRUE(informers.back()->Start().ok());
  }
  ASSERT_TRUE(fake_.AwaitWatchCalls(3, absl::Seconds(10)));
  for (const client::WatchOptions& watch : fake_.watch_calls()) {
    EXPECT_NE(watch.cancel, nullptr);
  }
  for (auto& informer : informers) informer->Stop();  // each returns
  EXPECT_EQ(fake_.active_watches(), 0);
  EXPECT_FALSE(fake_.stopped());

  // The client serves the next informer as before.
  Informer later(&fake_, Options());
  ASSERT_TRUE(later.AddEventHandler(recorder_.Handler()).ok());
  ASSERT_TRUE(later.Start().ok());
  fake_.PushWatchEvent(client::WatchEvent::Type::kAdded, Pod("late", "11"));
  EXPECT_THAT(recorder_.Await(1), ElementsAre("add ns/late 11"));
  later.Stop();
}

TEST_F(InformerTest, StopEndsAListInFlight) {
  absl::Notification listing;
  std::atomic<bool> saw_cancel{false};
  fake_.list = [&](const client::Resource&, absl::string_view,
                   const client::ListOptions& options)
      -> absl::StatusOr<nlohmann::json> {
    // A list that only ends when cancelled (an API server that hangs).
    absl::Notification cancelled;
    client::ScopedCancelCallback wake(options.cancel.get(),
                                      [&] { cancelled.Notify(); });
    if (!listing.HasBeenNotified()) listing.Notify();
    saw_cancel = cancelled.WaitForNotificationWithTimeout(absl::Seconds(30));
    return absl::CancelledError("list cancelled");
  };
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(listing.WaitForNotificationWithTimeout(absl::Seconds(10)));
  informer.Stop();
  EXPECT_TRUE(saw_cancel.load());
  EXPECT_EQ(informer.stats().errors, 0);  // Stopping is not a failed list.
  EXPECT_EQ(fake_.list_calls().size(), 1u);
}

TEST_F(InformerTest, DeleteOfAnUnknownObjectIsNotDelivered) {
  ScriptLists({PodList({}, "10")});
  fake_.PushWatchEvent(client::WatchEvent::Type::kDeleted, Pod("ghost", "11"));
  fake_.PushWatchEvent(client::WatchEvent::Type::kAdded, Pod("real", "12"));
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.AddEventHandler(recorder_.Handler()).ok());
  ASSERT_TRUE(informer.Start().ok());
  EXPECT_THAT(recorder_.Await(1), ElementsAre("add ns/real 12"));
  ASSERT_TRUE(fake_.AwaitIdleWatch(absl::Seconds(10)));
  EXPECT_THAT(recorder_.Await(1), ElementsAre("add ns/real 12"));
}

TEST_F(InformerTest, ProjectionKeepsWhatIsAskedPlusIdentity) {
  InformerOptions options = Options();
  options.projection = [](const nlohmann::json& pod) {
    return nlohmann::json{{"metadata", {{"labels", pod["metadata"]["labels"]}}},
                          {"status", {{"phase", pod["status"]["phase"]}}}};
  };
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
  ObjectPtr a = informer.store().Get("ns", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a, (nlohmann::json{{"metadata",
                                 {{"labels", {{"pool", "db"}}},
                                  {"name", "a"},
                                  {"namespace", "ns"},
                                  {"uid", "uid-a"},
                                  {"resourceVersion", "1"}}},
                                {"status", {{"phase", "Running"}}}}));
}

TEST_F(InformerTest, ThrowingProjectionCachesTheWholeObject) {
  InformerOptions options = Options();
  options.projection = [](const nlohmann::json& pod) {
    return nlohmann::json{{"x", pod.at("no-such-field")}};
  };
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  Logger quiet([](absl::string_view) {}, LogLevel::kError, nullptr);
  options.logger = &quiet;
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
  EXPECT_EQ(*informer.store().Get("ns", "a"), Pod("a", "1"));
}

TEST_F(InformerTest, IndexesAreMaintainedFromEvents) {
  ScriptLists({PodList({Pod("a", "1"), Pod("b", "2")}, "10")});
  nlohmann::json moved = Pod("b", "11");
  moved["metadata"]["labels"]["pool"] = "web";
  fake_.PushWatchEvent(client::WatchEvent::Type::kModified, moved);
  Informer informer(&fake_, Options());
  ASSERT_TRUE(informer.AddIndexer("pool", IndexByLabel("pool")).ok());
  ASSERT_TRUE(informer.Start().ok());
  EXPECT_EQ(informer.AddIndexer("late", IndexByOwnerUid()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(informer.AddEventHandler(EventHandler()).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(fake_.AwaitIdleWatch(absl::Seconds(10)));
  absl::StatusOr<std::vector<ObjectPtr>> in_db =
      informer.store().ByIndex("pool", "db");
  ASSERT_TRUE(in_db.ok());
  std::vector<std::string> db;
  for (const ObjectPtr& o : *in_db) {
    db.push_back(ObjectKey(*o));
  }
  EXPECT_THAT(db, UnorderedElementsAre("ns/a"));
  EXPECT_EQ(informer.store().ByIndex("pool", "web")->size(), 1u);
}

// Exceptions on the informer's threads used to escape them (or unwind
// through the network client's C callbacks): std::terminate.
TEST_F(InformerTest, AThrowingHandlerDoesNotStopLaterEvents) {
  ScriptLists({PodList({Pod("bad", "1"), Pod("a", "2")}, "10")});
  fake_.PushWatchEvent(client::WatchEvent::Type::kModified, Pod("bad", "11"));
  fake_.PushWatchEvent(client::WatchEvent::Type::kAdded, Pod("b", "12"));
  EventHandler thrower;
  auto throw_on_bad = [](const ObjectPtr& pod) {
    if (MetadataString(*pod, "name") == "bad") {
      // What a handler reading a field of the wrong JSON type does.
      (void)pod->at("metadata").at("name").get<int>();
    }
  };
  thrower.on_add = throw_on_bad;
  thrower.on_update = [&](const ObjectPtr&, const ObjectPtr& pod) {
    throw_on_bad(pod);
  };
  InformerOptions options = Options();
  Logger quiet([](absl::string_view) {}, LogLevel::kError, nullptr);
  options.logger = &quiet;
  Informer informer(&fake_, std::move(options));
  ASSERT_TRUE(informer.AddEventHandler(thrower).ok());
  ASSERT_TRUE(informer.AddEventHandler(recorder_.Handler()).ok());
  ASSERT_TRUE(informer.Start().ok());
  // The handler after the thrower still sees every event, in order.
  EXPECT_THAT(recorder_.Await(4),
              ElementsAre("add ns/bad 1", "add ns/a 2", "update ns/bad 1->11",
                          "add ns/b 12"));
  EXPECT_EQ(informer.stats().exceptions, 2);
  EXPECT_TRUE(informer.Healthy(absl::Seconds(30)).ok());
}

TEST_F(InformerTest, HealthyReportsAWedgedHandler) {
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  absl::Mutex gate_mu;
  bool open = false;
  bool entered = false;
  EventHandler blocking;
  blocking.on_add = [&](const ObjectPtr&) {
    absl::MutexLock lock(&gate_mu);
    entered = true;
    gate_mu.Await(absl::Condition(&open));
  };
  Informer informer(&fake_, Options());
  EXPECT_TRUE(informer.Healthy(absl::Seconds(30)).ok());  // not started
  ASSERT_TRUE(informer.AddEventHandler(blocking).ok());
  ASSERT_TRUE(informer.Start().ok());
  {
    absl::MutexLock lock(&gate_mu);
    ASSERT_TRUE(
        gate_mu.AwaitWithTimeout(absl::Condition(&entered), absl::Seconds(10)));
  }
  clock_.Advance(absl::Seconds(30));
  EXPECT_TRUE(informer.Healthy(absl::Seconds(30)).ok());
  clock_.Advance(absl::Seconds(1));
  absl::Status wedged = informer.Healthy(absl::Seconds(30));
  EXPECT_EQ(wedged.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(wedged.message()),
              ::testing::HasSubstr("informer pods: an event handler has been "
                                   "running for 31s"));
  {
    absl::MutexLock lock(&gate_mu);
    open = true;
  }
  ASSERT_TRUE(informer.WaitForSync(absl::InfiniteFuture()));
  EXPECT_TRUE(
      WaitForHealthy(informer, absl::Seconds(30), absl::Seconds(10)).ok());
}

// A handler whose copy throws: the dispatcher copies the handlers when it
// starts, outside any one handler call, so the thread itself ends.
struct CopyThrows {
  std::shared_ptr<std::atomic<bool>> armed;
  explicit CopyThrows(std::shared_ptr<std::atomic<bool>> a)
      : armed(std::move(a)) {}
  CopyThrows(const CopyThrows& other) : armed(other.armed) {
    if (armed->load()) throw std::runtime_error("copy failed");
  }
  void operator()(const ObjectPtr&) const {}
};

TEST_F(InformerTest, HealthyReportsADeadDispatcher) {
  ScriptLists({PodList({Pod("a", "1")}, "10")});
  InformerOptions options = Options();
  Logger quiet([](absl::string_view) {}, LogLevel::kError, nullptr);
  options.logger = &quiet;
  Informer informer(&fake_, std::move(options));
  auto armed = std::make_shared<std::atomic<bool>>(false);
  EventHandler handler;
  handler.on_add = CopyThrows(armed);
  ASSERT_TRUE(informer.AddEventHandler(std::move(handler)).ok());
  armed->store(true);
  ASSERT_TRUE(informer.Start().ok());
  absl::Status dead = WaitForHealthy(informer, absl::Seconds(30),
                                     absl::Seconds(10), /*want_ok=*/false);
  EXPECT_EQ(dead.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(dead.message()),
              ::testing::HasSubstr("event dispatch thread ended"));
  armed->store(false);
  informer.Stop();
  EXPECT_TRUE(informer.Healthy(absl::Seconds(30)).ok());  // stopped
}

}  // namespace
}  // namespace zenlead::runtime
