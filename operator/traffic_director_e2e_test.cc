// TrafficDirector against the real local control plane (e2e/cluster/up):
// each test runs the controller in-process, scoped to a fresh namespace, and
// drives pods the way a kubelet would (kwok makes them Ready; tests patch the
// Ready condition to take readiness away).
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
#include "gtest/gtest.h"
#include "operator/leader_registry.h"
#include "operator/traffic_director.h"

namespace zenlead::op {
namespace {

using client::Resource;
using nlohmann::json;

const Resource kNamespaces{"", "v1", "namespaces", false};
const Resource kPolicies{"coordination.kube-zen.io", "v1alpha1",
                         "leaderpolicies", true};
const Resource kDeployments{"apps", "v1", "deployments", true};
const Resource kStatefulSets{"apps", "v1", "statefulsets", true};
const Resource kServices{"", "v1", "services", true};
const Resource kPods{"", "v1", "pods", true};
const Resource kSlices{"discovery.k8s.io", "v1", "endpointslices", true};
const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};

client::Config TestConfig() {
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

std::unique_ptr<client::RestClient> NewClient() {
  absl::StatusOr<std::unique_ptr<client::RestClient>> c =
      client::RestClient::Create(TestConfig());
  if (!c.ok()) {
    ADD_FAILURE() << c.status();
    return nullptr;
  }
  return std::move(*c);
}

// Polls cond every 20 ms until it holds or the deadline passes.
bool WaitFor(const std::function<bool()>& cond,
             absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

json Deployment(const std::string& name, const std::string& pool, int replicas,
                const std::string& app) {
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
    const char* bin = std::getenv("ZEN_LEAD_CLUSTER_BIN");
    ASSERT_NE(bin, nullptr) << "ZEN_LEAD_CLUSTER_BIN must name kubectl's dir";
    std::string cmd = absl::StrCat(
        bin, "/kubectl apply -f ",
        "config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml",
        " >/dev/null && ", bin,
        "/kubectl wait --for=condition=Established --timeout=30s ",
        "crd/leaderpolicies.coordination.kube-zen.io >/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
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
    deps.new_watch_client = [] {
      return client::RestClient::Create(TestConfig());
    };
    deps.registry = &registry_;
    deps.metrics = &metrics_;
    deps.record_event = [this](const EventInfo& e) {
      absl::MutexLock lock(&events_mu_);
      events_.push_back(e);
    };
    TrafficDirectorOptions options;
    options.ns = ns_;
    td_ = std::make_unique<TrafficDirector>(std::move(deps), options);
    ASSERT_TRUE(td_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return td_->HasSynced(); }));
    td_->StartWorkers();
  }

  void StopOperator() {
    if (td_) td_->Stop();
    td_.reset();
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
      return metrics_.Render().find(gauge) != std::string::npos;
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
      Candidate c = CandidateFromPod(p, "pod");
      if (CanLead(c)) {
        pods.push_back({p["metadata"]["creationTimestamp"], c.name});
      }
    }
    std::sort(pods.begin(), pods.end());
    std::vector<std::string> out;
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
  std::string ns_;
  LeaderRegistry registry_;
  client::Registry metrics_;
  std::unique_ptr<TrafficDirector> td_;
  absl::Mutex events_mu_;
  std::vector<EventInfo> events_;
};

TEST_F(TrafficDirectorE2eTest, LeaderServiceSliceLeaseAndStatus) {
  CreatePolicy("web");
  std::vector<std::string> pods = JoinWhenReady("web", 3);
  ASSERT_EQ(pods.size(), 3u);
  std::string oldest = pods[0];
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("web-leader") == oldest; }));
  ASSERT_TRUE(
      WaitFor([&] { return api_->Get(kServices, ns_, "web-leader").ok(); }));

  absl::StatusOr<json> svc = api_->Get(kServices, ns_, "web-leader");
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_FALSE((*svc)["spec"].contains("selector"));
  EXPECT_EQ((*svc)["spec"]["type"], "ClusterIP");
  EXPECT_EQ((*svc)["spec"]["ports"][0]["name"], "http");
  EXPECT_EQ((*svc)["spec"]["ports"][0]["port"], 8080);
  EXPECT_EQ((*svc)["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "zen-lead");
  EXPECT_EQ((*svc)["metadata"]["ownerReferences"][0]["kind"], "Deployment");

  absl::StatusOr<json> slice = api_->Get(kSlices, ns_, "web-leader");
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ((*slice)["metadata"]["labels"]["kubernetes.io/service-name"],
            "web-leader");
  EXPECT_EQ(
      (*slice)["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
      "zen-lead");
  const json& ep = (*slice)["endpoints"][0];
  EXPECT_EQ(ep["conditions"]["ready"], true);
  EXPECT_FALSE(ep.value("nodeName", "").empty());
  EXPECT_EQ((*slice)["ports"][0]["port"], 8080);

  absl::StatusOr<json> lease = api_->Get(kLeases, ns_, "web");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], oldest);
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_EQ((*lease)["metadata"]["ownerReferences"][0]["kind"], "LeaderPolicy");

  ASSERT_TRUE(WaitFor([&] {
    json p = Policy("web");
    return p.contains("status") && p["status"].value("phase", "") == "Stable" &&
           p["status"].value("candidates", 0) == 3;
  })) << Policy("web").dump();
  json p = Policy("web");
  EXPECT_EQ(p["status"]["currentHolder"]["name"], oldest);
  EXPECT_EQ(Condition(p, "Ready", "status"), "True");
  EXPECT_EQ(Condition(p, "LeaderElected", "status"), "True");
  EXPECT_EQ(p["status"]["observedGeneration"], p["metadata"]["generation"]);
  EXPECT_TRUE(HasEvent("LeaderElected"));
  std::optional<PoolLeader> known = registry_.Get(ns_, "web");
  ASSERT_TRUE(known.has_value());
  EXPECT_EQ(known->pod_name, oldest);
  EXPECT_EQ(known->fencing_token, 1);
}

