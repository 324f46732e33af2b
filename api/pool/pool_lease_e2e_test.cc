// WriteLeaseChange against the real API server (e2e/cluster/up): a holder
// change computed from a stale read (a lagging cache) is refused by the
// resourceVersion precondition and decided again, so a fencing token is
// never issued twice, even to concurrent writers; and managedFields names
// the writer's field manager for the create and for the patch.
//
// WriteReservation the same way: two webhook replicas reserving one pool at
// once, round after round, admit exactly one pod per round with exactly one
// new token; a conflict still unresolved at the deadline denies.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/pool/objects.h"
#include "api/pool/pool_lease.h"
#include "api/pool/reservation_testing.h"
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

ReservationRequest Request(const std::string& requester,
                           const std::string& owner) {
  ReservationRequest r;
  r.requester = requester;
  r.owner.kind = "ReplicaSet";
  r.owner.name = owner;
  r.owner.uid = "uid-" + owner;
  return r;
}

ReservationDecide Reserve(const ReservationRequest& request) {
  return [request](const std::optional<PoolLease>& current) {
    return DecideReservation(current, request, DefaultPolicySettings(), 0,
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
    absl::StatusOr<ReservationDecision> r = WriteReservation(
        *api, ns.name(), "pool", DefaultPolicySettings(), read,
        Reserve(Request("wh-0/req", "rs")), absl::Now() + absl::Seconds(10));
    EXPECT_TRUE(IsLeaseConflict(r.status())) << r.status();
    EXPECT_FALSE(Admitted(r));
  }
  absl::StatusOr<nlohmann::json> after = api->Get(kLeases, ns.name(), "pool");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["metadata"]["resourceVersion"],
            (*foreign)["metadata"]["resourceVersion"]);
}

// Two webhook replicas (two clients, two threads) reserve the pool at the
// same moment from the same read, 50 times: each round exactly one is
// admitted, the other is denied naming the winner's reservation, and the
// token grows by exactly one. The operator then binds and releases the
// winner's pod, or expires its reservation, neither taking a token.
TEST(WriteReservationE2eTest, ConcurrentReservationsAdmitExactlyOnePerRound) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "reserve-e2e");
  std::unique_ptr<client::RestClient> replicas[2] = {NewE2eClient(),
                                                     NewE2eClient()};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  const PolicySettings policy = DefaultPolicySettings();
  constexpr int kRounds = 50;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    // Round 0 starts with no Lease: both create, one gets AlreadyExists.
    std::optional<LeaseRead> shared = Read(*api, ns.name());
    ASSERT_EQ(shared.has_value() ? shared->state.transitions : 0, round);
    // Every third round both pods are of one ReplicaSet (its replicas).
    ReservationRequest requests[2];
    for (int i = 0; i < 2; ++i) {
      requests[i] = Request(absl::StrCat("wh-", i, "/req-", round),
                            round % 3 == 0 ? "rs" : absl::StrCat("rs-", i));
    }
    absl::StatusOr<ReservationDecision> results[2] = {
        absl::UnknownError("not run"), absl::UnknownError("not run")};
    auto* start = new absl::Barrier(2);
    std::vector<std::thread> threads;
    threads.reserve(2);
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        if (start->Block()) delete start;
        results[i] = WriteReservation(*replicas[i], ns.name(), "pool", policy,
                                      shared, Reserve(requests[i]),
                                      absl::Now() + absl::Seconds(20));
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_TRUE(results[0].ok()) << results[0].status();
    ASSERT_TRUE(results[1].ok()) << results[1].status();
    ASSERT_NE(Admitted(results[0]), Admitted(results[1]))
        << "exactly one of two concurrent reservations must be admitted";
    const int winner = Admitted(results[0]) ? 0 : 1;
    const ReservationDecision& won = *results[winner];
    const ReservationDecision& lost = *results[1 - winner];
    EXPECT_EQ(won.verdict, ReservationDecision::Verdict::kAdmit);
    EXPECT_EQ(won.Token(), round + 1);
    EXPECT_EQ(lost.verdict, ReservationDecision::Verdict::kDeny);
    EXPECT_EQ(lost.lease.state.holder_identity, requests[winner].requester);

    std::optional<LeaseRead> now = Read(*api, ns.name());
    ASSERT_TRUE(now.has_value());
    ASSERT_TRUE(now->reservation.has_value());
    EXPECT_EQ(now->state.transitions, round + 1);
    EXPECT_EQ(now->state.holder_identity, requests[winner].requester);
    EXPECT_EQ(now->reservation->owner.name, requests[winner].owner.name);

    // The operator's side, through the same loop.
    PoolLeaseDecision operator_step;
    if (round % 2 == 0) {
      Candidate pod = Pod(absl::StrCat("pod-", round));
      absl::StatusOr<PoolLease> held = WritePoolLease(
          *api, ns.name(), "pool", policy, now,
          [&](const std::optional<PoolLease>& current) {
            return BindReservation(current, pod, requests[winner].owner,
                                   absl::Now());
          },
          absl::Now() + absl::Seconds(20));
      ASSERT_TRUE(held.ok()) << held.status();
      ASSERT_EQ(PhaseOf(*held), LeasePhase::kHeld);
      std::optional<LeaseRead> bound = Read(*api, ns.name());
      ASSERT_TRUE(bound.has_value());
      EXPECT_EQ(bound->state.holder_uid, pod.uid);
      EXPECT_FALSE(bound->reservation.has_value());
      EXPECT_EQ(bound->state.transitions, round + 1);
      operator_step = [](const std::optional<PoolLease>& current) {
        return ReleaseIfGone(current, std::nullopt);
      };
      now = bound;
    } else {
      // Time is passed in: "leaseDurationSeconds later" without waiting.
      operator_step = [](const std::optional<PoolLease>& current) {
        return ExpireReservation(current, absl::Now() + absl::Hours(1));
      };
    }
    absl::StatusOr<PoolLease> free =
        WritePoolLease(*api, ns.name(), "pool", policy, now, operator_step,
                       absl::Now() + absl::Seconds(20));
    ASSERT_TRUE(free.ok()) << free.status();
    ASSERT_EQ(PhaseOf(*free), LeasePhase::kFree);
  }
  std::optional<LeaseRead> last = Read(*api, ns.name());
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->state.transitions, kRounds);
  EXPECT_EQ(PhaseOf(*PoolLeaseOf(last)), LeasePhase::kFree);
  EXPECT_EQ(last->state.holder_identity, "");
}

