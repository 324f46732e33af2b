// zen-lead-operator: the operator process (manager.h). Flags follow
// controller-runtime's names (config/manager/manager.yaml uses them);
// `zen-lead-operator --help` lists them all.
//
//   zen-lead-operator --leader-elect --metrics-bind-address=:8080
//       --health-probe-bind-address=:8081 --grpc-bind-address=:9090
//
// (the in-cluster form, config/manager; without the address flags metrics
// and gRPC listen on 127.0.0.1 only).
//
// Exit codes: 0 after SIGTERM/SIGINT (graceful: workers stopped, operator
// Lease released, servers stopped), 1 on a startup error or after losing the
// operator Lease (the kubelet restarts the container with clean state), 2 for
// bad flags. A second SIGTERM/SIGINT exits at once with 1.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "api/runtime/event_recorder.h"
#include "api/runtime/logging.h"
#include "operator/admission/admission_controller.h"
#include "operator/manager.h"
#include "operator/stateguard/state_guard.h"
#include "operator/trafficdirector/traffic_director.h"
#include "webhook/certs/reloader.h"
#include "webhook/configuration/desired.h"
#include "webhook/configuration/owner.h"

ABSL_FLAG(std::string, kubeconfig, "",
          "Path to a kubeconfig file. Default: the first file in $KUBECONFIG, "
          "else the in-cluster service account, else ~/.kube/config.");
ABSL_FLAG(std::string, namespace, "",
          "Watch only this namespace. Default: all namespaces.");
ABSL_FLAG(bool, leader_elect, false,
          "Elect one active replica through a coordination.k8s.io Lease; the "
          "others keep warm caches and take over when it goes away. Use it "
          "whenever more than one replica runs.");
ABSL_FLAG(std::string, leader_election_namespace, "",
          "Namespace of the operator's Lease. Default: $POD_NAMESPACE, else "
          "\"zen-lead-system\".");
ABSL_FLAG(std::string, leader_election_id, "zen-lead-operator",
          "Name of the operator's Lease.");
ABSL_FLAG(absl::Duration, leader_election_lease_duration, absl::Seconds(15),
          "How long standbys wait after the last renewal before taking the "
          "Lease from a leader that vanished without releasing it.");
ABSL_FLAG(absl::Duration, renew_deadline, absl::Seconds(10),
          "How long the leader keeps trying to renew before it stops "
          "leading (and exits). Less than the lease duration.");
ABSL_FLAG(absl::Duration, retry_period, absl::Seconds(2),
          "How often the leader renews and standbys try to acquire; a "
          "released Lease is taken within one retry period.");
ABSL_FLAG(std::string, identity, "",
          "This replica's name in the Lease. Default: $POD_NAME, else "
          "<hostname>_<pid>.");
ABSL_FLAG(std::string, metrics_bind_address,
          zenlead::op::kDefaultMetricsBindAddress,
          "Address of the Prometheus /metrics endpoint (host:port, :port for "
          "every interface, [ipv6]:port; port 0 picks a free port, logged at "
          "start); \"0\" disables it. Loopback by default: metrics are served "
          "without authentication, so open them (e.g. :8080) only where a "
          "NetworkPolicy limits who connects (config/network-policy).");
ABSL_FLAG(std::string, health_probe_bind_address,
          zenlead::op::kDefaultHealthProbeBindAddress,
          "Address of /healthz (alive: the controllers' health checks pass) "
          "and /readyz (caches synced); every interface by default, for the "
          "kubelet; \"0\" disables them.");
ABSL_FLAG(std::string, grpc_bind_address, zenlead::op::kDefaultGrpcBindAddress,
          "Address of the gRPC LeaderService (GetLeader, WatchLeader); \"0\" "
          "disables it. Loopback by default: it answers any client, so open "
          "it (e.g. :9090) only where a NetworkPolicy limits who connects "
          "(config/network-policy).");
ABSL_FLAG(std::string, log_level, "info",
          "Minimum level of the JSON log lines on stderr: debug, info, warn, "
          "error.");
ABSL_FLAG(double, qps, 0,
          "Client-side limit on requests per second to the API server; 0 "
          "(the default) leaves it off and relies on the API server's "
          "Priority and Fairness, as SIG API Machinery recommends: each pool "
          "Lease is renewed every leaseDuration-renewDeadline seconds (5 s by "
          "default), so 1,000 pools need about 200 writes/s. The operator "
          "Lease and failover writes each have a budget of their own.");
ABSL_FLAG(int, burst, 30,
          "Requests allowed at once above --qps (when --qps is set).");
ABSL_FLAG(absl::Duration, heap_trim_interval, absl::Seconds(10),
          "How often free heap pages are handed back to the kernel "
          "(malloc_trim) once the caches have synced, so resident memory "
          "stays near what the operator holds; each trim takes under a "
          "millisecond at 1,000 pools. 0 disables.");

