// The usage examples at the top of api/runtime's headers, compiled and run
// (STYLE.md: examples must compile, or they rot). Each test's body is its
// header's example as written there; what the example leaves to the reader
// (a client, the object to write, a placeholder helper) is defined here, and
// the test checks what the example's comments promise. When a test here stops
// compiling, the header's example no longer matches the API: fix both.
//
// Examples that take a `client` get a FakeClient (scripted answers); the one
// that creates its own RestClient (leader_election.h) talks to
// ExampleApiServer, a scripted HTTP peer on 127.0.0.1.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/status_macros.h"
#include "api/client/testing/example_api_server.h"
#include "api/client/testing/fake_client.h"
#include "api/runtime/event_recorder.h"
#include "api/runtime/informer.h"
#include "api/runtime/leader_election.h"
#include "api/runtime/leader_guarded_client.h"
#include "api/runtime/logging.h"
#include "api/runtime/meta.h"
#include "api/runtime/metrics.h"
#include "api/runtime/own_writes.h"
#include "api/runtime/runtime_metrics.h"
#include "api/runtime/store.h"
#include "api/runtime/workqueue.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {
namespace {

// The names the examples use unqualified.
using client::ApplyOptions;
using client::Config;
using client::LoadConfig;
using client::PatchType;
using client::RequestObserver;
using client::Resource;
using client::RestClient;
using client::RestClientOptions;
using client::testing::ExampleApiServer;
using client::testing::FakeClient;
using client::testing::ScopedKubeconfig;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);  // real-time safety net

nlohmann::json Pod(const std::string& name, const std::string& pool,
                   const std::string& owner_uid) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"namespace", "ns"},
        {"name", name},
        {"uid", "uid-" + name},
        {"resourceVersion", "42"},
        {"labels", {{"zen-lead/pool", pool}}},
        {"ownerReferences", {{{"kind", "ReplicaSet"}, {"uid", owner_uid}}}}}},
      {"spec", {{"nodeName", "node-1"}}}};
}

// ----------------------------------------------------- event_recorder.h

TEST(HeaderExamplesTest, EventRecorderH) {
  auto client = std::make_unique<FakeClient>();
  absl::Mutex mu;
  std::vector<nlohmann::json> created;
  client->create = [&](const Resource& r, absl::string_view,
                       const nlohmann::json& obj) {
    absl::MutexLock lock(&mu);
    created.push_back(obj);
    EXPECT_EQ(r.ApiVersion(), "events.k8s.io/v1");
    return FakeClient::JsonResult(obj);
  };
  const std::string pod_name = "zen-lead-operator-7d9f";
  const std::string uid = "9a1c";

  EventRecorderOptions options;
  options.reporting_instance = pod_name;
  EventRecorder events(client.get(), std::move(options));
  ObjectReference ref{"coordination.kube-zen.io/v1alpha1", "LeaderPolicy", "ns",
                      "db", uid};
  absl::Status queued =
      events.Record(ref, EventType::kNormal, "LeaderElected", "Elect",
                    "Pod db-0 is the leader of pool db");
  // !queued.ok(): a bad reason or action (a bug here), or the queue is full

  EXPECT_TRUE(queued.ok()) << queued;

  ASSERT_TRUE(events.Flush(absl::Now() + kWait));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(created.size(), 1u);
  const nlohmann::json& event = created[0];
  EXPECT_EQ(event["reason"], "LeaderElected");
  EXPECT_EQ(event["action"], "Elect");
  EXPECT_EQ(event["type"], "Normal");
  EXPECT_EQ(event["note"], "Pod db-0 is the leader of pool db");
  EXPECT_EQ(event["reportingInstance"], pod_name);
  EXPECT_EQ(event["regarding"]["kind"], "LeaderPolicy");
  EXPECT_EQ(event["regarding"]["uid"], uid);
  EXPECT_EQ(events.stats().created, 1);
}

// ----------------------------------------------------------- informer.h

// The example's projection: what a controller reads of a pod.
nlohmann::json PodProjection(const nlohmann::json& pod) {
  return {{"metadata", {{"labels", pod["metadata"]["labels"]}}}};
}

