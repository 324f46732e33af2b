// Informer benchmark (client runtime). On a local control plane it creates
// N pods in a fresh namespace (placed on the kwok fake nodes, which make them
// Running with an IP and conditions, so the objects look like real pods),
// then, for an informer caching the full objects and for one caching a
// projection (what zen-lead's controllers read), measures:
//   - time from Start() to HasSynced (paginated list + handlers) and to the
//     watch being open;
//   - memory per cached pod: the growth of malloc's in-use bytes
//     (mallinfo2().uordblks) while the informer holds the cache, divided by
//     N; the RSS growth (/proc/self/statm, after malloc_trim) is printed too.
// The namespace (and so the pods) is deleted at the end.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel run -c opt //e2e/bench:informer_bench -- --pods=10000
//   (make bench-informer runs it on a cluster of its own)
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/runtime/informer.h"
#include "api/runtime/logging.h"

ABSL_FLAG(int, pods, 10000, "Pods to create.");
ABSL_FLAG(int, threads, 8, "Threads creating pods.");
ABSL_FLAG(int, nodes, 3, "kwok nodes kwok-node-0..N-1 to place pods on.");
ABSL_FLAG(int64_t, page_size, 500, "Informer list page size.");
ABSL_FLAG(bool, keep, false, "Keep the namespace and its pods.");
ABSL_FLAG(std::string, namespace_name, "",
          "Use the pods of this existing namespace: no create, no delete.");
ABSL_FLAG(std::string, measure, "",
          "Internal: \"projected\" or \"full\": only run that informer "
          "against --namespace_name and print its figures (each measurement "
          "runs in a fresh process, so memory figures do not mix).");

namespace {

using nlohmann::json;
namespace client = zenlead::client;
namespace runtime = zenlead::runtime;

const client::Resource kNamespaces{"", "v1", "namespaces", false};
const client::Resource kPods{"", "v1", "pods", true};

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "informer_bench: %s: %s\n", what.c_str(),
               s.ToString().c_str());
  std::exit(1);
}

std::unique_ptr<client::RestClient> NewClient() {
  absl::StatusOr<client::Config> config = client::LoadConfig();
  if (!config.ok()) Die("kubeconfig", config.status());
  config->qps = 0;  // unlimited: the benchmark measures the server and us
  absl::StatusOr<std::unique_ptr<client::RestClient>> c =
      client::RestClient::Create(*config);
  if (!c.ok()) Die("client", c.status());
  return *std::move(c);
}

// What zen-lead's controllers read from a pod; everything else is dropped
// before caching.
json PodProjection(const json& pod) {
  const json& metadata = pod.at("metadata");
  json out = {{"metadata", json::object()}};
  for (const char* field : {"name", "namespace", "uid", "labels",
                            "ownerReferences", "deletionTimestamp"}) {
    if (metadata.contains(field)) out["metadata"][field] = metadata[field];
  }
  if (pod.contains("spec") && pod["spec"].contains("nodeName")) {
    out["spec"]["nodeName"] = pod["spec"]["nodeName"];
  }
  const json status = pod.value("status", json::object());
  for (const char* field : {"phase", "podIP"}) {
    if (status.contains(field)) out["status"][field] = status[field];
  }
  for (const json& condition : status.value("conditions", json::array())) {
    if (condition.value("type", "") == "Ready") {
      out["status"]["conditions"] = json::array({condition});
    }
  }
  return out;
}

json Pod(const std::string& name, int i, int nodes) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"labels",
             {{"app", "informer-bench"},
              {"zen-lead/pool", absl::StrCat("pool-", i % 100)}}},
            {"annotations", {{"bench.zen-lead.io/index", std::to_string(i)}}}}},
          {"spec",
           {{"nodeName", absl::StrCat("kwok-node-", i % nodes)},
            {"tolerations",
             {{{"key", "kwok.x-k8s.io/node"}, {"operator", "Exists"}}}},
            {"containers",
             {{{"name", "app"},
               {"image", "registry.example/app:1.0"},
               {"ports", {{{"name", "http"}, {"containerPort", 8080}}}},
               {"env", {{{"name", "POOL"}, {"value", "bench"}}}},
               {"resources",
                {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}}}}}}}};
}