ABSL_FLAG(std::string, webhook_bind_address, "0",
          "Where the admission webhook (HTTPS) listens, on every replica: "
          "\":9443\" in the cluster (config/manager). \"0\" disables the "
          "webhook: no certificate, no webhook configuration.");
ABSL_FLAG(std::string, webhook_url, "",
          "URL mode: the base URL the API server calls the webhook at "
          "(\"https://127.0.0.1:9443\" for `make run`; the certificate "
          "names an IP host). Empty: Service mode, through "
          "--webhook-service in zen-lead's namespace on port 443.");
ABSL_FLAG(std::string, webhook_service, "zen-lead-webhook",
          "The webhook's Service in zen-lead's namespace: Service mode's "
          "target and the certificate's DNS names.");
ABSL_FLAG(std::string, webhook_cert_mode, "self-managed",
          "self-managed: zen-lead makes a CA and serving certificate in "
          "--webhook-cert-secret and rotates them; cert-manager: it only "
          "reads the Secret cert-manager issues (config/certmanager).");
ABSL_FLAG(std::string, webhook_cert_secret, "zen-lead-webhook-tls",
          "The certificate Secret in zen-lead's namespace (tls.crt, "
          "tls.key, ca.crt).");
ABSL_FLAG(std::string, webhook_pod_failure_policy, "Ignore",
          "failurePolicy of the pods webhook: Ignore (a zen-lead outage "
          "never blocks pod creation) or Fail. The LeaderPolicy webhook is "
          "always Fail.");
ABSL_FLAG(std::string, webhook_owner, "clusterrole/zen-lead-manager",
          "The cluster-scoped object the webhook configuration names as its "
          "owner, so that deleting it (uninstall) removes the configuration: "
          "clusterrole/<name> or "
          "customresourcedefinition/<name> (`make run`: the LeaderPolicy "
          "CRD).");

ABSL_FLAG(std::string, webhook_configuration_name, "zen-lead-webhook",
          "The ValidatingWebhookConfiguration zen-lead writes (cluster-wide: "
          "one per install).");
ABSL_FLAG(absl::Duration, webhook_ca_duration, absl::Hours(24 * 365),
          "Self-managed: the CA's lifetime; a new CA is made at 2/3 of it.");
ABSL_FLAG(absl::Duration, webhook_cert_duration, absl::Hours(24 * 90),
          "Self-managed: the serving certificate's lifetime (never past its "
          "CA's); renewed at 2/3 of it.");
ABSL_FLAG(absl::Duration, webhook_rotation_overlap, absl::Hours(24),
          "Self-managed: how long caBundle carries the old and the new CA "
          "before the serving certificate switches to the new CA, and again "
          "before the old CA is dropped.");
ABSL_FLAG(std::string, webhook_namespace_labels, "",
          "Send only namespaces with these labels to the webhooks "
          "(\"team=shop,tier=web\"; e.g. kubernetes.io/metadata.name=<ns> "
          "for one namespace). Empty: every namespace but kube-system and "
          "zen-lead's own.");

