// Admission webhook benchmark (issue 12), run by e2e/bench/webhook.sh
// against the zen-lead process serving its webhook in URL mode on a local
// control plane.
//
// --mode=setup, before the process starts: in --ns, --pools pools (a
// LeaderPolicy, an opted-in Service, --pods_per_pool bare pods each on the
// kwok nodes) and a Deployment of no pool (--outside_replicas pods), so the
// process's cache holds what a cluster's does.
//
// --mode=measure, with the process serving and its configuration written:
//   1. direct: AdmissionReviews straight to the webhook port over
//      kept-alive TLS, open loop (e2e/bench/webhook_load.h): Pod CREATEs of
//      a pod of that Deployment (the object as the API server sends it: a
//      pod created through the API server, with its defaults, managedFields
//      and owner) at each of --rates, and LeaderPolicy CREATEs at
//      --policy_rate; per run p50/p90/p99/p99.9/max, errors (anything but
//      HTTP 200 with the request's own uid and the expected answer), the
//      rate achieved, the process's CPU (utime+stime, /proc/PID/stat) as a
//      share of one core, beside the same process idle for as long and
//      the load generator's own CPU;
//   2. through the API server: --creates pod CREATEs in --ns (the webhook
//      registered for it) and as many in --plain_ns (not registered),
//      alternating one by one in a random order, so drift hits both;
//      p50/p99 of each, the difference and the ratio, and the webhook's
//      own count and mean latency for those calls (its /metrics), which
//      shows the API server really called it.
// Every run's samples go to --out_dir (webhook-*.dat, drawn by
// e2e/bench/plot_webhook.sh).
//
//   webhook_bench --mode=setup --ns=bench
//   webhook_bench --mode=measure --ns=bench --plain_ns=bench-plain
//     --webhook_port=9443 --ca_file=ca.crt --server_pid=1234
//     --metrics_port=8080 --out_dir=/tmp/out     (one command line)
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/rest_client.h"
#include "api/pool/objects.h"
#include "api/types/deployment.h"
#include "api/types/leaderpolicy.h"
#include "api/types/pod.h"
#include "api/types/replicaset.h"
#include "api/types/service.h"
#include "e2e/bench/webhook_load.h"
#include "httplib.h"
#include "webhook/admission_review.h"
#include "webhook/server.h"

ABSL_FLAG(std::string, mode, "measure", "setup or measure.");
ABSL_FLAG(std::string, ns, "bench",
          "Namespace of the pools and of the pods reviewed (the webhook is "
          "registered for it).");
ABSL_FLAG(std::string, plain_ns, "bench-plain",
          "Namespace the webhook is not registered for (pod creates without "
          "it).");
ABSL_FLAG(int, pools, 200, "setup: pools.");
ABSL_FLAG(int, pods_per_pool, 5, "setup: pods per pool.");
ABSL_FLAG(int, outside_replicas, 50,
          "setup: replicas of the Deployment of no pool.");
ABSL_FLAG(int, nodes, 3, "kwok nodes kwok-node-0..N-1 to place pods on.");
ABSL_FLAG(int, webhook_port, 0, "measure: the webhook's port on 127.0.0.1.");
ABSL_FLAG(std::string, ca_file, "",
          "measure: the CA (PEM) the webhook's certificate is issued by.");
ABSL_FLAG(int, server_pid, 0, "measure: the zen-lead process (its CPU).");
ABSL_FLAG(int, metrics_port, 0,
          "measure: the process's /metrics on 127.0.0.1 (0: not read).");
ABSL_FLAG(std::string, rates, "1000,5000",
          "measure: Pod review rates (requests/s), one run each.");
