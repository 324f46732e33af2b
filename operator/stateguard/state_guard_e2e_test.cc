// StateGuard's operator side on the local control plane (e2e/cluster/up),
// with the real Job controller and garbage collector, and no webhook (its
// admissions are written here as the webhook writes them, or missing on
// purpose): a Job pool's Lease follows its running pod and frees when it
// goes; the status reads Stable/Idle with the running pod as
// currentHolder; a Job that cannot start while another runs gets a
// JobWaiting Event; two active pods are reported; a reservation binds to
// the admitted Job's pod, or expires when none comes; a Job pool's Lease
// outlives the TrafficDirector's orphan-Lease grace.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/pool/cache.h"
#include "api/pool/pool_lease.h"
#include "api/runtime/meta.h"
#include "api/runtime/metrics.h"
#include "api/types/job.h"
#include "api/types/leaderpolicy.h"
#include "api/types/pod.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operator/leaderservice/leader_registry.h"
#include "operator/stateguard/state_guard.h"
#include "operator/trafficdirector/traffic_director.h"

namespace zenlead::op {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using ::testing::HasSubstr;
using json = nlohmann::json;

const client::Resource& kJobs = k8s::JobClient::Resource();
const client::Resource& kPods = k8s::PodClient::Resource();
const client::Resource& kPolicies =
    api::v1alpha1::LeaderPolicyClient::Resource();
const client::Resource kQuotas{"", "v1", "resourcequotas", true};
constexpr char kPool[] = "batch";

// A Job of the pool. pending: its pod asks for a node that does not exist,
// so it stays Pending (active); kwok would otherwise complete it at once.
json Job(const std::string& name, bool pending, bool suspend = false) {
  json spec = {{"restartPolicy", "Never"},
               {"containers",
                json::array({{{"name", "app"}, {"image", "example/app"}}})}};
  if (pending) spec["nodeSelector"] = {{"zen-lead.io/test-node", "none"}};
  return {
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata", {{"name", name}, {"labels", {{"zen-lead/pool", kPool}}}}},
      {"spec",
       {{"suspend", suspend},
        {"backoffLimit", 0},
        {"template", {{"spec", spec}}}}}};
}

class StateGuardE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(client::testing::InstallLeaderPolicyCrd());
  }

  void SetUp() override {
    api_ = NewE2eClient();
    ASSERT_NE(api_, nullptr);
    ns_ = std::make_unique<TestNamespace>(api_.get(), "sg");
    const client::Resource kSa{"", "v1", "serviceaccounts", true};
    ASSERT_TRUE(WaitFor([&] { return api_->Get(kSa, ns(), "default").ok(); },
                        absl::Seconds(30)));
  }

  void TearDown() override {
    if (td_) td_->Stop();
    if (guard_) guard_->Stop();
    if (cache_) cache_->Stop();
    td_.reset();
    guard_.reset();
  }

  const std::string& ns() const { return ns_->name(); }

  // StateGuard (and, when asked, the TrafficDirector) on one cache, as the
  // operator process runs them.
  void StartOperator(bool with_traffic_director = false) {
    watch_ = NewE2eClient();
    writer_ = NewE2eClient();
    ASSERT_NE(watch_, nullptr);
    ASSERT_NE(writer_, nullptr);
    pool::CacheOptions options;
    options.ns = ns();
    cache_ = std::make_unique<pool::Cache>(
        pool::CacheDeps{watch_.get(), nullptr, nullptr}, options);
    auto record = [this](const EventInfo& e) {
      absl::MutexLock lock(&mu_);
      events_.push_back(e);
    };
    if (with_traffic_director) {
      TrafficDirectorDeps td;
      td.writer = writer_.get();
      td.cache = cache_.get();
      td.registry = &td_registry_;
      TrafficDirectorOptions o;
      o.ns = ns();
      o.orphan_lease_grace = absl::Seconds(1);
      td_ = std::make_unique<TrafficDirector>(td, o);
      ASSERT_TRUE(td_->Start().ok());
    }
    StateGuardDeps deps;
    deps.writer = writer_.get();
    deps.cache = cache_.get();
    deps.registry = &registry_;
    deps.metrics = &metrics_;
    deps.record_event = record;
    guard_ = std::make_unique<StateGuard>(deps, StateGuardOptions());
    ASSERT_TRUE(guard_->Start().ok());
    ASSERT_TRUE(cache_->Start().ok());
    ASSERT_TRUE(WaitFor(
        [&] {
          return guard_->HasSynced() && (td_ == nullptr || td_->HasSynced());
        },
        absl::Seconds(30)));
    if (td_) td_->StartWorkers();
    guard_->StartWorkers();
  }

  void CreatePolicy(json spec = json::object()) {
    ASSERT_TRUE(
        api_->Create(kPolicies, ns(),
                     {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
                      {"kind", "LeaderPolicy"},
                      {"metadata", {{"name", kPool}}},
                      {"spec", spec}})
            .ok());
  }

  json CreateJob(const json& job) {
    absl::StatusOr<json> created = api_->Create(kJobs, ns(), job);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : json();
  }

  // The names of a Job's pods.
  std::vector<std::string> PodsOfJob(const std::string& job) {
    client::ListOptions o;
    o.label_selector = "job-name=" + job;
    std::vector<std::string> out;
    absl::StatusOr<json> list = api_->List(kPods, ns(), o);
    if (!list.ok()) return out;
    for (const json& p : (*list)["items"]) {
      out.push_back(runtime::MetadataString(p, "name"));
    }
    return out;
  }

  std::optional<pool::LeaseRead> Lease() {
    absl::StatusOr<std::optional<pool::LeaseRead>> read =
        pool::ReadLease(*api_, ns(), kPool);
    if (!read.ok()) return std::nullopt;
    return *read;
  }

  json PolicyStatus() {
    absl::StatusOr<json> p = api_->Get(kPolicies, ns(), kPool);
    if (!p.ok() || !p->contains("status")) return json::object();
    return (*p)["status"];
  }

  // The first recorded Event with `reason` (on `name` when given).
  std::optional<EventInfo> EventWith(const std::string& reason,
                                     const std::string& name = "") {
    absl::MutexLock lock(&mu_);
    for (const EventInfo& e : events_) {
      if (e.reason == reason && (name.empty() || e.name == name)) return e;
    }
    return std::nullopt;
  }

  double Metric(const std::string& sample) {
    const std::string text = metrics_.Render();
    size_t at = text.find(sample + " ");
    if (at == std::string::npos) return 0;
    return std::stod(text.substr(at + sample.size() + 1));
  }

  // Writes an admission as the webhook does: a reservation for `owner`
  // (a Job), one token more.
  void Reserve(const json& owner) {
    absl::StatusOr<pool::PoolLease> written = pool::WritePoolLease(
        *api_, ns(), kPool,
        pool::PolicyFromObject(*api_->Get(kPolicies, ns(), kPool)),
        std::nullopt,
        [&](const std::optional<pool::PoolLease>& current)
            -> std::optional<pool::PoolLease> {
          pool::PoolLease l = current.value_or(pool::PoolLease());
          l.state.holder_uid.clear();
          l.state.holder_identity = "test-webhook/req-1";
          l.state.transitions += 1;
          l.state.acquire_time = l.state.renew_time = absl::Now();
          l.reservation = pool::Reservation{
              {"batch/v1", "Job", runtime::MetadataString(owner, "name"),
               runtime::MetadataString(owner, "uid")},
              ""};
          return l;
        },
        absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(written.ok()) << written.status();
  }

  std::unique_ptr<client::RestClient> api_;
  std::unique_ptr<TestNamespace> ns_;
  std::unique_ptr<client::RestClient> watch_;
  std::unique_ptr<client::RestClient> writer_;
  std::unique_ptr<pool::Cache> cache_;
  LeaderRegistry registry_;
  LeaderRegistry td_registry_;
  runtime::Registry metrics_;
  std::unique_ptr<StateGuard> guard_;
  std::unique_ptr<TrafficDirector> td_;
  absl::Mutex mu_;
  std::vector<EventInfo> events_ ABSL_GUARDED_BY(mu_);
};

