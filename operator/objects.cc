#include "operator/objects.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace zenlead::op {
namespace {

using nlohmann::json;

// Safe accessors: the API server's objects are trusted in shape, but a
// missing or mistyped field must never throw.
const json& Field(const json& j, const char* key) {
  static const json* const kNull = new json();
  if (!j.is_object()) return *kNull;
  auto it = j.find(key);
  return it == j.end() ? *kNull : *it;
}

std::string Str(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

int64_t Int(const json& j, const char* key, int64_t def) {
  const json& v = Field(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : def;
}

std::map<std::string, std::string> StringMap(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  }
  return out;
}

std::vector<ContainerPort> ContainerPortsOf(const json& pod_spec) {
  std::vector<ContainerPort> out;
  const json& containers = Field(pod_spec, "containers");
  if (!containers.is_array()) return out;
  for (const json& c : containers) {
    const json& ports = Field(c, "ports");
    if (!ports.is_array()) continue;
    for (const json& p : ports) {
      ContainerPort cp;
      cp.name = Str(p, "name");
      cp.container_port = static_cast<int32_t>(Int(p, "containerPort", 0));
      std::string proto = Str(p, "protocol");
      if (!proto.empty()) cp.protocol = proto;
      if (cp.container_port > 0) out.push_back(std::move(cp));
    }
  }
  return out;
}

json OwnerRef(const std::string& api_version, const std::string& kind,
              const std::string& name, const std::string& uid) {
  return {{"apiVersion", api_version},
          {"kind", kind},
          {"name", name},
          {"uid", uid},
          {"controller", true},
          {"blockOwnerDeletion", false}};
}

json ManagedLabels(const std::string& pool, const std::string& source) {
  json labels = {{kManagedByLabel, kManagedBy}, {kPoolLabel, pool}};
  if (!source.empty()) labels[kSourceLabel] = source;
  return labels;
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
  }
  return "";
}

std::string Source::ApiVersion() const {
  return kind == Kind::kService ? "v1" : "apps/v1";
}

std::map<std::string, std::string> Labels(const json& obj) {
  return StringMap(Field(Field(obj, "metadata"), "labels"));
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
  const json& meta = Field(workload, "metadata");
  std::map<std::string, std::string> labels = Labels(workload);
  auto pool = labels.find(kPoolLabel);
  if (pool == labels.end() || pool->second.empty()) return std::nullopt;
  Source s;
  s.kind = kind;
  s.ns = Str(meta, "namespace");
  s.name = Str(meta, "name");
  s.uid = Str(meta, "uid");
  s.pool = pool->second;
  const json& spec = Field(workload, "spec");
  s.replicas = static_cast<int32_t>(Int(spec, "replicas", 1));
  s.ports = PortsFromContainers(
      ContainerPortsOf(Field(Field(spec, "template"), "spec")));
  return s;
}

std::optional<Source> SourceFromService(const json& service) {
  const json& meta = Field(service, "metadata");
  std::map<std::string, std::string> annotations =
      StringMap(Field(meta, "annotations"));
  auto enabled = annotations.find(kEnabledAnnotation);
  if (enabled == annotations.end() || enabled->second != "true") {
    return std::nullopt;
  }
  std::map<std::string, std::string> labels = Labels(service);
  if (labels.count(kManagedByLabel) && labels[kManagedByLabel] == kManagedBy) {
    return std::nullopt;  // never a pool of our own leader Service
  }
  Source s;
  s.kind = Source::Kind::kService;
  s.ns = Str(meta, "namespace");
  s.name = Str(meta, "name");
  s.uid = Str(meta, "uid");
  s.replicas = -1;
  if (auto it = annotations.find(kPoolLabel);
      it != annotations.end() && !it->second.empty()) {
    s.pool = it->second;
  } else if (auto l = labels.find(kPoolLabel);
             l != labels.end() && !l->second.empty()) {
    s.pool = l->second;
  } else {
    s.pool = s.name;
    s.pool_named = false;
  }
  const json& spec = Field(service, "spec");
  s.selector = StringMap(Field(spec, "selector"));
  const json& ports = Field(spec, "ports");
  if (ports.is_array()) {
    for (const json& p : ports) {
      ServicePort sp;
      sp.name = Str(p, "name");
      sp.port = static_cast<int32_t>(Int(p, "port", 0));
      std::string proto = Str(p, "protocol");
      if (!proto.empty()) sp.protocol = proto;
      sp.app_protocol = Str(p, "appProtocol");
      const json& target = Field(p, "targetPort");
      if (target.is_number_integer()) {
        sp.target_port = target.get<int32_t>();
      } else if (target.is_string()) {
        sp.target_port_name = target.get<std::string>();
      }
      s.ports.push_back(std::move(sp));
    }
  }
  return s;
}

PolicySettings PolicyFromObject(const json& policy) {
  PolicySettings p;
  p.found = true;
  const json& meta = Field(policy, "metadata");
  p.uid = Str(meta, "uid");
  p.generation = Int(meta, "generation", 0);
  const json& spec = Field(policy, "spec");
  p.lease_duration_seconds =
      static_cast<int32_t>(Int(spec, "leaseDurationSeconds", 15));
  p.renew_deadline_seconds =
      static_cast<int32_t>(Int(spec, "renewDeadlineSeconds", 10));
  p.retry_period_seconds =
      static_cast<int32_t>(Int(spec, "retryPeriodSeconds", 2));
  p.min_ready_seconds = static_cast<int32_t>(Int(spec, "minReadySeconds", 0));
  std::string identity = Str(spec, "identityStrategy");
  if (!identity.empty()) p.identity_strategy = identity;
  std::string mode = Str(spec, "followerMode");
  if (!mode.empty()) p.follower_mode = mode;
  return p;
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

Candidate CandidateFromPod(const json& pod,
                           const std::string& identity_strategy) {
  Candidate c;
  const json& meta = Field(pod, "metadata");
  c.name = Str(meta, "name");
  c.uid = Str(meta, "uid");
  c.identity = c.name;
  if (identity_strategy == "custom") {
    std::string custom = Str(Field(meta, "annotations"), kIdentityAnnotation);
    if (!custom.empty()) c.identity = custom;
  }
  c.created = ParseRfcTime(Str(meta, "creationTimestamp"));
  c.terminating = !Field(meta, "deletionTimestamp").is_null();
  const json& spec = Field(pod, "spec");
  c.node_name = Str(spec, "nodeName");
  const json& status = Field(pod, "status");
  std::string phase = Str(status, "phase");
  if (phase == "Failed" || phase == "Succeeded") c.terminating = true;
  c.pod_ip = Str(status, "podIP");
  const json& conditions = Field(status, "conditions");
  if (conditions.is_array()) {
    for (const json& cond : conditions) {
      if (Str(cond, "type") != "Ready") continue;
      c.ready = Str(cond, "status") == "True";
      c.ready_since = ParseRfcTime(Str(cond, "lastTransitionTime"));
    }
  }
  return c;
}

std::vector<ContainerPort> PodContainerPorts(const json& pod) {
  return ContainerPortsOf(Field(pod, "spec"));
}

std::string ControllerOwnerUid(const json& obj) {
  const json& refs = Field(Field(obj, "metadata"), "ownerReferences");
  if (!refs.is_array()) return "";
  for (const json& r : refs) {
    const json& controller = Field(r, "controller");
    if (controller.is_boolean() && controller.get<bool>()) {
      return Str(r, "uid");
    }
  }
  return "";
}

json ProjectPod(const json& pod) {
  const json& meta = Field(pod, "metadata");
  json m = json::object();
  for (const char* k :
       {"name", "namespace", "uid", "resourceVersion", "creationTimestamp",
        "deletionTimestamp", "labels", "ownerReferences"}) {
    const json& v = Field(meta, k);
    if (!v.is_null()) m[k] = v;
  }
  std::string identity = Str(Field(meta, "annotations"), kIdentityAnnotation);
  if (!identity.empty()) m["annotations"] = {{kIdentityAnnotation, identity}};
  json out = {{"metadata", std::move(m)}};
  const json& spec = Field(pod, "spec");
  json s = json::object();
  if (!Field(spec, "nodeName").is_null()) s["nodeName"] = spec["nodeName"];
  json containers = json::array();
  if (Field(spec, "containers").is_array()) {
    for (const json& c : spec["containers"]) {
      if (Field(c, "ports").is_array()) {
        containers.push_back({{"ports", c["ports"]}});
      }
    }
  }
  if (!containers.empty()) s["containers"] = std::move(containers);
  out["spec"] = std::move(s);
  const json& status = Field(pod, "status");
  json st = json::object();
  for (const char* k : {"phase", "podIP"}) {
    if (!Field(status, k).is_null()) st[k] = status[k];
  }
  if (Field(status, "conditions").is_array()) {
    for (const json& cond : status["conditions"]) {
      if (Str(cond, "type") == "Ready") st["conditions"] = json::array({cond});
    }
  }
  out["status"] = std::move(st);
  return out;
}

json LeaderServiceApply(const Source& source) {
  json ports = json::array();
  for (const ServicePort& p : source.ports) {
    json port = {{"name", p.name}, {"port", p.port}, {"protocol", p.protocol}};
    if (!p.app_protocol.empty()) port["appProtocol"] = p.app_protocol;
    // Selector-less: traffic goes to the EndpointSlice's port of this name.
    ports.push_back(std::move(port));
  }
  if (ports.size() == 1 && ports[0]["name"] == "") ports[0].erase("name");
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", source.LeaderServiceName()},
        {"namespace", source.ns},
        {"labels", ManagedLabels(source.pool, source.name)},
        {"ownerReferences",
         json::array({OwnerRef(source.ApiVersion(), source.KindName(),
                               source.name, source.uid)})}}},
      {"spec", {{"type", "ClusterIP"}, {"ports", std::move(ports)}}},
  };
}

