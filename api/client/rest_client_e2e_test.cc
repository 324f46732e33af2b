// RestClient against a real API server (the local control plane of
// e2e/cluster, via $KUBECONFIG): every verb on ConfigMaps and Leases,
// pagination, server-side apply conflicts, optimistic concurrency,
// preconditions, watch ordering, bookmarks, 410 Gone, Stop(), cancelling one
// watch of a shared client, and connection reuse. Each test works in its own
// namespace and deletes it afterwards.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//   //api/client:rest_client_e2e_test
#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "api/client/client.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "gtest/gtest.h"

namespace zenlead::client {
namespace {

const Resource kNamespaces{"", "v1", "namespaces", false};
const Resource kConfigMaps{"", "v1", "configmaps", true};
const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
const Resource kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                     false};

std::string RandomSuffix() {
  std::random_device rd;
  std::mt19937 rng(rd());
  const char* chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 6; ++i) out.push_back(chars[rng() % 36]);
  return out;
}

// Polls cond until it holds or the deadline passes.
template <typename Cond>
bool WaitFor(Cond cond, absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return cond();
}

std::string Rv(const nlohmann::json& obj) {
  return obj["metadata"]["resourceVersion"].get<std::string>();
}

nlohmann::json ConfigMap(const std::string& name,
                         const nlohmann::json& data = nlohmann::json::object(),
                         const nlohmann::json& labels = {{"test", "e2e"}}) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"data", data}};
}

class RestClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Config> config = LoadConfig();
    ASSERT_TRUE(config.ok())
        << "e2e tests need KUBECONFIG of a running cluster (e2e/cluster/up): "
        << config.status();
    config_ = *config;
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
    ns_ = "rc-e2e-" + RandomSuffix();
    absl::StatusOr<nlohmann::json> created =
        client_->Create(kNamespaces, "",
                        {{"apiVersion", "v1"},
                         {"kind", "Namespace"},
                         {"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.ok()) << created.status();
  }

  void TearDown() override {
    if (client_ != nullptr && !ns_.empty()) {
      absl::Status deleted = client_->Delete(kNamespaces, "", ns_, {});
      EXPECT_TRUE(deleted.ok() || IsNotFound(deleted)) << deleted;
    }
  }

  std::unique_ptr<RestClient> NewClient(RestClientOptions options = {}) {
    absl::StatusOr<std::unique_ptr<RestClient>> client =
        RestClient::Create(config_, std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  Config config_;
  std::unique_ptr<RestClient> client_;
  std::string ns_;
};

TEST_F(RestClientE2eTest, ConfigMapVerbs) {
  // Create, then AlreadyExists on a second create.
  absl::StatusOr<nlohmann::json> created =
      client_->Create(kConfigMaps, ns_, ConfigMap("cm", {{"a", "1"}}));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], ns_);
  absl::StatusOr<nlohmann::json> again =
      client_->Create(kConfigMaps, ns_, ConfigMap("cm"));
  EXPECT_TRUE(IsAlreadyExists(again.status())) << again.status();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);

  // Get and List.
  absl::StatusOr<nlohmann::json> got = client_->Get(kConfigMaps, ns_, "cm");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["data"]["a"], "1");
  ListOptions by_label;
  by_label.label_selector = "test=e2e";
  absl::StatusOr<nlohmann::json> list =
      client_->List(kConfigMaps, ns_, by_label);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ((*list)["items"].size(), 1u);
  EXPECT_EQ((*list)["kind"], "ConfigMapList");

  // Update (PUT) with the current version.
  nlohmann::json updated_obj = *got;
  updated_obj["data"]["a"] = "2";
  absl::StatusOr<nlohmann::json> updated =
      client_->Update(kConfigMaps, ns_, updated_obj);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["data"]["a"], "2");

  // The three patch types.
  absl::StatusOr<nlohmann::json> merged =
      client_->Patch(kConfigMaps, ns_, "cm", PatchType::kMerge,
                     {{"data", {{"b", "merge"}}}}, "");
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ((*merged)["data"]["b"], "merge");
  absl::StatusOr<nlohmann::json> json_patched = client_->Patch(
      kConfigMaps, ns_, "cm", PatchType::kJson,
      nlohmann::json::array(
          {{{"op", "replace"}, {"path", "/data/b"}, {"value", "json"}}}),
      "");
  ASSERT_TRUE(json_patched.ok()) << json_patched.status();
  EXPECT_EQ((*json_patched)["data"]["b"], "json");
  absl::StatusOr<nlohmann::json> strategic =
      client_->Patch(kConfigMaps, ns_, "cm", PatchType::kStrategicMerge,
                     {{"data", {{"c", "smp"}}}}, "");
  ASSERT_TRUE(strategic.ok()) << strategic.status();
  EXPECT_EQ((*strategic)["data"]["c"], "smp");
  EXPECT_EQ((*strategic)["data"]["a"], "2");

  // A JSON patch that fails its test op is a conflict-free 422.
  absl::StatusOr<nlohmann::json> failed_test = client_->Patch(
      kConfigMaps, ns_, "cm", PatchType::kJson,
      nlohmann::json::array(
          {{{"op", "test"}, {"path", "/data/a"}, {"value", "nope"}}}),
      "");
  EXPECT_FALSE(failed_test.ok());
  EXPECT_NE(HttpCodeOf(failed_test.status()), 0) << failed_test.status();

  // Server-side apply creates and updates.
  ApplyOptions apply;
  apply.field_manager = "zen-lead-e2e";
  absl::StatusOr<nlohmann::json> applied = client_->Apply(
      kConfigMaps, ns_, "applied", ConfigMap("applied", {{"k", "v"}}), apply);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ((*applied)["data"]["k"], "v");
  EXPECT_EQ((*applied)["metadata"]["managedFields"][0]["manager"],
            "zen-lead-e2e");

  // Delete, then NotFound.
  ASSERT_TRUE(client_->Delete(kConfigMaps, ns_, "cm", {}).ok());
  absl::StatusOr<nlohmann::json> gone = client_->Get(kConfigMaps, ns_, "cm");
  EXPECT_TRUE(IsNotFound(gone.status())) << gone.status();
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  absl::Status delete_missing = client_->Delete(kConfigMaps, ns_, "cm", {});
  EXPECT_TRUE(IsNotFound(delete_missing)) << delete_missing;

  // Invalid objects are 422 with the server's message.
  absl::StatusOr<nlohmann::json> invalid =
      client_->Create(kConfigMaps, ns_, ConfigMap("Not_A_Valid_Name"));
  EXPECT_TRUE(IsInvalid(invalid.status())) << invalid.status();
  EXPECT_NE(invalid.status().message().find("Not_A_Valid_Name"),
            absl::string_view::npos);
}

TEST_F(RestClientE2eTest, LeaseOptimisticConcurrencyAndPreconditions) {
  nlohmann::json lease = {
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata", {{"name", "db"}}},
      {"spec", {{"holderIdentity", "pod-a"}, {"leaseDurationSeconds", 15}}}};
  absl::StatusOr<nlohmann::json> created = client_->Create(kLeases, ns_, lease);
  ASSERT_TRUE(created.ok()) << created.status();

  // Two writers start from the same version; the second loses.
  nlohmann::json first = *created;
  first["spec"]["holderIdentity"] = "pod-b";
  absl::StatusOr<nlohmann::json> won = client_->Update(kLeases, ns_, first);
  ASSERT_TRUE(won.ok()) << won.status();
  nlohmann::json stale = *created;
  stale["spec"]["holderIdentity"] = "pod-c";
  absl::StatusOr<nlohmann::json> lost = client_->Update(kLeases, ns_, stale);
  EXPECT_TRUE(IsConflict(lost.status())) << lost.status();
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ReasonOf(lost.status()), "Conflict");

  // Delete with a wrong uid precondition: Conflict, the lease stays.
  DeleteOptions wrong_uid;
  wrong_uid.uid = "00000000-0000-0000-0000-000000000000";
  absl::Status refused = client_->Delete(kLeases, ns_, "db", wrong_uid);
  EXPECT_TRUE(IsConflict(refused)) << refused;
  EXPECT_TRUE(client_->Get(kLeases, ns_, "db").ok());
  // A stale resourceVersion precondition: Conflict too.
  DeleteOptions stale_rv;
  stale_rv.resource_version = Rv(*created);
  EXPECT_TRUE(IsConflict(client_->Delete(kLeases, ns_, "db", stale_rv)));

  // The right uid and version: deleted.
  DeleteOptions right;
  right.uid = (*won)["metadata"]["uid"].get<std::string>();
  right.resource_version = Rv(*won);
  right.propagation = PropagationPolicy::kBackground;
  right.grace_period_seconds = 0;
  absl::Status deleted = client_->Delete(kLeases, ns_, "db", right);
  EXPECT_TRUE(deleted.ok()) << deleted;
  EXPECT_TRUE(IsNotFound(client_->Get(kLeases, ns_, "db").status()));
}

