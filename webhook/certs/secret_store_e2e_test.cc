// The certificate Secret on the real API server (e2e/cluster): two replicas
// that start at once make one CA, a rotation walks through the real Secret
// with both CAs in ca.crt during the overlap, racing rotations write one
// new CA, and a Secret edited to garbage is repaired.
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/errors.h"
#include "api/client/forwarding_client.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/types/secret.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "webhook/certs/authority.h"
#include "webhook/certs/rotation.h"
#include "webhook/certs/secret_store.h"

namespace zenlead::webhook::certs {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using ::testing::HasSubstr;
using json = nlohmann::json;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// Holds every Create or Update until `n` calls of that verb are waiting,
// then lets them all go: each writer has read and planned before any of
// them writes, so they race for real.
class WriteBarrier {
 public:
  explicit WriteBarrier(int n) : n_(n) {}
  void Arrive() {
    absl::MutexLock lock(&mu_);
    ++arrived_;
    auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return arrived_ >= n_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30));
  }

 private:
  const int n_;
  absl::Mutex mu_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
};

class BarrierClient : public client::ForwardingClient {
 public:
  BarrierClient(client::Client* inner, WriteBarrier* creates,
                WriteBarrier* updates)
      : ForwardingClient(inner), creates_(creates), updates_(updates) {}
  absl::StatusOr<json> Create(const client::Resource& r, absl::string_view ns,
                              const json& obj) override {
    if (creates_ != nullptr) creates_->Arrive();
    return ForwardingClient::Create(r, ns, obj);
  }
  absl::StatusOr<json> Update(const client::Resource& r, absl::string_view ns,
                              const json& obj) override {
    if (updates_ != nullptr) updates_->Arrive();
    return ForwardingClient::Update(r, ns, obj);
  }

 private:
  WriteBarrier* const creates_;
  WriteBarrier* const updates_;
};

// Two replicas converging at once: two clients (two connections), two
// stores, two threads, their Creates (or Updates) held until both have
// read and planned.
struct RacingReplicas {
  enum class Hold { kCreates, kUpdates };
  RacingReplicas(const std::string& ns, Hold hold)
      : api_a(NewE2eClient()),
        api_b(NewE2eClient()),
        barrier(2),
        client_a(api_a.get(), hold == Hold::kCreates ? &barrier : nullptr,
                 hold == Hold::kUpdates ? &barrier : nullptr),
        client_b(api_b.get(), hold == Hold::kCreates ? &barrier : nullptr,
                 hold == Hold::kUpdates ? &barrier : nullptr),
        store_a(&client_a, ns, kDefaultSecretName),
        store_b(&client_b, ns, kDefaultSecretName) {}

  // Both converge at `now`; true when both succeeded.
  bool Converge(absl::Time now, const RotationOptions& options) {
    std::thread ta([&] { a = certs::Converge(store_a, now, options); });
    std::thread tb([&] { b = certs::Converge(store_b, now, options); });
    ta.join();
    tb.join();
    EXPECT_TRUE(a.ok()) << a.status();
    EXPECT_TRUE(b.ok()) << b.status();
    return a.ok() && b.ok();
  }

  std::unique_ptr<client::RestClient> api_a, api_b;
  WriteBarrier barrier;
  BarrierClient client_a, client_b;
  SecretStore store_a, store_b;
  absl::StatusOr<Converged> a, b;
};

RotationOptions Options(const std::string& ns) {
  RotationOptions options;
  options.service = kDefaultServiceName;
  options.ns = ns;
  return options;
}

// The Secret as the API server has it.
SecretData Stored(client::Client* api, const std::string& ns) {
  absl::StatusOr<k8s::Secret> secret =
      k8s::SecretClient(*api).Get(ns, kDefaultSecretName);
  EXPECT_TRUE(secret.ok()) << secret.status();
  if (!secret.ok()) return {};
  EXPECT_EQ(secret->type.value_or(""), kTlsSecretType);
  absl::StatusOr<SecretData> data = DecodeSecret(*secret);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : SecretData{};
}

