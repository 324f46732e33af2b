// The reloader on the real API server (e2e/cluster): its listeners hear of
// every change of the Secret (a write by another replica, its own
// rotation steps), cert-manager mode only reads, and a real webhook::Server
// keeps answering clients that verify it while a rotation runs through all
// its steps, with replicas and clients one step behind.
#include <openssl/x509.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/client/clock.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/runtime/event_recorder.h"
#include "api/runtime/metrics.h"
#include "api/types/event.h"
#include "api/types/secret.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "webhook/certs/authority.h"
#include "webhook/certs/reloader.h"
#include "webhook/certs/rotation.h"
#include "webhook/certs/secret_store.h"
#include "webhook/server.h"

namespace zenlead::webhook::certs {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using ::testing::HasSubstr;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// What a listener was handed, in order.
class Heard {
 public:
  absl::Status Take(const ServingCertificate& c) {
    absl::MutexLock lock(&mu_);
    all_.push_back(c);
    return absl::OkStatus();
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return all_.size();
  }
  ServingCertificate last() const {
    absl::MutexLock lock(&mu_);
    return all_.empty() ? ServingCertificate{} : all_.back();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<ServingCertificate> all_ ABSL_GUARDED_BY(mu_);
};

SecretData Stored(client::Client* api, const std::string& ns) {
  absl::StatusOr<k8s::Secret> secret =
      k8s::SecretClient(*api).Get(ns, kDefaultSecretName);
  if (!secret.ok()) return {};
  return DecodeSecret(*secret).value_or(SecretData{});
}

// The reasons of the Events about the Secret, once `recorder` has written
// its queue and the API server lists at least `n` of them.
std::vector<std::string> AwaitEventReasons(client::Client* api,
                                           const std::string& ns,
                                           runtime::EventRecorder& recorder,
                                           size_t n) {
  EXPECT_TRUE(recorder.Flush(absl::Now() + absl::Seconds(30)));
  std::vector<std::string> out;
  EXPECT_TRUE(WaitFor(
      [&] {
        out.clear();
        absl::StatusOr<k8s::EventList> events = k8s::EventClient(*api).List(ns);
        if (!events.ok()) return false;
        for (const k8s::Event& e : events->items) {
          if (e.regarding.has_value() &&
              e.regarding->name.value_or("") == kDefaultSecretName) {
            out.push_back(e.reason.value_or(""));
          }
        }
        return out.size() >= n;
      },
      absl::Seconds(30)));
  return out;
}

std::unique_ptr<runtime::EventRecorder> NewRecorder(client::Client* api) {
  runtime::EventRecorderOptions options;
  options.reporting_controller = "zen-lead.io/webhook";
  options.reporting_instance = "certs-e2e";
  return std::make_unique<runtime::EventRecorder>(api, std::move(options));
}

// The header's example, with the real clock.
absl::Status HeaderExample(client::Client* client, const std::string& ns,
                           runtime::Registry& registry,
                           runtime::EventRecorder& events, Server* server) {
  client::Clock* clock = client::RealClock();
  ReloaderOptions options;
  options.mode = CertMode::kSelfManaged;
  options.ns = ns;                                 // $POD_NAMESPACE
  options.rotation.service = kDefaultServiceName;  // the webhook Service
  options.rotation.ns = ns;
  options.metrics = &registry;
  options.events = &events;  // or nullptr
  CertificateReloader certs(client, std::move(options));
  if (absl::Status s = certs.Start(); !s.ok()) return s;
  if (!certs.WaitForCertificate(clock->Now() + absl::Seconds(30))) {
    // no certificate yet: the Secret could not be read or written
    return absl::DeadlineExceededError("no certificate");
  }
  ServingCertificate first = *certs.Current();  // for Server::Start
  if (absl::Status s = server->SetCertificate(first.cert_pem, first.key_pem);
      !s.ok()) {
    return s;
  }
  certs.AddListener([&](const ServingCertificate& c) {
    return server->SetCertificate(c.cert_pem, c.key_pem);
  });
  certs.Stop();  // also the destructor
  return absl::OkStatus();
}

class AllowAll : public AdmissionHandler {
 public:
  webhook::Decision Review(const k8s::AdmissionRequest&, absl::Time) override {
    return webhook::Decision::Allow("E2eAllowed");
  }
};

std::unique_ptr<Server> StartServer(AllowAll* pods, const ServingCertificate& c,
                                    runtime::Registry* metrics) {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.cert_pem = c.cert_pem;
  options.key_pem = c.key_pem;
  options.metrics = metrics;
  options.routes.push_back({kPodsPath, PodsRoute(), pods});
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(ReloaderE2eTest, HeaderExample) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "certs-e2e");
  runtime::Registry registry;
  std::unique_ptr<runtime::EventRecorder> events = NewRecorder(api.get());
  AllowAll pods;
  // Any valid pair to start the server with, replaced by the example.
  RotationOptions rotation;
  rotation.service = kDefaultServiceName;
  rotation.ns = ns.name();
  absl::StatusOr<Plan> seed = PlanRotation(std::nullopt, absl::Now(), rotation);
  ASSERT_TRUE(seed.ok()) << seed.status();
  runtime::Registry server_metrics;
  std::unique_ptr<Server> server = StartServer(
      &pods, {seed->data.tls_crt, seed->data.tls_key, seed->data.ca_crt},
      &server_metrics);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(
      HeaderExample(api.get(), ns.name(), registry, *events, server.get())
          .ok());
  EXPECT_THAT(registry.Render(),
              HasSubstr("zen_lead_webhook_certificate_rotations_total{step="
                        "\"create\"} 1"));
}

TEST(ReloaderE2eTest, ListenersHearEveryChangeOfTheSecret) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "certs-e2e");
  client::FakeClock clock(kStart);
  runtime::Registry registry;
  std::unique_ptr<runtime::EventRecorder> events = NewRecorder(api.get());
  ReloaderOptions options;
  options.ns = ns.name();
  options.rotation.service = kDefaultServiceName;
  options.rotation.ns = ns.name();
  options.clock = &clock;
  options.resync = absl::Hours(24);
  options.metrics = &registry;
  options.events = events.get();
  CertificateReloader certs(api.get(), options);
  Heard heard;
  certs.AddListener([&](const ServingCertificate& c) { return heard.Take(c); });
  ASSERT_TRUE(certs.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return heard.size() == 1; }, absl::Seconds(30)));
  const SecretData created = Stored(api.get(), ns.name());
  EXPECT_EQ(heard.last().cert_pem, created.tls_crt);
  EXPECT_EQ(heard.last().ca_bundle_pem, created.ca_crt);
  // A listener added later gets the current certificate at once.
  Heard late;
  certs.AddListener([&](const ServingCertificate& c) { return late.Take(c); });
  EXPECT_EQ(late.size(), 1u);

  // Another replica renews the leaf (same CA): the watch brings it, with
  // the clock standing still.
  absl::StatusOr<Certificate> ca = Certificate::FromPem(created.ca_crt);
  absl::StatusOr<PrivateKey> ca_key = PrivateKey::FromPem(created.ca_key);
  ASSERT_TRUE(ca.ok() && ca_key.ok());
  const KeyPair signer{*ca, *ca_key};
  CertificateSpec spec;
  spec.common_name = "other-replica";
  spec.dns_names = ServiceDnsNames(kDefaultServiceName, ns.name());
  spec.not_before = kStart - absl::Hours(1);
  spec.not_after = kStart + absl::Hours(24 * 90);
  absl::StatusOr<KeyPair> leaf = Issue(spec, &signer);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<k8s::Secret> secret =
      k8s::SecretClient(*api).Get(ns.name(), kDefaultSecretName);
  ASSERT_TRUE(secret.ok());
  (*secret->data)[kTlsCertKey] = absl::Base64Escape(leaf->certificate.Pem());
  (*secret->data)[kTlsKeyKey] = absl::Base64Escape(leaf->key.Pem());
  ASSERT_TRUE(k8s::SecretClient(*api).Update(ns.name(), *secret).ok());
  ASSERT_TRUE(WaitFor([&] { return heard.size() == 2; }, absl::Seconds(30)));
  EXPECT_EQ(heard.last().cert_pem, leaf->certificate.Pem());
  EXPECT_EQ(late.size(), 2u);
  EXPECT_EQ(certs.stats().writes, 1);  // only the create: nothing to fix

  // The leaf reaches 2/3 of its life since its issue (notBefore + the
  // hour of backdating): the reloader renews it itself.
  const absl::Time due = kStart + absl::Hours(24 * 90) * (2.0 / 3.0);
  clock.SetTime(due);
  ASSERT_TRUE(WaitFor([&] { return heard.size() == 3; }, absl::Seconds(30)));
  EXPECT_EQ(heard.last().cert_pem, Stored(api.get(), ns.name()).tls_crt);
  EXPECT_NE(heard.last().cert_pem, leaf->certificate.Pem());
  EXPECT_EQ(heard.last().ca_bundle_pem, created.ca_crt);
  EXPECT_EQ(certs.stats().writes, 2);

  const std::string metrics = registry.Render();
  EXPECT_THAT(metrics, HasSubstr("zen_lead_webhook_certificate_rotations_total"
                                 "{step=\"renew_leaf\"} 1"));
  absl::StatusOr<Certificate> served =
      Certificate::FromPem(heard.last().cert_pem);
  ASSERT_TRUE(served.ok());
  EXPECT_THAT(metrics,
              HasSubstr(absl::StrCat(
                  "zen_lead_webhook_certificate_expiry_seconds{certificate="
                  "\"serving\"} ",
                  runtime::FormatSampleValue(
                      absl::ToDoubleSeconds(served->not_after() - due)))));
  certs.Stop();
  EXPECT_THAT(AwaitEventReasons(api.get(), ns.name(), *events, 2),
              ::testing::UnorderedElementsAre("CertificateCreated",
                                              "CertificateRenewed"));
}

