// The admission webhook inside the zen-lead process (SPEC §3.4, §4): every
// replica, standbys too, serves it from the process's one cache with the
// certificate the reloader keeps (webhook/certs/reloader.h); the elected
// replica also writes the ValidatingWebhookConfiguration that registers it
// (webhook/configuration/writer.h) and keeps its caBundle current.
//
// As a Controller (operator/controller.h):
//   Start()         registers the cache kinds the handlers read, starts the
//                   certificate reloader (self-managed: creates the Secret
//                   once between replicas, rotates it)
//   HasSynced()     a certificate is there
//   CachesSynced()  every replica: serves HTTPS (before that the port is
//                   closed, so the API server applies the failure policy:
//                   pods admitted, LeaderPolicy changes refused)
//   StartWorkers()  elected: writes the configuration with the current
//                   caBundle, then on every change of it
//   StopWorkers()   stops writing; the configuration stays for the next
//                   leader
//   Stop()          stops serving and the reloader
//
//   AdmissionOptions options;
//   options.bind_address = ":9443";
//   options.ns = "zen-lead-system";                  // zen-lead's own
//   options.url = "https://127.0.0.1:9443";          // or "" for Service mode
//   options.owner = configuration::LeaderPolicyCrdOwner();
//   ASSIGN_OR_RETURN(std::unique_ptr<AdmissionController> webhook,
//                    AdmissionController::Create(context, options));
//   controllers.push_back(std::move(webhook));
//
// Compiled in admission_controller_test.cc.
#ifndef ZEN_LEAD_OPERATOR_ADMISSION_ADMISSION_CONTROLLER_H_
#define ZEN_LEAD_OPERATOR_ADMISSION_ADMISSION_CONTROLLER_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/controller.h"
#include "operator/manager.h"
#include "webhook/certs/reloader.h"
#include "webhook/configuration/desired.h"
#include "webhook/configuration/owner.h"
#include "webhook/configuration/writer.h"
#include "webhook/gatekeeper.h"
#include "webhook/handlers.h"
#include "webhook/pod_admission.h"
#include "webhook/policy_validation_cache.h"
#include "webhook/server.h"

namespace zenlead::op {

struct AdmissionOptions {
  // "host:port" or ":port" the webhook listens on (port 0: any free one).
  std::string bind_address = ":9443";
  // zen-lead's own namespace: the certificate Secret, the Service the
  // certificate names, and a namespace the pods webhook never sees.
  std::string ns;
  webhook::certs::CertMode cert_mode = webhook::certs::CertMode::kSelfManaged;
  std::string cert_secret = webhook::certs::kDefaultSecretName;
  // The webhook Service (Service mode, and the certificate's DNS names).
  std::string service_name = webhook::certs::kDefaultServiceName;
  int service_port = 443;
  // URL mode: the base URL the API server calls ("https://127.0.0.1:9443",
  // the routes' paths appended), and the certificate names its host as an
  // IP address. Empty: Service mode.
  std::string url;
  webhook::configuration::FailurePolicy pod_failure_policy =
      webhook::configuration::FailurePolicy::kIgnore;
  std::string configuration_name =
      webhook::configuration::kDefaultConfigurationName;
  webhook::configuration::OwnerName owner;
  // Tests: limit the configuration to namespaces with these labels.
  std::map<std::string, std::string> namespace_match_labels;
  // Self-managed certificate lifetimes (the defaults of rotation.h).
  webhook::certs::RotationOptions rotation;
};

// InvalidArgument naming the flag: the bind address, an empty namespace,
// a URL that is not https://host:port, a port outside 1..65535.
absl::Status ValidateAdmissionOptions(const AdmissionOptions& options);

class AdmissionController : public Controller {
 public:
  // context: the manager's (client, writer, cache, metrics, events, logger).
  static absl::StatusOr<std::unique_ptr<AdmissionController>> Create(
      const ControllerContext& context, AdmissionOptions options);
  ~AdmissionController() override;

  absl::Status Start() override;
  bool HasSynced() const override;
  void CachesSynced() override;
  void StartWorkers() override;
  void StopWorkers() override;
  void Stop() override;
  absl::Status Healthy() const override;

  // The port served (0 before CachesSynced or when serving failed).
  int port() const;

 private:
  AdmissionController(const ControllerContext& context,
                      AdmissionOptions options,
                      std::unique_ptr<webhook::configuration::Writer> writer);

  // The reloader's listener: a new pair for the server, a new bundle for
  // the configuration when this replica writes it.
  absl::Status OnCertificate(const webhook::certs::ServingCertificate& c)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status StartServer(const webhook::certs::ServingCertificate& c)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ControllerContext context_;
  const AdmissionOptions options_;
  const runtime::Logger log_;
  webhook::CachePolicyLookups lookups_;
  webhook::PolicyAdmission policies_;
  pool::OwnerReader owners_;
  webhook::GuardedPods guarded_;
  webhook::PodAdmission pods_;
  std::unique_ptr<webhook::certs::CertificateReloader> reloader_;
  std::unique_ptr<webhook::configuration::Writer> writer_;

  mutable absl::Mutex mu_;
  std::unique_ptr<webhook::Server> server_ ABSL_GUARDED_BY(mu_);
  absl::Status serve_error_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_ADMISSION_ADMISSION_CONTROLLER_H_