size_t CaCount(const SecretData& data) {
  absl::StatusOr<std::vector<Certificate>> bundle =
      ParseCertificates(data.ca_crt);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  return bundle.ok() ? bundle->size() : 0;
}

// The header's example.
absl::Status HeaderExample(client::Client* client, const std::string& ns,
                           absl::Time now) {
  SecretStore store(client, ns, kDefaultSecretName);
  RotationOptions rotation;
  rotation.service = kDefaultServiceName;
  rotation.ns = ns;
  absl::StatusOr<Converged> converged = Converge(store, now, rotation);
  if (!converged.ok()) return converged.status();   // API errors, RBAC
  for (const Decision& step : converged->written) { /* an Event each */
    (void)step;
  }
  std::string serving_pem = converged->data.tls_crt;
  return serving_pem.empty() ? absl::InternalError("example")
                             : absl::OkStatus();
}

TEST(SecretStoreE2eTest, HeaderExample) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "certs-e2e");
  EXPECT_TRUE(HeaderExample(api.get(), ns.name(), kStart).ok());
  EXPECT_EQ(CaCount(Stored(api.get(), ns.name())), 1u);
}

TEST(SecretStoreE2eTest, TwoReplicasStartedAtOnceMakeOneCa) {
  std::unique_ptr<client::RestClient> admin = NewE2eClient();
  ASSERT_NE(admin, nullptr);
  TestNamespace ns(admin.get(), "certs-e2e");
  const RotationOptions options = Options(ns.name());
  RacingReplicas replicas(ns.name(), RacingReplicas::Hold::kCreates);
  ASSERT_TRUE(replicas.Converge(kStart, options));
  const absl::StatusOr<Converged>& a = replicas.a;
  const absl::StatusOr<Converged>& b = replicas.b;

  // One created; the other lost the race and took what the winner wrote.
  EXPECT_EQ(a->written.size() + b->written.size(), 1u);
  EXPECT_EQ(a->conflicts + b->conflicts, 1);
  const Converged& winner = a->written.empty() ? *b : *a;
  EXPECT_EQ(winner.written[0].step, Step::kCreate);
  EXPECT_EQ(a->data, b->data);
  const SecretData stored = Stored(admin.get(), ns.name());
  EXPECT_EQ(stored, a->data);
  EXPECT_EQ(CaCount(stored), 1u);
  EXPECT_EQ(a->secret.metadata->resource_version,
            b->secret.metadata->resource_version);
}

TEST(SecretStoreE2eTest, RotationCarriesBothCasDuringTheOverlap) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "certs-e2e");
  SecretStore store(api.get(), ns.name(), kDefaultSecretName);
  const RotationOptions options = Options(ns.name());

  absl::StatusOr<Converged> created = Converge(store, kStart, options);
  ASSERT_TRUE(created.ok()) << created.status();
  const SecretData first = Stored(api.get(), ns.name());
  // Walk the clock from one planned step to the next.
  absl::Time now = created->next_check;
  std::vector<Step> steps;
  std::vector<size_t> cas;
  while (steps.size() < 7) {
    absl::StatusOr<Converged> c = Converge(store, now, options);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_LE(c->written.size(), 1u);
    if (!c->written.empty()) {
      steps.push_back(c->written[0].step);
      cas.push_back(CaCount(Stored(api.get(), ns.name())));
    }
    ASSERT_GT(c->next_check, now);
    now = c->next_check;
  }
  // Four leaf renewals, then the CA rotation's three steps, then a renewal
  // by the new CA.
  EXPECT_THAT(steps, ::testing::ElementsAre(
                         Step::kRenewLeaf, Step::kRenewLeaf, Step::kRenewLeaf,
                         Step::kRenewLeaf, Step::kStartCaRotation,
                         Step::kSwitchLeaf, Step::kDropOldCa));
  EXPECT_THAT(cas, ::testing::ElementsAre(1, 1, 1, 1, 2, 2, 1));
  const SecretData last = Stored(api.get(), ns.name());
  EXPECT_NE(last.ca_crt, first.ca_crt);
  EXPECT_NE(last.ca_key, first.ca_key);
}

