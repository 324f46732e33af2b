#include "operator/objects.h"

#include "gtest/gtest.h"

namespace zenlead::op {
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
  json want = {{"metadata",
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

}  // namespace
}  // namespace zenlead::op
