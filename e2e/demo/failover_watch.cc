// The demo's failover probe: deletes (or makes NotReady) the current leader
// of `<service>-leader` and prints how long it took until a watch on the
// leader EndpointSlice showed the new leader.
//
//   failover_watch --namespace=default --service=web --action=delete
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/rest_client.h"

ABSL_FLAG(std::string, namespace, "default", "Namespace of the service.");
ABSL_FLAG(std::string, service, "web", "Source name; watches <name>-leader.");
ABSL_FLAG(std::string, action, "delete",
          "How the leader fails: delete (the pod) or notready (its Ready "
          "condition patched to False, as a kubelet would).");

namespace {

namespace client = zenlead::client;
using nlohmann::json;

const client::Resource kPods{"", "v1", "pods", true};
const client::Resource kSlices{"discovery.k8s.io", "v1", "endpointslices",
                               true};

struct Endpoint {
  std::string pod;
  std::string ip;
};

Endpoint LeaderOf(const json& slice) {
  for (const json& ep : slice.value("endpoints", json::array())) {
    return {ep["targetRef"].value("name", ""),
            ep.value("addresses", json::array()).empty()
                ? ""
                : ep["addresses"][0].get<std::string>()};
  }
  return {};
}

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "failover_watch: %s: %s\n", what.c_str(),
               s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string ns = absl::GetFlag(FLAGS_namespace);
  const std::string slice_name = absl::GetFlag(FLAGS_service) + "-leader";
  absl::StatusOr<client::Config> config = client::LoadConfig();
  if (!config.ok()) return Fail("kubeconfig", config.status());
  auto api = client::RestClient::Create(*config);
  auto watcher = client::RestClient::Create(*config);
  if (!api.ok()) return Fail("client", api.status());
  if (!watcher.ok()) return Fail("client", watcher.status());

  absl::StatusOr<json> slice = (*api)->Get(kSlices, ns, slice_name);
  if (!slice.ok())
    return Fail("get EndpointSlice " + slice_name, slice.status());
  Endpoint old = LeaderOf(*slice);
  if (old.pod.empty()) {
    std::fprintf(stderr, "failover_watch: %s has no leader yet\n",
                 slice_name.c_str());
    return 1;
  }

  absl::Mutex mu;
  Endpoint next;
  absl::Time seen;
  std::thread watch([&] {
    client::WatchOptions o;
    o.field_selector = "metadata.name=" + slice_name;
    o.resource_version = (*slice)["metadata"].value("resourceVersion", "");
    (void)(*watcher)->Watch(kSlices, ns, o, [&](const client::WatchEvent& e) {
      if (e.type != client::WatchEvent::Type::kModified) return true;
      Endpoint now = LeaderOf(e.object);
      if (now.pod.empty() || now.pod == old.pod) return true;
      absl::MutexLock lock(&mu);
      next = now;
      seen = absl::Now();
      return false;
    });
  });

  const bool del = absl::GetFlag(FLAGS_action) == "delete";
  std::printf("leader:     %s (%s)\n", old.pod.c_str(), old.ip.c_str());
  std::printf(
      "failing it: %s\n",
      del ? "deleting the pod" : "patching its Ready condition to False");
  absl::Time t0 = absl::Now();
  absl::Status s;
  if (del) {
    s = (*api)->Delete(kPods, ns, old.pod, {});
  } else {
    json patch = {{"status",
                   {{"conditions", json::array({{{"type", "Ready"},
                                                 {"status", "False"}}})}}}};
    s = (*api)
            ->Patch(kPods, ns, old.pod, client::PatchType::kStrategicMerge,
                    patch, "status")
            .status();
  }
  if (!s.ok()) {
    (*watcher)->Stop();
    watch.join();
    return Fail("fail the leader", s);
  }
  mu.Lock();
  bool ok = mu.AwaitWithTimeout(
      absl::Condition(
          +[](Endpoint* e) { return !e->pod.empty(); }, &next),
      absl::Seconds(30));
  mu.Unlock();
  (*watcher)->Stop();
  watch.join();
  if (!ok) {
    std::fprintf(stderr, "failover_watch: no new leader within 30 s\n");
    return 1;
  }
  std::printf("new leader: %s (%s)\n", next.pod.c_str(), next.ip.c_str());
  std::printf(
      "failover:   %.1f ms from the %s request to the EndpointSlice "
      "update seen by a watch\n",
      absl::ToDoubleMilliseconds(seen - t0),
      del ? "delete" : "readiness patch");
  return 0;
}
