#include "webhook/policy_validation.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace zenlead::webhook {
namespace {

namespace lp = api::v1alpha1;

// The CRD's defaults, read from the generated ApplyDefaults
// (pool::DefaultPolicySpec): the thresholds of the warnings follow them.
int32_t DefaultRenewInterval() {
  const lp::LeaderPolicySpec& d = pool::DefaultPolicySpec();
  return *d.lease_duration_seconds - *d.renew_deadline_seconds;
}
int32_t DefaultRenewDeadline() {
  return *pool::DefaultPolicySpec().renew_deadline_seconds;
}

// A copy with the CRD's defaults applied (a missing spec is the schema's
// default {}), as the API server stores it.
lp::LeaderPolicy Defaulted(const lp::LeaderPolicy& policy) {
  lp::LeaderPolicy out = policy;
  if (!out.spec) out.spec.emplace();
  lp::ApplyDefaults(out);
  return out;
}

std::string NameOf(const lp::LeaderPolicy& policy) {
  return policy.metadata ? policy.metadata->name.value_or("") : "";
}

bool IsScaleDown(const std::string& follower_mode) {
  return follower_mode == lp::LeaderPolicySpec::kFollowerModeScaleDown;
}

// A Deployment's maxSurge / maxUnavailable scaled to `replicas` as the
// Deployment controller does: an integer as it is, a percentage rounded up
// (maxSurge) or down (maxUnavailable). nullopt for a value that does not
// parse (the API server refuses those).
std::optional<int64_t> Scaled(const openapi::IntOrString& value,
                              int32_t replicas, bool round_up) {
  if (value.is_int()) return value.int_value();
  absl::string_view text = value.string_value();
  if (!absl::ConsumeSuffix(&text, "%")) return std::nullopt;
  int64_t percent = 0;
  if (!absl::SimpleAtoi(text, &percent) || percent < 0) return std::nullopt;
  const int64_t scaled = percent * replicas;
  return round_up ? (scaled + 99) / 100 : scaled / 100;
}

std::string ValueText(const std::optional<openapi::IntOrString>& value) {
  return value ? value->ToString() : "25% (the default)";
}

// Cross-object checks: `deny` collects the problems this request brings in
// (reason, message), the others go to the warnings. `old`: the stored
// policy, defaulted; nullptr on CREATE.
void CheckCrossObject(const std::string& ns, const std::string& name,
                      const pool::PolicySettings& settings,
                      const lp::LeaderPolicy* old, const PolicyLookups& lookups,
                      std::vector<std::pair<std::string, std::string>>& deny,
                      std::vector<std::string>& warnings) {
  const bool creating = old == nullptr;
  absl::StatusOr<std::optional<PoolLeaseInfo>> lease =
      lookups.PoolLease(ns, name);
  if (!lease.ok()) {
    warnings.push_back(absl::StrCat("could not check the pool Lease ", ns, "/",
                                    name, ": ", lease.status().message()));
  } else if (lease->has_value() && !(*lease)->managed_by_zen_lead) {
    std::string message = absl::StrCat(
        "metadata.name: the Lease ", ns, "/", name,
        " exists and is not managed by zen-lead (no label ",
        pool::kManagedByLabel, "=", pool::kManagedBy,
        "); zen-lead never writes a Lease it does not manage, so this pool "
        "could never record a leader: choose another name, or remove that "
        "Lease if nothing uses it (kubectl get lease -n ",
        ns, " ", name, " -o yaml)");
    if (creating) {
      deny.emplace_back(kReasonLeaseConflict, std::move(message));
    } else {
      warnings.push_back(std::move(message));
    }
  }

  if (!IsScaleDown(settings.follower_mode)) return;
  // Denied when this request makes the pool scaleDown; a policy that was
  // scaleDown already is only warned about.
  const bool becoming =
      creating || !IsScaleDown(old->spec->follower_mode.value_or(""));
  absl::StatusOr<std::vector<PoolDeployment>> deployments =
      lookups.PoolDeployments(ns, name);
  if (!deployments.ok()) {
    warnings.push_back(absl::StrCat("could not check the Deployments of pool ",
                                    ns, "/", name, ": ",
                                    deployments.status().message()));
    return;
  }
  for (const PoolDeployment& d : *deployments) {
    std::optional<std::string> problem = ScaleDownRolloutProblem(ns, d);
    if (!problem) continue;
    std::string message =
        absl::StrCat("spec.followerMode (scaleDown): ", *std::move(problem));
    if (becoming) {
      deny.emplace_back(kReasonRolloutBlocked, std::move(message));
    } else {
      warnings.push_back(std::move(message));
    }
  }
}

}  // namespace

