// The webhook certificate Secret on the API server: typed reads and
// conditional writes through the client::Client seam, and Converge, which
// reads the Secret, asks the rotation planner (rotation.h) for the next
// step, writes it, and re-plans whenever another replica wrote first.
//
// Every replica runs Converge (each needs a certificate at start, standbys
// too), and the API server picks one writer: a Create that finds the
// Secret already there (AlreadyExists) and an Update whose resourceVersion
// is stale (Conflict) re-read the Secret and plan again from what the
// winner wrote, so two replicas started at once make one CA.
//
// The Secret (type kubernetes.io/tls, in zen-lead's own namespace):
//   tls.crt  the serving certificate      tls.key  its key
//   ca.crt   the CA bundle (1 or 2 CAs)   ca.key   the newest CA's key
// cert-manager writes the first three for its Certificates, so one reader
// serves both modes. Why the CA key sits in the same Secret: every step is
// then one conditional write of one object, never two objects that can
// disagree; and whoever can read the Secret holds the serving key already,
// which impersonates the webhook as well as the CA key would (this CA is
// trusted by zen-lead's webhook configurations only).
//
//   SecretStore store(client.get(), "zen-lead-system", kDefaultSecretName);
//   RotationOptions rotation;
//   rotation.service = kDefaultServiceName;
//   rotation.ns = "zen-lead-system";
//   absl::StatusOr<Converged> converged =
//       Converge(store, clock->Now(), rotation);
//   if (!converged.ok()) return converged.status();  // API errors, RBAC
//   for (const Decision& step : converged->written) { /* an Event each */ }
//   std::string serving_pem = converged->data.tls_crt;
//
// Compiled in secret_store_e2e_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_CERTS_SECRET_STORE_H_
#define ZEN_LEAD_WEBHOOK_CERTS_SECRET_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/types/secret.h"
#include "webhook/certs/rotation.h"

namespace zenlead::webhook::certs {

// The Secret's data keys.
inline constexpr char kTlsCertKey[] = "tls.crt";
inline constexpr char kTlsKeyKey[] = "tls.key";
inline constexpr char kCaCertKey[] = "ca.crt";
inline constexpr char kCaKeyKey[] = "ca.key";
inline constexpr char kTlsSecretType[] = "kubernetes.io/tls";

// Names the manifests use (config/rbac/webhook_certs_role.yaml names the
// Secret; config/certmanager issues into it).
inline constexpr char kDefaultSecretName[] = "zen-lead-webhook-tls";
inline constexpr char kDefaultServiceName[] = "zen-lead-webhook";

// The PEM texts of `secret`'s data (absent keys read as ""). InvalidArgument
// naming the key whose value is not base64.
absl::StatusOr<SecretData> DecodeSecret(const k8s::Secret& secret);

class SecretStore {
 public:
  // client: not owned, must outlive the store.
  SecretStore(client::Client* client, std::string ns, std::string name);

  const std::string& ns() const { return ns_; }
  const std::string& name() const { return name_; }

  // The Secret now (a quorum read); nullopt when it does not exist.
  absl::StatusOr<std::optional<k8s::Secret>> Read() const;
  // AlreadyExists when another writer created it first.
  absl::StatusOr<k8s::Secret> Create(const SecretData& data) const;
  // `current` with its data replaced (labels, annotations, type and the
  // rest kept), conditioned on current's resourceVersion: Conflict when the
  // Secret changed since it was read.
  absl::StatusOr<k8s::Secret> Update(const k8s::Secret& current,
                                     const SecretData& data) const;

 private:
  client::Client* const client_;
  const std::string ns_;
  const std::string name_;
};

struct Converged {
  // The Secret as stored now, and its contents.
  k8s::Secret secret;
  SecretData data;
  // The steps this call wrote, in order (usually none, or one).
  std::vector<Decision> written;
  // Writes refused because another writer was first (each re-planned).
  int conflicts = 0;
  // When to look again if nothing changes (the planner's next_check).
  absl::Time next_check = absl::InfiniteFuture();
};

// Reads, plans and writes until the planner has nothing to do at `now`.
// Aborted when the Secret kept changing under it for several rounds;
// other API errors as the client returned them.
absl::StatusOr<Converged> Converge(const SecretStore& store, absl::Time now,
                                   const RotationOptions& options);

}  // namespace zenlead::webhook::certs

#endif  // ZEN_LEAD_WEBHOOK_CERTS_SECRET_STORE_H_
