#include "api/runtime/informer.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/client/exceptions.h"
#include "api/client/watch_decoder.h"

namespace zenlead::runtime {
namespace {

// The metadata fields the informer itself relies on, kept in projections.
constexpr const char* kKeptMetadata[] = {"name", "namespace", "uid",
                                         "resourceVersion"};

// The API server could not be reached, or answered that it is not serving
// (503, e.g. while it starts): a disruption of the connection rather than a
// refusal, retried soon.
bool Disconnected(const absl::Status& status) {
  const int http_code = client::HttpCodeOf(status);
  if (http_code == 0) {
    return status.code() == absl::StatusCode::kUnavailable ||
           status.code() == absl::StatusCode::kDeadlineExceeded;
  }
  return http_code == 503;
}

}  // namespace

Informer::Informer(client::Client* client, InformerOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : client::RealClock()),
      log_((options_.logger != nullptr ? *options_.logger : DefaultLogger())
               .With({{"informer", options_.resource.resource},
                      {"namespace", options_.ns}})),
      store_(options_.compact_cache) {}

Informer::~Informer() { Stop(); }

absl::Status Informer::AddIndexer(const std::string& name, IndexFunc fn) {
  {
    absl::MutexLock lock(&mu_);
    if (started_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "index \"", name, "\": add indexes before Informer::Start"));
    }
  }
  return store_.AddIndexer(name, std::move(fn));
}

absl::Status Informer::AddEventHandler(EventHandler handler) {
  absl::MutexLock lock(&mu_);
  if (started_) {
    return absl::FailedPreconditionError(
        "add event handlers before Informer::Start");
  }
  handlers_.push_back(std::move(handler));
  return absl::OkStatus();
}

absl::Status Informer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_)
    return absl::FailedPreconditionError("informer already started");
  if (stopping_) return absl::FailedPreconditionError("informer was stopped");
  started_ = true;
  dispatcher_ = std::thread([this] { RunDispatcher(); });
  reflector_ = std::thread([this] { RunReflector(); });
  return absl::OkStatus();
}

void Informer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !reflector_.joinable() && !dispatcher_.joinable()) return;
    stopping_ = true;
  }
  // Outside mu_: the client's wake-up may take its own locks.
  cancel_->Cancel();
  if (reflector_.joinable()) reflector_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
}

bool Informer::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool Informer::HasSynced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

bool Informer::WaitForSync(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return synced_ || stopping_;
  };
  clock_->AwaitWithDeadline(&mu_, absl::Condition(&done), deadline);
  return synced_;
}

std::string Informer::LastResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

Informer::Stats Informer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status Informer::Healthy(absl::Duration max_handler_time) const {
  absl::MutexLock lock(&mu_);
  if (!started_ || stopping_) return absl::OkStatus();
  const std::string& resource = options_.resource.resource;
  if (dispatcher_ended_ || reflector_ended_) {
    return absl::InternalError(absl::StrCat(
        "informer ", resource, ": the ",
        dispatcher_ended_ ? "event dispatch" : "list/watch",
        " thread ended unexpectedly, so its cache and handlers get no more "
        "events; the log says why (\"ended by an exception\"); restart the "
        "process"));
  }
  if (handler_since_ != absl::InfiniteFuture()) {
    const absl::Duration running = clock_->Now() - handler_since_;
    if (running > max_handler_time) {
      return absl::DeadlineExceededError(absl::StrCat(
          "informer ", resource, ": an event handler has been running for ",
          absl::FormatDuration(absl::Trunc(running, absl::Milliseconds(1))),
          " (limit ", absl::FormatDuration(max_handler_time),
          "): wedged? Events queue up behind it; a thread dump shows where "
          "it waits"));
    }
  }
  return absl::OkStatus();
}

void Informer::CountException() {
  absl::MutexLock lock(&mu_);
  ++stats_.exceptions;
}

