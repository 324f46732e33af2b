// The webhook's certificate on every replica: watches the certificate
// Secret in zen-lead's namespace and hands (certificate, key, CA bundle) to
// its listeners whenever one of them changes, so the process swaps the
// served pair (webhook::Server::SetCertificate) and the webhook
// configuration writer updates caBundle, with no restart.
//
// Self-managed mode (the default): every replica also converges the Secret
// (secret_store.h: create once, rotate with an overlap; the API server's
// resourceVersion picks one writer and the others re-plan). cert-manager
// mode: the Secret is cert-manager's (config/certmanager) and is only read;
// a Secret that is missing or unusable gets a Warning Event and the last
// good certificate stays in use.
//
// The process's flags (operator/main.cc):
//   --webhook-cert-mode=self-managed|cert-manager   (ParseCertMode)
//   --webhook-cert-secret=<name>    default kDefaultSecretName; the Role in
//                                   config/rbac names it (resourceNames)
//
//   ReloaderOptions options;
//   options.mode = CertMode::kSelfManaged;
//   options.ns = "zen-lead-system";                   // $POD_NAMESPACE
//   options.rotation.service = kDefaultServiceName;   // the webhook Service
//   options.rotation.ns = "zen-lead-system";
//   options.metrics = &registry;
//   options.events = &events;                         // or nullptr
//   CertificateReloader certs(client.get(), std::move(options));
//   if (absl::Status s = certs.Start(); !s.ok()) return s;
//   if (!certs.WaitForCertificate(clock->Now() + absl::Seconds(30))) {
//     // no certificate yet: the Secret could not be read or written
//   }
//   ServingCertificate first = *certs.Current();      // for Server::Start
//   certs.AddListener([&](const ServingCertificate& c) {
//     return server->SetCertificate(c.cert_pem, c.key_pem);
//   });
//   certs.Stop();                                     // also the destructor
//
// Compiled in reloader_e2e_test.cc.
//
// The Secret is watched by an informer of its own (a fieldSelector on its
// name), not through the shared pool cache: that cache lists every
// namespace zen-lead watches, and its Role may read Secrets in zen-lead's
// own namespace only, and only this one. Events only wake the loop; each
// decision reads the Secret with a quorum GET, so nothing is decided from
// a stale copy. Without events the loop still wakes at the planner's next
// step and every `resync`, which also refreshes the expiry gauges.
//
// Metrics (names under zen_lead_webhook_):
//   certificate_expiry_seconds{certificate="serving"|"ca"}  seconds left
//       until the served leaf / the CA that issued it expires
//   certificate_rotations_total{step}  steps this replica wrote (step as
//       StepName: create, renew_leaf, start_ca_rotation, switch_leaf,
//       drop_old_ca, recreate)
//   certificate_sync_errors_total  syncs that failed (read, write, listener)
// Events on the Secret: Normal CertificateCreated, CertificateRenewed,
// CARotationStarted, CertificateRotated, CARotationFinished; Warning
// InvalidCertificateSecret (self-managed: what was repaired and how;
// cert-manager: what is wrong) and CertificateSecretNotFound (cert-manager).
#ifndef ZEN_LEAD_WEBHOOK_CERTS_RELOADER_H_
#define ZEN_LEAD_WEBHOOK_CERTS_RELOADER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/runtime/event_recorder.h"
#include "api/runtime/informer.h"
#include "api/runtime/logging.h"
#include "api/runtime/metrics.h"
#include "webhook/certs/rotation.h"
#include "webhook/certs/secret_store.h"

namespace zenlead::webhook::certs {

enum class CertMode { kSelfManaged, kCertManager };

// The --webhook-cert-mode values.
inline constexpr char kSelfManagedMode[] = "self-managed";
inline constexpr char kCertManagerMode[] = "cert-manager";

// InvalidArgument naming the flag and its values for anything else.
absl::StatusOr<CertMode> ParseCertMode(absl::string_view value);

// What the webhook serves and what its configuration's caBundle trusts.
struct ServingCertificate {
  std::string cert_pem;       // tls.crt
  std::string key_pem;        // tls.key
  std::string ca_bundle_pem;  // ca.crt: one CA, two during a rotation

