#include "api/runtime/leader_election.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/clock.h"
#include "api/client/errors.h"
#include "api/client/testing/fake_client.h"
#include "api/runtime/meta.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::FakeClient;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);  // real-time safety net

// The one Lease these tests script through FakeClient's hooks: reads,
// creates, and updates that must carry the current resourceVersion (else
// Conflict), with switches to fail or hold updates. Scripted behaviour for
// the elector's decisions; the real API server is exercised in
// leader_election_e2e_test.
class ScriptedLease {
 public:
  explicit ScriptedLease(FakeClient& fake) {
    fake.get = [this](const client::Resource&, absl::string_view,
                      absl::string_view) -> absl::StatusOr<nlohmann::json> {
      absl::MutexLock lock(&mu_);
      ++gets_;
      mu_.Await(absl::Condition(
          +[](bool* hold) { return !*hold; }, &hold_gets_));
      if (!lease_) {
        return client::StatusFromResponse(
            404, R"({"kind":"Status","reason":"NotFound","code":404})");
      }
      return *lease_;
    };
    fake.create =
        [this](const client::Resource&, absl::string_view,
               const nlohmann::json& obj) -> absl::StatusOr<nlohmann::json> {
      absl::MutexLock lock(&mu_);
      if (lease_) {
        return client::StatusFromResponse(
            409, R"({"kind":"Status","reason":"AlreadyExists","code":409})");
      }
      lease_ = obj;
      (*lease_)["metadata"]["resourceVersion"] = std::to_string(++rv_);
      return *lease_;
    };
    fake.update =
        [this](const client::Resource&, absl::string_view,
               const nlohmann::json& obj) -> absl::StatusOr<nlohmann::json> {
      absl::MutexLock lock(&mu_);
      ++updates_started_;
      mu_.Await(absl::Condition(
          +[](bool* hold) { return !*hold; }, &hold_updates_));
      if (fail_updates_) return absl::UnavailableError("injected failure");
      if (before_update_) {
        before_update_(*lease_);
        before_update_ = nullptr;
        (*lease_)["metadata"]["resourceVersion"] = std::to_string(++rv_);
      }
      if (obj["metadata"]["resourceVersion"] !=
          (*lease_)["metadata"]["resourceVersion"]) {
        return client::StatusFromResponse(
            409, R"({"kind":"Status","reason":"Conflict","code":409})");
      }
      lease_ = obj;
      (*lease_)["metadata"]["resourceVersion"] = std::to_string(++rv_);
      return *lease_;
    };
  }