json EndpointSliceApply(const Source& source,
                        const std::optional<Candidate>& leader,
                        const std::vector<SlicePort>& ports) {
  json labels = ManagedLabels(source.pool, source.name);
  labels[kServiceNameLabel] = source.LeaderServiceName();
  labels[kSliceManagedByLabel] = kSliceManagedBy;
  json endpoints = json::array();
  if (leader) {
    json ep = {{"addresses", json::array({leader->pod_ip})},
               {"conditions",
                {{"ready", true}, {"serving", true}, {"terminating", false}}},
               {"targetRef",
                {{"kind", "Pod"},
                 {"namespace", source.ns},
                 {"name", leader->name},
                 {"uid", leader->uid}}}};
    if (!leader->node_name.empty()) ep["nodeName"] = leader->node_name;
    endpoints.push_back(std::move(ep));
  }
  json slice_ports = json::array();
  for (const SlicePort& p : ports) {
    json port = {{"name", p.name}, {"port", p.port}, {"protocol", p.protocol}};
    if (!p.app_protocol.empty()) port["appProtocol"] = p.app_protocol;
    slice_ports.push_back(std::move(port));
  }
  return {
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata",
       {{"name", source.LeaderServiceName()},
        {"namespace", source.ns},
        {"labels", std::move(labels)},
        {"ownerReferences",
         json::array({OwnerRef(source.ApiVersion(), source.KindName(),
                               source.name, source.uid)})}}},
      {"addressType", "IPv4"},
      {"endpoints", std::move(endpoints)},
      {"ports", std::move(slice_ports)},
  };
}