  bool operator==(const ServingCertificate& o) const {
    return cert_pem == o.cert_pem && key_pem == o.key_pem &&
           ca_bundle_pem == o.ca_bundle_pem;
  }
  bool operator!=(const ServingCertificate& o) const { return !(*this == o); }
};

// Called with each new certificate. An error (a pair the server refuses)
// is logged and counted, and the same listener is called again after
// `retry` until it succeeds or a newer certificate replaces it.
using CertificateListener =
    std::function<absl::Status(const ServingCertificate&)>;

struct ReloaderOptions {
  CertMode mode = CertMode::kSelfManaged;
  // zen-lead's namespace, where the Secret lives. Required.
  std::string ns;
  std::string secret_name = kDefaultSecretName;
  // Self-managed: lifetimes, overlap and the Service the leaf names
  // (service and ns required). cert-manager: only max_clock_skew is read.
  RotationOptions rotation;
  // The loop looks at the Secret at least this often.
  absl::Duration resync = absl::Minutes(1);
  // After a failed sync or listener.
  absl::Duration retry = absl::Seconds(10);
  // Rotation times and the loop's waits; nullptr: RealClock().
  client::Clock* clock = nullptr;
  // nullptr: DefaultLogger().
  const runtime::Logger* logger = nullptr;
  // Metrics are registered here at Start; nullptr: none.
  runtime::Registry* metrics = nullptr;
  // Not owned; nullptr: no Events.
  runtime::EventRecorder* events = nullptr;
};

class CertificateReloader {
 public:
  // client: reads, writes and watches the Secret; not owned, must outlive
  // the reloader.
  CertificateReloader(client::Client* client, ReloaderOptions options);
  // Stops.
  ~CertificateReloader();

  CertificateReloader(const CertificateReloader&) = delete;
  CertificateReloader& operator=(const CertificateReloader&) = delete;

  // Checks the options, registers the metrics, starts the Secret's
  // informer and the loop (whose first sync runs at once). Once.
  absl::Status Start();
  // Ends the loop and the informer. Idempotent; not from a listener.
  void Stop();

  // Calls `listener` at once with the current certificate, when there is
  // one, then with every change, on the reloader's thread (never two calls
  // at once). Not from a listener.
  void AddListener(CertificateListener listener);

  // The certificate last read from the Secret (nullopt before the first).
  std::optional<ServingCertificate> Current() const;
  // Waits until there is a certificate, Stop(), or `deadline` on the
  // clock; returns whether there is one.
  bool WaitForCertificate(absl::Time deadline) const;

  // One sync now, as the loop runs it: read (and in self-managed mode
  // converge) the Secret, update the metrics, tell the listeners. Returns
  // the sync's error; for tests and tools, the loop needs no help.
  absl::Status SyncNow();

  struct Stats {
    int64_t syncs = 0;      // completed syncs
    int64_t errors = 0;     // failed syncs and listener calls
    int64_t writes = 0;     // steps this replica wrote
    int64_t conflicts = 0;  // writes another replica won (re-planned)
    int64_t changes = 0;    // distinct certificates read
  };
  Stats stats() const;

 private:
  struct Listener {
    CertificateListener fn;
    // The change (Stats::changes) this listener last took; 0: none.
    int64_t delivered = 0;
  };
  struct Metrics;
  // What one sync found.
  struct SyncResult {
    std::optional<ServingCertificate> certificate;
    absl::Time next;
    absl::Status status;
  };

  void Loop();
  // Reads or converges the Secret, tells the listeners, counts; the
  // result says when to sync next.
  SyncResult Sync() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  SyncResult SyncSelfManaged(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  SyncResult SyncCertManager(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  // Hands the current certificate to listeners that lack it; false when
  // one failed.
  bool Deliver() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_mu_);
  void UpdateExpiry(const ServingCertificate& cert, absl::Time now);
  void Record(runtime::EventType type, absl::string_view reason,
              absl::string_view note, const std::string& uid);
  void Wake();

  client::Client* const client_;
  const ReloaderOptions options_;
  client::Clock* const clock_;
  const runtime::Logger log_;
  const SecretStore store_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<runtime::Informer> informer_;

  // Held for a whole sync, and while listeners are called.
  absl::Mutex sync_mu_;
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(sync_mu_);
  // cert-manager: the problem last reported, so a resync does not repeat it.
  std::string reported_ ABSL_GUARDED_BY(sync_mu_);
  std::string secret_uid_ ABSL_GUARDED_BY(sync_mu_);

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<ServingCertificate> current_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread loop_;
};

}  // namespace zenlead::webhook::certs

#endif  // ZEN_LEAD_WEBHOOK_CERTS_RELOADER_H_