TEST(HeaderExamplesTest, InformerH) {
  auto client = std::make_unique<FakeClient>();
  client->list = [](const Resource&, absl::string_view,
                    const client::ListOptions& list) {
    EXPECT_EQ(list.label_selector, "zen-lead/pool");
    return FakeClient::JsonResult(nlohmann::json{
        {"metadata", {{"resourceVersion", "100"}}},
        {"items", {Pod("db-0", "db", "rs-1"), Pod("web-0", "web", "rs-2")}}});
  };  // and the watch that follows stays quiet until Stop()
  WorkQueueOptions queue_options;
  queue_options.name = "example";
  WorkQueue queue(std::move(queue_options));
  bool synced = true;

  InformerOptions options;
  options.resource = {"", "v1", "pods", true};
  options.label_selector = "zen-lead/pool";
  options.projection = PodProjection;               // keep only what we read
  Informer pods(client.get(), std::move(options));  // a shared client
  // informer.h calls AddIndexer, AddEventHandler and Start without using
  // their results, which does not compile: absl::Status is [[nodiscard]].
  absl::Status indexed = pods.AddIndexer("pool", IndexByLabel("zen-lead/pool"));
  EventHandler handler;
  handler.on_add = [&](const ObjectPtr& pod) { queue.Add(ObjectKey(*pod)); };
  absl::Status handled = pods.AddEventHandler(handler);
  absl::Status started = pods.Start();
  if (!pods.WaitForSync(absl::Now() + absl::Seconds(30))) {
    synced = false;  // the example's "{ ... }"
  }
  ObjectPtr pod = pods.store().Get("ns", "db-0");
  absl::Status alive = pods.Healthy(absl::Seconds(30));  // for /healthz
  pods.Stop();

  EXPECT_TRUE(indexed.ok()) << indexed;
  EXPECT_TRUE(handled.ok()) << handled;
  EXPECT_TRUE(started.ok()) << started;
  EXPECT_TRUE(synced);
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ((*pod)["metadata"]["name"], "db-0");  // kept by the informer
  EXPECT_FALSE(pod->contains("spec"));            // dropped by the projection
  absl::StatusOr<std::vector<ObjectPtr>> db =
      pods.store().ByIndex("pool", "db");
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(db->size(), 1u);
  EXPECT_TRUE(alive.ok()) << alive;
  EXPECT_EQ(queue.Len(), 2);  // both pods were added
}

// ---------------------------------------------------- leader_election.h

// The example's controllers: told when to write.
struct Controllers {
  absl::Notification started;
  absl::Notification stopped;
  void StartWriting() { started.Notify(); }
  void StopWriting() { stopped.Notify(); }
};

// The one Lease the example's elector reads and writes, served over HTTP:
// absent at first, then whatever was last created or updated, with a
// resourceVersion bumped on every write. Scripted, not the API server's
// semantics (leader_election_e2e_test has those).
class ScriptedLease {
 public:
  static constexpr char kCollection[] =
      "/apis/coordination.k8s.io/v1/namespaces/zen-lead-system/leases";
  static constexpr char kObject[] =
      "/apis/coordination.k8s.io/v1/namespaces/zen-lead-system/leases/"
      "zen-lead-operator";

  explicit ScriptedLease(ExampleApiServer& server) {
    server.http().Get(kObject, [this](const httplib::Request&,
                                      httplib::Response& res) {
      absl::MutexLock lock(&mu_);
      if (lease_.is_null()) {
        Reply(res, 404, R"({"kind":"Status","reason":"NotFound","code":404})");
      } else {
        Reply(res, 200, lease_.dump());
      }
    });
    server.http().Post(
        kCollection, [this](const httplib::Request& req,
                            httplib::Response& res) { Store(req, res, 201); });
    server.http().Put(
        kObject, [this](const httplib::Request& req, httplib::Response& res) {
          Store(req, res, 200);
        });
  }

  nlohmann::json spec() {
    absl::MutexLock lock(&mu_);
    return lease_.is_null() ? nlohmann::json() : lease_["spec"];
  }

 private:
  static void Reply(httplib::Response& res, int code, const std::string& body) {
    res.status = code;
    res.set_content(body, "application/json");
  }
  void Store(const httplib::Request& req, httplib::Response& res, int code) {
    absl::MutexLock lock(&mu_);
    lease_ = nlohmann::json::parse(req.body);
    lease_["metadata"]["resourceVersion"] = std::to_string(++version_);
    Reply(res, code, lease_.dump());
  }

  absl::Mutex mu_;
  nlohmann::json lease_ ABSL_GUARDED_BY(mu_);
  int version_ ABSL_GUARDED_BY(mu_) = 0;
};

