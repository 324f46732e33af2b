// Incremental decoder for the API server's watch stream: newline-delimited
// JSON events ({"type":"ADDED","object":{...}}) arriving in arbitrary byte
// chunks. Only the unfinished last line is buffered, never the whole stream.
//
//   WatchDecoder decoder;
//   for (absl::string_view chunk : chunks) {  // as the bytes arrive
//     std::vector<WatchEvent> events;
//     RETURN_IF_ERROR(decoder.Feed(chunk, &events));  // 0..n whole events
//     for (const WatchEvent& e : events) handle(e);
//   }
//   RETURN_IF_ERROR(decoder.Finish());  // at the end: was an event cut off?
//
// Compiled in header_examples_test.cc.
//
// Malformed input (bad JSON, unknown type, missing object, an event larger
// than max_event_bytes) gives InternalError naming the problem; after an error
// the decoder stays failed. ERROR events are decoded like any other (their
// object is a metav1.Status); turning them into a Status is the caller's job
// (StatusFromKubernetesStatus in errors.h).
#ifndef ZEN_LEAD_API_CLIENT_WATCH_DECODER_H_
#define ZEN_LEAD_API_CLIENT_WATCH_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/client/client.h"

namespace zenlead::client {

class WatchDecoder {
 public:
  static constexpr size_t kDefaultMaxEventBytes = 64 << 20;

  explicit WatchDecoder(size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Appends the events completed by bytes to *events (in order). On error,
  // events decoded before the bad one are still appended.
  absl::Status Feed(absl::string_view bytes, std::vector<WatchEvent>* events);

  // The stream has ended; an error if a partial event is left over.
  absl::Status Finish() const;

  // Bytes of the unfinished line held back.
  size_t buffered_bytes() const { return buffer_.size(); }
  // Events decoded so far.
  int64_t events_decoded() const { return events_decoded_; }

  // One event from one line (without the newline).
  static absl::StatusOr<WatchEvent> DecodeEvent(absl::string_view line);

  // "ADDED", "MODIFIED"... for messages.
  static absl::string_view TypeName(WatchEvent::Type type);

 private:
  absl::Status DecodeLine(absl::string_view line,
                          std::vector<WatchEvent>* events);

  const size_t max_event_bytes_;
  std::string buffer_;
  absl::Status error_;
  int64_t events_decoded_ = 0;
  int64_t bytes_consumed_ = 0;
};

}  // namespace zenlead::client

#endif  // ZEN_LEAD_API_CLIENT_WATCH_DECODER_H_
