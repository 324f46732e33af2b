#include "api/pool/service_settings.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "api/validation/names.h"

namespace zenlead::pool {
namespace {

constexpr char kLeaderSuffix[] = "-leader";

const std::string* Find(const std::map<std::string, std::string>& m,
                        const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

SettingProblem Problem(absl::string_view annotation, absl::string_view value,
                       std::string message) {
  return SettingProblem{std::string(annotation), std::string(value),
                        std::move(message)};
}

// "<annotation>: "<value>" <why>; <fallback>".
std::string Message(absl::string_view annotation, absl::string_view value,
                    absl::string_view why, absl::string_view fallback) {
  return absl::StrCat(annotation, ": \"", value, "\" ", why, "; ", fallback);
}

void ParseLeaderServiceName(absl::string_view service_name,
                            const std::map<std::string, std::string>& a,
                            ParsedServiceSettings& out) {
  const std::string fallback = DefaultLeaderServiceName(service_name);
  out.settings.leader_service_name = fallback;
  const std::string* v = Find(a, kLeaderServiceNameAnnotation);
  const std::string using_default =
      absl::StrCat("using the default \"", fallback, "\"");
  if (v != nullptr) {
    absl::Status s =
        validation::ValidateDns1035Label(kLeaderServiceNameAnnotation, *v);
    if (!s.ok()) {
      // The message starts "<annotation>: "<value>" ..." and states the rule.
      out.problems.push_back(
          Problem(kLeaderServiceNameAnnotation, *v,
                  absl::StrCat(s.message(), "; ", using_default)));
    } else if (*v == service_name) {
      // zen-lead would take over the user's own Service.
      out.problems.push_back(Problem(
          kLeaderServiceNameAnnotation, *v,
          Message(kLeaderServiceNameAnnotation, *v,
                  "names this Service itself: expected the name of a separate "
                  "Service for zen-lead to create",
                  using_default)));
    } else {
      out.settings.leader_service_name = *v;
      return;
    }
  }
  // The Service's own name is a valid DNS-1035 label, so only its length
  // (more than 63 - 7 characters) can make the default invalid.
  if (!validation::ValidateDns1035Label("", fallback).ok()) {
    out.problems.push_back(Problem(
        kLeaderServiceNameAnnotation, v != nullptr ? *v : "",
        absl::StrCat(kLeaderServiceNameAnnotation, ": the default \"", fallback,
                     "\" is ", fallback.size(),
                     " characters long, more than a Service name may be (",
                     validation::kDns1123LabelMaxLength, "): set ",
                     kLeaderServiceNameAnnotation, " on Service ", service_name,
                     " to a shorter name")));
  }
}

void ParseSticky(const std::map<std::string, std::string>& a,
                 ParsedServiceSettings& out) {
  const std::string* v = Find(a, kStickyAnnotation);
  if (v == nullptr || *v == "true") return;
  if (*v == "false") {
    out.settings.sticky = false;
    return;
  }
  out.problems.push_back(Problem(
      kStickyAnnotation, *v,
      Message(kStickyAnnotation, *v,
              "is not valid: expected \"true\" (keep the current leader while "
              "it can lead) or \"false\" (always route to the oldest Ready "
              "pod)",
              "using the default \"true\"")));
}

void ParseMinReady(const std::map<std::string, std::string>& a,
                   ParsedServiceSettings& out) {
  const std::string* v = Find(a, kMinReadyDurationAnnotation);
  if (v == nullptr) return;
  constexpr absl::string_view kFallback =
      "using the LeaderPolicy's spec.minReadySeconds";
  absl::Duration d;
  if (!ParseGoDuration(*v, &d)) {
    out.problems.push_back(Problem(
        kMinReadyDurationAnnotation, *v,
        Message(kMinReadyDurationAnnotation, *v,
                "is not a duration: expected a number with a unit (ns, us, "
                "ms, s, m, h) such as \"10s\", \"1m30s\" or \"500ms\", from 0 "
                "to 1h",
                kFallback)));
    return;
  }
  if (d < absl::ZeroDuration()) {
    out.problems.push_back(
        Problem(kMinReadyDurationAnnotation, *v,
                Message(kMinReadyDurationAnnotation, *v,
                        "is negative: expected a duration from 0 to 1h such "
                        "as \"10s\"",
                        kFallback)));
    return;
  }
  if (d > kMaxMinReadyDuration) {
    out.problems.push_back(Problem(
        kMinReadyDurationAnnotation, *v,
        Message(kMinReadyDurationAnnotation, *v,
                "is longer than 1h, the most spec.minReadySeconds allows "
                "(3600): expected a duration from 0 to 1h such as \"10s\"",
                kFallback)));
    return;
  }
  out.settings.min_ready = d;
}

}  // namespace

std::string DefaultLeaderServiceName(absl::string_view service_name) {
  return absl::StrCat(service_name, kLeaderSuffix);
}

ParsedServiceSettings ParseServiceSettings(
    absl::string_view service_name,
    const std::map<std::string, std::string>& annotations) {
  ParsedServiceSettings out;
  // Key order: kLeaderServiceNameAnnotation < kMinReadyDurationAnnotation <
  // kStickyAnnotation.
  ParseLeaderServiceName(service_name, annotations, out);
  ParseMinReady(annotations, out);
  ParseSticky(annotations, out);
  return out;
}

bool ParseGoDuration(absl::string_view text, absl::Duration* out) {
  // Go spells microseconds "us", "µs" (U+00B5) or "μs" (U+03BC); absl only
  // "us". absl also takes "inf", which Go rejects. Otherwise the grammars
  // agree: [+-]?(digits[.digits]unit)+ or "0", no spaces.
  const std::string normalized =
      absl::StrReplaceAll(text, {{"\xC2\xB5s", "us"}, {"\xCE\xBCs", "us"}});
  absl::Duration d;
  if (!absl::ParseDuration(normalized, &d)) return false;
  if (d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) {
    return false;
  }
  *out = d;
  return true;
}

std::map<std::string, std::string> LeaderAnnotations(
    const std::optional<LeaderPod>& leader, absl::Time last_switch) {
  std::map<std::string, std::string> out;
  if (leader) {
    if (!leader->name.empty()) out[kLeaderPodNameAnnotation] = leader->name;
    if (!leader->uid.empty()) out[kLeaderPodUidAnnotation] = leader->uid;
  }
  if (last_switch != absl::InfinitePast() &&
      last_switch != absl::InfiniteFuture()) {
    out[kLeaderLastSwitchTimeAnnotation] = FormatSwitchTime(last_switch);
  }
  return out;
}

nlohmann::json LeaderAnnotationsPatch(
    const std::map<std::string, std::string>& have,
    const std::map<std::string, std::string>& want) {
  nlohmann::json changes = nlohmann::json::object();
  for (const char* key : {kLeaderPodNameAnnotation, kLeaderPodUidAnnotation,
                          kLeaderLastSwitchTimeAnnotation}) {
    const std::string* h = Find(have, key);
    const std::string* w = Find(want, key);
    if (w != nullptr && (h == nullptr || *h != *w)) {
      changes[key] = *w;
    } else if (w == nullptr && h != nullptr) {
      changes[key] = nullptr;
    }
  }
  if (changes.empty()) return nlohmann::json::object();
  return {{"metadata", {{"annotations", std::move(changes)}}}};
}

std::string FormatSwitchTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::optional<absl::Time> ParseSwitchTime(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return std::nullopt;
  }
  return t;
}

}  // namespace zenlead::pool
