#include "api/runtime/workqueue.h"

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using ::testing::ElementsAre;

// Waits (in real time, with a deadline) for a condition another thread makes
// true; never used to prove timing, only to order the test after it.
template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!pred()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class RecordingMetrics : public WorkQueueMetrics {
 public:
  void SetDepth(int64_t depth) override {
    absl::MutexLock lock(&mu_);
    depth_ = depth;
  }
  void IncAdds() override {
    absl::MutexLock lock(&mu_);
    ++adds_;
  }
  void IncRetries() override {
    absl::MutexLock lock(&mu_);
    ++retries_;
  }
  void ObserveQueueLatency(absl::Duration d) override {
    absl::MutexLock lock(&mu_);
    latencies_.push_back(d);
  }
  void ObserveWorkDuration(absl::Duration d) override {
    absl::MutexLock lock(&mu_);
    durations_.push_back(d);
  }
  int64_t depth() {
    absl::MutexLock lock(&mu_);
    return depth_;
  }
  int adds() {
    absl::MutexLock lock(&mu_);
    return adds_;
  }
  int retries() {
    absl::MutexLock lock(&mu_);
    return retries_;
  }
  std::vector<absl::Duration> latencies() {
    absl::MutexLock lock(&mu_);
    return latencies_;
  }
  std::vector<absl::Duration> durations() {
    absl::MutexLock lock(&mu_);
    return durations_;
  }

 private:
  absl::Mutex mu_;
  int64_t depth_ ABSL_GUARDED_BY(mu_) = 0;
  int adds_ ABSL_GUARDED_BY(mu_) = 0;
  int retries_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Duration> latencies_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> durations_ ABSL_GUARDED_BY(mu_);
};

class WorkQueueTest : public ::testing::Test {
 protected:
  WorkQueueOptions Options() {
    WorkQueueOptions options;
    options.name = "test";
    options.clock = &clock_;
    options.metrics = &metrics_;
    return options;
  }

  client::FakeClock clock_;
  RecordingMetrics metrics_;
};

TEST_F(WorkQueueTest, DeduplicatesQueuedKeys) {
  WorkQueue queue(Options());
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 2);
  EXPECT_EQ(metrics_.adds(), 2);
  EXPECT_EQ(metrics_.depth(), 2);
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Len(), 0);
  EXPECT_EQ(metrics_.depth(), 0);
}

TEST_F(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedAfterDone) {
  WorkQueue queue(Options());
  queue.Add("a");
  ASSERT_EQ(queue.Get(), "a");
  queue.Add("a");
  queue.Add("a");
  // Not handed to a second worker while the first one holds it.
  EXPECT_EQ(queue.Len(), 0);
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(queue.Get(), "a");
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0);
}

TEST_F(WorkQueueTest, HighPriorityKeysGoFirstInTheirOwnFifo) {
  WorkQueue queue(Options());
  queue.Add("renew-1");
  queue.Add("renew-2");
  queue.Add("failover-1", Priority::kHigh);
  queue.Add("renew-3");
  queue.Add("failover-2", Priority::kHigh);
  EXPECT_EQ(queue.Len(), 5);
  EXPECT_EQ(metrics_.depth(), 5);
  EXPECT_EQ(queue.Get(), "failover-1");
  EXPECT_EQ(queue.Get(), "failover-2");
  EXPECT_EQ(queue.Get(), "renew-1");
  EXPECT_EQ(queue.Get(), "renew-2");
  EXPECT_EQ(queue.Get(), "renew-3");
  EXPECT_EQ(metrics_.depth(), 0);
}

TEST_F(WorkQueueTest, RaisingPriorityMovesAQueuedKeyUpOnce) {
  WorkQueue queue(Options());
  queue.Add("a");
  queue.Add("b");
  queue.Add("c");
  queue.Add("c", Priority::kHigh);  // moved ahead, still one entry
  queue.Add("c", Priority::kHigh);
  queue.Add("a", Priority::kNormal);  // never lowered, never duplicated
  EXPECT_EQ(queue.Len(), 3);
  EXPECT_EQ(metrics_.adds(), 3);
  EXPECT_EQ(queue.Get(), "c");
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Len(), 0);
}

TEST_F(WorkQueueTest, HighPriorityAddWhileProcessingIsRequeuedHigh) {
  WorkQueue queue(Options());
  queue.Add("a");
  ASSERT_EQ(queue.Get(), "a");
  queue.Add("b");
  queue.Add("a", Priority::kHigh);
  EXPECT_EQ(queue.Len(), 1);  // "a" waits for Done, not for a second worker
  queue.Done("a");
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
}

