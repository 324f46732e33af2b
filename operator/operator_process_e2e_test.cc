// The zen-lead-operator binary as processes against the local control plane
// (e2e/cluster): two replicas with --leader-elect elect exactly one leader
// (Lease holder and zen_lead_operator_is_leader agree); SIGTERM on the leader
// releases the Lease so the standby takes over within about one retry
// period; SIGKILL on the new leader leaves the Lease to expire, and a
// restarted replica takes over after the lease duration; a replica whose
// Lease is taken exits 1; the probes answer; --help lists every flag and
// exits 0.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//       --test_env=ZEN_LEAD_CLUSTER_BIN=$ZEN_LEAD_CLUSTER_BIN
//       //operator:operator_process_e2e_test
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/proto/leader_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace zenlead::op {
namespace {

const client::Resource kNamespaces{"", "v1", "namespaces", false};
const client::Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
const client::Resource kPods{"", "v1", "pods", true};
const client::Resource kServices{"", "v1", "services", true};
const client::Resource kSlices{"discovery.k8s.io", "v1", "endpointslices",
                               true};
constexpr char kLeaseName[] = "zen-lead-operator";

// Short timings so the test runs in seconds, with the lease duration well
// above the retry period so that release (≈ retry period) and expiry
// (≈ lease duration) are told apart.
constexpr absl::Duration kLease = absl::Seconds(8);
constexpr absl::Duration kRenew = absl::Seconds(5);
constexpr absl::Duration kRetry = absl::Seconds(1);

std::string RandomSuffix() {
  std::random_device rd;
  std::mt19937 rng(rd());
  const char* chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 6; ++i) out.push_back(chars[rng() % 36]);
  return out;
}

// Polls cond until it holds or the timeout passes.
template <typename Cond>
bool WaitFor(Cond cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return cond();
}

std::string BinaryPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "";
  return absl::StrCat(srcdir, "/", workspace, "/operator/zen-lead-operator");
}

std::string OutputDir() {
  const char* out = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (out != nullptr) return out;
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp != nullptr ? tmp : "/tmp";
}

// One operator process; stdout and stderr go to a log file.
class Operator {
 public:
  Operator(std::string name, std::vector<std::string> args)
      : name_(std::move(name)),
        log_path_(absl::StrCat(OutputDir(), "/", name_, "-",
                               ++instance_counter_, ".log")) {
    std::vector<std::string> argv = {BinaryPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    cargv.reserve(argv.size() + 1);
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    spawn_error_ =
        posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawn_error_ != 0) pid_ = -1;
  }
  ~Operator() {
    if (running()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool spawned() const { return pid_ > 0; }
  bool running() const { return pid_ > 0 && !exit_code_.has_value(); }
  const std::string& name() const { return name_; }

  void Signal(int sig) { kill(pid_, sig); }

  // The exit code once the process ended within timeout (128+n for a
  // signal), nullopt if it is still running.
  std::optional<int> Wait(absl::Duration timeout) {
    WaitFor(
        [&] {
          if (exit_code_.has_value()) return true;
          int status = 0;
          if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status)
                                           : 128 + WTERMSIG(status);
            return true;
          }
          return false;
        },
        timeout);
    return exit_code_;
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The port the "serving" log line reported for `server`; 0 if not yet.
  int Port(const std::string& server) const {
    for (absl::string_view line : absl::StrSplit(Log(), '\n')) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      if (j.value("msg", "") == "serving" && j.value("server", "") == server) {
        return j.value("port", 0);
      }
    }
    return 0;
  }

  int AwaitPort(const std::string& server) const {
    int port = 0;
    WaitFor([&] { return (port = Port(server)) > 0; }, absl::Seconds(30));
    return port;
  }

 private:
  static inline int instance_counter_ = 0;
  const std::string name_;
  const std::string log_path_;
  pid_t pid_ = -1;
  int spawn_error_ = 0;
  std::optional<int> exit_code_;
};

