// WriteLeaseChange against the real API server (e2e/cluster/up): a holder
// change computed from a stale read (a lagging cache) is refused by the
// resourceVersion precondition and decided again, so a fencing token is
// never issued twice, even to concurrent writers.
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "api/client/errors.h"
#include "api/client/testing/e2e_env.h"
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
    return NextLease(current, Pod(pod), PolicySettings{}, 0, kEvery,
                     absl::Now());
  };
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
  absl::StatusOr<LeaseState> first = WriteLeaseChange(
      *api, ns.name(), "pool", PolicySettings{}, std::nullopt, Elect("a"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->transitions, 1);
  std::optional<LeaseRead> stale = Read(*api, ns.name());
  ASSERT_TRUE(stale.has_value());

  absl::StatusOr<LeaseState> second = WriteLeaseChange(
      *api, ns.name(), "pool", PolicySettings{}, stale, Elect("b"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->transitions, 2);

  // Decided from the read that predates b: without the precondition this
  // would write token 2 for c too.
  absl::StatusOr<LeaseState> third = WriteLeaseChange(
      *api, ns.name(), "pool", PolicySettings{}, stale, Elect("c"));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->transitions, 3);
  std::optional<LeaseRead> now = Read(*api, ns.name());
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->state.holder_identity, "c");
  EXPECT_EQ(now->state.transitions, 3);

  // Creating over a Lease that exists (the cache had not seen it yet).
  absl::StatusOr<LeaseState> fourth = WriteLeaseChange(
      *api, ns.name(), "pool", PolicySettings{}, std::nullopt, Elect("d"));
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  EXPECT_EQ(fourth->transitions, 4);
}

TEST(WriteLeaseChangeE2eTest, ConcurrentHolderChangesTakeDistinctTokens) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "lease-e2e");
  ASSERT_TRUE(WriteLeaseChange(*api, ns.name(), "pool", PolicySettings{},
                               std::nullopt, Elect("start"))
                  .ok());
  std::optional<LeaseRead> shared = Read(*api, ns.name());
  ASSERT_TRUE(shared.has_value());
  constexpr int kWriters = 3;  // one more than WriteLeaseChange's attempts
  absl::Mutex mu;
  std::vector<int64_t> tokens;
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      std::unique_ptr<client::RestClient> own = NewE2eClient();
      absl::StatusOr<LeaseState> s =
          WriteLeaseChange(*own, ns.name(), "pool", PolicySettings{}, shared,
                           Elect(absl::StrCat("w", i)));
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
  for (std::optional<LeaseRead> read :
       {std::optional<LeaseRead>(), Read(*api, ns.name())}) {
    absl::StatusOr<LeaseState> s = WriteLeaseChange(
        *api, ns.name(), "pool", PolicySettings{}, read, Elect("a"));
    EXPECT_TRUE(IsLeaseConflict(s.status())) << s.status();
  }
  absl::StatusOr<nlohmann::json> after = api->Get(kLeases, ns.name(), "pool");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["metadata"]["resourceVersion"],
            (*foreign)["metadata"]["resourceVersion"]);
}

}  // namespace
}  // namespace zenlead::pool