TEST_F(WorkQueueTest, LowPriorityWaitsForNormalAndDelayedKeysKeepPriority) {
  WorkQueue queue(Options());
  queue.AddAfter("renew", absl::Seconds(5), Priority::kLow);
  queue.AddAfter("failover", absl::Seconds(5), Priority::kHigh);
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(Eventually([&] { return queue.Len() == 2; }));
  queue.Add("change");
  EXPECT_EQ(queue.Get(), "failover");
  EXPECT_EQ(queue.Get(), "change");
  EXPECT_EQ(queue.Get(), "renew");
  // A waiting key asked for again with a higher priority keeps the higher.
  queue.AddAfter("pool", absl::Seconds(1), Priority::kLow);
  queue.AddAfter("pool", absl::Seconds(2), Priority::kNormal);
  queue.Add("other", Priority::kLow);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return queue.Len() == 2; }));
  EXPECT_EQ(queue.Get(), "pool");
  EXPECT_EQ(queue.Get(), "other");
}

TEST_F(WorkQueueTest, RetryKeepsTheLaneOfTheFailedAttempt) {
  WorkQueueOptions options = Options();
  options.rate_limiter = std::make_unique<ExponentialFailureRateLimiter>(
      absl::Seconds(1), absl::Seconds(1));
  WorkQueue queue(std::move(options));
  queue.Add("failover", Priority::kHigh);
  ASSERT_EQ(queue.Get(), "failover");
  queue.AddRateLimited("failover");  // failed: retried in 1 s, still kHigh
  queue.Done("failover");
  queue.Add("change");
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return queue.Len() == 2; }));
  EXPECT_EQ(queue.Get(), "failover");
  EXPECT_EQ(queue.Get(), "change");
}

TEST_F(WorkQueueTest, LowKeyThatWaitedTooLongGoesBeforeNormalNotHigh) {
  WorkQueue queue(Options());  // low_max_wait: 2 s
  queue.Add("renew", Priority::kLow);
  clock_.Advance(absl::Seconds(1));
  queue.Add("change-1");
  EXPECT_EQ(queue.Get(), "change-1");  // waited 1 s: changes first
  clock_.Advance(absl::Seconds(1));
  queue.Add("change-2");
  queue.Add("failover", Priority::kHigh);
  EXPECT_EQ(queue.Get(), "failover");  // kHigh always first
  EXPECT_EQ(queue.Get(), "renew");     // waited 2 s: before change-2
  EXPECT_EQ(queue.Get(), "change-2");
}

TEST_F(WorkQueueTest, GetBlocksUntilAdd) {
  WorkQueue queue(Options());
  std::optional<std::string> got;
  std::atomic<bool> returned{false};
  std::thread worker([&] {
    got = queue.Get();
    returned = true;
  });
  EXPECT_FALSE(returned.load());
  queue.Add("x");
  worker.join();
  EXPECT_EQ(got, "x");
}

TEST_F(WorkQueueTest, ShutDownWakesBlockedGetAndDrainsQueuedKeys) {
  WorkQueue queue(Options());
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = queue.Get(); });
  queue.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);

  WorkQueue queue2(Options());
  queue2.Add("a");
  queue2.Add("b");
  queue2.ShutDown();
  queue2.Add("c");  // ignored
  EXPECT_TRUE(queue2.ShuttingDown());
  EXPECT_EQ(queue2.Get(), "a");
  EXPECT_EQ(queue2.Get(), "b");
  EXPECT_EQ(queue2.Get(), std::nullopt);
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForInFlightKeys) {
  WorkQueue queue(Options());
  queue.Add("a");
  queue.Add("b");
  ASSERT_EQ(queue.Get(), "a");
  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    EXPECT_TRUE(queue.ShutDownWithDrain());
    drained = true;
  });
  ASSERT_TRUE(Eventually([&] { return queue.ShuttingDown(); }));
  // "a" is in flight and "b" still queued: the drain cannot have finished.
  EXPECT_FALSE(drained.load());
  queue.Done("a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_FALSE(drained.load());
  queue.Done("b");
  drainer.join();
  EXPECT_TRUE(drained.load());
}

TEST_F(WorkQueueTest, ShutDownWithDrainGivesUpAtDeadline) {
  WorkQueue queue(Options());
  queue.Add("a");
  ASSERT_EQ(queue.Get(), "a");
  std::atomic<bool> result{true};
  std::thread drainer([&] {
    result = queue.ShutDownWithDrain(clock_.Now() + absl::Seconds(5));
  });
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Seconds(5));
  drainer.join();
  EXPECT_FALSE(result.load());
}

