// Failover benchmark (issue: the operator). On a local control plane it
// creates N pools of P pods (Services opted in with zen-lead.io/enabled, pods
// placed directly on kwok nodes), starts the zen-lead operator binary, and
// measures:
//   - time from operator start to every pool's leader EndpointSlice written;
//   - failover latency: from just before the leader pod's Ready condition is
//     patched to False (what a kubelet does) until a watch on EndpointSlices
//     shows the leader slice holding a different pod;
//   - the same readiness loss seen through the pool's own Service, a plain
//     Kubernetes Service over the same pods (the alternative a user would
//     pick: kube-controller-manager's EndpointSlice controller marks the
//     endpoint not ready), for every failover;
//   - the operator's RSS (VmRSS, /proc/PID/status) after reconciling and
//     after the failovers.
// With --samples_out, every failover's latencies (and the buckets of the
// operator's zen_lead_failover_latency_seconds) also go to a data file that
// e2e/bench/plot_failover.sh draws.
// With --churn_qps > 0, a background thread flips the readiness of follower
// pods in random pools, so every pool sees churn while failovers run.
//
//   bazel run //e2e/bench:failover_bench -- --operator=$(pwd)/bazel-bin/...
//   (e2e/bench/failover.sh brings a cluster up and runs both sizes)
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/rest_client.h"
#include "httplib.h"

ABSL_FLAG(int, pools, 1, "Number of pools.");
ABSL_FLAG(int, pods_per_pool, 3, "Pods per pool.");
ABSL_FLAG(int, failovers, 200, "Failovers to measure.");
ABSL_FLAG(double, churn_qps, 0, "Follower readiness flips per second.");
ABSL_FLAG(std::string, operator_bin, "", "Path of the zen-lead operator.");
ABSL_FLAG(std::string, ns, "bench", "Namespace to use (created, deleted).");
ABSL_FLAG(int, metrics_port, 0,
          "Serve the operator's /metrics on 127.0.0.1:PORT and print its "
          "failover histogram (0: off).");
ABSL_FLAG(int, nodes, 3, "kwok nodes kwok-node-0..N-1 to place pods on.");
ABSL_FLAG(int, lease_duration_seconds, 0,
          "spec.leaseDurationSeconds of every LeaderPolicy (0: the default).");
ABSL_FLAG(int, renew_deadline_seconds, 0,
          "spec.renewDeadlineSeconds of every LeaderPolicy (0: the default).");
ABSL_FLAG(bool, keep_namespace, false,
          "Leave the namespace and its pools in place at the end.");
ABSL_FLAG(std::string, samples_out, "",
          "Write every failover's latencies and the operator's failover "
          "histogram buckets to this file (gnuplot data, read by "
          "e2e/bench/plot_failover.sh; empty: off).");

namespace {

using nlohmann::json;
using zenlead::client::Resource;
namespace client = zenlead::client;

const Resource kNamespaces{"", "v1", "namespaces", false};
const Resource kPolicies{"coordination.kube-zen.io", "v1alpha1",
                         "leaderpolicies", true};
const Resource kServices{"", "v1", "services", true};
const Resource kPods{"", "v1", "pods", true};
const Resource kSlices{"discovery.k8s.io", "v1", "endpointslices", true};

// The operator child, killed on every way out.
pid_t operator_pid = 0;

// Prints the operator's metrics that explain a slow or stuck failover: the
// work queue, reconciles and API requests by verb and code.
void PrintOperatorDiagnostics() {
  int port = absl::GetFlag(FLAGS_metrics_port);
  if (port <= 0 || operator_pid <= 0) return;
  httplib::Client metrics("127.0.0.1", port);
  auto res = metrics.Get("/metrics");
  if (!res) return;
  std::printf("operator metrics:\n");
  for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
    if (absl::StartsWith(line, "#")) continue;
    if (absl::StartsWith(line, "zen_lead_workqueue_depth") ||
        absl::StartsWith(line, "zen_lead_workqueue_adds_total") ||
        absl::StartsWith(line, "zen_lead_workqueue_retries_total") ||
        absl::StartsWith(line,
                         "zen_lead_workqueue_queue_duration_seconds_sum") ||
        absl::StartsWith(line,
                         "zen_lead_workqueue_queue_duration_seconds_count") ||
        absl::StartsWith(line, "zen_lead_reconcile_duration_seconds_count") ||
        absl::StartsWith(line, "zen_lead_reconcile_errors_total") ||
        absl::StartsWith(line, "zen_lead_lease_renewal_lateness_seconds") ||
        absl::StartsWith(line, "zen_lead_api_requests_total")) {
      std::printf("  %s\n", std::string(line).c_str());
    }
  }
}