TEST_F(RestClientE2eTest, PaginationOverSeveralPages) {
  for (int i = 0; i < 25; ++i) {
    absl::StatusOr<nlohmann::json> created = client_->Create(
        kConfigMaps, ns_,
        ConfigMap(absl::StrCat("page-", i), {}, {{"paged", "yes"}}));
    ASSERT_TRUE(created.ok()) << created.status();
  }
  ListOptions options;
  options.label_selector = "paged=yes";
  options.limit = 10;
  absl::StatusOr<nlohmann::json> page =
      client_->List(kConfigMaps, ns_, options);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ((*page)["items"].size(), 10u);
  ASSERT_TRUE((*page)["metadata"].contains("continue"));
  // (No remainingItemCount: the server omits it with a label selector.)

  std::atomic<int> lists{0};
  RestClientOptions counting;
  counting.observer = [&lists](const RequestRecord& r) {
    if (r.verb == "list") lists.fetch_add(1);
  };
  std::unique_ptr<RestClient> client = NewClient(counting);
  absl::StatusOr<nlohmann::json> all =
      ListAll(*client, kConfigMaps, ns_, options);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ((*all)["items"].size(), 25u);
  EXPECT_EQ(lists.load(), 3);  // 10 + 10 + 5.
  std::vector<std::string> names;
  for (const nlohmann::json& item : (*all)["items"]) {
    names.push_back(item["metadata"]["name"].get<std::string>());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

TEST_F(RestClientE2eTest, ServerSideApplyConflictsAndForce) {
  ApplyOptions alice;
  alice.field_manager = "alice";
  ASSERT_TRUE(client_
                  ->Apply(kConfigMaps, ns_, "shared",
                          ConfigMap("shared", {{"owner", "alice"}}), alice)
                  .ok());
  ApplyOptions bob;
  bob.field_manager = "bob";
  absl::StatusOr<nlohmann::json> conflict = client_->Apply(
      kConfigMaps, ns_, "shared", ConfigMap("shared", {{"owner", "bob"}}), bob);
  EXPECT_TRUE(IsConflict(conflict.status())) << conflict.status();
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(conflict.status().message().find("alice"), absl::string_view::npos)
      << conflict.status();

  bob.force = true;
  absl::StatusOr<nlohmann::json> forced = client_->Apply(
      kConfigMaps, ns_, "shared", ConfigMap("shared", {{"owner", "bob"}}), bob);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ((*forced)["data"]["owner"], "bob");
  bool bob_owns = false;
  for (const nlohmann::json& entry : (*forced)["metadata"]["managedFields"]) {
    if (entry["manager"] == "bob" &&
        entry["fieldsV1"].dump().find("f:owner") != std::string::npos) {
      bob_owns = true;
    }
  }
  EXPECT_TRUE(bob_owns) << (*forced)["metadata"]["managedFields"].dump();
}

// Collects a watch's events on its own thread.
class WatchCollector {
 public:
  WatchCollector(
      RestClient* client, const Resource& r, const std::string& ns,
      const WatchOptions& options,
      std::function<bool(const WatchEvent&)> stop_after =
          [](const WatchEvent&) { return false; })
      : stop_after_(std::move(stop_after)) {
    thread_ = std::thread([this, client, r, ns, options] {
      absl::Status status =
          client->Watch(r, ns, options, [this](const WatchEvent& e) {
            absl::MutexLock lock(&mu_);
            events_.push_back(e);
            return !stop_after_(e);
          });
      absl::MutexLock lock(&mu_);
      status_ = status;
      done_ = true;
    });
  }
  ~WatchCollector() { Join(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  std::vector<WatchEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  bool done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  absl::Status status() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  std::function<bool(const WatchEvent&)> stop_after_;
  mutable absl::Mutex mu_;
  std::vector<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

TEST_F(RestClientE2eTest, WatchSeesAddedModifiedDeletedInOrder) {
  absl::StatusOr<nlohmann::json> list =
      client_->List(kConfigMaps, ns_, ListOptions());
  ASSERT_TRUE(list.ok()) << list.status();
  WatchOptions options;
  options.resource_version = Rv(*list);
  options.label_selector = "test=e2e";
  WatchCollector watch(
      client_.get(), kConfigMaps, ns_, options,
      [](const WatchEvent& e) { return e.type == WatchEvent::Type::kDeleted; });

  absl::StatusOr<nlohmann::json> created =
      client_->Create(kConfigMaps, ns_, ConfigMap("w", {{"v", "1"}}));
  ASSERT_TRUE(created.ok()) << created.status();
  // Other requests proceed while the watch holds its connection.
  absl::StatusOr<nlohmann::json> patched = client_->Patch(
      kConfigMaps, ns_, "w", PatchType::kMerge, {{"data", {{"v", "2"}}}}, "");
  ASSERT_TRUE(patched.ok()) << patched.status();
  ASSERT_TRUE(client_->Delete(kConfigMaps, ns_, "w", {}).ok());

  ASSERT_TRUE(WaitFor([&] { return watch.done(); })) << "no DELETED event";
  watch.Join();
  EXPECT_TRUE(watch.status().ok()) << watch.status();  // Handler stopped it.
  std::vector<WatchEvent> events = watch.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(events[1].type, WatchEvent::Type::kModified);
  EXPECT_EQ(events[1].object["data"]["v"], "2");
  EXPECT_EQ(events[2].type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(Rv(events[0].object), Rv(*created));
  EXPECT_EQ(Rv(events[1].object), Rv(*patched));
}

TEST_F(RestClientE2eTest, WatchListEndsInitialEventsWithABookmark) {
  ASSERT_TRUE(client_->Create(kConfigMaps, ns_, ConfigMap("one")).ok());
  ASSERT_TRUE(client_->Create(kConfigMaps, ns_, ConfigMap("two")).ok());
  WatchOptions options;
  options.label_selector = "test=e2e";
  options.send_initial_events = true;
  WatchCollector watch(client_.get(), kConfigMaps, ns_, options,
                       [](const WatchEvent& e) {
                         return e.type == WatchEvent::Type::kBookmark;
                       });
  ASSERT_TRUE(WaitFor([&] { return watch.done(); })) << "no BOOKMARK";
  watch.Join();
  ASSERT_TRUE(watch.status().ok()) << watch.status();
  std::vector<WatchEvent> events = watch.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(events[1].type, WatchEvent::Type::kAdded);
  const WatchEvent& bookmark = events[2];
  EXPECT_EQ(bookmark.type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(
      bookmark.object["metadata"]["annotations"]["k8s.io/initial-events-end"],
      "true");
  EXPECT_FALSE(Rv(bookmark.object).empty());
}

// A 410 from a watch, made reliable: the watch cache of a resource starts at
// the etcd revision current when the resource is first served, so for a
// freshly created CRD any older resourceVersion ("1") is outside its window
// and the API server answers an ERROR event with code 410 ("too old resource
// version"). Built-in resources are not reliable for this: on a young
// cluster their cache still reaches back to revision 1.
TEST_F(RestClientE2eTest, WatchFromTooOldVersionIsGone) {
  const std::string group = absl::StrCat(ns_, ".e2e.zen-lead.io");
  const std::string crd_name = "probes." + group;
  nlohmann::json crd = {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata", {{"name", crd_name}}},
      {"spec",
       {{"group", group},
        {"scope", "Namespaced"},
        {"names",
         {{"plural", "probes"}, {"singular", "probe"}, {"kind", "Probe"}}},
        {"versions",
         nlohmann::json::array(
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"},
                   {"x-kubernetes-preserve-unknown-fields", true}}}}}}})}}}};
  ASSERT_TRUE(client_->Create(kCrds, "", crd).ok());
  const Resource probes{group, "v1", "probes", true};
  // Served once the CRD is established; until then the list is NotFound.
  ASSERT_TRUE(
      WaitFor([&] { return client_->List(probes, ns_, ListOptions()).ok(); }));

  WatchOptions options;
  options.resource_version = "1";
  int events = 0;
  absl::Status status =
      client_->Watch(probes, ns_, options, [&](const WatchEvent&) {
        ++events;
        return true;
      });
  EXPECT_TRUE(IsGone(status)) << status;
  EXPECT_EQ(HttpCodeOf(status), 410);
  EXPECT_NE(status.message().find("too old resource version"),
            absl::string_view::npos)
      << status;
  EXPECT_EQ(events, 0);
  EXPECT_TRUE(client_->Delete(kCrds, "", crd_name, {}).ok());
}

TEST_F(RestClientE2eTest, StopEndsAQuietWatchWithinASecond) {
  std::unique_ptr<RestClient> client = NewClient();
  absl::Notification first_event;
  absl::Status status;
  std::thread watcher([&] {
    WatchOptions options;  // From "": a synthetic ADDED for kube-root-ca.crt.
    status = client->Watch(kConfigMaps, ns_, options, [&](const WatchEvent&) {
      if (!first_event.HasBeenNotified()) first_event.Notify();
      return true;
    });
  });
  // The namespace controller publishes kube-root-ca.crt into every new
  // namespace; once its ADDED arrives the watch is live and then quiet.
  ASSERT_TRUE(first_event.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::Time stop = absl::Now();
  client->Stop();
  watcher.join();
  absl::Duration took = absl::Now() - stop;
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  // The brief's bound for shutdown; Stop() wakes the poll, so it is ~ms.
  EXPECT_LT(took, absl::Seconds(1));
  std::cout << "Stop() ended the watch in " << took << "\n";
}

// Many informers share one client: cancelling one watch ends it within the
// same bound as Stop(), and the watch next to it stays open and still gets
// events.
TEST_F(RestClientE2eTest, CancelEndsOneOfTwoQuietWatchesOnOneClient) {
  std::unique_ptr<RestClient> client = NewClient();
  auto is_added = [](const std::string& name) {
    return [name](const WatchEvent& e) {
      return e.type == WatchEvent::Type::kAdded &&
             e.object["metadata"]["name"] == name;
    };
  };
  // From "": each starts with a synthetic ADDED for kube-root-ca.crt, which
  // the namespace controller publishes into every new namespace; once it
  // arrived the watch is live, and then quiet.
  WatchOptions cancelled_options;
  cancelled_options.cancel = std::make_shared<Cancellation>();
  WatchOptions open_options;
  open_options.cancel = std::make_shared<Cancellation>();
  WatchCollector cancelled(client.get(), kConfigMaps, ns_, cancelled_options);
  WatchCollector open(client.get(), kConfigMaps, ns_, open_options,
                      is_added("after-cancel"));
  ASSERT_TRUE(WaitFor([&] {
    return !cancelled.events().empty() && !open.events().empty();
  })) << "no kube-root-ca.crt ADDED";

  const absl::Time start = absl::Now();
  cancelled_options.cancel->Cancel();
  cancelled.Join();
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled)
      << cancelled.status();
  EXPECT_LT(took, absl::Seconds(1));
  std::cout << "Cancel() ended one watch in " << took << "\n";

  EXPECT_FALSE(open.done()) << open.status();
  EXPECT_FALSE(client->stopped());
  ASSERT_TRUE(client->Create(kConfigMaps, ns_, ConfigMap("after-cancel")).ok());
  ASSERT_TRUE(WaitFor([&] { return open.done(); }))
      << "the other watch saw no event after the cancel";
  open.Join();
  EXPECT_TRUE(open.status().ok()) << open.status();  // Its handler ended it.
  EXPECT_TRUE(is_added("after-cancel")(open.events().back()));
}

TEST_F(RestClientE2eTest, AWatchCancelledBeforeItStartsReturnsAtOnce) {
  std::atomic<int> attempts{0};
  RestClientOptions client_options;
  client_options.observer = [&](const RequestRecord&) { ++attempts; };
  std::unique_ptr<RestClient> client = NewClient(client_options);
  WatchOptions options;
  options.cancel = std::make_shared<Cancellation>();
  options.cancel->Cancel();
  int events = 0;
  const absl::Time start = absl::Now();
  absl::Status status =
      client->Watch(kConfigMaps, ns_, options, [&](const WatchEvent&) {
        ++events;
        return true;
      });
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(events, 0);
  EXPECT_EQ(attempts.load(), 0);  // No request was sent.
  EXPECT_LT(took, absl::Seconds(1));
  std::cout << "a cancelled watch returned in " << took << "\n";
  EXPECT_TRUE(client->Get(kNamespaces, "", ns_).ok());
}

TEST_F(RestClientE2eTest, SequentialRequestsReuseTheConnection) {
  std::vector<std::string> protocols;
  absl::Mutex mu;
  RestClientOptions options;
  options.observer = [&](const RequestRecord& r) {
    absl::MutexLock lock(&mu);
    protocols.push_back(r.protocol);
  };
  std::unique_ptr<RestClient> client = NewClient(options);
  ASSERT_TRUE(client->Create(kConfigMaps, ns_, ConfigMap("reuse")).ok());
  const int64_t before = client->connections_opened();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(client->Get(kConfigMaps, ns_, "reuse").ok());
  }
  const int64_t opened = client->connections_opened() - before;
  EXPECT_LE(opened, 1) << "50 GETs opened " << opened << " connections";
  EXPECT_GE(client->connections_opened(), 1);
  absl::MutexLock lock(&mu);
  std::cout << "51 requests, " << client->connections_opened()
            << " connection(s), protocol " << protocols.back() << "\n";
  EXPECT_EQ(protocols.back(), "HTTP/2");
}

