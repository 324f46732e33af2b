// TrafficDirector behaviour against the real local control plane
// (e2e/cluster/up); the fixture is in traffic_director_e2e_fixture.h.
#include "operator/trafficdirector/traffic_director_e2e_fixture.h"

namespace zenlead::op {
namespace {

using nlohmann::json;
using testing::Deployment;
using testing::kDeployments;
using testing::kJobs;
using testing::kLeases;
using testing::kPods;
using testing::kPolicies;
using testing::kServices;
using testing::kSlices;
using testing::kStatefulSets;
using testing::TrafficDirectorE2eTest;
using testing::WaitFor;

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

  // The Lease follows the slice (the publish, a work item of its own).
  absl::StatusOr<json> lease;
  ASSERT_TRUE(WaitFor([&] {
    lease = api_->Get(kLeases, ns_, "web");
    return lease.ok();
  }));
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
  EXPECT_TRUE(WaitFor([&] { return HasEvent("LeaderElected"); }));
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
  EXPECT_TRUE(WaitFor([&] { return HasEvent("LeaderChanged"); }));
}

TEST_F(TrafficDirectorE2eTest, NoReadyCandidatesThenRecovery) {
  CreatePolicy("q");
  std::vector<std::string> pods = JoinWhenReady("q", 2);
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("q-leader") == pods[0]; }));
  for (const std::string& p : pods) SetReady(p, false);
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("q-leader") == ""; }));
  // The status follows the slice: wait for the one written after it.
  ASSERT_TRUE(WaitFor([&] {
    return Phase("q") == "NoCandidates" &&
           Condition(Policy("q"), "LeaderElected", "reason") ==
               "NoReadyCandidates";
  }));
  json p = Policy("q");
  EXPECT_EQ(Condition(p, "LeaderElected", "status"), "False");
  EXPECT_EQ(Condition(p, "LeaderElected", "reason"), "NoReadyCandidates");
  EXPECT_FALSE(p["status"].contains("currentHolder"));
  EXPECT_TRUE(WaitFor([&] { return HasEvent("NoReadyCandidates"); }));

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
  EXPECT_TRUE(WaitFor([&] { return HasEvent("PortResolutionFailed"); }));
}

TEST_F(TrafficDirectorE2eTest, OptOutRemovesLeaderServiceAndSlice) {
  Create(kDeployments, Deployment("out", "out", 2, "out"));
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("out-leader").has_value(); }));
  ASSERT_TRUE(WaitFor([&] {
    std::optional<std::string> l = SliceLeader("out-leader");
    return l && !l->empty();
  }));
  EXPECT_TRUE(WaitFor(
      [&] { return HasEvent("PolicyNotFound"); }));  // no LeaderPolicy "out"
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
  // The Lease follows the slice (the publish): the failover's token.
  ASSERT_TRUE(WaitFor([&] { return Transitions("keep") == 2; }));
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
  ASSERT_TRUE(
      WaitFor([&] { return renew_time("renew") > first; }, absl::Seconds(4)));
  const absl::Time second = renew_time("renew");
  ASSERT_TRUE(
      WaitFor([&] { return renew_time("renew") > second; }, absl::Seconds(4)));
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
  EXPECT_TRUE(WaitFor(
      [&] { return !SliceLeader("taken-leader").value_or("").empty(); }));
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
  EXPECT_TRUE(
      WaitFor([&] { return Candidates("flap") == 2; }, absl::Seconds(10)));
}

// identityStrategy custom: the Lease holder is the pod's zen-lead/identity
// annotation, else the first container's literal ZEN_LEAD_IDENTITY.
TEST_F(TrafficDirectorE2eTest, CustomIdentityFromTheEnvironment) {
  CreatePolicy("ident", {{"identityStrategy", "custom"}});
  json d = Deployment("ident", "ident", 1, "ident");
  d["spec"]["template"]["spec"]["containers"][0]["env"] =
      json::array({{{"name", "ZEN_LEAD_IDENTITY"}, {"value", "db-primary"}}});
  Create(kDeployments, d);
  ASSERT_TRUE(WaitFor([&] { return Transitions("ident") == 1; }));
  absl::StatusOr<json> lease = api_->Get(kLeases, ns_, "ident");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "db-primary");
  EXPECT_TRUE(WaitFor([&] {
    std::optional<PoolLeader> l = registry_.Get(ns_, "ident");
    return l && l->holder_identity == "db-primary";
  }));
}

