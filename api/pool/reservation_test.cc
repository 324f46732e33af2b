// The admission reservation protocol of the pool Lease on fixed times:
// every transition (free -> reserved -> held -> free, reserved -> free on
// expiry), the token rule (one per admission, none for a retry, a bind or a
// release), the round trip through the Lease object, and the write loop's
// deadline and confirmation on a scripted client. The writes themselves
// are proven on the real API server in pool_lease_e2e_test.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "api/client/errors.h"
#include "api/client/testing/fake_client.h"
#include "api/pool/pool_lease.h"
#include "api/pool/reservation_testing.h"
#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

using Verdict = ReservationDecision::Verdict;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

OwnerRef ReplicaSet(const std::string& name) {
  OwnerRef o;
  o.api_version = "apps/v1";
  o.kind = "ReplicaSet";
  o.name = name;
  o.uid = "uid-" + name;
  return o;
}

ReservationRequest Request(const std::string& requester,
                           const std::string& owner,
                           const std::string& pod_name = "") {
  ReservationRequest r;
  r.requester = requester;
  r.owner = ReplicaSet(owner);
  r.pod_name = pod_name;
  return r;
}

PolicySettings Policy(int32_t lease_seconds = 15) {
  PolicySettings p = DefaultPolicySettings();
  p.lease_duration_seconds = lease_seconds;
  return p;
}

// The Lease after `request` was admitted at `at` over a Lease at `token`.
PoolLease Reserved(const ReservationRequest& request, int64_t token,
                   absl::Time at) {
  PoolLease free;
  free.state.transitions = token;
  ReservationDecision d = DecideReservation(free, request, Policy(), 0, at);
  EXPECT_EQ(d.verdict, Verdict::kAdmit);
  return d.lease;
}

Candidate PodOf(const std::string& name) {
  Candidate c;
  c.name = name;
  c.uid = "uid-" + name;
  c.identity = name;
  return c;
}

TEST(DecideReservationTest, NoLeaseAdmitsWithTokenOne) {
  ReservationDecision d = DecideReservation(
      std::nullopt, Request("wh-0/req-1", "db-7f", ""), Policy(30), 0, kNow);
  EXPECT_EQ(d.verdict, Verdict::kAdmit);
  EXPECT_TRUE(d.Admits());
  EXPECT_EQ(d.Token(), 1);
  EXPECT_EQ(PhaseOf(d.lease), LeasePhase::kReserved);
  EXPECT_EQ(d.lease.state.holder_identity, "wh-0/req-1");
  EXPECT_EQ(d.lease.state.holder_uid, "");
  EXPECT_EQ(d.lease.state.acquire_time, kNow);
  EXPECT_EQ(d.lease.state.lease_duration_seconds, 30);
  EXPECT_EQ(ReservationUntil(d.lease.state), kNow + absl::Seconds(30));
  ASSERT_TRUE(d.lease.reservation.has_value());
  EXPECT_EQ(d.lease.reservation->owner.name, "db-7f");
  EXPECT_EQ(d.lease.reservation->owner.uid, "uid-db-7f");
}

TEST(DecideReservationTest, FreeLeaseTakesExactlyTheNextToken) {
  PoolLease free;
  free.state.transitions = 4;
  ReservationDecision d =
      DecideReservation(free, Request("wh-0/r", "db-7f"), Policy(), 0, kNow);
  EXPECT_EQ(d.verdict, Verdict::kAdmit);
  EXPECT_EQ(d.Token(), 5);
  // Never below the high-water mark (a recreated Lease).
  d = DecideReservation(free, Request("wh-0/r", "db-7f"), Policy(), 9, kNow);
  EXPECT_EQ(d.Token(), 10);
}

TEST(DecideReservationTest, RetryOfTheSameRequestAdmitsWithoutASecondToken) {
  const ReservationRequest first = Request("wh-0/req-1", "db-7f");
  PoolLease reserved = Reserved(first, 4, kNow);
  ReservationDecision retry =
      DecideReservation(reserved, first, Policy(), 0, kNow + absl::Seconds(2));
  EXPECT_EQ(retry.verdict, Verdict::kAlreadyReserved);
  EXPECT_TRUE(retry.Admits());
  EXPECT_EQ(retry.Token(), 5);
  // Another replica answering the same StatefulSet pod (same owner, same
  // pod name): the same pod, admitted with the same token.
  ReservationRequest sts = Request("wh-0/req-1", "db", "db-0");
  reserved = Reserved(sts, 4, kNow);
  ReservationRequest again = Request("wh-1/req-2", "db", "db-0");
  retry = DecideReservation(reserved, again, Policy(), 0, kNow);
  EXPECT_EQ(retry.verdict, Verdict::kAlreadyReserved);
  EXPECT_EQ(retry.Token(), 5);
}

