// The TrafficDirector e2e fixture (e2e/cluster/up): each test runs the
// controller in-process, scoped to a fresh namespace, and drives pods the way
// a kubelet would (kwok makes them Ready; tests patch the Ready condition to
// take readiness away). Shared by the behaviour and the fault suites.
//
//   class MyTest : public testing::TrafficDirectorE2eTest {};
//   TEST_F(MyTest, Failover) {
//     CreatePolicy("db");
//     std::string first = JoinWhenReady("db", 3)[0];
//     ASSERT_TRUE(WaitFor([&] { return SliceLeader("db-leader") == first; }));
//   }
#ifndef ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_TRAFFIC_DIRECTOR_E2E_FIXTURE_H_
#define ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_TRAFFIC_DIRECTOR_E2E_FIXTURE_H_

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/types/deployment.h"
#include "api/types/endpointslice.h"
#include "api/types/job.h"
#include "api/types/leaderpolicy.h"
#include "api/types/lease.h"
#include "api/types/pod.h"
#include "api/types/service.h"
#include "api/types/statefulset.h"
#include "gtest/gtest.h"
#include "operator/leaderservice/leader_registry.h"
#include "operator/trafficdirector/traffic_director.h"

namespace zenlead::op::testing {

using client::Resource;
using nlohmann::json;

inline const Resource kNamespaces{"", "v1", "namespaces", false};
// API paths from the generated clients.
inline const Resource& kPolicies =
    api::v1alpha1::LeaderPolicyClient::Resource();
inline const Resource& kDeployments = k8s::DeploymentClient::Resource();
inline const Resource& kStatefulSets = k8s::StatefulSetClient::Resource();
inline const Resource& kServices = k8s::ServiceClient::Resource();
inline const Resource& kPods = k8s::PodClient::Resource();
inline const Resource& kSlices = k8s::EndpointSliceClient::Resource();
inline const Resource& kLeases = k8s::LeaseClient::Resource();
inline const Resource& kJobs = k8s::JobClient::Resource();

inline client::Config TestConfig() {
  absl::StatusOr<client::Config> c = client::LoadConfig();
  if (!c.ok()) {
    ADD_FAILURE() << "needs KUBECONFIG of a local control plane: "
                  << c.status();
    return {};
  }
  c->qps = 500;
  c->burst = 1000;
  return *c;
}

inline std::unique_ptr<client::RestClient> NewClient() {
  absl::StatusOr<std::unique_ptr<client::RestClient>> c =
      client::RestClient::Create(TestConfig());
  if (!c.ok()) {
    ADD_FAILURE() << c.status();
    return nullptr;
  }
  return std::move(*c);
}

// Polls cond every 20 ms until it holds or the deadline passes.
inline bool WaitFor(const std::function<bool()>& cond,
                    absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

inline json Deployment(const std::string& name, const std::string& pool,
                       int replicas, const std::string& app) {
  json labels = {{"app", app}};
  if (!pool.empty()) labels["zen-lead/pool"] = pool;
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", app}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", app}}}}},
              {"spec",
               {{"containers",
                 json::array({{{"name", "app"},
                               {"image", "example/app"},
                               {"ports", json::array({{{"name", "http"},
                                                       {"containerPort",
                                                        8080}}})}}})}}}}}}}};
}