// The running pod holds the pool (adopted: no webhook admitted it), the
// status names it; when its Job is deleted the pool is Idle, the token kept.
TEST_F(StateGuardE2eTest, TheRunningPodHoldsThePoolThenItIsIdle) {
  CreatePolicy();
  StartOperator();
  CreateJob(Job("first", /*pending=*/true));
  std::string pod;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<std::string> pods = PodsOfJob("first");
        if (pods.empty()) return false;
        pod = pods[0];
        std::optional<pool::LeaseRead> l = Lease();
        return l && !l->state.holder_uid.empty() &&
               l->state.holder_identity == pod;
      },
      absl::Seconds(60)))
      << "the pool Lease does not name the running pod";
  EXPECT_EQ(Lease()->state.transitions, 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        json st = PolicyStatus();
        return st.value("phase", "") == "Stable" &&
               st.contains("currentHolder") &&
               st["currentHolder"].value("name", "") == pod;
      },
      absl::Seconds(30)))
      << PolicyStatus().dump();
  std::optional<PoolLeader> entry = registry_.Get(ns(), kPool);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->pod_name, pod);

  client::DeleteOptions background;
  background.propagation = client::PropagationPolicy::kBackground;
  ASSERT_TRUE(api_->Delete(kJobs, ns(), "first", background).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        std::optional<pool::LeaseRead> l = Lease();
        return l && l->state.holder_uid.empty();
      },
      absl::Seconds(60)))
      << "the Lease still names the deleted pod";
  EXPECT_EQ(Lease()->state.transitions, 1);  // a release takes no token
  ASSERT_TRUE(WaitFor(
      [&] {
        json st = PolicyStatus();
        return st.value("phase", "") == "Idle" && !st.contains("currentHolder");
      },
      absl::Seconds(30)))
      << PolicyStatus().dump();
  EXPECT_EQ(PolicyStatus().value("transitions", 0), 1);
}

