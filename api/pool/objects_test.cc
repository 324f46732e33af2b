#include "api/pool/objects.h"

#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

using nlohmann::json;

json Lease(const std::string& holder, const std::string& renew,
           const std::string& rv) {
  return {{"metadata", {{"name", "db"}, {"resourceVersion", rv}}},
          {"spec",
           {{"holderIdentity", holder},
            {"renewTime", renew},
            {"leaseTransitions", 3}}}};
}

TEST(LeaseOnlyRenewedTest, RenewalAloneIsNotNews) {
  EXPECT_TRUE(LeaseOnlyRenewed(Lease("a", "2026-01-01T00:00:00.000000Z", "1"),
                               Lease("a", "2026-01-01T00:00:05.000000Z", "2")));
}

TEST(LeaseOnlyRenewedTest, HolderOrTokenChangeIsNews) {
  json before = Lease("a", "2026-01-01T00:00:00.000000Z", "1");
  EXPECT_FALSE(
      LeaseOnlyRenewed(before, Lease("b", "2026-01-01T00:00:05.000000Z", "2")));
  json token = Lease("a", "2026-01-01T00:00:05.000000Z", "2");
  token["spec"]["leaseTransitions"] = 4;
  EXPECT_FALSE(LeaseOnlyRenewed(before, token));
  json labels = before;
  labels["metadata"]["labels"] = {{"app.kubernetes.io/managed-by", "other"}};
  EXPECT_FALSE(LeaseOnlyRenewed(before, labels));
}

TEST(WithoutBookkeepingTest, DropsManagedFieldsAndLastApplied) {
  json obj = {{"metadata",
               {{"name", "db"},
                {"managedFields", json::array({{{"manager", "kubectl"}}})},
                {"annotations",
                 {{"kubectl.kubernetes.io/last-applied-configuration", "{}"},
                  {"zen-lead/identity", "x"}}}}},
              {"spec", {{"replicas", 3}}}};
  json want = {
      {"metadata",
       {{"name", "db"}, {"annotations", {{"zen-lead/identity", "x"}}}}},
      {"spec", {{"replicas", 3}}}};
  EXPECT_EQ(WithoutBookkeeping(obj), want);
  obj["metadata"]["annotations"].erase("zen-lead/identity");
  EXPECT_FALSE(WithoutBookkeeping(obj)["metadata"].contains("annotations"));
}

TEST(MergePatchForTest, ChangedAddedAndDroppedFieldsOnly) {
  json have = {{"phase", "Stable"},
               {"candidates", 3},
               {"currentHolder", {{"name", "a"}, {"since", "t1"}}},
               {"conditions", json::array({{{"type", "Ready"}}})}};
  json want = {{"phase", "Stable"},
               {"candidates", 2},
               {"currentHolder", {{"name", "b"}}},
               {"conditions", json::array({{{"type", "Ready"}}})},
               {"transitions", 4}};
  json patch = MergePatchFor(have, want);
  EXPECT_EQ(patch, (json{{"candidates", 2},
                         {"currentHolder", {{"name", "b"}, {"since", nullptr}}},
                         {"transitions", 4}}));
  // Applying the patch gives `want` (RFC 7386 semantics).
  json applied = have;
  applied.merge_patch(patch);
  EXPECT_EQ(applied, want);
  EXPECT_TRUE(MergePatchFor(want, want).empty());
  // A dropped object disappears; arrays are replaced whole.
  json gone = MergePatchFor(have, {{"phase", "NoCandidates"}});
  applied = have;
  applied.merge_patch(gone);
  EXPECT_EQ(applied, (json{{"phase", "NoCandidates"}}));
}

json Policy(json spec) {
  return {
      {"apiVersion", "coordination.kube-zen.io/v1alpha1"},
      {"kind", "LeaderPolicy"},
      {"metadata",
       {{"name", "p"}, {"namespace", "ns"}, {"uid", "u1"}, {"generation", 3}}},
      {"spec", std::move(spec)}};
}

TEST(PolicyFromObjectTest, DefaultsFromTheCrd) {
  PolicySettings p = PolicyFromObject(Policy(json::object()));
  EXPECT_TRUE(p.found);
  EXPECT_TRUE(p.invalid.empty()) << p.invalid;
  EXPECT_EQ(p.lease_duration_seconds, 15);
  EXPECT_EQ(p.renew_deadline_seconds, 10);
  EXPECT_EQ(p.identity_strategy, "pod");
  EXPECT_EQ(p.generation, 3);
}

// A policy stored under an older or relaxed CRD is not used as it is.
TEST(PolicyFromObjectTest, InvalidStoredSpecIsReportedAndNotUsed) {
  PolicySettings p = PolicyFromObject(
      Policy({{"leaseDurationSeconds", 0}, {"identityStrategy", "bogus"}}));
  EXPECT_TRUE(p.found);
  EXPECT_EQ(p.uid, "u1");
  EXPECT_NE(p.invalid.find("spec.leaseDurationSeconds"), std::string::npos)
      << p.invalid;
  EXPECT_NE(p.invalid.find("spec.identityStrategy"), std::string::npos)
      << p.invalid;
  EXPECT_EQ(p.lease_duration_seconds, 15);  // the defaults, not 0
  EXPECT_EQ(p.identity_strategy, "pod");
}

TEST(PolicyFromObjectTest, CrossFieldRulesNameBothFields) {
  PolicySettings p = PolicyFromObject(
      Policy({{"leaseDurationSeconds", 10}, {"renewDeadlineSeconds", 12}}));
  EXPECT_NE(p.invalid.find("spec.renewDeadlineSeconds (12) must be less than "
                           "spec.leaseDurationSeconds (10)"),
            std::string::npos)
      << p.invalid;
  p = PolicyFromObject(
      Policy({{"renewDeadlineSeconds", 5}, {"retryPeriodSeconds", 5}}));
  EXPECT_NE(p.invalid.find("spec.retryPeriodSeconds"), std::string::npos)
      << p.invalid;
}