void StopOperator() {
  if (operator_pid <= 0) return;
  kill(operator_pid, SIGTERM);
  int status = 0;
  waitpid(operator_pid, &status, 0);
  operator_pid = 0;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "failover_bench: %s\n", what.c_str());
  PrintOperatorDiagnostics();
  StopOperator();
  std::fflush(stdout);
  std::exit(1);
}

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  Fail(what + ": " + s.ToString());
}

std::unique_ptr<client::RestClient> NewClient() {
  absl::StatusOr<client::Config> config = client::LoadConfig();
  if (!config.ok()) Die("kubeconfig", config.status());
  config->qps = 2000;
  config->burst = 4000;
  absl::StatusOr<std::unique_ptr<client::RestClient>> c =
      client::RestClient::Create(*config);
  if (!c.ok()) Die("client", c.status());
  return std::move(*c);
}

std::string PoolName(int i) { return absl::StrCat("p", i); }
std::string PodName(int pool, int j) {
  return absl::StrCat(PoolName(pool), "-", j);
}

// What the EndpointSlice watch has seen, for waiting on it.
class SliceView {
 public:
  void Update(const json& slice, bool deleted) {
    const std::string name = slice["metadata"].value("name", "");
    const json labels = slice["metadata"].value("labels", json::object());
    std::string service = labels.value("kubernetes.io/service-name", "");
    absl::MutexLock lock(&mu_);
    if (labels.value("endpointslice.kubernetes.io/managed-by", "") ==
        "zen-lead") {
      std::string leader;
      if (!deleted) {
        for (const json& ep : slice.value("endpoints", json::array())) {
          leader = ep["targetRef"].value("name", "");
        }
      }
      leaders_[service] = leader;
    } else {
      std::set<std::string>& ready = ready_[name];
      ready.clear();
      if (!deleted) {
        for (const json& ep : slice.value("endpoints", json::array())) {
          if (ep["conditions"].value("ready", false)) {
            ready.insert(ep["targetRef"].value("name", ""));
          }
        }
      }
      ready_by_service_[service] = name;
    }
  }

  std::string Leader(const std::string& service) {
    absl::MutexLock lock(&mu_);
    return leaders_[service];
  }

  // Waits until pred holds (checked under the lock on every update).
  bool Await(const std::function<bool(SliceView&)>& pred, absl::Duration t) {
    absl::Time deadline = absl::Now() + t;
    while (absl::Now() < deadline) {
      if (pred(*this)) return true;
      absl::SleepFor(absl::Microseconds(200));
    }
    return pred(*this);
  }

  bool PlainReady(const std::string& service, const std::string& pod) {
    absl::MutexLock lock(&mu_);
    auto it = ready_by_service_.find(service);
    if (it == ready_by_service_.end()) return false;
    return ready_[it->second].count(pod) > 0;
  }

  int PoolsWithLeader() {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [svc, leader] : leaders_) n += leader.empty() ? 0 : 1;
    return n;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> leaders_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<std::string>> ready_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> ready_by_service_ ABSL_GUARDED_BY(mu_);
};

void SetReady(client::Client& c, const std::string& ns, const std::string& pod,
              bool ready) {
  const char* s = ready ? "True" : "False";
  json patch = {
      {"status",
       {{"conditions",
         json::array({{{"type", "Ready"}, {"status", s}},
                      {{"type", "ContainersReady"}, {"status", s}}})}}}};
  absl::StatusOr<json> r = c.Patch(
      kPods, ns, pod, client::PatchType::kStrategicMerge, patch, "status");
  if (!r.ok()) Die("patch readiness of " + pod, r.status());
}