// leader_election.h's example, in a function because ASSIGN_OR_RETURN
// returns.
absl::Status LeaderElectionHeaderExample(const std::string& pod_name,
                                         Controllers& controllers,
                                         int* writes) {
  auto WriteSomething = [&] { ++*writes; };

  LeaderElectionConfig config;
  config.lease_namespace = "zen-lead-system";
  config.lease_name = "zen-lead-operator";
  config.identity = pod_name;
  config.callbacks.on_started_leading = [&] { controllers.StartWriting(); };
  config.callbacks.on_stopped_leading = [&] { controllers.StopWriting(); };
  Config client_config = *LoadConfig();
  RestClientOptions client_options;
  ConfigureLeaderElectionClient(config.renew_deadline, &client_config,
                                &client_options);
  ASSIGN_OR_RETURN(std::unique_ptr<RestClient> client,
                   RestClient::Create(client_config, client_options));
  ASSIGN_OR_RETURN(std::unique_ptr<LeaderElector> elector,
                   LeaderElector::Create(client.get(), std::move(config)));
  elector->Start();
  // The example's "...": the replica works until it is told to write.
  if (!controllers.started.WaitForNotificationWithTimeout(kWait)) {
    return absl::DeadlineExceededError("never started leading");
  }
  if (elector->IsLeader()) WriteSomething();
  elector->Stop();  // releases the Lease if leading

  EXPECT_EQ(client_options.retry.max_retries, 0);  // never retried
  EXPECT_LE(client_config.request_timeout, absl::Milliseconds(2500));
  return absl::OkStatus();
}

TEST(HeaderExamplesTest, LeaderElectionH) {
  ExampleApiServer server;
  ScriptedLease lease(server);
  server.Start();
  ScopedKubeconfig kubeconfig(server.Kubeconfig());
  Controllers controllers;
  int writes = 0;

  absl::Status s = LeaderElectionHeaderExample("zen-lead-operator-7d9f",
                                               controllers, &writes);
  server.Stop();

  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(writes, 1);
  EXPECT_TRUE(controllers.stopped.HasBeenNotified());
  // Released on Stop(): no holder, so a standby takes over at once.
  nlohmann::json spec = lease.spec();
  EXPECT_EQ(spec.value("holderIdentity", ""), "") << spec;
  EXPECT_EQ(spec.value("leaseTransitions", -1), 0) << spec;
}

// ---------------------------------------------- leader_guarded_client.h

// Stands in for the example's LeaderElector.
struct SwitchableElector {
  bool leading = false;
  bool IsLeader() const { return leading; }
};

// leader_guarded_client.h's example, in a function because it returns.
// Returns whether the apply went out.
bool GuardedApply(client::Client* inner, const SwitchableElector* elector) {
  auto client = inner;  // the example's client.get()
  const Resource kServices{"", "v1", "services", true};
  const nlohmann::json service = {{"apiVersion", "v1"},
                                  {"kind", "Service"},
                                  {"metadata", {{"name", "db-leader"}}}};
  const ApplyOptions apply{.field_manager = "zen-lead-operator", .force = true};

  LeaderGuardedClient writer(client, [&] { return elector->IsLeader(); });
  absl::StatusOr<nlohmann::json> applied =
      writer.Apply(kServices, "ns", "db-leader", service, apply);
  if (IsNotLeader(applied.status())) return false;  // the new leader takes over
  EXPECT_TRUE(applied.ok()) << applied.status();
  return true;
}

TEST(HeaderExamplesTest, LeaderGuardedClientH) {
  auto client = std::make_unique<FakeClient>();
  int applies = 0;
  client->apply = [&](const Resource&, absl::string_view, absl::string_view,
                      const nlohmann::json& obj, const ApplyOptions&,
                      absl::string_view) {
    ++applies;
    return FakeClient::JsonResult(obj);
  };
  auto elector = std::make_unique<SwitchableElector>();

  EXPECT_FALSE(GuardedApply(client.get(), elector.get()));  // a standby
  EXPECT_EQ(applies, 0);
  elector->leading = true;
  EXPECT_TRUE(GuardedApply(client.get(), elector.get()));
  EXPECT_EQ(applies, 1);
}

// ------------------------------------------------------------ own_writes.h

// Returns how many reconciles the informer's update of `updated` queued.
int OwnWritesExample(FakeClient* client, const nlohmann::json& updated) {
  const Resource kSlices{"discovery.k8s.io", "v1", "endpointslices"};
  const nlohmann::json patch = {{"endpoints", nlohmann::json::array()}};
  std::vector<std::string> queue_keys;
  struct {
    std::vector<std::string>* keys;
    void Add(const std::string& k) { keys->push_back(k); }
  } queue{&queue_keys};

  OwnWrites own;
  RecordingClient writer(client, &own);
  absl::StatusOr<nlohmann::json> written =
      writer.Patch(kSlices, "ns", "db-leader", PatchType::kMerge, patch, "");
  // in the informer's on_update, with the event's new object:
  own.OnEvent(kSlices, updated, [&] { queue.Add("ns/db"); });

  EXPECT_TRUE(written.ok());
  return static_cast<int>(queue_keys.size());
}

