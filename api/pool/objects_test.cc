#include "api/pool/objects.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace zenlead::pool {
namespace {

using nlohmann::json;
using Spec = api::v1alpha1::LeaderPolicySpec;

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

// The CRD file itself (a data dependency), read as the API server reads it:
// the defaults of spec's properties in the storage version, as YAML
// scalars ("15", "pod"). Empty, with a test failure, if it does not load.
std::map<std::string, std::string> CrdSpecDefaults() {
  constexpr char kCrd[] =
      "config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml";
  std::map<std::string, std::string> defaults;
  try {
    const YAML::Node crd = YAML::LoadFile(kCrd);
    for (const YAML::Node& version : crd["spec"]["versions"]) {
      if (!version["storage"].as<bool>(false)) continue;
      const YAML::Node spec =
          version["schema"]["openAPIV3Schema"]["properties"]["spec"];
      for (const auto& property : spec["properties"]) {
        if (const YAML::Node d = property.second["default"]; d) {
          defaults[property.first.as<std::string>()] = d.Scalar();
        }
      }
    }
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << kCrd << ": " << e.what();
  }
  EXPECT_FALSE(defaults.empty()) << kCrd << " gives spec no defaults";
  return defaults;
}

// Every PolicySettings member that has a CRD default, by the JSON name of
// its spec field, printed as the YAML scalar would be.
const std::map<std::string, std::function<std::string(const PolicySettings&)>>&
Settings() {
  static const auto* const kSettings = new std::map<
      std::string, std::function<std::string(const PolicySettings&)>>{
      {"leaseDurationSeconds",
       [](const PolicySettings& p) {
         return absl::StrCat(p.lease_duration_seconds);
       }},
      {"renewDeadlineSeconds",
       [](const PolicySettings& p) {
         return absl::StrCat(p.renew_deadline_seconds);
       }},
      {"retryPeriodSeconds",
       [](const PolicySettings& p) {
         return absl::StrCat(p.retry_period_seconds);
       }},
      {"identityStrategy",
       [](const PolicySettings& p) { return p.identity_strategy; }},
      {"followerMode", [](const PolicySettings& p) { return p.follower_mode; }},
      {"minReadySeconds",
       [](const PolicySettings& p) {
         return absl::StrCat(p.min_ready_seconds);
       }},
  };
  return *kSettings;
}

// One source for each fact: every way to get "the defaults" in C++ says
// what the CRD file says, so a default copied into C++ (a member
// initialiser, a value_or) that differs from the CRD fails here.
TEST(PolicyDefaultsTest, AreTheCrdsDefaults) {
  const std::map<std::string, std::string> crd = CrdSpecDefaults();
  std::vector<std::string> crd_fields;
  crd_fields.reserve(crd.size());
  for (const auto& [field, value] : crd) crd_fields.push_back(field);
  std::vector<std::string> settings_fields;
  settings_fields.reserve(Settings().size());
  for (const auto& [field, get] : Settings()) settings_fields.push_back(field);
  EXPECT_EQ(crd_fields, settings_fields)
      << "every spec field the CRD defaults is a PolicySettings member, and "
         "every member here has a CRD default";

  json no_spec = Policy(json::object());
  no_spec.erase("spec");
  const std::map<std::string, PolicySettings> ways = {
      {"DefaultPolicySettings()", DefaultPolicySettings()},
      {"PolicySettings{}", PolicySettings{}},
      {"PolicyFromObject(empty spec)",
       PolicyFromObject(Policy(json::object()))},
      {"PolicyFromObject(no spec)", PolicyFromObject(no_spec)},
      // Invalid or undecodable: the defaults are used instead.
      {"PolicyFromObject(invalid spec)",
       PolicyFromObject(Policy({{"leaseDurationSeconds", 0},
                                {"renewDeadlineSeconds", 400},
                                {"retryPeriodSeconds", 0},
                                {"identityStrategy", "bogus"},
                                {"followerMode", "sleep"},
                                {"minReadySeconds", -1}}))},
      {"PolicyFromObject(wrong types)",
       PolicyFromObject(Policy({{"leaseDurationSeconds", "long"}}))},
  };
  for (const auto& [field, value] : crd) {
    auto get = Settings().find(field);
    if (get == Settings().end()) continue;  // reported above
    for (const auto& [way, settings] : ways) {
      EXPECT_EQ(get->second(settings), value)
          << way << ": spec." << field << " defaults to " << value
          << " in the CRD";
    }
  }
  EXPECT_EQ(PolicyFromObject(Policy(json::object())).generation, 3);
  ASSERT_TRUE(crd.count("leaseDurationSeconds"));
  // The Lease's duration when nothing says otherwise.
  EXPECT_EQ(absl::StrCat(LeaseState{}.lease_duration_seconds),
            crd.at("leaseDurationSeconds"));
  std::optional<LeaseState> edited = LeaseFromObject(
      {{"metadata",
        {{"name", "db"}, {"labels", {{kManagedByLabel, kManagedBy}}}}},
       {"spec", {{"holderIdentity", "a"}}}});
  ASSERT_TRUE(edited.has_value());
  EXPECT_EQ(absl::StrCat(edited->lease_duration_seconds),
            crd.at("leaseDurationSeconds"));
}

// The defaults obey the CRD's own rules, the CEL ones too.
TEST(PolicyDefaultsTest, AreValid) {
  EXPECT_TRUE(api::v1alpha1::Validate(DefaultPolicySpec()).ok());
  EXPECT_TRUE(ValidatePolicySettings(DefaultPolicySettings()).ok());
  EXPECT_TRUE(PolicyFromObject(Policy(json::object())).invalid.empty());
}

TEST(PolicyFromObjectTest, SetValuesOverrideTheDefaults) {
  PolicySettings p = PolicyFromObject(
      Policy({{"leaseDurationSeconds", 30},
              {"renewDeadlineSeconds", 20},
              {"retryPeriodSeconds", 4},
              {"identityStrategy", Spec::kIdentityStrategyCustom},
              {"followerMode", Spec::kFollowerModeScaleDown},
              {"minReadySeconds", 7}}));
  EXPECT_TRUE(p.found);
  EXPECT_TRUE(p.invalid.empty()) << p.invalid;
  EXPECT_EQ(p.uid, "u1");
  EXPECT_EQ(p.lease_duration_seconds, 30);
  EXPECT_EQ(p.renew_deadline_seconds, 20);
  EXPECT_EQ(p.retry_period_seconds, 4);
  EXPECT_EQ(p.identity_strategy, Spec::kIdentityStrategyCustom);
  EXPECT_EQ(p.follower_mode, Spec::kFollowerModeScaleDown);
  EXPECT_EQ(p.min_ready_seconds, 7);
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
  // The defaults, not 0 and "bogus".
  EXPECT_EQ(p.lease_duration_seconds,
            DefaultPolicySettings().lease_duration_seconds);
  EXPECT_EQ(p.identity_strategy, DefaultPolicySettings().identity_strategy);
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

// One decode gives what the three JSON readers give, without copying
// managedFields (the typed metadata keeps fields it does not model).
TEST(MembershipMetaTest, OneDecodeOfTheFieldsMembershipReads) {
  json pod = {
      {"metadata",
       {{"name", "web-1"},
        {"namespace", "shop"},
        {"uid", "p"},
        {"labels", {{"app", "web"}}},
        {"annotations", {{"zen-lead/join", "true"}, {"zen-lead/pool", "db"}}},
        {"ownerReferences", json::array({{{"apiVersion", "apps/v1"},
                                          {"kind", "ReplicaSet"},
                                          {"name", "rs"},
                                          {"uid", "u"},
                                          {"controller", true}}})},
        {"managedFields",
         json::array({{{"manager", "kube-controller-manager"},
                       {"operation", "Update"},
                       {"fieldsV1", {{"f:metadata", json::object()}}}}})}}}};
  const k8s::ObjectMeta meta = MembershipMetaOf(pod);
  EXPECT_FALSE(meta.unknown_fields.contains("managedFields"));
  EXPECT_TRUE(k8s::ObjectMeta::FromJson(pod["metadata"])
                  ->unknown_fields.contains("managedFields"));
  EXPECT_EQ(meta.name.value_or(""), "web-1");
  EXPECT_EQ(meta.namespace_field.value_or(""), "shop");
  ASSERT_TRUE(ControllerOwner(meta).has_value());
  EXPECT_EQ(ControllerOwner(meta)->uid, ControllerOwner(pod)->uid);
  EXPECT_EQ(PodAnnotationPool(meta), "db");
  EXPECT_EQ(PodAnnotationPool(meta), PodAnnotationPool(pod));
  EXPECT_EQ(meta.labels.value_or(std::map<std::string, std::string>()),
            Labels(pod));

  // A field it reads of the wrong type: nothing, as from the JSON readers.
  pod["metadata"]["labels"] = "app=web";
  EXPECT_FALSE(ControllerOwner(MembershipMetaOf(pod)).has_value());
  EXPECT_FALSE(MembershipMetaOf(json::array()).name.has_value());
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

json PodWithIdentity(const json& annotations, json env) {
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
  EXPECT_EQ(CandidateFromPod(both, Spec::kIdentityStrategyCustom).identity,
            "from-annotation");
  json env_only = PodWithIdentity(nullptr, env);
  EXPECT_EQ(CandidateFromPod(env_only, Spec::kIdentityStrategyCustom).identity,
            "db-a");
  EXPECT_EQ(CandidateFromPod(env_only, Spec::kIdentityStrategyPod).identity,
            "db-0");
  // The projected pod answers the same, and keeps no other variable.
  json projected = ProjectPod(env_only);
  EXPECT_EQ(CandidateFromPod(projected, Spec::kIdentityStrategyCustom).identity,
            "db-a");
  EXPECT_EQ(projected["spec"]["containers"][0]["env"].size(), 1u);
  EXPECT_FALSE(projected["spec"]["containers"][1].contains("env"));
  // Not literal (valueFrom), or only in another container: the pod name.
  json from = PodWithIdentity(
      nullptr,
      json::array(
          {{{"name", "ZEN_LEAD_IDENTITY"},
            {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}}}));
  EXPECT_EQ(CandidateFromPod(from, Spec::kIdentityStrategyCustom).identity,
            "db-0");
  EXPECT_EQ(CandidateFromPod(PodWithIdentity(nullptr, json::array()),
                             Spec::kIdentityStrategyCustom)
                .identity,
            "db-0");
}

}  // namespace
}  // namespace zenlead::pool
