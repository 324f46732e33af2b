// Runs every call webhook/configuration makes, for e2e/rbac's check that
// config/rbac/role.yaml grants them and nothing more: with $KUBECONFIG of
// zen-lead's ServiceAccount, a Writer creates the configuration CONFIG
// owned by the ClusterRole OWNER (get of the owner, an apply that creates),
// lists and watches it by name, and writes a new caBundle (an apply that
// patches), which its watch then sees. A watch is counted when it ends
// (at Stop). Both webhooks are limited to NAMESPACE, so nothing is
// ever sent to the URL it registers. Prints the API calls it made
// (zen_lead_api_requests_total) and exits 1 on any error.
//
//   KUBECONFIG=sa.kubeconfig rbac_probe zen-lead-manager zen-lead-webhook ns
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/rest_client.h"
#include "api/runtime/metrics.h"
#include "e2e/rbac/testing/counting_client.h"
#include "webhook/configuration/writer.h"
#include "webhook/testing/test_certs.h"

namespace zenlead::webhook::configuration {
namespace {

// Waits until the writer's keeper has looked `n` times.
bool AwaitChecks(const Writer& writer, int64_t n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (writer.stats().checks < n) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

absl::Status Probe(const std::string& owner, const std::string& name,
                   const std::string& ns, runtime::Registry& registry) {
  absl::StatusOr<std::unique_ptr<client::RestClient>> api =
      rbac::testing::NewCountingClient(&registry);
  if (!api.ok()) return api.status();

  WriterOptions options;
  options.desired.name = name;
  options.desired.base_url = "https://127.0.0.1:9443";
  options.desired.zen_lead_namespace = ns;
  options.desired.namespace_match_labels = {{kNamespaceNameLabel, ns}};
  options.owner = OwnerName{OwnerKind::kClusterRole, owner};
  absl::StatusOr<std::unique_ptr<Writer>> writer =
      Writer::Create(api->get(), api->get(), options);
  if (!writer.ok()) return writer.status();
  // Created (an apply that creates), then listed by the writer's watch.
  absl::Status written =
      (*writer)->Update(testing::MakeTestCertificate("first").cert_pem);
  if (!written.ok()) return written;
  if (absl::Status s = (*writer)->Start(); !s.ok()) return s;
  if (!AwaitChecks(**writer, 1)) {
    return absl::DeadlineExceededError("the writer never listed");
  }
  // A new caBundle (an apply that patches), whose event reaches the
  // writer through the watch.
  written = (*writer)->Update(testing::MakeTestCertificate("second").cert_pem);
  if (!written.ok()) return written;
  if (!AwaitChecks(**writer, 2)) {
    return absl::DeadlineExceededError("the writer's watch saw nothing");
  }
  (*writer)->Stop();
  if ((*writer)->stats().errors != 0) {
    return absl::InternalError("the writer's writes failed (see the log)");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace zenlead::webhook::configuration

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr
        << "usage: rbac_probe OWNER_CLUSTERROLE CONFIGURATION NAMESPACE\n";
    return 2;
  }
  zenlead::runtime::Registry registry;
  const absl::Status s = zenlead::webhook::configuration::Probe(
      argv[1], argv[2], argv[3], registry);
  std::cout << registry.Render();
  if (!s.ok()) {
    std::cerr << "rbac_probe: " << s << "\n";
    return 1;
  }
  return 0;
}
