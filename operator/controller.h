// The seam between the operator's process wiring (main.cc, manager.h) and its
// controllers (TrafficDirector today): caches start on every replica so a
// standby is warm, but only the elected replica runs workers that write.
//
//   std::unique_ptr<Controller> td = NewTrafficDirector(deps);
//   RETURN_IF_ERROR(td->Start());          // informers, on every replica
//   WaitUntil([&] { return td->HasSynced(); });
//   every replica:   td->CachesSynced();  // serve from the caches
//   on elected:      td->StartWorkers();   // reconcile and write
//   on lost lease:   td->StopWorkers();    // stop writing at once
//   on shutdown:     td->Stop();
//   on /healthz:     td->Healthy();        // between Start and Stop
#ifndef ZEN_LEAD_OPERATOR_CONTROLLER_H_
#define ZEN_LEAD_OPERATOR_CONTROLLER_H_

#include "absl/status/status.h"

namespace zenlead::op {

class Controller {
 public:
  virtual ~Controller() = default;
  // Starts the informers (list+watch). Idempotent.
  virtual absl::Status Start() = 0;
  // True once every informer has delivered its initial list.
  virtual bool HasSynced() const = 0;
  // Called once on every replica, standbys too, when every controller has
  // synced (before any StartWorkers): for what serves from the caches.
  virtual void CachesSynced() {}
  // Starts reconciling; all keys are queued so state converges at once.
  virtual void StartWorkers() = 0;
  // Stops reconciling and returns when no write is in flight.
  virtual void StopWorkers() = 0;
  // Stops workers and informers.
  virtual void Stop() = 0;
  // Liveness for /healthz, asked on a probe thread between Start() and
  // Stop(), on standbys too: OK, or an error saying what is wedged or dead
  // (an informer's dispatcher gone, a worker stuck in one reconcile) so that
  // the kubelet restarts the process. Must be thread-safe and must not
  // block; a controller that is merely not leading, or not yet synced, is
  // healthy (/readyz covers syncing).
  virtual absl::Status Healthy() const { return absl::OkStatus(); }
};

}  // namespace zenlead::op

#endif  // ZEN_LEAD_OPERATOR_CONTROLLER_H_