// A ReplicaSet creates its replicas concurrently: the same owner in another
// request is another pod and must wait.
TEST(DecideReservationTest, SameOwnerInAnotherRequestIsDenied) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db-7f"), 0, kNow);
  ReservationDecision d = DecideReservation(
      reserved, Request("wh-0/req-2", "db-7f"), Policy(), 0, kNow);
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_FALSE(d.Admits());
  // Same owner, another pod name.
  reserved = Reserved(Request("wh-0/req-1", "db", "db-0"), 0, kNow);
  d = DecideReservation(reserved, Request("wh-0/req-2", "db", "db-1"), Policy(),
                        0, kNow);
  EXPECT_EQ(d.verdict, Verdict::kDeny);
}

TEST(DecideReservationTest, UnexpiredReservationOfAnotherOwnerDeniesNamingIt) {
  PoolLease reserved =
      Reserved(Request("wh-0/req-1", "db-7f", "db-0"), 2, kNow);
  ReservationDecision d =
      DecideReservation(reserved, Request("wh-1/req-9", "db-8a"), Policy(), 0,
                        kNow + absl::Seconds(14));
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.Token(), 3);  // the reservation's, nothing new
  EXPECT_EQ(d.lease.state.holder_identity, "wh-0/req-1");
  std::string message = DenialMessage("ns", "db", d);
  EXPECT_TRUE(absl::StrContains(message, "pod db-0 of ReplicaSet db-7f"))
      << message;
  EXPECT_TRUE(absl::StrContains(message, "by wh-0/req-1")) << message;
  EXPECT_TRUE(absl::StrContains(message, "kubectl get lease -n ns db"))
      << message;
}

TEST(DecideReservationTest, ExpiredReservationIsFreeForTheNextAdmission) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db-7f"), 2, kNow);
  const absl::Time until = kNow + absl::Seconds(15);
  EXPECT_FALSE(ReservationExpired(reserved, until - absl::Microseconds(1)));
  EXPECT_TRUE(ReservationExpired(reserved, until));
  ReservationDecision d = DecideReservation(
      reserved, Request("wh-1/req-2", "db-8a"), Policy(), 0, until);
  EXPECT_EQ(d.verdict, Verdict::kAdmit);
  EXPECT_EQ(d.Token(), 4);
  EXPECT_EQ(d.lease.reservation->owner.name, "db-8a");
  // The same request after its reservation expired: admitted again, with a
  // new reservation and a new token (the old one may be expired by now).
  d = DecideReservation(reserved, Request("wh-0/req-1", "db-7f"), Policy(), 0,
                        until);
  EXPECT_EQ(d.verdict, Verdict::kAdmit);
  EXPECT_EQ(d.Token(), 4);
}

TEST(DecideReservationTest, ActiveHolderDeniesNamingThePod) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db-7f"), 6, kNow);
  std::optional<PoolLease> held =
      BindReservation(reserved, PodOf("db-7f-x2"), ReplicaSet("db-7f"), kNow);
  ASSERT_TRUE(held.has_value());
  // Even long after leaseDurationSeconds: a held pool stays held until the
  // pod is gone.
  ReservationDecision d = DecideReservation(
      held, Request("wh-0/req-2", "db-7f"), Policy(), 0, kNow + absl::Hours(1));
  EXPECT_EQ(d.verdict, Verdict::kDeny);
  EXPECT_EQ(d.Token(), 7);
  std::string message = DenialMessage("ns", "db", d);
  EXPECT_TRUE(absl::StrContains(message, "active pod db-7f-x2")) << message;
  EXPECT_TRUE(absl::StrContains(message, "fencing token 7")) << message;
  // The caller read that the holder is gone: admitted in the same write.
  ReservationRequest after_gone = Request("wh-0/req-3", "db-7f");
  after_gone.gone_holder_uid = "uid-db-7f-x2";
  // Read gone, but the Lease has another holder by now (it changed hands
  // after the caller's read): denied.
  ReservationRequest stale_gone = after_gone;
  stale_gone.gone_holder_uid = "uid-db-7f-old";
  EXPECT_EQ(DecideReservation(held, stale_gone, Policy(), 0, kNow).verdict,
            Verdict::kDeny);
  d = DecideReservation(held, after_gone, Policy(), 0, kNow);
  EXPECT_EQ(d.verdict, Verdict::kAdmit);
  EXPECT_EQ(d.Token(), 8);
  EXPECT_EQ(d.lease.state.holder_uid, "");
  EXPECT_EQ(PhaseOf(d.lease), LeasePhase::kReserved);
}