TEST_F(RestClientE2eTest, Http11KeepAliveAlsoReuses) {
  RestClientOptions options;
  options.http_version = HttpVersion::kHttp11;
  std::unique_ptr<RestClient> client = NewClient(options);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(client->Get(kNamespaces, "", ns_).ok());
  }
  EXPECT_LE(client->connections_opened(), 2);
}

TEST_F(RestClientE2eTest, WrongCaFailsWithoutRetrying) {
  Config bad = config_;
  bad.ca_pem = config_.client_cert_pem;  // A certificate, but not the CA.
  std::atomic<int> attempts{0};
  RestClientOptions options;
  options.observer = [&](const RequestRecord&) { attempts.fetch_add(1); };
  absl::StatusOr<std::unique_ptr<RestClient>> client =
      RestClient::Create(bad, options);
  ASSERT_TRUE(client.ok());
  absl::StatusOr<nlohmann::json> got = (*client)->GetPath("/version");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition)
      << got.status();
  EXPECT_EQ(attempts.load(), 1);
}

TEST_F(RestClientE2eTest, GetPathAndConcurrentCallers) {
  absl::StatusOr<nlohmann::json> version = client_->GetPath("/version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_TRUE(version->contains("gitVersion"));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string name = absl::StrCat("t", t, "-", i);
        if (client_->Create(kConfigMaps, ns_, ConfigMap(name)).ok() &&
            client_->Get(kConfigMaps, ns_, name).ok()) {
          ok.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

}  // namespace
}  // namespace zenlead::client
