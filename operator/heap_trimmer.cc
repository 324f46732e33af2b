#include "operator/heap_trimmer.h"

#include <malloc.h>

#include <utility>

namespace zenlead::op {

HeapTrimmer::HeapTrimmer(absl::Duration interval, std::function<void()> trim)
    : interval_(interval),
      trim_(trim ? std::move(trim) : [] { malloc_trim(0); }) {
  if (interval_ <= absl::ZeroDuration()) return;
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) trim_();
  });
}

HeapTrimmer::~HeapTrimmer() { Stop(); }

void HeapTrimmer::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace zenlead::op