// GET path on 127.0.0.1:port; nullopt when nothing answers.
std::optional<std::pair<int, std::string>> HttpGet(int port,
                                                   const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5);
  c.set_read_timeout(5);
  httplib::Result res = c.Get(path.c_str());
  if (!res) return std::nullopt;
  return std::make_pair(res->status, res->body);
}

// zen_lead_operator_is_leader of the process behind metrics `port`; -1 when
// unreadable.
int IsLeaderMetric(int port) {
  auto res = HttpGet(port, "/metrics");
  if (!res.has_value() || res->first != 200) return -1;
  for (absl::string_view line : absl::StrSplit(res->second, '\n')) {
    if (absl::ConsumePrefix(&line, "zen_lead_operator_is_leader ")) {
      int v = -1;
      return absl::SimpleAtoi(line, &v) ? v : -1;
    }
  }
  return -1;
}

class OperatorProcessE2eTest : public ::testing::Test {
 protected:
  // The TrafficDirector's informers need the LeaderPolicy CRD to sync, and
  // the operator competes for the Lease only once they have.
  static void SetUpTestSuite() {
    ASSERT_TRUE(client::testing::InstallLeaderPolicyCrd());
  }

  void SetUp() override {
    ASSERT_FALSE(BinaryPath().empty()) << "run under bazel test";
    const char* kubeconfig = std::getenv("KUBECONFIG");
    ASSERT_NE(kubeconfig, nullptr)
        << "e2e tests need KUBECONFIG of a running cluster (e2e/cluster/up)";
    kubeconfig_ = kubeconfig;
    absl::StatusOr<client::Config> config = client::LoadConfig();
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<client::RestClient>> c =
        client::RestClient::Create(*config);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
    ns_ = "zl-op-process-" + RandomSuffix();
    nlohmann::json ns = {{"apiVersion", "v1"},
                         {"kind", "Namespace"},
                         {"metadata", {{"name", ns_}}}};
    ASSERT_TRUE(client_->Create(kNamespaces, "", ns).ok());
  }

  void TearDown() override {
    for (auto& op : operators_) {
      if (op != nullptr && (HasFailure() || op->running())) {
        std::cerr << "---- log of " << op->name() << " ----\n"
                  << op->Log() << "\n";
      }
    }
    operators_.clear();
    if (client_ != nullptr && !ns_.empty()) {
      (void)client_->Delete(kNamespaces, "", ns_, client::DeleteOptions());
    }
  }

  Operator* Start(const std::string& identity) {
    operators_.push_back(std::make_unique<Operator>(
        identity,
        std::vector<std::string>{
            "--kubeconfig=" + kubeconfig_,
            "--namespace=" + ns_,
            "--leader-elect",
            "--leader-election-namespace=" + ns_,
            "--identity=" + identity,
            "--leader-election-lease-duration=" + absl::FormatDuration(kLease),
            "--renew-deadline=" + absl::FormatDuration(kRenew),
            "--retry-period=" + absl::FormatDuration(kRetry),
            "--metrics-bind-address=127.0.0.1:0",
            "--health-probe-bind-address=127.0.0.1:0",
            "--grpc-bind-address=127.0.0.1:0",
            "--log-level=debug",
        }));
    Operator* op = operators_.back().get();
    EXPECT_TRUE(op->spawned()) << BinaryPath();
    return op;
  }

  // The Lease's holderIdentity; "" when released or absent.
  std::string Holder() {
    absl::StatusOr<nlohmann::json> lease =
        client_->Get(kLeases, ns_, kLeaseName);
    if (!lease.ok()) return "";
    return lease->value("/spec/holderIdentity"_json_pointer, std::string());
  }

  // Writes the Lease as held by `identity` now (optimistic concurrency:
  // false on a conflict with a renewal).
  bool StealLease(const std::string& identity) {
    absl::StatusOr<nlohmann::json> lease =
        client_->Get(kLeases, ns_, kLeaseName);
    if (!lease.ok()) return false;
    const std::string now = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ",
                                             absl::Now(), absl::UTCTimeZone());
    nlohmann::json& spec = (*lease)["spec"];
    spec["holderIdentity"] = identity;
    spec["acquireTime"] = now;
    spec["renewTime"] = now;
    spec["leaseDurationSeconds"] = 3600;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
    return client_->Update(kLeases, ns_, *lease).ok();
  }

  std::string kubeconfig_;
  std::string ns_;
  std::unique_ptr<client::RestClient> client_;
  std::vector<std::unique_ptr<Operator>> operators_;
};