TEST(BindReservationTest, TheReservedPodBecomesTheHolderWithTheSameToken) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db-7f"), 2, kNow);
  const absl::Time later = kNow + absl::Seconds(3);
  std::optional<PoolLease> held =
      BindReservation(reserved, PodOf("db-7f-x2"), ReplicaSet("db-7f"), later);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(PhaseOf(*held), LeasePhase::kHeld);
  EXPECT_EQ(held->state.transitions, 3);
  EXPECT_EQ(held->state.holder_uid, "uid-db-7f-x2");
  EXPECT_EQ(held->state.holder_identity, "db-7f-x2");
  EXPECT_EQ(held->state.acquire_time, kNow);  // acquired at admission
  EXPECT_EQ(held->state.renew_time, later);
  EXPECT_FALSE(held->reservation.has_value());
  // Binding again: nothing to write.
  EXPECT_FALSE(
      BindReservation(held, PodOf("db-7f-x2"), ReplicaSet("db-7f"), later));
}

TEST(BindReservationTest, OnlyThePodTheReservationIsFor) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db", "db-0"), 0, kNow);
  OwnerRef sts = ReplicaSet("db");
  sts.kind = "StatefulSet";
  // The request's owner was a "ReplicaSet" named db (Request()); a
  // StatefulSet of that name is another owner.
  EXPECT_FALSE(BindReservation(reserved, PodOf("db-0"), sts, kNow));
  OwnerRef recreated = ReplicaSet("db");
  recreated.uid = "uid-other";
  EXPECT_FALSE(BindReservation(reserved, PodOf("db-0"), recreated, kNow));
  EXPECT_FALSE(
      BindReservation(reserved, PodOf("db-1"), ReplicaSet("db"), kNow));
  EXPECT_TRUE(BindReservation(reserved, PodOf("db-0"), ReplicaSet("db"), kNow));
  // Nothing reserved: nothing to bind.
  EXPECT_FALSE(
      BindReservation(std::nullopt, PodOf("db-0"), ReplicaSet("db"), kNow));
  EXPECT_FALSE(
      BindReservation(PoolLease{}, PodOf("db-0"), ReplicaSet("db"), kNow));
}

// Past its expiry but not yet replaced: no newer admission happened, so
// the pod that came late is the one the reservation admitted.
TEST(BindReservationTest, AnExpiredReservationStillBinds) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db-7f"), 0, kNow);
  std::optional<PoolLease> held = BindReservation(
      reserved, PodOf("db-7f-x2"), ReplicaSet("db-7f"), kNow + absl::Hours(1));
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->state.transitions, 1);
}

TEST(ReleaseIfGoneTest, GoneOrFinishedFreesThePoolKeepingTheToken) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db-7f"), 4, kNow);
  std::optional<PoolLease> held =
      BindReservation(reserved, PodOf("db-7f-x2"), ReplicaSet("db-7f"), kNow);
  ASSERT_TRUE(held.has_value());
  EXPECT_FALSE(ReleaseIfGone(held, std::string("Running")));
  EXPECT_FALSE(ReleaseIfGone(held, std::string("Pending")));
  for (const std::optional<std::string>& phase :
       {std::optional<std::string>(), std::optional<std::string>("Succeeded"),
        std::optional<std::string>("Failed")}) {
    std::optional<PoolLease> free = ReleaseIfGone(held, phase);
    ASSERT_TRUE(free.has_value()) << phase.value_or("gone");
    EXPECT_EQ(PhaseOf(*free), LeasePhase::kFree);
    EXPECT_EQ(free->state.holder_identity, "");
    EXPECT_EQ(free->state.transitions, 5);
  }
  // A reservation has no pod to be gone: that is ExpireReservation's.
  EXPECT_FALSE(ReleaseIfGone(reserved, std::nullopt));
  EXPECT_FALSE(ReleaseIfGone(std::nullopt, std::nullopt));
}

