#include "operator/heap_trimmer.h"

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace zenlead::op {
namespace {

TEST(HeapTrimmerTest, TrimsEveryIntervalAndStopsAtOnce) {
  std::atomic<int> trims{0};
  HeapTrimmer trimmer(absl::Milliseconds(20), [&] { trims.fetch_add(1); });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (trims.load() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(trims.load(), 3);
  const absl::Time stop = absl::Now();
  trimmer.Stop();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(1)) << "Stop waits no interval";
  const int after = trims.load();
  absl::SleepFor(absl::Milliseconds(60));
  EXPECT_EQ(trims.load(), after) << "no trim after Stop";
  trimmer.Stop();  // idempotent
}

TEST(HeapTrimmerTest, LongIntervalStopsWithoutWaitingForIt) {
  std::atomic<int> trims{0};
  const absl::Time start = absl::Now();
  {
    HeapTrimmer trimmer(absl::Hours(1), [&] { trims.fetch_add(1); });
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(trims.load(), 0);
}

TEST(HeapTrimmerTest, ZeroIntervalNeverTrims) {
  std::atomic<int> trims{0};
  HeapTrimmer trimmer(absl::ZeroDuration(), [&] { trims.fetch_add(1); });
  absl::SleepFor(absl::Milliseconds(30));
  trimmer.Stop();
  EXPECT_EQ(trims.load(), 0);
}

TEST(HeapTrimmerTest, RealTrimRuns) {
  HeapTrimmer trimmer(absl::Milliseconds(5));  // malloc_trim(0)
  absl::SleepFor(absl::Milliseconds(30));
  trimmer.Stop();
}

}  // namespace
}  // namespace zenlead::op