// A Job whose pod cannot be created while another Job's pod is active (a
// ResourceQuota of one pod stands in for the webhook's denial) gets a
// JobWaiting Event naming the active pod. Once the quota goes, its pod is
// created too, and the two active pods are a Warning, a Ready=False
// condition and a counted violation.
TEST_F(StateGuardE2eTest, AWaitingJobIsToldAndTwoActivePodsAreReported) {
  CreatePolicy();
  ASSERT_TRUE(api_->Create(kQuotas, ns(),
                           {{"apiVersion", "v1"},
                            {"kind", "ResourceQuota"},
                            {"metadata", {{"name", "one-pod"}}},
                            {"spec", {{"hard", {{"pods", "1"}}}}}})
                  .ok());
  // The quota controller must have counted usage before it refuses.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<json> q = api_->Get(kQuotas, ns(), "one-pod");
        return q.ok() && q->contains("status") &&
               (*q)["status"].contains("used");
      },
      absl::Seconds(30)));
  StartOperator();
  CreateJob(Job("first", true));
  std::string first;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<std::string> pods = PodsOfJob("first");
        if (pods.empty()) return false;
        first = pods[0];
        std::optional<pool::LeaseRead> l = Lease();
        return l && l->state.holder_identity == first;
      },
      absl::Seconds(60)));
  CreateJob(Job("second", true));
  ASSERT_TRUE(WaitFor([&] { return EventWith("JobWaiting", "second"); },
                      absl::Seconds(60)))
      << "no JobWaiting Event on the Job that cannot start";
  EXPECT_THAT(EventWith("JobWaiting", "second")->note,
              HasSubstr("pod " + first + " is active"));
  EXPECT_TRUE(PodsOfJob("second").empty());
  EXPECT_FALSE(EventWith("JobWaiting", "first").has_value());

  ASSERT_TRUE(api_->Delete(kQuotas, ns(), "one-pod", {}).ok());
  ASSERT_TRUE(
      WaitFor([&] { return EventWith("TwoActivePods"); }, absl::Seconds(90)))
      << "two active pods were not reported";
  EXPECT_THAT(EventWith("TwoActivePods")->note, HasSubstr(first));
  EXPECT_EQ(EventWith("TwoActivePods")->kind, "LeaderPolicy");
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const json& c :
             PolicyStatus().value("conditions", json::array())) {
          if (c.value("type", "") == "Ready" &&
              c.value("reason", "") == "TwoActivePods") {
            return true;
          }
        }
        return false;
      },
      absl::Seconds(30)))
      << PolicyStatus().dump();
  EXPECT_EQ(Metric(absl::StrCat("zen_lead_guard_violations_total{namespace=\"",
                                ns(), "\",pool=\"batch\"}")),
            1);
  // The holder stays the pod that held the pool first.
  EXPECT_EQ(Lease()->state.holder_identity, first);
}