long RssKiB(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string Percentiles(std::vector<double> ms) {
  if (ms.empty()) return "no samples";
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(
        std::lround(q * static_cast<double>(ms.size() - 1)));
    return ms[std::min(i, ms.size() - 1)];
  };
  return absl::StrFormat("n=%d p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms",
                         ms.size(), at(0.5), at(0.9), at(0.99), ms.back());
}

// One failover as timed by the bench; plain_ms < 0 when the plain Service
// did not drop the endpoint within the wait.
struct Sample {
  int pool;
  double zen_ms;
  double plain_ms;
  double patch_ms;
};

// Writes the raw figures of a run for plot_failover.sh: a "# run:" line of
// key=value pairs, then gnuplot data index 0 (one line per failover, "-" for
// a missing value) and index 1 (the operator's cumulative histogram buckets,
// the last one +Inf), the two separated by two blank lines.
bool WriteSamples(const std::string& path, const std::string& run,
                  const std::vector<Sample>& samples,
                  const std::vector<std::pair<double, double>>& buckets) {
  std::ofstream f(path);
  if (!f) return false;
  f << "# zen-lead failover benchmark (e2e/bench/failover_bench.cc)\n";
  f << "# run: " << run << "\n";
  f << "# index 0, one line per failover: failover pool zen_ms plain_ms "
       "patch_ms\n";
  f << "#   zen_ms: NotReady patch -> leader slice moved; plain_ms: NotReady "
       "patch -> endpoint not ready in the plain Service (- if not seen); "
       "patch_ms: the PATCH round trip\n";
  for (size_t k = 0; k < samples.size(); ++k) {
    const Sample& s = samples[k];
    f << absl::StrFormat(
        "%d %d %.3f %s %.3f\n", k, s.pool, s.zen_ms,
        s.plain_ms < 0 ? std::string("-") : absl::StrFormat("%.3f", s.plain_ms),
        s.patch_ms);
  }
  f << "\n\n# index 1, zen_lead_failover_latency_seconds (the operator's "
       "own view, leader loss seen -> slice write sent): le_ms "
       "cumulative_count\n";
  for (const auto& [le, count] : buckets) {
    f << (le >= 1e300 ? std::string("+Inf") : absl::StrFormat("%g", le * 1000))
      << absl::StrFormat(" %.0f\n", count);
  }
  if (buckets.empty()) f << "# (not scraped)\n";
  return static_cast<bool>(f);
}