ObjectPtr Informer::Prepare(const nlohmann::json& obj) const {
  if (!options_.projection) return std::make_shared<const nlohmann::json>(obj);
  nlohmann::json projected;
  try {
    projected = options_.projection(obj);
  } catch (const std::exception& e) {
    // Keeping the whole object costs memory; dropping it would lose it.
    log_.Error("projection failed; caching the whole object",
               {{"object", ObjectKey(obj)}, {"error", e.what()}});
    return std::make_shared<const nlohmann::json>(obj);
  }
  if (!projected.is_object()) projected = nlohmann::json::object();
  nlohmann::json& metadata = projected["metadata"];
  if (!metadata.is_object()) metadata = nlohmann::json::object();
  for (const char* field : kKeptMetadata) {
    std::string value = MetadataString(obj, field);
    if (!value.empty()) metadata[field] = std::move(value);
  }
  return std::make_shared<const nlohmann::json>(std::move(projected));
}

void Informer::Notify(Notification n) {
  absl::MutexLock lock(&mu_);
  pending_.push_back(std::move(n));
}

absl::Status Informer::ListAndReplace() {
  client::ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.field_selector = options_.field_selector;
  list_options.limit = options_.page_size;
  list_options.cancel = cancel_;
  // Page by page: each page is projected and freed before the next one
  // arrives, so the full objects of a large list are never all in memory.
  std::vector<std::pair<std::string, ObjectPtr>> listed;
  absl::flat_hash_set<std::string> listed_keys;
  absl::StatusOr<nlohmann::json> last = client::ListPages(
      *client_, options_.resource, options_.ns, list_options,
      [&](nlohmann::json& page) {
        auto items = page.find("items");
        if (items == page.end() || !items->is_array()) {
          return absl::InternalError(absl::StrCat(
              "list ", options_.resource.resource, ": a page has no items"));
        }
        for (const nlohmann::json& item : *items) {
          std::string key = ObjectKey(item);
          if (key.empty()) continue;
          listed_keys.insert(key);
          listed.emplace_back(std::move(key), Prepare(item));
        }
        page.erase("items");
        return absl::OkStatus();
      });
  if (!last.ok()) return last.status();
  const std::string version = MetadataString(*last, "resourceVersion");
  if (version.empty()) {
    return absl::InternalError(absl::StrCat("list ", options_.resource.resource,
                                            ": no resourceVersion"));
  }

  // The diff against the cache: deletions first (with the last state the
  // cache knew), then additions and changes in list order.
  for (const std::string& key : store_.ListKeys()) {
    if (listed_keys.contains(key)) continue;
    if (ObjectPtr old = store_.Remove(key)) {
      Notify({Notification::Kind::kDelete, nullptr, std::move(old), true});
    }
  }
  for (auto& [key, obj] : listed) {
    ObjectPtr old = store_.Get(key);
    if (old == nullptr) {
      store_.Put(key, obj);
      Notify({Notification::Kind::kAdd, nullptr, std::move(obj), false});
    } else if (MetadataString(*old, "uid") != MetadataString(*obj, "uid")) {
      // Deleted and created again under the same name while we were away.
      store_.Put(key, obj);
      Notify({Notification::Kind::kDelete, nullptr, std::move(old), true});
      Notify({Notification::Kind::kAdd, nullptr, std::move(obj), false});
    } else if (MetadataString(*old, "resourceVersion") !=
               MetadataString(*obj, "resourceVersion")) {
      store_.Put(key, obj);
      Notify(
          {Notification::Kind::kUpdate, std::move(old), std::move(obj), false});
    }
  }
  absl::MutexLock lock(&mu_);
  resource_version_ = version;
  ++stats_.lists;
  if (stats_.lists == 1) {
    pending_.push_back({Notification::Kind::kSynced, nullptr, nullptr, false});
  }
  return absl::OkStatus();
}

