// Test helpers for the admission reservation write loop: a clock that moves
// on by a fixed step each time it is read, so that a test can let the loop
// make exactly one attempt before its deadline without sleeping.
//
//   SteppingClock clock(start, absl::Seconds(1));
//   // The loop reads start (attempt 1), then start + 1 s: past a deadline
//   // of start + 500 ms, so a conflict in attempt 1 ends the loop.
//   WriteReservation(client, ns, pool, policy, read, decide,
//                    start + absl::Milliseconds(500), clock);
#ifndef ZEN_LEAD_API_POOL_RESERVATION_TESTING_H_
#define ZEN_LEAD_API_POOL_RESERVATION_TESTING_H_

#include <atomic>
#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/clock.h"

namespace zenlead::pool::testing {

class SteppingClock : public client::Clock {
 public:
  SteppingClock(absl::Time start, absl::Duration step)
      : start_(start), step_(step) {}

  absl::Time Now() const override {
    return start_ + step_ * reads_.fetch_add(1);
  }
  // Never waits: the write loop does not wait on its clock.
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override {
    return cond.Eval();
  }
  int64_t Reads() const { return reads_.load(); }

 private:
  const absl::Time start_;
  const absl::Duration step_;
  mutable std::atomic<int64_t> reads_{0};
};

}  // namespace zenlead::pool::testing

#endif  // ZEN_LEAD_API_POOL_RESERVATION_TESTING_H_
