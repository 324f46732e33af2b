// The rotation planner for the self-managed webhook certificate (pure: time
// is an argument). Given what the Secret holds (or that it is missing) and
// `now`, it decides the one next step, and then makes the Secret's new
// contents for it:
//
//   missing                  -> Create: a CA and a leaf it signs
//   leaf at 2/3 of its life  -> RenewLeaf: a new leaf from the same CA
//   CA at 2/3 of its life    -> StartCaRotation: a new CA joins ca.crt; the
//                               leaf (of the old CA) is still served
//   one overlap after that   -> SwitchLeaf: a leaf signed by the new CA
//   one overlap after that   -> DropOldCa: ca.crt holds the new CA only
//   garbage                  -> what still works is kept: an unusable leaf
//                               is reissued, an unusable CA key starts a CA
//                               rotation (the served leaf stays trusted);
//                               Recreate only when neither works
//
// During a CA rotation every certificate served is trusted by the bundle
// of the step before and the step after it, so a replica or an API server
// that is one step behind never fails a handshake.
//
//   RotationOptions options;
//   options.service = "zen-lead-webhook";
//   options.ns = "zen-lead-system";
//   absl::StatusOr<Plan> plan =
//       PlanRotation(/*current=*/std::nullopt, now, options);
//   if (!plan.ok()) return plan.status();  // bad options, OpenSSL failure
//   if (plan->decision.step != Step::kNone) {
//     // write plan->data to the Secret, conditioned on its resourceVersion
//   }
//   absl::Time look_again = plan->decision.next_check;
//
// Compiled in rotation_test.cc.
//
// Why these defaults: a one-year CA and a 90-day leaf, each renewed at 2/3
// of its life as cert-manager renews by default (Kyverno's self-managed CA
// also lasts a year). A CA rotation then starts with four months left and
// takes two overlaps of a day each: long enough for every replica to reload
// through its watch and for the ValidatingWebhookConfiguration's caBundle
// to be written and seen by the API server, even across an outage of a few
// hours. Certificates are backdated by an hour so that a replica (or API
// server) whose clock is behind the issuer's still accepts them. Times of
// the steps are read from the certificates themselves (a step happened at
// its certificate's notBefore + backdate), so the Secret carries no other
// state.
#ifndef ZEN_LEAD_WEBHOOK_CERTS_ROTATION_H_
#define ZEN_LEAD_WEBHOOK_CERTS_ROTATION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "webhook/certs/authority.h"

namespace zenlead::webhook::certs {

// The PEM texts of a certificate Secret (its data, base64-decoded).
struct SecretData {
  std::string tls_crt;  // the serving leaf
  std::string tls_key;  // its key
  std::string ca_crt;   // the CA bundle: one CA, two during a rotation
  std::string ca_key;   // self-managed: the key of the newest CA in ca_crt

  bool operator==(const SecretData& o) const {
    return tls_crt == o.tls_crt && tls_key == o.tls_key && ca_crt == o.ca_crt &&
           ca_key == o.ca_key;
  }
};

struct RotationOptions {
  // The webhook Service: the leaf names <service>, <service>.<ns>,
  // <service>.<ns>.svc and <service>.<ns>.svc.cluster.local. Empty service
  // (cert-manager mode, Inspect only): names are not checked.
  std::string service;
  std::string ns;
  // IP SANs too (127.0.0.1 for a webhook called by URL on a local cluster).
  std::vector<std::string> ip_addresses;

  absl::Duration ca_lifetime = absl::Hours(24 * 365);
  absl::Duration leaf_lifetime = absl::Hours(24 * 90);
  // A certificate is renewed once this fraction of its life has passed.
  double renew_fraction = 2.0 / 3.0;
  // How long the bundle carries both CAs before the leaf switches, and
  // again before the old CA is dropped.
  absl::Duration overlap = absl::Hours(24);
  // notBefore = issue time - backdate.
  absl::Duration backdate = absl::Hours(1);
  // A certificate whose notBefore is at most this far ahead of `now` is
  // taken as usable (the issuing replica's clock is ahead: it becomes
  // valid here soon); further ahead, it is replaced.
  absl::Duration max_clock_skew = absl::Minutes(5);
};

// InvalidArgument naming the option: lifetimes, fraction, and a CA
// rotation (two overlaps) that would not finish before the old CA or the
// leaf it keeps serving expires.
absl::Status ValidateRotationOptions(const RotationOptions& options);

// What a Secret's contents are worth at `now`. A part that cannot be used
// is absent, and its problem says why ("tls.crt: expired at ...").
struct Inspection {
  // ca.crt, in order; empty when it does not parse.
  std::vector<Certificate> bundle;
  std::string bundle_problem;
  // tls.crt and tls.key: parse, belong together, usable now (see
  // max_clock_skew), issued by a usable CA of `bundle`, naming the Service.
  std::optional<KeyPair> leaf;
  // Index in `bundle` of the leaf's issuer (-1 without a leaf).
  int leaf_issuer = -1;
  std::string leaf_problem;
  // ca.key and the CA of `bundle` it belongs to, usable now.
  std::optional<KeyPair> signer;
  std::string signer_problem;
};

Inspection Inspect(const SecretData& data, absl::Time now,
                   const RotationOptions& options);

enum class Step {
  kNone,
  kCreate,
  kRecreate,
  kRenewLeaf,
  kStartCaRotation,
  kSwitchLeaf,
  kDropOldCa,
};

// "create", "recreate", "renew_leaf", "start_ca_rotation", "switch_leaf",
// "drop_old_ca" ("none"): the rotations metric's label.
absl::string_view StepName(Step step);

struct Decision {
  Step step = Step::kNone;
  // Why, for people (Events, logs).
  std::string reason;
  // The step repairs contents that could not be used (a Warning Event).
  bool repair = false;
  // With kNone: when the decision may change if nothing else does
  // (InfiniteFuture: never).
  absl::Time next_check = absl::InfiniteFuture();
};

// The next step for `inspection` (nullptr: the Secret does not exist).
Decision Decide(const Inspection* inspection, absl::Time now,
                const RotationOptions& options);

// The Secret's contents after `decision` (issuing what it needs). For
// kNone, `current` unchanged.
absl::StatusOr<SecretData> Carry(const Decision& decision,
                                 const SecretData& current,
                                 const Inspection* inspection, absl::Time now,
                                 const RotationOptions& options);

struct Plan {
  Decision decision;
  SecretData data;
};

// Inspect, Decide and Carry in one: what to write next.
absl::StatusOr<Plan> PlanRotation(const std::optional<SecretData>& current,
                                  absl::Time now,
                                  const RotationOptions& options);

}  // namespace zenlead::webhook::certs

#endif  // ZEN_LEAD_WEBHOOK_CERTS_ROTATION_H_
