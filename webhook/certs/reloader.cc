#include "webhook/certs/reloader.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/types/secret.h"

namespace zenlead::webhook::certs {

struct CertificateReloader::Metrics {
  // Used when the options give no registry.
  std::unique_ptr<runtime::Registry> own;
  runtime::Gauge* serving_expiry = nullptr;
  runtime::Gauge* ca_expiry = nullptr;
  runtime::CounterFamily* rotations = nullptr;
  runtime::Counter* errors = nullptr;
};

namespace {

// The Event for a step this replica wrote.
absl::string_view EventReason(const Decision& d) {
  if (d.repair) return "InvalidCertificateSecret";
  switch (d.step) {
    case Step::kCreate:
      return "CertificateCreated";
    case Step::kRenewLeaf:
      return "CertificateRenewed";
    case Step::kStartCaRotation:
      return "CARotationStarted";
    case Step::kSwitchLeaf:
      return "CertificateRotated";
    case Step::kDropOldCa:
      return "CARotationFinished";
    case Step::kNone:
    case Step::kRecreate:
      break;
  }
  return "InvalidCertificateSecret";
}

ServingCertificate FromData(const SecretData& data) {
  return {data.tls_crt, data.tls_key, data.ca_crt};
}

absl::Status Validate(const ReloaderOptions& o) {
  if (o.ns.empty() || o.secret_name.empty()) {
    return absl::InvalidArgumentError(
        "webhook certificates: the namespace and --webhook-cert-secret must "
        "be set");
  }
  if (o.resync <= absl::ZeroDuration() || o.retry <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "webhook certificates: resync and retry must be positive");
  }
  if (o.mode == CertMode::kCertManager) return absl::OkStatus();
  if (o.rotation.service.empty() || o.rotation.ns.empty()) {
    return absl::InvalidArgumentError(
        "webhook certificates: self-managed mode needs the webhook Service's "
        "name and namespace (the serving certificate names them)");
  }
  return ValidateRotationOptions(o.rotation);
}

}  // namespace

absl::StatusOr<CertMode> ParseCertMode(absl::string_view value) {
  if (value == kSelfManagedMode) return CertMode::kSelfManaged;
  if (value == kCertManagerMode) return CertMode::kCertManager;
  return absl::InvalidArgumentError(
      absl::StrCat("--webhook-cert-mode: \"", value, "\": expected \"",
                   kSelfManagedMode, "\" or \"", kCertManagerMode, "\""));
}

CertificateReloader::CertificateReloader(client::Client* client,
                                         ReloaderOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : client::RealClock()),
      log_((options_.logger != nullptr ? *options_.logger
                                       : runtime::DefaultLogger())
               .With({{"component", "webhook-certs"},
                      {"secret", options_.ns + "/" + options_.secret_name}})),
      store_(client, options_.ns, options_.secret_name) {}

CertificateReloader::~CertificateReloader() { Stop(); }

absl::Status CertificateReloader::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) {
      return absl::FailedPreconditionError("the reloader was started before");
    }
    started_ = true;
  }
  if (absl::Status s = Validate(options_); !s.ok()) return s;

  auto metrics = std::make_unique<Metrics>();
  runtime::Registry* registry = options_.metrics;
  if (registry == nullptr) {
    metrics->own = std::make_unique<runtime::Registry>();
    registry = metrics->own.get();
  }
  absl::StatusOr<runtime::GaugeFamily*> expiry = registry->AddGauge(
      "zen_lead_webhook_certificate_expiry_seconds",
      "Seconds until the served certificate (serving) or the CA that issued "
      "it (ca) expires.",
      {"certificate"});
  if (!expiry.ok()) return expiry.status();
  absl::StatusOr<runtime::CounterFamily*> rotations = registry->AddCounter(
      "zen_lead_webhook_certificate_rotations_total",
      "Steps of the self-managed certificate's life this replica wrote to "
      "the Secret.",
      {"step"});
  if (!rotations.ok()) return rotations.status();
  absl::StatusOr<runtime::CounterFamily*> errors = registry->AddCounter(
      "zen_lead_webhook_certificate_sync_errors_total",
      "Syncs of the certificate Secret or calls of its listeners that "
      "failed.",
      {});
  if (!errors.ok()) return errors.status();
  metrics->serving_expiry = (*expiry)->WithLabels({"serving"});
  metrics->ca_expiry = (*expiry)->WithLabels({"ca"});
  metrics->rotations = *rotations;
  metrics->errors = (*errors)->WithLabels({});
  metrics_ = std::move(metrics);

  runtime::InformerOptions watch;
  watch.resource = k8s::SecretClient::Resource();
  watch.ns = options_.ns;
  watch.field_selector = absl::StrCat("metadata.name=", options_.secret_name);
  watch.logger = options_.logger;
  informer_ = std::make_unique<runtime::Informer>(client_, std::move(watch));
  runtime::EventHandler wake;
  wake.on_add = [this](const runtime::ObjectPtr&) { Wake(); };
  wake.on_update = [this](const runtime::ObjectPtr&,
                          const runtime::ObjectPtr&) { Wake(); };
  wake.on_delete = [this](const runtime::ObjectPtr&, bool) { Wake(); };
  if (absl::Status s = informer_->AddEventHandler(std::move(wake)); !s.ok()) {
    return s;
  }
  if (absl::Status s = informer_->Start(); !s.ok()) return s;
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void CertificateReloader::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
  if (informer_ != nullptr) informer_->Stop();
}

