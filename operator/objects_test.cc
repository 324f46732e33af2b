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

}  // namespace
}  // namespace zenlead::op