TEST_F(WorkQueueTest, AddAfterWaitsForTheClock) {
  WorkQueue queue(Options());
  queue.AddAfter("a", absl::Seconds(1));
  // The delay thread waits for the clock (and only for it).
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Milliseconds(999));
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_EQ(queue.Len(), 0);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(queue.Get(), "a");  // blocks until the delay thread moved it
}

TEST_F(WorkQueueTest, AddAfterKeepsTheEarlierTimeAndOrder) {
  WorkQueue queue(Options());
  queue.AddAfter("a", absl::Seconds(10));
  queue.AddAfter("a", absl::Seconds(1));  // earlier: wins
  queue.AddAfter("a", absl::Seconds(5));  // later: ignored
  queue.AddAfter("c", absl::Seconds(3));
  queue.AddAfter("b", absl::Seconds(2));
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.Get(), "c");
  for (const char* key : {"a", "b", "c"}) queue.Done(key);
  // The superseded entries of "a" (5 s, 10 s) must not add it again: a
  // marker due after both is handed out first, with nothing else queued.
  queue.AddAfter("marker", absl::Seconds(7));
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(queue.Get(), "marker");
  EXPECT_EQ(queue.Len(), 0);
}

TEST_F(WorkQueueTest, AddAfterWithoutDelayAddsNow) {
  WorkQueue queue(Options());
  queue.AddAfter("a", absl::ZeroDuration());
  EXPECT_EQ(queue.Len(), 1);
}

TEST_F(WorkQueueTest, AddRateLimitedBacksOffPerKeyUntilForget) {
  WorkQueue queue(Options());
  queue.AddRateLimited("a");  // 5 ms
  EXPECT_EQ(queue.NumRequeues("a"), 1);
  clock_.Advance(absl::Milliseconds(5));
  ASSERT_EQ(queue.Get(), "a");
  queue.AddRateLimited("a");  // 10 ms
  queue.Done("a");
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Milliseconds(9));
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_EQ(queue.Len(), 0);
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.NumRequeues("a"), 2);
  EXPECT_EQ(metrics_.retries(), 2);
  queue.Forget("a");
  EXPECT_EQ(queue.NumRequeues("a"), 0);
  queue.Done("a");
}

TEST_F(WorkQueueTest, MetricsMeasureQueueLatencyAndWorkDuration) {
  WorkQueue queue(Options());
  queue.Add("a");
  clock_.Advance(absl::Seconds(3));
  ASSERT_EQ(queue.Get(), "a");
  clock_.Advance(absl::Seconds(2));
  queue.Done("a");
  EXPECT_THAT(metrics_.latencies(), ElementsAre(absl::Seconds(3)));
  EXPECT_THAT(metrics_.durations(), ElementsAre(absl::Seconds(2)));
}

class ThrowingMetrics : public WorkQueueMetrics {
 public:
  void SetDepth(int64_t) override { Throw(); }
  void IncAdds() override { Throw(); }
  void IncRetries() override { Throw(); }
  void ObserveQueueLatency(absl::Duration) override { Throw(); }
  void ObserveWorkDuration(absl::Duration) override { Throw(); }

 private:
  static void Throw() { throw std::runtime_error("metrics backend broken"); }
};

// A throwing metrics call on the delay thread used to end the process, and
// on a caller's thread escaped Add with the key half added (never handed
// out again).
TEST_F(WorkQueueTest, ThrowingMetricsLoseNoKeysAndKillNoThread) {
  ThrowingMetrics throwing;
  Logger quiet([](absl::string_view) {}, LogLevel::kError, nullptr);
  WorkQueueOptions options = Options();
  options.metrics = &throwing;
  options.logger = &quiet;
  WorkQueue queue(std::move(options));
  queue.AddAfter("delayed", absl::Seconds(1));
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(queue.Get(), "delayed");  // moved by the delay thread
  queue.Done("delayed");
  queue.Add("direct");
  queue.Add("direct");  // still deduplicated: the first add completed
  EXPECT_EQ(queue.Len(), 1);
  EXPECT_EQ(queue.Get(), "direct");
  queue.AddRateLimited("direct");
  queue.Done("direct");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(queue.Get(), "direct");
  queue.Done("direct");
  // The delay thread is alive: it still moves keys.
  queue.AddAfter("later", absl::Seconds(1));
  ASSERT_TRUE(clock_.AwaitWaiters(1, absl::Seconds(10)));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(queue.Get(), "later");
  queue.Done("later");
}

