#include "operator/manager.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "api/client/config.h"
#include "api/client/status_macros.h"
#include "api/pool/objects.h"
#include "api/runtime/leader_election.h"
#include "api/runtime/runtime_metrics.h"
#include "operator/http_server.h"
#include "operator/leaderservice/leader_service.h"

namespace zenlead::op {
namespace {

constexpr char kDisabled[] = "0";
// How often WaitForSync re-checks HasSynced (which has no notification).
constexpr absl::Duration kSyncPollInterval = absl::Milliseconds(100);

absl::Status CheckAddress(absl::string_view flag, const std::string& value) {
  if (value == kDisabled) return absl::OkStatus();
  absl::StatusOr<BindAddress> parsed = ParseBindAddress(value);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": ", parsed.status().message(), "; or \"0\" to disable"));
  }
  return absl::OkStatus();
}

// Whether two servers would compete for one port: the same port (not 0) on
// the same host, or on any host of the family a wildcard listens on ("" and
// 0.0.0.0: IPv4; "::" on Linux: IPv4 and IPv6).
bool SamePort(const BindAddress& a, const BindAddress& b) {
  auto covers = [](const std::string& wildcard, const std::string& host) {
    if (wildcard == "::") return true;
    const bool ipv4 = host.find(':') == std::string::npos;
    return (wildcard.empty() || wildcard == "0.0.0.0") && ipv4;
  };
  return a.port != 0 && a.port == b.port &&
         (a.host == b.host || covers(a.host, b.host) || covers(b.host, a.host));
}

}  // namespace

ProcessEnvironment ProcessEnvironment::Real() {
  ProcessEnvironment env;
  env.get_env = [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v == nullptr ? std::string() : std::string(v);
  };
  env.hostname = [] {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return std::string("unknown");
    return std::string(buf);
  };
  env.pid = [] { return static_cast<int>(getpid()); };
  return env;
}

ManagerOptions ResolveDefaults(ManagerOptions options,
                               const ProcessEnvironment& env) {
  if (options.identity.empty()) {
    options.identity = env.get_env("POD_NAME");
    if (options.identity.empty()) {
      options.identity = absl::StrCat(env.hostname(), "_", env.pid());
    }
  }
  if (options.leader_election_namespace.empty()) {
    options.leader_election_namespace = env.get_env("POD_NAMESPACE");
    if (options.leader_election_namespace.empty()) {
      options.leader_election_namespace = "zen-lead-system";
    }
  }
  return options;
}

absl::Status ValidateOptions(const ManagerOptions& o) {
  RETURN_IF_ERROR(CheckAddress("metrics-bind-address", o.metrics_bind_address));
  RETURN_IF_ERROR(
      CheckAddress("health-probe-bind-address", o.health_probe_bind_address));
  RETURN_IF_ERROR(CheckAddress("grpc-bind-address", o.grpc_bind_address));
  const std::pair<const char*, const std::string*> servers[] = {
      {"metrics-bind-address", &o.metrics_bind_address},
      {"health-probe-bind-address", &o.health_probe_bind_address},
      {"grpc-bind-address", &o.grpc_bind_address}};
  for (size_t i = 0; i < 3; ++i) {
    for (size_t j = i + 1; j < 3; ++j) {
      const std::string& a = *servers[i].second;
      const std::string& b = *servers[j].second;
      if (a == kDisabled || b == kDisabled) continue;
      if (SamePort(*ParseBindAddress(a), *ParseBindAddress(b))) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "--%s (\"%s\") and --%s (\"%s\") would share a port: they are "
            "separate servers and need different ports",
            servers[i].first, a, servers[j].first, b));
      }
    }
  }
  if (o.burst < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--burst (%d) must be at least 1", o.burst));
  }
  if (o.heap_trim_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--heap-trim-interval (", absl::FormatDuration(o.heap_trim_interval),
        ") must not be negative (0 disables it)"));
  }
  if (o.qps < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--qps (%g) must not be negative (0 disables the limit)", o.qps));
  }
  if (!o.leader_elect) return absl::OkStatus();
  if (o.identity.empty()) {
    return absl::InvalidArgumentError(
        "--identity is empty: it must name this replica uniquely (the pod "
        "name)");
  }
  if (o.leader_election_namespace.empty() || o.leader_election_id.empty()) {
    return absl::InvalidArgumentError(
        "--leader-election-namespace and --leader-election-id must not be "
        "empty with --leader-elect");
  }
  if (o.lease_duration <= absl::ZeroDuration() ||
      o.renew_deadline <= absl::ZeroDuration() ||
      o.retry_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--leader-election-lease-duration, --renew-deadline and "
        "--retry-period must be positive durations (e.g. 15s, 10s, 2s)");
  }
  if (o.renew_deadline >= o.lease_duration) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--renew-deadline (%s) must be less than "
        "--leader-election-lease-duration (%s): a leader must give up before "
        "a standby may take the lease",
        absl::FormatDuration(o.renew_deadline),
        absl::FormatDuration(o.lease_duration)));
  }
  if (o.renew_deadline <=
      o.retry_period * runtime::kLeaderElectionJitterFactor) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--renew-deadline (%s) must be greater than --retry-period (%s) x "
        "%g, so that a leader can retry a failed renewal",
        absl::FormatDuration(o.renew_deadline),
        absl::FormatDuration(o.retry_period),
        runtime::kLeaderElectionJitterFactor));
  }
  return absl::OkStatus();
}

