// Helpers for e2e tests of the client runtime against the local control
// plane (e2e/cluster/up; KUBECONFIG points at it): a RestClient from
// $KUBECONFIG, a uniquely named namespace deleted at the end, the cluster
// directory (for e2e/cluster/restart-apiserver), and waiting for a condition
// with a deadline.
//
//   std::unique_ptr<RestClient> client = NewE2eClient();
//   TestNamespace ns(client.get(), "inf-e2e");   // "inf-e2e-x7k2q9"
//   ASSERT_TRUE(WaitFor([&] { return Done(); }, absl::Seconds(30)));
#ifndef ZEN_LEAD_API_CLIENT_TESTING_E2E_ENV_H_
#define ZEN_LEAD_API_CLIENT_TESTING_E2E_ENV_H_

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "gtest/gtest.h"

namespace zenlead::client::testing {

inline const Resource& NamespacesResource() {
  static const Resource* const r = new Resource{"", "v1", "namespaces", false};
  return *r;
}

inline std::string RandomSuffix(int n = 6) {
  std::random_device rd;
  std::mt19937 rng(rd());
  const char* chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(chars[rng() % 36]);
  return out;
}

// A RestClient for $KUBECONFIG; a test failure (and nullptr) without one.
inline std::unique_ptr<RestClient> NewE2eClient(
    RestClientOptions options = RestClientOptions()) {
  absl::StatusOr<Config> config = LoadConfig();
  EXPECT_TRUE(config.ok())
      << "e2e tests need KUBECONFIG of a running cluster (e2e/cluster/up): "
      << config.status();
  if (!config.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<RestClient>> client =
      RestClient::Create(*config, std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// The e2e/cluster directory of the cluster under test: $ZEN_LEAD_CLUSTER_DIR,
// else the directory of $KUBECONFIG when it holds a `pids` file; "" if
// neither (the cluster was not started by e2e/cluster/up).
inline std::string ClusterDir() {
  auto has_pids = [](const std::string& dir) {
    return !dir.empty() && std::ifstream(dir + "/pids").good();
  };
  if (const char* dir = std::getenv("ZEN_LEAD_CLUSTER_DIR");
      dir != nullptr && has_pids(dir)) {
    return dir;
  }
  if (const char* kubeconfig = std::getenv("KUBECONFIG"); kubeconfig) {
    std::string path = kubeconfig;
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos && has_pids(path.substr(0, slash))) {
      return path.substr(0, slash);
    }
  }
  return "";
}

// Applies the LeaderPolicy CRD (config/crd/bases/..., a data dependency of
// the test) with $ZEN_LEAD_CLUSTER_BIN/kubectl and waits until it is
// Established: a cluster of e2e/cluster/up starts without it.
//   static void SetUpTestSuite() { ASSERT_TRUE(InstallLeaderPolicyCrd()); }
inline ::testing::AssertionResult InstallLeaderPolicyCrd() {
  const char* bin = std::getenv("ZEN_LEAD_CLUSTER_BIN");
  if (bin == nullptr) {
    return ::testing::AssertionFailure()
           << "ZEN_LEAD_CLUSTER_BIN must name kubectl's dir";
  }
  const std::string cmd = absl::StrCat(
      bin, "/kubectl apply -f ",
      "config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml",
      " >/dev/null && ", bin,
      "/kubectl wait --for=condition=Established --timeout=30s ",
      "crd/leaderpolicies.coordination.kube-zen.io >/dev/null");
  if (std::system(cmd.c_str()) != 0) {
    return ::testing::AssertionFailure() << cmd;
  }
  return ::testing::AssertionSuccess();
}

// Polls cond (every 20 ms) until it holds or the timeout passes.
template <typename Cond>
bool WaitFor(Cond cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

// A namespace "<prefix>-<random>" created now and deleted on destruction.
class TestNamespace {
 public:
  TestNamespace(Client* client, const std::string& prefix)
      : client_(client), name_(absl::StrCat(prefix, "-", RandomSuffix())) {
    absl::StatusOr<nlohmann::json> created =
        client_->Create(NamespacesResource(), "",
                        {{"apiVersion", "v1"},
                         {"kind", "Namespace"},
                         {"metadata", {{"name", name_}}}});
    EXPECT_TRUE(created.ok()) << created.status();
  }
  ~TestNamespace() {
    absl::Status deleted =
        client_->Delete(NamespacesResource(), "", name_, DeleteOptions());
    EXPECT_TRUE(deleted.ok() || IsNotFound(deleted)) << deleted;
  }
  TestNamespace(const TestNamespace&) = delete;
  TestNamespace& operator=(const TestNamespace&) = delete;

  const std::string& name() const { return name_; }

 private:
  Client* const client_;
  const std::string name_;
};

// After API server restarts, waits until the cluster's controllers work
// again: a new namespace gets its default ServiceAccount (the
// controller-manager's informers back off across restarts, client-go's up
// to 30 s, and the next test's pods need that account). Tests that restart
// the API server call it before they end, so later tests start on a
// settled cluster.
inline void SettleAfterRestarts(Client* client,
                                absl::Duration timeout = absl::Minutes(3)) {
  TestNamespace probe(client, "settle");
  const Resource service_accounts{"", "v1", "serviceaccounts", true};
  const absl::Time start = absl::Now();
  EXPECT_TRUE(WaitFor(
      [&] {
        return client->Get(service_accounts, probe.name(), "default").ok();
      },
      timeout))
      << "the controller-manager did not recover within " << timeout;
  std::cout << "controllers settled " << absl::Now() - start
            << " after the last API server restart\n";
}

}  // namespace zenlead::client::testing

#endif  // ZEN_LEAD_API_CLIENT_TESTING_E2E_ENV_H_
