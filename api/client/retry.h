// When RestClient retries a request, as a pure function of what happened, so
// the policy is unit-tested without a server:
//
//   AttemptOutcome outcome{.http_code = 429, .retry_after = "2"};
//   std::optional<absl::Duration> wait =
//       RetryDelay(RetryPolicy(), /*attempt=*/1, outcome,
//                  /*idempotent=*/false, /*jitter=*/0.5);
//   // wait == 2s: 429 means the server did not act, so even POST retries.
//
// Compiled in header_examples_test.cc.
//
// Rules: at most policy.max_retries retries; 429 always retries; 500, 502,
// 503, 504 and connection errors after the request went out retry only
// idempotent requests (never a POST: the server may have acted); connection
// errors before anything was sent (refused, DNS) always retry. Retry-After
// (whole seconds) is honoured up to policy.max_retry_after; otherwise the wait
// is exponential backoff from policy.initial_backoff, capped at
// policy.max_backoff, spread by jitter in [0, 1) to +-20%.
#ifndef ZEN_LEAD_API_CLIENT_RETRY_H_
#define ZEN_LEAD_API_CLIENT_RETRY_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace zenlead::client {

struct RetryPolicy {
  int max_retries = 5;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
  absl::Duration max_retry_after = absl::Seconds(30);
};

struct AttemptOutcome {
  // The HTTP status, 0 when no response arrived.
  int http_code = 0;
  // With http_code 0: whether any of the request may have reached the
  // server. False only for failures before sending (connect, DNS, TLS setup).
  bool request_sent = true;
  // The Retry-After header, "" when absent.
  absl::string_view retry_after;
};

// The wait before the next attempt, or nullopt to give up. attempt counts the
// attempts made so far (1 after the first failure).
std::optional<absl::Duration> RetryDelay(const RetryPolicy& policy, int attempt,
                                         const AttemptOutcome& outcome,
                                         bool idempotent, double jitter);

// Retry-After as delay-seconds; nullopt when absent or not a non-negative
// integer (HTTP dates are not used by the API server).
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value);

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_RETRY_H_