// A reservation decided from a stale read meets a 409; when the deadline
// has passed by the time it could decide again, it is denied and nothing
// is written. The same call with time left admits with the next token, so
// the deadline alone made the difference.
TEST(WriteReservationE2eTest, AConflictUnresolvedByTheDeadlineDenies) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "reserve-e2e");
  const PolicySettings policy = DefaultPolicySettings();
  ASSERT_TRUE(Admitted(WriteReservation(
      *api, ns.name(), "pool", policy, std::nullopt,
      Reserve(Request("wh-0/first", "rs")), absl::Now() + absl::Seconds(20))));
  ASSERT_TRUE(WritePoolLease(
                  *api, ns.name(), "pool", policy, Read(*api, ns.name()),
                  [](const std::optional<PoolLease>& current) {
                    return ExpireReservation(current,
                                             absl::Now() + absl::Hours(1));
                  },
                  absl::Now() + absl::Seconds(20))
                  .ok());
  std::optional<LeaseRead> stale = Read(*api, ns.name());
  ASSERT_TRUE(stale.has_value());
  ASSERT_EQ(PhaseOf(*PoolLeaseOf(stale)), LeasePhase::kFree);
  // Someone writes the Lease (it stays free): `stale` is now out of date.
  ASSERT_TRUE(WritePoolLease(
                  *api, ns.name(), "pool", policy, stale,
                  [](const std::optional<PoolLease>& current) {
                    PoolLease next = *current;
                    next.state.lease_duration_seconds += 5;
                    return std::optional<PoolLease>(next);
                  },
                  absl::Now() + absl::Seconds(20))
                  .ok());
  std::optional<LeaseRead> before = Read(*api, ns.name());
  ASSERT_TRUE(before.has_value());

  // The first attempt starts at t0; the re-decision would start at t0 + 1 s,
  // past the deadline of t0 + 500 ms.
  const absl::Time t0 = absl::Now();
  testing::SteppingClock clock(t0, absl::Seconds(1));
  absl::StatusOr<ReservationDecision> late =
      WriteReservation(*api, ns.name(), "pool", policy, stale,
                       Reserve(Request("wh-1/late", "rs-2")),
                       t0 + absl::Milliseconds(500), clock);
  EXPECT_TRUE(absl::IsDeadlineExceeded(late.status())) << late.status();
  EXPECT_FALSE(Admitted(late));
  EXPECT_EQ(clock.Reads(), 2);
  std::optional<LeaseRead> after = Read(*api, ns.name());
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->resource_version, before->resource_version);
  EXPECT_EQ(after->state.transitions, 1);
  EXPECT_EQ(PhaseOf(*PoolLeaseOf(after)), LeasePhase::kFree);

  absl::StatusOr<ReservationDecision> in_time =
      WriteReservation(*api, ns.name(), "pool", policy, stale,
                       Reserve(Request("wh-1/in-time", "rs-2")),
                       absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(Admitted(in_time)) << in_time.status();
  EXPECT_EQ(in_time->Token(), 2);
}

}  // namespace
}  // namespace zenlead::pool
