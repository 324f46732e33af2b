#include "operator/leaderservice/leader_service.h"

#include <deque>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "operator/http_server.h"

namespace zenlead::op {
namespace {

// Messages a slow reader may have queued; older ones are dropped first, so
// the latest state is always delivered.
constexpr size_t kMaxPending = 64;

grpc::Status CheckPool(const v1alpha1::PoolRef& pool) {
  if (pool.namespace_().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "pool.namespace is required: the LeaderPolicy's "
                        "namespace (pools are namespaced)");
  }
  if (pool.name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "pool.name is required: the LeaderPolicy's name");
  }
  return grpc::Status::OK;
}

grpc::Status UnknownPool(const v1alpha1::PoolRef& pool) {
  return grpc::Status(
      grpc::StatusCode::NOT_FOUND,
      absl::StrFormat("zen-lead knows no pool \"%s/%s\": no LeaderPolicy or "
                      "opted-in workload named \"%s\" in namespace \"%s\" (or "
                      "the operator has not synced yet)",
                      pool.namespace_(), pool.name(), pool.name(),
                      pool.namespace_()));
}

}  // namespace

v1alpha1::Leader ToProto(const PoolLeader& leader) {
  v1alpha1::Leader out;
  out.mutable_pool()->set_namespace_(leader.ns);
  out.mutable_pool()->set_name(leader.pool);
  out.set_has_leader(leader.has_leader);
  out.set_fencing_token(leader.fencing_token);
  if (!leader.has_leader) return out;
  out.set_holder_identity(leader.holder_identity);
  out.set_pod_name(leader.pod_name);
  out.set_pod_uid(leader.pod_uid);
  out.set_pod_ip(leader.pod_ip);
  if (leader.since != absl::InfinitePast() &&
      leader.since != absl::InfiniteFuture()) {
    out.set_since(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", leader.since,
                                   absl::UTCTimeZone()));
  }
  return out;
}

// One WatchLeader stream. At most one write is in flight; changes arriving
// meanwhile queue up. Finish is deferred while a write is in flight (a write
// always completes: delivered, or failed when the call is cancelled).
// Deletes itself in OnDone.
class LeaderServiceImpl::WatchReactor
    : public grpc::ServerWriteReactor<v1alpha1::Leader> {
 public:
  WatchReactor(LeaderServiceImpl* service, v1alpha1::PoolRef pool)
      : service_(service), pool_(std::move(pool)) {}

  // Subscribes, then queues the current state, or finishes with NOT_FOUND.
  // Holding mu_ across Subscribe and Get keeps the first change callback
  // waiting until the current state is queued, so nothing is lost and the
  // only possible repeat (the state just read) is dropped as a duplicate.
  void Begin() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;  // Shutdown came first.
    LeaderRegistry* registry = service_->registry_;
    subscription_ =
        registry->Subscribe(pool_.namespace_(), pool_.name(),
                            [this](const PoolLeader& leader) { Push(leader); });
    std::optional<PoolLeader> current =
        registry->Get(pool_.namespace_(), pool_.name());
    if (!current.has_value()) {
      FinishLocked(UnknownPool(pool_));
      return;
    }
    EnqueueLocked(*current);
  }

  // Ends the stream with `status` (once; later calls are ignored).
  void End(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    FinishLocked(std::move(status));
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && !finishing_) {
      finishing_ = true;
      finish_status_ =
          grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed");
    }
    if (finishing_) {
      FinishLocked(finish_status_);
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    service_->Forget(this);
    // Waits for a Push in flight, which needs this object.
    if (subscription_ != 0) service_->registry_->Unsubscribe(subscription_);
    delete this;
  }

 private:
  // Registry callback: runs on the thread that changed the registry.
  void Push(const PoolLeader& leader) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (finishing_) return;
    EnqueueLocked(leader);
  }

  void EnqueueLocked(const PoolLeader& leader)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (last_.has_value() && *last_ == leader) return;
    last_ = leader;
    pending_.push_back(ToProto(leader));
    if (pending_.size() > kMaxPending) pending_.pop_front();
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finishing_ || pending_.empty()) return;
    in_flight_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    StartWrite(&in_flight_);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_called_) return;
    if (!finishing_) {
      finishing_ = true;
      finish_status_ = std::move(status);
    }
    if (writing_) return;  // OnWriteDone finishes.
    finish_called_ = true;
    Finish(finish_status_);
  }

  LeaderServiceImpl* const service_;
  const v1alpha1::PoolRef pool_;
  // Written in Begin under mu_, read in OnDone, which runs after Finish and
  // so after Begin.
  int64_t subscription_ = 0;

  absl::Mutex mu_;
  std::deque<v1alpha1::Leader> pending_ ABSL_GUARDED_BY(mu_);
  v1alpha1::Leader in_flight_ ABSL_GUARDED_BY(mu_);
  std::optional<PoolLeader> last_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

