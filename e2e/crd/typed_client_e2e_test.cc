// The generated LeaderPolicyClient (//api/types:leaderpolicy) over the real
// RestClient against a real API server: create (server defaults come back
// typed), get, update status (the status subresource leaves the generation
// alone), watch sees the change, optimistic concurrency, server-side apply
// of spec and status, list and paginated list, a rejected policy naming the
// field, unknown fields (managedFields) surviving a read-modify-write, and
// delete. Its own namespace, deleted at the end; the CRD is applied with
// kubectl (idempotent, never deleted).
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//     --test_env=ZEN_LEAD_CLUSTER_BIN=$ZEN_LEAD_CLUSTER_BIN
//     //e2e/crd:typed_client_e2e_test
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/client/client.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/types/leaderpolicy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::api::v1alpha1 {
namespace {

using ::testing::HasSubstr;

constexpr char kCrd[] =
    "config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml";
const client::Resource kNamespaces{"", "v1", "namespaces", false};

std::string RandomSuffix() {
  std::random_device rd;
  std::mt19937 rng(rd());
  const char* chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 6; ++i) out.push_back(chars[rng() % 36]);
  return out;
}

LeaderPolicy Policy(const std::string& name) {
  LeaderPolicy p;
  p.metadata.emplace();
  p.metadata->name = name;
  return p;
}

class TypedClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("ZEN_LEAD_CLUSTER_BIN");
    ASSERT_NE(bin, nullptr)
        << "needs ZEN_LEAD_CLUSTER_BIN (tools/test.sh sets it)";
    const std::string kubectl = absl::StrCat(bin, "/kubectl");
    ASSERT_EQ(
        std::system(absl::StrCat(
                        kubectl,
                        " apply --server-side --field-manager=zen-lead-e2e -f ",
                        kCrd, " >/dev/null")
                        .c_str()),
        0);
    ASSERT_EQ(std::system(
                  absl::StrCat(
                      kubectl,
                      " wait --for=condition=Established --timeout=30s "
                      "crd/leaderpolicies.coordination.kube-zen.io >/dev/null")
                      .c_str()),
              0);
    absl::StatusOr<client::Config> config = client::LoadConfig();
    ASSERT_TRUE(config.ok())
        << "needs KUBECONFIG of a running cluster: " << config.status();
    absl::StatusOr<std::unique_ptr<client::RestClient>> rest =
        client::RestClient::Create(*config);
    ASSERT_TRUE(rest.ok()) << rest.status();
    rest_ = *std::move(rest);
    ns_ = "lp-typed-" + RandomSuffix();
    ASSERT_TRUE(rest_
                    ->Create(kNamespaces, "",
                             {{"apiVersion", "v1"},
                              {"kind", "Namespace"},
                              {"metadata", {{"name", ns_}}}})
                    .ok());
    policies_ = std::make_unique<LeaderPolicyClient>(*rest_);
  }

  void TearDown() override {
    if (rest_ != nullptr && !ns_.empty()) {
      absl::Status deleted = rest_->Delete(kNamespaces, "", ns_, {});
      EXPECT_TRUE(deleted.ok() || client::IsNotFound(deleted)) << deleted;
    }
  }

  std::unique_ptr<client::RestClient> rest_;
  std::unique_ptr<LeaderPolicyClient> policies_;
  std::string ns_;
};