ABSL_FLAG(double, policy_rate, 200, "measure: LeaderPolicy review rate.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "measure: length of each direct run (and of the idle window).");
ABSL_FLAG(int, connections, 16, "measure: kept-alive connections.");
ABSL_FLAG(int, creates, 1000,
          "measure: pod creates through the API server per namespace.");
ABSL_FLAG(std::string, out_dir, ".", "measure: where webhook-*.dat go.");
ABSL_FLAG(double, create_rate, 50,
          "measure: pod creates per second through the API server, both "
          "namespaces together (0: one after another). Back to back, the "
          "creates keep a 2-CPU machine 95% busy, and the p99 of both sides "
          "is then the wait for a CPU.");
ABSL_FLAG(std::string, layout, "shared",
          "measure: how the CPUs are shared, for the printed figures and "
          "the data files (webhook.sh: shared, or isolated when the "
          "zen-lead process and this bench run on a CPU the control plane "
          "does not use).");

namespace {

namespace client = zenlead::client;
namespace k8s = zenlead::k8s;
namespace pool = zenlead::pool;
namespace v1alpha1 = zenlead::api::v1alpha1;
namespace webhook = zenlead::webhook;
namespace bench = zenlead::bench;

using Labels = std::map<std::string, std::string>;

constexpr char kOutsideApp[] = "shop-web";

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "webhook_bench: %s\n", what.c_str());
  std::fflush(stdout);
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Fail(what + ": " + v.status().ToString());
  return *std::move(v);
}

void Must(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Fail(what + ": " + s.ToString());
}

std::unique_ptr<client::RestClient> NewClient() {
  client::Config config = Must(client::LoadConfig(), "kubeconfig");
  config.qps = 2000;
  config.burst = 4000;
  return Must(client::RestClient::Create(config), "client");
}

// Calls until it returns true, or fails after `limit` saying `what`.
void WaitFor(const std::string& what, absl::Duration limit,
             const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > deadline) Fail(absl::StrCat("timed out: ", what));
    absl::SleepFor(absl::Milliseconds(250));
  }
}

// The Deployment of no pool whose pods the Pod reviews are about: what a
// typical application's manifest holds (ports, env, resources, probes, a
// mounted ConfigMap, a security context), so the review is as large as the
// API server's usually are.
k8s::Deployment OutsideDeployment(int replicas) {
  static constexpr char kManifest[] = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "shop-web", "labels": {"app": "shop-web",
    "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/version": "2.14.1"}},
  "spec": {
    "selector": {"matchLabels": {"app": "shop-web"}},
    "template": {
      "metadata": {"labels": {"app": "shop-web", "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/version": "2.14.1"},
        "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
      "spec": {
        "containers": [{
          "name": "web", "image": "registry.example/shop/web:2.14.1",
          "args": ["--listen=:8080", "--metrics=:9090", "--config=/etc/shop/web.yaml"],
          "ports": [{"name": "http", "containerPort": 8080},
                    {"name": "metrics", "containerPort": 9090}],
          "env": [{"name": "SHOP_ENV", "value": "production"},
                  {"name": "SHOP_REGION", "value": "eu-west-1"},
                  {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                  {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                  {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
          "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"}},
          "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
          "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                            "initialDelaySeconds": 10, "periodSeconds": 10},
          "volumeMounts": [{"name": "config", "mountPath": "/etc/shop", "readOnly": true}],
          "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                              "allowPrivilegeEscalation": false,
                              "capabilities": {"drop": ["ALL"]}}
        }],
        "volumes": [{"name": "config", "configMap": {"name": "shop-web"}}],
        "terminationGracePeriodSeconds": 30
      }
    }
  }
})";
  k8s::Deployment d = Must(
      k8s::Deployment::FromJson(nlohmann::json::parse(kManifest)), "manifest");
  d.spec->replicas = replicas;
  return d;
}

// Runs fn(0..n-1) on `threads` threads.
void ForEach(int n, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  }
  for (std::thread& w : workers) w.join();
}

k8s::Pod PoolPod(const std::string& pool_name, int index, int nodes) {
  k8s::Pod pod;
  k8s::ObjectMeta& meta = pod.metadata.emplace();
  meta.name = absl::StrCat(pool_name, "-", index);
  meta.labels = Labels{{"pool", pool_name}};
  k8s::PodSpec& spec = pod.spec.emplace();
  spec.node_name = absl::StrCat("kwok-node-", index % nodes);
  k8s::Container& c = spec.containers.emplace().emplace_back();
  c.name = "app";
  c.image = "registry.example/app:1";
  k8s::ContainerPort& port = c.ports.emplace().emplace_back();
  port.name = "http";
  port.container_port = 8080;
  return pod;
}