TEST(SecretStoreE2eTest, RacingRotationsAddOneCa) {
  std::unique_ptr<client::RestClient> admin = NewE2eClient();
  ASSERT_NE(admin, nullptr);
  TestNamespace ns(admin.get(), "certs-e2e");
  const RotationOptions options = Options(ns.name());
  SecretStore plain(admin.get(), ns.name(), kDefaultSecretName);
  ASSERT_TRUE(Converge(plain, kStart, options).ok());
  // Day 243: the CA is due at 2/3 of its life, 7 hours later; a leaf
  // issued now is not due for 60 days.
  ASSERT_TRUE(Converge(plain, kStart + absl::Hours(24 * 243), options).ok());
  const absl::Time ca_due = kStart + absl::Hours(24 * 244);

  RacingReplicas replicas(ns.name(), RacingReplicas::Hold::kUpdates);
  ASSERT_TRUE(replicas.Converge(ca_due, options));
  const absl::StatusOr<Converged>& a = replicas.a;
  const absl::StatusOr<Converged>& b = replicas.b;
  // Both planned the rotation; the resourceVersion let one write it, and
  // the other found it done (not a third CA on top).
  EXPECT_EQ(a->written.size() + b->written.size(), 1u);
  EXPECT_GE(a->conflicts + b->conflicts, 1);
  EXPECT_EQ(CaCount(Stored(admin.get(), ns.name())), 2u);
  EXPECT_EQ(a->data, b->data);
}

TEST(SecretStoreE2eTest, GarbageWrittenByHandIsRepaired) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "certs-e2e");
  SecretStore store(api.get(), ns.name(), kDefaultSecretName);
  const RotationOptions options = Options(ns.name());
  ASSERT_TRUE(Converge(store, kStart, options).ok());
  const SecretData good = Stored(api.get(), ns.name());

  // kubectl edit: tls.crt replaced by text; an extra key of the user's.
  absl::StatusOr<k8s::Secret> secret =
      k8s::SecretClient(*api).Get(ns.name(), kDefaultSecretName);
  ASSERT_TRUE(secret.ok()) << secret.status();
  (*secret->data)[kTlsCertKey] = absl::Base64Escape("not a certificate");
  (*secret->data)["note"] = absl::Base64Escape("kept");
  ASSERT_TRUE(k8s::SecretClient(*api).Update(ns.name(), *secret).ok());

  absl::StatusOr<Converged> repaired = Converge(store, kStart, options);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  ASSERT_EQ(repaired->written.size(), 1u);
  EXPECT_EQ(repaired->written[0].step, Step::kRenewLeaf);
  EXPECT_TRUE(repaired->written[0].repair);
  EXPECT_THAT(repaired->written[0].reason, HasSubstr("tls.crt:"));
  const SecretData now = Stored(api.get(), ns.name());
  EXPECT_EQ(now.ca_crt, good.ca_crt);  // the CA survived
  EXPECT_NE(now.tls_crt, good.tls_crt);
  EXPECT_TRUE(Inspect(now, kStart, options).leaf.has_value());
  absl::StatusOr<k8s::Secret> after =
      k8s::SecretClient(*api).Get(ns.name(), kDefaultSecretName);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->data->count("note"), 1u);

  // Every key garbage: a new CA.
  (*after->data)[kTlsCertKey] = absl::Base64Escape("x");
  (*after->data)[kCaCertKey] = absl::Base64Escape("x");
  (*after->data)[kCaKeyKey] = absl::Base64Escape("x");
  ASSERT_TRUE(k8s::SecretClient(*api).Update(ns.name(), *after).ok());
  repaired = Converge(store, kStart, options);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  ASSERT_EQ(repaired->written.size(), 1u);
  EXPECT_EQ(repaired->written[0].step, Step::kRecreate);
  EXPECT_NE(Stored(api.get(), ns.name()).ca_crt, good.ca_crt);
}

}  // namespace
}  // namespace zenlead::webhook::certs
