#include "api/client/retry.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace zenlead::client {

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  int64_t seconds = 0;
  if (value.empty() || !absl::SimpleAtoi(value, &seconds) || seconds < 0) {
    return std::nullopt;
  }
  return absl::Seconds(seconds);
}

std::optional<absl::Duration> RetryDelay(const RetryPolicy& policy, int attempt,
                                         const AttemptOutcome& outcome,
                                         bool idempotent, double jitter) {
  if (attempt > policy.max_retries) return std::nullopt;
  const int code = outcome.http_code;
  bool retry = false;
  if (code == 0) {
    retry = idempotent || !outcome.request_sent;
  } else if (code == 429) {
    retry = true;
  } else if (code == 500 || code == 502 || code == 503 || code == 504) {
    retry = idempotent;
  }
  if (!retry) return std::nullopt;

  if (code != 0) {
    std::optional<absl::Duration> after = ParseRetryAfter(outcome.retry_after);
    if (after.has_value()) return std::min(*after, policy.max_retry_after);
  }
  absl::Duration backoff = policy.initial_backoff;
  for (int i = 1; i < attempt && backoff < policy.max_backoff; ++i) {
    backoff *= 2;
  }
  jitter = std::clamp(jitter, 0.0, 1.0);
  backoff = backoff * (0.8 + 0.4 * jitter);
  return std::min(backoff, policy.max_backoff);
}

}  // namespace zenlead::client