void CertificateReloader::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void CertificateReloader::AddListener(CertificateListener listener) {
  absl::MutexLock sync(&sync_mu_);
  listeners_.push_back(Listener{std::move(listener), 0});
  Deliver();
}

std::optional<ServingCertificate> CertificateReloader::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

bool CertificateReloader::WaitForCertificate(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return current_.has_value() || stopping_;
  };
  clock_->AwaitWithDeadline(&mu_, absl::Condition(&ready), deadline);
  return current_.has_value();
}

CertificateReloader::Stats CertificateReloader::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status CertificateReloader::SyncNow() {
  absl::MutexLock sync(&sync_mu_);
  return Sync().status;
}

void CertificateReloader::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      // Events from here on wake the next round.
      wake_ = false;
    }
    absl::Time next;
    {
      absl::MutexLock sync(&sync_mu_);
      next = Sync().next;
    }
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return wake_ || stopping_;
    };
    clock_->AwaitWithDeadline(&mu_, absl::Condition(&woken), next);
  }
}

CertificateReloader::SyncResult CertificateReloader::Sync() {
  const absl::Time now = clock_->Now();
  SyncResult result = options_.mode == CertMode::kSelfManaged
                          ? SyncSelfManaged(now)
                          : SyncCertManager(now);
  result.next = std::min(result.next, now + options_.resync);
  if (!result.status.ok()) {
    log_.Error("webhook certificate sync failed",
               {{"error", result.status.ToString()}});
  }
  std::optional<ServingCertificate> current;
  {
    absl::MutexLock lock(&mu_);
    if (result.certificate.has_value() && current_ != result.certificate) {
      current_ = result.certificate;
      ++stats_.changes;
    }
    current = current_;
  }
  if (current.has_value()) {
    UpdateExpiry(*current, now);
    if (!Deliver() && result.status.ok()) {
      result.status = absl::UnavailableError(
          "a listener refused the webhook certificate (see the log)");
    }
  }
  absl::MutexLock lock(&mu_);
  ++stats_.syncs;
  if (!result.status.ok()) {
    ++stats_.errors;
    metrics_->errors->Inc();
    result.next = std::min(result.next, now + options_.retry);
  }
  return result;
}

CertificateReloader::SyncResult CertificateReloader::SyncSelfManaged(
    absl::Time now) {
  SyncResult out;
  out.next = now + options_.retry;
  absl::StatusOr<Converged> converged =
      Converge(store_, now, options_.rotation);
  if (!converged.ok()) {
    out.status = converged.status();
    return out;
  }
  if (converged->secret.metadata.has_value()) {
    secret_uid_ = converged->secret.metadata->uid.value_or("");
  }
  {
    absl::MutexLock lock(&mu_);
    stats_.writes += static_cast<int64_t>(converged->written.size());
    stats_.conflicts += converged->conflicts;
  }
  for (const Decision& step : converged->written) {
    metrics_->rotations->WithLabels({std::string(StepName(step.step))})->Inc();
    const runtime::EventType type = step.repair ? runtime::EventType::kWarning
                                                : runtime::EventType::kNormal;
    const runtime::LogFields fields = {{"step", StepName(step.step)},
                                       {"reason", step.reason}};
    if (step.repair) {
      log_.Warning("webhook certificate Secret repaired", fields);
    } else {
      log_.Info("webhook certificate step written", fields);
    }
    Record(type, EventReason(step), step.reason, secret_uid_);
  }
  if (converged->conflicts > 0) {
    log_.Info("another replica wrote the certificate Secret first; re-planned",
              {{"conflicts", converged->conflicts}});
  }
  out.certificate = FromData(converged->data);
  out.next = converged->next_check;
  return out;
}