namespace {

// In the order --help shows them; every flag of this file is here.
constexpr const char* kFlags[] = {
    "kubeconfig",
    "namespace",
    "leader_elect",
    "leader_election_namespace",
    "leader_election_id",
    "leader_election_lease_duration",
    "renew_deadline",
    "retry_period",
    "identity",
    "metrics_bind_address",
    "health_probe_bind_address",
    "grpc_bind_address",
    "log_level",
    "qps",
    "burst",
    "heap_trim_interval",
    "webhook_bind_address",
    "webhook_url",
    "webhook_service",
    "webhook_cert_mode",
    "webhook_cert_secret",
    "webhook_pod_failure_policy",
    "webhook_owner",
    "webhook_configuration_name",
    "webhook_ca_duration",
    "webhook_cert_duration",
    "webhook_rotation_overlap",
    "webhook_namespace_labels",
};

constexpr char kUsage[] =
    "zen-lead-operator: the zen-lead Kubernetes operator (leader pods, "
    "leader Services, pool Leases).\n\nUsage: zen-lead-operator [flags]\n";

// Flags are spelled with dashes (--leader-elect), as controller-runtime
// operators and config/manager/manager.yaml do; absl names them with
// underscores, so the names (never the values) are translated.
std::vector<std::string> DashesToUnderscores(int argc, char** argv) {
  std::vector<std::string> out;
  bool flags_done = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !flags_done && arg == "--") flags_done = true;
    if (i > 0 && !flags_done && arg.size() > 1 && arg[0] == '-') {
      const size_t start = arg.find_first_not_of('-');
      const size_t end = std::min(arg.find('='), arg.size());
      if (start != std::string::npos && start < end) {
        std::replace(arg.begin() + static_cast<std::ptrdiff_t>(start),
                     arg.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") return false;
    if (args[i] == "--help" || args[i] == "-help" || args[i] == "-h" ||
        args[i] == "--helpfull") {
      return true;
    }
  }
  return false;
}

void PrintHelp(std::ostream& out) {
  out << kUsage << "\nFlags:\n";
  for (const char* name : kFlags) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::string dashed = absl::StrReplaceAll(name, {{"_", "-"}});
    out << "  --" << dashed << "=" << flag->DefaultValue() << "\n      "
        << flag->Help() << "\n";
  }
  out << "\nSignals: SIGTERM/SIGINT shut down gracefully (stop writing, "
         "release the Lease, exit 0).\nThe process exits 1 after losing the "
         "Lease, so that it restarts with clean state.\n";
}

zenlead::op::ManagerOptions OptionsFromFlags() {
  zenlead::op::ManagerOptions o;
  o.kubeconfig = absl::GetFlag(FLAGS_kubeconfig);
  o.ns = absl::GetFlag(FLAGS_namespace);
  o.leader_elect = absl::GetFlag(FLAGS_leader_elect);
  o.leader_election_namespace = absl::GetFlag(FLAGS_leader_election_namespace);
  o.leader_election_id = absl::GetFlag(FLAGS_leader_election_id);
  o.lease_duration = absl::GetFlag(FLAGS_leader_election_lease_duration);
  o.renew_deadline = absl::GetFlag(FLAGS_renew_deadline);
  o.retry_period = absl::GetFlag(FLAGS_retry_period);
  o.identity = absl::GetFlag(FLAGS_identity);
  o.metrics_bind_address = absl::GetFlag(FLAGS_metrics_bind_address);
  o.health_probe_bind_address = absl::GetFlag(FLAGS_health_probe_bind_address);
  o.grpc_bind_address = absl::GetFlag(FLAGS_grpc_bind_address);
  o.qps = absl::GetFlag(FLAGS_qps);
  o.burst = absl::GetFlag(FLAGS_burst);
  o.heap_trim_interval = absl::GetFlag(FLAGS_heap_trim_interval);
  return zenlead::op::ResolveDefaults(std::move(o));
}

// The webhook's options from the flags; nullopt when it is disabled.
absl::StatusOr<std::optional<zenlead::op::AdmissionOptions>>
AdmissionOptionsFromFlags(const zenlead::op::ManagerOptions& manager) {
  namespace configuration = zenlead::webhook::configuration;
  std::optional<zenlead::op::AdmissionOptions> out;
  const std::string bind = absl::GetFlag(FLAGS_webhook_bind_address);
  if (bind == "0") return out;
  zenlead::op::AdmissionOptions o;
  o.bind_address = bind;
  o.ns = manager.leader_election_namespace;
  o.url = absl::GetFlag(FLAGS_webhook_url);
  o.service_name = absl::GetFlag(FLAGS_webhook_service);
  o.cert_secret = absl::GetFlag(FLAGS_webhook_cert_secret);
  o.configuration_name = absl::GetFlag(FLAGS_webhook_configuration_name);
  o.rotation.ca_lifetime = absl::GetFlag(FLAGS_webhook_ca_duration);
  o.rotation.leaf_lifetime = absl::GetFlag(FLAGS_webhook_cert_duration);
  o.rotation.overlap = absl::GetFlag(FLAGS_webhook_rotation_overlap);
  absl::StatusOr<zenlead::webhook::certs::CertMode> mode =
      zenlead::webhook::certs::ParseCertMode(
          absl::GetFlag(FLAGS_webhook_cert_mode));
  if (!mode.ok()) return mode.status();
  o.cert_mode = *mode;
  absl::StatusOr<configuration::FailurePolicy> policy =
      configuration::ParseFailurePolicy(
          absl::GetFlag(FLAGS_webhook_pod_failure_policy));
  if (!policy.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--webhook-pod-failure-policy: ", policy.status().message()));
  }
  o.pod_failure_policy = *policy;
  absl::StatusOr<configuration::OwnerName> owner =
      configuration::ParseOwner(absl::GetFlag(FLAGS_webhook_owner));
  if (!owner.ok()) return owner.status();
  o.owner = *owner;
  for (absl::string_view pair :
       absl::StrSplit(absl::GetFlag(FLAGS_webhook_namespace_labels), ',',
                      absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--webhook-namespace-labels: \"", pair,
                       "\" is not key=value (pairs separated by commas)"));
    }
    o.namespace_match_labels[kv.first] = kv.second;
  }
  if (absl::Status s = zenlead::op::ValidateAdmissionOptions(o); !s.ok()) {
    return s;
  }
  out = std::move(o);
  return out;
}