class TrafficDirectorE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(client::testing::InstallLeaderPolicyCrd());
  }

  void SetUp() override {
    api_ = NewClient();
    ASSERT_NE(api_, nullptr);
    ns_ = absl::StrCat("td-", absl::ToUnixMicros(absl::Now()) % 100000000);
    ASSERT_TRUE(api_->Create(kNamespaces, "",
                             {{"apiVersion", "v1"},
                              {"kind", "Namespace"},
                              {"metadata", {{"name", ns_}}}})
                    .ok());
    // Pods need the namespace's default ServiceAccount.
    const Resource kSa{"", "v1", "serviceaccounts", true};
    ASSERT_TRUE(WaitFor([&] { return api_->Get(kSa, ns_, "default").ok(); }));
    StartOperator();
  }

  void TearDown() override {
    StopOperator();
    if (api_) {
      (void)api_->Delete(kNamespaces, "", ns_, {});
    }
  }

  void StartOperator() {
    writer_ = NewClient();
    TrafficDirectorDeps deps;
    deps.writer = writer_.get();
    watch_ = NewClient();
    pool::CacheOptions cache_options;
    cache_options.ns = ns_;
    cache_ = std::make_unique<pool::Cache>(
        pool::CacheDeps{watch_.get(), nullptr, nullptr}, cache_options);
    deps.cache = cache_.get();
    deps.registry = &registry_;
    // A registry per controller: a restarted one registers its families
    // again.
    metrics_ = std::make_unique<runtime::Registry>();
    deps.metrics = metrics_.get();
    deps.record_event = [this](const EventInfo& e) {
      absl::MutexLock lock(&events_mu_);
      events_.push_back(e);
    };
    TrafficDirectorOptions options;
    options.ns = ns_;
    if (customize_) customize_(deps, options);
    td_ = std::make_unique<TrafficDirector>(std::move(deps), options);
    ASSERT_TRUE(td_->Start().ok());
    ASSERT_TRUE(cache_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return td_->HasSynced(); }));
    td_->StartWorkers();
  }

  void StopOperator() {
    if (td_) td_->Stop();
    if (cache_) cache_->Stop();
    td_.reset();
    cache_.reset();
    watch_.reset();
    writer_.reset();
  }

  void Create(const Resource& r, const json& obj) {
    absl::StatusOr<json> created = api_->Create(r, ns_, obj);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  // A Deployment whose pods are all Ready before it joins the pool, so the
  // election sees every pod and must pick the oldest. Returns the pods,
  // oldest first.
  std::vector<std::string> JoinWhenReady(const std::string& name,
                                         int replicas) {
    Create(kDeployments, Deployment(name, "", replicas, name));
    EXPECT_TRUE(WaitFor(
        [&] { return static_cast<int>(ReadyPods(name).size()) == replicas; }));
    // Informers are not ordered with each other: make sure the operator's pod
    // cache has every pod Ready (a probe pool over the same pods reports its
    // candidates) before the Deployment joins.
    const std::string probe = "probe-" + name;
    Create(kServices, {{"apiVersion", "v1"},
                       {"kind", "Service"},
                       {"metadata",
                        {{"name", probe},
                         {"annotations", {{"zen-lead.io/enabled", "true"}}}}},
                       {"spec",
                        {{"selector", {{"app", name}}},
                         {"ports", json::array({{{"port", 80}}})}}}});
    const std::string gauge =
        absl::StrCat("zen_lead_candidates{namespace=\"", ns_, "\",pool=\"",
                     probe, "\"} ", replicas, "\n");
    EXPECT_TRUE(WaitFor([&] {
      return metrics_->Render().find(gauge) != std::string::npos;
    })) << gauge;
    EXPECT_TRUE(api_->Delete(kServices, ns_, probe, {}).ok());
    json patch = {{"metadata", {{"labels", {{"zen-lead/pool", name}}}}}};
    EXPECT_TRUE(api_->Patch(kDeployments, ns_, name, client::PatchType::kMerge,
                            patch, "")
                    .ok());
    return ReadyPods(name);
  }

  void CreatePolicy(const std::string& name, json spec = json::object()) {
    Create(kPolicies, {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
                       {"kind", "LeaderPolicy"},
                       {"metadata", {{"name", name}}},
                       {"spec", spec}});
  }

  // Running+Ready pods with an IP, oldest first (ties by name).
  std::vector<std::string> ReadyPods(const std::string& app) {
    client::ListOptions o;
    o.label_selector = "app=" + app;
    absl::StatusOr<json> list = api_->List(kPods, ns_, o);
    std::vector<std::pair<std::string, std::string>> pods;
    if (!list.ok()) return {};
    for (const json& p : (*list)["items"]) {
      if (p["metadata"].contains("deletionTimestamp")) continue;
      pool::Candidate c = pool::CandidateFromPod(
          p, api::v1alpha1::LeaderPolicySpec::kIdentityStrategyPod);
      if (pool::CanLead(c)) {
        pods.push_back({p["metadata"]["creationTimestamp"], c.name});
      }
    }
    std::sort(pods.begin(), pods.end());
    std::vector<std::string> out;
    out.reserve(pods.size());
    for (auto& [t, n] : pods) out.push_back(n);
    return out;
  }

  // The pod behind `<svc>-leader`'s EndpointSlice; "" when it has no
  // endpoint; nullopt when the slice does not exist or is malformed (more
  // than one endpoint fails the test).
  std::optional<std::string> SliceLeader(const std::string& leader_svc) {
    absl::StatusOr<json> slice = api_->Get(kSlices, ns_, leader_svc);
    if (!slice.ok()) return std::nullopt;
    const json& eps = slice->value("endpoints", json::array());
    EXPECT_LE(eps.size(), 1u) << slice->dump();
    if (eps.empty()) return std::string();
    return eps[0]["targetRef"]["name"].get<std::string>();
  }

  void SetReady(const std::string& pod, bool ready) {
    const char* s = ready ? "True" : "False";
    json patch = {
        {"status",
         {{"conditions",
           json::array({{{"type", "Ready"}, {"status", s}},
                        {{"type", "ContainersReady"}, {"status", s}}})}}}};
    absl::StatusOr<json> r = api_->Patch(
        kPods, ns_, pod, client::PatchType::kStrategicMerge, patch, "status");
    ASSERT_TRUE(r.ok()) << r.status();
  }

  json Policy(const std::string& name) {
    absl::StatusOr<json> p = api_->Get(kPolicies, ns_, name);
    return p.ok() ? *p : json::object();
  }

  std::string Phase(const std::string& name) {
    json p = Policy(name);
    return p.contains("status") ? p["status"].value("phase", "") : "";
  }

  int Candidates(const std::string& name) {
    json p = Policy(name);
    return p.contains("status") ? p["status"].value("candidates", -1) : -1;
  }

  std::string Condition(const json& policy, const std::string& type,
                        const std::string& field) {
    const json& conds =
        policy.contains("status")
            ? policy["status"].value("conditions", json::array())
            : json::array();
    for (const json& c : conds) {
      if (c.value("type", "") == type) return c.value(field, "");
    }
    return "";
  }

  // The pool Lease's holderIdentity; "" when the Lease is missing or free.
  std::string LeaseHolder(const std::string& pool) {
    absl::StatusOr<json> lease = api_->Get(kLeases, ns_, pool);
    if (!lease.ok()) return "";
    return (*lease)["spec"].value("holderIdentity", "");
  }

  int64_t Transitions(const std::string& pool) {
    absl::StatusOr<json> lease = api_->Get(kLeases, ns_, pool);
    if (!lease.ok()) return -1;
    return (*lease)["spec"].value("leaseTransitions", int64_t{0});
  }

  bool HasEvent(const std::string& reason) {
    absl::MutexLock lock(&events_mu_);
    for (const EventInfo& e : events_) {
      if (e.reason == reason) return true;
    }
    return false;
  }

  std::unique_ptr<client::RestClient> api_;
  std::unique_ptr<client::RestClient> writer_;
  std::unique_ptr<client::RestClient> watch_;
  std::unique_ptr<pool::Cache> cache_;
  std::string ns_;
  LeaderRegistry registry_;
  std::unique_ptr<runtime::Registry> metrics_;
  std::unique_ptr<TrafficDirector> td_;
  // Applied by StartOperator before the controller is made: a test's own
  // writer, options, ...
  std::function<void(TrafficDirectorDeps&, TrafficDirectorOptions&)> customize_;
  absl::Mutex events_mu_;
  std::vector<EventInfo> events_;
};

}  // namespace zenlead::op::testing

#endif  // ZEN_LEAD_OPERATOR_TRAFFICDIRECTOR_TRAFFIC_DIRECTOR_E2E_FIXTURE_H_
