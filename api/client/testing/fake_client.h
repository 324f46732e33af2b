// A scripted Client for unit tests of code built on the Client interface
// (informer, leader election, event recorder): each verb runs a hook the test
// sets, and Watch replays events the test pushes. It knows nothing about
// Kubernetes semantics (versions, conflicts, selectors) beyond what a test
// scripts; those are tested against a real API server in e2e/.
//
//   FakeClient fake;
//   fake.list = [](const Resource&, absl::string_view, const ListOptions&) {
//     return nlohmann::json{{"metadata", {{"resourceVersion", "10"}}},
//                           {"items", nlohmann::json::array()}};
//   };
//   fake.PushWatchEvent(WatchEvent::Type::kAdded, pod);  // next Watch sees it
//   fake.EndWatch(absl::OkStatus());                     // then returns OK
//   ASSERT_TRUE(fake.AwaitWatchCalls(2, absl::Seconds(10)));
//   watch_options.cancel->Cancel();  // that blocked watch ends (Cancelled)
//   fake.Stop();  // blocked and later watches end with CancelledError
#ifndef ZEN_LEAD_API_CLIENT_TESTING_FAKE_CLIENT_H_
#define ZEN_LEAD_API_CLIENT_TESTING_FAKE_CLIENT_H_

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/client/client.h"

namespace zenlead::client::testing {

class FakeClient : public Client {
 public:
  using JsonResult = absl::StatusOr<nlohmann::json>;

  // Hooks: set them before the code under test runs; an unset hook answers
  // UnimplementedError. They run on the caller's thread, without locks held.
  std::function<JsonResult(const Resource&, absl::string_view ns,
                           absl::string_view name)>
      get;
  std::function<JsonResult(const Resource&, absl::string_view ns,
                           const ListOptions&)>
      list;
  std::function<JsonResult(const Resource&, absl::string_view ns,
                           const nlohmann::json&)>
      create;
  std::function<JsonResult(const Resource&, absl::string_view ns,
                           const nlohmann::json&)>
      update;
  std::function<JsonResult(const Resource&, absl::string_view ns,
                           const nlohmann::json&)>
      update_status;
  std::function<absl::Status(const Resource&, absl::string_view ns,
                             absl::string_view name, const DeleteOptions&)>
      del;
  std::function<JsonResult(const Resource&, absl::string_view ns,
                           absl::string_view name, PatchType,
                           const nlohmann::json&, absl::string_view)>
      patch;
  std::function<JsonResult(const Resource&, absl::string_view ns,
                           absl::string_view name, const nlohmann::json&,
                           const ApplyOptions&, absl::string_view)>
      apply;

  JsonResult Get(const Resource& r, absl::string_view ns,
                 absl::string_view name) override {
    if (!get) return Unset("get");
    return get(r, ns, name);
  }
  // Like RestClient, a list with a cancelled options.cancel fails at once
  // (recorded, but the hook is not called).
  JsonResult List(const Resource& r, absl::string_view ns,
                  const ListOptions& options) override {
    {
      absl::MutexLock lock(&mu_);
      list_calls_.push_back(options);
    }
    if (CancelRequested(options.cancel.get())) {
      return absl::CancelledError("FakeClient: the list was cancelled");
    }
    if (!list) return Unset("list");
    return list(r, ns, options);
  }
  JsonResult Create(const Resource& r, absl::string_view ns,
                    const nlohmann::json& obj) override {
    if (!create) return Unset("create");
    return create(r, ns, obj);
  }
  JsonResult Update(const Resource& r, absl::string_view ns,
                    const nlohmann::json& obj) override {
    if (!update) return Unset("update");
    return update(r, ns, obj);
  }
  JsonResult UpdateStatus(const Resource& r, absl::string_view ns,
                          const nlohmann::json& obj) override {
    if (!update_status) return Unset("update_status");
    return update_status(r, ns, obj);
  }
  absl::Status Delete(const Resource& r, absl::string_view ns,
                      absl::string_view name,
                      const DeleteOptions& options) override {
    if (!del) return Unset("delete");
    return del(r, ns, name, options);
  }
  JsonResult Patch(const Resource& r, absl::string_view ns,
                   absl::string_view name, PatchType type,
                   const nlohmann::json& body,
                   absl::string_view subresource) override {
    if (!patch) return Unset("patch");
    return patch(r, ns, name, type, body, subresource);
  }
  JsonResult Apply(const Resource& r, absl::string_view ns,
                   absl::string_view name, const nlohmann::json& obj,
                   const ApplyOptions& options,
                   absl::string_view subresource) override {
    if (!apply) return Unset("apply");
    return apply(r, ns, name, obj, options, subresource);
  }

