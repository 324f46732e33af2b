// Leader election between two candidates in one process, each with its own
// RestClient, on a real Lease (e2e/cluster; KUBECONFIG). Both candidates'
// IsLeader() are sampled every 2 ms throughout: never both true.
//
// - The leader stops WITHOUT releasing (as if it died): the standby takes
//   over within lease_duration + retry_period (+1 s for API latency on a
//   busy machine) of the stop.
// - The leader stops and releases: the standby takes over within one
//   retry_period (+0.5 s).
// - The leader's connection freezes (a TCP proxy on 127.0.0.1 that stops
//   forwarding; the leader's client has the default 30 s request timeout and
//   retries, as the operator's had): it stops leading (on_stopped_leading)
//   within renew_deadline, before the standby takes over, and once the
//   connection thaws it does not take the Lease back from the live holder.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//       //api/client:leader_election_e2e_test
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/config.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/client/testing/freezable_proxy.h"
#include "api/runtime/leader_election.h"
#include "api/runtime/logging.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::FreezableProxy;
using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;

const client::Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
constexpr absl::Duration kLeaseDuration = absl::Seconds(6);
constexpr absl::Duration kRenewDeadline = absl::Seconds(4);
constexpr absl::Duration kRetryPeriod = absl::Seconds(1);

struct Candidate {
  std::unique_ptr<client::RestClient> client;
  std::unique_ptr<LeaderElector> elector;
};

// When a candidate's callbacks ran (what its workers would do).
struct Activity {
  std::atomic<bool> active{false};
  absl::Mutex mu;
  absl::Time started ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Time stopped ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  int starts ABSL_GUARDED_BY(mu) = 0;
};

Candidate NewCandidate(const std::string& ns, const std::string& identity,
                       bool release_on_cancel,
                       std::unique_ptr<client::RestClient> client = nullptr,
                       Activity* activity = nullptr) {
  Candidate c;
  c.client = client != nullptr ? std::move(client) : NewE2eClient();
  if (c.client == nullptr) return c;
  LeaderElectionConfig config;
  config.lease_namespace = ns;
  config.lease_name = "operator";
  config.identity = identity;
  config.lease_duration = kLeaseDuration;
  config.renew_deadline = kRenewDeadline;
  config.retry_period = kRetryPeriod;
  config.release_on_cancel = release_on_cancel;
  config.callbacks.on_started_leading = [identity, activity] {
    std::cout << identity << ": started leading\n";
    if (activity == nullptr) return;
    absl::MutexLock lock(&activity->mu);
    activity->active = true;
    activity->started = absl::Now();
    ++activity->starts;
  };
  config.callbacks.on_stopped_leading = [identity, activity] {
    std::cout << identity << ": stopped leading\n";
    if (activity == nullptr) return;
    absl::MutexLock lock(&activity->mu);
    activity->active = false;
    activity->stopped = absl::Now();
  };
  absl::StatusOr<std::unique_ptr<LeaderElector>> elector =
      LeaderElector::Create(c.client.get(), std::move(config));
  EXPECT_TRUE(elector.ok()) << elector.status();
  if (elector.ok()) c.elector = *std::move(elector);
  return c;
}

// Samples both candidates every 2 ms until destroyed: counts instants when
// both claim to lead, and notes when `watched` first leads.
class Sampler {
 public:
  Sampler(LeaderElector* a, LeaderElector* b) : a_(a), b_(b) {
    thread_ = std::thread([this] {
      while (!done_.load()) {
        const bool a = a_->IsLeader();
        const bool b = b_->IsLeader();
        ++samples_;
        if (a && b) ++both_;
        if (b && !b_led_.load()) {
          absl::MutexLock lock(&mu_);
          b_first_led_ = absl::Now();
          b_led_ = true;
        }
        absl::SleepFor(absl::Milliseconds(2));
      }
    });
  }
  ~Sampler() { Finish(); }
  void Finish() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int both() const { return both_.load(); }
  int samples() const { return samples_.load(); }
  bool b_led() const { return b_led_.load(); }
  absl::Time b_first_led() {
    absl::MutexLock lock(&mu_);
    return b_first_led_;
  }