TEST_F(TrafficDirectorE2eTest, FailoverOnDeletionAndOnReadinessLoss) {
  CreatePolicy("db");
  std::string first = JoinWhenReady("db", 3)[0];
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("db-leader") == first; }));

  // Deletion.
  ASSERT_TRUE(api_->Delete(kPods, ns_, first, {}).ok());
  std::string second;
  ASSERT_TRUE(WaitFor([&] {
    std::optional<std::string> l = SliceLeader("db-leader");
    if (!l || l->empty() || *l == first) return false;
    second = *l;
    return true;
  }));
  EXPECT_TRUE(WaitFor([&] { return Transitions("db") == 2; }));

  // Readiness loss, as a kubelet reports it.
  SetReady(second, false);
  std::string third;
  ASSERT_TRUE(WaitFor([&] {
    std::optional<std::string> l = SliceLeader("db-leader");
    if (!l || l->empty() || *l == second) return false;
    third = *l;
    return true;
  }));
  EXPECT_TRUE(WaitFor([&] { return Transitions("db") == 3; }));

  // Stickiness: the older pod becoming Ready again does not steal.
  SetReady(second, true);
  ASSERT_TRUE(WaitFor([&] {
    return registry_.Get(ns_, "db").has_value() && Candidates("db") == 3;
  }));
  EXPECT_EQ(SliceLeader("db-leader"), third);
  EXPECT_EQ(Transitions("db"), 3);
  EXPECT_TRUE(HasEvent("LeaderChanged"));
}

TEST_F(TrafficDirectorE2eTest, NoReadyCandidatesThenRecovery) {
  CreatePolicy("q");
  std::vector<std::string> pods = JoinWhenReady("q", 2);
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("q-leader") == pods[0]; }));
  for (const std::string& p : pods) SetReady(p, false);
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("q-leader") == ""; }));
  ASSERT_TRUE(WaitFor([&] { return Phase("q") == "NoCandidates"; }));
  json p = Policy("q");
  EXPECT_EQ(Condition(p, "LeaderElected", "status"), "False");
  EXPECT_EQ(Condition(p, "LeaderElected", "reason"), "NoReadyCandidates");
  EXPECT_FALSE(p["status"].contains("currentHolder"));
  EXPECT_TRUE(HasEvent("NoReadyCandidates"));

  SetReady(pods[1], true);
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("q-leader") == pods[1]; }));
  EXPECT_TRUE(WaitFor([&] { return Phase("q") == "Stable"; }));
}

