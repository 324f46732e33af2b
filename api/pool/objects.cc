#include "api/pool/objects.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "api/types/cronjob.h"
#include "api/types/deployment.h"
#include "api/types/endpointslice.h"
#include "api/types/job.h"
#include "api/types/leaderpolicy.h"
#include "api/types/lease.h"
#include "api/types/meta.h"
#include "api/types/pod.h"
#include "api/types/service.h"
#include "api/types/statefulset.h"
#include "api/validation/names.h"

namespace zenlead::pool {
namespace {

using nlohmann::json;
namespace k8s = zenlead::k8s;
namespace lp = zenlead::api::v1alpha1;

// Objects come from the API server through the informers; one that does not
// parse (a field of the wrong type) is treated as absent, never a crash.
template <typename T>
std::optional<T> Parse(const json& obj) {
  absl::StatusOr<T> parsed = T::FromJson(obj);
  if (!parsed.ok()) return std::nullopt;
  return std::move(*parsed);
}

template <typename T>
const T& Or(const std::optional<T>& v) {
  static const T* const kEmpty = new T();
  return v ? *v : *kEmpty;
}

std::map<std::string, std::string> LabelsOf(const k8s::ObjectMeta& m) {
  return m.labels.value_or(std::map<std::string, std::string>());
}

std::string AnnotationOf(const k8s::ObjectMeta& m, const std::string& key) {
  if (!m.annotations) return "";
  auto it = m.annotations->find(key);
  return it == m.annotations->end() ? "" : it->second;
}

// The literal value of ZEN_LEAD_IDENTITY in the pod's first container, ""
// when it is not set or not literal (valueFrom is not resolved: a field
// reference could be read, but a ConfigMap or Secret would need a lookup).
std::string IdentityEnvOf(const k8s::PodSpec& spec) {
  const std::vector<k8s::Container>& containers = Or(spec.containers);
  if (containers.empty()) return "";
  for (const k8s::EnvVar& e : Or(containers.front().env)) {
    if (e.name == kIdentityEnv) return e.value.value_or("");
  }
  return "";
}

std::vector<ContainerPort> ContainerPortsOf(const k8s::PodSpec& spec) {
  std::vector<ContainerPort> out;
  for (const k8s::Container& c : Or(spec.containers)) {
    for (const k8s::ContainerPort& p : Or(c.ports)) {
      if (p.container_port <= 0) continue;
      out.push_back(
          {p.name.value_or(""), p.container_port, p.protocol.value_or("TCP")});
    }
  }
  return out;
}

k8s::OwnerReference ControllerRef(const std::string& api_version,
                                  const std::string& kind,
                                  const std::string& name,
                                  const std::string& uid) {
  k8s::OwnerReference ref;
  ref.api_version = api_version;
  ref.kind = kind;
  ref.name = name;
  ref.uid = uid;
  ref.controller = true;
  ref.block_owner_deletion = false;
  return ref;
}

k8s::ObjectMeta ManagedMeta(const std::string& name, const std::string& ns,
                            const std::string& pool,
                            const std::string& source) {
  k8s::ObjectMeta m;
  m.name = name;
  m.namespace_field = ns;
  m.labels = {{kManagedByLabel, kManagedBy}, {kPoolLabel, pool}};
  if (!source.empty()) (*m.labels)[kSourceLabel] = source;
  return m;
}

// The pod-template form: `zen-lead/pool` with `zen-lead/join: "true"`.
std::string JoinedPool(const k8s::ObjectMeta& meta) {
  if (AnnotationOf(meta, kJoinAnnotation) != "true") return "";
  return AnnotationOf(meta, kPoolLabel);
}

const k8s::PodTemplateSpec& TemplateOf(const k8s::Deployment& w) {
  return Or(Or(w.spec).template_field);
}
const k8s::PodTemplateSpec& TemplateOf(const k8s::StatefulSet& w) {
  return Or(Or(w.spec).template_field);
}
const k8s::PodTemplateSpec& TemplateOf(const k8s::Job& w) {
  return Or(Or(w.spec).template_field);
}
const k8s::PodTemplateSpec& TemplateOf(const k8s::CronJob& w) {
  return Or(Or(Or(Or(w.spec).job_template).spec).template_field);
}
int32_t ReplicasOf(const k8s::Deployment& w) {
  return Or(w.spec).replicas.value_or(1);
}
int32_t ReplicasOf(const k8s::StatefulSet& w) {
  return Or(w.spec).replicas.value_or(1);
}
// Jobs run their pods one at a time under StateGuard: no replica count.
int32_t ReplicasOf(const k8s::Job&) { return 1; }
int32_t ReplicasOf(const k8s::CronJob&) { return 1; }

template <typename Workload>
std::optional<Source> SourceOf(Source::Kind kind, const Workload& w) {
  const k8s::ObjectMeta& meta = Or(w.metadata);
  const k8s::PodTemplateSpec& tmpl = TemplateOf(w);
  std::string pool = LabelsOf(meta)[kPoolLabel];
  if (pool.empty()) pool = JoinedPool(Or(tmpl.metadata));
  if (pool.empty()) return std::nullopt;
  Source s;
  s.kind = kind;
  s.ns = meta.namespace_field.value_or("");
  s.name = meta.name.value_or("");
  s.uid = meta.uid.value_or("");
  s.pool = std::move(pool);
  s.created = ParseRfcTime(meta.creation_timestamp.value_or(""));
  s.replicas = ReplicasOf(w);
  s.ports = PortsFromContainers(ContainerPortsOf(Or(tmpl.spec)));
  return s;
}

template <typename Workload>
std::optional<Source> ParsedSourceOf(Source::Kind kind, const json& obj) {
  std::optional<Workload> w = Parse<Workload>(obj);
  return w ? SourceOf(kind, *w) : std::nullopt;
}

}  // namespace

std::string Source::KindName() const {
  switch (kind) {
    case Kind::kDeployment:
      return "Deployment";
    case Kind::kStatefulSet:
      return "StatefulSet";
    case Kind::kService:
      return "Service";
    case Kind::kJob:
      return "Job";
    case Kind::kCronJob:
      return "CronJob";
  }
  return "";
}

std::string Source::ApiVersion() const {
  switch (kind) {
    case Kind::kService:
      return "v1";
    case Kind::kJob:
    case Kind::kCronJob:
      return "batch/v1";
    case Kind::kDeployment:
    case Kind::kStatefulSet:
      break;
  }
  return "apps/v1";
}

std::map<std::string, std::string> Labels(const json& obj) {
  const json* meta =
      obj.is_object() && obj.contains("metadata") ? &obj["metadata"] : nullptr;
  if (meta == nullptr) return {};
  std::optional<k8s::ObjectMeta> m = Parse<k8s::ObjectMeta>(*meta);
  return m ? LabelsOf(*m) : std::map<std::string, std::string>();
}

std::map<std::string, std::string> Annotations(const json& obj) {
  const json* meta =
      obj.is_object() && obj.contains("metadata") ? &obj["metadata"] : nullptr;
  if (meta == nullptr) return {};
  std::optional<k8s::ObjectMeta> m = Parse<k8s::ObjectMeta>(*meta);
  return m ? m->annotations.value_or(std::map<std::string, std::string>())
           : std::map<std::string, std::string>();
}

bool SelectorMatches(const std::map<std::string, std::string>& selector,
                     const std::map<std::string, std::string>& labels) {
  if (selector.empty()) return false;  // an empty selector selects nothing
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

std::optional<Source> SourceFromWorkload(Source::Kind kind,
                                         const json& workload) {
  switch (kind) {
    case Source::Kind::kDeployment:
      return ParsedSourceOf<k8s::Deployment>(kind, workload);
    case Source::Kind::kStatefulSet:
      return ParsedSourceOf<k8s::StatefulSet>(kind, workload);
    case Source::Kind::kJob:
      return ParsedSourceOf<k8s::Job>(kind, workload);
    case Source::Kind::kCronJob:
      return ParsedSourceOf<k8s::CronJob>(kind, workload);
    case Source::Kind::kService:
      break;
  }
  return std::nullopt;
}

std::string PodAnnotationPool(const json& pod) {
  if (!pod.is_object() || !pod.contains("metadata")) return "";
  std::optional<k8s::ObjectMeta> meta = Parse<k8s::ObjectMeta>(pod["metadata"]);
  return meta ? JoinedPool(*meta) : "";
}

std::string PodAnnotationPool(const k8s::ObjectMeta& meta) {
  return JoinedPool(meta);
}

k8s::ObjectMeta MembershipMetaOf(const json& obj) {
  if (!obj.is_object()) return {};
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  json read = json::object();
  for (const char* field : {"name", "generateName", "namespace", "uid",
                            "labels", "annotations", "ownerReferences"}) {
    auto it = m->find(field);
    if (it != m->end()) read[field] = *it;
  }
  std::optional<k8s::ObjectMeta> meta = Parse<k8s::ObjectMeta>(read);
  return meta ? std::move(*meta) : k8s::ObjectMeta();
}

std::optional<Source> SourceFromService(const json& service) {
  std::optional<k8s::Service> svc = Parse<k8s::Service>(service);
  if (!svc) return std::nullopt;
  const k8s::ObjectMeta& meta = Or(svc->metadata);
  if (AnnotationOf(meta, kEnabledAnnotation) != "true") return std::nullopt;
  std::map<std::string, std::string> labels = LabelsOf(meta);
  if (labels[kManagedByLabel] == kManagedBy) {
    return std::nullopt;  // never a pool of our own leader Service
  }
  Source s;
  s.kind = Source::Kind::kService;
  s.ns = meta.namespace_field.value_or("");
  s.name = meta.name.value_or("");
  s.uid = meta.uid.value_or("");
  s.created = ParseRfcTime(meta.creation_timestamp.value_or(""));
  s.replicas = -1;
  if (std::string a = AnnotationOf(meta, kPoolLabel); !a.empty()) {
    s.pool = a;
  } else if (!labels[kPoolLabel].empty()) {
    s.pool = labels[kPoolLabel];
  } else {
    s.pool = s.name;
    s.pool_named = false;
  }
  // The original zen-lead's Service annotations.
  const std::map<std::string, std::string> annotations =
      meta.annotations.value_or(std::map<std::string, std::string>());
  ParsedServiceSettings settings = ParseServiceSettings(s.name, annotations);
  if (annotations.count(kLeaderServiceNameAnnotation)) {
    s.leader_service_name = settings.settings.leader_service_name;
  }
  s.sticky = settings.settings.sticky;
  s.min_ready = settings.settings.min_ready;
  for (SettingProblem& p : settings.problems) {
    // A default name that is too long is reported by the claim check
    // (InvalidLeaderServiceName); here only the annotations the user set.
    if (annotations.count(p.annotation)) {
      s.setting_problems.push_back(std::move(p));
    }
  }
  const k8s::ServiceSpec& spec = Or(svc->spec);
  s.selector = spec.selector.value_or(std::map<std::string, std::string>());
  if (s.selector.empty()) {
    // Its pods cannot be found, and an empty leader Service would only say
    // "no Ready pod" for a reason that is not the pods'.
    s.problem_reason = "InvalidService";
    s.problem = absl::StrCat(
        "Service ", s.name, " is enabled for zen-lead but has no spec.selector",
        "; zen-lead finds a Service's candidates through its selector, so "
        "add one (or label a Deployment or StatefulSet instead)");
  }
  for (const k8s::ServicePort& p : Or(spec.ports)) {
    ServicePort sp;
    sp.name = p.name.value_or("");
    sp.port = p.port;
    sp.protocol = p.protocol.value_or("TCP");
    sp.app_protocol = p.app_protocol.value_or("");
    if (p.target_port) {
      if (p.target_port->is_int()) {
        sp.target_port = static_cast<int32_t>(p.target_port->int_value());
      } else {
        sp.target_port_name = p.target_port->string_value();
      }
    }
    s.ports.push_back(std::move(sp));
  }
  return s;
}

const lp::LeaderPolicySpec& DefaultPolicySpec() {
  static const lp::LeaderPolicySpec* const kDefaults = [] {
    auto* spec = new lp::LeaderPolicySpec();
    lp::ApplyDefaults(*spec);
    // PolicySettings' initialisers read every one of these.
    const std::pair<const char*, bool> settings[] = {
        {"leaseDurationSeconds", spec->lease_duration_seconds.has_value()},
        {"renewDeadlineSeconds", spec->renew_deadline_seconds.has_value()},
        {"retryPeriodSeconds", spec->retry_period_seconds.has_value()},
        {"identityStrategy", spec->identity_strategy.has_value()},
        {"followerMode", spec->follower_mode.has_value()},
        {"minReadySeconds", spec->min_ready_seconds.has_value()},
    };
    for (const auto& [field, defaulted] : settings) {
      if (defaulted) continue;
      std::fprintf(stderr,
                   "zen-lead: the LeaderPolicy CRD gives spec.%s no default; "
                   "pool::PolicySettings needs one (add it to "
                   "config/crd/bases/coordination.kube-zen.io_leaderpolicies."
                   "yaml)\n",
                   field);
      std::abort();
    }
    return spec;
  }();
  return *kDefaults;
}

PolicySettings PolicyFromObject(const json& policy) {
  PolicySettings p = DefaultPolicySettings();
  std::optional<lp::LeaderPolicy> parsed = Parse<lp::LeaderPolicy>(policy);
  if (!parsed) return p;  // treated as missing: defaults
  lp::LeaderPolicy obj = std::move(*parsed);
  if (!obj.spec) obj.spec.emplace();
  ApplyDefaults(obj);  // the CRD's defaults, from the schema
  p.found = true;
  const k8s::ObjectMeta& meta = Or(obj.metadata);
  p.uid = meta.uid.value_or("");
  p.generation = meta.generation.value_or(0);
  // ApplyDefaults set every field (DefaultPolicySpec checks that the CRD
  // defaults each); value_or keeps the default p already holds regardless.
  const lp::LeaderPolicySpec& spec = *obj.spec;
  p.lease_duration_seconds =
      spec.lease_duration_seconds.value_or(p.lease_duration_seconds);
  p.renew_deadline_seconds =
      spec.renew_deadline_seconds.value_or(p.renew_deadline_seconds);
  p.retry_period_seconds =
      spec.retry_period_seconds.value_or(p.retry_period_seconds);
  p.min_ready_seconds = spec.min_ready_seconds.value_or(p.min_ready_seconds);
  p.identity_strategy = spec.identity_strategy.value_or(p.identity_strategy);
  p.follower_mode = spec.follower_mode.value_or(p.follower_mode);
  std::vector<std::string> problems;
  if (absl::Status v = Validate(obj); !v.ok()) {
    problems.push_back(std::string(v.message()));
  }
  if (absl::Status v = ValidatePolicySettings(p); !v.ok()) {
    problems.push_back(std::string(v.message()));
  }
  if (!problems.empty()) {
    PolicySettings defaults = DefaultPolicySettings();
    defaults.found = true;
    defaults.uid = p.uid;
    defaults.generation = p.generation;
    defaults.invalid = absl::StrJoin(problems, "; ");
    return defaults;
  }
  return p;
}

int64_t PolicyStatusTransitions(const json& policy) {
  // Only the status is read: a policy whose spec is invalid still says
  // which tokens were issued.
  if (!policy.is_object() || !policy.contains("status")) return 0;
  std::optional<lp::LeaderPolicyStatus> status =
      Parse<lp::LeaderPolicyStatus>(policy["status"]);
  return status ? status->transitions.value_or(0) : 0;
}

absl::Status ValidatePolicySettings(const PolicySettings& p) {
  // The CRD's CEL rules, which the generated Validate does not evaluate.
  std::vector<std::string> problems;
  if (p.renew_deadline_seconds >= p.lease_duration_seconds) {
    problems.push_back(
        absl::StrCat("spec.renewDeadlineSeconds (", p.renew_deadline_seconds,
                     ") must be less than spec.leaseDurationSeconds (",
                     p.lease_duration_seconds, ")"));
  }
  if (int64_t{p.retry_period_seconds} * 6 >=
      int64_t{p.renew_deadline_seconds} * 5) {
    problems.push_back(
        absl::StrCat("1.2 x spec.retryPeriodSeconds (", p.retry_period_seconds,
                     ") must be less than spec.renewDeadlineSeconds (",
                     p.renew_deadline_seconds, ")"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::Status ValidatePoolName(const std::string& pool) {
  // The Lease is named after the pool (a DNS-1123 subdomain) and every
  // object zen-lead writes carries it as a label value (at most 63).
  absl::Status s = validation::ValidateDns1123Subdomain("pool name", pool);
  if (s.ok() && pool.size() > 63) {
    s = absl::InvalidArgumentError(
        absl::StrCat("pool name \"", pool, "\" is ", pool.size(),
                     " characters long; at most 63 (it is a label value)"));
  }
  return s;
}

absl::Time ParseRfcTime(const std::string& s) {
  absl::Time t;
  std::string err;
  if (s.empty() || !absl::ParseTime(absl::RFC3339_full, s, &t, &err)) {
    return absl::InfinitePast();
  }
  return t;
}

std::string RfcMicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string RfcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string PodPhase(const json& pod) {
  auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return "";
  auto phase = status->find("phase");
  return phase != status->end() && phase->is_string()
             ? phase->get<std::string>()
             : "";
}

bool FinishedPhase(const std::string& phase) {
  return phase == k8s::PodStatus::kPhaseSucceeded ||
         phase == k8s::PodStatus::kPhaseFailed;
}

Candidate CandidateFromPod(const json& pod,
                           const std::string& identity_strategy) {
  Candidate c;
  std::optional<k8s::Pod> parsed = Parse<k8s::Pod>(pod);
  if (!parsed) return c;  // cannot lead
  const k8s::ObjectMeta& meta = Or(parsed->metadata);
  c.name = meta.name.value_or("");
  c.uid = meta.uid.value_or("");
  c.identity = c.name;
  if (identity_strategy == lp::LeaderPolicySpec::kIdentityStrategyCustom) {
    // The annotation, else a literal ZEN_LEAD_IDENTITY of the first
    // container, else the pod name.
    std::string custom = AnnotationOf(meta, kIdentityAnnotation);
    if (custom.empty()) custom = IdentityEnvOf(Or(parsed->spec));
    if (!custom.empty()) c.identity = custom;
  }
  c.created = ParseRfcTime(meta.creation_timestamp.value_or(""));
  c.terminating = meta.deletion_timestamp.has_value();
  c.node_name = Or(parsed->spec).node_name.value_or("");
  const k8s::PodStatus& status = Or(parsed->status);
  if (FinishedPhase(status.phase.value_or(""))) c.terminating = true;
  c.pod_ip = status.pod_ip.value_or("");
  for (const k8s::PodCondition& cond : Or(status.conditions)) {
    if (cond.type != "Ready") continue;
    c.ready = cond.status == k8s::PodCondition::kStatusTrue;
    c.ready_since = ParseRfcTime(cond.last_transition_time.value_or(""));
  }
  return c;
}

std::vector<ContainerPort> PodContainerPorts(const json& pod) {
  std::optional<k8s::Pod> parsed = Parse<k8s::Pod>(pod);
  return parsed ? ContainerPortsOf(Or(parsed->spec))
                : std::vector<ContainerPort>();
}

std::optional<OwnerRef> ControllerOwner(const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata")) return std::nullopt;
  std::optional<k8s::ObjectMeta> meta = Parse<k8s::ObjectMeta>(obj["metadata"]);
  if (!meta) return std::nullopt;
  return ControllerOwner(*meta);
}

std::optional<OwnerRef> ControllerOwner(const k8s::ObjectMeta& meta) {
  for (const k8s::OwnerReference& r : Or(meta.owner_references)) {
    if (r.controller.value_or(false)) {
      return OwnerRef{r.api_version, r.kind, r.name, r.uid};
    }
  }
  return std::nullopt;
}

std::string ControllerOwnerUid(const json& obj) {
  std::optional<OwnerRef> owner = ControllerOwner(obj);
  return owner ? owner->uid : "";
}

json ProjectPod(const json& pod) {
  std::optional<k8s::Pod> parsed = Parse<k8s::Pod>(pod);
  if (!parsed) return json::object();
  k8s::Pod out;
  const k8s::ObjectMeta& meta = Or(parsed->metadata);
  k8s::ObjectMeta m;
  m.name = meta.name;
  m.namespace_field = meta.namespace_field;
  m.uid = meta.uid;
  m.resource_version = meta.resource_version;
  m.creation_timestamp = meta.creation_timestamp;
  m.deletion_timestamp = meta.deletion_timestamp;
  m.labels = meta.labels;
  m.owner_references = meta.owner_references;
  // Of the annotations, only the identity and the pod-template membership.
  std::map<std::string, std::string> kept;
  for (const char* k : {kIdentityAnnotation, kPoolLabel, kJoinAnnotation}) {
    if (std::string v = AnnotationOf(meta, k); !v.empty()) kept[k] = v;
  }
  if (!kept.empty()) m.annotations = std::move(kept);
  out.metadata = std::move(m);
  k8s::PodSpec spec;
  const k8s::PodSpec& in_spec = Or(parsed->spec);
  spec.node_name = in_spec.node_name;
  if (in_spec.containers) {
    spec.containers.emplace();
    for (const k8s::Container& c : *in_spec.containers) {
      k8s::Container kept;
      kept.name = c.name;
      kept.ports = c.ports;
      spec.containers->push_back(std::move(kept));
    }
    // Of the environment, only the one variable the identity reads.
    if (std::string id = IdentityEnvOf(in_spec); !id.empty()) {
      k8s::EnvVar e;
      e.name = kIdentityEnv;
      e.value = id;
      spec.containers->front().env = std::vector<k8s::EnvVar>{e};
    }
  }
  out.spec = std::move(spec);
  k8s::PodStatus status;
  const k8s::PodStatus& in_status = Or(parsed->status);
  status.phase = in_status.phase;
  status.pod_ip = in_status.pod_ip;
  for (const k8s::PodCondition& cond : Or(in_status.conditions)) {
    if (cond.type == "Ready") status.conditions = {{cond}};
  }
  out.status = std::move(status);
  return out.ToJson();
}

json LeaderServiceApply(const Source& source) {
  k8s::Service svc;
  svc.api_version = "v1";
  svc.kind = "Service";
  k8s::ObjectMeta meta = ManagedMeta(source.LeaderServiceName(), source.ns,
                                     source.pool, source.name);
  meta.owner_references = {{ControllerRef(
      source.ApiVersion(), source.KindName(), source.name, source.uid)}};
  svc.metadata = std::move(meta);
  k8s::ServiceSpec spec;
  spec.type = "ClusterIP";
  spec.ports.emplace();
  for (const ServicePort& p : source.ports) {
    // Selector-less: traffic goes to the EndpointSlice's port of this name.
    k8s::ServicePort port;
    if (!p.name.empty()) port.name = p.name;
    port.port = p.port;
    port.protocol = p.protocol;
    if (!p.app_protocol.empty()) port.app_protocol = p.app_protocol;
    spec.ports->push_back(std::move(port));
  }
  svc.spec = std::move(spec);
  return svc.ToJson();
}

std::string AddressTypeOf(const std::string& ip) {
  return absl::StrContains(ip, ':') ? "IPv6" : "IPv4";
}

json EndpointSliceApply(const Source& source,
                        const std::optional<Candidate>& leader,
                        const std::vector<SlicePort>& ports,
                        const std::string& address_type) {
  k8s::EndpointSlice slice;
  slice.api_version = "discovery.k8s.io/v1";
  slice.kind = "EndpointSlice";
  k8s::ObjectMeta meta = ManagedMeta(source.LeaderServiceName(), source.ns,
                                     source.pool, source.name);
  (*meta.labels)[kServiceNameLabel] = source.LeaderServiceName();
  (*meta.labels)[kSliceManagedByLabel] = kSliceManagedBy;
  meta.owner_references = {{ControllerRef(
      source.ApiVersion(), source.KindName(), source.name, source.uid)}};
  slice.metadata = std::move(meta);
  slice.address_type = address_type;
  slice.endpoints.emplace();
  if (leader) {
    k8s::Endpoint ep;
    ep.addresses = {{leader->pod_ip}};
    k8s::EndpointConditions conditions;
    conditions.ready = true;
    conditions.serving = true;
    conditions.terminating = false;
    ep.conditions = std::move(conditions);
    k8s::ObjectReference ref;
    ref.kind = "Pod";
    ref.namespace_field = source.ns;
    ref.name = leader->name;
    ref.uid = leader->uid;
    ep.target_ref = std::move(ref);
    if (!leader->node_name.empty()) ep.node_name = leader->node_name;
    slice.endpoints->push_back(std::move(ep));
  }
  slice.ports.emplace();
  for (const SlicePort& p : ports) {
    k8s::EndpointPort port;
    port.name = p.name;
    port.port = p.port;
    port.protocol = p.protocol;
    if (!p.app_protocol.empty()) port.app_protocol = p.app_protocol;
    slice.ports->push_back(std::move(port));
  }
  return slice.ToJson();
}

std::optional<LeaseState> LeaseFromObject(const json& lease) {
  std::optional<k8s::Lease> parsed = Parse<k8s::Lease>(lease);
  if (!parsed) return std::nullopt;
  const k8s::ObjectMeta& meta = Or(parsed->metadata);
  if (LabelsOf(meta)[kManagedByLabel] != kManagedBy) return std::nullopt;
  const k8s::LeaseSpec& spec = Or(parsed->spec);
  LeaseState s;
  s.holder_identity = spec.holder_identity.value_or("");
  s.holder_uid = AnnotationOf(meta, kHolderUidAnnotation);
  s.acquire_time = ParseRfcTime(spec.acquire_time.value_or(""));
  s.renew_time = ParseRfcTime(spec.renew_time.value_or(""));
  s.lease_duration_seconds =
      spec.lease_duration_seconds.value_or(s.lease_duration_seconds);
  s.transitions = spec.lease_transitions.value_or(0);
  return s;
}

json LeaseApply(const std::string& ns, const std::string& pool,
                const PolicySettings& policy, const std::string& policy_name,
                const LeaseState& state) {
  k8s::Lease lease;
  lease.api_version = "coordination.k8s.io/v1";
  lease.kind = "Lease";
  k8s::ObjectMeta meta = ManagedMeta(pool, ns, pool, "");
  meta.annotations = std::map<std::string, std::string>{
      {kHolderUidAnnotation, state.holder_uid}};
  if (policy.found) {
    meta.owner_references = {
        {ControllerRef("coordination.kube-zen.io/v1alpha1", "LeaderPolicy",
                       policy_name, policy.uid)}};
  }
  lease.metadata = std::move(meta);
  k8s::LeaseSpec spec;
  spec.lease_duration_seconds = state.lease_duration_seconds;
  spec.lease_transitions = static_cast<int32_t>(state.transitions);
  // Without a holder the field is left out: zen-lead owns it, so server-side
  // apply removes it and readers see no leader.
  if (!state.holder_identity.empty()) {
    spec.holder_identity = state.holder_identity;
  }
  if (state.acquire_time != absl::InfinitePast()) {
    spec.acquire_time = RfcMicroTime(state.acquire_time);
  }
  if (state.renew_time != absl::InfinitePast()) {
    spec.renew_time = RfcMicroTime(state.renew_time);
  }
  lease.spec = std::move(spec);
  return lease.ToJson();
}

json WithoutBookkeeping(const json& obj) {
  json out = obj;
  auto meta = out.find("metadata");
  if (meta != out.end() && meta->is_object()) {
    meta->erase("managedFields");
    auto annotations = meta->find("annotations");
    if (annotations != meta->end() && annotations->is_object()) {
      annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
      if (annotations->empty()) meta->erase(annotations);
    }
  }
  return out;
}

json MergePatchFor(const json& have, const json& want) {
  json patch = json::object();
  if (!have.is_object() || !want.is_object()) return want;
  for (auto it = want.begin(); it != want.end(); ++it) {
    auto old = have.find(it.key());
    if (old != have.end() && old->is_object() && it->is_object()) {
      json sub = MergePatchFor(*old, *it);
      if (!sub.empty()) patch[it.key()] = std::move(sub);
    } else if (old == have.end() || *old != *it) {
      patch[it.key()] = *it;
    }
  }
  for (auto it = have.begin(); it != have.end(); ++it) {
    if (!want.contains(it.key())) patch[it.key()] = nullptr;
  }
  return patch;
}

bool LeaseOnlyRenewed(const json& a, const json& b) {
  auto strip = [](json o) {
    if (o.contains("spec") && o["spec"].is_object()) {
      o["spec"].erase("renewTime");
    }
    if (o.contains("metadata") && o["metadata"].is_object()) {
      o["metadata"].erase("resourceVersion");
      o["metadata"].erase("managedFields");
    }
    return o;
  };
  return strip(a) == strip(b);
}

json PolicyStatusApply(const std::string& ns, const std::string& name,
                       const PoolStatus& status, const json& current,
                       absl::Time now) {
  // Keep lastTransitionTime of a condition whose status did not change.
  std::map<std::string, std::pair<std::string, std::string>> previous;
  if (std::optional<lp::LeaderPolicy> cur = Parse<lp::LeaderPolicy>(current)) {
    for (const lp::Condition& c : Or(Or(cur->status).conditions)) {
      previous[c.type] = {c.status, c.last_transition_time};
    }
  }
  auto condition = [&](const char* type, const PoolStatus::Cond& c) {
    lp::Condition out;
    out.type = type;
    out.status = c.status;
    out.reason = c.reason;
    out.message = c.message;
    out.last_transition_time = RfcTime(now);
    auto it = previous.find(type);
    if (it != previous.end() && it->second.first == c.status &&
        !it->second.second.empty()) {
      out.last_transition_time = it->second.second;
    }
    out.observed_generation = status.observed_generation;
    return out;
  };
  lp::LeaderPolicyStatus st;
  st.observed_generation = status.observed_generation;
  st.phase = status.phase;
  st.candidates = status.candidates;
  st.transitions = status.transitions;
  st.conditions = {{condition("Ready", status.ready),
                    condition("LeaderElected", status.leader_elected)}};
  if (status.last_transition != absl::InfinitePast()) {
    st.last_transition_time = RfcTime(status.last_transition);
  }
  if (status.holder) {
    lp::CurrentHolder holder;
    holder.name = status.holder->name;
    holder.uid = status.holder->uid;
    holder.identity = status.holder->identity;
    holder.pod_ip = status.holder->pod_ip;
    if (status.holder_since != absl::InfinitePast()) {
      holder.since = RfcTime(status.holder_since);
    }
    st.current_holder = std::move(holder);
  }
  lp::LeaderPolicy obj;
  obj.api_version = lp::LeaderPolicy::kApiVersion;
  obj.kind = lp::LeaderPolicy::kKind;
  k8s::ObjectMeta meta;
  meta.name = name;
  meta.namespace_field = ns;
  obj.metadata = std::move(meta);
  obj.status = std::move(st);
  return obj.ToJson();
}

}  // namespace zenlead::pool
