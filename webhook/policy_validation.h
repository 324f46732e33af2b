// LeaderPolicy validation for the admission webhook (SPEC §1, §3.4): the
// answer to a LeaderPolicy CREATE or UPDATE, with a message that names the
// field and the values, and warnings for settings that are legal but risky.
//
// The API server checks the CRD schema (types, ranges, enums and the CEL
// cross-field rules) before it calls a validating webhook, so a policy that
// breaks those rules is refused by the CRD itself and never gets here. The
// same rules are checked again here (pool::PolicyFromObject, the function
// the operator reads policies with), for a CRD installed without them.
// What only the webhook can do:
//   - cross-object checks, through PolicyLookups: the pool's name taken by
//     a Lease zen-lead does not manage; a scaleDown pool whose Deployment
//     cannot finish a rolling update while only one pod runs;
//   - warnings for settings that are allowed but risky (SettingWarnings).
// An UPDATE that leaves the spec as it was (a status or metadata write) is
// allowed with no checks at all. docs/webhook.md, "LeaderPolicy
// validation", lists every rule and says why.
//
//   FakeLookups lookups;  // or CachePolicyLookups (policy_validation_cache.h)
//   Decision d = ValidatePolicyRequest(request, &lookups);
//   if (!d.allowed) {
//     // d.reason "InvalidPolicy", d.message "spec.renewDeadlineSeconds
//     // (12) must be less than spec.leaseDurationSeconds (10)"
//   }
//   std::string answer = EncodeResponse(request.uid, d);  // warnings too
//
// Compiled in policy_validation_test.cc.
#ifndef ZEN_LEAD_WEBHOOK_POLICY_VALIDATION_H_
#define ZEN_LEAD_WEBHOOK_POLICY_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/pool/objects.h"
#include "api/types/admissionreview.h"
#include "api/types/leaderpolicy.h"
#include "codegen/runtime/openapi.h"
#include "webhook/admission_review.h"

namespace zenlead::webhook {

// Decision.reason of this webhook (UpperCamelCase, a small fixed set: the
// metric label).
inline constexpr char kReasonValidPolicy[] = "ValidPolicy";
// An UPDATE whose spec is unchanged: allowed without checks.
inline constexpr char kReasonSpecUnchanged[] = "SpecUnchanged";
// An operation this webhook does not validate (DELETE, CONNECT): allowed.
inline constexpr char kReasonNotValidated[] = "NotValidated";
// The object does not decode as a LeaderPolicy.
inline constexpr char kReasonInvalidObject[] = "InvalidObject";
// A field breaks the schema or a cross-field rule, or the name cannot name
// a pool.
inline constexpr char kReasonInvalidPolicy[] = "InvalidPolicy";
// The pool's name is taken by a Lease zen-lead does not manage.
inline constexpr char kReasonLeaseConflict[] = "LeaseConflict";
// scaleDown, and a Deployment of the pool cannot roll out.
inline constexpr char kReasonRolloutBlocked[] = "RolloutBlocked";

// The pool Lease as the webhook sees it.
struct PoolLeaseInfo {
  // Labelled app.kubernetes.io/managed-by=zen-lead. A Lease zen-lead does
  // not manage is never written, so the pool could never elect a leader.
  bool managed_by_zen_lead = false;
};

// What decides whether a Deployment of a pool can roll out in scaleDown.
struct PoolDeployment {
  std::string name;
  int32_t replicas = 1;
  // spec.strategy.type: "RollingUpdate" (the API server's default) or
  // "Recreate".
  std::string strategy_type = "RollingUpdate";
  // spec.strategy.rollingUpdate; nullopt: the API server's default, 25%.
  std::optional<openapi::IntOrString> max_unavailable;
  std::optional<openapi::IntOrString> max_surge;
};

// The cross-object reads validation needs (the seam for tests; the webhook
// wires CachePolicyLookups to the process's cache). An error means the
// check could not be made: the request is then allowed with a warning
// saying so (these checks catch mistakes; the Gatekeeper and the operator
// enforce the invariants themselves, and a LeaderPolicy write must not
// fail because a read did).
class PolicyLookups {
 public:
  virtual ~PolicyLookups() = default;
  // The Lease named after the pool in `ns`; nullopt when there is none.
  virtual absl::StatusOr<std::optional<PoolLeaseInfo>> PoolLease(
      const std::string& ns, const std::string& pool) const = 0;
  // The Deployments that join the pool (the pool label on the Deployment,
  // or the pod-template annotations; pool::Cache::SourcesOf), and those
  // whose pods a Service of the pool selects.
  virtual absl::StatusOr<std::vector<PoolDeployment>> PoolDeployments(
      const std::string& ns, const std::string& pool) const = 0;
};

// Decides a LeaderPolicy CREATE (`old` nullptr) or UPDATE (`old` the stored
// object): allowed, or denied (code 403) with a message naming each field
// and value, several problems joined by "; "; warnings either way. ns: the
// request's namespace ("" reads metadata.namespace). lookups: nullptr skips the
// cross-object checks.
//
// Field rules (denied on CREATE and UPDATE, reason InvalidPolicy): the
// generated Validate (ranges, enums), the CRD's cross-field rules
// (pool::ValidatePolicySettings), and a name that can name the pool
// (pool::ValidatePoolName).
// Cross-object rules: denied when the request brings the problem in (a
// CREATE; scaleDown newly set), a warning on an UPDATE of a policy that
// had it already, so that fixing an unrelated field is never blocked by a
// state elsewhere.
Decision ValidatePolicy(const std::string& ns,
                        const api::v1alpha1::LeaderPolicy& policy,
                        const api::v1alpha1::LeaderPolicy* old,
                        const PolicyLookups* lookups);

// The same for an AdmissionRequest: decodes request.object (and
// request.oldObject for UPDATE); an object that does not decode is denied
// naming the field (reason InvalidObject). Operations other than CREATE
// and UPDATE are allowed (reason NotValidated).
Decision ValidatePolicyRequest(const k8s::AdmissionRequest& request,
                               const PolicyLookups* lookups);

// The warnings for legal but risky settings of a defaulted, valid spec
// (docs/webhook.md says why each one is risky):
//   - the pool Lease is renewed (every leaseDuration - renewDeadline
//     seconds) more than twice as often as with the CRD's defaults: Lease
//     writes are the API server load that grows with the number of pools
//     (docs/operator.md, Sizing);
//   - renewDeadlineSeconds below half the default: the time a renewal has
//     between falling due and the Lease expiring for its readers;
//   - scaleDown with minReadySeconds > 0: no warm follower exists, so every
//     failover waits for the new pod's minReadySeconds with no leader.
std::vector<std::string> SettingWarnings(const pool::PolicySettings& policy);

// Why `deployment` cannot finish a rolling update when only one of its
// pods may run (scaleDown), or nullopt when it can (Recreate; or a
// maxUnavailable that lets the Deployment controller remove the running
// pod before a new one is available).
std::optional<std::string> ScaleDownRolloutProblem(
    const std::string& ns, const PoolDeployment& deployment);

}  // namespace zenlead::webhook

#endif  // ZEN_LEAD_WEBHOOK_POLICY_VALIDATION_H_