TEST(HeaderExamplesTest, OwnWritesH) {
  FakeClient client;
  auto slice = [](const std::string& version) {
    return nlohmann::json{{"metadata",
                           {{"namespace", "ns"},
                            {"name", "db-leader"},
                            {"resourceVersion", version}}}};
  };
  client.patch = [&](const Resource&, absl::string_view, absl::string_view,
                     PatchType, const nlohmann::json&, absl::string_view) {
    return FakeClient::JsonResult(slice("7"));
  };
  EXPECT_EQ(OwnWritesExample(&client, slice("7")), 0);  // the echo
  EXPECT_EQ(OwnWritesExample(&client, slice("8")), 1);  // someone else's
}

// ------------------------------------------------------------ logging.h

TEST(HeaderExamplesTest, LoggingH) {
  // The line shown at the top of logging.h.
  const absl::Time ts = absl::FromCivil(absl::CivilSecond(2025, 3, 1, 12, 0, 0),
                                        absl::UTCTimeZone());
  EXPECT_EQ(
      FormatLogLine(ts + absl::Milliseconds(123), LogLevel::kInfo,
                    "leader elected", {}, {{"pool", "db"}, {"pod", "db-0"}}),
      R"({"ts":"2025-03-01T12:00:00.123Z","level":"info",)"
      R"("msg":"leader elected","pool":"db","pod":"db-0"})");

  const std::string pool = "db";
  const std::string pod = "db-0";
  const absl::Status status = absl::AbortedError("conflict");
  ::testing::internal::CaptureStderr();

  Logger log = DefaultLogger().With({{"controller", "trafficdirector"}});
  log.Info("leader elected", {{"pool", pool}, {"pod", pod}, {"attempt", 2}});
  log.Error("update failed", {{"error", status.ToString()}});
  DefaultLogger().SetLevel(LogLevel::kDebug);  // affects every handle

  const std::string lines = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(log.Enabled(LogLevel::kDebug));
  DefaultLogger().SetLevel(LogLevel::kInfo);
  EXPECT_THAT(lines, HasSubstr(R"("level":"info","msg":"leader elected",)"
                               R"("controller":"trafficdirector",)"
                               R"("pool":"db","pod":"db-0","attempt":2})"));
  EXPECT_THAT(lines, HasSubstr(R"("level":"error","msg":"update failed",)"
                               R"("controller":"trafficdirector",)"
                               R"("error":"ABORTED: conflict"})"));
}

// --------------------------------------------------------------- meta.h

TEST(HeaderExamplesTest, MetaH) {
  const nlohmann::json pod = Pod("db-0", "db", "rs-1");
  client::FakeClock fake(
      absl::FromCivil(absl::CivilSecond(2025, 3, 1, 12, 0, 0),
                      absl::UTCTimeZone()) +
      absl::Microseconds(123456));
  client::Clock* clock = &fake;
  nlohmann::json lease;

  std::string key = ObjectKey(pod);  // "ns/name"
  std::string rv = MetadataString(pod, "resourceVersion");
  lease["spec"]["renewTime"] = FormatMicroTime(clock->Now());

  EXPECT_EQ(key, "ns/db-0");
  EXPECT_EQ(rv, "42");
  EXPECT_EQ(lease["spec"]["renewTime"], "2025-03-01T12:00:00.123456Z");
}

// ------------------------------------------------------------ metrics.h