struct Memory {
  int64_t heap_in_use;  // mallinfo2().uordblks
  int64_t rss;          // /proc/self/statm resident pages * page size
};

// VmHWM from /proc/self/status: the process's peak RSS, in bytes.
int64_t PeakRss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;
    }
  }
  return 0;
}

Memory MeasureMemory() {
  malloc_trim(0);
  Memory m{static_cast<int64_t>(mallinfo2().uordblks), 0};
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  statm >> size >> resident;
  m.rss = resident * sysconf(_SC_PAGESIZE);
  return m;
}

struct Result {
  absl::Duration synced;
  absl::Duration watching;
  size_t cached;
  double heap_per_pod;
  double rss_per_pod;
  int64_t peak_rss;
};

Result RunInformer(const std::string& ns, bool projected) {
  std::unique_ptr<client::RestClient> rest = NewClient();
  runtime::InformerOptions options;
  options.resource = kPods;
  options.ns = ns;
  options.page_size = absl::GetFlag(FLAGS_page_size);
  if (projected) options.projection = PodProjection;
  const Memory before = MeasureMemory();
  auto informer =
      std::make_unique<runtime::Informer>(rest.get(), std::move(options));
  const absl::Time start = absl::Now();
  if (absl::Status s = informer->Start(); !s.ok()) Die("start", s);
  if (!informer->WaitForSync(absl::Now() + absl::Minutes(5))) {
    Die("sync", absl::DeadlineExceededError("not synced after 5 minutes"));
  }
  Result r;
  r.synced = absl::Now() - start;
  while (informer->stats().watches < 1) absl::SleepFor(absl::Milliseconds(1));
  r.watching = absl::Now() - start;
  r.cached = informer->store().Size();
  const Memory after = MeasureMemory();
  const double per = static_cast<double>(std::max<size_t>(r.cached, 1));
  r.heap_per_pod =
      static_cast<double>(after.heap_in_use - before.heap_in_use) / per;
  r.rss_per_pod = static_cast<double>(after.rss - before.rss) / per;
  r.peak_rss = PeakRss();
  informer->Stop();
  informer.reset();
  return r;
}

void Print(const char* what, const Result& r) {
  std::printf(
      "%-9s synced in %6.3f s (watch open at %6.3f s), %zu pods cached, "
      "%6.0f bytes/pod heap in use, %6.0f bytes/pod RSS, peak RSS %.0f MiB\n",
      what, absl::ToDoubleSeconds(r.synced), absl::ToDoubleSeconds(r.watching),
      r.cached, r.heap_per_pod, r.rss_per_pod,
      static_cast<double>(r.peak_rss) / 1048576.0);
}

