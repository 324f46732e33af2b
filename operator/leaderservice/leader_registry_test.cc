#include "operator/leaderservice/leader_registry.h"

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace zenlead::op {
namespace {

PoolLeader Leader(const std::string& pod, int64_t token,
                  const std::string& pool = "db") {
  PoolLeader l;
  l.ns = "prod";
  l.pool = pool;
  l.has_leader = true;
  l.holder_identity = pod;
  l.pod_name = pod;
  l.pod_uid = "uid-" + pod;
  l.pod_ip = "10.0.0.1";
  l.fencing_token = token;
  l.since = absl::FromUnixSeconds(1700000000 + token);
  return l;
}

// Records what a subscriber saw.
struct Recorder {
  absl::Mutex mu;
  std::vector<PoolLeader> seen ABSL_GUARDED_BY(mu);

  LeaderRegistry::Callback Callback() {
    return [this](const PoolLeader& l) {
      absl::MutexLock lock(&mu);
      seen.push_back(l);
    };
  }
  std::vector<PoolLeader> Seen() {
    absl::MutexLock lock(&mu);
    return seen;
  }
};

TEST(LeaderRegistryTest, SetGetRemove) {
  LeaderRegistry registry;
  EXPECT_FALSE(registry.Get("prod", "db").has_value());
  registry.Set(Leader("db-0", 1));
  registry.Set(Leader("web-0", 1, "web"));
  EXPECT_EQ(registry.Size(), 2u);
  std::optional<PoolLeader> got = registry.Get("prod", "db");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Leader("db-0", 1));
  EXPECT_FALSE(registry.Get("other", "db").has_value());

  registry.Set(Leader("db-1", 2));
  EXPECT_EQ(registry.Get("prod", "db")->pod_name, "db-1");
  EXPECT_EQ(registry.Size(), 2u);

  registry.Remove("prod", "db");
  EXPECT_FALSE(registry.Get("prod", "db").has_value());
  EXPECT_EQ(registry.Size(), 1u);
}

TEST(LeaderRegistryTest, SubscribersAreCalledOnChangeOnly) {
  LeaderRegistry registry;
  Recorder db, web;
  registry.Subscribe("prod", "db", db.Callback());
  registry.Subscribe("prod", "web", web.Callback());

  registry.Set(Leader("db-0", 1));
  registry.Set(Leader("db-0", 1));  // no change: no call
  registry.Set(Leader("db-1", 2));
  PoolLeader ip_changed = Leader("db-1", 2);
  ip_changed.pod_ip = "10.0.0.2";
  registry.Set(ip_changed);

  std::vector<PoolLeader> seen = db.Seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], Leader("db-0", 1));
  EXPECT_EQ(seen[1], Leader("db-1", 2));
  EXPECT_EQ(seen[2], ip_changed);
  EXPECT_TRUE(web.Seen().empty());
}

TEST(LeaderRegistryTest, RemoveReadsAsNoLeaderAndOnlyWhenKnown) {
  LeaderRegistry registry;
  Recorder db;
  registry.Subscribe("prod", "db", db.Callback());
  registry.Remove("prod", "db");  // unknown pool: nothing changes
  EXPECT_TRUE(db.Seen().empty());

  registry.Set(Leader("db-0", 1));
  registry.Remove("prod", "db");
  registry.Set(Leader("db-0", 1));  // back again: a change

  std::vector<PoolLeader> seen = db.Seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_FALSE(seen[1].has_leader);
  EXPECT_EQ(seen[1].ns, "prod");
  EXPECT_EQ(seen[1].pool, "db");
  EXPECT_TRUE(seen[1].pod_name.empty());
  EXPECT_EQ(seen[2], Leader("db-0", 1));
}

TEST(LeaderRegistryTest, UnsubscribeStopsCalls) {
  LeaderRegistry registry;
  Recorder a, b;
  int64_t id_a = registry.Subscribe("prod", "db", a.Callback());
  int64_t id_b = registry.Subscribe("prod", "db", b.Callback());
  EXPECT_NE(id_a, id_b);
  registry.Set(Leader("db-0", 1));
  registry.Unsubscribe(id_a);
  registry.Set(Leader("db-1", 2));
  registry.Unsubscribe(id_b);
  registry.Unsubscribe(id_b);  // twice is harmless
  registry.Set(Leader("db-2", 3));
  EXPECT_EQ(a.Seen().size(), 1u);
  EXPECT_EQ(b.Seen().size(), 2u);
}

TEST(LeaderRegistryTest, CallbacksRunOutsideTheLock) {
  LeaderRegistry registry;
  std::atomic<bool> read_from_other_thread{false};
  registry.Subscribe("prod", "db", [&](const PoolLeader&) {
    // Get from another thread would block forever if Set held the lock.
    auto reader = std::async(std::launch::async, [&] {
      return registry.Get("prod", "db").has_value();
    });
    ASSERT_EQ(reader.wait_for(std::chrono::seconds(30)),
              std::future_status::ready);
    read_from_other_thread = reader.get();
  });
  registry.Set(Leader("db-0", 1));
  EXPECT_TRUE(read_from_other_thread);
}

TEST(LeaderRegistryTest, UnsubscribeWaitsForARunningCallback) {
  LeaderRegistry registry;
  absl::Notification entered, release;
  std::atomic<bool> callback_returned{false};
  int64_t id = registry.Subscribe("prod", "db", [&](const PoolLeader&) {
    entered.Notify();
    release.WaitForNotification();
    callback_returned = true;
  });
  std::thread setter([&] { registry.Set(Leader("db-0", 1)); });
  entered.WaitForNotification();

  absl::Notification unsubscribed;
  std::atomic<bool> returned_after_callback{false};
  std::thread unsubscriber([&] {
    registry.Unsubscribe(id);
    returned_after_callback = callback_returned.load();
    unsubscribed.Notify();
  });
  // Still inside the callback: Unsubscribe must not have returned.
  EXPECT_FALSE(
      unsubscribed.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  release.Notify();
  unsubscriber.join();
  setter.join();
  EXPECT_TRUE(returned_after_callback);
}

TEST(LeaderRegistryTest, ConcurrentSettersAreSeenInOrder) {
  LeaderRegistry registry;
  Recorder recorder;
  registry.Subscribe("prod", "db", recorder.Callback());

  constexpr int kThreads = 4;
  constexpr int kSetsPerThread = 200;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSetsPerThread; ++i) {
        registry.Set(Leader("db-" + std::to_string(t), t * 1000 + i));
        // Readers and short-lived subscribers at the same time.
        EXPECT_TRUE(registry.Get("prod", "db").has_value());
        int64_t id = registry.Subscribe("prod", "db", [](const PoolLeader&) {});
        registry.Unsubscribe(id);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  std::vector<PoolLeader> seen = recorder.Seen();
  // Every Set changed the value (distinct tokens), so every one was seen.
  ASSERT_EQ(seen.size(), static_cast<size_t>(kThreads * kSetsPerThread));
  // The last notification is the registry's final state, and each thread's
  // own changes arrive in the order it made them.
  EXPECT_EQ(seen.back(), *registry.Get("prod", "db"));
  std::vector<int64_t> last(kThreads, -1);
  for (const PoolLeader& l : seen) {
    int t = static_cast<int>(l.fencing_token / 1000);
    ASSERT_LT(t, kThreads);
    EXPECT_GT(l.fencing_token, last[t]);
    last[t] = l.fencing_token;
  }
}

}  // namespace
}  // namespace zenlead::op
