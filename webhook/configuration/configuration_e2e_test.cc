// The writer on the real control plane (e2e/cluster): the API server accepts
// the configuration and treats a repeated apply as no change, calls the
// webhooks it registers (a denial reaches kubectl with the handler's
// message, a dry run arrives as one and writes nothing), applies the
// failure policies when the webhook is down, garbage-collects the
// configuration with its owner, and the writer restores what is deleted or
// edited by hand.
//
// Each test writes its own configuration (named after its namespace) owned
// by its own ClusterRole, with both webhooks limited to its namespace, and
// deletes both at the end: the cluster's other tests never meet it.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//       --test_env=ZEN_LEAD_CLUSTER_BIN=$ZEN_LEAD_CLUSTER_BIN
//       //webhook/configuration:configuration_e2e_test
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/types/clusterrole.h"
#include "api/types/leaderpolicy.h"
#include "api/types/pod.h"
#include "api/types/validatingwebhookconfiguration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "webhook/admission_review.h"
#include "webhook/configuration/desired.h"
#include "webhook/configuration/owner.h"
#include "webhook/configuration/writer.h"
#include "webhook/policy_validation.h"
#include "webhook/server.h"
#include "webhook/testing/test_certs.h"

namespace zenlead::webhook::configuration {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr absl::Duration kWait = absl::Seconds(60);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// kubectl of the cluster under test, with its output: what a user sees.
CommandResult Kubectl(const std::string& args) {
  const char* bin = std::getenv("ZEN_LEAD_CLUSTER_BIN");
  CommandResult result;
  if (bin == nullptr) {
    result.output = "ZEN_LEAD_CLUSTER_BIN is not set (tools/test.sh sets it)";
    return result;
  }
  const std::string command = absl::StrCat(bin, "/kubectl ", args, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.output.append(buffer, n);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Writes `content` to a file in the test's temporary directory.
std::string TempFile(const std::string& name, const std::string& content) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream(path) << content;
  return path;
}

std::string PolicyYaml(const std::string& ns, const std::string& name) {
  return absl::StrCat(
      "apiVersion: coordination.kube-zen.io/v1alpha1\n"
      "kind: LeaderPolicy\n"
      "metadata: {name: ",
      name, ", namespace: ", ns, "}\nspec: {}\n");
}

std::string PodYaml(const std::string& ns, const std::string& name) {
  return absl::StrCat(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: ", name, ", namespace: ", ns,
      "}\nspec:\n  containers: [{name: c, image: registry.invalid/c}]\n");
}

// Pods: allowed, and remembered (dryRun included).
class RecordingPods : public AdmissionHandler {
 public:
  Decision Review(const k8s::AdmissionRequest& request, absl::Time) override {
    absl::MutexLock lock(&mu_);
    const std::string name =
        request.object->value("metadata", json::object()).value("name", "");
    seen_.push_back({name, request.dry_run.value_or(false)});
    return Decision::Allow("E2eAllowed");
  }
  // Whether a request for pod `name` came, and its dryRun.
  std::optional<bool> DryRunOf(const std::string& name) {
    absl::MutexLock lock(&mu_);
    for (const auto& [seen, dry_run] : seen_) {
      if (seen == name) return dry_run;
    }
    return std::nullopt;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<std::string, bool>> seen_ ABSL_GUARDED_BY(mu_);
};

// The LeaderPolicy validation, without cross-object lookups.
class Policies : public AdmissionHandler {
 public:
  Decision Review(const k8s::AdmissionRequest& request, absl::Time) override {
    return ValidatePolicyRequest(request, nullptr);
  }
};

class ConfigurationE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const CommandResult crd = Kubectl(
        "apply -f "
        "config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml");
    ASSERT_EQ(crd.exit_code, 0) << crd.output;
    const CommandResult established = Kubectl(
        "wait --for=condition=Established --timeout=30s "
        "crd/leaderpolicies.coordination.kube-zen.io");
    ASSERT_EQ(established.exit_code, 0) << established.output;
  }

  void SetUp() override {
    api_ = NewE2eClient();
    ASSERT_NE(api_, nullptr);
    ns_ = std::make_unique<TestNamespace>(api_.get(), "vwc-e2e");
    name_ = absl::StrCat("zen-lead-e2e-", ns_->name());
    absl::StatusOr<json> role =
        api_->Create(k8s::ClusterRoleClient::Resource(), "",
                     {{"apiVersion", k8s::ClusterRole::kApiVersion},
                      {"kind", k8s::ClusterRole::kKind},
                      {"metadata", {{"name", name_}}},
                      {"rules", json::array()}});
    ASSERT_TRUE(role.ok()) << role.status();
    owner_uid_ = (*role)["metadata"]["uid"];
  }

  void TearDown() override {
    writer_.reset();  // first: it would restore what is deleted next
    if (api_ == nullptr) return;
    for (const client::Resource* r :
         {&k8s::ValidatingWebhookConfigurationClient::Resource(),
          &k8s::ClusterRoleClient::Resource()}) {
      const absl::Status gone =
          api_->Delete(*r, "", name_, client::DeleteOptions());
      EXPECT_TRUE(gone.ok() || client::IsNotFound(gone)) << gone;
    }
    ns_.reset();
  }

  WriterOptions Options(const std::string& base_url) const {
    WriterOptions options;
    options.desired.name = name_;
    options.desired.base_url = base_url;
    options.desired.zen_lead_namespace = "zen-lead-system";
    options.desired.namespace_match_labels = {
        {kNamespaceNameLabel, ns_->name()}};
    options.owner = OwnerName{OwnerKind::kClusterRole, name_};
    options.retry_initial = absl::Milliseconds(200);
    options.retry_max = absl::Seconds(1);
    return options;
  }

  std::unique_ptr<Writer> NewWriter(const std::string& base_url) {
    absl::StatusOr<std::unique_ptr<Writer>> writer =
        Writer::Create(api_.get(), api_.get(), Options(base_url));
    EXPECT_TRUE(writer.ok()) << writer.status();
    return writer.ok() ? *std::move(writer) : nullptr;
  }

  absl::StatusOr<k8s::ValidatingWebhookConfiguration> Get() {
    return k8s::ValidatingWebhookConfigurationClient(*api_).Get(name_);
  }

  std::string ResourceVersion() {
    absl::StatusOr<k8s::ValidatingWebhookConfiguration> got = Get();
    return got.ok() ? got->metadata->resource_version.value_or("") : "";
  }

  // A webhook::Server on 127.0.0.1 with a fresh self-signed certificate
  // (its own CA: the caBundle).
  void StartServer(AdmissionHandler* pods, AdmissionHandler* policies) {
    cert_ = testing::MakeTestCertificate("vwc-e2e");
    ServerOptions options;
    options.host = "127.0.0.1";
    options.cert_pem = cert_.cert_pem;
    options.key_pem = cert_.key_pem;
    options.routes.push_back({kPodsPath, PodsRoute(), pods});
    options.routes.push_back(
        {kLeaderPoliciesPath, LeaderPoliciesRoute(), policies});
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  std::string ServerUrl() const {
    return absl::StrCat("https://127.0.0.1:", server_->port());
  }

  // The server up, the configuration written for it, and loaded by the API
  // server (asynchronously, after the write): a server-side dry run of a
  // pod reaches `pods`. Dry runs write nothing.
  void ServeAndRegister(RecordingPods* pods, Policies* policies) {
    StartServer(pods, policies);
    writer_ = NewWriter(ServerUrl());
    ASSERT_NE(writer_, nullptr);
    const absl::Status written = writer_->Update(cert_.cert_pem);
    ASSERT_TRUE(written.ok()) << written;
    ASSERT_TRUE(WaitFor(
        [&] {
          CreatePod("loaded", "--dry-run=server");
          return pods->DryRunOf("loaded").has_value();
        },
        kWait));
  }

  // kubectl create of a pod `name` in the test's namespace.
  CommandResult CreatePod(const std::string& name,
                          const std::string& flags = "") {
    return Kubectl(
        absl::StrCat("create ", flags, " -f ",
                     TempFile(name + ".yaml", PodYaml(ns_->name(), name))));
  }

  std::unique_ptr<client::RestClient> api_;
  std::unique_ptr<TestNamespace> ns_;
  std::string name_;
  std::string owner_uid_;
  testing::TestCertificate cert_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Writer> writer_;
};

TEST_F(ConfigurationE2eTest, AppliedOnceAcceptedAndIdempotent) {
  const testing::TestCertificate ca1 = testing::MakeTestCertificate("ca1");
  const testing::TestCertificate ca2 = testing::MakeTestCertificate("ca2");
  writer_ = NewWriter("https://127.0.0.1:9443");
  ASSERT_NE(writer_, nullptr);
  const absl::Status written = writer_->Update(ca1.cert_pem);
  ASSERT_TRUE(written.ok()) << written;

  absl::StatusOr<k8s::ValidatingWebhookConfiguration> stored = Get();
  ASSERT_TRUE(stored.ok()) << stored.status();
  // The API server kept every field zen-lead wrote (matchConditions too:
  // an older server would drop or refuse them).
  ASSERT_EQ(stored->webhooks->size(), 2u);
  const k8s::ValidatingWebhook& pods = stored->webhooks->at(0);
  const k8s::ValidatingWebhook& policies = stored->webhooks->at(1);
  EXPECT_EQ(pods.name, kPodsWebhookName);
  EXPECT_EQ(pods.failure_policy, "Ignore");
  EXPECT_EQ(pods.side_effects, "NoneOnDryRun");
  EXPECT_EQ(pods.timeout_seconds, 3);
  EXPECT_EQ(pods.client_config.url, "https://127.0.0.1:9443/validate/pods");
  EXPECT_EQ(policies.failure_policy, "Fail");
  EXPECT_EQ(policies.side_effects, "None");
  ASSERT_TRUE(policies.match_conditions.has_value());
  EXPECT_EQ(policies.match_conditions->at(0).expression,
            kSpecChangedExpression);
  EXPECT_EQ(*pods.client_config.ca_bundle, absl::Base64Escape(ca1.cert_pem));
  ASSERT_EQ(stored->metadata->owner_references->size(), 1u);
  EXPECT_EQ(stored->metadata->owner_references->at(0).uid, owner_uid_);
  EXPECT_EQ(stored->metadata->owner_references->at(0).kind, "ClusterRole");

  // The same again, and from a second writer (the next elected replica):
  // nothing changes.
  const std::string first = ResourceVersion();
  ASSERT_TRUE(writer_->Update(ca1.cert_pem).ok());
  EXPECT_EQ(ResourceVersion(), first);
  std::unique_ptr<Writer> next = NewWriter("https://127.0.0.1:9443");
  ASSERT_TRUE(next->Update(ca1.cert_pem).ok());
  EXPECT_EQ(ResourceVersion(), first);
  EXPECT_EQ(next->LastWritten()->metadata->resource_version, first);

  // A rotation: the new bundle is applied to both webhooks.
  ASSERT_TRUE(writer_->Update(ca2.cert_pem).ok());
  EXPECT_NE(ResourceVersion(), first);
  stored = Get();
  ASSERT_TRUE(stored.ok()) << stored.status();
  for (const k8s::ValidatingWebhook& webhook : *stored->webhooks) {
    EXPECT_EQ(*webhook.client_config.ca_bundle,
              absl::Base64Escape(ca2.cert_pem))
        << webhook.name;
  }
}

TEST_F(ConfigurationE2eTest, TheApiServerCallsTheRegisteredWebhooks) {
  RecordingPods pods;
  Policies policies;
  ServeAndRegister(&pods, &policies);

  // A pool name over 63 characters: the CRD accepts it, the webhook alone
  // refuses it.
  const std::string bad_name = "p" + std::string(63, 'a');
  const CommandResult denied = Kubectl(
      "apply -f " + TempFile("bad.yaml", PolicyYaml(ns_->name(), bad_name)));
  std::cout << "kubectl apply of a bad LeaderPolicy:\n" << denied.output;
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.output,
              HasSubstr("admission webhook "
                        "\"leaderpolicies.webhook.zen-lead.io\" denied the "
                        "request: metadata.name: pool name"));
  EXPECT_THAT(denied.output, HasSubstr("is 64 characters long; at most 63"));
  EXPECT_TRUE(client::IsNotFound(
      api_->Get(api::v1alpha1::LeaderPolicyClient::Resource(), ns_->name(),
                bad_name)
          .status()));

  // A dry-run pod reaches the webhook as a dry run and is not stored.
  const CommandResult dry = CreatePod("dry", "--dry-run=server");
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_EQ(pods.DryRunOf("dry"), std::optional<bool>(true));
  EXPECT_TRUE(client::IsNotFound(
      api_->Get(k8s::PodClient::Resource(), ns_->name(), "dry").status()));

  // A real one is reviewed as one and created.
  const CommandResult real = CreatePod("real");
  EXPECT_EQ(real.exit_code, 0) << real.output;
  EXPECT_EQ(pods.DryRunOf("real"), std::optional<bool>(false));
  EXPECT_TRUE(api_->Get(k8s::PodClient::Resource(), ns_->name(), "real").ok());
}

TEST_F(ConfigurationE2eTest, WebhookDownPodsPassPolicySpecChangesFail) {
  RecordingPods pods;
  Policies policies;
  ServeAndRegister(&pods, &policies);
  // A policy created while the webhook serves.
  const CommandResult created = Kubectl(
      "apply -f " + TempFile("web.yaml", PolicyYaml(ns_->name(), "web")));
  ASSERT_EQ(created.exit_code, 0) << created.output;

  server_->Stop();

  // Pods: failurePolicy Ignore, created.
  const CommandResult pod = CreatePod("while-down");
  EXPECT_EQ(pod.exit_code, 0) << pod.output;
  EXPECT_FALSE(pods.DryRunOf("while-down").has_value());
  EXPECT_TRUE(
      api_->Get(k8s::PodClient::Resource(), ns_->name(), "while-down").ok());

  // LeaderPolicies: failurePolicy Fail, a create is refused, and says why.
  const CommandResult refused =
      Kubectl("apply -f " + TempFile("db.yaml", PolicyYaml(ns_->name(), "db")));
  std::cout << "kubectl apply of a LeaderPolicy while the webhook is down:\n"
            << refused.output;
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output,
              HasSubstr("failed calling webhook "
                        "\"leaderpolicies.webhook.zen-lead.io\""));
  EXPECT_THAT(refused.output, HasSubstr("connection refused"));