TEST(HeaderExamplesTest, MetricsH) {
  Registry registry;
  absl::StatusOr<CounterFamily*> changes = registry.AddCounter(
      "zen_lead_leader_changes_total", "Leader changes per pool.", {"pool"});
  (*changes)->WithLabels({"db"})->Inc();
  absl::StatusOr<HistogramFamily*> latency = registry.AddHistogram(
      "zen_lead_reconcile_duration_seconds", "Duration of one reconcile.",
      {"result"}, LatencyBuckets());
  (*latency)->WithLabels({"ok"})->Observe(0.042);
  std::string body = registry.Render();  // serve with kPrometheusContentType

  EXPECT_THAT(body,
              HasSubstr("# TYPE zen_lead_leader_changes_total counter\n"
                        "zen_lead_leader_changes_total{pool=\"db\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("# TYPE zen_lead_reconcile_duration_seconds "
                              "histogram\n"));
  EXPECT_THAT(body, HasSubstr("zen_lead_reconcile_duration_seconds_bucket{"
                              "result=\"ok\",le=\"0.05\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("zen_lead_reconcile_duration_seconds_count{"
                              "result=\"ok\"} 1\n"));
}

// ---------------------------------------------------- runtime_metrics.h

// runtime_metrics.h's example, in a function because ASSIGN_OR_RETURN
// returns. Hands out what it made for the test to drive.
absl::Status RuntimeMetricsHeaderExample(
    Registry& registry, RestClientOptions* client_options,
    std::unique_ptr<WorkQueueMetricFamilies>* families,
    std::unique_ptr<WorkQueueMetrics>* metrics,
    WorkQueueOptions* work_queue_options) {
  ASSIGN_OR_RETURN(RequestObserver observer, NewRequestMetrics(&registry));
  RestClientOptions options;
  options.observer = observer;
  ASSIGN_OR_RETURN(std::unique_ptr<WorkQueueMetricFamilies> queues,
                   WorkQueueMetricFamilies::Create(&registry));
  std::unique_ptr<WorkQueueMetrics> m = queues->ForQueue("trafficdirector");
  WorkQueueOptions queue_options;
  queue_options.metrics = m.get();

  *client_options = std::move(options);
  *families = std::move(queues);
  *metrics = std::move(m);
  *work_queue_options = std::move(queue_options);
  return absl::OkStatus();
}

TEST(HeaderExamplesTest, RuntimeMetricsH) {
  Registry registry;
  RestClientOptions options;
  std::unique_ptr<WorkQueueMetricFamilies> queues;
  std::unique_ptr<WorkQueueMetrics> m;
  WorkQueueOptions queue_options;
  ASSERT_TRUE(RuntimeMetricsHeaderExample(registry, &options, &queues, &m,
                                          &queue_options)
                  .ok());

  client::RequestRecord get;
  get.verb = "get";
  get.method = "GET";
  get.resource = "configmaps";
  get.http_code = 200;
  get.latency = absl::Milliseconds(3);
  options.observer(get);  // what a RestClient reports
  WorkQueue queue(std::move(queue_options));
  queue.Add("ns/db");

  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("zen_lead_api_requests_total{verb=\"get\","
                              "resource=\"configmaps\",code=\"200\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("zen_lead_workqueue_depth{name=\"trafficdirector\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("zen_lead_workqueue_adds_total{name=\"trafficdirector\"} 1\n"));
}

// -------------------------------------------------------------- store.h

TEST(HeaderExamplesTest, StoreH) {
  const nlohmann::json pod = Pod("a", "db", "rs-1");
  const std::string replicaset_uid = "rs-1";

  Store store;
  absl::Status s = store.AddIndexer("owner", IndexByOwnerUid());  // first
  store.Put("ns/a", std::make_shared<const nlohmann::json>(pod));
  ObjectPtr a = store.Get("ns/a");  // nullptr if absent
  absl::StatusOr<std::vector<ObjectPtr>> owned =
      store.ByIndex("owner", replicaset_uid);

  ASSERT_TRUE(s.ok()) << s;
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a, pod);
  EXPECT_EQ(store.Get("ns/b"), nullptr);
  ASSERT_TRUE(owned.ok()) << owned.status();
  ASSERT_EQ(owned->size(), 1u);
  EXPECT_EQ((*owned)[0], a);
}

// ---------------------------------------------------------- workqueue.h

TEST(HeaderExamplesTest, WorkqueueH) {
  std::vector<std::string> reconciled;
  WorkQueue* work = nullptr;
  // The example's reconciler: "ns/db" fails once, then succeeds, and then
  // the work is done: it shuts the queue down, which ends the loop.
  auto Reconcile = [&](const std::string& key) {
    reconciled.push_back(key);
    if (reconciled.size() == 1) return absl::UnavailableError("try again");
    work->ShutDown();
    return absl::OkStatus();
  };

  WorkQueueOptions options;
  options.name = "trafficdirector";
  WorkQueue queue(std::move(options));
  work = &queue;
  queue.Add("ns/db");
  while (std::optional<std::string> key = queue.Get()) {
    absl::Status s = Reconcile(*key);
    if (s.ok()) {
      queue.Forget(*key);
    } else {
      queue.AddRateLimited(*key);
    }
    queue.Done(*key);
  }  // ends after queue.ShutDown()

  EXPECT_EQ(reconciled, (std::vector<std::string>{"ns/db", "ns/db"}));
  EXPECT_EQ(queue.NumRequeues("ns/db"), 0);  // forgotten after success
  EXPECT_TRUE(queue.ShuttingDown());
}

}  // namespace
}  // namespace zenlead::runtime