int Setup(client::RestClient& api) {
  const std::string ns = absl::GetFlag(FLAGS_ns);
  const int pools = absl::GetFlag(FLAGS_pools);
  const int per_pool = absl::GetFlag(FLAGS_pods_per_pool);
  const int nodes = absl::GetFlag(FLAGS_nodes);
  const int outside = absl::GetFlag(FLAGS_outside_replicas);
  const absl::Time start = absl::Now();
  v1alpha1::LeaderPolicyClient policies(api);
  k8s::ServiceClient services(api);
  k8s::PodClient pods(api);
  ForEach(pools, 8, [&](int i) {
    const std::string name = absl::StrCat("p", i);
    v1alpha1::LeaderPolicy policy;
    policy.metadata.emplace().name = name;
    policy.spec.emplace();
    Must(policies.Create(ns, policy).status(), "create LeaderPolicy " + name);
    k8s::Service service;
    k8s::ObjectMeta& meta = service.metadata.emplace();
    meta.name = name;
    meta.annotations =
        Labels{{pool::kEnabledAnnotation, "true"}, {pool::kPoolLabel, name}};
    k8s::ServiceSpec& spec = service.spec.emplace();
    spec.selector = Labels{{"pool", name}};
    k8s::ServicePort& port = spec.ports.emplace().emplace_back();
    port.name = "http";
    port.port = 80;
    port.target_port = zenlead::openapi::IntOrString("http");
    Must(services.Create(ns, service).status(), "create Service " + name);
    for (int j = 0; j < per_pool; ++j) {
      Must(pods.Create(ns, PoolPod(name, i * per_pool + j, nodes)).status(),
           "create pod of " + name);
    }
  });
  k8s::DeploymentClient deployments(api);
  Must(deployments.Create(ns, OutsideDeployment(outside)).status(),
       "create the Deployment of no pool");
  const int want = pools * per_pool + outside;
  WaitFor(absl::StrCat(want, " pods Ready"), absl::Minutes(5), [&] {
    k8s::PodList list = Must(pods.ListAll(ns), "list pods");
    int ready = 0;
    for (const k8s::Pod& p : list.items) {
      if (!p.status.has_value() || !p.status->conditions.has_value()) continue;
      for (const k8s::PodCondition& c : *p.status->conditions) {
        if (c.type == "Ready" && c.status == "True") ++ready;
      }
    }
    return ready >= want;
  });
  std::printf(
      "setup: %d pools x %d pods and a Deployment of no pool (%d pods) "
      "Ready in %s in namespace %s\n",
      pools, per_pool, outside,
      absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Seconds(1)))
          .c_str(),
      ns.c_str());
  return 0;
}

// CPU time (utime + stime) of a process so far.
absl::Duration ProcessCpu(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(f)),
                   std::istreambuf_iterator<char>());
  // The command name may hold spaces; the fields after it do not.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) Fail(absl::StrCat("no process ", pid));
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(paren + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 of proc(5) (state); utime is 14, stime 15.
  int64_t utime = 0;
  int64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    Fail(absl::StrCat("cannot read /proc/", pid, "/stat"));
  }
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return absl::Seconds(static_cast<double>(utime + stime) / tick);
}

// Busy and total jiffies of the whole machine (/proc/stat).
std::pair<int64_t, int64_t> MachineJiffies() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  int64_t busy = 0;
  int64_t total = 0;
  f >> cpu;
  for (int i = 0; i < 8; ++i) {
    int64_t v = 0;
    f >> v;
    total += v;
    if (i != 3 && i != 4) busy += v;  // idle, iowait
  }
  return {busy, total};
}

absl::Duration SelfCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return absl::DurationFromTimeval(u.ru_utime) +
         absl::DurationFromTimeval(u.ru_stime);
}