CertificateReloader::SyncResult CertificateReloader::SyncCertManager(
    absl::Time now) {
  SyncResult out;
  out.next = now + options_.resync;
  absl::StatusOr<std::optional<k8s::Secret>> read = store_.Read();
  if (!read.ok()) {
    out.status = read.status();
    return out;
  }
  std::string problem;
  SecretData data;
  if (!read->has_value()) {
    problem = absl::StrCat(
        "Secret ", options_.ns, "/", options_.secret_name,
        " does not exist: is cert-manager installed, and is the webhook "
        "Certificate (config/certmanager) Ready?");
  } else {
    const k8s::Secret& secret = **read;
    if (secret.metadata.has_value()) {
      secret_uid_ = secret.metadata->uid.value_or("");
    }
    absl::StatusOr<SecretData> decoded = DecodeSecret(secret);
    if (!decoded.ok()) {
      problem = std::string(decoded.status().message());
    } else {
      data = *std::move(decoded);
      // cert-manager's Certificate says which names the leaf carries.
      RotationOptions any;
      any.max_clock_skew = options_.rotation.max_clock_skew;
      const Inspection in = Inspect(data, now, any);
      if (!in.leaf.has_value()) problem = in.leaf_problem;
    }
  }
  if (problem.empty()) {
    reported_.clear();
    out.certificate = FromData(data);
    return out;
  }
  out.status = absl::FailedPreconditionError(
      absl::StrCat(problem, "; the last good certificate stays in use"));
  if (problem != reported_) {
    reported_ = problem;
    Record(runtime::EventType::kWarning,
           read->has_value() ? "InvalidCertificateSecret"
                             : "CertificateSecretNotFound",
           out.status.message(), secret_uid_);
  }
  return out;
}

bool CertificateReloader::Deliver() {
  std::optional<ServingCertificate> cert;
  int64_t change = 0;
  {
    absl::MutexLock lock(&mu_);
    cert = current_;
    change = stats_.changes;
  }
  if (!cert.has_value()) return true;
  bool ok = true;
  for (Listener& l : listeners_) {
    if (l.delivered == change) continue;
    absl::Status taken = l.fn(*cert);
    if (taken.ok()) {
      l.delivered = change;
      continue;
    }
    ok = false;
    log_.Error("a listener refused the webhook certificate; retrying",
               {{"error", taken.ToString()}});
  }
  return ok;
}

void CertificateReloader::UpdateExpiry(const ServingCertificate& cert,
                                       absl::Time now) {
  // Negative once expired: an alert on "below N days" keeps firing.
  absl::StatusOr<Certificate> leaf = Certificate::FromPem(cert.cert_pem);
  if (!leaf.ok()) return;
  metrics_->serving_expiry->Set(absl::ToDoubleSeconds(leaf->not_after() - now));
  absl::StatusOr<std::vector<Certificate>> bundle =
      ParseCertificates(cert.ca_bundle_pem);
  if (!bundle.ok()) return;
  for (const Certificate& ca : *bundle) {
    if (!VerifyIssuedBy(*leaf, ca).ok()) continue;
    metrics_->ca_expiry->Set(absl::ToDoubleSeconds(ca.not_after() - now));
    return;
  }
}

void CertificateReloader::Record(runtime::EventType type,
                                 absl::string_view reason,
                                 absl::string_view note,
                                 const std::string& uid) {
  if (options_.events == nullptr) return;
  runtime::ObjectReference ref{"v1", "Secret", options_.ns,
                               options_.secret_name, uid};
  absl::Status queued =
      options_.events->Record(ref, type, reason, "RotateCertificate", note);
  if (!queued.ok()) {
    log_.Warning("event not recorded", {{"reason", std::string(reason)},
                                        {"error", queued.ToString()}});
  }
}

}  // namespace zenlead::webhook::certs
