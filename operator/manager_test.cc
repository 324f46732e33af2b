#include "operator/manager.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/runtime/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "operator/http_server.h"

namespace zenlead::op {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);

ProcessEnvironment FakeEnv(const std::map<std::string, std::string>& vars) {
  ProcessEnvironment env;
  env.get_env = [vars](const std::string& name) {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  };
  env.hostname = [] { return std::string("node-a"); };
  env.pid = [] { return 42; };
  return env;
}

TEST(ResolveDefaultsTest, PodEnvironmentFirstThenHostAndPid) {
  ManagerOptions in_pod = ResolveDefaults(
      ManagerOptions(),
      FakeEnv({{"POD_NAME", "op-1"}, {"POD_NAMESPACE", "zen-lead"}}));
  EXPECT_EQ(in_pod.identity, "op-1");
  EXPECT_EQ(in_pod.leader_election_namespace, "zen-lead");

  ManagerOptions local = ResolveDefaults(ManagerOptions(), FakeEnv({}));
  EXPECT_EQ(local.identity, "node-a_42");
  EXPECT_EQ(local.leader_election_namespace, "zen-lead-system");

  ManagerOptions given;
  given.identity = "me";
  given.leader_election_namespace = "ns";
  given = ResolveDefaults(given, FakeEnv({{"POD_NAME", "op-1"}}));
  EXPECT_EQ(given.identity, "me");
  EXPECT_EQ(given.leader_election_namespace, "ns");
}

ManagerOptions Valid() {
  ManagerOptions o = ResolveDefaults(ManagerOptions(), FakeEnv({}));
  o.leader_elect = true;
  return o;
}

TEST(ValidateOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateOptions(Valid()).ok());
  ManagerOptions disabled = Valid();
  disabled.metrics_bind_address = "0";
  disabled.grpc_bind_address = "0";
  disabled.health_probe_bind_address = "0";
  EXPECT_TRUE(ValidateOptions(disabled).ok());
}

TEST(ManagerOptionsTest, UnauthenticatedServersDefaultToLoopback) {
  const ManagerOptions o;
  for (const std::string& address :
       {o.metrics_bind_address, o.grpc_bind_address}) {
    absl::StatusOr<BindAddress> bind = ParseBindAddress(address);
    ASSERT_TRUE(bind.ok()) << bind.status();
    EXPECT_EQ(bind->host, "127.0.0.1") << address;
  }
  // The kubelet probes the pod's IP.
  absl::StatusOr<BindAddress> probes =
      ParseBindAddress(o.health_probe_bind_address);
  ASSERT_TRUE(probes.ok());
  EXPECT_EQ(probes->host, "");
  EXPECT_EQ(probes->port, 8081);
}

TEST(ValidateOptionsTest, ErrorsNameTheFlag) {
  struct Case {
    std::function<void(ManagerOptions&)> change;
    std::string flag;
  };
  std::vector<Case> cases = {
      {[](ManagerOptions& o) { o.metrics_bind_address = "8080"; },
       "--metrics-bind-address"},
      {[](ManagerOptions& o) { o.grpc_bind_address = "x"; },
       "--grpc-bind-address"},
      {[](ManagerOptions& o) { o.health_probe_bind_address = ":8080"; },
       "--metrics-bind-address (\"127.0.0.1:8080\") and "
       "--health-probe-bind-address (\":8080\") would share a port"},
      {[](ManagerOptions& o) { o.grpc_bind_address = "127.0.0.1:8081"; },
       "--health-probe-bind-address (\":8081\") and --grpc-bind-address"},
      {[](ManagerOptions& o) { o.renew_deadline = absl::Seconds(15); },
       "--renew-deadline (15s) must be less than"},
      {[](ManagerOptions& o) { o.retry_period = absl::Seconds(9); },
       "--retry-period (9s)"},
      {[](ManagerOptions& o) { o.retry_period = absl::ZeroDuration(); },
       "--retry-period"},
      {[](ManagerOptions& o) { o.identity = ""; }, "--identity"},
      {[](ManagerOptions& o) { o.burst = 0; }, "--burst"},
      {[](ManagerOptions& o) { o.heap_trim_interval = absl::Seconds(-1); },
       "--heap-trim-interval"},
      {[](ManagerOptions& o) { o.qps = -1; }, "--qps"},
  };
  for (const Case& c : cases) {
    ManagerOptions o = Valid();
    c.change(o);
    absl::Status s = ValidateOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(s.message(), HasSubstr(c.flag));
  }
  // Without --leader-elect the election flags are not checked.
  ManagerOptions o = Valid();
  o.leader_elect = false;
  o.renew_deadline = absl::Hours(1);
  EXPECT_TRUE(ValidateOptions(o).ok());
}