struct Manager::Servers {
  std::unique_ptr<HttpServer> metrics;
  std::unique_ptr<HttpServer> probes;
  std::unique_ptr<LeaderServer> grpc;
};

Manager::Manager(ManagerOptions options, ControllerFactory factory)
    : options_(std::move(options)),
      factory_(std::move(factory)),
      log_((options_.logger != nullptr ? *options_.logger
                                       : runtime::DefaultLogger())
               .With({{"logger", "manager"}})) {}

Manager::~Manager() = default;

void Manager::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (!shutdown_requested_) log_.Info("shutdown requested", {});
  shutdown_requested_ = true;
}

bool Manager::Ready() const {
  absl::MutexLock lock(&mu_);
  return synced_ && !shutdown_requested_;
}

absl::Status Manager::Run() {
  Servers servers;
  absl::Status status = RunInternal(servers);

  // Teardown, in the order that keeps writes single-leader: workers were
  // stopped and the Lease released by Lead(); now the caches, pending
  // Events, the servers and the client.
  SetWorkers(false);
  if (trimmer_ != nullptr) trimmer_->Stop();
  if (is_leader_ != nullptr) is_leader_->Set(0);
  {
    absl::WriterMutexLock lock(&health_mu_);
    started_.clear();  // a stopping controller is not asked for its health
  }
  for (auto& controller : controllers_) controller->Stop();
  // No handler runs once the cache is stopped: only then can the
  // controllers that registered them go.
  if (cache_ != nullptr) cache_->Stop();
  if (events_ != nullptr) {
    events_->Flush(absl::Now() + options_.shutdown_grace);
    events_->Stop();
  }
  if (servers.grpc != nullptr) servers.grpc->Shutdown(options_.shutdown_grace);
  if (servers.probes != nullptr) servers.probes->Stop();
  if (servers.metrics != nullptr) servers.metrics->Stop();
  for (auto* c : {client_.get(), election_client_.get(), failover_client_.get(),
                  watch_client_.get()}) {
    if (c != nullptr) c->Stop();
  }
  controllers_.clear();
  events_.reset();

  bool requested;
  {
    absl::MutexLock lock(&mu_);
    requested = shutdown_requested_;
  }
  if (requested && absl::IsCancelled(status)) status = absl::OkStatus();
  if (status.ok()) {
    log_.Info("stopped", {});
  } else {
    log_.Error("exiting", {{"error", status.ToString()}});
  }
  return status;
}