// An admission whose pod appears: the reservation becomes the pod's hold
// with the admission's token. One whose pod never comes expires after
// leaseDurationSeconds and the pool is free again, its token kept.
TEST_F(StateGuardE2eTest, AReservationBindsToItsPodOrExpires) {
  CreatePolicy({{"leaseDurationSeconds", 4},
                {"renewDeadlineSeconds", 3},
                {"retryPeriodSeconds", 2}});
  StartOperator();
  json never = CreateJob(Job("never", true, /*suspend=*/true));
  Reserve(never);
  ASSERT_EQ(Lease()->state.transitions, 1);
  const absl::Time reserved = absl::Now();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::optional<pool::LeaseRead> l = Lease();
        return l && !l->reservation && l->state.holder_identity.empty();
      },
      absl::Seconds(20)))
      << "the reservation did not expire";
  EXPECT_GE(absl::Now() - reserved, absl::Seconds(3));
  EXPECT_EQ(Lease()->state.transitions, 1);
  EXPECT_EQ(Metric(absl::StrCat(
                "zen_lead_guard_reservation_expiries_total{namespace=\"", ns(),
                "\",pool=\"batch\"}")),
            1);

  json next = CreateJob(Job("next", true, /*suspend=*/true));
  Reserve(next);
  ASSERT_TRUE(api_->Patch(kJobs, ns(), "next", client::PatchType::kMerge,
                          {{"spec", {{"suspend", false}}}}, "")
                  .ok());
  std::string pod;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<std::string> pods = PodsOfJob("next");
        if (pods.empty()) return false;
        pod = pods[0];
        std::optional<pool::LeaseRead> l = Lease();
        return l && l->state.holder_identity == pod && !l->reservation;
      },
      absl::Seconds(60)))
      << "the reservation was not bound to the Job's pod";
  EXPECT_EQ(Lease()->state.transitions, 2);  // the admission's own token
  // A held pool is renewed, not expired.
  absl::SleepFor(absl::Seconds(6));
  EXPECT_EQ(Lease()->state.holder_identity, pod);
  EXPECT_EQ(Lease()->state.transitions, 2);
}

// With the TrafficDirector in the process (orphan-Lease grace 1 s), a Job
// pool's Lease without a LeaderPolicy stays while a Job names the pool:
// its fencing token is not restarted.
TEST_F(StateGuardE2eTest, AJobPoolsLeaseOutlivesTheOrphanGrace) {
  StartOperator(/*with_traffic_director=*/true);
  CreateJob(Job("keep", true, /*suspend=*/true));
  CreateJob(Job("run", true));
  ASSERT_TRUE(WaitFor(
      [&] {
        std::optional<pool::LeaseRead> l = Lease();
        return l && !l->state.holder_uid.empty();
      },
      absl::Seconds(60)));
  client::DeleteOptions background;
  background.propagation = client::PropagationPolicy::kBackground;
  ASSERT_TRUE(api_->Delete(kJobs, ns(), "run", background).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        std::optional<pool::LeaseRead> l = Lease();
        return l && l->state.holder_uid.empty();
      },
      absl::Seconds(60)));
  absl::SleepFor(absl::Seconds(4));  // four times the grace
  std::optional<pool::LeaseRead> l = Lease();
  ASSERT_TRUE(l.has_value()) << "the Job pool's Lease was deleted";
  EXPECT_EQ(l->state.transitions, 1);
}

}  // namespace
}  // namespace zenlead::op