 private:
  LeaderElector* const a_;
  LeaderElector* const b_;
  std::atomic<bool> done_{false};
  std::atomic<int> samples_{0};
  std::atomic<int> both_{0};
  std::atomic<bool> b_led_{false};
  absl::Mutex mu_;
  absl::Time b_first_led_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

nlohmann::json LeaseSpec(client::Client& client, const std::string& ns) {
  absl::StatusOr<nlohmann::json> lease = client.Get(kLeases, ns, "operator");
  EXPECT_TRUE(lease.ok()) << lease.status();
  return lease.ok() ? (*lease)["spec"] : nlohmann::json();
}

TEST(LeaderElectionE2eTest, StandbyTakesOverWhenTheLeaderDiesWithoutRelease) {
  std::unique_ptr<client::RestClient> admin = NewE2eClient();
  ASSERT_NE(admin, nullptr);
  TestNamespace ns(admin.get(), "le-e2e");
  Candidate a = NewCandidate(ns.name(), "candidate-a", false);
  Candidate b = NewCandidate(ns.name(), "candidate-b", true);
  ASSERT_NE(a.elector, nullptr);
  ASSERT_NE(b.elector, nullptr);
  a.elector->Start();
  ASSERT_TRUE(
      WaitFor([&] { return a.elector->IsLeader(); }, absl::Seconds(20)));
  Sampler sampler(a.elector.get(), b.elector.get());
  b.elector->Start();
  // B sees A renew for a while and stays a standby.
  absl::SleepFor(kLeaseDuration + kRetryPeriod);
  EXPECT_TRUE(a.elector->IsLeader());
  EXPECT_FALSE(sampler.b_led());
  EXPECT_EQ(b.elector->LeaderIdentity(), "candidate-a");

  const absl::Time stopped = absl::Now();
  a.elector->Stop();  // no release: the Lease must expire
  EXPECT_EQ(LeaseSpec(*admin, ns.name())["holderIdentity"], "candidate-a");
  ASSERT_TRUE(WaitFor([&] { return sampler.b_led(); },
                      kLeaseDuration + kRetryPeriod + absl::Seconds(10)));
  const absl::Duration takeover = sampler.b_first_led() - stopped;
  EXPECT_LE(takeover, kLeaseDuration + kRetryPeriod + absl::Seconds(1));
  // Not before the Lease could have expired (A renewed at most a period
  // before it stopped).
  EXPECT_GE(takeover, kLeaseDuration - kRetryPeriod);
  sampler.Finish();
  EXPECT_EQ(sampler.both(), 0) << "of " << sampler.samples() << " samples";
  nlohmann::json spec = LeaseSpec(*admin, ns.name());
  EXPECT_EQ(spec["holderIdentity"], "candidate-b");
  EXPECT_EQ(spec["leaseTransitions"], 1);
  std::cout << "takeover after the leader died: " << takeover << " (lease "
            << kLeaseDuration << ", retry " << kRetryPeriod << "); "
            << sampler.samples() << " samples, both leading in "
            << sampler.both() << "\n";
  b.elector->Stop();
}

TEST(LeaderElectionE2eTest, ReleasedLeaseIsTakenWithinOneRetryPeriod) {
  std::unique_ptr<client::RestClient> admin = NewE2eClient();
  ASSERT_NE(admin, nullptr);
  TestNamespace ns(admin.get(), "le-e2e");
  Candidate a = NewCandidate(ns.name(), "candidate-a", true);
  Candidate b = NewCandidate(ns.name(), "candidate-b", true);
  ASSERT_NE(a.elector, nullptr);
  ASSERT_NE(b.elector, nullptr);
  a.elector->Start();
  ASSERT_TRUE(
      WaitFor([&] { return a.elector->IsLeader(); }, absl::Seconds(20)));
  Sampler sampler(a.elector.get(), b.elector.get());
  b.elector->Start();
  absl::SleepFor(2 * kRetryPeriod);
  EXPECT_FALSE(sampler.b_led());

  a.elector->Stop();  // returns once the release is written
  const absl::Time released = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return sampler.b_led(); }, absl::Seconds(10)));
  const absl::Duration takeover = sampler.b_first_led() - released;
  EXPECT_LE(takeover, kRetryPeriod + absl::Milliseconds(500));
  sampler.Finish();
  EXPECT_EQ(sampler.both(), 0) << "of " << sampler.samples() << " samples";
  nlohmann::json spec = LeaseSpec(*admin, ns.name());
  EXPECT_EQ(spec["holderIdentity"], "candidate-b");
  EXPECT_EQ(spec["leaseTransitions"], 1);
  std::cout << "takeover after a release: " << takeover << " (retry "
            << kRetryPeriod << "); " << sampler.samples()
            << " samples, both leading in " << sampler.both() << "\n";
  b.elector->Stop();
  spec = LeaseSpec(*admin, ns.name());
  EXPECT_EQ(spec["holderIdentity"], "");
}

