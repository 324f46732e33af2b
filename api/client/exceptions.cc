#include "api/client/exceptions.h"

#include <atomic>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"

namespace zenlead::client {
namespace {

std::atomic<int64_t> caught{0};

}  // namespace

absl::Status StatusFromCurrentException(absl::string_view where) noexcept {
  caught.fetch_add(1, std::memory_order_relaxed);
  try {
    std::exception_ptr current = std::current_exception();
    if (current == nullptr) {
      return absl::InternalError(
          absl::StrCat(where, ": no exception in flight"));
    }
    try {
      std::rethrow_exception(current);
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat(where, " threw an exception: ", e.what()));
    } catch (...) {
      return absl::InternalError(
          absl::StrCat(where,
                       " threw an exception that is not a "
                       "std::exception"));
    }
  } catch (...) {
    // Building the message failed (out of memory): a fixed text needs no
    // allocation beyond what Status itself may do.
    return absl::InternalError("an exception was caught (no details)");
  }
}

int64_t CaughtExceptions() noexcept {
  return caught.load(std::memory_order_relaxed);
}

}  // namespace zenlead::client