// Records the manager's calls, in order. Healthy() fails while `*healthy`
// is false.
class FakeController : public Controller {
 public:
  FakeController(std::vector<std::string>* calls, absl::Mutex* mu, bool syncs,
                 const std::atomic<bool>* healthy = nullptr)
      : calls_(calls), mu_(mu), syncs_(syncs), healthy_(healthy) {}
  absl::Status Start() override {
    Record("Start");
    return absl::OkStatus();
  }
  bool HasSynced() const override { return syncs_; }
  void StartWorkers() override { Record("StartWorkers"); }
  void StopWorkers() override { Record("StopWorkers"); }
  void Stop() override { Record("Stop"); }
  absl::Status Healthy() const override {
    if (healthy_ == nullptr || *healthy_) return absl::OkStatus();
    return absl::UnavailableError("worker 1 stuck in one reconcile for 5m");
  }

 private:
  void Record(const std::string& call) {
    absl::MutexLock lock(mu_);
    calls_->push_back(call);
  }
  std::vector<std::string>* calls_;
  absl::Mutex* mu_;
  const bool syncs_;
  const std::atomic<bool>* const healthy_;
};

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    kubeconfig_ =
        std::string(tmp != nullptr ? tmp : "/tmp") + "/manager_test_kubeconfig";
    // An API server that is never contacted: without --leader-elect and with
    // controllers that need no API, the manager only builds the client.
    std::ofstream(kubeconfig_) << R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "t"}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
)";
    logger_ = std::make_unique<runtime::Logger>(
        [this](absl::string_view line) {
          absl::MutexLock lock(&log_mu_);
          lines_.push_back(nlohmann::json::parse(line));
        },
        runtime::LogLevel::kDebug, nullptr);
  }

  ManagerOptions Options() {
    ManagerOptions o = ResolveDefaults(ManagerOptions(), FakeEnv({}));
    o.kubeconfig = kubeconfig_;
    o.metrics_bind_address = "127.0.0.1:0";
    o.health_probe_bind_address = "127.0.0.1:0";
    o.grpc_bind_address = "127.0.0.1:0";
    o.logger = logger_.get();
    return o;
  }

  ControllerFactory Factory(bool syncs,
                            const std::atomic<bool>* healthy = nullptr) {
    return [this, syncs, healthy](const ControllerContext& ctx)
               -> absl::StatusOr<std::vector<std::unique_ptr<Controller>>> {
      EXPECT_NE(ctx.client, nullptr);
      EXPECT_NE(ctx.registry, nullptr);
      EXPECT_NE(ctx.metrics, nullptr);
      EXPECT_NE(ctx.events, nullptr);
      EXPECT_EQ(ctx.identity, "node-a_42");
      std::vector<std::unique_ptr<Controller>> out;
      out.push_back(std::make_unique<FakeController>(&calls_, &calls_mu_, syncs,
                                                     healthy));
      return out;
    };
  }

  // The port a "serving" log line reported for `server`.
  int PortOf(const std::string& server) {
    absl::MutexLock lock(&log_mu_);
    auto logged = [this, &server]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(log_mu_) {
      for (const auto& l : lines_) {
        if (l.value("msg", "") == "serving" && l.value("server", "") == server)
          return true;
      }
      return false;
    };
    if (!log_mu_.AwaitWithTimeout(absl::Condition(&logged), kWait)) return -1;
    for (const auto& l : lines_) {
      if (l.value("msg", "") == "serving" && l.value("server", "") == server) {
        return l.value("port", -1);
      }
    }
    return -1;
  }

  bool AwaitCalls(size_t n) {
    absl::MutexLock lock(&calls_mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(calls_mu_) {
      return calls_.size() >= n;
    };
    return calls_mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }

  std::vector<std::string> Calls() {
    absl::MutexLock lock(&calls_mu_);
    return calls_;
  }

  static httplib::Result Fetch(int port, const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(10);
    c.set_read_timeout(10);
    return c.Get(path.c_str());
  }

  std::string kubeconfig_;
  std::unique_ptr<runtime::Logger> logger_;
  absl::Mutex log_mu_;
  std::vector<nlohmann::json> lines_ ABSL_GUARDED_BY(log_mu_);
  absl::Mutex calls_mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(calls_mu_);
};