TEST_F(TrafficDirectorE2eTest, ServiceOptInWithAndWithoutPoolAndNamedPorts) {
  Create(kDeployments, Deployment("api", "", 2, "api"));
  ASSERT_TRUE(WaitFor([&] { return ReadyPods("api").size() == 2; }));
  std::vector<std::string> api_pods = ReadyPods("api");
  auto is_api_pod = [&](const std::optional<std::string>& leader) {
    return leader && std::find(api_pods.begin(), api_pods.end(), *leader) !=
                         api_pods.end();
  };
  // Without a pool name: its own pool, named after the Service.
  Create(
      kServices,
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata",
        {{"name", "api"}, {"annotations", {{"zen-lead.io/enabled", "true"}}}}},
       {"spec",
        {{"selector", {{"app", "api"}}},
         {"ports",
          json::array(
              {{{"name", "web"}, {"port", 80}, {"targetPort", "http"}}})}}}});
  ASSERT_TRUE(WaitFor([&] { return is_api_pod(SliceLeader("api-leader")); }));
  ASSERT_TRUE(
      WaitFor([&] { return api_->Get(kServices, ns_, "api-leader").ok(); }));
  absl::StatusOr<json> slice = api_->Get(kSlices, ns_, "api-leader");
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ((*slice)["ports"][0]["name"], "web");
  EXPECT_EQ((*slice)["ports"][0]["port"], 8080);  // "http" resolved
  absl::StatusOr<json> svc = api_->Get(kServices, ns_, "api-leader");
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ((*svc)["spec"]["ports"][0]["port"], 80);
  EXPECT_TRUE(WaitFor([&] { return api_->Get(kLeases, ns_, "api").ok(); }));

  // With a pool name (annotation) and a LeaderPolicy of that name.
  CreatePolicy("apipool");
  Create(
      kServices,
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata",
        {{"name", "api2"},
         {"annotations",
          {{"zen-lead.io/enabled", "true"}, {"zen-lead/pool", "apipool"}}}}},
       {"spec",
        {{"selector", {{"app", "api"}}},
         {"ports", json::array({{{"port", 9000}, {"targetPort", 8080}}})}}}});
  ASSERT_TRUE(WaitFor([&] { return is_api_pod(SliceLeader("api2-leader")); }));
  EXPECT_TRUE(WaitFor([&] { return Phase("apipool") == "Stable"; }));
  // The user's Services are never edited.
  absl::StatusOr<json> user = api_->Get(kServices, ns_, "api");
  ASSERT_TRUE(user.ok());
  EXPECT_FALSE((*user)["metadata"].contains("ownerReferences"));
  EXPECT_EQ((*user)["spec"]["selector"]["app"], "api");
}

TEST_F(TrafficDirectorE2eTest, UnresolvableNamedTargetPortFailsClosed) {
  CreatePolicy("bad");
  Create(kDeployments, Deployment("bad", "", 2, "bad"));
  ASSERT_TRUE(WaitFor([&] { return ReadyPods("bad").size() == 2; }));
  Create(
      kServices,
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata",
        {{"name", "bad"},
         {"annotations",
          {{"zen-lead.io/enabled", "true"}, {"zen-lead/pool", "bad"}}}}},
       {"spec",
        {{"selector", {{"app", "bad"}}},
         {"ports",
          json::array(
              {{{"name", "web"}, {"port", 80}, {"targetPort", "nope"}}})}}}});
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("bad-leader") == ""; }));
  ASSERT_TRUE(WaitFor([&] {
    return Condition(Policy("bad"), "Ready", "reason") ==
           "PortResolutionFailed";
  }));
  EXPECT_TRUE(HasEvent("PortResolutionFailed"));
}