std::optional<LeaseState> LeaseFromObject(const json& lease) {
  const json& meta = Field(lease, "metadata");
  if (Str(Field(meta, "labels"), kManagedByLabel) != kManagedBy) {
    return std::nullopt;
  }
  LeaseState s;
  const json& spec = Field(lease, "spec");
  s.holder_identity = Str(spec, "holderIdentity");
  s.holder_uid = Str(Field(meta, "annotations"), kHolderUidAnnotation);
  s.acquire_time = ParseRfcTime(Str(spec, "acquireTime"));
  s.renew_time = ParseRfcTime(Str(spec, "renewTime"));
  s.lease_duration_seconds =
      static_cast<int32_t>(Int(spec, "leaseDurationSeconds", 15));
  s.transitions = Int(spec, "leaseTransitions", 0);
  return s;
}

json LeaseApply(const std::string& ns, const std::string& pool,
                const PolicySettings& policy, const std::string& policy_name,
                const LeaseState& state) {
  json meta = {{"name", pool},
               {"namespace", ns},
               {"labels", ManagedLabels(pool, "")},
               {"annotations", {{kHolderUidAnnotation, state.holder_uid}}}};
  if (policy.found) {
    meta["ownerReferences"] =
        json::array({OwnerRef("coordination.kube-zen.io/v1alpha1",
                              "LeaderPolicy", policy_name, policy.uid)});
  }
  json spec = {{"leaseDurationSeconds", state.lease_duration_seconds},
               {"leaseTransitions", state.transitions}};
  // Without a holder the field is left out: zen-lead owns it, so server-side
  // apply removes it and readers see no leader.
  if (!state.holder_identity.empty()) {
    spec["holderIdentity"] = state.holder_identity;
  }
  if (state.acquire_time != absl::InfinitePast()) {
    spec["acquireTime"] = RfcMicroTime(state.acquire_time);
  }
  if (state.renew_time != absl::InfinitePast()) {
    spec["renewTime"] = RfcMicroTime(state.renew_time);
  }
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", std::move(meta)},
          {"spec", std::move(spec)}};
}