  void Set(nlohmann::json spec) {
    absl::MutexLock lock(&mu_);
    lease_ = nlohmann::json{{"metadata",
                             {{"name", "lead"},
                              {"namespace", "ns"},
                              {"resourceVersion", std::to_string(++rv_)}}},
                            {"spec", std::move(spec)}};
  }
  // Another writer changes the spec (bumping the version).
  void Edit(const std::function<void(nlohmann::json& lease)>& edit) {
    absl::MutexLock lock(&mu_);
    edit(*lease_);
    (*lease_)["metadata"]["resourceVersion"] = std::to_string(++rv_);
  }
  // Runs `edit` just before the next update is checked: a rival wrote
  // between our read and our write.
  void EditBeforeNextUpdate(std::function<void(nlohmann::json&)> edit) {
    absl::MutexLock lock(&mu_);
    before_update_ = std::move(edit);
  }
  nlohmann::json spec() {
    absl::MutexLock lock(&mu_);
    return lease_ ? (*lease_)["spec"] : nlohmann::json();
  }
  void FailUpdates(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_updates_ = fail;
  }
  void HoldUpdates(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_updates_ = hold;
  }
  void Unhold() {
    absl::MutexLock lock(&mu_);
    hold_gets_ = false;
    hold_updates_ = false;
  }
  // Reads block (once started) until released: a frozen connection.
  void HoldGets(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_gets_ = hold;
  }
  int gets() {
    absl::MutexLock lock(&mu_);
    return gets_;
  }
  bool AwaitGets(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return gets_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  bool AwaitUpdatesStarted(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return updates_started_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  int updates_started() {
    absl::MutexLock lock(&mu_);
    return updates_started_;
  }

 private:
  absl::Mutex mu_;
  std::optional<nlohmann::json> lease_ ABSL_GUARDED_BY(mu_);
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 0;
  int gets_ ABSL_GUARDED_BY(mu_) = 0;
  int updates_started_ ABSL_GUARDED_BY(mu_) = 0;
  bool fail_updates_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_updates_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_gets_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void(nlohmann::json&)> before_update_ ABSL_GUARDED_BY(mu_);
};

// Counts callbacks; waits for them in real time.
class Callbacks {
 public:
  LeaderElectionCallbacks Make() {
    LeaderElectionCallbacks c;
    c.on_started_leading = [this] { Bump(&started_); };
    c.on_stopped_leading = [this] { Bump(&stopped_); };
    c.on_new_leader = [this](const std::string& id) {
      absl::MutexLock lock(&mu_);
      leaders_.push_back(id);
    };
    return c;
  }
  bool AwaitStarted(int n) { return Await(&started_, n); }
  bool AwaitStopped(int n) { return Await(&stopped_, n); }
  int started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  int stopped() {
    absl::MutexLock lock(&mu_);
    return stopped_;
  }
  std::vector<std::string> leaders() {
    absl::MutexLock lock(&mu_);
    return leaders_;
  }

 private:
  void Bump(int* counter) {
    absl::MutexLock lock(&mu_);
    ++*counter;
  }
  bool Await(int* counter, int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return *counter >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  absl::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int stopped_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> leaders_ ABSL_GUARDED_BY(mu_);
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  LeaderElectionConfig Config() {
    LeaderElectionConfig config;
    config.lease_namespace = "ns";
    config.lease_name = "lead";
    config.identity = "me";
    config.lease_duration = absl::Seconds(15);
    config.renew_deadline = absl::Seconds(10);
    config.retry_period = absl::Seconds(2);
    config.callbacks = callbacks_.Make();
    config.clock = &clock_;
    config.logger = &quiet_;
    return config;
  }
  std::unique_ptr<LeaderElector> Start(LeaderElectionConfig config) {
    absl::StatusOr<std::unique_ptr<LeaderElector>> elector =
        LeaderElector::Create(&fake_, std::move(config));
    EXPECT_TRUE(elector.ok()) << elector.status();
    (*elector)->Start();
    elector_ = elector->get();
    return *std::move(elector);
  }
  // Lets the elector finish its current attempt and wait on the clock for
  // the next one. A leader also waits on the clock for an attempt's result
  // (until the renew deadline), so the waiter count alone cannot tell the
  // two apart: idle means no attempt outstanding, before and after seeing
  // the waiter.
  void AwaitIdle() {
    const absl::Time deadline = absl::Now() + kWait;
    for (;;) {
      const LeaderElector::Stats before = elector_->stats();
      if (before.attempts == before.finished && clock_.NumWaiters() >= 1) {
        const LeaderElector::Stats after = elector_->stats();
        if (after.attempts == before.attempts) return;
      }
      ASSERT_LT(absl::Now(), deadline) << "the elector never went idle";
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  // Advances the clock by d, which must end the elector's wait, and returns
  // once its next attempt is done and it waits again.
  void Step(absl::Duration d) {
    const int gets = lease_.gets();
    clock_.Advance(d);
    ASSERT_TRUE(lease_.AwaitGets(gets + 1));
    AwaitIdle();
  }
  nlohmann::json HeldBy(const std::string& holder, int transitions) {
    return {{"holderIdentity", holder},
            {"leaseDurationSeconds", 15},
            {"acquireTime", "2000-01-01T00:00:00.000000Z"},
            // From a machine whose clock is far behind ours: never compared.
            {"renewTime", "2000-01-01T00:00:00.000000Z"},
            {"leaseTransitions", transitions}};
  }

  client::FakeClock clock_;
  FakeClient fake_;
  ScriptedLease lease_{fake_};
  LeaderElector* elector_ = nullptr;  // the one Start made
  Callbacks callbacks_;
  Logger quiet_{[](absl::string_view) {}, LogLevel::kError, nullptr};
};

TEST_F(LeaderElectionTest, ConfigValidationNamesTheField) {
  auto error = [this](const std::function<void(LeaderElectionConfig&)>& edit) {
    LeaderElectionConfig config = Config();
    edit(config);
    absl::Status s = ValidateLeaderElectionConfig(config);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  EXPECT_TRUE(ValidateLeaderElectionConfig(Config()).ok());
  EXPECT_THAT(error([](auto& c) { c.identity = ""; }), HasSubstr("identity"));
  EXPECT_THAT(error([](auto& c) { c.lease_name = ""; }),
              HasSubstr("lease_name"));
  EXPECT_THAT(error([](auto& c) { c.lease_namespace = ""; }),
              HasSubstr("lease_namespace"));
  EXPECT_THAT(error([](auto& c) { c.retry_period = absl::ZeroDuration(); }),
              HasSubstr("retry_period must be greater than zero"));
  EXPECT_THAT(error([](auto& c) { c.renew_deadline = -absl::Seconds(1); }),
              HasSubstr("renew_deadline must be greater than zero"));
  EXPECT_THAT(error([](auto& c) { c.lease_duration = absl::Seconds(10); }),
              HasSubstr("lease_duration (10s) must be greater than "
                        "renew_deadline (10s)"));
  EXPECT_THAT(
      error([](auto& c) { c.renew_deadline = absl::Milliseconds(2400); }),
      HasSubstr("renew_deadline (2.4s) must be greater than "
                "retry_period (2s) x 1.2"));
  LeaderElectionConfig ok = Config();
  ok.renew_deadline = absl::Milliseconds(2401);
  EXPECT_TRUE(ValidateLeaderElectionConfig(ok).ok());
  EXPECT_THAT(
      error([](auto& c) { c.lease_duration = absl::Milliseconds(15500); }),
      HasSubstr("lease_duration (15.5s) must be a whole number"));
  EXPECT_THAT(error([](auto& c) { c.callbacks.on_started_leading = nullptr; }),
              HasSubstr("on_started_leading"));
  EXPECT_THAT(error([](auto& c) { c.callbacks.on_stopped_leading = nullptr; }),
              HasSubstr("on_stopped_leading"));
  EXPECT_FALSE(LeaderElector::Create(&fake_, LeaderElectionConfig()).ok());
}

TEST_F(LeaderElectionTest, CreatesAnAbsentLeaseAndRenewsEveryRetryPeriod) {
  const absl::Time t0 = clock_.Now();
  auto elector = Start(Config());
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  EXPECT_TRUE(elector->IsLeader());
  EXPECT_EQ(lease_.spec(), (nlohmann::json{{"holderIdentity", "me"},
                                           {"leaseDurationSeconds", 15},
                                           {"acquireTime", FormatMicroTime(t0)},
                                           {"renewTime", FormatMicroTime(t0)},
                                           {"leaseTransitions", 0}}));
  AwaitIdle();
  Step(absl::Seconds(2));
  EXPECT_EQ(lease_.spec()["renewTime"], FormatMicroTime(t0 + absl::Seconds(2)));
  EXPECT_EQ(lease_.spec()["acquireTime"], FormatMicroTime(t0));
  EXPECT_EQ(lease_.spec()["leaseTransitions"], 0);
  EXPECT_TRUE(elector->IsLeader());
  EXPECT_THAT(callbacks_.leaders(), ElementsAre("me"));
  EXPECT_EQ(elector->LeaderIdentity(), "me");
}

TEST_F(LeaderElectionTest, TakesALeaseOnlyAfterItExpiresOnTheLocalClock) {
  lease_.Set(HeldBy("other", 3));
  const absl::Time t0 = clock_.Now();
  auto elector = Start(Config());
  ASSERT_TRUE(lease_.AwaitGets(1));
  AwaitIdle();
  EXPECT_FALSE(elector->IsLeader());
  EXPECT_THAT(callbacks_.leaders(), ElementsAre("other"));
  // Observed unchanged since t0: still valid at t0 + 14 s.
  for (int i = 0; i < 7; ++i) Step(absl::Seconds(2));
  EXPECT_FALSE(elector->IsLeader());
  EXPECT_EQ(callbacks_.started(), 0);
  // The next try is at the expiry itself, t0 + 15 s, not a period later.
  Step(absl::Seconds(1));
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  EXPECT_TRUE(elector->IsLeader());
  nlohmann::json spec = lease_.spec();
  EXPECT_EQ(spec["holderIdentity"], "me");
  EXPECT_EQ(spec["leaseTransitions"], 4);
  EXPECT_EQ(spec["acquireTime"], FormatMicroTime(t0 + absl::Seconds(15)));
  EXPECT_THAT(callbacks_.leaders(), ElementsAre("other", "me"));
}

TEST_F(LeaderElectionTest, HolderRenewalsRestartTheExpiryCountdown) {
  lease_.Set(HeldBy("other", 0));
  auto elector = Start(Config());
  ASSERT_TRUE(lease_.AwaitGets(1));
  AwaitIdle();
  for (int i = 0; i < 4; ++i) Step(absl::Seconds(2));  // t0 + 8 s
  lease_.Edit([](nlohmann::json& l) {
    l["spec"]["renewTime"] = "2000-01-01T00:00:09.000000Z";
  });
  Step(absl::Seconds(2));  // t0 + 10 s: sees the renewal
  for (int i = 0; i < 7; ++i) Step(absl::Seconds(2));  // t0 + 24 s
  EXPECT_FALSE(elector->IsLeader());
  EXPECT_EQ(callbacks_.started(), 0);
  Step(absl::Seconds(2));  // t0 + 26 s >= t0 + 10 s + 15 s
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  EXPECT_EQ(lease_.spec()["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, TakesAReleasedLeaseAtOnce) {
  nlohmann::json released = HeldBy("", 2);
  released["leaseDurationSeconds"] = 1;
  lease_.Set(released);
  auto elector = Start(Config());
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  EXPECT_EQ(lease_.spec()["holderIdentity"], "me");
  EXPECT_EQ(lease_.spec()["leaseTransitions"], 3);
  EXPECT_EQ(lease_.spec()["leaseDurationSeconds"], 15);
}

TEST_F(LeaderElectionTest, ReclaimsItsOwnLeaseWithoutATransition) {
  nlohmann::json mine = HeldBy("me", 5);
  lease_.Set(mine);
  auto elector = Start(Config());
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  EXPECT_EQ(lease_.spec()["leaseTransitions"], 5);
  EXPECT_EQ(lease_.spec()["acquireTime"], mine["acquireTime"]);
  EXPECT_EQ(lease_.spec()["renewTime"], FormatMicroTime(clock_.Now()));
}

TEST_F(LeaderElectionTest, AConflictMeansSomeoneElseWon) {
  lease_.Set(HeldBy("", 0));
  lease_.EditBeforeNextUpdate([](nlohmann::json& l) {
    l["spec"]["holderIdentity"] = "rival";
    l["spec"]["leaseTransitions"] = 1;
  });
  auto elector = Start(Config());
  ASSERT_TRUE(lease_.AwaitGets(1));
  AwaitIdle();
  EXPECT_FALSE(elector->IsLeader());
  EXPECT_EQ(lease_.spec()["holderIdentity"], "rival");
  Step(absl::Seconds(2));  // sees the rival's fresh lease: keeps off
  EXPECT_FALSE(elector->IsLeader());
  EXPECT_EQ(callbacks_.started(), 0);
  EXPECT_THAT(callbacks_.leaders(), ElementsAre("rival"));
}

TEST_F(LeaderElectionTest, StopsLeadingAtTheRenewDeadlineBeforeExpiry) {
  const absl::Time t0 = clock_.Now();
  auto elector = Start(Config());
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  AwaitIdle();
  lease_.FailUpdates(true);
  for (int i = 0; i < 4; ++i) Step(absl::Seconds(2));  // t0 + 8 s: 4 failures
  EXPECT_TRUE(elector->IsLeader());
  EXPECT_EQ(callbacks_.stopped(), 0);
  clock_.Advance(absl::Seconds(2));  // t0 + 10 s: the renew deadline
  ASSERT_TRUE(callbacks_.AwaitStopped(1));
  EXPECT_FALSE(elector->IsLeader());
  // Others may take the Lease only at t0 + 15 s.
  EXPECT_EQ(clock_.Now() - t0, absl::Seconds(10));
  EXPECT_LT(clock_.Now(), t0 + absl::Seconds(15));

  // Back to standby; once the API answers again it reclaims its own Lease.
  AwaitIdle();
  lease_.FailUpdates(false);
  Step(absl::Seconds(2));
  ASSERT_TRUE(callbacks_.AwaitStarted(2));
  EXPECT_TRUE(elector->IsLeader());
  EXPECT_EQ(lease_.spec()["leaseTransitions"], 0);
}

// A renewal request that hangs (a frozen connection: each request may take
// the client's 30 s timeout, and is retried) used to keep the replica
// leading, its workers running, until the request returned, while a standby
// had taken over at lease_duration: two active replicas.
TEST_F(LeaderElectionTest, StepsDownAtTheRenewDeadlineWhileARenewalHangs) {
  const absl::Time t0 = clock_.Now();
  auto elector = Start(Config());
  // Runs before the elector is destroyed, should an assertion fail while a
  // request is held (Stop waits for it).
  auto unhold = absl::MakeCleanup([&] { lease_.Unhold(); });
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  AwaitIdle();
  lease_.HoldUpdates(true);
  lease_.FailUpdates(true);
  const int updates = lease_.updates_started();
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(lease_.AwaitUpdatesStarted(updates + 1));  // now stuck in it
  // The elector waits for the attempt on the clock, until the deadline.
  ASSERT_TRUE(clock_.AwaitWaiters(1, kWait));
  clock_.Advance(absl::Seconds(7));
  EXPECT_TRUE(elector->IsLeader());  // t0 + 9 s
  EXPECT_EQ(callbacks_.stopped(), 0);
  clock_.Advance(absl::Seconds(1));  // t0 + 10 s: the renew deadline
  EXPECT_FALSE(elector->IsLeader());
  ASSERT_TRUE(callbacks_.AwaitStopped(1));  // with the renewal still hanging
  EXPECT_EQ(clock_.Now(), t0 + absl::Seconds(10));
  EXPECT_EQ(lease_.updates_started(), updates + 1);
  EXPECT_EQ(elector->stats().abandoned, 1);

  // The request fails at last; as a standby the elector reclaims its own
  // Lease (no one else has taken it) once the API answers.
  lease_.HoldUpdates(false);
  AwaitIdle();
  lease_.FailUpdates(false);
  Step(absl::Seconds(2));
  ASSERT_TRUE(callbacks_.AwaitStarted(2));
  EXPECT_EQ(lease_.spec()["leaseTransitions"], 0);
}

TEST_F(LeaderElectionTest, AReadThatReturnsAfterTheDeadlineWritesNothing) {
  auto elector = Start(Config());
  // Runs before the elector is destroyed, should an assertion fail while a
  // request is held (Stop waits for it).
  auto unhold = absl::MakeCleanup([&] { lease_.Unhold(); });
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  AwaitIdle();
  const int updates = lease_.updates_started();
  const int gets = lease_.gets();
  lease_.HoldGets(true);
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(lease_.AwaitGets(gets + 1));  // the renewal's read hangs
  ASSERT_TRUE(clock_.AwaitWaiters(1, kWait));
  clock_.Advance(absl::Seconds(8));  // t0 + 10 s
  ASSERT_TRUE(callbacks_.AwaitStopped(1));
  lease_.HoldGets(false);  // the read returns now, past the deadline
  // It is not acted on; the standby's own next attempt reads again and
  // renews (one update in all).
  ASSERT_TRUE(lease_.AwaitGets(gets + 2));
  ASSERT_TRUE(callbacks_.AwaitStarted(2));
  AwaitIdle();
  EXPECT_EQ(lease_.updates_started(), updates + 1);
}

// The observation time used to be taken before the read: after a read that
// hung, a deposed replica judged the live holder's Lease expired (it had
// "seen" it unchanged since before the read) and took it from a live holder.
TEST_F(LeaderElectionTest, AReadThatTookLongDoesNotMakeALiveHolderExpired) {
  lease_.Set(HeldBy("other", 3));
  lease_.HoldGets(true);
  const absl::Time t0 = clock_.Now();
  auto elector = Start(Config());
  // Runs before the elector is destroyed, should an assertion fail while a
  // request is held (Stop waits for it).
  auto unhold = absl::MakeCleanup([&] { lease_.Unhold(); });
  ASSERT_TRUE(lease_.AwaitGets(1));
  clock_.Advance(absl::Seconds(30));  // while the read hangs
  lease_.HoldGets(false);             // it returns the holder's current record
  AwaitIdle();
  const absl::Time read = t0 + absl::Seconds(30);
  // Unchanged since the read returned: valid until read + 15 s.
  for (int i = 0; i < 7; ++i) Step(absl::Seconds(2));  // read + 14 s
  EXPECT_FALSE(elector->IsLeader());
  EXPECT_EQ(callbacks_.started(), 0);
  EXPECT_EQ(lease_.updates_started(), 0);
  EXPECT_EQ(lease_.spec()["holderIdentity"], "other");
  Step(absl::Seconds(1));  // read + 15 s: expired now
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  EXPECT_EQ(lease_.spec()["leaseTransitions"], 4);
  EXPECT_EQ(lease_.spec()["acquireTime"],
            FormatMicroTime(read + absl::Seconds(15)));
}

TEST_F(LeaderElectionTest, StopWhileARenewalHangsStopsLeadingAtOnce) {
  auto elector = Start(Config());
  // Runs before the elector is destroyed, should an assertion fail while a
  // request is held (Stop waits for it).
  auto unhold = absl::MakeCleanup([&] { lease_.Unhold(); });
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  AwaitIdle();
  const int gets = lease_.gets();
  lease_.HoldGets(true);
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(lease_.AwaitGets(gets + 1));
  std::thread stopper([&] { elector->Stop(); });
  // The work stops first; the release waits for the hung request.
  ASSERT_TRUE(callbacks_.AwaitStopped(1));
  EXPECT_FALSE(elector->IsLeader());
  lease_.HoldGets(false);
  stopper.join();
  EXPECT_EQ(lease_.spec()["holderIdentity"], "");  // released
}

TEST_F(LeaderElectionTest, StepsDownWhenAnotherReplicaHoldsTheLease) {
  auto elector = Start(Config());
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  AwaitIdle();
  lease_.Edit([](nlohmann::json& l) {
    l["spec"]["holderIdentity"] = "usurper";
    l["spec"]["leaseTransitions"] = 1;
  });
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(callbacks_.AwaitStopped(1));
  EXPECT_FALSE(elector->IsLeader());
  EXPECT_THAT(callbacks_.leaders(), ElementsAre("me", "usurper"));
}

TEST_F(LeaderElectionTest, StopReleasesTheLease) {
  auto elector = Start(Config());
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  AwaitIdle();
  clock_.Advance(absl::Milliseconds(500));
  elector->Stop();
  EXPECT_EQ(callbacks_.stopped(), 1);
  EXPECT_FALSE(elector->IsLeader());
  nlohmann::json spec = lease_.spec();
  EXPECT_EQ(spec["holderIdentity"], "");
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
  EXPECT_EQ(spec["renewTime"], FormatMicroTime(clock_.Now()));
  EXPECT_EQ(spec["leaseTransitions"], 0);
}

TEST_F(LeaderElectionTest, StopWithoutReleaseLeavesTheLeaseToExpire) {
  LeaderElectionConfig config = Config();
  config.release_on_cancel = false;
  auto elector = Start(std::move(config));
  ASSERT_TRUE(callbacks_.AwaitStarted(1));
  AwaitIdle();
  elector->Stop();
  EXPECT_EQ(callbacks_.stopped(), 1);
  EXPECT_EQ(lease_.spec()["holderIdentity"], "me");
  EXPECT_EQ(lease_.spec()["leaseDurationSeconds"], 15);
}

TEST_F(LeaderElectionTest, StopWhileStandbyDoesNotTouchTheLease) {
  lease_.Set(HeldBy("other", 0));
  auto elector = Start(Config());
  ASSERT_TRUE(lease_.AwaitGets(1));
  AwaitIdle();
  elector->Stop();
  EXPECT_EQ(callbacks_.stopped(), 0);
  EXPECT_EQ(lease_.spec()["holderIdentity"], "other");
  EXPECT_EQ(lease_.updates_started(), 0);
}

}  // namespace
}  // namespace zenlead::runtime