  // Replays pushed actions in order: events go to the handler (false from
  // the handler ends the watch with OkStatus), an end action ends the watch
  // with its status. With nothing pushed, blocks until something is pushed,
  // options.cancel is cancelled or Stop(); the last two end it with
  // CancelledError (also when they came before the call).
  absl::Status Watch(const Resource& r, absl::string_view ns,
                     const WatchOptions& options,
                     const WatchHandler& handler) override {
    const Cancellation* cancel = options.cancel.get();
    // Registered before mu_ is taken and removed after it is released: the
    // callback takes mu_, which makes Await below look at cancel again.
    ScopedCancelCallback wake(options.cancel.get(),
                              [this] { absl::MutexLock lock(&mu_); });
    absl::MutexLock lock(&mu_);
    watch_calls_.push_back(options);
    ++active_watches_;
    absl::Status result = absl::OkStatus();
    for (;;) {
      auto ready = [this, cancel]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopped_ || CancelRequested(cancel) || !actions_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopped_) {
        result = absl::CancelledError("fake client stopped");
        break;
      }
      if (CancelRequested(cancel)) {
        result = absl::CancelledError("FakeClient: the watch was cancelled");
        break;
      }
      Action action = std::move(actions_.front());
      actions_.pop_front();
      if (!action.event.has_value()) {
        result = action.end;
        break;
      }
      in_handler_ = true;
      mu_.Unlock();
      const bool more = handler(*action.event);
      mu_.Lock();
      in_handler_ = false;
      if (!more) break;
    }
    --active_watches_;
    return result;
  }

  void PushWatchEvent(WatchEvent::Type type, nlohmann::json object) {
    absl::MutexLock lock(&mu_);
    actions_.push_back(Action{WatchEvent{type, std::move(object)}, {}});
  }
  void PushBookmark(const std::string& resource_version) {
    PushWatchEvent(WatchEvent::Type::kBookmark,
                   {{"metadata", {{"resourceVersion", resource_version}}}});
  }
  // The watch that reaches this action returns `status`.
  void EndWatch(absl::Status status) {
    absl::MutexLock lock(&mu_);
    actions_.push_back(Action{std::nullopt, std::move(status)});
  }

  // Like RestClient::Stop: blocked watches and every later one end with
  // CancelledError.
  void Stop() {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }
  bool stopped() {
    absl::MutexLock lock(&mu_);
    return stopped_;
  }

  // Watch calls running now (blocked, or in the handler).
  int active_watches() {
    absl::MutexLock lock(&mu_);
    return active_watches_;
  }
  // Waits in real time until Watch was called at least n times.
  bool AwaitWatchCalls(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(watch_calls_.size()) >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  // Waits until every pushed action was consumed and a watch is blocked
  // waiting for more (the handler has returned for all pushed events).
  bool AwaitIdleWatch(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto idle = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return actions_.empty() && active_watches_ > 0 && !in_handler_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
  }
  std::vector<WatchOptions> watch_calls() {
    absl::MutexLock lock(&mu_);
    return watch_calls_;
  }
  std::vector<ListOptions> list_calls() {
    absl::MutexLock lock(&mu_);
    return list_calls_;
  }

 private:
  struct Action {
    std::optional<WatchEvent> event;  // nullopt: end the watch with `end`
    absl::Status end;
  };

  static absl::Status Unset(absl::string_view verb) {
    return absl::UnimplementedError(
        absl::StrCat("FakeClient: no `", verb, "` hook set"));
  }

  absl::Mutex mu_;
  std::deque<Action> actions_ ABSL_GUARDED_BY(mu_);
  std::vector<WatchOptions> watch_calls_ ABSL_GUARDED_BY(mu_);
  std::vector<ListOptions> list_calls_ ABSL_GUARDED_BY(mu_);
  int active_watches_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_handler_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace zenlead::client::testing

#endif  // ZEN_LEAD_API_CLIENT_TESTING_FAKE_CLIENT_H_