TEST(ExponentialFailureRateLimiterTest, DoublesFromBaseUpToTheCap) {
  ExponentialFailureRateLimiter limiter(absl::Milliseconds(5),
                                        absl::Seconds(1000));
  EXPECT_EQ(limiter.When("a"), absl::Milliseconds(5));
  EXPECT_EQ(limiter.When("a"), absl::Milliseconds(10));
  EXPECT_EQ(limiter.When("a"), absl::Milliseconds(20));
  EXPECT_EQ(limiter.When("b"), absl::Milliseconds(5));  // per key
  EXPECT_EQ(limiter.NumRequeues("a"), 3);
  for (int i = 3; i < 17; ++i) limiter.When("a");
  // 5 ms * 2^17 = 655.36 s, then the cap.
  EXPECT_EQ(limiter.When("a"), absl::Milliseconds(655360));
  EXPECT_EQ(limiter.When("a"), absl::Seconds(1000));
  for (int i = 0; i < 2000; ++i) limiter.When("a");  // no overflow
  EXPECT_EQ(limiter.When("a"), absl::Seconds(1000));
  limiter.Forget("a");
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
  EXPECT_EQ(limiter.When("a"), absl::Milliseconds(5));
}

TEST(TokenBucketRateLimiterTest, BurstThenQps) {
  client::FakeClock clock;
  TokenBucketRateLimiter limiter(10, 100, &clock);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(limiter.When(absl::StrCat("k", i)), absl::ZeroDuration()) << i;
  }
  // Reservations queue up at 10 per second.
  EXPECT_EQ(limiter.When("x"), absl::Milliseconds(100));
  EXPECT_EQ(limiter.When("y"), absl::Milliseconds(200));
  clock.Advance(absl::Seconds(1));
  // 10 tokens came back, two of which were already promised.
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(limiter.When(absl::StrCat("z", i)), absl::ZeroDuration()) << i;
  }
  EXPECT_EQ(limiter.When("w"), absl::Milliseconds(100));
  clock.Advance(absl::Hours(1));  // refills to the burst, not beyond
  for (int i = 0; i < 99; ++i) limiter.When("v");
  EXPECT_EQ(limiter.When("v"), absl::ZeroDuration());
  EXPECT_EQ(limiter.When("v"), absl::Milliseconds(100));
}

TEST(DefaultControllerRateLimiterTest, MaxOfBackoffAndBucket) {
  client::FakeClock clock;
  std::unique_ptr<RateLimiter> limiter = DefaultControllerRateLimiter(&clock);
  // Per-key backoff dominates while the bucket has tokens.
  EXPECT_EQ(limiter->When("a"), absl::Milliseconds(5));
  EXPECT_EQ(limiter->When("a"), absl::Milliseconds(10));
  for (int i = 0; i < 98; ++i) limiter->When(absl::StrCat("k", i));
  // The bucket is empty: a fresh key waits for a token, not 5 ms.
  EXPECT_EQ(limiter->When("fresh"), absl::Milliseconds(100));
  EXPECT_EQ(limiter->NumRequeues("a"), 2);
  limiter->Forget("a");
  EXPECT_EQ(limiter->NumRequeues("a"), 0);
}

// Many workers, many adds: one key is never processed by two workers at
// once, and every key added is processed after its last add.
TEST(WorkQueueConcurrencyTest, OneWorkerPerKeyAndNothingLost) {
  WorkQueueOptions options;
  options.name = "stress";
  WorkQueue queue(std::move(options));
  absl::Mutex mu;
  absl::flat_hash_set<std::string> in_flight;
  absl::flat_hash_map<std::string, int> processed_after_add;
  std::atomic<int> overlaps{0};
  std::vector<std::thread> workers;
  workers.reserve(4);
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (std::optional<std::string> key = queue.Get()) {
        {
          absl::MutexLock lock(&mu);
          if (!in_flight.insert(*key).second) ++overlaps;
          processed_after_add[*key] = 1;
        }
        std::this_thread::yield();
        {
          absl::MutexLock lock(&mu);
          in_flight.erase(*key);
        }
        queue.Done(*key);
      }
    });
  }
  constexpr int kKeys = 20;
  for (int round = 0; round < 500; ++round) {
    for (int k = 0; k < kKeys; ++k) {
      const std::string key = absl::StrCat("key", k);
      if (round == 499) {
        absl::MutexLock lock(&mu);
        processed_after_add[key] = 0;
      }
      queue.Add(key);
    }
  }
  EXPECT_TRUE(queue.ShutDownWithDrain());
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(overlaps.load(), 0);
  absl::MutexLock lock(&mu);
  ASSERT_EQ(processed_after_add.size(), kKeys);
  for (const auto& [key, processed] : processed_after_add) {
    EXPECT_EQ(processed, 1) << key;
  }
}

}  // namespace
}  // namespace zenlead::runtime
