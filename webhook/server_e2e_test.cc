// webhook::Server behind the real API server (e2e/cluster): a
// ValidatingWebhookConfiguration whose caBundle is a certificate made at
// test time sends Pod CREATEs of one test namespace (namespaceSelector, so
// the cluster's other tests are untouched) to the server over TLS; the
// handler's denial reaches the client with its message, and allowed pods
// are created, with no failed handshake.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/runtime/metrics.h"
#include "api/types/pod.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "webhook/server.h"
#include "webhook/testing/test_certs.h"

namespace zenlead::webhook {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using json = nlohmann::json;

// Not a generated type (zen-lead writes these itself in a later piece).
const client::Resource& WebhookConfigurations() {
  static const client::Resource* const r =
      new client::Resource{"admissionregistration.k8s.io", "v1",
                           "validatingwebhookconfigurations", false};
  return *r;
}

// Denies pods whose name starts with "deny-"; counts calls.
class NameRule : public AdmissionHandler {
 public:
  Decision Review(const k8s::AdmissionRequest& request, absl::Time) override {
    ++calls;
    const std::string name =
        request.object->value("metadata", json::object()).value("name", "");
    if (name.rfind("deny-", 0) == 0) {
      return Decision::Deny("E2eDenied",
                            absl::StrCat("pod ", name, " is refused by e2e"));
    }
    Decision allow = Decision::Allow("E2eAllowed");
    allow.warnings = {"admitted by the zen-lead e2e webhook"};
    return allow;
  }
  std::atomic<int> calls{0};
};

json Pod(const std::string& name) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"containers", {{{"name", "c"}, {"image", "registry.invalid/c"}}}}}}};
}

TEST(ServerE2eTest, TheApiServerCallsTheWebhookOverTls) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "webhook-e2e");

  const testing::TestCertificate cert = testing::MakeTestCertificate("e2e");
  NameRule pods;
  runtime::Registry metrics;
  ServerOptions options;
  options.host = "127.0.0.1";
  options.cert_pem = cert.cert_pem;
  options.key_pem = cert.key_pem;
  options.metrics = &metrics;
  options.routes.push_back({kPodsPath, PodsRoute(), &pods});
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();

  const std::string config_name = absl::StrCat("zen-lead-", ns.name());
  const json config = {
      {"apiVersion", "admissionregistration.k8s.io/v1"},
      {"kind", "ValidatingWebhookConfiguration"},
      {"metadata", {{"name", config_name}}},
      {"webhooks",
       {{{"name", "pods.e2e.zen-lead.io"},
         {"clientConfig",
          {{"url",
            absl::StrCat("https://127.0.0.1:", (*server)->port(), kPodsPath)},
           {"caBundle", absl::Base64Escape(cert.cert_pem)}}},
         {"rules",
          {{{"operations", {"CREATE"}},
            {"apiGroups", {""}},
            {"apiVersions", {"v1"}},
            {"resources", {"pods"}}}}},
         {"namespaceSelector",
          {{"matchLabels", {{"kubernetes.io/metadata.name", ns.name()}}}}},
         {"admissionReviewVersions", {"v1"}},
         {"sideEffects", "None"},
         {"failurePolicy", "Fail"},
         {"timeoutSeconds", 5}}}}};
  absl::StatusOr<json> created =
      api->Create(WebhookConfigurations(), "", config);
  ASSERT_TRUE(created.ok()) << created.status();

  // The API server picks the configuration up asynchronously: create
  // denied pods until one is denied by us.
  absl::Status denied;
  int attempt = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<json> pod =
            api->Create(k8s::PodClient::Resource(), ns.name(),
                        Pod(absl::StrCat("deny-", attempt++)));
        denied = pod.status();
        return !pod.ok();
      },
      absl::Seconds(30)));
  EXPECT_THAT(std::string(denied.message()),
              ::testing::HasSubstr("is refused by e2e"));
  EXPECT_GE(pods.calls.load(), 1);

  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<json> allowed = api->Create(
        k8s::PodClient::Resource(), ns.name(), Pod(absl::StrCat("ok-", i)));
    EXPECT_TRUE(allowed.ok()) << allowed.status();
  }
  const std::string rendered = metrics.Render();
  EXPECT_THAT(rendered, ::testing::HasSubstr(
                            "zen_lead_webhook_requests_total{webhook=\"pods\","
                            "allowed=\"true\",reason=\"E2eAllowed\"} 3"));
  // No failed handshakes: the API server speaks TLS the server accepts.
  EXPECT_THAT(rendered, ::testing::Not(::testing::HasSubstr(
                            "zen_lead_webhook_tls_handshake_errors_total{")));

  absl::Status gone = api->Delete(WebhookConfigurations(), "", config_name,
                                  client::DeleteOptions());
  EXPECT_TRUE(gone.ok()) << gone;
}

}  // namespace
}  // namespace zenlead::webhook
