// HeapTrimmer: hands the heap's free pages back to the kernel every
// `interval` (glibc's malloc_trim), so the operator's resident memory is
// what it holds, not the high-water mark of its allocations.
//
// Why: glibc keeps memory that was freed inside its arenas, and raises its
// trim and mmap thresholds after large frees (the list pages of the initial
// sync), so it returns almost nothing on its own. Measured at 1,000 pools
// (docs/operator.md): about 10 MB of the 24 MB heap was free and resident;
// trimming every 10 s lowered RSS by about 1.5 MiB, and each trim took
// 0.35-0.8 ms (an allocation that waits for it waits at most that long).
//
//   HeapTrimmer trimmer(absl::Seconds(10));   // starts its thread
//   ...
//   trimmer.Stop();                           // also in the destructor
#ifndef ZEN_LEAD_OPERATOR_HEAP_TRIMMER_H_
#define ZEN_LEAD_OPERATOR_HEAP_TRIMMER_H_

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace zenlead::op {

class HeapTrimmer {
 public:
  // interval <= 0: never trims (no thread). trim: nullptr for malloc_trim(0)
  // (tests count calls instead).
  explicit HeapTrimmer(absl::Duration interval,
                       std::function<void()> trim = nullptr);
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Stops the thread (returns at once, also mid-interval). Idempotent.
  void Stop();

 private:
  const absl::Duration interval_;
  const std::function<void()> trim_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_HEAP_TRIMMER_H_