TEST(ExpireReservationTest, AfterLeaseDurationSecondsTheReservationGoes) {
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db-7f"), 4, kNow);
  EXPECT_FALSE(ExpireReservation(reserved, kNow + absl::Seconds(14)));
  std::optional<PoolLease> free =
      ExpireReservation(reserved, kNow + absl::Seconds(15));
  ASSERT_TRUE(free.has_value());
  EXPECT_EQ(PhaseOf(*free), LeasePhase::kFree);
  EXPECT_EQ(free->state.holder_identity, "");
  EXPECT_FALSE(free->reservation.has_value());
  EXPECT_EQ(free->state.transitions, 5);
  // A held pool never expires by time.
  std::optional<PoolLease> held =
      BindReservation(reserved, PodOf("p"), ReplicaSet("db-7f"), kNow);
  EXPECT_FALSE(ExpireReservation(held, kNow + absl::Hours(1)));
}

// Over many cycles, the token counts admissions exactly: a retry, a bind, a
// release and an expiry add nothing.
TEST(ReservationTokenTest, OneTokenPerAdmission) {
  std::optional<PoolLease> lease;
  absl::Time now = kNow;
  for (int i = 0; i < 20; ++i) {
    ReservationRequest request =
        Request("wh-0/req-" + std::to_string(i), "db-7f");
    ReservationDecision d = DecideReservation(lease, request, Policy(), 0, now);
    ASSERT_EQ(d.verdict, Verdict::kAdmit) << i;
    ASSERT_EQ(d.Token(), i + 1);
    lease = d.lease;
    ASSERT_EQ(DecideReservation(lease, request, Policy(), 0, now).Token(),
              i + 1);
    if (i % 2 == 0) {
      lease = BindReservation(lease, PodOf("p" + std::to_string(i)),
                              ReplicaSet("db-7f"), now);
      ASSERT_TRUE(lease.has_value());
      lease = ReleaseIfGone(lease, std::nullopt);
    } else {
      now += absl::Seconds(15);
      lease = ExpireReservation(lease, now);
    }
    ASSERT_TRUE(lease.has_value());
    ASSERT_EQ(PhaseOf(*lease), LeasePhase::kFree);
    ASSERT_EQ(lease->state.transitions, i + 1);
  }
}

// The Lease object as created, patched the way WritePoolLease patches it.
nlohmann::json Written(const PoolLease& lease, const nlohmann::json& base) {
  nlohmann::json obj = base;
  obj.merge_patch(LeasePatch("ns", "db", Policy(), lease));
  return obj;
}

TEST(ReservationRoundTripTest, LeaseReadFromObjectReadsWhatLeasePatchWrote) {
  nlohmann::json base = LeaseApply("ns", "db", Policy(), "db", LeaseState{});
  PoolLease reserved = Reserved(Request("wh-0/req-1", "db", "db-0"), 3, kNow);
  nlohmann::json obj = Written(reserved, base);
  EXPECT_EQ(obj["metadata"]["annotations"][kReservedForAnnotation],
            "ReplicaSet/db");
  EXPECT_EQ(obj["spec"]["holderIdentity"], "wh-0/req-1");
  std::optional<LeaseRead> read = LeaseReadFromObject(obj);
  ASSERT_TRUE(read.has_value());
  ASSERT_FALSE(read->foreign);
  ASSERT_TRUE(read->reservation.has_value());
  EXPECT_EQ(read->reservation->owner.kind, "ReplicaSet");
  EXPECT_EQ(read->reservation->owner.name, "db");
  EXPECT_EQ(read->reservation->owner.uid, "uid-db");
  EXPECT_EQ(read->reservation->pod_name, "db-0");
  EXPECT_EQ(read->state.holder_identity, "wh-0/req-1");
  EXPECT_EQ(read->state.transitions, 4);
  EXPECT_EQ(read->state.renew_time, kNow);
  std::optional<PoolLease> back = PoolLeaseOf(read);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(PhaseOf(*back), LeasePhase::kReserved);
  EXPECT_EQ(ReservationUntil(back->state), kNow + absl::Seconds(15));

  // The state-only patch (the TrafficDirector's) leaves the reservation.
  nlohmann::json renewed = obj;
  LeaseState state = read->state;
  state.renew_time = kNow + absl::Seconds(1);
  renewed.merge_patch(LeasePatch("ns", "db", Policy(), state));
  EXPECT_TRUE(LeaseReadFromObject(renewed)->reservation.has_value());

  // Bound: the annotations go, the pod is the holder.
  std::optional<PoolLease> held =
      BindReservation(*back, PodOf("db-0"), ReplicaSet("db"), kNow);
  ASSERT_TRUE(held.has_value());
  obj = Written(*held, obj);
  EXPECT_FALSE(obj["metadata"]["annotations"].contains(kReservedForAnnotation))
      << obj.dump();
  read = LeaseReadFromObject(obj);
  EXPECT_FALSE(read->reservation.has_value());
  EXPECT_EQ(read->state.holder_uid, "uid-db-0");
  EXPECT_EQ(PhaseOf(*PoolLeaseOf(read)), LeasePhase::kHeld);
}