// A Secret as cert-manager writes it: tls.crt, tls.key, ca.crt.
std::map<std::string, std::string> IssuedData(const KeyPair& ca,
                                              const std::string& ns,
                                              absl::Time now) {
  CertificateSpec spec;
  spec.common_name = "cert-manager-issued";
  spec.dns_names = ServiceDnsNames(kDefaultServiceName, ns);
  spec.not_before = now - absl::Minutes(1);
  spec.not_after = now + absl::Hours(24 * 90);
  absl::StatusOr<KeyPair> leaf = Issue(spec, &ca);
  EXPECT_TRUE(leaf.ok()) << leaf.status();
  return {{kTlsCertKey, absl::Base64Escape(leaf->certificate.Pem())},
          {kTlsKeyKey, absl::Base64Escape(leaf->key.Pem())},
          {kCaCertKey, absl::Base64Escape(ca.certificate.Pem())}};
}

TEST(ReloaderE2eTest, CertManagerModeOnlyReads) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "certs-e2e");
  std::unique_ptr<runtime::EventRecorder> events = NewRecorder(api.get());
  CertificateSpec ca_spec;
  ca_spec.common_name = "cert-manager-ca";
  ca_spec.is_ca = true;
  ca_spec.not_before = absl::Now() - absl::Hours(1);
  ca_spec.not_after = absl::Now() + absl::Hours(24 * 365);
  absl::StatusOr<KeyPair> ca = Issue(ca_spec, nullptr);
  ASSERT_TRUE(ca.ok()) << ca.status();

  ReloaderOptions options;
  options.mode = CertMode::kCertManager;
  options.ns = ns.name();
  options.retry = absl::Milliseconds(200);
  options.events = events.get();
  CertificateReloader certs(api.get(), options);
  Heard heard;
  certs.AddListener([&](const ServingCertificate& c) { return heard.Take(c); });
  ASSERT_TRUE(certs.Start().ok());
  // Not issued yet: nothing to serve, and a Warning says why.
  ASSERT_TRUE(
      WaitFor([&] { return certs.stats().errors >= 1; }, absl::Seconds(30)));
  EXPECT_FALSE(certs.Current().has_value());

  k8s::Secret secret;
  secret.metadata.emplace();
  secret.metadata->name = kDefaultSecretName;
  secret.type = kTlsSecretType;
  secret.data = IssuedData(*ca, ns.name(), absl::Now());
  absl::StatusOr<k8s::Secret> created =
      k8s::SecretClient(*api).Create(ns.name(), secret);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(WaitFor([&] { return heard.size() == 1; }, absl::Seconds(30)));
  EXPECT_EQ(heard.last().ca_bundle_pem, ca->certificate.Pem());

  // cert-manager renews the leaf.
  created->data = IssuedData(*ca, ns.name(), absl::Now());
  absl::StatusOr<k8s::Secret> renewed =
      k8s::SecretClient(*api).Update(ns.name(), *created);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_TRUE(WaitFor([&] { return heard.size() == 2; }, absl::Seconds(30)));
  absl::StatusOr<SecretData> renewed_data = DecodeSecret(*renewed);
  ASSERT_TRUE(renewed_data.ok());
  EXPECT_EQ(heard.last().cert_pem, renewed_data->tls_crt);

  // Garbage: not delivered, not repaired (cert-manager owns the Secret).
  (*renewed->data)[kTlsCertKey] = absl::Base64Escape("garbage");
  absl::StatusOr<k8s::Secret> broken =
      k8s::SecretClient(*api).Update(ns.name(), *renewed);
  ASSERT_TRUE(broken.ok()) << broken.status();
  const int64_t errors = certs.stats().errors;
  ASSERT_TRUE(WaitFor([&] { return certs.stats().errors > errors; },
                      absl::Seconds(30)));
  EXPECT_EQ(heard.size(), 2u);
  EXPECT_EQ(certs.Current()->cert_pem, renewed_data->tls_crt);
  certs.Stop();
  absl::StatusOr<k8s::Secret> after =
      k8s::SecretClient(*api).Get(ns.name(), kDefaultSecretName);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->metadata->resource_version,
            broken->metadata->resource_version);
  EXPECT_EQ(certs.stats().writes, 0);

  EXPECT_THAT(AwaitEventReasons(api.get(), ns.name(), *events, 2),
              ::testing::UnorderedElementsAre("CertificateSecretNotFound",
                                              "InvalidCertificateSecret"));
}