void Informer::ApplyEvent(const client::WatchEvent& event) {
  const std::string key = ObjectKey(event.object);
  if (key.empty()) {
    log_.Warning("watch event without metadata.name ignored",
                 {{"type", client::WatchDecoder::TypeName(event.type)}});
    return;
  }
  ObjectPtr obj = Prepare(event.object);
  if (event.type == client::WatchEvent::Type::kDeleted) {
    // Unknown to the cache: nothing to tell anyone (no phantom deletes).
    if (store_.Remove(key) != nullptr) {
      Notify({Notification::Kind::kDelete, nullptr, std::move(obj), false});
    }
    return;
  }
  ObjectPtr old = store_.Put(key, obj);
  if (old == nullptr) {
    Notify({Notification::Kind::kAdd, nullptr, std::move(obj), false});
  } else {
    Notify(
        {Notification::Kind::kUpdate, std::move(old), std::move(obj), false});
  }
}

absl::Duration Informer::RetryWithin(const absl::Status& error,
                                     absl::Duration backoff) const {
  return Disconnected(error)
             ? std::min(backoff, options_.disconnected_backoff_max)
             : backoff;
}

bool Informer::Backoff(const absl::Status& error, absl::Duration* backoff) {
  static thread_local absl::BitGen bitgen;
  const absl::Duration step = RetryWithin(error, *backoff);
  const absl::Duration wait = step / 2 + absl::Uniform(bitgen, 0.0, 0.5) * step;
  *backoff = std::min(*backoff * 2, options_.backoff_max);
  absl::MutexLock lock(&mu_);
  return !clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping_), wait);
}

void Informer::RunReflector() {
  absl::Status thrown = client::CallCatchingExceptions(
      "informer list/watch loop", [this] { ReflectLoop(); });
  absl::MutexLock lock(&mu_);
  if (!thrown.ok()) {
    ++stats_.exceptions;
    log_.Error(
        "list/watch thread ended by an exception; the cache gets no "
        "more events",
        {{"error", thrown.ToString()}});
  }
  if (!stopping_) reflector_ended_ = true;
}

void Informer::ReflectLoop() {
  absl::Duration backoff = options_.backoff_initial;
  bool need_list = true;
  while (!Stopping()) {
    if (need_list) {
      absl::Status listed;
      // Projections and index functions are guarded already; whatever else
      // throws (std::bad_alloc on a huge page) fails this list, which is
      // retried, instead of ending the thread.
      if (absl::Status thrown = client::CallCatchingExceptions(
              "informer list", [&] { listed = ListAndReplace(); });
          !thrown.ok()) {
        CountException();
        listed = thrown;
      }
      if (!listed.ok()) {
        if (Stopping()) break;  // Cancelled by Stop(): not a failure.
        {
          absl::MutexLock lock(&mu_);
          ++stats_.errors;
        }
        log_.Warning("list failed; retrying",
                     {{"error", listed.ToString()},
                      {"retry_within_ms", absl::ToInt64Milliseconds(
                                              RetryWithin(listed, backoff))}});
        if (!Backoff(listed, &backoff)) break;
        continue;
      }
      need_list = false;
    }

    client::WatchOptions watch_options;
    watch_options.label_selector = options_.label_selector;
    watch_options.field_selector = options_.field_selector;
    watch_options.resource_version = LastResourceVersion();
    watch_options.allow_bookmarks = true;
    watch_options.timeout = options_.watch_timeout;
    watch_options.cancel = cancel_;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.watches;
    }
    int64_t events = 0;
    absl::Status event_error;
    const absl::Time started = clock_->Now();
    absl::Status watched = client_->Watch(
        options_.resource, options_.ns, watch_options,
        [&](const client::WatchEvent& event) {
          if (Stopping()) return false;
          if (event.type == client::WatchEvent::Type::kError) {
            // RestClient turns ERROR events into the watch's status; other
            // clients may pass them on.
            event_error = client::StatusFromKubernetesStatus(event.object);
            return false;
          }
          ++events;
          if (event.type != client::WatchEvent::Type::kBookmark) {
            // This runs inside the client's network callback, where nothing
            // may throw: an event that cannot be applied is skipped.
            absl::Status thrown = client::CallCatchingExceptions(
                "informer applying a watch event", [&] { ApplyEvent(event); });
            if (!thrown.ok()) {
              CountException();
              log_.Error("watch event could not be applied; skipped",
                         {{"object", ObjectKey(event.object)},
                          {"type", client::WatchDecoder::TypeName(event.type)},
                          {"error", thrown.ToString()}});
            }
          }
          std::string version = MetadataString(event.object, "resourceVersion");
          absl::MutexLock lock(&mu_);
          if (!version.empty()) resource_version_ = std::move(version);
          if (event.type != client::WatchEvent::Type::kBookmark)
            ++stats_.events;
          return true;
        });
    if (Stopping()) break;
    if (watched.ok() && !event_error.ok()) watched = event_error;

    // A watch that worked ends the trouble before it: whatever ended it
    // (an API server restart after minutes of service) is a new disruption,
    // retried from the initial backoff. Watches that end at once without
    // events (bookmarks count), again and again, keep doubling it: no spin.
    if (events > 0 || clock_->Now() - started >= kHealthyWatch) {
      backoff = options_.backoff_initial;
    } else if (watched.ok()) {
      if (!Backoff(watched, &backoff)) break;
      continue;
    }
    if (watched.ok()) continue;
    if (client::IsGone(watched)) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.gone;
      }
      log_.Info("watch version expired; relisting",
                {{"resourceVersion", watch_options.resource_version}});
      need_list = true;
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      ++stats_.errors;
    }
    log_.Warning("watch failed; retrying",
                 {{"error", watched.ToString()},
                  {"retry_within_ms",
                   absl::ToInt64Milliseconds(RetryWithin(watched, backoff))}});
    if (!Backoff(watched, &backoff)) break;
  }
}

