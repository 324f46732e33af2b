// Writes zen-lead's ValidatingWebhookConfiguration and keeps it as written,
// as Kyverno does with its own: the elected operator replica applies it at
// start and whenever the caBundle changes (Update), and while it leads, a
// watch on that one object restores it when someone deletes or edits it.
// Nothing of it is in config/, so GitOps tools see no drift.
//
//   WriterOptions options;
//   options.desired.base_url = "https://127.0.0.1:9443";  // desired.h
//   options.desired.zen_lead_namespace = "zen-lead-system";
//   ASSIGN_OR_RETURN(options.owner, ParseOwner(owner_flag));  // owner.h
//   ASSIGN_OR_RETURN(std::unique_ptr<Writer> writer,
//                    Writer::Create(guarded_client, watch_client, options));
//   // Elected:
//   RETURN_IF_ERROR(writer->Start());               // watch and restore
//   absl::Status written = writer->Update(ca_pem);  // at start, on rotation
//   if (!written.ok()) { ... }  // log; the writer retries by itself too
//   // Lost the lease or shutting down:
//   writer->Stop();
//
// Compiled in writer_test.cc.
//
// Every write is a server-side apply of the whole desired object
// (desired.h) with field manager zen-lead-operator and force: zen-lead owns
// this object, so a field another manager took (kubectl edit) is taken
// back. Applying what is already there changes nothing (the same
// resourceVersion), so a write is safe to repeat; the owner is read before
// each (owner.h), so a reinstalled owner's new uid is followed and nothing
// is written while the owner is missing or being deleted (uninstall).
//
// Why a watch and not a periodic re-apply: a deletion by hand is restored
// within the watch's latency, not a period, and a quiet configuration
// costs an idle watch, not a write every period. The watch is on the one
// object (fieldSelector metadata.name=<name>, which lets RBAC grant list
// and watch on that name only) and private to the writer: the process's
// shared cache (api/pool/cache.h) caches what every replica reads, and
// only the elected replica needs this. An event whose resourceVersion is
// the one zen-lead wrote last is zen-lead's own and causes nothing; any
// other change causes one apply, which restores what zen-lead owns and is
// a no-op when the change touched nothing of it (a label another manager
// added). Failed writes are retried with a capped exponential backoff on
// the injected clock, until they succeed or Stop.
#ifndef ZEN_LEAD_WEBHOOK_CONFIGURATION_WRITER_H_
#define ZEN_LEAD_WEBHOOK_CONFIGURATION_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/runtime/informer.h"
#include "api/runtime/logging.h"
#include "api/types/validatingwebhookconfiguration.h"
#include "webhook/configuration/desired.h"
#include "webhook/configuration/owner.h"

namespace zenlead::webhook::configuration {

// The writer's field manager: the operator process's (STYLE.md).
inline constexpr char kFieldManager[] = "zen-lead-operator";

struct WriterOptions {
  // Everything but the caBundle (Update) and the owner's reference (read
  // before each write).
  DesiredOptions desired;
  // The --webhook-owner flag (kDefaultOwner in the cluster).
  OwnerName owner;
  // Backoff of the writer's own retries: doubles from initial up to max.
  absl::Duration retry_initial = absl::Seconds(1);
  absl::Duration retry_max = absl::Seconds(30);
  // nullptr: RealClock().
  client::Clock* clock = nullptr;
  // nullptr: runtime::DefaultLogger().
  const runtime::Logger* logger = nullptr;
};

class Writer {
 public:
  // write_client: gets the owner and applies (the operator's leader-guarded
  // client). watch_client: lists and watches the configuration. Neither is
  // owned; both must outlive the writer. InvalidArgument for bad options
  // (ValidateDesiredOptions, an empty owner name, retry durations).
  static absl::StatusOr<std::unique_ptr<Writer>> Create(
      client::Client* write_client, client::Client* watch_client,
      WriterOptions options);
  // Stops.
  ~Writer();

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Makes `ca_bundle_pem` (PEM certificates; during a rotation the old CA
  // and the new) the bundle to write, and writes the configuration now:
  // looks the owner up and applies. Returns the write's error: NotFound or
  // FailedPrecondition for the owner (owner.h), the API server's error
  // otherwise. A failed write is retried by the writer itself once started,
  // so a caller may log and go on; calling again is harmless. A bundle that
  // is not PEM certificates is InvalidArgument and leaves the previous one
  // in use. Thread-safe.
  absl::Status Update(const std::string& ca_bundle_pem);

  // Starts watching the configuration and restoring it. Before the first
  // Update nothing is written (there is no caBundle yet). Once.
  absl::Status Start();
  // Stops watching and retrying; returns when no write is in flight, except
  // an Update running on another thread. Idempotent.
  void Stop();

  // The configuration as last written (nullopt before the first success).
  std::optional<k8s::ValidatingWebhookConfiguration> LastWritten() const;

  struct Stats {
    int64_t writes = 0;    // successful applies, Update's and restores
    int64_t restores = 0;  // applies after someone else's change or delete
    int64_t errors = 0;    // failed writes
    // Times the keeper looked at the configuration (after an event or a
    // failed write), whether or not it wrote.
    int64_t checks = 0;
  };
  Stats stats() const;

 private:
  Writer(client::Client* write_client, client::Client* watch_client,
         WriterOptions options);

  // The keeper thread: writes while pending_ holds, with backoff on error.
  void Keep();
  // Writes if the cached object is not the one last written, or the desired
  // one changed since; OK when there was nothing to do.
  absl::Status Restore() ABSL_LOCKS_EXCLUDED(write_mu_, mu_);
  // Looks the owner up and applies the desired object.
  absl::Status Write() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_LOCKS_EXCLUDED(mu_);
  void MarkPending() ABSL_LOCKS_EXCLUDED(mu_);

  client::Client* const write_client_;
  client::Client* const watch_client_;
  const WriterOptions options_;
  client::Clock* const clock_;
  const runtime::Logger log_;
  std::unique_ptr<runtime::Informer> informer_;
  std::thread keeper_;

  // Serialises writes (Update's and the keeper's), so the resourceVersion
  // recorded is that of the latest write.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  mutable absl::Mutex mu_;
  std::string ca_bundle_pem_ ABSL_GUARDED_BY(mu_);
  // Incremented by every Update; written_version_ is the one last written.
  int64_t desired_version_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t written_version_ ABSL_GUARDED_BY(mu_) = 0;
  // The resourceVersion the API server gave zen-lead's last write.
  std::string written_resource_version_ ABSL_GUARDED_BY(mu_);
  std::optional<k8s::ValidatingWebhookConfiguration> last_written_
      ABSL_GUARDED_BY(mu_);
  // The keeper has something to look at (an event, a failed write).
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zenlead::webhook::configuration

#endif  // ZEN_LEAD_WEBHOOK_CONFIGURATION_WRITER_H_