TEST_F(ManagerTest, WithoutLeaderElectionRunsWorkersAndShutsDownInOrder) {
  Manager manager(Options(), Factory(/*syncs=*/true));
  absl::Status result;
  std::thread run([&] { result = manager.Run(); });

  ASSERT_TRUE(AwaitCalls(2));  // Start, StartWorkers
  int metrics = PortOf("metrics");
  int probes = PortOf("probes");
  ASSERT_GT(metrics, 0);
  ASSERT_GT(probes, 0);
  EXPECT_GT(PortOf("grpc"), 0);

  httplib::Result res = Fetch(metrics, "/metrics");
  ASSERT_TRUE(res);
  EXPECT_THAT(res->body, HasSubstr("zen_lead_operator_is_leader 1\n"));
  res = Fetch(probes, "/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = Fetch(probes, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  manager.Shutdown();
  run.join();
  EXPECT_TRUE(result.ok()) << result;
  EXPECT_THAT(Calls(),
              ElementsAre("Start", "StartWorkers", "StopWorkers", "Stop"));
  EXPECT_FALSE(Fetch(probes, "/healthz"));  // servers are gone
}

TEST_F(ManagerTest, NotReadyUntilSyncedAndShutdownWhileWaiting) {
  Manager manager(Options(), Factory(/*syncs=*/false));
  absl::Status result;
  std::thread run([&] { result = manager.Run(); });
  ASSERT_TRUE(AwaitCalls(1));  // Start
  int probes = PortOf("probes");
  ASSERT_GT(probes, 0);
  httplib::Result res = Fetch(probes, "/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  res = Fetch(probes, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  manager.Shutdown();
  run.join();
  EXPECT_TRUE(result.ok()) << result;
  // Never synced, so workers never started.
  EXPECT_THAT(Calls(), ElementsAre("Start", "Stop"));
}

TEST_F(ManagerTest, HealthzFailsWhileAControllerIsUnhealthy) {
  std::atomic<bool> healthy{false};
  Manager manager(Options(), Factory(/*syncs=*/true, &healthy));
  absl::Status result;
  std::thread run([&] { result = manager.Run(); });
  ASSERT_TRUE(AwaitCalls(2));  // Start, StartWorkers
  int probes = PortOf("probes");
  ASSERT_GT(probes, 0);

  httplib::Result res = Fetch(probes, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body,
            "[-]controllers failed: controller 0: worker 1 stuck in one "
            "reconcile for 5m\nhealthz check failed\n");
  res = Fetch(probes, "/readyz");  // readiness is about the caches
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  healthy = true;
  res = Fetch(probes, "/healthz?verbose");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "[+]controllers ok\nhealthz check passed\n");

  manager.Shutdown();
  run.join();
  EXPECT_TRUE(result.ok()) << result;
}

TEST_F(ManagerTest, StartupErrorsAreReturned) {
  ManagerOptions o = Options();
  o.kubeconfig = kubeconfig_ + ".missing";
  Manager missing(o, Factory(true));
  absl::Status s = missing.Run();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(".missing"));

  Manager failing(
      Options(),
      [](const ControllerContext&)
          -> absl::StatusOr<std::vector<std::unique_ptr<Controller>>> {
        return absl::InternalError("factory says no");
      });
  s = failing.Run();
  EXPECT_THAT(s.message(), HasSubstr("factory says no"));
}

}  // namespace
}  // namespace zenlead::op