// A Pod CREATE review, as the API server sends one.
std::string Review() {
  const nlohmann::json group_version = {{"group", ""}, {"version", "v1"}};
  nlohmann::json kind = group_version, resource = group_version;
  kind["kind"] = "Pod";
  resource["resource"] = "pods";
  nlohmann::json request = {{"uid", "rotation"},
                            {"kind", kind},
                            {"resource", resource},
                            {"namespace", "shop"},
                            {"operation", "CREATE"},
                            {"object",
                             {{"apiVersion", "v1"},
                              {"kind", "Pod"},
                              {"metadata", {{"name", "web"}}}}}};
  return nlohmann::json{{"apiVersion", "admission.k8s.io/v1"},
                        {"kind", "AdmissionReview"},
                        {"request", std::move(request)}}
      .dump();
}

// A TLS client that trusts exactly a bundle and checks the server's name.
class VerifyingClient {
 public:
  void Trust(const std::string& bundle_pem) {
    absl::MutexLock lock(&mu_);
    bundle_ = bundle_pem;
  }
  // One POST on a new connection (a new handshake each time).
  bool Call(int port) {
    std::string bundle;
    {
      absl::MutexLock lock(&mu_);
      bundle = bundle_;
    }
    absl::StatusOr<std::vector<Certificate>> cas = ParseCertificates(bundle);
    if (!cas.ok()) return false;
    X509_STORE* store = X509_STORE_new();
    for (const Certificate& ca : *cas) X509_STORE_add_cert(store, ca.get());
    httplib::SSLClient client("127.0.0.1", port);
    client.set_ca_cert_store(store);  // owned by the client from here
    client.enable_server_certificate_verification(true);
    client.set_connection_timeout(5);
    client.set_read_timeout(5);
    client.set_keep_alive(false);
    httplib::Result r = client.Post(kPodsPath, Review(), "application/json");
    return r && r->status == 200;
  }

