// For the probes that e2e/rbac runs under zen-lead's ServiceAccount (each
// makes every call of one component): a RestClient from $KUBECONFIG that
// counts its calls in zen_lead_api_requests_total, which a probe prints for
// rbac_e2e_test.sh to compare with what config/rbac grants.
//
//   runtime::Registry registry;
//   absl::StatusOr<std::unique_ptr<client::RestClient>> api =
//       NewCountingClient(&registry);
//   if (!api.ok()) return api.status();
//   ... every call of the component through *api ...
//   std::cout << registry.Render();
//
// Compiled in webhook/configuration/rbac_probe.cc.
#ifndef ZEN_LEAD_E2E_RBAC_TESTING_COUNTING_CLIENT_H_
#define ZEN_LEAD_E2E_RBAC_TESTING_COUNTING_CLIENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "api/client/config.h"
#include "api/client/rest_client.h"
#include "api/runtime/metrics.h"
#include "api/runtime/runtime_metrics.h"

namespace zenlead::rbac::testing {

// `registry` must outlive the client.
inline absl::StatusOr<std::unique_ptr<client::RestClient>> NewCountingClient(
    runtime::Registry* registry) {
  absl::StatusOr<client::Config> config = client::LoadConfig();
  if (!config.ok()) return config.status();
  absl::StatusOr<client::RequestObserver> observer =
      runtime::NewRequestMetrics(registry);
  if (!observer.ok()) return observer.status();
  client::RestClientOptions options;
  options.observer = *observer;
  return client::RestClient::Create(*config, options);
}

}  // namespace zenlead::rbac::testing

#endif  // ZEN_LEAD_E2E_RBAC_TESTING_COUNTING_CLIENT_H_