LeaderServiceImpl::LeaderServiceImpl(LeaderRegistry* registry)
    : registry_(registry) {}

LeaderServiceImpl::~LeaderServiceImpl() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::set<WatchReactor*>* w) { return w->empty(); }, &watches_));
}

grpc::ServerUnaryReactor* LeaderServiceImpl::GetLeader(
    grpc::CallbackServerContext* context,
    const v1alpha1::GetLeaderRequest* request, v1alpha1::Leader* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = CheckPool(request->pool());
  if (status.ok()) {
    std::optional<PoolLeader> leader =
        registry_->Get(request->pool().namespace_(), request->pool().name());
    if (leader.has_value()) {
      *response = ToProto(*leader);
    } else {
      status = UnknownPool(request->pool());
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerWriteReactor<v1alpha1::Leader>* LeaderServiceImpl::WatchLeader(
    grpc::CallbackServerContext* context,
    const v1alpha1::WatchLeaderRequest* request) {
  auto* watch = new WatchReactor(this, request->pool());
  grpc::Status status = CheckPool(request->pool());
  {
    absl::MutexLock lock(&mu_);
    watches_.insert(watch);
    if (status.ok() && shutting_down_) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "the zen-lead operator is shutting down");
    }
  }
  if (!status.ok()) {
    watch->End(status);
  } else {
    watch->Begin();
  }
  return watch;
}

void LeaderServiceImpl::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  // A watch stays in watches_ (and alive) until its OnDone takes mu_.
  for (WatchReactor* watch : watches_) {
    watch->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "the zen-lead operator is shutting down"));
  }
}

size_t LeaderServiceImpl::ActiveWatches() const {
  absl::MutexLock lock(&mu_);
  return watches_.size();
}

bool LeaderServiceImpl::AwaitActiveWatches(size_t n,
                                           absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return watches_.size() == n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void LeaderServiceImpl::Forget(WatchReactor* watch) {
  absl::MutexLock lock(&mu_);
  watches_.erase(watch);
}

absl::StatusOr<std::unique_ptr<LeaderServer>> LeaderServer::Start(
    const std::string& address, LeaderRegistry* registry) {
  absl::StatusOr<BindAddress> bind = ParseBindAddress(address);
  if (!bind.ok()) return bind.status();
  std::unique_ptr<LeaderServer> out(new LeaderServer());
  out->service_ = std::make_unique<LeaderServiceImpl>(registry);
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second process on the same port
  // would then share it silently instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(FormatBindAddress(*bind),
                           grpc::InsecureServerCredentials(), &out->port_);
  builder.RegisterService(out->service_.get());
  out->server_ = builder.BuildAndStart();
  if (out->server_ == nullptr || out->port_ <= 0) {
    return absl::UnavailableError(absl::StrFormat(
        "cannot serve gRPC on \"%s\": is the port in use, or the host not an "
        "address of this machine?",
        address));
  }
  return out;
}

LeaderServer::~LeaderServer() { Shutdown(); }

void LeaderServer::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  service_->Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace zenlead::op