TEST_F(TypedClientE2eTest, CreateGetUpdateStatusWatch) {
  LeaderPolicy desired = Policy("web");
  desired.spec.emplace();
  desired.spec->lease_duration_seconds = 20;
  absl::StatusOr<LeaderPolicy> created = policies_->Create(ns_, desired);
  ASSERT_TRUE(created.ok()) << created.status();
  // The API server's defaults, decoded into the typed spec.
  EXPECT_EQ(created->spec->lease_duration_seconds, 20);
  EXPECT_EQ(created->spec->renew_deadline_seconds, 10);
  EXPECT_EQ(created->spec->retry_period_seconds, 2);
  EXPECT_EQ(created->spec->identity_strategy, "pod");
  EXPECT_EQ(created->spec->follower_mode, "standby");
  EXPECT_EQ(created->spec->min_ready_seconds, 0);
  EXPECT_EQ(created->metadata->generation, 1);
  ASSERT_TRUE(created->metadata->uid.has_value());
  EXPECT_TRUE(Validate(*created).ok());

  absl::StatusOr<LeaderPolicy> got = policies_->Get(ns_, "web");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->metadata->uid, created->metadata->uid);
  EXPECT_EQ(got->spec, created->spec);
  // managedFields is not modelled: it is kept among the unknown fields.
  EXPECT_TRUE(got->metadata->unknown_fields.contains("managedFields"));

  LeaderPolicy with_status = *got;
  with_status.status.emplace();
  with_status.status->observed_generation = 1;
  with_status.status->phase = LeaderPolicyStatus::kPhaseStable;
  with_status.status->candidates = 2;
  with_status.status->current_holder.emplace();
  with_status.status->current_holder->name = "web-0";
  with_status.status->current_holder->pod_ip = "10.244.0.7";
  with_status.status->current_holder->since = "2024-05-06T07:08:09Z";
  Condition ready;
  ready.type = "Ready";
  ready.status = Condition::kStatusTrue;
  ready.reason = "LeaderElected";
  ready.message = "web-0 leads";
  ready.last_transition_time = "2024-05-06T07:08:09Z";
  with_status.status->conditions = {ready};
  ASSERT_TRUE(Validate(with_status).ok());
  absl::StatusOr<LeaderPolicy> updated =
      policies_->UpdateStatus(ns_, with_status);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->status, with_status.status);
  EXPECT_EQ(updated->metadata->generation, 1);  // status writes leave it

  // A watch from the created version sees the status change.
  client::WatchOptions from_created;
  from_created.resource_version = *created->metadata->resource_version;
  from_created.timeout = absl::Seconds(30);
  std::vector<std::string> seen;
  absl::Status watched =
      policies_->Watch(ns_, from_created, [&](const LeaderPolicyWatchEvent& e) {
        if (e.type == client::WatchEvent::Type::kBookmark) return true;
        seen.push_back(e.object.status.has_value()
                           ? e.object.status->phase.value_or("")
                           : "-");
        return !(e.type == client::WatchEvent::Type::kModified &&
                 e.object.status.has_value() &&
                 e.object.status->current_holder.has_value() &&
                 e.object.status->current_holder->name == "web-0");
      });
  EXPECT_TRUE(watched.ok()) << watched;
  EXPECT_EQ(seen.back(), "Stable");

  // Optimistic concurrency: a write from a stale copy conflicts.
  LeaderPolicy stale = *got;
  stale.spec->follower_mode = LeaderPolicySpec::kFollowerModeScaleDown;
  absl::StatusOr<LeaderPolicy> conflict = policies_->Update(ns_, stale);
  EXPECT_TRUE(client::IsConflict(conflict.status())) << conflict.status();
  LeaderPolicy fresh = *updated;
  fresh.spec->follower_mode = LeaderPolicySpec::kFollowerModeScaleDown;
  absl::StatusOr<LeaderPolicy> respec = policies_->Update(ns_, fresh);
  ASSERT_TRUE(respec.ok()) << respec.status();
  EXPECT_EQ(respec->metadata->generation, 2);
  EXPECT_EQ(respec->status->phase, "Stable");  // spec writes keep the status

  ASSERT_TRUE(policies_->Delete(ns_, "web").ok());
  EXPECT_TRUE(client::IsNotFound(policies_->Get(ns_, "web").status()));
}

TEST_F(TypedClientE2eTest, ServerSideApplyListAndRejection) {
  client::ApplyOptions apply;
  apply.field_manager = "zen-lead-e2e";
  LeaderPolicy desired = Policy("api");
  desired.spec.emplace();
  desired.spec->min_ready_seconds = 5;
  absl::StatusOr<LeaderPolicy> applied = policies_->Apply(ns_, desired, apply);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->spec->min_ready_seconds, 5);
  EXPECT_EQ(applied->spec->lease_duration_seconds, 15);

  LeaderPolicy status_only = Policy("api");
  status_only.status.emplace();
  status_only.status->phase = LeaderPolicyStatus::kPhaseNoCandidates;
  status_only.status->candidates = 0;
  absl::StatusOr<LeaderPolicy> applied_status =
      policies_->ApplyStatus(ns_, status_only, apply);
  ASSERT_TRUE(applied_status.ok()) << applied_status.status();
  EXPECT_EQ(applied_status->status->phase, "NoCandidates");
  EXPECT_EQ(applied_status->spec->min_ready_seconds, 5);

  ASSERT_TRUE(policies_->Create(ns_, Policy("db")).ok());
  absl::StatusOr<LeaderPolicyList> list = policies_->List(ns_);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->items.size(), 2u);
  EXPECT_FALSE(list->metadata->resource_version.value_or("").empty());
  client::ListOptions one_per_page;
  one_per_page.limit = 1;
  absl::StatusOr<LeaderPolicyList> page = policies_->List(ns_, one_per_page);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->items.size(), 1u);
  EXPECT_FALSE(page->metadata->continue_field.value_or("").empty());
  absl::StatusOr<LeaderPolicyList> all = policies_->ListAll(ns_, one_per_page);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->items.size(), 2u);
  EXPECT_EQ(*all->items[0].metadata->name, "api");
  EXPECT_EQ(*all->items[1].metadata->name, "db");

  LeaderPolicy invalid = Policy("bad");
  invalid.spec.emplace();
  invalid.spec->lease_duration_seconds = 10;
  invalid.spec->renew_deadline_seconds = 12;
  absl::StatusOr<LeaderPolicy> rejected = policies_->Create(ns_, invalid);
  EXPECT_TRUE(client::IsInvalid(rejected.status())) << rejected.status();
  EXPECT_THAT(std::string(rejected.status().message()),
              HasSubstr("spec.renewDeadlineSeconds (12) must be less than "
                        "spec.leaseDurationSeconds (10)"));
}

}  // namespace
}  // namespace zenlead::api::v1alpha1