std::optional<std::string> ScaleDownRolloutProblem(
    const std::string& ns, const PoolDeployment& deployment) {
  if (deployment.strategy_type == "Recreate") return std::nullopt;
  const int32_t replicas = deployment.replicas;
  if (replicas <= 0) return std::nullopt;  // nothing to roll out
  // The API server's default for both.
  const openapi::IntOrString quarter("25%");
  std::optional<int64_t> surge =
      Scaled(deployment.max_surge.value_or(quarter), replicas, true);
  std::optional<int64_t> unavailable =
      Scaled(deployment.max_unavailable.value_or(quarter), replicas, false);
  if (!surge || !unavailable) return std::nullopt;
  // The controller's own fencepost: both 0 would never move.
  if (*surge == 0 && *unavailable == 0) unavailable = 1;
  // The controller removes an available old pod only while more than
  // replicas - maxUnavailable pods are available. In scaleDown one pod
  // runs, and the new ReplicaSet's pod is refused while it does, so the
  // rollout moves only when maxUnavailable covers every replica.
  if (*unavailable >= replicas) return std::nullopt;
  const int64_t keep = replicas - *unavailable;
  return absl::StrCat(
      "Deployment ", ns, "/", deployment.name,
      " could never finish a rollout: its RollingUpdate strategy keeps ", keep,
      " of its ", replicas, " replicas available (maxUnavailable ",
      ValueText(deployment.max_unavailable), " is ", *unavailable,
      "), but only one pod of a scaleDown pool runs, and the new "
      "ReplicaSet's pod is refused while it does; set the Deployment's "
      "spec.strategy.type to Recreate (or rollingUpdate.maxUnavailable to "
      "100%)");
}

std::vector<std::string> SettingWarnings(const pool::PolicySettings& p) {
  std::vector<std::string> out;
  const int32_t interval = p.lease_duration_seconds - p.renew_deadline_seconds;
  const int32_t default_interval = DefaultRenewInterval();
  if (interval * 2 < default_interval) {
    out.push_back(absl::StrCat(
        "spec.leaseDurationSeconds (", p.lease_duration_seconds,
        ") - spec.renewDeadlineSeconds (", p.renew_deadline_seconds,
        ") renews the pool Lease every ", interval, "s (the defaults: every ",
        default_interval, "s): each pool costs the API server one write per ",
        interval, "s; with many pools see docs/operator.md, Sizing"));
  }
  const int32_t default_deadline = DefaultRenewDeadline();
  if (p.renew_deadline_seconds * 2 < default_deadline) {
    out.push_back(absl::StrCat(
        "spec.renewDeadlineSeconds (", p.renew_deadline_seconds,
        "): a renewal that lands more than ", p.renew_deadline_seconds,
        "s after it falls due lets the pool Lease expire, and IsLeader "
        "readers then see no leader; API server load delays renewals (the "
        "default is ",
        default_deadline, "s)"));
  }
  if (IsScaleDown(p.follower_mode) && p.min_ready_seconds > 0) {
    out.push_back(absl::StrCat(
        "spec.minReadySeconds (", p.min_ready_seconds,
        ") with spec.followerMode scaleDown: no follower runs before a "
        "failover, so the new pod gets no traffic until it has been Ready "
        "for ",
        p.min_ready_seconds, "s, on every failover"));
  }
  return out;
}