TEST_F(TrafficDirectorE2eTest, OptOutRemovesLeaderServiceAndSlice) {
  Create(kDeployments, Deployment("out", "out", 2, "out"));
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("out-leader").has_value(); }));
  ASSERT_TRUE(WaitFor([&] {
    std::optional<std::string> l = SliceLeader("out-leader");
    return l && !l->empty();
  }));
  EXPECT_TRUE(HasEvent("PolicyNotFound"));  // no LeaderPolicy "out"
  json patch = {{"metadata", {{"labels", {{"zen-lead/pool", nullptr}}}}}};
  ASSERT_TRUE(api_->Patch(kDeployments, ns_, "out", client::PatchType::kMerge,
                          patch, "")
                  .ok());
  EXPECT_TRUE(WaitFor([&] {
    return client::IsNotFound(
               api_->Get(kServices, ns_, "out-leader").status()) &&
           client::IsNotFound(api_->Get(kSlices, ns_, "out-leader").status());
  }));
}

TEST_F(TrafficDirectorE2eTest, DeploymentAndStatefulSetInDifferentPools) {
  Create(kDeployments, Deployment("front", "front", 2, "front"));
  json sts = Deployment("store", "store", 2, "store");
  sts["kind"] = "StatefulSet";
  sts["spec"]["serviceName"] = "store";
  Create(kStatefulSets, sts);
  ASSERT_TRUE(WaitFor([&] {
    std::optional<std::string> a = SliceLeader("front-leader");
    std::optional<std::string> b = SliceLeader("store-leader");
    return a && b && !a->empty() && !b->empty();
  }));
  EXPECT_EQ(SliceLeader("front-leader")->rfind("front-", 0), 0u);
  EXPECT_EQ(*SliceLeader("store-leader"), "store-0");
  // The registry is written after the slices, Service and Lease.
  EXPECT_TRUE(WaitFor([&] {
    return registry_.Get(ns_, "front").has_value() &&
           registry_.Get(ns_, "store").has_value();
  }));
}

TEST_F(TrafficDirectorE2eTest, MinReadySecondsEditedLiveTakesEffect) {
  CreatePolicy("slow", {{"minReadySeconds", 3600}});
  Create(kDeployments, Deployment("slow", "slow", 2, "slow"));
  ASSERT_TRUE(WaitFor([&] { return ReadyPods("slow").size() == 2; }));
  ASSERT_TRUE(WaitFor([&] { return Phase("slow") == "Electing"; }));
  EXPECT_EQ(SliceLeader("slow-leader"), "");
  json patch = {{"spec", {{"minReadySeconds", 0}}}};
  ASSERT_TRUE(
      api_->Patch(kPolicies, ns_, "slow", client::PatchType::kMerge, patch, "")
          .ok());
  std::string oldest = ReadyPods("slow")[0];
  EXPECT_TRUE(WaitFor([&] { return SliceLeader("slow-leader") == oldest; }));
}

TEST_F(TrafficDirectorE2eTest, OperatorRestartKeepsTheLeader) {
  CreatePolicy("keep");
  std::string oldest = JoinWhenReady("keep", 3)[0];
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("keep-leader") == oldest; }))
      << "leader " << SliceLeader("keep-leader").value_or("(no slice)")
      << ", pods oldest first: " << absl::StrJoin(ReadyPods("keep"), " ");
  // Move leadership off the oldest pod, then make it Ready again: only
  // stickiness keeps the leader where it is.
  SetReady(oldest, false);
  std::string leader;
  ASSERT_TRUE(WaitFor([&] {
    std::optional<std::string> l = SliceLeader("keep-leader");
    if (!l || l->empty() || *l == oldest) return false;
    leader = *l;
    return true;
  }));
  SetReady(oldest, true);
  ASSERT_TRUE(WaitFor([&] { return Candidates("keep") == 3; }));
  int64_t transitions = Transitions("keep");

  StopOperator();
  registry_.Remove(ns_, "keep");
  StartOperator();
  ASSERT_TRUE(WaitFor([&] { return registry_.Get(ns_, "keep").has_value(); }));
  EXPECT_EQ(registry_.Get(ns_, "keep")->pod_name, leader);
  EXPECT_EQ(SliceLeader("keep-leader"), leader);
  EXPECT_EQ(Transitions("keep"), transitions);
}