// A leader whose API connection froze used to keep its workers (its renewal
// request hung for the client's 30 s timeout, then was retried) while the
// standby took over: two active replicas for ~19 s. And its observation
// time, taken before the hung read, later made the live holder's Lease look
// expired: it took the Lease back (leaseTransitions 19 -> 20).
TEST(LeaderElectionE2eTest, AFrozenLeaderStepsDownBeforeTheStandbyTakesOver) {
  std::unique_ptr<client::RestClient> admin = NewE2eClient();
  ASSERT_NE(admin, nullptr);
  TestNamespace ns(admin.get(), "le-freeze");
  absl::StatusOr<client::Config> config = client::LoadConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  std::string host;
  int port = 0;
  ASSERT_TRUE(FreezableProxy::ParseServer(config->server, &host, &port))
      << config->server;
  FreezableProxy proxy(host, port);
  config->server = proxy.Url("https");  // the certificate names 127.0.0.1
  // The default client: 30 s per request, retried. The elector alone must
  // bound the renewal.
  absl::StatusOr<std::unique_ptr<client::RestClient>> via_proxy =
      client::RestClient::Create(*config);
  ASSERT_TRUE(via_proxy.ok()) << via_proxy.status();
  Activity a_activity;
  Activity b_activity;
  Candidate a = NewCandidate(ns.name(), "candidate-a", true,
                             *std::move(via_proxy), &a_activity);
  Candidate b =
      NewCandidate(ns.name(), "candidate-b", true, nullptr, &b_activity);
  ASSERT_NE(a.elector, nullptr);
  ASSERT_NE(b.elector, nullptr);
  a.elector->Start();
  ASSERT_TRUE(
      WaitFor([&] { return a_activity.active.load(); }, absl::Seconds(20)));
  b.elector->Start();
  absl::SleepFor(kLeaseDuration + kRetryPeriod);  // B sees A renew
  ASSERT_TRUE(a_activity.active.load());
  ASSERT_FALSE(b_activity.active.load());
  const int64_t transitions =
      LeaseSpec(*admin, ns.name())["leaseTransitions"].get<int64_t>();

  // Both active (workers running in two replicas), sampled every 2 ms.
  std::atomic<bool> sampling{true};
  std::atomic<int> both_active{0};
  std::atomic<int> samples{0};
  std::thread sampler([&] {
    while (sampling.load()) {
      if (a_activity.active.load() && b_activity.active.load()) ++both_active;
      ++samples;
      absl::SleepFor(absl::Milliseconds(2));
    }
  });

  const absl::Time frozen = absl::Now();
  proxy.Freeze();
  EXPECT_TRUE(WaitFor([&] { return b_activity.active.load(); },
                      kLeaseDuration + kRenewDeadline + absl::Seconds(10)))
      << "the standby never took over";
  absl::Time a_stopped;
  absl::Time b_started;
  {
    absl::MutexLock lock(&a_activity.mu);
    a_stopped = a_activity.stopped;
  }
  {
    absl::MutexLock lock(&b_activity.mu);
    b_started = b_activity.started;
  }
  EXPECT_FALSE(a_activity.active.load())
      << "the frozen leader still runs its workers";
  // Its last renewal was at most a retry period before the freeze.
  EXPECT_LE(a_stopped - frozen, kRenewDeadline + absl::Milliseconds(500));
  EXPECT_LT(a_stopped, b_started);
  nlohmann::json spec = LeaseSpec(*admin, ns.name());
  EXPECT_EQ(spec["holderIdentity"], "candidate-b");
  EXPECT_EQ(spec["leaseTransitions"], transitions + 1);

  // The connection thaws: whatever A's hung requests return, it must not
  // take the Lease from B, which is alive and renewing.
  proxy.Unfreeze();
  const absl::Time thawed = absl::Now();
  int takebacks = 0;
  while (absl::Now() - thawed < 2 * kLeaseDuration + kRetryPeriod) {
    spec = LeaseSpec(*admin, ns.name());
    if (spec["holderIdentity"] != "candidate-b" ||
        spec["leaseTransitions"] != transitions + 1) {
      ++takebacks;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  sampling = false;
  sampler.join();
  EXPECT_EQ(takebacks, 0) << "the Lease changed away from the live holder: "
                          << spec.dump();
  EXPECT_EQ(both_active.load(), 0) << "of " << samples.load() << " samples";
  {
    absl::MutexLock lock(&a_activity.mu);
    EXPECT_EQ(a_activity.starts, 1);
  }
  std::cout << "frozen leader stopped its work " << a_stopped - frozen
            << " after the freeze (renew deadline " << kRenewDeadline
            << "); the standby started " << b_started - frozen
            << " after it (lease " << kLeaseDuration << "); both active in "
            << both_active.load() << " of " << samples.load() << " samples\n";
  b.elector->Stop();
  a.elector->Stop();
}

}  // namespace
}  // namespace zenlead::runtime