Decision ValidatePolicy(const std::string& request_ns,
                        const lp::LeaderPolicy& policy,
                        const lp::LeaderPolicy* old,
                        const PolicyLookups* lookups) {
  const lp::LeaderPolicy now = Defaulted(policy);
  std::optional<lp::LeaderPolicy> before;
  if (old != nullptr) {
    before = Defaulted(*old);
    // A status write, or one of labels, annotations, finalizers or owner
    // references: metadata.generation stays, and so does everything
    // validated here. Never blocked, so that the operator's status writes
    // and garbage collection always go through.
    if (*before->spec == *now.spec)
      return Decision::Allow(kReasonSpecUnchanged);
  }
  const std::string name = NameOf(now);
  std::string ns = request_ns;
  if (ns.empty() && now.metadata) {
    ns = now.metadata->namespace_field.value_or("");
  }

  // Field rules: the function the operator reads policies with, so that
  // both agree on what is invalid and say it in the same words.
  const pool::PolicySettings settings = pool::PolicyFromObject(now.ToJson());
  std::vector<std::string> problems;
  if (!settings.invalid.empty()) problems.push_back(settings.invalid);
  // A name from generateName is not known yet (and names no pool a
  // workload could refer to).
  if (!name.empty()) {
    if (absl::Status s = pool::ValidatePoolName(name); !s.ok()) {
      problems.push_back(absl::StrCat("metadata.name: ", s.message()));
    }
  }
  if (!problems.empty()) {
    return Decision::Deny(kReasonInvalidPolicy, absl::StrJoin(problems, "; "));
  }

  Decision decision = Decision::Allow(kReasonValidPolicy);
  decision.warnings = SettingWarnings(settings);
  if (lookups == nullptr || name.empty()) return decision;
  std::vector<std::pair<std::string, std::string>> deny;
  CheckCrossObject(ns, name, settings, before ? &*before : nullptr, *lookups,
                   deny, decision.warnings);
  if (deny.empty()) return decision;
  std::vector<std::string> messages;
  messages.reserve(deny.size());
  for (const auto& [reason, message] : deny) messages.push_back(message);
  Decision denied =
      Decision::Deny(deny.front().first, absl::StrJoin(messages, "; "));
  denied.warnings = std::move(decision.warnings);
  return denied;
}

Decision ValidatePolicyRequest(const k8s::AdmissionRequest& request,
                               const PolicyLookups* lookups) {
  const bool create =
      request.operation == k8s::AdmissionRequest::kOperationCREATE;
  const bool update =
      request.operation == k8s::AdmissionRequest::kOperationUPDATE;
  if (!create && !update) return Decision::Allow(kReasonNotValidated);
  auto decode = [](const std::optional<nlohmann::json>& object,
                   const char* field) -> absl::StatusOr<lp::LeaderPolicy> {
    if (!object) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": required field is missing"));
    }
    return lp::LeaderPolicy::FromJson(*object);
  };
  absl::StatusOr<lp::LeaderPolicy> policy =
      decode(request.object, "request.object");
  if (!policy.ok()) {
    return Decision::Deny(kReasonInvalidObject,
                          std::string(policy.status().message()));
  }
  std::optional<lp::LeaderPolicy> old;
  if (update) {
    absl::StatusOr<lp::LeaderPolicy> decoded =
        decode(request.old_object, "request.oldObject");
    // A stored object that no longer decodes (written under a CRD with
    // other types) must stay fixable: the new object is validated on its
    // own, as an update of a policy with the default spec.
    old = decoded.ok() ? *std::move(decoded) : lp::LeaderPolicy();
  }
  return ValidatePolicy(request.namespace_field.value_or(""), *policy,
                        old ? &*old : nullptr, lookups);
}

}  // namespace zenlead::webhook