// SPEC §2, the pod-template form: a Deployment without the pool label whose
// pod template carries `zen-lead/pool` + `zen-lead/join: "true"` is a source
// of the pool; a Job in a pool is StateGuard's, never routed.
TEST_F(TrafficDirectorE2eTest, PodTemplateAnnotationsJoinThePool) {
  CreatePolicy("tmpl");
  json d = Deployment("tmpl", "", 2, "tmpl");
  d["spec"]["template"]["metadata"]["annotations"] = {
      {"zen-lead/pool", "tmpl"}, {"zen-lead/join", "true"}};
  Create(kDeployments, d);
  ASSERT_TRUE(WaitFor([&] { return ReadyPods("tmpl").size() == 2; }));
  std::vector<std::string> pods = ReadyPods("tmpl");
  // (Both pods may have been created in the same second: either leads.)
  std::string leader;
  ASSERT_TRUE(WaitFor([&] {
    std::optional<std::string> now = SliceLeader("tmpl-leader");
    if (!now || std::find(pods.begin(), pods.end(), *now) == pods.end()) {
      return false;
    }
    leader = *now;
    return true;
  })) << "a pod of the annotated Deployment leads";
  ASSERT_TRUE(api_->Delete(kPods, ns_, leader, {}).ok());
  EXPECT_TRUE(WaitFor([&] {
    std::optional<std::string> now = SliceLeader("tmpl-leader");
    return now && !now->empty() && *now != leader;
  })) << "failover through the annotated template";

  Create(
      kJobs,
      {{"apiVersion", "batch/v1"},
       {"kind", "Job"},
       {"metadata",
        {{"name", "batch"}, {"labels", {{"zen-lead/pool", "tmpl"}}}}},
       {"spec",
        {{"template",
          {{"metadata", {{"labels", {{"app", "batch"}}}}},
           {"spec",
            {{"restartPolicy", "Never"},
             {"containers",
              json::array({{{"name", "c"}, {"image", "example/job"}}})}}}}}}}});
  absl::SleepFor(absl::Seconds(2));
  EXPECT_TRUE(
      client::IsNotFound(api_->Get(kServices, ns_, "batch-leader").status()));
}

// The original zen-lead's Service annotations keep working unchanged: a
// custom leader Service name, zen-lead.io/sticky: "false" (always the
// oldest Ready pod), zen-lead.io/min-ready-duration; the leader Service
// names its leader in annotations (written after the slice); an invalid
// value gets a Warning naming the annotation, and the default applies.
TEST_F(TrafficDirectorE2eTest, ServiceAnnotationsOfTheOriginalProduct) {
  Create(kDeployments, Deployment("db", "", 2, "db"));
  ASSERT_TRUE(WaitFor([&] { return ReadyPods("db").size() == 2; }));
  std::vector<std::string> pods = ReadyPods("db");
  Create(
      kServices,
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata",
        {{"name", "db"},
         {"annotations",
          {{"zen-lead.io/enabled", "true"},
           {"zen-lead.io/leader-service-name", "db-primary"},
           {"zen-lead.io/sticky", "false"},
           {"zen-lead.io/min-ready-duration", "soon"}}}}},
       {"spec",
        {{"selector", {{"app", "db"}}},
         {"ports", json::array({{{"port", 5432}, {"targetPort", 8080}}})}}}});
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("db-primary") == pods[0]; }));
  auto annotation = [&](const std::string& key) {
    absl::StatusOr<json> svc = api_->Get(kServices, ns_, "db-primary");
    if (!svc.ok()) return std::string();
    return (*svc)["metadata"]
        .value("annotations", json::object())
        .value(key, std::string());
  };
  EXPECT_TRUE(WaitFor(
      [&] { return annotation("zen-lead.io/leader-pod-name") == pods[0]; }));
  EXPECT_FALSE(annotation("zen-lead.io/leader-pod-uid").empty());
  EXPECT_FALSE(annotation("zen-lead.io/leader-last-switch-time").empty());
  EXPECT_TRUE(
      client::IsNotFound(api_->Get(kServices, ns_, "db-leader").status()))
      << "the custom name replaces <name>-leader";
  EXPECT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&events_mu_);
    for (const EventInfo& e : events_) {
      if (e.reason == "InvalidAnnotation" && e.warning &&
          e.note.find("zen-lead.io/min-ready-duration") != std::string::npos) {
        return true;
      }
    }
    return false;
  })) << "a Warning naming the annotation";

  // Not sticky: the leader moves away while the oldest pod is not Ready,
  // and back to it once it is (a sticky pool would stay on pods[1]).
  SetReady(pods[0], false);
  ASSERT_TRUE(WaitFor([&] { return SliceLeader("db-primary") == pods[1]; }));
  EXPECT_TRUE(WaitFor(
      [&] { return annotation("zen-lead.io/leader-pod-name") == pods[1]; }));
  SetReady(pods[0], true);
  EXPECT_TRUE(WaitFor([&] { return SliceLeader("db-primary") == pods[0]; }))
      << "zen-lead.io/sticky: \"false\" routes to the oldest Ready pod";
}

