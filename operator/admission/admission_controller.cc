#include "operator/admission/admission_controller.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "api/client/status_macros.h"
#include "api/pool/cache.h"
#include "operator/http_server.h"

namespace zenlead::op {
namespace {

webhook::GuardOptions GuardOptionsFor(const ControllerContext& context) {
  webhook::GuardOptions o;
  if (!context.identity.empty()) o.replica = context.identity;
  return o;
}

namespace certs = webhook::certs;
namespace configuration = webhook::configuration;

// The configuration's options from the process's: exactly one of URL and
// Service mode.
configuration::DesiredOptions DesiredFrom(const AdmissionOptions& o) {
  configuration::DesiredOptions d;
  d.name = o.configuration_name;
  if (!o.url.empty()) {
    d.base_url = o.url;
  } else {
    d.service =
        configuration::ServiceEndpoint{o.ns, o.service_name, o.service_port};
  }
  d.pod_failure_policy = o.pod_failure_policy;
  d.zen_lead_namespace = o.ns;
  d.namespace_match_labels = o.namespace_match_labels;
  return d;
}

// The host of an https:// URL when it is an IPv4 address (the certificate
// then names it as an IP SAN), else "".
std::string UrlIpHost(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://")) return "";
  rest = rest.substr(0, rest.find_first_of(":/"));
  if (rest.empty()) return "";
  for (char c : rest) {
    if (c != '.' && (c < '0' || c > '9')) return "";
  }
  return std::string(rest);
}

}  // namespace

absl::Status ValidateAdmissionOptions(const AdmissionOptions& o) {
  absl::StatusOr<BindAddress> bind = ParseBindAddress(o.bind_address);
  if (!bind.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--webhook-bind-address: ", bind.status().message(),
                     "; or \"0\" to disable the webhook"));
  }
  if (o.ns.empty()) {
    return absl::InvalidArgumentError(
        "the webhook needs zen-lead's namespace (--leader-election-namespace "
        "or $POD_NAMESPACE)");
  }
  if (o.cert_secret.empty()) {
    return absl::InvalidArgumentError("--webhook-cert-secret: empty");
  }
  if (absl::Status s = configuration::ValidateDesiredOptions(DesiredFrom(o));
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--webhook-url / --webhook-service: ", s.message()));
  }
  if (absl::Status s = certs::ValidateRotationOptions(o.rotation); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--webhook-ca-duration, --webhook-cert-duration, "
                     "--webhook-rotation-overlap: ",
                     s.message()));
  }
  if (o.owner.name.empty()) {
    return absl::InvalidArgumentError("--webhook-owner: empty name");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AdmissionController>>
AdmissionController::Create(const ControllerContext& context,
                            AdmissionOptions options) {
  RETURN_IF_ERROR(ValidateAdmissionOptions(options));
  if (context.client == nullptr || context.writer == nullptr ||
      context.cache == nullptr) {
    return absl::InvalidArgumentError(
        "the webhook needs the manager's client, writer and cache");
  }
  configuration::WriterOptions writer_options;
  writer_options.desired = DesiredFrom(options);
  writer_options.owner = options.owner;
  writer_options.logger = &context.logger;
  ASSIGN_OR_RETURN(std::unique_ptr<configuration::Writer> writer,
                   configuration::Writer::Create(context.writer, context.client,
                                                 std::move(writer_options)));
  return std::unique_ptr<AdmissionController>(
      new AdmissionController(context, std::move(options), std::move(writer)));
}

AdmissionController::AdmissionController(
    const ControllerContext& context, AdmissionOptions options,
    std::unique_ptr<configuration::Writer> writer)
    : context_(context),
      options_(std::move(options)),
      log_(context.logger.With({{"controller", "webhook"}})),
      lookups_(context.cache, context.client),
      policies_(&lookups_),
      owners_(context.client, nullptr),
      guarded_(context.cache, context.client, &owners_,
               GuardOptionsFor(context)),
      pods_(context.cache, &guarded_),
      writer_(std::move(writer)) {}

AdmissionController::~AdmissionController() { Stop(); }

absl::Status AdmissionController::Start() {
  // What the handlers read: membership (owner chain, Service selectors),
  // the pools' LeaderPolicies and Leases (the Gatekeeper and StateGuard),
  // and the Deployments and Leases of a pool for the policy checks.
  for (pool::CacheKind kind :
       {pool::CacheKind::kPolicies, pool::CacheKind::kPods,
        pool::CacheKind::kReplicaSets, pool::CacheKind::kDeployments,
        pool::CacheKind::kStatefulSets, pool::CacheKind::kJobs,
        pool::CacheKind::kCronJobs, pool::CacheKind::kServices,
        pool::CacheKind::kLeases, pool::CacheKind::kOtherLeases}) {
    RETURN_IF_ERROR(context_.cache->Use(kind).status());
  }
  certs::ReloaderOptions reloader;
  reloader.mode = options_.cert_mode;
  reloader.ns = options_.ns;
  reloader.secret_name = options_.cert_secret;
  reloader.rotation = options_.rotation;
  reloader.rotation.service = options_.service_name;
  reloader.rotation.ns = options_.ns;
  if (std::string ip = UrlIpHost(options_.url); !ip.empty()) {
    reloader.rotation.ip_addresses.push_back(std::move(ip));
  }
  reloader.logger = &log_;
  reloader.metrics = context_.metrics;
  reloader.events = context_.events;
  // Every replica reads and (self-managed) converges the Secret, standbys
  // too: they serve the webhook as well. Not through the leader-guarded
  // writer; the Secret's resourceVersion picks one writer.
  reloader_ = std::make_unique<certs::CertificateReloader>(context_.client,
                                                           std::move(reloader));
  RETURN_IF_ERROR(reloader_->Start());
  reloader_->AddListener(
      [this](const certs::ServingCertificate& c) { return OnCertificate(c); });
  return absl::OkStatus();
}

bool AdmissionController::HasSynced() const {
  return reloader_ != nullptr && reloader_->Current().has_value();
}

void AdmissionController::CachesSynced() {
  std::optional<certs::ServingCertificate> current = reloader_->Current();
  absl::MutexLock lock(&mu_);
  synced_ = true;
  if (current.has_value() && server_ == nullptr) {
    serve_error_ = StartServer(*current);
  }
}

absl::Status AdmissionController::StartServer(
    const certs::ServingCertificate& c) {
  ASSIGN_OR_RETURN(BindAddress bind, ParseBindAddress(options_.bind_address));
  webhook::ServerOptions server;
  server.host = bind.host.empty() ? "0.0.0.0" : bind.host;
  server.port = bind.port;
  server.cert_pem = c.cert_pem;
  server.key_pem = c.key_pem;
  server.metrics = context_.metrics;
  // Pods: what the server cannot decide goes to the failure policy the
  // user chose (server.h, Route::undecided_fails_call).
  server.routes.push_back(
      {webhook::kPodsPath, webhook::PodsRoute(), &pods_, true});
  server.routes.push_back({webhook::kLeaderPoliciesPath,
                           webhook::LeaderPoliciesRoute(), &policies_});
  absl::StatusOr<std::unique_ptr<webhook::Server>> started =
      webhook::Server::Start(server);
  if (!started.ok()) {
    log_.Error("the webhook cannot serve",
               {{"address", options_.bind_address},
                {"error", std::string(started.status().message())}});
    return started.status();
  }
  server_ = std::move(*started);
  log_.Info("serving", {{"server", "webhook"},
                        {"address", options_.bind_address},
                        {"port", server_->port()}});
  return absl::OkStatus();
}

absl::Status AdmissionController::OnCertificate(
    const certs::ServingCertificate& c) {
  bool write = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return absl::OkStatus();
    if (server_ != nullptr) {
      RETURN_IF_ERROR(server_->SetCertificate(c.cert_pem, c.key_pem));
    } else if (synced_) {
      serve_error_ = StartServer(c);
    }
    write = leading_;
  }
  // The writer retries a failed write by itself once started.
  if (write) return writer_->Update(c.ca_bundle_pem);
  return absl::OkStatus();
}