TEST(ReservationRoundTripTest, AnOwnerlessPodIsReservedByName) {
  ReservationRequest bare;
  bare.requester = "wh-0/req-1";
  bare.pod_name = "solo";
  PoolLease reserved =
      DecideReservation(std::nullopt, bare, Policy(), 0, kNow).lease;
  nlohmann::json obj =
      Written(reserved, LeaseApply("ns", "db", Policy(), "db", LeaseState{}));
  std::optional<PoolLease> back = PoolLeaseOf(LeaseReadFromObject(obj));
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(PhaseOf(*back), LeasePhase::kReserved) << obj.dump();
  EXPECT_EQ(back->reservation->pod_name, "solo");
  EXPECT_TRUE(BindReservation(back, PodOf("solo"), OwnerRef{}, kNow));
  EXPECT_FALSE(BindReservation(back, PodOf("other"), OwnerRef{}, kNow));
}

TEST(DryRunReservationTest, DecidesWithoutAClientAndDeniesAForeignLease) {
  LeaseRead foreign;
  foreign.foreign = true;
  absl::StatusOr<ReservationDecision> d =
      DryRunReservation(foreign, Request("wh-0/r", "db-7f"), Policy(), 0, kNow);
  EXPECT_TRUE(IsLeaseConflict(d.status())) << d.status();
  EXPECT_FALSE(Admitted(d));
  d = DryRunReservation(std::nullopt, Request("wh-0/r", "db-7f"), Policy(), 0,
                        kNow);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(Admitted(d));
  EXPECT_EQ(d->Token(), 1);
}

// ---- The write loop on a scripted client.

nlohmann::json LeaseObject(const PoolLease& lease, const std::string& rv) {
  nlohmann::json obj =
      Written(lease, LeaseApply("ns", "db", Policy(), "db", LeaseState{}));
  obj["metadata"]["resourceVersion"] = rv;
  return obj;
}

absl::Status Conflict() {
  return client::StatusFromResponse(
      409, R"({"kind":"Status","reason":"Conflict","code":409})");
}

TEST(WriteReservationTest, AConflictPastTheDeadlineDenies) {
  client::testing::FakeClient fake;
  int patches = 0;
  fake.patch = [&](const client::Resource&, absl::string_view,
                   absl::string_view, client::PatchType, const nlohmann::json&,
                   absl::string_view) -> absl::StatusOr<nlohmann::json> {
    ++patches;
    return Conflict();
  };
  fake.get = [](const client::Resource&, absl::string_view,
                absl::string_view) -> absl::StatusOr<nlohmann::json> {
    return LeaseObject(PoolLease{}, "2");
  };
  std::optional<LeaseRead> read = LeaseReadFromObject(LeaseObject({}, "1"));
  testing::SteppingClock clock(kNow, absl::Seconds(1));
  const ReservationRequest request = Request("wh-0/r", "db-7f");
  absl::StatusOr<ReservationDecision> d = WriteReservation(
      fake, "ns", "db", Policy(), read,
      [&](const std::optional<PoolLease>& current) {
        return DecideReservation(current, request, Policy(), 0, kNow);
      },
      kNow + absl::Seconds(2) + absl::Milliseconds(500), clock);
  EXPECT_TRUE(absl::IsDeadlineExceeded(d.status())) << d.status();
  EXPECT_FALSE(Admitted(d));
  // Attempts at kNow, +1 s and +2 s; the one at +3 s is past the deadline.
  EXPECT_EQ(patches, 3);
  // A deadline already past: no write at all.
  patches = 0;
  d = WriteReservation(
      fake, "ns", "db", Policy(), read,
      [&](const std::optional<PoolLease>& current) {
        return DecideReservation(current, request, Policy(), 0, kNow);
      },
      kNow, clock);
  EXPECT_FALSE(Admitted(d));
  EXPECT_EQ(patches, 0);
}