  // So is a change of the spec...
  const CommandResult spec = Kubectl(absl::StrCat(
      "patch leaderpolicy web -n ", ns_->name(),
      " --type=merge -p '{\"spec\":{\"leaseDurationSeconds\":20}}'"));
  EXPECT_NE(spec.exit_code, 0) << spec.output;
  EXPECT_THAT(spec.output, HasSubstr("failed calling webhook"));

  // ...but not a label (the matchCondition skips the call) nor a status
  // write (leaderpolicies/status is not in the rule).
  const CommandResult label =
      Kubectl(absl::StrCat("label leaderpolicy web -n ", ns_->name(), " a=b"));
  EXPECT_EQ(label.exit_code, 0) << label.output;
  absl::StatusOr<json> status =
      api_->Patch(api::v1alpha1::LeaderPolicyClient::Resource(), ns_->name(),
                  "web", client::PatchType::kMerge,
                  {{"status", {{"observedGeneration", 1}}}}, "status");
  EXPECT_TRUE(status.ok()) << status.status();
}

TEST_F(ConfigurationE2eTest, DeletingTheOwnerDeletesTheConfiguration) {
  const testing::TestCertificate ca = testing::MakeTestCertificate("ca");
  writer_ = NewWriter("https://127.0.0.1:9443");
  ASSERT_NE(writer_, nullptr);
  ASSERT_TRUE(writer_->Start().ok());
  ASSERT_TRUE(writer_->Update(ca.cert_pem).ok());
  ASSERT_TRUE(Get().ok());

  // Uninstall: the ClusterRole goes, the garbage collector deletes its
  // dependent. The writer, still running, sees the deletion and does not
  // write it again: its owner is gone.
  const absl::Status deleted = api_->Delete(k8s::ClusterRoleClient::Resource(),
                                            "", name_, client::DeleteOptions());
  ASSERT_TRUE(deleted.ok()) << deleted;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(
      WaitFor([&] { return client::IsNotFound(Get().status()); }, kWait));
  std::cout << "garbage-collected " << absl::Now() - start
            << " after its owner was deleted\n";
  EXPECT_TRUE(WaitFor([&] { return writer_->stats().errors > 0; }, kWait));
  EXPECT_TRUE(client::IsNotFound(Get().status()));
  EXPECT_EQ(writer_->stats().restores, 0);
}