TEST(OperatorHelpTest, ListsEveryFlagAndExitsZero) {
  ASSERT_FALSE(BinaryPath().empty());
  Operator help("help", {"--help"});
  ASSERT_TRUE(help.spawned());
  ASSERT_EQ(help.Wait(absl::Seconds(30)), 0) << help.Log();
  const std::string out = help.Log();
  for (const char* flag :
       {"--kubeconfig=", "--namespace=", "--leader-elect=",
        "--leader-election-namespace=", "--leader-election-id=",
        "--leader-election-lease-duration=", "--renew-deadline=",
        "--retry-period=", "--identity=", "--metrics-bind-address=",
        "--health-probe-bind-address=", "--grpc-bind-address=", "--log-level=",
        "--qps=", "--burst=", "--heap-trim-interval="}) {
    EXPECT_TRUE(absl::StrContains(out, flag)) << flag << " missing:\n" << out;
  }

  // Validation happens before anything starts: exit 2 with the flag named.
  Operator bad("bad-flag", {"--leader-elect", "--retry-period=9s"});
  ASSERT_TRUE(bad.spawned());
  std::optional<int> code = bad.Wait(absl::Seconds(30));
  EXPECT_EQ(code, 2) << bad.Log();
  EXPECT_TRUE(absl::StrContains(bad.Log(), "--retry-period (9s)")) << bad.Log();
}

