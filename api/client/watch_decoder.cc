#include "api/client/watch_decoder.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace zenlead::client {
namespace {

constexpr size_t kMaxLineInMessage = 120;

std::string Excerpt(absl::string_view line) {
  if (line.size() <= kMaxLineInMessage) return std::string(line);
  return absl::StrCat(line.substr(0, kMaxLineInMessage), "...");
}

}  // namespace

absl::string_view WatchDecoder::TypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
    case WatchEvent::Type::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

absl::StatusOr<WatchEvent> WatchDecoder::DecodeEvent(absl::string_view line) {
  nlohmann::json parsed =
      nlohmann::json::parse(line.begin(), line.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InternalError(
        absl::StrCat("watch stream: malformed JSON event: ", Excerpt(line)));
  }
  if (!parsed.is_object()) {
    return absl::InternalError(absl::StrCat(
        "watch stream: event is not a JSON object: ", Excerpt(line)));
  }
  auto type_it = parsed.find("type");
  if (type_it == parsed.end() || !type_it->is_string()) {
    return absl::InternalError(
        absl::StrCat("watch stream: event without a type: ", Excerpt(line)));
  }
  const std::string& type = type_it->get_ref<const std::string&>();
  WatchEvent event;
  if (type == "ADDED") {
    event.type = WatchEvent::Type::kAdded;
  } else if (type == "MODIFIED") {
    event.type = WatchEvent::Type::kModified;
  } else if (type == "DELETED") {
    event.type = WatchEvent::Type::kDeleted;
  } else if (type == "BOOKMARK") {
    event.type = WatchEvent::Type::kBookmark;
  } else if (type == "ERROR") {
    event.type = WatchEvent::Type::kError;
  } else {
    return absl::InternalError(absl::StrCat(
        "watch stream: unknown event type \"", type, "\": ", Excerpt(line)));
  }
  auto object_it = parsed.find("object");
  if (object_it == parsed.end() || !object_it->is_object()) {
    return absl::InternalError(absl::StrCat(
        "watch stream: ", type, " event without an object: ", Excerpt(line)));
  }
  event.object = std::move(*object_it);
  return event;
}

absl::Status WatchDecoder::DecodeLine(absl::string_view line,
                                      std::vector<WatchEvent>* events) {
  bytes_consumed_ += static_cast<int64_t>(line.size()) + 1;
  line = absl::StripAsciiWhitespace(line);  // Also a "\r" before the "\n".
  if (line.empty()) return absl::OkStatus();
  absl::StatusOr<WatchEvent> event = DecodeEvent(line);
  if (!event.ok()) return event.status();
  events->push_back(*std::move(event));
  ++events_decoded_;
  return absl::OkStatus();
}

absl::Status WatchDecoder::Feed(absl::string_view bytes,
                                std::vector<WatchEvent>* events) {
  if (!error_.ok()) return error_;
  while (!bytes.empty()) {
    size_t newline = bytes.find('\n');
    if (newline == absl::string_view::npos) {
      if (buffer_.size() + bytes.size() > max_event_bytes_) {
        error_ = absl::InternalError(
            absl::StrCat("watch stream: event at byte ", bytes_consumed_,
                         " exceeds the limit of ", max_event_bytes_, " bytes"));
        return error_;
      }
      buffer_.append(bytes.data(), bytes.size());
      return absl::OkStatus();
    }
    absl::Status status;
    if (buffer_.empty()) {
      // Common case: the whole line is inside this chunk; no copy.
      status = DecodeLine(bytes.substr(0, newline), events);
    } else {
      buffer_.append(bytes.data(), newline);
      status = DecodeLine(buffer_, events);
      buffer_.clear();
    }
    if (!status.ok()) {
      error_ = status;
      return error_;
    }
    bytes.remove_prefix(newline + 1);
  }
  return absl::OkStatus();
}

absl::Status WatchDecoder::Finish() const {
  if (!error_.ok()) return error_;
  if (absl::StripAsciiWhitespace(buffer_).empty()) return absl::OkStatus();
  // The API server ends every event with a newline, so anything left over
  // was cut off, even if it happens to parse.
  return absl::InternalError(
      absl::StrCat("watch stream ended in the middle of an event (",
                   buffer_.size(), " bytes: ", Excerpt(buffer_), ")"));
}

}  // namespace zenlead::client