absl::Status Manager::RunInternal(Servers& servers) {
  log_.Info("starting",
            {{"identity", options_.identity},
             {"namespace", options_.ns.empty() ? "(all)" : options_.ns},
             {"leader_elect", options_.leader_elect}});
  RETURN_IF_ERROR(ValidateOptions(options_));

  absl::StatusOr<client::Config> config =
      options_.kubeconfig.empty() ? client::LoadConfig()
                                  : client::LoadKubeconfig(options_.kubeconfig);
  if (!config.ok()) return config.status();
  config->qps = options_.qps;
  config->burst = options_.burst;
  log_.Info("api server",
            {{"server", config->server}, {"config", config->source}});

  absl::StatusOr<runtime::GaugeFamily*> is_leader = metrics_.AddGauge(
      "zen_lead_operator_is_leader",
      "1 while this replica is the elected operator leader and runs the "
      "controllers' workers (always 1 without --leader-elect), else 0.",
      {});
  if (!is_leader.ok()) return is_leader.status();
  is_leader_ = (*is_leader)->WithLabels({});
  is_leader_->Set(0);

  client::RestClientOptions client_options;
  ASSIGN_OR_RETURN(client_options.observer,
                   runtime::NewRequestMetrics(&metrics_));
  client_options.user_agent = "zen-lead-operator";
  client_options.field_manager = pool::kOperatorFieldManager;
  ASSIGN_OR_RETURN(client_,
                   client::RestClient::Create(*config, client_options));
  // The elector's requests give up well inside the renew deadline and are
  // not retried by the client, so a frozen connection cannot hold a
  // renewal past it.
  client::Config election_config = *config;
  client::RestClientOptions election_options = client_options;
  runtime::ConfigureLeaderElectionClient(options_.renew_deadline,
                                         &election_config, &election_options);
  ASSIGN_OR_RETURN(election_client_, client::RestClient::Create(
                                         election_config, election_options));
  ASSIGN_OR_RETURN(failover_client_,
                   client::RestClient::Create(*config, client_options));
  // The cache's lists and watches share one client without a client-side
  // rate limit: its informers list in parallel at start-up and after an
  // API server restart, and a shared budget would make the controllers wait
  // for their caches (the API server's own priority and fairness still
  // applies).
  client::Config watch_config = *config;
  watch_config.qps = 0;
  ASSIGN_OR_RETURN(watch_client_,
                   client::RestClient::Create(watch_config, client_options));
  pool::CacheDeps cache_deps;
  cache_deps.watch_client = watch_client_.get();
  cache_deps.logger = options_.logger;
  pool::CacheOptions cache_options;
  cache_options.ns = options_.ns;
  cache_ = std::make_unique<pool::Cache>(cache_deps, cache_options);
  ASSIGN_OR_RETURN(queue_metrics_,
                   runtime::WorkQueueMetricFamilies::Create(&metrics_));

  RETURN_IF_ERROR(StartServers(servers));

  runtime::EventRecorderOptions event_options;
  event_options.reporting_instance = options_.identity;
  event_options.logger = options_.logger;
  events_ = std::make_unique<runtime::EventRecorder>(client_.get(),
                                                     std::move(event_options));

  ControllerContext context;
  context.client = client_.get();
  context.failover_client = failover_client_.get();
  writer_ = std::make_unique<runtime::LeaderGuardedClient>(
      client_.get(), [this] { return MayWrite(); });
  failover_writer_ = std::make_unique<runtime::LeaderGuardedClient>(
      failover_client_.get(), [this] { return MayWrite(); });
  context.writer = writer_.get();
  context.failover_writer = failover_writer_.get();
  context.queue_metrics = queue_metrics_.get();
  context.cache = cache_.get();
  context.registry = &registry_;
  context.metrics = &metrics_;
  context.events = events_.get();
  context.logger =
      options_.logger != nullptr ? *options_.logger : runtime::DefaultLogger();
  context.ns = options_.ns;
  context.identity = options_.identity;
  ASSIGN_OR_RETURN(controllers_, factory_(context));
  if (controllers_.empty()) {
    log_.Warning("no controllers: the operator serves its endpoints only", {});
  }
  RETURN_IF_ERROR(StartControllers());
  // After every controller registered its informers and handlers.
  RETURN_IF_ERROR(cache_->Start());
  RETURN_IF_ERROR(WaitForSync());
  for (auto& controller : controllers_) controller->CachesSynced();
  // The initial lists parsed whole pages of full objects; hand the freed
  // pages back to the kernel instead of keeping them as the process's
  // high-water mark, now and from then on.
  malloc_trim(0);
  trimmer_ = std::make_unique<HeapTrimmer>(options_.heap_trim_interval);
  return Lead();
}

absl::Status Manager::StartServers(Servers& servers) {
  auto serving = [this](absl::string_view server, const std::string& address,
                        int port) {
    log_.Info("serving", {{"server", std::string(server)},
                          {"address", address},
                          {"port", port}});
  };
  if (options_.metrics_bind_address != kDisabled) {
    HttpServerOptions http;
    http.address = options_.metrics_bind_address;
    http.metrics = &metrics_;
    ASSIGN_OR_RETURN(servers.metrics, HttpServer::Start(http));
    serving("metrics", options_.metrics_bind_address, servers.metrics->port());
  }
  if (options_.health_probe_bind_address != kDisabled) {
    HttpServerOptions http;
    http.address = options_.health_probe_bind_address;
    http.probes = true;
    http.ready = [this] { return Ready(); };
    http.health_checks.push_back(
        {"controllers", [this] { return ControllersHealthy(); }});
    ASSIGN_OR_RETURN(servers.probes, HttpServer::Start(http));
    serving("probes", options_.health_probe_bind_address,
            servers.probes->port());
  }
  if (options_.grpc_bind_address != kDisabled) {
    ASSIGN_OR_RETURN(servers.grpc, LeaderServer::Start(
                                       options_.grpc_bind_address, &registry_));
    serving("grpc", options_.grpc_bind_address, servers.grpc->port());
  }
  return absl::OkStatus();
}

absl::Status Manager::StartControllers() {
  for (auto& controller : controllers_) {
    RETURN_IF_ERROR(controller->Start());
    absl::WriterMutexLock lock(&health_mu_);
    started_.push_back(controller.get());
  }
  return absl::OkStatus();
}