// Creates the namespace and the pods with `threads` threads, then waits
// (up to 10 minutes) until kwok has made them Running.
void CreatePods(client::RestClient& rest, const std::string& ns, int pods,
                int threads, int nodes) {
  absl::StatusOr<json> created = rest.Create(kNamespaces, "",
                                             {{"apiVersion", "v1"},
                                              {"kind", "Namespace"},
                                              {"metadata", {{"name", ns}}}});
  if (!created.ok()) Die("create namespace", created.status());
  std::printf("informer_bench: %d pods in namespace %s, %d creating threads\n",
              pods, ns.c_str(), threads);
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = next++; i < pods; i = next++) {
        const std::string name = absl::StrCat("bench-", i);
        absl::StatusOr<json> pod = rest.Create(kPods, ns, Pod(name, i, nodes));
        if (!pod.ok() && !client::IsAlreadyExists(pod.status()) &&
            ++failures < 5) {
          std::fprintf(stderr, "create %s: %s\n", name.c_str(),
                       pod.status().ToString().c_str());
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  const absl::Duration took = absl::Now() - start;
  std::printf("created %d pods in %.1f s (%.0f pods/s), %d failed\n", pods,
              absl::ToDoubleSeconds(took), pods / absl::ToDoubleSeconds(took),
              failures.load());

  // Both informers should see the same, settled objects.
  const absl::Time settle_start = absl::Now();
  int running = 0;
  while (absl::Now() - settle_start < absl::Minutes(10)) {
    client::ListOptions options;
    options.field_selector = "status.phase=Running";
    options.limit = 500;
    absl::StatusOr<json> list = client::ListAll(rest, kPods, ns, options);
    running = list.ok() ? static_cast<int>((*list)["items"].size()) : 0;
    if (running >= pods) break;
    absl::SleepFor(absl::Seconds(2));
  }
  std::printf("%d pods Running (kwok) %.1f s later\n", running,
              absl::ToDoubleSeconds(absl::Now() - settle_start));
}

// Runs this binary again with --measure=mode: a fresh process per informer.
void MeasureInChild(const char* mode, const std::string& ns, int pods) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) Die("readlink /proc/self/exe", absl::InternalError("failed"));
  self[n] = '\0';
  const std::string command = absl::StrCat(
      "'", self, "' --measure=", mode, " --namespace_name=", ns,
      " --pods=", pods, " --page_size=", absl::GetFlag(FLAGS_page_size));
  std::fflush(stdout);
  if (std::system(command.c_str()) != 0) {
    Die(absl::StrCat("measure ", mode), absl::InternalError(command));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The informers' own logs are not part of the figures.
  runtime::DefaultLogger().SetLevel(runtime::LogLevel::kError);
  const int pods = absl::GetFlag(FLAGS_pods);
  const std::string measure = absl::GetFlag(FLAGS_measure);
  if (!measure.empty()) {
    const bool projected = measure == "projected";
    Print(measure.c_str(),
          RunInformer(absl::GetFlag(FLAGS_namespace_name), projected));
    return 0;
  }
  const int threads = absl::GetFlag(FLAGS_threads);
  const int nodes = absl::GetFlag(FLAGS_nodes);
  std::unique_ptr<client::RestClient> rest = NewClient();

  std::string ns = absl::GetFlag(FLAGS_namespace_name);
  const bool own_namespace = ns.empty();
  if (own_namespace) {
    std::random_device rd;
    ns = absl::StrCat("informer-bench-", rd() % 100000);
    CreatePods(*rest, ns, pods, threads, nodes);
  }

  // A full object, for scale.
  absl::StatusOr<json> sample = rest->Get(kPods, ns, "bench-0");
  if (sample.ok()) {
    std::printf("one pod: %zu bytes of JSON in full, %zu projected\n",
                sample->dump().size(), PodProjection(*sample).dump().size());
  }
  std::printf(
      "memory method: each informer runs in a fresh process; malloc in-use "
      "bytes (mallinfo2().uordblks) and RSS (/proc/self/statm) before Start() "
      "and after sync, both after malloc_trim(0), divided by the pods cached; "
      "peak RSS is VmHWM\n");
  MeasureInChild("projected", ns, pods);
  MeasureInChild("full", ns, pods);

  if (own_namespace && !absl::GetFlag(FLAGS_keep)) {
    const absl::Time del_start = absl::Now();
    absl::Status deleted =
        rest->Delete(kNamespaces, "", ns, client::DeleteOptions());
    if (!deleted.ok()) Die("delete namespace", deleted);
    while (absl::Now() - del_start < absl::Minutes(10)) {
      absl::StatusOr<json> still = rest->Get(kNamespaces, "", ns);
      if (client::IsNotFound(still.status())) break;
      absl::SleepFor(absl::Seconds(1));
    }
    std::printf("namespace %s and its pods deleted in %.1f s\n", ns.c_str(),
                absl::ToDoubleSeconds(absl::Now() - del_start));
  }
  return 0;
}