void AdmissionController::StartWorkers() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_ || leading_) return;
    leading_ = true;
    if (!writer_started_) {
      writer_started_ = true;
      if (absl::Status s = writer_->Start(); !s.ok()) {
        log_.Error("cannot keep the webhook configuration",
                   {{"error", std::string(s.message())}});
      }
    }
  }
  if (std::optional<certs::ServingCertificate> c = reloader_->Current()) {
    if (absl::Status s = writer_->Update(c->ca_bundle_pem); !s.ok()) {
      log_.Warning("writing the webhook configuration failed; retrying",
                   {{"error", std::string(s.message())}});
    }
  }
}

void AdmissionController::StopWorkers() {
  {
    absl::MutexLock lock(&mu_);
    leading_ = false;
  }
  // The writer's own writes go through the leader-guarded client, which
  // refuses them from now on; its watch ends here.
  writer_->Stop();
}

void AdmissionController::Stop() {
  StopWorkers();
  // Not under mu_: the reloader's listener takes it.
  if (reloader_ != nullptr) reloader_->Stop();
  std::unique_ptr<webhook::Server> server;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    server = std::move(server_);
  }
  if (server != nullptr) server->Stop();
}

absl::Status AdmissionController::Healthy() const {
  absl::MutexLock lock(&mu_);
  if (!serve_error_.ok()) {
    return absl::UnavailableError(
        absl::StrCat("webhook: cannot serve: ", serve_error_.message()));
  }
  return absl::OkStatus();
}

int AdmissionController::port() const {
  absl::MutexLock lock(&mu_);
  return server_ != nullptr ? server_->port() : 0;
}

}  // namespace zenlead::op
