// Leader election between two candidates in one process, each with its own
// RestClient, on a real Lease (e2e/cluster; KUBECONFIG). Both candidates'
// IsLeader() are sampled every 2 ms throughout: never both true.
//
// - The leader stops WITHOUT releasing (as if it died): the standby takes
//   over within lease_duration + retry_period (+1 s for API latency on a
//   busy machine) of the stop.
// - The leader stops and releases: the standby takes over within one
//   retry_period (+0.5 s).
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
#include "api/client/leader_election.h"
#include "api/client/logging.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "gtest/gtest.h"

namespace zenlead::client {
namespace {

using testing::NewE2eClient;
using testing::TestNamespace;
using testing::WaitFor;

const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
constexpr absl::Duration kLeaseDuration = absl::Seconds(6);
constexpr absl::Duration kRenewDeadline = absl::Seconds(4);
constexpr absl::Duration kRetryPeriod = absl::Seconds(1);

struct Candidate {
  std::unique_ptr<RestClient> client;
  std::unique_ptr<LeaderElector> elector;
};

Candidate NewCandidate(const std::string& ns, const std::string& identity,
                       bool release_on_cancel) {
  Candidate c;
  c.client = NewE2eClient();
  if (c.client == nullptr) return c;
  LeaderElectionConfig config;
  config.lease_namespace = ns;
  config.lease_name = "operator";
  config.identity = identity;
  config.lease_duration = kLeaseDuration;
  config.renew_deadline = kRenewDeadline;
  config.retry_period = kRetryPeriod;
  config.release_on_cancel = release_on_cancel;
  config.callbacks.on_started_leading = [identity] {
    std::cout << identity << ": started leading\n";
  };
  config.callbacks.on_stopped_leading = [identity] {
    std::cout << identity << ": stopped leading\n";
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

nlohmann::json LeaseSpec(Client& client, const std::string& ns) {
  absl::StatusOr<nlohmann::json> lease = client.Get(kLeases, ns, "operator");
  EXPECT_TRUE(lease.ok()) << lease.status();
  return lease.ok() ? (*lease)["spec"] : nlohmann::json();
}

TEST(LeaderElectionE2eTest, StandbyTakesOverWhenTheLeaderDiesWithoutRelease) {
  std::unique_ptr<RestClient> admin = NewE2eClient();
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
  std::unique_ptr<RestClient> admin = NewE2eClient();
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

}  // namespace
}  // namespace zenlead::client
