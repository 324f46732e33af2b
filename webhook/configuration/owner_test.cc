#include "webhook/configuration/owner.h"

#include <string>
#include <vector>

#include "api/client/errors.h"
#include "api/client/testing/fake_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead::webhook::configuration {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

absl::Status NotFound() {
  return client::StatusFromResponse(
      404, R"({"kind":"Status","reason":"NotFound","code":404,)"
           R"("message":"clusterroles \"x\" not found"})");
}

// Every get answers `answer`.
void AnswerGets(client::testing::FakeClient& fake,
                const absl::StatusOr<json>& answer) {
  fake.get = [answer](const client::Resource&, absl::string_view,
                      absl::string_view) { return answer; };
}

// The header's example; true when the owner is missing.
absl::StatusOr<bool> HeaderExample(client::Client* client,
                                   const std::string& flag) {
  absl::StatusOr<OwnerName> owner = ParseOwner(flag);  // at flag time
  if (!owner.ok()) return owner.status();              // "--webhook-owner: ..."
  absl::StatusOr<k8s::OwnerReference> ref = LookUpOwner(*client, *owner);
  if (client::IsNotFound(ref.status())) {
    return true;  // not installed (yet)
  }
  return false;
}

TEST(OwnerTest, HeaderExample) {
  client::testing::FakeClient fake;
  AnswerGets(fake, NotFound());
  EXPECT_TRUE(*HeaderExample(&fake, "clusterrole/zen-lead-manager"));
  EXPECT_FALSE(HeaderExample(&fake, "clusterrole").ok());
}

TEST(OwnerTest, ParseOwner) {
  absl::StatusOr<OwnerName> role = ParseOwner(kDefaultOwner);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->kind, OwnerKind::kClusterRole);
  EXPECT_EQ(role->name, "zen-lead-manager");
  EXPECT_EQ(role->ToString(), kDefaultOwner);

  absl::StatusOr<OwnerName> crd = ParseOwner(
      "customresourcedefinition/leaderpolicies.coordination.kube-zen.io");
  ASSERT_TRUE(crd.ok()) << crd.status();
  EXPECT_EQ(crd->kind, OwnerKind::kCustomResourceDefinition);
  EXPECT_EQ(crd->name, "leaderpolicies.coordination.kube-zen.io");
  EXPECT_EQ(crd->ToString(), LeaderPolicyCrdOwner().ToString());

  for (const char* bad : {"", "clusterrole", "clusterrole/", "namespace/x",
                          "ClusterRole/x", "clusterrole/a/b", "/x"}) {
    const absl::Status status = ParseOwner(bad).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(),
                HasSubstr("expected clusterrole/<name> (in the cluster, e.g. "
                          "clusterrole/zen-lead-manager) or "
                          "customresourcedefinition/<name> (outside it, e.g. "
                          "customresourcedefinition/"
                          "leaderpolicies.coordination.kube-zen.io)"))
        << bad;
  }
}

TEST(OwnerTest, LookUpReadsTheOwnersUid) {
  client::testing::FakeClient fake;
  std::vector<std::string> reads;
  fake.get = [&](const client::Resource& r, absl::string_view,
                 absl::string_view name) -> absl::StatusOr<json> {
    reads.push_back(r.ApiVersion() + " " + r.resource + " " +
                    std::string(name));
    return json{{"apiVersion", r.ApiVersion()},
                {"metadata", {{"name", name}, {"uid", "uid-1"}}}};
  };
  absl::StatusOr<k8s::OwnerReference> role =
      LookUpOwner(fake, OwnerName{OwnerKind::kClusterRole, "zen-lead-manager"});
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->api_version, "rbac.authorization.k8s.io/v1");
  EXPECT_EQ(role->kind, "ClusterRole");
  EXPECT_EQ(role->name, "zen-lead-manager");
  EXPECT_EQ(role->uid, "uid-1");
  EXPECT_FALSE(role->controller.has_value());
  EXPECT_FALSE(role->block_owner_deletion.has_value());

  absl::StatusOr<k8s::OwnerReference> crd =
      LookUpOwner(fake, LeaderPolicyCrdOwner());
  ASSERT_TRUE(crd.ok()) << crd.status();
  EXPECT_EQ(crd->api_version, "apiextensions.k8s.io/v1");
  EXPECT_EQ(crd->kind, "CustomResourceDefinition");
  EXPECT_EQ(crd->name, "leaderpolicies.coordination.kube-zen.io");

  EXPECT_THAT(reads,
              ::testing::ElementsAre(
                  "rbac.authorization.k8s.io/v1 clusterroles zen-lead-manager",
                  "apiextensions.k8s.io/v1 customresourcedefinitions "
                  "leaderpolicies.coordination.kube-zen.io"));
}

TEST(OwnerTest, MissingOwnerIsNotFoundNamingTheFlag) {
  client::testing::FakeClient fake;
  AnswerGets(fake, NotFound());
  const absl::Status status =
      LookUpOwner(fake, OwnerName{OwnerKind::kClusterRole, "gone"}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              HasSubstr("the webhook configuration's owner clusterrole/gone "
                        "does not exist: install it (config/rbac for the "
                        "ClusterRole, config/crd for the CRD) or name another "
                        "with --webhook-owner"));
}

TEST(OwnerTest, OwnerBeingDeletedIsRefused) {
  client::testing::FakeClient fake;
  AnswerGets(fake, json{{"metadata",
                         {{"uid", "uid-1"},
                          {"deletionTimestamp", "2026-12-02T10:00:00Z"}}}});
  const absl::Status status =
      LookUpOwner(fake, LeaderPolicyCrdOwner()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              HasSubstr("is being deleted (2026-12-02T10:00:00Z): zen-lead is "
                        "being uninstalled"));
}

TEST(OwnerTest, OtherErrorsPassThroughWithTheOwnerNamed) {
  client::testing::FakeClient fake;
  AnswerGets(fake, client::StatusFromResponse(
                       403, R"({"kind":"Status","reason":"Forbidden",)"
                            R"("code":403,"message":"forbidden"})"));
  const absl::Status status =
      LookUpOwner(fake, OwnerName{OwnerKind::kClusterRole, "r"}).status();
  EXPECT_EQ(client::HttpCodeOf(status), 403);
  EXPECT_THAT(status.message(),
              HasSubstr("reading the webhook configuration's owner "
                        "clusterrole/r"));
}

TEST(OwnerTest, OwnerWithoutUidIsAnError) {
  client::testing::FakeClient fake;
  AnswerGets(fake, json{{"metadata", {{"name", "r"}}}});
  EXPECT_EQ(LookUpOwner(fake, OwnerName{OwnerKind::kClusterRole, "r"})
                .status()
                .code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace zenlead::webhook::configuration
