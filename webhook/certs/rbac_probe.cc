// Runs every call webhook/certs makes, for e2e/rbac's check that the Role in
// config/rbac/webhook_certs_role.yaml grants them and nothing more: with
// $KUBECONFIG of zen-lead's ServiceAccount, it creates the certificate
// Secret in NAMESPACE, rotates it (a Converge a year ahead: updates), and
// runs a reloader (list and watch of the one Secret, get, and the update
// that brings the Secret back to this year), then watches the Secret as
// the reloader's informer does. Prints the API calls it made
// (zen_lead_api_requests_total) and exits 1 on any error.
//
//   KUBECONFIG=sa.kubeconfig rbac_probe zen-lead-system
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/rest_client.h"
#include "api/runtime/metrics.h"
#include "api/runtime/runtime_metrics.h"
#include "api/types/secret.h"
#include "webhook/certs/reloader.h"
#include "webhook/certs/secret_store.h"

namespace zenlead::webhook::certs {
namespace {

absl::Status Probe(const std::string& ns, runtime::Registry& registry) {
  absl::StatusOr<client::Config> config = client::LoadConfig();
  if (!config.ok()) return config.status();
  absl::StatusOr<client::RequestObserver> observer =
      runtime::NewRequestMetrics(&registry);
  if (!observer.ok()) return observer.status();
  client::RestClientOptions client_options;
  client_options.observer = *observer;
  absl::StatusOr<std::unique_ptr<client::RestClient>> api =
      client::RestClient::Create(*config, client_options);
  if (!api.ok()) return api.status();

  RotationOptions rotation;
  rotation.service = kDefaultServiceName;
  rotation.ns = ns;
  SecretStore store(api->get(), ns, kDefaultSecretName);
  const absl::Time now = absl::Now();
  absl::StatusOr<Converged> created = Converge(store, now, rotation);
  if (!created.ok()) return created.status();
  absl::StatusOr<Converged> rotated =
      Converge(store, now + absl::Hours(24 * 250), rotation);
  if (!rotated.ok()) return rotated.status();
  if (rotated->written.empty()) {
    return absl::InternalError("a year ahead, nothing was rotated");
  }

  ReloaderOptions options;
  options.ns = ns;
  options.rotation = rotation;
  CertificateReloader reloader(api->get(), options);
  if (absl::Status s = reloader.Start(); !s.ok()) return s;
  if (!reloader.WaitForCertificate(absl::Now() + absl::Seconds(30))) {
    return absl::DeadlineExceededError("the reloader found no certificate");
  }
  // The reloader's informer watches for minutes, and a watch is counted
  // when it ends: one more watch of the same shape, ended by the server.
  client::WatchOptions watch;
  watch.field_selector = absl::StrCat("metadata.name=", kDefaultSecretName);
  watch.timeout = absl::Seconds(1);
  if (absl::Status s = k8s::SecretClient(**api).Watch(
          ns, watch, [](const k8s::SecretWatchEvent&) { return true; });
      !s.ok()) {
    return s;
  }
  reloader.Stop();
  const CertificateReloader::Stats stats = reloader.stats();
  if (stats.errors != 0) {
    return absl::InternalError("the reloader's syncs failed (see the log)");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace zenlead::webhook::certs

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: rbac_probe NAMESPACE\n";
    return 2;
  }
  zenlead::runtime::Registry registry;
  const absl::Status s = zenlead::webhook::certs::Probe(argv[1], registry);
  std::cout << registry.Render();
  if (!s.ok()) {
    std::cerr << "rbac_probe: " << s << "\n";
    return 1;
  }
  return 0;
}
