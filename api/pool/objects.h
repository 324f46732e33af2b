// The boundary between Kubernetes objects and the pool model: what is read
// from a cached object (a pool source, a candidate pod, a policy's settings)
// and the desired form of the objects the operator writes (leader Service,
// EndpointSlice, pool Lease, LeaderPolicy status). Everything else works on
// these plain structs.
//
// The *Apply functions build whole desired objects, not server-side apply
// bodies: the operator creates an object with a POST (create-only, so a
// name someone else holds is never taken) and changes it with a JSON merge
// patch of what differs. A POST's fields stay co-owned by its field
// manager, so an apply could never remove a port, an endpoint or a holder.
//
//   std::optional<Source> s = SourceFromWorkload(kDeployment, deployment);
//   PolicySettings policy = PolicyFromObject(leader_policy);
//   Candidate c = CandidateFromPod(pod, policy.identity_strategy);
//   nlohmann::json svc = LeaderServiceApply(*s);  // the desired Service
//   client->Create(kServices, s->ns, svc);        // POST, when missing
//   nlohmann::json want = PolicyStatusApply(ns, pool, status, cached, now);
//   nlohmann::json patch = MergePatchFor(cached["status"], want["status"]);
//   client->Patch(kPolicies, ns, pool, client::PatchType::kMerge,
//                 {{"status", patch}}, "status");
#ifndef ZEN_LEAD_API_POOL_OBJECTS_H_
#define ZEN_LEAD_API_POOL_OBJECTS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/pool/election.h"
#include "api/pool/ports.h"
#include "api/pool/service_settings.h"
#include "api/types/leaderpolicy.h"
#include "api/types/meta.h"
#include "nlohmann/json.hpp"

namespace zenlead::pool {

// Labels and annotations zen-lead reads or writes.
inline constexpr char kPoolLabel[] = "zen-lead/pool";
// The pod-template form of membership (SPEC §2): annotations
// `zen-lead/pool: <name>` and `zen-lead/join: "true"` on a workload's pod
// template; the pods carry them, so the webhook sees a pod's pool without
// any owner lookup.
inline constexpr char kJoinAnnotation[] = "zen-lead/join";
inline constexpr char kEnabledAnnotation[] = "zen-lead.io/enabled";
inline constexpr char kIdentityAnnotation[] = "zen-lead/identity";
// identityStrategy custom, without the annotation: a literal value of this
// variable in the pod's first container.
inline constexpr char kIdentityEnv[] = "ZEN_LEAD_IDENTITY";
inline constexpr char kSourceLabel[] = "zen-lead.io/source";
inline constexpr char kHolderUidAnnotation[] = "zen-lead.io/holder-uid";
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedBy[] = "zen-lead";
inline constexpr char kSliceManagedByLabel[] =
    "endpointslice.kubernetes.io/managed-by";
inline constexpr char kSliceManagedBy[] = "zen-lead";
inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
inline constexpr char kLeaderSuffix[] = "-leader";

// Field managers: each writer of zen-lead records its writes under its own
// name (managedFields), so a server-side apply by one never takes over
// fields of the other, and `kubectl get -o yaml` tells who wrote what.
// Creates and merge patches are recorded under the client's field manager
// (client::RestClientOptions::field_manager), server-side applies under
// client::ApplyOptions::field_manager: both are set from these.
inline constexpr char kOperatorFieldManager[] = "zen-lead-operator";
inline constexpr char kWebhookFieldManager[] = "zen-lead-webhook";

// The CRD's defaults of a LeaderPolicy spec: an empty spec run through the
// generated ApplyDefaults, computed once (thread-safe). Every setting has a
// value: the CRD gives each one a default (checked on first use; a schema
// without one is a broken build and aborts with the field's name).
const api::v1alpha1::LeaderPolicySpec& DefaultPolicySpec();

// A LeaderPolicy's spec with the CRD defaults applied.
//
// A default-constructed PolicySettings (`PolicySettings{}`, or by its name
// DefaultPolicySettings()) holds the CRD's defaults: the settings'
// initialisers read them from the generated ApplyDefaults
// (DefaultPolicySpec()), so the CRD is their only source and changing a
// default there changes it here. Strings are the generated enum constants
// (api::v1alpha1::LeaderPolicySpec::kFollowerModeStandby, ...).
struct PolicySettings {
  bool found = false;
  // Non-empty when the stored spec breaks the CRD's rules (a policy stored
  // under an older or relaxed CRD): what is wrong, naming the fields. The
  // settings are then the defaults; the caller decides what to use.
  std::string invalid;
  std::string uid;
  int64_t generation = 0;
  int32_t lease_duration_seconds = *DefaultPolicySpec().lease_duration_seconds;
  int32_t renew_deadline_seconds = *DefaultPolicySpec().renew_deadline_seconds;
  int32_t retry_period_seconds = *DefaultPolicySpec().retry_period_seconds;
  std::string identity_strategy = *DefaultPolicySpec().identity_strategy;
  std::string follower_mode = *DefaultPolicySpec().follower_mode;
  int32_t min_ready_seconds = *DefaultPolicySpec().min_ready_seconds;
};

// The settings of a pool without a LeaderPolicy: the CRD's defaults (not
// found, no uid).
inline PolicySettings DefaultPolicySettings() { return PolicySettings{}; }

// A workload or Service that joins a pool. Deployments, StatefulSets and
// Services are the TrafficDirector's; Jobs and CronJobs are StateGuard's.
struct Source {
  enum class Kind { kDeployment, kStatefulSet, kService, kJob, kCronJob };
  Kind kind = Kind::kDeployment;
  std::string ns;
  std::string name;
  std::string uid;
  std::string pool;
  // True when the pool was named (label or annotation); a Service without a
  // pool name forms its own pool and expects no LeaderPolicy.
  bool pool_named = true;
  // spec.replicas (workloads; default 1). For a Service: -1 (count pods).
  int32_t replicas = 1;
  // Service: its selector. Workloads: unused (pods are found by owner).
  std::map<std::string, std::string> selector;
  // The leader Service's ports: the Service's, or the pod template's.
  std::vector<ServicePort> ports;
  absl::Time created = absl::InfinitePast();
  // Set when the source cannot form a leader Service (an enabled Service
  // without a selector): an UpperCamelCase reason and a message. Nothing is
  // written for such a source.
  std::string problem_reason;
  std::string problem;
  // Services: the settings of their zen-lead.io/* annotations
  // (service_settings.h); workloads keep the defaults.
  // leader_service_name: "" for <name>-leader.
  std::string leader_service_name;
  bool sticky = true;
  std::optional<absl::Duration> min_ready;
  // Annotations whose values were not used (the default applies): each is
  // warned about, naming the annotation.
  std::vector<SettingProblem> setting_problems;

