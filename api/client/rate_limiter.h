// A client-side token bucket, like client-go's QPS/burst limiter: up to
// `burst` requests at once, then `qps` per second on average. Reserve() takes
// a token now and says how long the caller must wait before using it, so the
// arithmetic is testable with a FakeClock and the caller chooses how to wait
// (RestClient waits interruptibly, so Stop() is never stuck behind it).
//
//   Clock* clock = RealClock();  // a FakeClock in tests
//   TokenBucket bucket(/*qps=*/20, /*burst=*/30, clock);
//   absl::Duration wait = bucket.Reserve();  // zero while the burst lasts
//   if (wait > absl::ZeroDuration()) clock->SleepFor(wait);
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_CLIENT_RATE_LIMITER_H_
#define ZEN_LEAD_API_CLIENT_RATE_LIMITER_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/clock.h"

namespace zenlead::client {

class TokenBucket {
 public:
  // qps <= 0: unlimited (Reserve always returns zero). burst < 1 counts as 1.
  TokenBucket(double qps, int burst, Clock* clock);

  // Takes one token and returns how long to wait before acting on it (zero
  // when a token was available). Reservations queue up: two callers on an
  // empty bucket wait 1/qps and 2/qps. Thread-safe.
  absl::Duration Reserve();

 private:
  const double qps_;
  const double burst_;
  Clock* const clock_;
  absl::Mutex mu_;
  // May go negative: tokens already promised to waiting callers.
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_RATE_LIMITER_H_