TEST_F(OperatorProcessE2eTest,
       OneLeaderReleaseOnSigtermTakeoverAfterKillExitOnLoss) {
  Operator* a = Start("op-a");
  Operator* b = Start("op-b");
  const int a_metrics = a->AwaitPort("metrics");
  const int b_metrics = b->AwaitPort("metrics");
  const int a_probes = a->AwaitPort("probes");
  const int b_probes = b->AwaitPort("probes");
  ASSERT_GT(a_metrics, 0) << a->Log();
  ASSERT_GT(b_metrics, 0) << b->Log();
  ASSERT_GT(a_probes, 0);
  ASSERT_GT(b_probes, 0);
  EXPECT_GT(a->AwaitPort("grpc"), 0);

  // Exactly one leader: the Lease holder, and the metrics agree.
  ASSERT_TRUE(WaitFor([&] { return !Holder().empty(); }, absl::Seconds(30)));
  const std::string first = Holder();
  ASSERT_TRUE(first == "op-a" || first == "op-b") << first;
  Operator* leader = first == "op-a" ? a : b;
  Operator* standby = first == "op-a" ? b : a;
  const int leader_metrics = first == "op-a" ? a_metrics : b_metrics;
  const int standby_metrics = first == "op-a" ? b_metrics : a_metrics;
  ASSERT_TRUE(WaitFor([&] { return IsLeaderMetric(leader_metrics) == 1; },
                      absl::Seconds(30)));
  EXPECT_EQ(IsLeaderMetric(standby_metrics), 0);
  // Stays that way over a few renewals.
  absl::SleepFor(3 * kRetry);  // observation window, not synchronisation
  EXPECT_EQ(Holder(), first);
  EXPECT_EQ(IsLeaderMetric(leader_metrics), 1);
  EXPECT_EQ(IsLeaderMetric(standby_metrics), 0);

  // Probes on both replicas (the caches synced before the election).
  for (int port : {a_probes, b_probes}) {
    auto healthz = HttpGet(port, "/healthz");
    ASSERT_TRUE(healthz.has_value());
    EXPECT_EQ(healthz->first, 200);
    ASSERT_TRUE(WaitFor(
        [&] {
          auto readyz = HttpGet(port, "/readyz");
          return readyz.has_value() && readyz->first == 200;
        },
        absl::Seconds(30)));
  }

  // SIGTERM: graceful exit 0, Lease released, standby leads within about
  // one retry period (far less than the lease duration).
  const absl::Time term = absl::Now();
  leader->Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return Holder() == standby->name(); }, kLease));
  const absl::Duration release_takeover = absl::Now() - term;
  std::cout << "takeover after SIGTERM (release): " << release_takeover << "\n";
  EXPECT_LT(release_takeover, kLease / 2);
  EXPECT_EQ(leader->Wait(absl::Seconds(30)), 0) << leader->Log();
  ASSERT_TRUE(WaitFor([&] { return IsLeaderMetric(standby_metrics) == 1; },
                      absl::Seconds(10)));

  // SIGKILL the new leader: no release. A restarted first replica takes over
  // once the Lease expired: not before lease duration minus the retry period
  // (its holder renewed at most one retry period before dying), and within
  // lease duration + retry period (+ process start).
  const absl::Time killed = absl::Now();
  standby->Signal(SIGKILL);
  EXPECT_EQ(standby->Wait(absl::Seconds(30)), 128 + SIGKILL);
  Operator* restarted = Start(leader->name());
  const int restarted_metrics = restarted->AwaitPort("metrics");
  ASSERT_GT(restarted_metrics, 0) << restarted->Log();
  EXPECT_EQ(IsLeaderMetric(restarted_metrics), 0);
  ASSERT_TRUE(WaitFor([&] { return Holder() == restarted->name(); },
                      kLease + kRetry + absl::Seconds(10)));
  const absl::Duration expiry_takeover = absl::Now() - killed;
  std::cout << "takeover after SIGKILL (expiry): " << expiry_takeover << "\n";
  EXPECT_GE(expiry_takeover, kLease - kRetry);
  EXPECT_LE(expiry_takeover, kLease + kRetry + absl::Seconds(5));
  ASSERT_TRUE(WaitFor([&] { return IsLeaderMetric(restarted_metrics) == 1; },
                      absl::Seconds(10)));

  // Another holder takes the Lease (as after a partition that outlasted the
  // lease): the replica steps down at its next renewal and exits 1, so that
  // the process restarts clean.
  ASSERT_TRUE(
      WaitFor([&] { return StealLease("intruder"); }, absl::Seconds(10)));
  EXPECT_EQ(restarted->Wait(kRenew + absl::Seconds(10)), 1) << restarted->Log();
  EXPECT_TRUE(absl::StrContains(restarted->Log(), "lost the operator lease"))
      << restarted->Log();
  EXPECT_EQ(Holder(), "intruder");
}

// The leader a replica's LeaderService reports for pool `pool`; "" when it
// answers with an error or no leader.
std::string GrpcLeader(int port, const std::string& ns, const std::string& pool,
                       int64_t* token = nullptr) {
  auto stub = v1alpha1::LeaderService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1alpha1::GetLeaderRequest req;
  req.mutable_pool()->set_namespace_(ns);
  req.mutable_pool()->set_name(pool);
  v1alpha1::Leader out;
  if (!stub->GetLeader(&ctx, req, &out).ok() || !out.has_leader()) return "";
  if (token != nullptr) *token = out.fencing_token();
  return out.pod_name();
}