  std::string KindName() const;    // "Deployment", "StatefulSet", ...
  std::string ApiVersion() const;  // "apps/v1", "batch/v1" or "v1"
  // Deployment, StatefulSet or Service: a leader Service is routed for it.
  bool Routed() const {
    return kind == Kind::kDeployment || kind == Kind::kStatefulSet ||
           kind == Kind::kService;
  }
  std::string LeaderServiceName() const {
    return leader_service_name.empty() ? name + kLeaderSuffix
                                       : leader_service_name;
  }
};

// The source a Deployment, StatefulSet, Job or CronJob forms, or nullopt
// when it joins no pool: the pool is the workload's `zen-lead/pool` label,
// else its pod template's `zen-lead/pool` annotation with
// `zen-lead/join: "true"` (a CronJob's: its jobTemplate's pod template).
std::optional<Source> SourceFromWorkload(Source::Kind kind,
                                         const nlohmann::json& workload);
// The source an annotated Service forms, or nullopt when it is not enabled
// (or is itself a leader Service zen-lead manages).
std::optional<Source> SourceFromService(const nlohmann::json& service);

PolicySettings PolicyFromObject(const nlohmann::json& policy);
// status.transitions of a LeaderPolicy (0 when absent): the largest fencing
// token zen-lead reported for the pool.
int64_t PolicyStatusTransitions(const nlohmann::json& policy);
// The rules of the CRD schema (ranges, enums) and the cross-field rules it
// states in CEL, on a defaulted spec; the message names each field.
absl::Status ValidatePolicySettings(const PolicySettings& policy);
// Whether a pool name can name the pool Lease and label zen-lead's objects
// (a DNS-1123 subdomain of at most 63 characters); the error says why not.
absl::Status ValidatePoolName(const std::string& pool);

// What the election needs of a pod. identity_strategy: a value of
// api::v1alpha1::LeaderPolicySpec's kIdentityStrategy* constants.
Candidate CandidateFromPod(const nlohmann::json& pod,
                           const std::string& identity_strategy);
std::vector<ContainerPort> PodContainerPorts(const nlohmann::json& pod);
// A pod's status.phase ("" when it has none yet, or it is not a string).
std::string PodPhase(const nlohmann::json& pod);
// Succeeded or Failed: the pod's containers will not run again. Any other
// phase (none yet, Pending, Running, Unknown) is active, a terminating pod
// included (SPEC §3.2).
bool FinishedPhase(const std::string& phase);
// The pool a pod joins directly through its own annotations (the pod-template
// form), or "" when it carries none (or not `zen-lead/join: "true"`).
std::string PodAnnotationPool(const nlohmann::json& pod);
// ownerReferences[].uid of the controller owner, or "" when none.
std::string ControllerOwnerUid(const nlohmann::json& obj);
// The controller ownerReference (controller: true), or nullopt when none or
// when the metadata does not parse.
struct OwnerRef {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
};
std::optional<OwnerRef> ControllerOwner(const nlohmann::json& obj);
std::map<std::string, std::string> Labels(const nlohmann::json& obj);

// The same facts read from metadata decoded once, for a caller that needs
// several of them (admission reads all three of a pod on every review).
// The metadata membership reads: name, generateName, namespace, uid,
// labels, annotations and ownerReferences, and not managedFields (most of
// the metadata of an object as the API server sends it). Empty when
// those fields do not parse.
k8s::ObjectMeta MembershipMetaOf(const nlohmann::json& obj);
std::optional<OwnerRef> ControllerOwner(const k8s::ObjectMeta& meta);
std::string PodAnnotationPool(const k8s::ObjectMeta& meta);
std::map<std::string, std::string> Annotations(const nlohmann::json& obj);
bool SelectorMatches(const std::map<std::string, std::string>& selector,
                     const std::map<std::string, std::string>& labels);

// The projection the pod informer caches: only the fields read above.
nlohmann::json ProjectPod(const nlohmann::json& pod);

// The desired objects (created with a POST, then merge-patched where they
// differ). All carry app.kubernetes.io/managed-by=zen-lead, the pool and
// source labels, and a controller ownerReference to the source (the
// LeaderPolicy for the Lease) so garbage collection removes them.
nlohmann::json LeaderServiceApply(const Source& source);
// leader: nullopt (or unresolved ports) gives a slice with no endpoints.
// address_type: "IPv4" or "IPv6" (AddressTypeOf the leader's IP).
nlohmann::json EndpointSliceApply(const Source& source,
                                  const std::optional<Candidate>& leader,
                                  const std::vector<SlicePort>& ports,
                                  const std::string& address_type = "IPv4");
// "IPv6" for an address with a colon, else "IPv4".
std::string AddressTypeOf(const std::string& ip);

struct LeaseState {
  std::string holder_identity;
  std::string holder_uid;
  absl::Time acquire_time = absl::InfinitePast();
  absl::Time renew_time = absl::InfinitePast();
  // The Lease's own spec.leaseDurationSeconds. zen-lead always writes it
  // (NextLease: the policy's); a new LeaseState, and a zen-lead Lease
  // without the field (edited by hand), read as the CRD's default lease
  // duration, the one a pool without a LeaderPolicy would write.
  int32_t lease_duration_seconds = *DefaultPolicySpec().lease_duration_seconds;
  int64_t transitions = 0;
};
// Reads a pool Lease; nullopt when the object is not zen-lead's.
std::optional<LeaseState> LeaseFromObject(const nlohmann::json& lease);
// Whether two versions of a Lease differ only by a renewal (renewTime and
// bookkeeping metadata such as resourceVersion and managedFields).
bool LeaseOnlyRenewed(const nlohmann::json& a, const nlohmann::json& b);
// An informer projection for objects cached whole: drops
// metadata.managedFields and kubectl's last-applied-configuration
// annotation, which zen-lead never reads and which are often most of a small
// object's size.
nlohmann::json WithoutBookkeeping(const nlohmann::json& obj);
// The JSON merge patch (RFC 7386) that turns `have` into `want` for the
// fields `want` names and removes the ones it drops: objects are diffed key
// by key, anything else (arrays included) is replaced; a key of `have`
// missing from `want` becomes null. Empty when nothing differs.
nlohmann::json MergePatchFor(const nlohmann::json& have,
                             const nlohmann::json& want);
nlohmann::json LeaseApply(const std::string& ns, const std::string& pool,
                          const PolicySettings& policy,
                          const std::string& policy_name,
                          const LeaseState& state);

struct PoolStatus {
  int64_t observed_generation = 0;
  std::string phase;  // Electing | Stable | NoCandidates | SingleReplica
  std::optional<Candidate> holder;
  absl::Time holder_since = absl::InfinitePast();
  int candidates = 0;
  int64_t transitions = 0;
  absl::Time last_transition = absl::InfinitePast();
  // Ready and LeaderElected conditions: status, reason, message.
  struct Cond {
    std::string status;
    std::string reason;
    std::string message;
  };
  Cond ready;
  Cond leader_elected;
};
// The desired status; condition lastTransitionTime is kept from
// `current` (the cached LeaderPolicy) when the condition's status is
// unchanged, so an unchanged status gives an empty merge patch.
nlohmann::json PolicyStatusApply(const std::string& ns, const std::string& name,
                                 const PoolStatus& status,
                                 const nlohmann::json& current, absl::Time now);

// RFC 3339 with microseconds (Lease times) / seconds (status times).
std::string RfcMicroTime(absl::Time t);
std::string RfcTime(absl::Time t);
absl::Time ParseRfcTime(const std::string& s);

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_OBJECTS_H_