// The controllers this binary runs.
absl::StatusOr<std::vector<std::unique_ptr<zenlead::op::Controller>>>
NewControllers(const zenlead::op::ControllerContext& context,
               const std::optional<zenlead::op::AdmissionOptions>& webhook) {
  using zenlead::op::EventInfo;
  using zenlead::op::TrafficDirector;
  using zenlead::op::TrafficDirectorDeps;
  using zenlead::op::TrafficDirectorOptions;
  std::vector<std::unique_ptr<zenlead::op::Controller>> controllers;
  TrafficDirectorDeps deps;
  deps.writer = context.writer;
  deps.failover_writer = context.failover_writer;
  deps.queue_metrics = context.queue_metrics;
  deps.cache = context.cache;
  deps.registry = context.registry;
  deps.metrics = context.metrics;
  if (zenlead::runtime::EventRecorder* events = context.events) {
    deps.record_event = [events](const EventInfo& e) {
      zenlead::runtime::ObjectReference ref{e.api_version, e.kind, e.ns, e.name,
                                            e.uid};
      // Best effort: a full event queue drops (and counts) the event.
      (void)events->Record(
          ref,
          e.warning ? zenlead::runtime::EventType::kWarning
                    : zenlead::runtime::EventType::kNormal,
          e.reason, e.reason == "PortResolutionFailed" ? "Route" : "Elect",
          e.note);
    };
  }
  zenlead::op::StateGuardDeps guard;
  guard.writer = context.writer;
  guard.cache = context.cache;
  guard.registry = context.registry;
  guard.metrics = context.metrics;
  guard.queue_metrics = context.queue_metrics;
  guard.record_event = deps.record_event;
  TrafficDirectorOptions options;
  options.ns = context.ns;
  controllers.push_back(
      std::make_unique<TrafficDirector>(std::move(deps), options));
  controllers.push_back(std::make_unique<zenlead::op::StateGuard>(
      std::move(guard), zenlead::op::StateGuardOptions()));
  if (webhook.has_value()) {
    absl::StatusOr<std::unique_ptr<zenlead::op::AdmissionController>>
        admission = zenlead::op::AdmissionController::Create(context, *webhook);
    if (!admission.ok()) return admission.status();
    controllers.push_back(std::move(*admission));
  }
  return controllers;
}

}  // namespace

int main(int argc, char** argv) {
  // One malloc arena instead of glibc's 8 per core: the operator's threads
  // mostly wait on the network, and each extra arena keeps its own freed
  // memory. Measured at 1,000 pools (docs/operator.md, 2026-12-02): two
  // arenas 38.7-40.1 MiB RSS, one arena 37.7-38.4 MiB, failover latency
  // within run-to-run noise.
  mallopt(M_ARENA_MAX, 1);
  std::vector<std::string> args = DashesToUnderscores(argc, argv);
  if (WantsHelp(args)) {
    PrintHelp(std::cout);
    return 0;
  }
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> argv2;
  argv2.reserve(args.size());
  for (std::string& a : args) argv2.push_back(a.data());
  absl::ParseCommandLine(static_cast<int>(argv2.size()), argv2.data());

  const zenlead::runtime::Logger& log = zenlead::runtime::DefaultLogger();
  absl::StatusOr<zenlead::runtime::LogLevel> level =
      zenlead::runtime::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    std::cerr << "--log-level: " << level.status().message() << "\n";
    return 2;
  }
  log.SetLevel(*level);

  zenlead::op::ManagerOptions options = OptionsFromFlags();
  if (absl::Status valid = zenlead::op::ValidateOptions(options); !valid.ok()) {
    std::cerr << valid.message() << "\n";
    return 2;
  }

  // Signals go to a thread of their own (blocked everywhere else, before any
  // other thread exists), which may then take locks, unlike a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::optional<zenlead::op::AdmissionOptions>> webhook =
      AdmissionOptionsFromFlags(options);
  if (!webhook.ok()) {
    std::cerr << webhook.status().message() << "\n";
    return 2;
  }

  zenlead::op::Manager manager(
      std::move(options), [webhook = *std::move(webhook)](
                              const zenlead::op::ControllerContext& context) {
        return NewControllers(context, webhook);
      });
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    log.Info("signal received: shutting down", {{"signal", strsignal(sig)}});
    manager.Shutdown();
    sigwait(&signals, &sig);
    log.Warning("second signal: exiting now", {{"signal", strsignal(sig)}});
    _exit(1);
  });
  signal_thread.detach();

  absl::Status status = manager.Run();
  return status.ok() ? 0 : 1;
}
