#include "operator/admission/admission_controller.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/client/rest_client.h"
#include "api/client/status_macros.h"
#include "api/client/testing/fake_client.h"
#include "api/pool/cache.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::op {
namespace {

using ::testing::HasSubstr;
namespace configuration = webhook::configuration;

// A manager's context with nothing behind it: the controller is created,
// not started, so nothing is called.
class AdmissionControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client::Config config;
    config.server = "https://127.0.0.1:1";  // never dialled: not started
    absl::StatusOr<std::unique_ptr<client::RestClient>> rest =
        client::RestClient::Create(config);
    ASSERT_TRUE(rest.ok()) << rest.status();
    rest_ = *std::move(rest);
    pool::CacheDeps deps;
    deps.watch_client = &fake_;
    cache_ = std::make_unique<pool::Cache>(deps, pool::CacheOptions{});
    context_.client = rest_.get();
    context_.writer = &fake_;
    context_.cache = cache_.get();
  }

  client::testing::FakeClient fake_;
  std::unique_ptr<client::RestClient> rest_;
  std::unique_ptr<pool::Cache> cache_;
  ControllerContext context_;
};

// The header's example, as written there.
absl::Status HeaderExample(
    const ControllerContext& context,
    std::vector<std::unique_ptr<Controller>>& controllers) {
  AdmissionOptions options;
  options.bind_address = ":9443";
  options.ns = "zen-lead-system";          // zen-lead's own
  options.url = "https://127.0.0.1:9443";  // or "" for Service mode
  options.owner = configuration::LeaderPolicyCrdOwner();
  ASSIGN_OR_RETURN(std::unique_ptr<AdmissionController> webhook,
                   AdmissionController::Create(context, options));
  controllers.push_back(std::move(webhook));
  return absl::OkStatus();
}

TEST_F(AdmissionControllerTest, HeaderExampleCreatesTheController) {
  std::vector<std::unique_ptr<Controller>> controllers;
  ASSERT_TRUE(HeaderExample(context_, controllers).ok());
  ASSERT_EQ(controllers.size(), 1u);
  EXPECT_FALSE(controllers[0]->HasSynced());  // no certificate before Start
  EXPECT_TRUE(controllers[0]->Healthy().ok());
}

TEST_F(AdmissionControllerTest, CreateNeedsTheManagersClientsAndCache) {
  AdmissionOptions options;
  options.ns = "zen-lead-system";
  options.owner = configuration::LeaderPolicyCrdOwner();
  ControllerContext empty;
  absl::StatusOr<std::unique_ptr<AdmissionController>> created =
      AdmissionController::Create(empty, options);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
}

AdmissionOptions Valid() {
  AdmissionOptions o;
  o.ns = "zen-lead-system";
  o.owner = configuration::LeaderPolicyCrdOwner();
  return o;
}

TEST(ValidateAdmissionOptionsTest, ServiceAndUrlModesAreValid) {
  EXPECT_TRUE(ValidateAdmissionOptions(Valid()).ok());
  AdmissionOptions url = Valid();
  url.url = "https://127.0.0.1:9443";
  EXPECT_TRUE(ValidateAdmissionOptions(url).ok());
}

TEST(ValidateAdmissionOptionsTest, EachProblemNamesItsFlag) {
  struct Case {
    const char* what;
    std::function<void(AdmissionOptions&)> change;
    const char* flag;
  };
  const std::vector<Case> cases = {
      {"bind address", [](AdmissionOptions& o) { o.bind_address = "nowhere"; },
       "--webhook-bind-address"},
      {"namespace", [](AdmissionOptions& o) { o.ns.clear(); },
       "--leader-election-namespace"},
      {"secret", [](AdmissionOptions& o) { o.cert_secret.clear(); },
       "--webhook-cert-secret"},
      {"url", [](AdmissionOptions& o) { o.url = "http://127.0.0.1:9443"; },
       "--webhook-url"},
      {"lifetimes",
       [](AdmissionOptions& o) { o.rotation.ca_lifetime = absl::Minutes(1); },
       "--webhook-ca-duration"},
      {"owner", [](AdmissionOptions& o) { o.owner.name.clear(); },
       "--webhook-owner"},
  };
  for (const Case& c : cases) {
    AdmissionOptions o = Valid();
    c.change(o);
    absl::Status s = ValidateAdmissionOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.flag)) << c.what;
  }
}

}  // namespace
}  // namespace zenlead::op