// A retry admitted from a lagging cache would admit a second pod if the
// reservation had expired and another request had reserved meanwhile.
TEST(WriteReservationTest, AnAdmissionWithoutAWriteIsConfirmedByARead) {
  const ReservationRequest mine = Request("wh-0/req-1", "db-7f");
  const ReservationRequest theirs = Request("wh-1/req-2", "db-8a");
  PoolLease cached = Reserved(mine, 0, kNow);
  PoolLease now_theirs = Reserved(theirs, 1, kNow + absl::Seconds(16));
  client::testing::FakeClient fake;
  int gets = 0;
  fake.get = [&](const client::Resource&, absl::string_view,
                 absl::string_view) -> absl::StatusOr<nlohmann::json> {
    ++gets;
    return LeaseObject(now_theirs, "7");
  };
  auto decide = [&](const std::optional<PoolLease>& current) {
    return DecideReservation(current, mine, Policy(), 0,
                             kNow + absl::Seconds(5));
  };
  absl::StatusOr<ReservationDecision> d = WriteReservation(
      fake, "ns", "db", Policy(), LeaseReadFromObject(LeaseObject(cached, "3")),
      decide, kNow + absl::Seconds(30),
      testing::SteppingClock(kNow, absl::ZeroDuration()));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(gets, 1);
  EXPECT_EQ(d->verdict, Verdict::kDeny);
  EXPECT_EQ(d->lease.state.holder_identity, "wh-1/req-2");
  // When the API server agrees, the retry is admitted with its token.
  now_theirs = cached;
  d = WriteReservation(fake, "ns", "db", Policy(),
                       LeaseReadFromObject(LeaseObject(cached, "3")), decide,
                       kNow + absl::Seconds(30),
                       testing::SteppingClock(kNow, absl::ZeroDuration()));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->verdict, Verdict::kAlreadyReserved);
  EXPECT_EQ(d->Token(), 1);
  EXPECT_EQ(gets, 2);
}

// The header's example, compiled: the webhook's write and the operator's.
TEST(PoolLeaseHeaderExampleTest, Compiles) {
  client::testing::FakeClient client;
  nlohmann::json stored;
  client.create =
      [&](const client::Resource&, absl::string_view,
          const nlohmann::json& obj) -> absl::StatusOr<nlohmann::json> {
    stored = obj;
    stored["metadata"]["resourceVersion"] = "1";
    return stored;
  };
  const std::string ns = "ns";
  const std::string pool = "db";
  const std::string request_uid = "3b1c";
  const OwnerRef owner = ReplicaSet("db-7f");
  const std::string pod_name;
  const PolicySettings policy = Policy();
  const int64_t high_water = 0;
  const absl::Time now = absl::Now();
  std::optional<LeaseRead> read;

  ReservationRequest request{"webhook-0/" + request_uid, owner, pod_name};
  absl::StatusOr<ReservationDecision> d = WriteReservation(
      client, ns, pool, policy, read,
      [&](const std::optional<PoolLease>& current) {
        return DecideReservation(current, request, policy, high_water, now);
      },
      now + absl::Seconds(5));
  ASSERT_TRUE(Admitted(d)) << d.status();
  EXPECT_EQ(stored["spec"]["holderIdentity"], "webhook-0/3b1c");
  EXPECT_EQ(stored["metadata"]["annotations"][kReservedForAnnotation],
            "ReplicaSet/db-7f");

  read = LeaseReadFromObject(stored);
  nlohmann::json patch;
  client.patch = [&](const client::Resource&, absl::string_view,
                     absl::string_view, client::PatchType,
                     const nlohmann::json& body,
                     absl::string_view) -> absl::StatusOr<nlohmann::json> {
    patch = body;
    return stored;
  };
  const Candidate pod = PodOf("db-7f-x2");
  const OwnerRef& pod_owner = owner;
  const absl::Time deadline = now + absl::Seconds(5);
  absl::StatusOr<PoolLease> bound = WritePoolLease(
      client, ns, pool, policy, read,
      [&](const std::optional<PoolLease>& current) {
        return BindReservation(current, pod, pod_owner, now);
      },
      deadline);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(PhaseOf(*bound), LeasePhase::kHeld);
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "1");
  EXPECT_TRUE(
      patch["metadata"]["annotations"][kReservedForAnnotation].is_null())
      << patch.dump();
}

}  // namespace
}  // namespace zenlead::pool