TEST_F(ConfigurationE2eTest, DeletedOrEditedByHandIsRestored) {
  const testing::TestCertificate ca = testing::MakeTestCertificate("ca");
  writer_ = NewWriter("https://127.0.0.1:9443");
  ASSERT_NE(writer_, nullptr);
  ASSERT_TRUE(writer_->Start().ok());
  ASSERT_TRUE(writer_->Update(ca.cert_pem).ok());
  absl::StatusOr<k8s::ValidatingWebhookConfiguration> before = Get();
  ASSERT_TRUE(before.ok()) << before.status();

  // kubectl delete validatingwebhookconfiguration ...
  ASSERT_TRUE(
      api_->Delete(k8s::ValidatingWebhookConfigurationClient::Resource(), "",
                   name_, client::DeleteOptions())
          .ok());
  absl::StatusOr<k8s::ValidatingWebhookConfiguration> after;
  EXPECT_TRUE(WaitFor(
      [&] {
        after = Get();
        return after.ok() && after->metadata->uid != before->metadata->uid;
      },
      kWait));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->webhooks, before->webhooks);
  EXPECT_TRUE(WaitFor([&] { return writer_->stats().restores >= 1; }, kWait));

  // kubectl edit: the pods webhook made Fail, by another field manager.
  const CommandResult edit = Kubectl(absl::StrCat(
      "patch validatingwebhookconfiguration ", name_,
      " --type=json -p "
      "'[{\"op\":\"replace\",\"path\":\"/webhooks/0/failurePolicy\","
      "\"value\":\"Fail\"}]'"));
  ASSERT_EQ(edit.exit_code, 0) << edit.output;
  EXPECT_TRUE(WaitFor(
      [&] {
        after = Get();
        return after.ok() && after->webhooks->at(0).failure_policy == "Ignore";
      },
      kWait));
  EXPECT_TRUE(WaitFor([&] { return writer_->stats().restores >= 2; }, kWait));
}

}  // namespace
}  // namespace zenlead::webhook::configuration
