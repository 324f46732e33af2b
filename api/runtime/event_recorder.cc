#include "api/runtime/event_recorder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/client/errors.h"
#include "api/client/exceptions.h"
#include "api/runtime/meta.h"
#include "api/types/event.h"

namespace zenlead::runtime {
namespace {

constexpr size_t kMaxReason = 128;
constexpr size_t kMaxAction = 128;
constexpr size_t kMaxNote = 1024;
// Room for "." and 16 hex digits in a 253-character name.
constexpr size_t kMaxNamePrefix = 253 - 17 - 4;

absl::Status CheckReason(absl::string_view reason) {
  bool ok = !reason.empty() && reason.size() <= kMaxReason &&
            absl::ascii_isupper(static_cast<unsigned char>(reason[0]));
  for (char c : reason)
    ok = ok && absl::ascii_isalnum(static_cast<unsigned char>(c));
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "event reason \"", reason,
      "\" must be UpperCamelCase (letters and digits, starting with a "
      "capital), at most 128 characters"));
}

// A truncated note must stay valid UTF-8: cut before a continuation byte.
std::string TruncateUtf8(absl::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(text.substr(0, end));
}

// Lower-case letters, digits, '-' and '.', as a DNS subdomain allows.
std::string NamePrefix(absl::string_view name) {
  std::string out;
  for (char c : name.substr(0, kMaxNamePrefix)) {
    c = absl::ascii_tolower(static_cast<unsigned char>(c));
    out += absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                   c == '.'
               ? c
               : '-';
  }
  return out.empty() ? "event" : out;
}

}  // namespace

EventRecorder::EventRecorder(client::Client* client,
                             EventRecorderOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : client::RealClock()),
      log_((options_.logger != nullptr ? *options_.logger : DefaultLogger())
               .With({{"component", "event-recorder"}})) {
  writer_ = std::thread([this] { Run(); });
}

EventRecorder::~EventRecorder() { Stop(); }

absl::Status EventRecorder::Record(const ObjectReference& regarding,
                                   EventType type, absl::string_view reason,
                                   absl::string_view action,
                                   absl::string_view note) {
  if (options_.reporting_instance.empty()) {
    return absl::FailedPreconditionError(
        "EventRecorderOptions.reporting_instance must be set (the pod name)");
  }
  if (absl::Status s = CheckReason(reason); !s.ok()) return s;
  if (action.empty() || action.size() > kMaxAction) {
    return absl::InvalidArgumentError(
        "event action must be 1 to 128 characters");
  }
  if (regarding.kind.empty() || regarding.name.empty()) {
    return absl::InvalidArgumentError(
        "event regarding must name the object's kind and name");
  }
  Pending event{regarding,
                type,
                std::string(reason),
                std::string(action),
                TruncateUtf8(note, kMaxNote),
                clock_->Now()};
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::FailedPreconditionError("the event recorder is stopped");
  }
  if (queue_.size() >= options_.queue_size) {
    ++stats_.dropped;
    return absl::ResourceExhaustedError(absl::StrCat(
        "event queue full (", options_.queue_size, "): ", reason, " dropped"));
  }
  queue_.push_back(std::move(event));
  return absl::OkStatus();
}

bool EventRecorder::Flush(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (queue_.empty() && !busy_) || stopping_;
  };
  clock_->AwaitWithDeadline(&mu_, absl::Condition(&drained), deadline);
  return queue_.empty() && !busy_;
}

void EventRecorder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

EventRecorder::Stats EventRecorder::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void EventRecorder::Run() {
  for (;;) {
    Pending event;
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      event = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    // A Client implementation (or a JSON operation on odd input) may throw;
    // on this thread that would end the process. The event is lost instead.
    absl::Status thrown =
        client::CallCatchingExceptions("event recorder", [&] { Write(event); });
    if (!thrown.ok()) {
      log_.Error(
          "writing an event threw; the event is dropped",
          {{"reason", event.reason},
           {"regarding", ObjectKey(event.regarding.ns, event.regarding.name)},
           {"error", thrown.ToString()}});
      absl::MutexLock lock(&mu_);
      ++stats_.failed;
    }
  }
}