json PolicyStatusApply(const std::string& ns, const std::string& name,
                       const PoolStatus& status, const json& current,
                       absl::Time now) {
  // Keep lastTransitionTime of a condition whose status did not change.
  std::map<std::string, std::pair<std::string, std::string>> previous;
  const json& conds = Field(Field(current, "status"), "conditions");
  if (conds.is_array()) {
    for (const json& c : conds) {
      previous[Str(c, "type")] = {Str(c, "status"),
                                  Str(c, "lastTransitionTime")};
    }
  }
  auto condition = [&](const char* type, const PoolStatus::Cond& c) {
    std::string since = RfcTime(now);
    auto it = previous.find(type);
    if (it != previous.end() && it->second.first == c.status &&
        !it->second.second.empty()) {
      since = it->second.second;
    }
    return json{{"type", type},
                {"status", c.status},
                {"reason", c.reason},
                {"message", c.message},
                {"lastTransitionTime", since},
                {"observedGeneration", status.observed_generation}};
  };
  json st = {
      {"observedGeneration", status.observed_generation},
      {"phase", status.phase},
      {"candidates", status.candidates},
      {"transitions", status.transitions},
      {"conditions",
       json::array({condition("Ready", status.ready),
                    condition("LeaderElected", status.leader_elected)})}};
  if (status.last_transition != absl::InfinitePast()) {
    st["lastTransitionTime"] = RfcTime(status.last_transition);
  }
  if (status.holder) {
    json holder = {{"name", status.holder->name},
                   {"uid", status.holder->uid},
                   {"identity", status.holder->identity},
                   {"podIP", status.holder->pod_ip}};
    if (status.holder_since != absl::InfinitePast()) {
      holder["since"] = RfcTime(status.holder_since);
    }
    st["currentHolder"] = std::move(holder);
  }
  return {{"apiVersion", "coordination.kube-zen.io/v1alpha1"},
          {"kind", "LeaderPolicy"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"status", std::move(st)}};
}

}  // namespace zenlead::op