// CPU use over a window, as a share of one core.
class CpuWindow {
 public:
  explicit CpuWindow(pid_t server)
      : server_(server),
        wall_(absl::Now()),
        server_cpu_(ProcessCpu(server)),
        self_cpu_(SelfCpu()),
        machine_(MachineJiffies()) {}
  struct Shares {
    double server = 0;  // percent of one core
    double self = 0;
    double machine = 0;  // percent of all CPUs
  };
  Shares Used() const {
    const absl::Duration wall = absl::Now() - wall_;
    const auto [busy, total] = MachineJiffies();
    return {100 * absl::FDivDuration(ProcessCpu(server_) - server_cpu_, wall),
            100 * absl::FDivDuration(SelfCpu() - self_cpu_, wall),
            total > machine_.second
                ? 100.0 * static_cast<double>(busy - machine_.first) /
                      static_cast<double>(total - machine_.second)
                : 0.0};
  }

 private:
  const pid_t server_;
  const absl::Time wall_;
  const absl::Duration server_cpu_;
  const absl::Duration self_cpu_;
  const std::pair<int64_t, int64_t> machine_;
};

// A webhook's own latency histogram (zen_lead_webhook_latency_seconds,
// from a complete request to its answer), read from /metrics.
struct WebhookCounter {
  double count = 0;
  double sum_s = 0;
  std::map<double, double> buckets;  // upper bound (s; +Inf) -> cumulative
};

WebhookCounter ScrapeWebhook(const std::string& webhook_name) {
  WebhookCounter out;
  const int port = absl::GetFlag(FLAGS_metrics_port);
  if (port <= 0) return out;
  httplib::Client metrics("127.0.0.1", port);
  httplib::Result res = metrics.Get("/metrics");
  if (!res || res->status != 200) Fail("cannot read the process's /metrics");
  constexpr char kName[] = "zen_lead_webhook_latency_seconds";
  const std::string label = absl::StrCat("webhook=\"", webhook_name, "\"");
  const std::string count = absl::StrCat(kName, "_count{", label, "} ");
  const std::string sum = absl::StrCat(kName, "_sum{", label, "} ");
  const std::string bucket = absl::StrCat(kName, "_bucket{", label, ",le=\"");
  for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
    if (absl::ConsumePrefix(&line, count)) {
      absl::SimpleAtod(line, &out.count);
    } else if (absl::ConsumePrefix(&line, sum)) {
      absl::SimpleAtod(line, &out.sum_s);
    } else if (absl::ConsumePrefix(&line, bucket)) {
      std::vector<absl::string_view> le_value = absl::StrSplit(line, "\"} ");
      double le = std::numeric_limits<double>::infinity();
      double v = 0;
      if (le_value.size() == 2 &&
          (le_value[0] == "+Inf" || absl::SimpleAtod(le_value[0], &le)) &&
          absl::SimpleAtod(le_value[1], &v)) {
        out.buckets[le] = v;
      }
    }
  }
  return out;
}

// The reviews between two scrapes: count, mean, and the bucket bound below
// which 99% of them fell.
std::string WebhookDelta(const WebhookCounter& before,
                         const WebhookCounter& after) {
  if (absl::GetFlag(FLAGS_metrics_port) <= 0) return "not read";
  const double n = after.count - before.count;
  if (n <= 0) return "no reviews";
  std::string p99 = "?";
  for (const auto& [le, cumulative] : after.buckets) {
    auto was = before.buckets.find(le);
    const double delta =
        cumulative - (was == before.buckets.end() ? 0 : was->second);
    if (delta >= 0.99 * n) {
      p99 = std::isinf(le) ? std::string("+Inf")
                           : absl::StrFormat("%gms", le * 1000);
      break;
    }
  }
  return absl::StrFormat(
      "%.0f reviews, mean %.3fms, p99 <= %s (the server's own histogram, "
      "from a complete request to its answer)",
      n, 1000 * (after.sum_s - before.sum_s) / n, p99);
}

std::string Now() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(),
                          absl::UTCTimeZone());
}

