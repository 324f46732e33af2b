// WriteLeaseChange against the real API server (e2e/cluster/up): a holder
// change computed from a stale read (a lagging cache) is refused by the
// resourceVersion precondition and decided again, so a fencing token is
// never issued twice, even to concurrent writers; and managedFields names
// the writer's field manager for the create and for the patch.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/pool/objects.h"
#include "api/pool/pool_lease.h"
#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;

const client::Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
const absl::Duration kEvery = absl::Seconds(5);

Candidate Pod(const std::string& name) {
  Candidate c;
  c.name = name;
  c.uid = "uid-" + name;
  c.identity = name;
  return c;
}

LeaseDecision Elect(const std::string& pod) {
  return [pod](const std::optional<LeaseState>& current) {
    return NextLease(current, Pod(pod), DefaultPolicySettings(), 0, kEvery,
                     absl::Now());
  };
}

// "manager/operation" of every managedFields entry.
std::set<std::string> Managers(const nlohmann::json& obj) {
  std::set<std::string> out;
  for (const nlohmann::json& entry :
       obj["metadata"].value("managedFields", nlohmann::json::array())) {
    out.insert(absl::StrCat(entry.value("manager", ""), "/",
                            entry.value("operation", "")));
  }
  return out;
}

std::optional<LeaseRead> Read(client::Client& c, const std::string& ns) {
  absl::StatusOr<std::optional<LeaseRead>> read = ReadLease(c, ns, "pool");
  EXPECT_TRUE(read.ok()) << read.status();
  return read.ok() ? *read : std::nullopt;
}

TEST(WriteLeaseChangeE2eTest, StaleReadIsDecidedAgainNeverReusingAToken) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "lease-e2e");
  absl::StatusOr<LeaseState> first =
      WriteLeaseChange(*api, ns.name(), "pool", DefaultPolicySettings(),
                       std::nullopt, Elect("a"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->transitions, 1);
  std::optional<LeaseRead> stale = Read(*api, ns.name());
  ASSERT_TRUE(stale.has_value());

  absl::StatusOr<LeaseState> second = WriteLeaseChange(
      *api, ns.name(), "pool", DefaultPolicySettings(), stale, Elect("b"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->transitions, 2);

  // Decided from the read that predates b: without the precondition this
  // would write token 2 for c too.
  absl::StatusOr<LeaseState> third = WriteLeaseChange(
      *api, ns.name(), "pool", DefaultPolicySettings(), stale, Elect("c"));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->transitions, 3);
  std::optional<LeaseRead> now = Read(*api, ns.name());
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->state.holder_identity, "c");
  EXPECT_EQ(now->state.transitions, 3);

  // Creating over a Lease that exists (the cache had not seen it yet).
  absl::StatusOr<LeaseState> fourth =
      WriteLeaseChange(*api, ns.name(), "pool", DefaultPolicySettings(),
                       std::nullopt, Elect("d"));
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  EXPECT_EQ(fourth->transitions, 4);
}

// Without a fieldManager the API server would name the writer after its
// User-Agent: the client here has another one, so only the field manager
// the client sends can make the entries say zen-lead-operator.
TEST(WriteLeaseChangeE2eTest, WritesAreRecordedUnderTheOperatorFieldManager) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "lease-e2e");
  client::RestClientOptions options;
  options.user_agent = "pool-lease-e2e-test";
  options.field_manager = kOperatorFieldManager;
  std::unique_ptr<client::RestClient> op = NewE2eClient(options);
  ASSERT_NE(op, nullptr);
  const std::set<std::string> operator_only = {
      absl::StrCat(kOperatorFieldManager, "/Update")};

  // The create (POST).
  ASSERT_TRUE(WriteLeaseChange(*op, ns.name(), "pool", DefaultPolicySettings(),
                               std::nullopt, Elect("a"))
                  .ok());
  absl::StatusOr<nlohmann::json> created = api->Get(kLeases, ns.name(), "pool");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(Managers(*created), operator_only) << created->dump();

  // A holder change (merge patch): the holder, its uid, the times and the
  // token change, and stay the operator's.
  absl::StatusOr<LeaseState> changed =
      WriteLeaseChange(*op, ns.name(), "pool", DefaultPolicySettings(),
                       Read(*api, ns.name()), Elect("b"));
  ASSERT_TRUE(changed.ok()) << changed.status();
  absl::StatusOr<nlohmann::json> patched = api->Get(kLeases, ns.name(), "pool");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["spec"]["holderIdentity"], "b");
  EXPECT_EQ(Managers(*patched), operator_only) << patched->dump();
  const nlohmann::json& fields =
      (*patched)["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"];
  EXPECT_TRUE(fields.contains("f:holderIdentity")) << fields.dump();
  EXPECT_TRUE(fields.contains("f:leaseTransitions")) << fields.dump();
}

TEST(WriteLeaseChangeE2eTest, ConcurrentHolderChangesTakeDistinctTokens) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "lease-e2e");
  ASSERT_TRUE(WriteLeaseChange(*api, ns.name(), "pool", DefaultPolicySettings(),
                               std::nullopt, Elect("start"))
                  .ok());
  std::optional<LeaseRead> shared = Read(*api, ns.name());
  ASSERT_TRUE(shared.has_value());
  constexpr int kWriters = 3;  // one more than WriteLeaseChange's attempts
  absl::Mutex mu;
  std::vector<int64_t> tokens;
  std::vector<std::thread> writers;
  writers.reserve(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      std::unique_ptr<client::RestClient> own = NewE2eClient();
      absl::StatusOr<LeaseState> s =
          WriteLeaseChange(*own, ns.name(), "pool", DefaultPolicySettings(),
                           shared, Elect(absl::StrCat("w", i)));
      absl::MutexLock lock(&mu);
      if (s.ok()) {
        tokens.push_back(s->transitions);
      } else {
        EXPECT_TRUE(absl::IsAborted(s.status())) << s.status();
      }
    });
  }
  for (std::thread& t : writers) t.join();
  std::set<int64_t> distinct(tokens.begin(), tokens.end());
  EXPECT_EQ(distinct.size(), tokens.size()) << "a token was issued twice";
  std::optional<LeaseRead> now = Read(*api, ns.name());
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->state.transitions, 1 + static_cast<int64_t>(tokens.size()));
}

TEST(WriteLeaseChangeE2eTest, ForeignLeaseIsNeverWritten) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "lease-e2e");
  absl::StatusOr<nlohmann::json> foreign = api->Create(
      kLeases, ns.name(),
      {{"apiVersion", "coordination.k8s.io/v1"},
       {"kind", "Lease"},
       {"metadata", {{"name", "pool"}}},
       {"spec", {{"holderIdentity", "someone"}, {"leaseTransitions", 7}}}});
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  // Both from the cache's view (nothing cached: our cache holds only
  // zen-lead's Leases) and from a read.
  for (const std::optional<LeaseRead>& read :
       {std::optional<LeaseRead>(), Read(*api, ns.name())}) {
    absl::StatusOr<LeaseState> s = WriteLeaseChange(
        *api, ns.name(), "pool", DefaultPolicySettings(), read, Elect("a"));
    EXPECT_TRUE(IsLeaseConflict(s.status())) << s.status();
  }
  absl::StatusOr<nlohmann::json> after = api->Get(kLeases, ns.name(), "pool");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["metadata"]["resourceVersion"],
            (*foreign)["metadata"]["resourceVersion"]);
}

}  // namespace
}  // namespace zenlead::pool