// Runs fn(i) for i in [0, n) on `threads` threads.
void Parallel(int n, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> ts;
  ts.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& t : ts) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up in logs
  const int pools = absl::GetFlag(FLAGS_pools);
  const int per_pool = absl::GetFlag(FLAGS_pods_per_pool);
  const std::string ns = absl::GetFlag(FLAGS_ns);
  const std::string operator_bin = absl::GetFlag(FLAGS_operator_bin);
  if (operator_bin.empty()) {
    std::fprintf(stderr, "failover_bench: --operator_bin is required\n");
    return 2;
  }
  std::unique_ptr<client::RestClient> api = NewClient();

  // 1. Pools: a LeaderPolicy, an opted-in Service and P bare pods each.
  absl::Time t_setup = absl::Now();
  absl::StatusOr<json> made = api->Create(kNamespaces, "",
                                          {{"apiVersion", "v1"},
                                           {"kind", "Namespace"},
                                           {"metadata", {{"name", ns}}}});
  if (!made.ok()) Die("create namespace " + ns, made.status());
  const Resource kSa{"", "v1", "serviceaccounts", true};
  while (!api->Get(kSa, ns, "default").ok()) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  json policy_spec = json::object();
  if (int d = absl::GetFlag(FLAGS_lease_duration_seconds); d > 0) {
    policy_spec["leaseDurationSeconds"] = d;
  }
  if (int d = absl::GetFlag(FLAGS_renew_deadline_seconds); d > 0) {
    policy_spec["renewDeadlineSeconds"] = d;
  }
  Parallel(pools, 8, [&](int i) {
    std::string pool = PoolName(i);
    absl::Status s =
        api->Create(kPolicies, ns,
                    {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
                     {"kind", "LeaderPolicy"},
                     {"metadata", {{"name", pool}}},
                     {"spec", policy_spec}})
            .status();
    if (!s.ok()) Die("create policy", s);
    s = api->Create(kServices, ns,
                    {{"apiVersion", "v1"},
                     {"kind", "Service"},
                     {"metadata",
                      {{"name", pool},
                       {"annotations",
                        {{"zen-lead.io/enabled", "true"},
                         {"zen-lead/pool", pool}}}}},
                     {"spec",
                      {{"selector", {{"pool", pool}}},
                       {"ports", json::array({{{"name", "http"},
                                               {"port", 80},
                                               {"targetPort", "http"}}})}}}})
            .status();
    if (!s.ok()) Die("create service", s);
    for (int j = 0; j < per_pool; ++j) {
      json pod = {
          {"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", PodName(i, j)}, {"labels", {{"pool", pool}}}}},
          {"spec",
           {{"nodeName",
             absl::StrCat("kwok-node-",
                          (i * per_pool + j) % absl::GetFlag(FLAGS_nodes))},
            {"containers",
             json::array(
                 {{{"name", "app"},
                   {"image", "example/app"},
                   {"ports", json::array({{{"name", "http"},
                                           {"containerPort", 8080}}})}}})}}}};
      s = api->Create(kPods, ns, pod).status();
      if (!s.ok()) Die("create pod", s);
    }
  });
  // Every pod Ready (kwok).
  for (;;) {
    client::ListOptions o;
    absl::StatusOr<json> list = client::ListAll(*api, kPods, ns, o);
    if (!list.ok()) Die("list pods", list.status());
    int ready = 0;
    for (const json& p : (*list)["items"]) {
      for (const json& c : p["status"].value("conditions", json::array())) {
        if (c.value("type", "") == "Ready" && c.value("status", "") == "True") {
          ++ready;
        }
      }
    }
    if (ready == pools * per_pool) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  std::printf("setup: %d pools x %d pods Ready in %.1fs\n", pools, per_pool,
              absl::ToDoubleSeconds(absl::Now() - t_setup));

  // 2. Watch every EndpointSlice of the namespace.
  SliceView view;
  std::unique_ptr<client::RestClient> watcher = NewClient();
  std::thread watch([&] {
    std::string rv;
    for (;;) {
      client::WatchOptions o;
      o.resource_version = rv;
      absl::Status s =
          watcher->Watch(kSlices, ns, o, [&](const client::WatchEvent& e) {
            if (e.type == client::WatchEvent::Type::kBookmark ||
                e.type == client::WatchEvent::Type::kError) {
              return true;
            }
            rv = e.object["metadata"].value("resourceVersion", rv);
            view.Update(e.object, e.type == client::WatchEvent::Type::kDeleted);
            return true;
          });
      if (absl::IsCancelled(s)) return;
      if (!s.ok()) rv.clear();
    }
  });

  // 3. Start the operator; time until every pool has its leader.
  absl::Time t_start = absl::Now();
  pid_t pid = fork();
  if (pid == 0) {
    std::string ns_flag = "--namespace=" + ns;
    int port = absl::GetFlag(FLAGS_metrics_port);
    std::string metrics_flag =
        port > 0 ? absl::StrCat("--metrics-bind-address=127.0.0.1:", port)
                 : std::string("--metrics-bind-address=0");
    execl(operator_bin.c_str(), operator_bin.c_str(), "--leader-elect=false",
          ns_flag.c_str(), metrics_flag.c_str(),
          "--health-probe-bind-address=0", "--grpc-bind-address=0",
          "--log-level=warning", static_cast<char*>(nullptr));
    std::perror("exec operator");
    _exit(127);
  }
  operator_pid = pid;
  if (!view.Await([&](SliceView& v) { return v.PoolsWithLeader() == pools; },
                  absl::Minutes(10))) {
    Fail(absl::StrFormat("only %d of %d pools got a leader",
                         view.PoolsWithLeader(), pools));
  }
  double reconcile_s = absl::ToDoubleSeconds(absl::Now() - t_start);
  absl::SleepFor(absl::Seconds(2));  // let status writes settle for RSS
  long rss_after_start = RssKiB(pid);

  // 4. Background churn on follower pods.
  std::atomic<bool> stop_churn{false};
  std::atomic<int> churned{0};
  std::thread churn;
  const double churn_qps = absl::GetFlag(FLAGS_churn_qps);
  if (churn_qps > 0) {
    churn = std::thread([&] {
      std::unique_ptr<client::RestClient> c = NewClient();
      std::mt19937 rng(42);
      std::uniform_int_distribution<int> any_pool(0, pools - 1);
      std::uniform_int_distribution<int> any_pod(0, per_pool - 1);
      absl::Duration every = absl::Seconds(1) / churn_qps;
      absl::Time next = absl::Now();
      while (!stop_churn) {
        int i = any_pool(rng);
        std::string leader = view.Leader(PoolName(i) + "-leader");
        std::string pod = PodName(i, any_pod(rng));
        if (pod != leader) {
          SetReady(*c, ns, pod, false);
          SetReady(*c, ns, pod, true);
          churned += 2;
        }
        next += every;
        absl::SleepFor(next - absl::Now());
      }
    });
  }

  // 5. Failovers.
  std::vector<double> zen_ms, plain_ms, patch_ms;
  std::vector<Sample> samples;
  const int failovers = absl::GetFlag(FLAGS_failovers);
  absl::Time t_fail = absl::Now();
  for (int k = 0; k < failovers; ++k) {
    int i = k % pools;
    std::string svc = PoolName(i) + "-leader";
    std::string old = view.Leader(svc);
    if (old.empty()) Fail(absl::StrCat("pool ", svc, " has no leader"));
    absl::Time t0 = absl::Now();
    SetReady(*api, ns, old, false);
    patch_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    // Both views are polled together, so each gets its own first time.
    // The alternative, timed for every failover: the pool's own Service is
    // a plain Kubernetes Service over the same pods (kube-controller-manager
    // marks the endpoint not ready in its EndpointSlice).
    const std::string plain_svc = PoolName(i);
    absl::Time zen_at = absl::InfiniteFuture();
    absl::Time plain_at = absl::InfiniteFuture();
    view.Await(
        [&](SliceView& v) {
          absl::Time now = absl::Now();
          std::string leader = v.Leader(svc);
          if (zen_at == absl::InfiniteFuture() && !leader.empty() &&
              leader != old) {
            zen_at = now;
          }
          if (plain_at == absl::InfiniteFuture() &&
              !v.PlainReady(plain_svc, old)) {
            plain_at = now;
          }
          return zen_at != absl::InfiniteFuture() &&
                 plain_at != absl::InfiniteFuture();
        },
        absl::Seconds(30));
    if (zen_at == absl::InfiniteFuture()) {
      Fail(absl::StrFormat("failover %d of %s (leader %s) timed out after 30s",
                           k, svc, old));
    }
    zen_ms.push_back(absl::ToDoubleMilliseconds(zen_at - t0));
    if (plain_at != absl::InfiniteFuture()) {
      plain_ms.push_back(absl::ToDoubleMilliseconds(plain_at - t0));
    }
    samples.push_back(
        {i, zen_ms.back(),
         plain_at != absl::InfiniteFuture() ? plain_ms.back() : -1,
         patch_ms.back()});
    SetReady(*api, ns, old, true);  // back as a follower (sticky leader)
    // Ready again in the plain Service before this pool fails over again.
    view.Await([&](SliceView& v) { return v.PlainReady(plain_svc, old); },
               absl::Seconds(30));
  }
  double fail_s = absl::ToDoubleSeconds(absl::Now() - t_fail);
  stop_churn = true;
  if (churn.joinable()) churn.join();
  long rss_end = RssKiB(pid);

  // Lease upkeep under that load: a pool Lease whose renewTime is older than
  // its leaseDurationSeconds reads as expired to IsLeader clients.
  const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
  absl::StatusOr<json> leases = client::ListAll(*api, kLeases, ns, {});
  if (!leases.ok()) Die("list leases", leases.status());
  int expired = 0, counted = 0;
  double oldest_s = 0;
  const absl::Time now = absl::Now();
  for (const json& l : (*leases)["items"]) {
    absl::Time renewed;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, l["spec"].value("renewTime", ""),
                         &renewed, &err)) {
      continue;
    }
    ++counted;
    double age = absl::ToDoubleSeconds(now - renewed);
    oldest_s = std::max(oldest_s, age);
    if (age > l["spec"].value("leaseDurationSeconds", 15)) ++expired;
  }

  std::printf("operator start to %d pools reconciled: %.2fs\n", pools,
              reconcile_s);
  std::printf("zen-lead failover (NotReady patch -> leader slice moved): %s\n",
              Percentiles(zen_ms).c_str());
  std::printf("  of which the readiness PATCH round trip itself: %s\n",
              Percentiles(patch_ms).c_str());
  std::printf(
      "plain Service over the same pods (NotReady patch -> endpoint not "
      "ready): %s\n",
      Percentiles(plain_ms).c_str());
  std::printf(
      "failovers: %d in %.1fs; background churn: %d readiness patches "
      "(%.0f/s target)\n",
      failovers, fail_s, churned.load(), churn_qps);
  std::printf("operator RSS: %.1f MiB after reconcile, %.1f MiB at end\n",
              static_cast<double>(rss_after_start) / 1024.0,
              static_cast<double>(rss_end) / 1024.0);
  std::printf(
      "pool Leases at the end: %d, %d expired (renewTime older than "
      "leaseDurationSeconds); oldest renewal %.1fs ago\n",
      counted, expired, oldest_s);

  // The operator's histogram buckets, (le in seconds, cumulative count).
  std::vector<std::pair<double, double>> buckets;
  if (int port = absl::GetFlag(FLAGS_metrics_port); port > 0) {
    httplib::Client metrics("127.0.0.1", port);
    if (auto res = metrics.Get("/metrics")) {
      std::printf(
          "operator's own view (leader loss observed -> slice write sent):\n");
      // Cumulative buckets: the smallest upper bound holding 50% / 99% of
      // the observations bounds p50 / p99 from above.
      for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
        if (!absl::StartsWith(line, "zen_lead_failover_latency_seconds")) {
          continue;
        }
        std::printf("  %s\n", std::string(line).c_str());
        size_t le = line.find("le=\"");
        size_t space = line.rfind(' ');
        if (le == absl::string_view::npos || space == absl::string_view::npos) {
          continue;
        }
        std::string bound(line.substr(le + 4, line.find('"', le + 4) - le - 4));
        double count = std::atof(std::string(line.substr(space + 1)).c_str());
        buckets.push_back(
            {bound == "+Inf" ? 1e300 : std::atof(bound.c_str()), count});
      }
      if (!buckets.empty() && buckets.back().second > 0) {
        const double total = buckets.back().second;
        auto bound_of = [&](double q) {
          for (const auto& [le, count] : buckets) {
            if (count >= q * total) return le;
          }
          return buckets.back().first;
        };
        std::printf(
            "  operator's own failover (%.0f observations): p50 <= %g ms, "
            "p99 <= %g ms\n",
            total, bound_of(0.5) * 1000, bound_of(0.99) * 1000);
      }
    }
  }
  if (const std::string out = absl::GetFlag(FLAGS_samples_out); !out.empty()) {
    const std::string run = absl::StrFormat(
        "pools=%d pods_per_pool=%d failovers=%d churn_qps=%g "
        "lease_duration_seconds=%d renew_deadline_seconds=%d date=%s",
        pools, per_pool, failovers, churn_qps,
        absl::GetFlag(FLAGS_lease_duration_seconds),
        absl::GetFlag(FLAGS_renew_deadline_seconds),
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t_fail, absl::UTCTimeZone()));
    if (!WriteSamples(out, run, samples, buckets)) {
      Fail("cannot write " + out);
    }
  }
  PrintOperatorDiagnostics();
  StopOperator();
  watcher->Stop();
  watch.join();
  if (!absl::GetFlag(FLAGS_keep_namespace)) {
    (void)api->Delete(kNamespaces, "", ns, {});
  }
  return 0;
}