std::string EventRecorder::NewEventName(const ObjectReference& regarding) {
  // Unique per recorder: the time in nanoseconds plus a counter (client-go
  // uses the time alone).
  const uint64_t stamp =
      static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now())) + name_counter_++;
  return absl::StrFormat("%s.%016x", NamePrefix(regarding.name), stamp);
}

void EventRecorder::Remember(const std::string& key, Series series) {
  auto it = series_.find(key);
  if (it != series_.end()) {
    lru_.erase(it->second.lru);
    series_.erase(it);
  }
  while (series_.size() >= options_.max_series && !lru_.empty()) {
    series_.erase(lru_.front());
    lru_.pop_front();
  }
  series.lru = lru_.insert(lru_.end(), key);
  series_.emplace(key, std::move(series));
}

void EventRecorder::Write(const Pending& event) {
  const ObjectReference& r = event.regarding;
  const std::string type =
      event.type == EventType::kWarning ? "Warning" : "Normal";
  // Fields are joined with a separator no Kubernetes name contains.
  const std::string key =
      absl::StrCat(r.api_version, "\x1f", r.kind, "\x1f", r.ns, "\x1f", r.name,
                   "\x1f", r.uid, "\x1f", type, "\x1f", event.reason, "\x1f",
                   event.action, "\x1f", event.note);
  const std::string event_ns = r.ns.empty() ? "default" : r.ns;

  auto it = series_.find(key);
  if (it != series_.end() &&
      event.time - it->second.last_observed <= options_.aggregation_window) {
    Series next = it->second;
    next.count += 1;
    next.last_observed = event.time;
    nlohmann::json patch = {
        {"series",
         {{"count", next.count},
          {"lastObservedTime", FormatMicroTime(event.time)}}}};
    absl::StatusOr<nlohmann::json> patched =
        client_->Patch(k8s::EventClient::Resource(), next.ns, next.name,
                       client::PatchType::kMerge, patch, "");
    if (patched.ok()) {
      Remember(key, std::move(next));
      absl::MutexLock lock(&mu_);
      ++stats_.patched;
      return;
    }
    if (!client::IsNotFound(patched.status())) {
      log_.Warning(
          "updating an event series failed",
          {{"event", next.name}, {"error", patched.status().ToString()}});
      absl::MutexLock lock(&mu_);
      ++stats_.failed;
      return;
    }
    // The Event expired (API server event TTL): start a new one.
  }

  nlohmann::json regarding = {
      {"apiVersion", r.api_version}, {"kind", r.kind}, {"name", r.name}};
  if (!r.ns.empty()) regarding["namespace"] = r.ns;
  if (!r.uid.empty()) regarding["uid"] = r.uid;
  const std::string name = NewEventName(r);
  nlohmann::json object = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", event_ns}}},
      {"eventTime", FormatMicroTime(event.time)},
      {"reportingController", options_.reporting_controller},
      {"reportingInstance", options_.reporting_instance},
      {"action", event.action},
      {"reason", event.reason},
      {"note", event.note},
      {"type", type},
      {"regarding", regarding}};
  absl::StatusOr<nlohmann::json> created =
      client_->Create(k8s::EventClient::Resource(), event_ns, object);
  if (!created.ok()) {
    log_.Warning("creating an event failed",
                 {{"reason", event.reason},
                  {"regarding", ObjectKey(r.ns, r.name)},
                  {"error", created.status().ToString()}});
    absl::MutexLock lock(&mu_);
    ++stats_.failed;
    return;
  }
  Remember(key, Series{event_ns, name, 1, event.time, {}});
  absl::MutexLock lock(&mu_);
  ++stats_.created;
}

}  // namespace zenlead::runtime