// A pod of the Deployment of no pool, created through the API server: the
// object as admission saw it (defaults, managedFields, owner), less the
// resourceVersion, which is assigned after admission.
k8s::Pod CapturePod(client::RestClient& api, const std::string& ns) {
  k8s::ReplicaSetClient replicasets(api);
  client::ListOptions list;
  list.label_selector = absl::StrCat("app=", kOutsideApp);
  k8s::ReplicaSetList sets = Must(replicasets.ListAll(ns, list), "list RS");
  if (sets.items.size() != 1) Fail("the Deployment of no pool has no one RS");
  const k8s::ReplicaSet& rs = sets.items[0];
  k8s::Pod pod;
  pod.metadata = rs.spec->template_field->metadata;
  k8s::ObjectMeta& meta = *pod.metadata;
  meta.generate_name = absl::StrCat(*rs.metadata->name, "-");
  k8s::OwnerReference owner;
  owner.api_version = k8s::ReplicaSetClient::Resource().ApiVersion();
  owner.kind = "ReplicaSet";
  owner.name = *rs.metadata->name;
  owner.uid = *rs.metadata->uid;
  owner.controller = true;
  owner.block_owner_deletion = true;
  meta.owner_references = std::vector<k8s::OwnerReference>{owner};
  pod.spec = rs.spec->template_field->spec;
  // The ReplicaSet controller deletes this extra pod soon; its copy here is
  // all that is needed.
  k8s::Pod created =
      Must(k8s::PodClient(api).Create(ns, pod), "create the reviewed pod");
  created.metadata->resource_version.reset();
  return created;
}

// A LeaderPolicy as admission sees it (CRD defaults, managedFields),
// named "bench-<id>" so each review asks about a pool of its own.
v1alpha1::LeaderPolicy CapturePolicy(client::RestClient& api,
                                     const std::string& ns) {
  v1alpha1::LeaderPolicyClient policies(api);
  v1alpha1::LeaderPolicy policy;
  policy.metadata.emplace().name = "bench-capture";
  policy.spec.emplace();
  v1alpha1::LeaderPolicy created =
      Must(policies.Create(ns, policy), "create a LeaderPolicy");
  Must(policies.Delete(ns, "bench-capture"), "delete the LeaderPolicy");
  created.metadata->resource_version.reset();
  created.metadata->name = absl::StrCat("bench-", bench::kIdToken);
  return created;
}

struct DirectRun {
  std::string name;  // "pods-1000"
  double rate;
  bench::LatencySummary summary;
  int64_t errors;
  double server_cpu;  // percent of one core
};

std::string WriteDirect(const std::string& name, const bench::LoadOptions& o,
                        const bench::LoadRun& run,
                        const std::vector<bool>& ok) {
  std::string path =
      absl::StrCat(absl::GetFlag(FLAGS_out_dir), "/webhook-", name, ".dat");
  std::ofstream f(path);
  f << "# zen-lead admission webhook benchmark, direct "
       "(e2e/bench/webhook_bench.cc)\n";
  f << absl::StrFormat(
      "# run: name=%s path=%s rate=%g duration_s=%g connections=%d "
      "body_bytes=%d layout=%s date=%s\n",
      name, o.path, o.rate, absl::ToDoubleSeconds(o.duration), o.connections,
      o.body.size(), absl::GetFlag(FLAGS_layout), Now());
  f << "# request scheduled_ms send_lag_ms latency_ms ok\n";
  for (size_t i = 0; i < run.samples.size(); ++i) {
    const bench::Sample& s = run.samples[i];
    f << absl::StrFormat("%d %.3f %.3f %.3f %d\n", i, s.scheduled_ms,
                         s.send_lag_ms, s.latency_ms, ok[i] ? 1 : 0);
  }
  if (!f) Fail("cannot write " + path);
  return path;
}

