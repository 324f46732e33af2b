// The settings a user writes as annotations on a zen-lead-enabled Service
// (the original product's annotations, which keep working unchanged), and
// the annotations zen-lead writes on the leader Service to say who leads.
// Pure functions on annotation maps: no cache, no client, no clock.
//
//   ParsedServiceSettings parsed =
//       ParseServiceSettings("web", service_annotations);
//   for (const SettingProblem& p : parsed.problems) {
//     // The default applied; a Warning Event on the Service tells the user.
//     warnings.push_back({kInvalidAnnotationReason, p.message});
//   }
//   const ServiceSettings& s = parsed.settings;  // "web-leader", sticky...
//
//   // The leader Service says who leads; only zen-lead's keys change.
//   std::map<std::string, std::string> want =
//       LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, switched_at);
//   nlohmann::json patch = LeaderAnnotationsPatch(cached_annotations, want);
//   if (!patch.empty()) {
//     // client->Patch(kServices, ns, s.leader_service_name,
//     //               client::PatchType::kMerge, patch, "");
//   }
//
// Invalid values never block a pool: the setting keeps its default and a
// SettingProblem names the annotation, the value and what is expected.
#ifndef ZEN_LEAD_API_POOL_SERVICE_SETTINGS_H_
#define ZEN_LEAD_API_POOL_SERVICE_SETTINGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace zenlead::pool {

// Settings, on the source Service.
// The leader Service's (and its EndpointSlice's) name instead of
// "<service>-leader"; a DNS-1035 label other than the Service's own name.
inline constexpr char kLeaderServiceNameAnnotation[] =
    "zen-lead.io/leader-service-name";
// "true" (default): keep the current leader while it can lead. "false":
// always route to the oldest Ready pod.
inline constexpr char kStickyAnnotation[] = "zen-lead.io/sticky";
// A Go duration ("10s", "1m30s", "500ms") from 0 to 1h that replaces the
// policy's minReadySeconds for this Service's pool source.
inline constexpr char kMinReadyDurationAnnotation[] =
    "zen-lead.io/min-ready-duration";

// Written by zen-lead, on the leader Service.
inline constexpr char kLeaderPodNameAnnotation[] =
    "zen-lead.io/leader-pod-name";
inline constexpr char kLeaderPodUidAnnotation[] = "zen-lead.io/leader-pod-uid";
// RFC 3339 UTC, whole seconds ("2024-05-01T12:00:00Z"), the format of
// metav1.Time, so it reads like creationTimestamp and the LeaderPolicy's
// status.lastTransitionTime.
inline constexpr char kLeaderLastSwitchTimeAnnotation[] =
    "zen-lead.io/leader-last-switch-time";

// The Warning Event reason for a SettingProblem.
inline constexpr char kInvalidAnnotationReason[] = "InvalidAnnotation";

// The upper bound of zen-lead.io/min-ready-duration: the CRD's bound on
// minReadySeconds (3600), so an annotation cannot do what a policy cannot.
inline constexpr absl::Duration kMaxMinReadyDuration = absl::Hours(1);

struct ServiceSettings {
  std::string leader_service_name;
  bool sticky = true;
  // nullopt: the policy's minReadySeconds applies.
  std::optional<absl::Duration> min_ready;
};

// One annotation whose value was not used.
struct SettingProblem {
  std::string annotation;
  std::string value;
  // For a Warning Event: names the annotation, quotes the value, says what
  // is expected and which default applies.
  std::string message;
};

struct ParsedServiceSettings {
  ServiceSettings settings;
  // In annotation key order; empty when every annotation was valid.
  std::vector<SettingProblem> problems;
};

// The settings of Service `service_name` from its metadata.annotations.
// Absent annotations give the defaults silently. When the default leader
// Service name itself is not a valid Service name (a Service name longer
// than 56 characters), leader_service_name is still that default, which the
// API server will refuse, and a problem for kLeaderServiceNameAnnotation
// says to set a shorter name.
ParsedServiceSettings ParseServiceSettings(
    absl::string_view service_name,
    const std::map<std::string, std::string>& annotations);

// "<service_name>-leader".
std::string DefaultLeaderServiceName(absl::string_view service_name);

// A Go time.ParseDuration value ("10s", "1m30s", "1.5h", "500ms", "0",
// "2h45m", "1µs"); false for anything Go rejects (a bare number other than
// 0, an unknown unit, spaces, "inf").
bool ParseGoDuration(absl::string_view text, absl::Duration* out);

// The leader pod the leader Service routes to.
struct LeaderPod {
  std::string name;
  std::string uid;
};

// zen-lead's annotations on the leader Service, and nothing else.
// With a leader: its name and uid (each only when non-empty) and the time
// it became leader. With no leader: neither name nor uid, since a Service
// that routes nowhere must not name a pod, but the last-switch time stays,
// set by the caller to when the leader was lost, so `kubectl get svc -o
// yaml` shows how long the Service has had no leader. An infinite
// `last_switch` (never known) omits the time.
std::map<std::string, std::string> LeaderAnnotations(
    const std::optional<LeaderPod>& leader, absl::Time last_switch);

// The JSON merge patch (RFC 7386) body {"metadata":{"annotations":{...}}}
// that moves a cached Service's annotations `have` to `want` for zen-lead's
// three leader keys only: a changed or new key is set, a key `want` drops
// becomes null, every other annotation (the user's, kubectl's) is left
// alone whatever either map says. An empty object when nothing differs.
// A merge patch rather than server-side apply: the keys change on their own
// (at a switch), and a patch naming only them removes a key whoever wrote
// it, where an apply removes only what its own field manager applied. The
// leader Service's apply body should therefore not carry these keys.
nlohmann::json LeaderAnnotationsPatch(
    const std::map<std::string, std::string>& have,
    const std::map<std::string, std::string>& want);

// Time as written in kLeaderLastSwitchTimeAnnotation, and back (nullopt when
// the text is not RFC 3339).
std::string FormatSwitchTime(absl::Time t);
std::optional<absl::Time> ParseSwitchTime(absl::string_view text);

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_SERVICE_SETTINGS_H_