void Informer::RunDispatcher() {
  absl::Status thrown = client::CallCatchingExceptions(
      "informer event dispatcher", [this] { DispatchLoop(); });
  absl::MutexLock lock(&mu_);
  if (!thrown.ok()) {
    ++stats_.exceptions;
    log_.Error(
        "event dispatch thread ended by an exception; handlers get no "
        "more events",
        {{"error", thrown.ToString()}});
  }
  if (!stopping_) dispatcher_ended_ = true;
}

template <typename F>
void Informer::CallHandler(const char* kind, const ObjectPtr& obj, F&& call) {
  absl::Status thrown = client::CallCatchingExceptions("informer event handler",
                                                       std::forward<F>(call));
  if (thrown.ok()) return;
  CountException();
  log_.Error(
      "event handler threw; this event is skipped for it, later "
      "events are delivered",
      {{"handler", kind},
       {"object", obj != nullptr ? ObjectKey(*obj) : ""},
       {"error", thrown.ToString()}});
}

void Informer::DispatchLoop() {
  std::vector<EventHandler> handlers;
  {
    absl::MutexLock lock(&mu_);
    handlers = handlers_;
  }
  for (;;) {
    Notification n;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      n = std::move(pending_.front());
      pending_.pop_front();
      if (n.kind == Notification::Kind::kSynced) {
        synced_ = true;
        continue;
      }
      handler_since_ = clock_->Now();
    }
    for (const EventHandler& handler : handlers) {
      switch (n.kind) {
        case Notification::Kind::kAdd:
          if (handler.on_add) {
            CallHandler("on_add", n.obj, [&] { handler.on_add(n.obj); });
          }
          break;
        case Notification::Kind::kUpdate:
          if (handler.on_update) {
            CallHandler("on_update", n.obj,
                        [&] { handler.on_update(n.old_obj, n.obj); });
          }
          break;
        case Notification::Kind::kDelete:
          if (handler.on_delete) {
            CallHandler("on_delete", n.obj, [&] {
              handler.on_delete(n.obj, n.final_state_unknown);
            });
          }
          break;
        case Notification::Kind::kSynced:
          break;
      }
    }
    absl::MutexLock lock(&mu_);
    handler_since_ = absl::InfiniteFuture();
  }
}

}  // namespace zenlead::runtime