TEST(PolicyStatusTransitionsTest, ReadsTheStatusEvenWithABadSpec) {
  json p = Policy({{"leaseDurationSeconds", 0}});
  EXPECT_EQ(PolicyStatusTransitions(p), 0);
  p["status"] = {{"transitions", 12}};
  EXPECT_EQ(PolicyStatusTransitions(p), 12);
}

TEST(ValidatePoolNameTest, MustNameALeaseAndBeALabelValue) {
  EXPECT_TRUE(ValidatePoolName("db").ok());
  EXPECT_TRUE(ValidatePoolName("my.pool-1").ok());
  EXPECT_FALSE(ValidatePoolName("a/b c").ok());
  EXPECT_FALSE(ValidatePoolName("Upper").ok());
  EXPECT_FALSE(ValidatePoolName(std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidatePoolName("").ok());
}

TEST(ControllerOwnerTest, TypedAndTolerantOfWrongTypes) {
  json pod = {{"metadata",
               {{"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                                  {"kind", "ReplicaSet"},
                                                  {"name", "rs"},
                                                  {"uid", "u"},
                                                  {"controller", true}}})}}}};
  std::optional<OwnerRef> owner = ControllerOwner(pod);
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->kind, "ReplicaSet");
  EXPECT_EQ(owner->uid, "u");
  // controller: "yes" used to throw from json::value on the informer thread.
  pod["metadata"]["ownerReferences"][0]["controller"] = "yes";
  EXPECT_FALSE(ControllerOwner(pod).has_value());
  EXPECT_EQ(ControllerOwnerUid(pod), "");
}

TEST(SourceFromServiceTest, WithoutSelectorIsAProblem) {
  json svc = {{"metadata",
               {{"name", "s"},
                {"namespace", "ns"},
                {"annotations", {{"zen-lead.io/enabled", "true"}}}}},
              {"spec", {{"ports", json::array({{{"port", 80}}})}}}};
  std::optional<Source> s = SourceFromService(svc);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->problem_reason, "InvalidService");
  EXPECT_NE(s->problem.find("spec.selector"), std::string::npos);
  svc["spec"]["selector"] = {{"app", "x"}};
  EXPECT_EQ(SourceFromService(svc)->problem_reason, "");
}

TEST(EndpointSliceApplyTest, AddressTypeFollowsTheLeaderIp) {
  EXPECT_EQ(AddressTypeOf("10.0.0.1"), "IPv4");
  EXPECT_EQ(AddressTypeOf("fd00::1"), "IPv6");
  Source s;
  s.ns = "ns";
  s.name = "web";
  s.pool = "web";
  Candidate leader;
  leader.name = "web-0";
  leader.uid = "u";
  leader.pod_ip = "fd00::1";
  json slice = EndpointSliceApply(s, leader, {}, AddressTypeOf(leader.pod_ip));
  EXPECT_EQ(slice["addressType"], "IPv6");
  EXPECT_EQ(slice["endpoints"][0]["addresses"][0], "fd00::1");
}

json PodWithIdentity(json annotations, json env) {
  json pod = {
      {"metadata", {{"name", "db-0"}, {"namespace", "ns"}, {"uid", "u"}}},
      {"spec",
       {{"containers",
         json::array({{{"name", "db"}, {"env", std::move(env)}},
                      {{"name", "sidecar"},
                       {"env", json::array({{{"name", "ZEN_LEAD_IDENTITY"},
                                             {"value", "not-me"}}})}}})}}}};
  if (!annotations.is_null()) pod["metadata"]["annotations"] = annotations;
  return pod;
}

// identityStrategy custom: the annotation, else a literal ZEN_LEAD_IDENTITY
// of the first container, else the pod name; the projection keeps exactly
// what that needs.
TEST(CandidateFromPodTest, CustomIdentityAnnotationThenEnvThenName) {
  json env = json::array({{{"name", "OTHER"}, {"value", "x"}},
                          {{"name", "ZEN_LEAD_IDENTITY"}, {"value", "db-a"}}});
  json both = PodWithIdentity({{"zen-lead/identity", "from-annotation"}}, env);
  EXPECT_EQ(CandidateFromPod(both, "custom").identity, "from-annotation");
  json env_only = PodWithIdentity(nullptr, env);
  EXPECT_EQ(CandidateFromPod(env_only, "custom").identity, "db-a");
  EXPECT_EQ(CandidateFromPod(env_only, "pod").identity, "db-0");
  // The projected pod answers the same, and keeps no other variable.
  json projected = ProjectPod(env_only);
  EXPECT_EQ(CandidateFromPod(projected, "custom").identity, "db-a");
  EXPECT_EQ(projected["spec"]["containers"][0]["env"].size(), 1u);
  EXPECT_FALSE(projected["spec"]["containers"][1].contains("env"));
  // Not literal (valueFrom), or only in another container: the pod name.
  json from = PodWithIdentity(
      nullptr,
      json::array(
          {{{"name", "ZEN_LEAD_IDENTITY"},
            {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}}}));
  EXPECT_EQ(CandidateFromPod(from, "custom").identity, "db-0");
  EXPECT_EQ(CandidateFromPod(PodWithIdentity(nullptr, json::array()), "custom")
                .identity,
            "db-0");
}

}  // namespace
}  // namespace zenlead::pool