DirectRun Direct(const std::string& name, const bench::LoadOptions& o,
                 bool want_allowed, const std::string& webhook_name,
                 double idle_cpu) {
  const pid_t server = absl::GetFlag(FLAGS_server_pid);
  std::printf(
      "\n=== direct %s: %g reviews/s for %s over %d connections, "
      "%zu-byte reviews, CPUs %s (%s)\n",
      name.c_str(), o.rate, absl::FormatDuration(o.duration).c_str(),
      o.connections, o.body.size(), absl::GetFlag(FLAGS_layout).c_str(),
      Now().c_str());
  const WebhookCounter before = ScrapeWebhook(webhook_name);
  CpuWindow cpu(server);
  bench::LoadRun run = Must(bench::RunOpenLoop(o), "run " + name);
  const CpuWindow::Shares used = cpu.Used();
  const WebhookCounter after = ScrapeWebhook(webhook_name);
  std::vector<bool> ok(run.samples.size());
  int64_t errors = 0;
  std::map<std::string, int> kinds;
  for (size_t i = 0; i < run.samples.size(); ++i) {
    absl::Status s = bench::CheckAnswer(run.samples[i], static_cast<int64_t>(i),
                                        want_allowed);
    ok[i] = s.ok();
    if (!s.ok()) {
      ++errors;
      ++kinds[std::string(s.message().substr(0, 120))];
    }
  }
  const bench::LatencySummary sum =
      bench::Summarize(bench::LatenciesMs(run.samples));
  std::vector<double> lags;
  for (const bench::Sample& s : run.samples) lags.push_back(s.send_lag_ms);
  const bench::LatencySummary lag = bench::Summarize(lags);
  std::printf("latency (from the scheduled send): %s\n",
              bench::Format(sum).c_str());
  std::printf(
      "send lag (scheduled -> sent): p50=%.3fms p99=%.3fms max=%.3fms\n",
      lag.p50, lag.p99, lag.max);
  std::printf("errors: %lld of %zu\n", static_cast<long long>(errors),
              run.samples.size());
  for (const auto& [what, n] : kinds)
    std::printf("  %d x %s\n", n, what.c_str());
  std::printf(
      "achieved: %.1f reviews/s (%zu answered in %s)\n",
      static_cast<double>(run.samples.size()) /
          absl::ToDoubleSeconds(run.elapsed),
      run.samples.size(),
      absl::FormatDuration(absl::Trunc(run.elapsed, absl::Milliseconds(1)))
          .c_str());
  std::printf(
      "cpu: zen-lead process %.1f%% of one core (%.1f%% more than idle), "
      "load generator %.1f%%, the whole machine %.0f%% of its %d CPUs\n",
      used.server, used.server - idle_cpu, used.self, used.machine,
      static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  std::printf("server side: %s\n", WebhookDelta(before, after).c_str());
  std::printf("data: %s\n", WriteDirect(name, o, run, ok).c_str());
  return {name, o.rate, sum, errors, used.server};
}

// Pod creates through the API server, alternating between the namespace
// the webhook is registered for and one it is not.
void ThroughApiServer(client::RestClient& api, const k8s::Pod& reviewed) {
  const std::string hooked = absl::GetFlag(FLAGS_ns);
  const std::string plain = absl::GetFlag(FLAGS_plain_ns);
  const int creates = absl::GetFlag(FLAGS_creates);
  const int nodes = absl::GetFlag(FLAGS_nodes);
  std::printf(
      "\n=== through the API server: %d pod creates in %s (webhook) "
      "and %d in %s (none), alternating, %s (%s)\n",
      creates, hooked.c_str(), creates, plain.c_str(),
      absl::GetFlag(FLAGS_create_rate) > 0
          ? absl::StrFormat("%g creates/s", absl::GetFlag(FLAGS_create_rate))
                .c_str()
          : "back to back",
      Now().c_str());
  // A bare pod of the same spec (an owner would have its ReplicaSet delete
  // it at once, adding work the plain namespace does not get).
  k8s::Pod pod;
  k8s::ObjectMeta& meta = pod.metadata.emplace();
  meta.generate_name = "api-bench-";
  meta.labels = Labels{{"app", "api-bench"}};
  pod.spec = reviewed.spec;
  k8s::PodClient pods(api);
  std::mt19937 random(12);
  std::vector<double> hooked_ms;
  std::vector<double> plain_ms;
  std::vector<std::pair<int, double>> order;  // 1: hooked
  const WebhookCounter before = ScrapeWebhook("pods");
  CpuWindow cpu(absl::GetFlag(FLAGS_server_pid));
  auto create = [&](const std::string& ns, int i) {
    pod.spec->node_name = absl::StrCat("kwok-node-", i % nodes);
    const absl::Time t = absl::Now();
    Must(pods.Create(ns, pod).status(), "create a pod in " + ns);
    return absl::ToDoubleMilliseconds(absl::Now() - t);
  };
  const double rate = absl::GetFlag(FLAGS_create_rate);
  const absl::Time start = absl::Now();
  int sent = 0;
  for (int i = 0; i < creates; ++i) {
    const bool hooked_first = (random() & 1) != 0;
    for (int k = 0; k < 2; ++k) {
      const bool is_hooked = (k == 0) == hooked_first;
      if (rate > 0)
        absl::SleepFor(start + absl::Seconds(sent / rate) - absl::Now());
      ++sent;
      const double ms = create(is_hooked ? hooked : plain, i);
      (is_hooked ? hooked_ms : plain_ms).push_back(ms);
      order.emplace_back(is_hooked ? 1 : 0, ms);
    }
  }
  const CpuWindow::Shares used = cpu.Used();
  const WebhookCounter after = ScrapeWebhook("pods");
  const bench::LatencySummary h = bench::Summarize(hooked_ms);
  const bench::LatencySummary p = bench::Summarize(plain_ms);
  std::printf("with the webhook:    %s\n", bench::Format(h).c_str());
  std::printf("without the webhook: %s\n", bench::Format(p).c_str());
  std::printf(
      "added by the webhook: p50 %+.3fms (x%.2f), p99 %+.3fms (x%.2f), "
      "mean %+.3fms\n",
      h.p50 - p.p50, h.p50 / p.p50, h.p99 - p.p99, h.p99 / p.p99,
      h.mean - p.mean);
  std::printf("webhook calls seen by the server: %s\n",
              WebhookDelta(before, after).c_str());
  std::printf("cpu: the whole machine %.0f%% of its %d CPUs\n", used.machine,
              static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  if (absl::GetFlag(FLAGS_metrics_port) > 0 &&
      after.count - before.count < creates) {
    Fail(absl::StrFormat(
        "the webhook answered %.0f of %d creates in %s: the API server did "
        "not call it for all (failurePolicy Ignore hides failed calls)",
        after.count - before.count, creates, hooked));
  }
  const std::string path =
      absl::StrCat(absl::GetFlag(FLAGS_out_dir), "/webhook-apiserver.dat");
  std::ofstream f(path);
  f << "# zen-lead admission webhook benchmark, through the API server "
       "(e2e/bench/webhook_bench.cc)\n";
  f << absl::StrFormat(
      "# run: creates=%d hooked=%s plain=%s create_rate=%g date=%s\n", creates,
      hooked, plain, rate, Now());
  f << "# create hooked latency_ms   (hooked 1: the webhook is registered)\n";
  for (size_t i = 0; i < order.size(); ++i) {
    f << absl::StrFormat("%d %d %.3f\n", i, order[i].first, order[i].second);
  }
  if (!f) Fail("cannot write " + path);
  std::printf("data: %s\n", path.c_str());
}

int Measure(client::RestClient& api) {
  const std::string ns = absl::GetFlag(FLAGS_ns);
  const pid_t server = absl::GetFlag(FLAGS_server_pid);
  if (absl::GetFlag(FLAGS_webhook_port) <= 0 || server <= 0 ||
      absl::GetFlag(FLAGS_ca_file).empty()) {
    Fail("--webhook_port, --server_pid and --ca_file are required");
  }
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);

  // The process has reconciled every pool: its initial work is not
  // measured as the webhook's.
  v1alpha1::LeaderPolicyClient policies(api);
  const absl::Time t_sync = absl::Now();
  WaitFor("every pool has a leader", absl::Minutes(5), [&] {
    v1alpha1::LeaderPolicyList list =
        Must(policies.ListAll(ns), "list LeaderPolicies");
    for (const v1alpha1::LeaderPolicy& p : list.items) {
      if (!p.status.has_value() ||
          p.status->phase != v1alpha1::LeaderPolicyStatus::kPhaseStable) {
        return false;
      }
    }
    return !list.items.empty();
  });
  std::printf("every pool Stable %.1fs after the bench started\n",
              absl::ToDoubleSeconds(absl::Now() - t_sync));

  const k8s::Pod pod = CapturePod(api, ns);
  bench::LoadOptions load;
  load.port = absl::GetFlag(FLAGS_webhook_port);
  load.ca_file = absl::GetFlag(FLAGS_ca_file);
  load.duration = duration;
  load.connections = absl::GetFlag(FLAGS_connections);
  load.path = webhook::kPodsPath;
  load.body = bench::ReviewTemplate(
      webhook::PodsRoute(), k8s::PodClient::Resource(),
      k8s::AdmissionRequest::kOperationCREATE, ns, "", pod.ToJson());
  {
    // One review as sent, for the record and for h2load (webhook.sh).
    std::string one = load.body;
    one.replace(one.find(bench::kIdToken), bench::kIdTokenSize,
                bench::RequestId(0));
    std::ofstream(
        absl::StrCat(absl::GetFlag(FLAGS_out_dir), "/webhook-review-pods.json"))
        << one;
  }

  std::printf("\n=== idle: the zen-lead process with no reviews for %s (%s)\n",
              absl::FormatDuration(duration).c_str(), Now().c_str());
  double idle_cpu = 0;
  {
    CpuWindow idle(server);
    absl::SleepFor(duration);
    const CpuWindow::Shares used = idle.Used();
    idle_cpu = used.server;
    std::printf(
        "cpu: zen-lead process %.1f%% of one core, the whole machine %.0f%% "
        "of its %d CPUs\n",
        idle_cpu, used.machine,
        static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  }

  std::vector<DirectRun> runs;
  for (absl::string_view r : absl::StrSplit(absl::GetFlag(FLAGS_rates), ',')) {
    double rate = 0;
    if (!absl::SimpleAtod(r, &rate) || rate <= 0) {
      Fail(absl::StrCat("--rates: not a rate: ", r));
    }
    load.rate = rate;
    runs.push_back(
        Direct(absl::StrCat("pods-", r), load, true, "pods", idle_cpu));
  }

  const v1alpha1::LeaderPolicy policy = CapturePolicy(api, ns);
  bench::LoadOptions policy_load = load;
  policy_load.path = webhook::kLeaderPoliciesPath;
  policy_load.rate = absl::GetFlag(FLAGS_policy_rate);
  policy_load.body = bench::ReviewTemplate(
      webhook::LeaderPoliciesRoute(), v1alpha1::LeaderPolicyClient::Resource(),
      k8s::AdmissionRequest::kOperationCREATE, ns,
      absl::StrCat("bench-", bench::kIdToken), policy.ToJson());
  runs.push_back(
      Direct(absl::StrCat("leaderpolicies-", absl::GetFlag(FLAGS_policy_rate)),
             policy_load, true, "leaderpolicies", idle_cpu));

  if (absl::GetFlag(FLAGS_creates) > 0) ThroughApiServer(api, pod);

  std::printf(
      "\n=== summary, CPUs %s (targets: pods p99 < 1 ms at 1,000/s; "
      "LeaderPolicy p99 < 2 ms)\n",
      absl::GetFlag(FLAGS_layout).c_str());
  for (const DirectRun& r : runs) {
    std::printf(
        "%-22s %6g/s  p50 %.3fms  p99 %.3fms  max %.3fms  mean "
        "%.3fms  errors %lld  cpu %.1f%% (idle %.1f%%)\n",
        r.name.c_str(), r.rate, r.summary.p50, r.summary.p99, r.summary.max,
        r.summary.mean, static_cast<long long>(r.errors), r.server_cpu,
        idle_cpu);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<client::RestClient> api = NewClient();
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "setup") return Setup(*api);
  if (mode == "measure") return Measure(*api);
  Fail("--mode must be setup or measure, not " + mode);
}
