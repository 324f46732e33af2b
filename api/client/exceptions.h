// The boundary between code that may throw (nlohmann/json's value(), a
// handler written by someone else, std::bad_alloc) and the client runtime's
// own threads and libcurl's C callbacks, where an exception must never pass:
// out of a thread's function it terminates the process, through a C frame it
// is undefined behaviour. Each such boundary runs the code through
// CallCatchingExceptions, which turns an exception into an InternalError
// naming where it happened, and counts it process-wide so that a caller can
// export the count.
//
//   bool more = true;
//   absl::Status s = CallCatchingExceptions("watch leases: handler",
//                                           [&] { more = handler(event); });
//   if (!s.ok()) std::cerr << "handler threw; event skipped: " << s << "\n";
//   int64_t caught = CaughtExceptions();  // e.g. for a metric
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_CLIENT_EXCEPTIONS_H_
#define ZEN_LEAD_API_CLIENT_EXCEPTIONS_H_

#include <cstdint>
#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace zenlead::client {

// Counts one caught exception and describes it: InternalError("<where>
// threw <type-ish>: <what()>"). Call from a catch block only (it inspects
// std::current_exception()). Never throws.
absl::Status StatusFromCurrentException(absl::string_view where) noexcept;

// Runs f(); returns OkStatus, or the StatusFromCurrentException of whatever
// it threw. f's own result is discarded: capture what you need.
template <typename F>
absl::Status CallCatchingExceptions(absl::string_view where, F&& f) noexcept {
  try {
    std::forward<F>(f)();
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException(where);
  }
}

// Exceptions caught at these boundaries since the process started.
int64_t CaughtExceptions() noexcept;

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_EXCEPTIONS_H_