// With a pool present: both replicas answer the LeaderService with the same
// leader (the standby from its caches); SIGKILL of the active replica hands
// the pool to the standby without moving its leader or its fencing token.
TEST_F(OperatorProcessE2eTest, ActiveReplicaKilledKeepsThePoolLeader) {
  // A pool: a Service opted in with zen-lead.io/enabled and three pods on
  // a kwok node (kwok makes them Running and Ready with IPs).
  for (int i = 0; i < 3; ++i) {
    nlohmann::json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", absl::StrCat("db-", i)}, {"labels", {{"app", "db"}}}}},
        {"spec",
         {{"nodeName", "kwok-node-0"},
          {"containers",
           nlohmann::json::array({{{"name", "db"}, {"image", "db"}}})}}}};
    ASSERT_TRUE(client_->Create(kPods, ns_, pod).ok());
  }
  nlohmann::json svc = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", "db"}, {"annotations", {{"zen-lead.io/enabled", "true"}}}}},
      {"spec",
       {{"selector", {{"app", "db"}}},
        {"ports", nlohmann::json::array({{{"port", 5432}}})}}}};
  ASSERT_TRUE(client_->Create(kServices, ns_, svc).ok());

  Operator* a = Start("op-a");
  Operator* b = Start("op-b");
  const int a_grpc = a->AwaitPort("grpc");
  const int b_grpc = b->AwaitPort("grpc");
  ASSERT_GT(a_grpc, 0) << a->Log();
  ASSERT_GT(b_grpc, 0) << b->Log();

  // The leader slice has one endpoint; remember its pod and the token.
  auto slice_leader = [&]() -> std::string {
    absl::StatusOr<nlohmann::json> slice =
        client_->Get(kSlices, ns_, "db-leader");
    if (!slice.ok()) return "";
    const nlohmann::json eps =
        slice->value("endpoints", nlohmann::json::array());
    if (eps.size() != 1) return "";
    return eps[0]["targetRef"].value("name", "");
  };
  auto pool_lease = [&]() -> nlohmann::json {
    absl::StatusOr<nlohmann::json> lease = client_->Get(kLeases, ns_, "db");
    return lease.ok() ? *lease : nlohmann::json();
  };
  ASSERT_TRUE(
      WaitFor([&] { return !slice_leader().empty(); }, absl::Seconds(60)));
  const std::string leader_pod = slice_leader();
  ASSERT_TRUE(
      WaitFor([&] { return pool_lease().is_object(); }, absl::Seconds(30)));
  const int64_t token =
      pool_lease().value("/spec/leaseTransitions"_json_pointer, int64_t{-1});
  ASSERT_GE(token, 1);

  const std::string first = Holder();
  ASSERT_TRUE(first == "op-a" || first == "op-b") << first;
  Operator* active = first == "op-a" ? a : b;
  const int standby_grpc = first == "op-a" ? b_grpc : a_grpc;
  const int active_grpc = first == "op-a" ? a_grpc : b_grpc;

  // Both replicas answer, with the same leader and token.
  int64_t got_token = -1;
  EXPECT_TRUE(
      WaitFor([&] { return GrpcLeader(active_grpc, ns_, "db") == leader_pod; },
              absl::Seconds(10)));
  EXPECT_TRUE(WaitFor(
      [&] {
        return GrpcLeader(standby_grpc, ns_, "db", &got_token) == leader_pod;
      },
      absl::Seconds(10)))
      << "the standby's LeaderService does not report " << leader_pod;
  EXPECT_EQ(got_token, token);

  // SIGKILL the active replica: the standby takes the operator Lease after
  // it expires and reconciles the pool (it renews the pool Lease) without
  // moving the leader.
  const std::string renewed_before =
      pool_lease().value("/spec/renewTime"_json_pointer, std::string());
  active->Signal(SIGKILL);
  EXPECT_EQ(active->Wait(absl::Seconds(30)), 128 + SIGKILL);
  const std::string other = first == "op-a" ? "op-b" : "op-a";
  ASSERT_TRUE(WaitFor([&] { return Holder() == other; },
                      kLease + kRetry + absl::Seconds(10)));
  const absl::Time took_over = absl::Now();
  // The new active replica renews the pool Lease (default policy: every
  // leaseDuration - renewDeadline = 5 s) as the proof that it reconciled.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::Time renewed;
        std::string err;
        const std::string t =
            pool_lease().value("/spec/renewTime"_json_pointer, std::string());
        return t != renewed_before &&
               absl::ParseTime(absl::RFC3339_full, t, &renewed, &err) &&
               renewed >= took_over - absl::Seconds(1);
      },
      absl::Seconds(20)))
      << "the new active replica never renewed the pool Lease";
  EXPECT_EQ(slice_leader(), leader_pod);
  EXPECT_EQ(
      pool_lease().value("/spec/leaseTransitions"_json_pointer, int64_t{-1}),
      token);
  EXPECT_EQ(GrpcLeader(standby_grpc, ns_, "db"), leader_pod);
}

}  // namespace
}  // namespace zenlead::op