// The pool Lease is renewed while the leader stays Ready (every
// leaseDuration - renewDeadline seconds) without moving the leader or the
// fencing token; a same-named Lease zen-lead does not manage is never
// touched, the pool is still routed, and the status says LeaseConflict.
TEST_F(TrafficDirectorE2eTest, LeaseRenewalsAndForeignLeaseNeverTouched) {
  CreatePolicy("renew", {{"leaseDurationSeconds", 3},
                         {"renewDeadlineSeconds", 2},
                         {"retryPeriodSeconds", 1}});
  JoinWhenReady("renew", 2);
  ASSERT_TRUE(WaitFor([&] { return Transitions("renew") == 1; }));
  auto renew_time = [&](const std::string& pool) {
    absl::StatusOr<json> lease = api_->Get(kLeases, ns_, pool);
    if (!lease.ok()) return absl::InfinitePast();
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full,
                         (*lease)["spec"].value("renewTime", ""), &t, &err)) {
      return absl::InfinitePast();
    }
    return t;
  };
  const absl::Time first = renew_time("renew");
  const std::string leader = SliceLeader("renew-leader").value_or("");
  ASSERT_NE(first, absl::InfinitePast());
  // Renewed about every second; two renewals within four seconds.
  ASSERT_TRUE(WaitFor([&] { return renew_time("renew") > first; },
                      absl::Seconds(4)));
  const absl::Time second = renew_time("renew");
  ASSERT_TRUE(WaitFor([&] { return renew_time("renew") > second; },
                      absl::Seconds(4)));
  EXPECT_EQ(Transitions("renew"), 1);
  EXPECT_EQ(SliceLeader("renew-leader"), leader);

  // A foreign Lease named like the pool, there before the pool.
  const json foreign = {
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata", {{"name", "taken"}}},
      {"spec", {{"holderIdentity", "someone-else"}, {"leaseTransitions", 7}}}};
  Create(kLeases, foreign);
  absl::StatusOr<json> before = api_->Get(kLeases, ns_, "taken");
  ASSERT_TRUE(before.ok());
  CreatePolicy("taken");
  JoinWhenReady("taken", 2);
  ASSERT_TRUE(WaitFor([&] {
    return Condition(Policy("taken"), "Ready", "reason") == "LeaseConflict";
  })) << Policy("taken").dump();
  EXPECT_TRUE(WaitFor([&] {
    return !SliceLeader("taken-leader").value_or("").empty();
  }));
  absl::SleepFor(absl::Seconds(1));  // observation window for stray writes
  absl::StatusOr<json> after = api_->Get(kLeases, ns_, "taken");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["metadata"]["resourceVersion"],
            (*before)["metadata"]["resourceVersion"]);
  EXPECT_EQ((*after)["spec"]["holderIdentity"], "someone-else");
}

// A follower that flaps (NotReady, then Ready again at once) changes only
// status.candidates, which is written after a short debounce: a flap within
// it costs no write at all. The leader is untouched throughout.
TEST_F(TrafficDirectorE2eTest, FollowerReadinessFlapCostsNoStatusWrite) {
  CreatePolicy("flap");
  std::vector<std::string> pods = JoinWhenReady("flap", 3);
  ASSERT_EQ(pods.size(), 3u);
  ASSERT_TRUE(WaitFor([&] {
    return Candidates("flap") == 3 && SliceLeader("flap-leader") == pods[0];
  }));
  absl::SleepFor(absl::Seconds(3));  // let any pending status write land
  const json before = Policy("flap");
  SetReady(pods[2], false);
  SetReady(pods[2], true);
  absl::SleepFor(absl::Seconds(3));  // longer than the 2 s debounce
  const json after = Policy("flap");
  EXPECT_EQ(after["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"])
      << "status written for a flap: " << after["status"].dump();
  EXPECT_EQ(Candidates("flap"), 3);
  EXPECT_EQ(SliceLeader("flap-leader"), pods[0]);
  // A lasting change is written (after the debounce).
  SetReady(pods[2], false);
  EXPECT_TRUE(WaitFor([&] { return Candidates("flap") == 2; },
                      absl::Seconds(10)));
}

}  // namespace
}  // namespace zenlead::op
