// The gRPC LeaderService (api/proto/leader_service.proto) served from the
// operator's LeaderRegistry: GetLeader answers from memory, WatchLeader sends
// the pool's current state and then one message per change, without polling
// and without holding a thread per stream (gRPC's callback API: a change in
// the registry starts a write, a finished write starts the next).
//
//   LeaderRegistry registry;                   // written by TrafficDirector
//   absl::StatusOr<std::unique_ptr<LeaderServer>> server =
//       LeaderServer::Start(":9090", &registry);  // "127.0.0.1:0" in tests
//   if (!server.ok()) return server.status();
//   int port = (*server)->port();
//   ...
//   (*server)->Shutdown();  // ends every WatchLeader stream (UNAVAILABLE)
//
// Errors: INVALID_ARGUMENT without pool.namespace or pool.name; NOT_FOUND
// for a pool zen-lead does not know (GetLeader, and WatchLeader at start).
// A pool removed while watched reads as "no leader" (has_leader false) and
// the stream goes on. A client that reads slower than leadership changes
// skips intermediate states, never the latest one.
#ifndef ZEN_LEAD_OPERATOR_LEADERSERVICE_LEADER_SERVICE_H_
#define ZEN_LEAD_OPERATOR_LEADERSERVICE_LEADER_SERVICE_H_

#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/proto/leader_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "operator/leaderservice/leader_registry.h"

namespace zenlead::op {

// The wire form of a registry entry (since: RFC 3339, microseconds, UTC; ""
// without a leader).
v1alpha1::Leader ToProto(const PoolLeader& leader);

class LeaderServiceImpl final
    : public v1alpha1::LeaderService::CallbackService {
 public:
  // registry must outlive the service.
  explicit LeaderServiceImpl(LeaderRegistry* registry);
  // Waits until every stream has completed (after Shutdown and the gRPC
  // server's own shutdown).
  ~LeaderServiceImpl() override;

  grpc::ServerUnaryReactor* GetLeader(grpc::CallbackServerContext* context,
                                      const v1alpha1::GetLeaderRequest* request,
                                      v1alpha1::Leader* response) override;
  grpc::ServerWriteReactor<v1alpha1::Leader>* WatchLeader(
      grpc::CallbackServerContext* context,
      const v1alpha1::WatchLeaderRequest* request) override;

  // Ends every open WatchLeader stream with UNAVAILABLE and refuses new ones
  // the same way. Call before the gRPC server's Shutdown, which waits for
  // streams to end.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // Open WatchLeader streams (for tests and metrics).
  size_t ActiveWatches() const ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until exactly n streams are open or `timeout` passes; returns
  // whether n was reached (lets tests wait without sleeping).
  bool AwaitActiveWatches(size_t n, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class WatchReactor;
  void Forget(WatchReactor* watch) ABSL_LOCKS_EXCLUDED(mu_);

  LeaderRegistry* const registry_;
  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<WatchReactor*> watches_ ABSL_GUARDED_BY(mu_);
};

// The service on its own gRPC server (plaintext; the operator serves it
// inside the cluster).
class LeaderServer {
 public:
  // address: see ParseBindAddress (http_server.h); port 0 picks a free port.
  // Errors: InvalidArgument for a bad address, Unavailable when it cannot
  // listen (port in use).
  static absl::StatusOr<std::unique_ptr<LeaderServer>> Start(
      const std::string& address, LeaderRegistry* registry);
  ~LeaderServer();

  int port() const { return port_; }
  LeaderServiceImpl& service() { return *service_; }

  // Ends the streams, then stops the server; calls still running after
  // `grace` are cancelled. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(2));

 private:
  LeaderServer() = default;

  std::unique_ptr<LeaderServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_LEADERSERVICE_LEADER_SERVICE_H_