 private:
  absl::Mutex mu_;
  std::string bundle_ ABSL_GUARDED_BY(mu_);
};

TEST(ReloaderE2eTest, ServerAnswersEveryRequestThroughARotation) {
  std::unique_ptr<client::RestClient> api = NewE2eClient();
  ASSERT_NE(api, nullptr);
  TestNamespace ns(api.get(), "certs-e2e");
  // webhook::Server checks a pair against the real clock, so the fake one
  // starts half an hour back and every step (80 minutes of it) issues
  // certificates valid now: backdated by an hour, lifetimes of hours.
  const absl::Time t0 = absl::FromUnixSeconds(
      absl::ToUnixSeconds(absl::Now() - absl::Minutes(30)));
  client::FakeClock clock(t0);
  ReloaderOptions options;
  options.ns = ns.name();
  options.rotation.service = kDefaultServiceName;
  options.rotation.ns = ns.name();
  options.rotation.ip_addresses = {"127.0.0.1"};
  options.rotation.ca_lifetime = absl::Hours(2);
  options.rotation.leaf_lifetime = absl::Minutes(90);
  options.rotation.overlap = absl::Minutes(10);
  options.clock = &clock;
  options.resync = absl::Hours(24);
  CertificateReloader certs(api.get(), options);
  ASSERT_TRUE(certs.Start().ok());
  ASSERT_TRUE(
      WaitFor([&] { return certs.Current().has_value(); }, absl::Seconds(30)));

  // Two replicas: `fresh` takes each certificate at once, `behind` one
  // step late. Two clients: one trusts the newest bundle, one the bundle
  // before (an API server whose caBundle is not written yet).
  AllowAll pods;
  runtime::Registry fresh_metrics, behind_metrics;
  const ServingCertificate first = *certs.Current();
  std::unique_ptr<Server> fresh = StartServer(&pods, first, &fresh_metrics);
  std::unique_ptr<Server> behind = StartServer(&pods, first, &behind_metrics);
  ASSERT_TRUE(fresh != nullptr && behind != nullptr);
  VerifyingClient newest, lagging;
  newest.Trust(first.ca_bundle_pem);
  lagging.Trust(first.ca_bundle_pem);
  absl::Mutex history_mu;
  std::vector<ServingCertificate> history;
  std::atomic<int> refused{0};
  certs.AddListener([&](const ServingCertificate& c) {
    absl::MutexLock lock(&history_mu);
    const ServingCertificate previous = history.empty() ? c : history.back();
    history.push_back(c);
    // In this order, nobody is ever two steps from anybody.
    if (!behind->SetCertificate(previous.cert_pem, previous.key_pem).ok()) {
      ++refused;
    }
    lagging.Trust(previous.ca_bundle_pem);
    if (!fresh->SetCertificate(c.cert_pem, c.key_pem).ok()) ++refused;
    newest.Trust(c.ca_bundle_pem);
    return absl::OkStatus();
  });

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  auto loop = [&](VerifyingClient* client) {
    while (!stop.load()) {
      for (Server* server : {fresh.get(), behind.get()}) {
        (client->Call(server->port()) ? ok : failed)++;
      }
      absl::SleepFor(absl::Milliseconds(5));  // pacing, not synchronisation
    }
  };
  std::thread newest_loop(loop, &newest);
  std::thread lagging_loop(loop, &lagging);
  auto some_requests = [&] {
    const int before = ok.load() + failed.load();
    return WaitFor([&] { return ok.load() + failed.load() >= before + 40; },
                   absl::Seconds(60));
  };
  EXPECT_TRUE(some_requests());

  // Walk the clock to each step the planner names: renew the leaf, start
  // the CA rotation, switch the leaf, drop the old CA.
  std::vector<size_t> cas_per_step;
  for (int step = 0; step < 4; ++step) {
    const SecretData stored = Stored(api.get(), ns.name());
    const Inspection in = Inspect(stored, clock.Now(), options.rotation);
    const Decision next = Decide(&in, clock.Now(), options.rotation);
    ASSERT_EQ(next.step, Step::kNone);
    const int64_t writes = certs.stats().writes;
    clock.SetTime(next.next_check);
    ASSERT_TRUE(WaitFor(
        [&] {
          return certs.stats().writes == writes + 1 &&
                 certs.Current()->cert_pem ==
                     Stored(api.get(), ns.name()).tls_crt &&
                 certs.Current()->ca_bundle_pem ==
                     Stored(api.get(), ns.name()).ca_crt;
        },
        absl::Seconds(30)))
        << "step " << step;
    absl::StatusOr<std::vector<Certificate>> bundle =
        ParseCertificates(certs.Current()->ca_bundle_pem);
    ASSERT_TRUE(bundle.ok());
    cas_per_step.push_back(bundle->size());
    EXPECT_TRUE(some_requests()) << "step " << step;
  }
  stop = true;
  newest_loop.join();
  lagging_loop.join();

  EXPECT_THAT(cas_per_step, ::testing::ElementsAre(1, 2, 2, 1));
  EXPECT_EQ(refused.load(), 0);
  std::cout << ok.load() << " requests answered, " << failed.load()
            << " failed, through " << cas_per_step.size() << " steps\n";
  EXPECT_EQ(failed.load(), 0) << ok.load() << " requests succeeded";
  EXPECT_GE(ok.load(), 200);  // 40 before the first step and after each
  {
    absl::MutexLock lock(&history_mu);
    ASSERT_EQ(history.size(), 5u);  // create and four steps
    // The control: a client two steps behind (the first bundle) does not
    // trust the leaf served after the switch, so the clients above did
    // verify what they were served.
    VerifyingClient stale;
    stale.Trust(history[0].ca_bundle_pem);
    EXPECT_FALSE(stale.Call(fresh->port()));
  }
}

}  // namespace
}  // namespace zenlead::webhook::certs