// A scaleDown pool's Lease records its one active pod, not the elected
// leader (docs/admission.md). Without the webhook two pods run: the oldest
// holds the Lease, Ready=False (TwoActivePods) and a Warning say so. Once
// one pod is left it holds; when it is deleted, its replacement holds with
// the next token.
TEST_F(TrafficDirectorE2eTest, ScaleDownPoolLeaseRecordsTheActivePod) {
  CreatePolicy("guard", {{"followerMode", "scaleDown"}});
  std::vector<std::string> pods = JoinWhenReady("guard", 2);
  ASSERT_EQ(pods.size(), 2u);
  auto lease = [&]() -> json {
    absl::StatusOr<json> l = api_->Get(kLeases, ns_, "guard");
    return l.ok() ? *l : json();
  };
  auto holder = [&] {
    json l = lease();
    return l.is_null() ? std::string() : l["spec"].value("holderIdentity", "");
  };
  ASSERT_TRUE(WaitFor([&] { return holder() == pods[0]; })) << lease().dump();
  ASSERT_TRUE(WaitFor([&] {
    return Condition(Policy("guard"), "Ready", "reason") == "TwoActivePods";
  })) << Policy("guard").dump();
  EXPECT_NE(Condition(Policy("guard"), "Ready", "message").find(pods[1]),
            std::string::npos);
  EXPECT_TRUE(WaitFor([&] { return HasEvent("TwoActivePods"); }));

  json scale = {{"spec", {{"replicas", 1}}}};
  ASSERT_TRUE(api_->Patch(kDeployments, ns_, "guard", client::PatchType::kMerge,
                          scale, "")
                  .ok());
  std::vector<std::string> left;
  ASSERT_TRUE(WaitFor(
      [&] {
        left = ReadyPods("guard");
        return left.size() == 1 && holder() == left[0] &&
               Condition(Policy("guard"), "Ready", "reason") != "TwoActivePods";
      },
      absl::Seconds(60)))
      << lease().dump() << Policy("guard").dump();
  const int64_t token = lease()["spec"].value("leaseTransitions", 0);

  ASSERT_TRUE(api_->Delete(kPods, ns_, left[0], {}).ok());
  std::vector<std::string> replacement;
  ASSERT_TRUE(WaitFor(
      [&] {
        replacement = ReadyPods("guard");
        return replacement.size() == 1 && replacement[0] != left[0] &&
               holder() == replacement[0];
      },
      absl::Seconds(60)))
      << lease().dump();
  EXPECT_EQ(lease()["spec"].value("leaseTransitions", 0), token + 1)
      << "the replacement is one new holder";
}

}  // namespace
}  // namespace zenlead::op