absl::Status Manager::ControllersHealthy() const {
  std::vector<std::string> failures;
  {
    absl::ReaderMutexLock lock(&health_mu_);
    for (size_t i = 0; i < started_.size(); ++i) {
      absl::Status s = started_[i]->Healthy();
      if (!s.ok()) {
        failures.push_back(absl::StrCat("controller ", i, ": ", s.message()));
      }
    }
  }
  if (failures.empty()) return absl::OkStatus();
  const std::string message = absl::StrJoin(failures, "; ");
  log_.Warning("unhealthy: /healthz fails", {{"error", message}});
  return absl::UnavailableError(message);
}

absl::Status Manager::WaitForSync() {
  const absl::Time deadline = absl::Now() + options_.cache_sync_timeout;
  for (;;) {
    const bool all_synced =
        std::all_of(controllers_.begin(), controllers_.end(),
                    [](const auto& c) { return c->HasSynced(); });
    absl::MutexLock lock(&mu_);
    if (all_synced) {
      synced_ = true;
      log_.Info("caches synced", {{"controllers", controllers_.size()}});
      return absl::OkStatus();
    }
    if (mu_.AwaitWithDeadline(
            absl::Condition(&shutdown_requested_),
            std::min(absl::Now() + kSyncPollInterval, deadline))) {
      return absl::CancelledError("shut down before the caches synced");
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "the controllers' caches did not sync within %s: is the API server "
          "reachable, and may this service account list and watch the "
          "resources (config/rbac)?",
          absl::FormatDuration(options_.cache_sync_timeout)));
    }
  }
}

bool Manager::MayWrite() const {
  if (!options_.leader_elect) return true;
  // Time-bounded: false from the renew deadline on, even while the
  // elector's renewal is still in flight.
  const runtime::LeaderElector* elector =
      leader_check_.load(std::memory_order_acquire);
  return elector != nullptr && elector->IsLeader();
}

absl::Status Manager::Lead() {
  if (!options_.leader_elect) {
    log_.Info("leader election disabled: starting workers", {});
    is_leader_->Set(1);
    SetWorkers(true);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&shutdown_requested_));
    return absl::OkStatus();
  }

  runtime::LeaderElectionConfig election;
  election.lease_namespace = options_.leader_election_namespace;
  election.lease_name = options_.leader_election_id;
  election.identity = options_.identity;
  election.lease_duration = options_.lease_duration;
  election.renew_deadline = options_.renew_deadline;
  election.retry_period = options_.retry_period;
  election.release_on_cancel = true;
  election.logger = options_.logger;
  // The elector's thread only records the change; Run's thread starts and
  // stops the workers, so the elector keeps renewing meanwhile.
  election.callbacks.on_started_leading = [this] {
    absl::MutexLock lock(&mu_);
    leading_ = true;
  };
  election.callbacks.on_stopped_leading = [this] {
    absl::MutexLock lock(&mu_);
    if (leading_ && !shutdown_requested_) lost_lease_ = true;
    leading_ = false;
  };
  ASSIGN_OR_RETURN(elector_, runtime::LeaderElector::Create(
                                 election_client_.get(), election));
  runtime::LeaderElector* elector = elector_.get();
  leader_check_.store(elector, std::memory_order_release);
  log_.Info("competing for the operator lease",
            {{"lease", absl::StrCat(options_.leader_election_namespace, "/",
                                    options_.leader_election_id)}});
  elector->Start();

  bool running = false;
  bool lost = false;
  for (;;) {
    bool want;
    {
      absl::MutexLock lock(&mu_);
      auto changed = [this, running]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutdown_requested_ || lost_lease_ || leading_ != running;
      };
      mu_.Await(absl::Condition(&changed));
      if (shutdown_requested_ || lost_lease_) {
        lost = lost_lease_;
        break;
      }
      want = leading_;
    }
    running = want;
    is_leader_->Set(running ? 1 : 0);
    log_.Info(
        running ? "elected: starting workers" : "not leading: stopping workers",
        {});
    SetWorkers(running);
  }
  // Stop writing before the Lease is released, so the next leader never
  // overlaps with this one.
  is_leader_->Set(0);
  SetWorkers(false);
  elector->Stop();
  if (lost) {
    return absl::AbortedError(absl::StrFormat(
        "lost the operator lease %s/%s (could not renew within %s); workers "
        "stopped. Exiting so that the process restarts with clean state",
        options_.leader_election_namespace, options_.leader_election_id,
        absl::FormatDuration(options_.renew_deadline)));
  }
  return absl::OkStatus();
}

void Manager::SetWorkers(bool running) {
  if (running == workers_running_) return;
  workers_running_ = running;
  for (auto& controller : controllers_) {
    if (running) {
      controller->StartWorkers();
    } else {
      controller->StopWorkers();
    }
  }
}

}  // namespace zenlead::op
