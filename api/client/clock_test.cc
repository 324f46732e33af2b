#include "api/client/clock.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace zenlead::client {
namespace {

TEST(FakeClockTest, AdvanceMovesNow) {
  FakeClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(105));
  clock.SetTime(absl::FromUnixSeconds(50));  // never backwards
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(105));
  clock.SetTime(absl::FromUnixSeconds(200));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(200));
}

TEST(FakeClockTest, WaitEndsWhenTimeReachesTheDeadline) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result =
        clock.AwaitWithTimeout(&mu, absl::Condition(&flag), absl::Seconds(10));
  });
  ASSERT_TRUE(clock.AwaitWaiters(1, absl::Seconds(10)));
  clock.Advance(absl::Seconds(9));
  // Still short of the deadline: the waiter is still registered.
  ASSERT_TRUE(clock.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_EQ(result.load(), -1);
  clock.Advance(absl::Seconds(1));
  waiter.join();
  EXPECT_EQ(result.load(), 0);
  EXPECT_EQ(clock.NumWaiters(), 0);
}

TEST(FakeClockTest, WaitEndsWhenTheConditionHolds) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result =
        clock.AwaitWithTimeout(&mu, absl::Condition(&flag), absl::Hours(1));
  });
  ASSERT_TRUE(clock.AwaitWaiters(1, absl::Seconds(10)));
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_EQ(result.load(), 1);
}

TEST(FakeClockTest, SleepForReturnsAfterAdvance) {
  FakeClock clock;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(absl::Minutes(1));
    woke = true;
  });
  ASSERT_TRUE(clock.AwaitWaiters(1, absl::Seconds(10)));
  EXPECT_FALSE(woke.load());
  clock.Advance(absl::Minutes(1));
  sleeper.join();
  EXPECT_TRUE(woke.load());
}

TEST(FakeClockTest, PastDeadlineDoesNotBlock) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(clock.AwaitWithDeadline(&mu, absl::Condition(&flag),
                                       clock.Now() - absl::Seconds(1)));
  EXPECT_EQ(clock.NumWaiters(), 0);
}

TEST(RealClockTest, WaitsForRealTime) {
  absl::Mutex mu;
  bool flag = false;
  absl::MutexLock lock(&mu);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(RealClock()->AwaitWithTimeout(&mu, absl::Condition(&flag),
                                             absl::Milliseconds(20)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
}

}  // namespace
}  // namespace zenlead::client
