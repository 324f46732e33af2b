#include "api/pool/service_settings.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead::pool {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Annotations = std::map<std::string, std::string>;

absl::Time At(int64_t unix_seconds) {
  return absl::FromUnixSeconds(unix_seconds);
}

// The header's usage example, verbatim between the markers.
TEST(ServiceSettingsTest, HeaderExampleCompilesAndRuns) {
  std::map<std::string, std::string> service_annotations = {
      {kStickyAnnotation, "maybe"}};
  std::map<std::string, std::string> cached_annotations = {
      {"team", "db"}, {kLeaderPodNameAnnotation, "web-1"}};
  absl::Time switched_at = At(1714564800);
  std::vector<std::pair<std::string, std::string>> warnings;
  // --- begin example
  ParsedServiceSettings parsed =
      ParseServiceSettings("web", service_annotations);
  for (const SettingProblem& p : parsed.problems) {
    // The default applied; a Warning Event on the Service tells the user.
    warnings.push_back({kInvalidAnnotationReason, p.message});
  }
  const ServiceSettings& s = parsed.settings;  // "web-leader", sticky...

  // The leader Service says who leads; only zen-lead's keys change.
  std::map<std::string, std::string> want =
      LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, switched_at);
  nlohmann::json patch = LeaderAnnotationsPatch(cached_annotations, want);
  if (!patch.empty()) {
    // client->Patch(kServices, ns, s.leader_service_name,
    //               client::PatchType::kMerge, patch, "");
  }
  // --- end example
  EXPECT_EQ(s.leader_service_name, "web-leader");
  EXPECT_TRUE(s.sticky);
  ASSERT_THAT(warnings, SizeIs(1));
  EXPECT_EQ(warnings[0].first, "InvalidAnnotation");
  EXPECT_THAT(warnings[0].second, HasSubstr("zen-lead.io/sticky"));
  EXPECT_EQ(patch, nlohmann::json::parse(R"({"metadata":{"annotations":{
      "zen-lead.io/leader-pod-name":"web-0",
      "zen-lead.io/leader-pod-uid":"uid-0",
      "zen-lead.io/leader-last-switch-time":"2024-05-01T12:00:00Z"}}})"));
}

// ---- Defaults

TEST(ServiceSettingsTest, NoAnnotationsGiveDefaultsSilently) {
  ParsedServiceSettings p = ParseServiceSettings("web", {});
  EXPECT_EQ(p.settings.leader_service_name, "web-leader");
  EXPECT_TRUE(p.settings.sticky);
  EXPECT_EQ(p.settings.min_ready, std::nullopt);
  EXPECT_THAT(p.problems, IsEmpty());
}

TEST(ServiceSettingsTest, OtherAnnotationsAreIgnored) {
  ParsedServiceSettings p =
      ParseServiceSettings("web", {{"zen-lead.io/enabled", "true"},
                                   {"zen-lead/pool", "db"},
                                   {"zen-lead.io/stickyness", "no"},
                                   {"example.com/sticky", "no"}});
  EXPECT_EQ(p.settings.leader_service_name, "web-leader");
  EXPECT_TRUE(p.settings.sticky);
  EXPECT_THAT(p.problems, IsEmpty());
}

TEST(ServiceSettingsTest, DefaultLeaderServiceName) {
  EXPECT_EQ(DefaultLeaderServiceName("web"), "web-leader");
}

// ---- zen-lead.io/leader-service-name

TEST(ServiceSettingsTest, LeaderServiceNameValidForms) {
  for (const std::string& name :
       std::vector<std::string>{"primary", "a", "db-primary-2", "web-leader",
                                std::string(63, 'x')}) {
    ParsedServiceSettings p =
        ParseServiceSettings("web", {{kLeaderServiceNameAnnotation, name}});
    EXPECT_EQ(p.settings.leader_service_name, name);
    EXPECT_THAT(p.problems, IsEmpty()) << name;
  }
}

TEST(ServiceSettingsTest, LeaderServiceNameInvalidFormsKeepDefault) {
  for (const std::string& name : std::vector<std::string>{
           "", "Primary", "1primary", "primary-", "-primary", "db_primary",
           "db.primary", "pri mary", std::string(64, 'x')}) {
    ParsedServiceSettings p =
        ParseServiceSettings("web", {{kLeaderServiceNameAnnotation, name}});
    EXPECT_EQ(p.settings.leader_service_name, "web-leader") << name;
    ASSERT_THAT(p.problems, SizeIs(1)) << name;
    const SettingProblem& problem = p.problems[0];
    EXPECT_EQ(problem.annotation, "zen-lead.io/leader-service-name");
    EXPECT_EQ(problem.value, name);
    EXPECT_THAT(problem.message,
                HasSubstr("zen-lead.io/leader-service-name: "));
    if (!name.empty()) {
      EXPECT_THAT(problem.message, HasSubstr("\"" + name + "\""));
    }
    EXPECT_THAT(problem.message, HasSubstr("using the default \"web-leader\""));
  }
}

TEST(ServiceSettingsTest, LeaderServiceNameRuleIsInTheMessage) {
  ParsedServiceSettings p =
      ParseServiceSettings("web", {{kLeaderServiceNameAnnotation, "Web_1"}});
  ASSERT_THAT(p.problems, SizeIs(1));
  EXPECT_EQ(p.problems[0].message,
            "zen-lead.io/leader-service-name: \"Web_1\" is not valid: a "
            "DNS-1035 label must consist of lower case alphanumeric "
            "characters or '-', start with an alphabetic character, and end "
            "with an alphanumeric character (e.g. 'my-name' or 'abc-123'); "
            "using the default \"web-leader\"");
}

TEST(ServiceSettingsTest, LeaderServiceNameMustNotBeTheServiceItself) {
  ParsedServiceSettings p =
      ParseServiceSettings("web", {{kLeaderServiceNameAnnotation, "web"}});
  EXPECT_EQ(p.settings.leader_service_name, "web-leader");
  ASSERT_THAT(p.problems, SizeIs(1));
  EXPECT_EQ(p.problems[0].value, "web");
  EXPECT_THAT(p.problems[0].message,
              HasSubstr("zen-lead.io/leader-service-name: \"web\" names this "
                        "Service itself"));
}

TEST(ServiceSettingsTest, TooLongDefaultNameAsksForTheAnnotation) {
  const std::string long_name(57, 'a');  // + "-leader" = 64
  ParsedServiceSettings p = ParseServiceSettings(long_name, {});
  EXPECT_EQ(p.settings.leader_service_name, long_name + "-leader");
  ASSERT_THAT(p.problems, SizeIs(1));
  EXPECT_EQ(p.problems[0].annotation, kLeaderServiceNameAnnotation);
  EXPECT_EQ(p.problems[0].value, "");
  EXPECT_THAT(p.problems[0].message, HasSubstr("64 characters long"));
  EXPECT_THAT(p.problems[0].message,
              HasSubstr("set zen-lead.io/leader-service-name on Service " +
                        long_name + " to a shorter name"));

  // 56 + 7 = 63 fits.
  EXPECT_THAT(ParseServiceSettings(std::string(56, 'a'), {}).problems,
              IsEmpty());
  // The annotation is the fix.
  p = ParseServiceSettings(long_name,
                           {{kLeaderServiceNameAnnotation, "short-leader"}});
  EXPECT_EQ(p.settings.leader_service_name, "short-leader");
  EXPECT_THAT(p.problems, IsEmpty());
  // An invalid annotation on top: both are said.
  p = ParseServiceSettings(long_name, {{kLeaderServiceNameAnnotation, "X"}});
  ASSERT_THAT(p.problems, SizeIs(2));
  EXPECT_EQ(p.problems[0].value, "X");
  EXPECT_EQ(p.problems[1].value, "X");
  EXPECT_THAT(p.problems[1].message, HasSubstr("to a shorter name"));
}

// ---- zen-lead.io/sticky

TEST(ServiceSettingsTest, StickyValidForms) {
  EXPECT_TRUE(ParseServiceSettings("web", {{kStickyAnnotation, "true"}})
                  .settings.sticky);
  ParsedServiceSettings p =
      ParseServiceSettings("web", {{kStickyAnnotation, "false"}});
  EXPECT_FALSE(p.settings.sticky);
  EXPECT_THAT(p.problems, IsEmpty());
}

TEST(ServiceSettingsTest, StickyInvalidFormsKeepDefault) {
  for (const char* v :
       {"", "False", "FALSE", "True", "yes", "no", "0", "1", " false", "off"}) {
    ParsedServiceSettings p =
        ParseServiceSettings("web", {{kStickyAnnotation, v}});
    EXPECT_TRUE(p.settings.sticky) << v;
    ASSERT_THAT(p.problems, SizeIs(1)) << v;
    EXPECT_EQ(p.problems[0].annotation, "zen-lead.io/sticky");
    EXPECT_EQ(p.problems[0].value, v);
    EXPECT_EQ(p.problems[0].message,
              "zen-lead.io/sticky: \"" + std::string(v) +
                  "\" is not valid: expected \"true\" (keep the current "
                  "leader while it can lead) or \"false\" (always route to "
                  "the oldest Ready pod); using the default \"true\"");
  }
}

// ---- zen-lead.io/min-ready-duration

TEST(ServiceSettingsTest, MinReadyDurationValidForms) {
  const std::vector<std::pair<std::string, absl::Duration>> cases = {
      {"10s", absl::Seconds(10)},
      {"1m30s", absl::Seconds(90)},
      {"500ms", absl::Milliseconds(500)},
      {"0", absl::ZeroDuration()},
      {"0s", absl::ZeroDuration()},
      {"-0s", absl::ZeroDuration()},
      {"+5s", absl::Seconds(5)},
      {"1.5m", absl::Seconds(90)},
      {".5s", absl::Milliseconds(500)},
      {"5.s", absl::Seconds(5)},
      {"1h", absl::Hours(1)},
      {"59m59.999s", absl::Hours(1) - absl::Milliseconds(1)},
      {"1m0.5s", absl::Milliseconds(60500)},
      {"2us", absl::Microseconds(2)},
      {"2\xC2\xB5s", absl::Microseconds(2)},  // µs, U+00B5
      {"2\xCE\xBCs", absl::Microseconds(2)},  // μs, U+03BC
      {"3ns", absl::Nanoseconds(3)},
      {"010s", absl::Seconds(10)},
  };
  for (const auto& [text, want] : cases) {
    ParsedServiceSettings p =
        ParseServiceSettings("web", {{kMinReadyDurationAnnotation, text}});
    EXPECT_EQ(p.settings.min_ready, std::optional<absl::Duration>(want))
        << text;
    EXPECT_THAT(p.problems, IsEmpty()) << text;
  }
}

TEST(ServiceSettingsTest, MinReadyDurationUnparseableFormsKeepPolicy) {
  for (const char* v :
       {"",      "10",   "1.5",   "10S",    "10sec", "1d",         "1w",
        " 10s",  "10s ", "1e3s",  "inf",    "-inf",  "s",          ".s",
        "1..5s", "--5s", "1h-5m", "1_000s", "1,5s",  "ten seconds"}) {
    ParsedServiceSettings p =
        ParseServiceSettings("web", {{kMinReadyDurationAnnotation, v}});
    EXPECT_EQ(p.settings.min_ready, std::nullopt) << v;
    ASSERT_THAT(p.problems, SizeIs(1)) << v;
    EXPECT_EQ(p.problems[0].annotation, "zen-lead.io/min-ready-duration");
    EXPECT_EQ(p.problems[0].value, v);
    EXPECT_EQ(p.problems[0].message,
              "zen-lead.io/min-ready-duration: \"" + std::string(v) +
                  "\" is not a duration: expected a number with a unit (ns, "
                  "us, ms, s, m, h) such as \"10s\", \"1m30s\" or \"500ms\", "
                  "from 0 to 1h; using the LeaderPolicy's "
                  "spec.minReadySeconds");
  }
}

TEST(ServiceSettingsTest, MinReadyDurationNegativeKeepsPolicy) {
  for (const char* v : {"-1s", "-1ns", "-1m30s"}) {
    ParsedServiceSettings p =
        ParseServiceSettings("web", {{kMinReadyDurationAnnotation, v}});
    EXPECT_EQ(p.settings.min_ready, std::nullopt) << v;
    ASSERT_THAT(p.problems, SizeIs(1)) << v;
    EXPECT_THAT(p.problems[0].message,
                HasSubstr("zen-lead.io/min-ready-duration: \"" +
                          std::string(v) + "\" is negative"));
  }
}

TEST(ServiceSettingsTest, MinReadyDurationAboveOneHourKeepsPolicy) {
  for (const char* v : {"1h0m0.001s", "61m", "2h", "9999999999h"}) {
    ParsedServiceSettings p =
        ParseServiceSettings("web", {{kMinReadyDurationAnnotation, v}});
    EXPECT_EQ(p.settings.min_ready, std::nullopt) << v;
    ASSERT_THAT(p.problems, SizeIs(1)) << v;
    EXPECT_THAT(p.problems[0].message,
                HasSubstr("zen-lead.io/min-ready-duration: \"" +
                          std::string(v) + "\" is longer than 1h"));
  }
}

TEST(ServiceSettingsTest, ParseGoDurationLeavesOutputAloneOnFailure) {
  absl::Duration d = absl::Seconds(7);
  EXPECT_FALSE(ParseGoDuration("inf", &d));
  EXPECT_FALSE(ParseGoDuration("10", &d));
  EXPECT_EQ(d, absl::Seconds(7));
  EXPECT_TRUE(ParseGoDuration("1h2m3s", &d));
  EXPECT_EQ(d, absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3));
}

// ---- All three together

TEST(ServiceSettingsTest, AllValidTogether) {
  ParsedServiceSettings p =
      ParseServiceSettings("web", {{kLeaderServiceNameAnnotation, "primary"},
                                   {kStickyAnnotation, "false"},
                                   {kMinReadyDurationAnnotation, "30s"},
                                   {"team", "db"}});
  EXPECT_EQ(p.settings.leader_service_name, "primary");
  EXPECT_FALSE(p.settings.sticky);
  EXPECT_EQ(p.settings.min_ready, absl::Seconds(30));
  EXPECT_THAT(p.problems, IsEmpty());
}

TEST(ServiceSettingsTest, EachInvalidIsReportedAndOthersStillApply) {
  ParsedServiceSettings p =
      ParseServiceSettings("web", {{kLeaderServiceNameAnnotation, "Primary"},
                                   {kStickyAnnotation, "false"},
                                   {kMinReadyDurationAnnotation, "30"}});
  EXPECT_EQ(p.settings.leader_service_name, "web-leader");
  EXPECT_FALSE(p.settings.sticky);  // valid, so it applies
  EXPECT_EQ(p.settings.min_ready, std::nullopt);
  ASSERT_THAT(p.problems, SizeIs(2));
  EXPECT_EQ(p.problems[0].annotation, kLeaderServiceNameAnnotation);
  EXPECT_EQ(p.problems[1].annotation, kMinReadyDurationAnnotation);

  p = ParseServiceSettings("web", {{kLeaderServiceNameAnnotation, "Primary"},
                                   {kStickyAnnotation, "nope"},
                                   {kMinReadyDurationAnnotation, "-3s"}});
  ASSERT_THAT(p.problems, SizeIs(3));
  EXPECT_EQ(p.problems[0].annotation, kLeaderServiceNameAnnotation);
  EXPECT_EQ(p.problems[1].annotation, kMinReadyDurationAnnotation);
  EXPECT_EQ(p.problems[2].annotation, kStickyAnnotation);
}

// ---- Leader annotations

TEST(LeaderAnnotationsTest, WithLeader) {
  EXPECT_EQ(LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, At(1714564800)),
            (Annotations{
                {"zen-lead.io/leader-pod-name", "web-0"},
                {"zen-lead.io/leader-pod-uid", "uid-0"},
                {"zen-lead.io/leader-last-switch-time", "2024-05-01T12:00:00Z"},
            }));
}

TEST(LeaderAnnotationsTest, NoLeaderKeepsOnlyTheSwitchTime) {
  EXPECT_EQ(
      LeaderAnnotations(std::nullopt, At(1714564800)),
      (Annotations{{kLeaderLastSwitchTimeAnnotation, "2024-05-01T12:00:00Z"}}));
}

TEST(LeaderAnnotationsTest, UnknownSwitchTimeIsOmitted) {
  EXPECT_EQ(
      LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, absl::InfinitePast()),
      (Annotations{{kLeaderPodNameAnnotation, "web-0"},
                   {kLeaderPodUidAnnotation, "uid-0"}}));
  EXPECT_THAT(LeaderAnnotations(std::nullopt, absl::InfinitePast()), IsEmpty());
  EXPECT_THAT(LeaderAnnotations(std::nullopt, absl::InfiniteFuture()),
              IsEmpty());
}

TEST(LeaderAnnotationsTest, EmptyFieldsAreOmitted) {
  EXPECT_EQ(LeaderAnnotations(LeaderPod{"web-0", ""}, absl::InfinitePast()),
            (Annotations{{kLeaderPodNameAnnotation, "web-0"}}));
}

TEST(LeaderAnnotationsTest, SwitchTimeIsUtcWholeSecondsAndRoundTrips) {
  absl::Time t = At(1714564800) + absl::Milliseconds(999);
  EXPECT_EQ(FormatSwitchTime(t), "2024-05-01T12:00:00Z");
  EXPECT_EQ(ParseSwitchTime("2024-05-01T12:00:00Z"), At(1714564800));
  EXPECT_EQ(ParseSwitchTime("2024-05-01T14:00:00+02:00"), At(1714564800));
  EXPECT_EQ(ParseSwitchTime("2024-05-01T12:00:00.5Z"),
            At(1714564800) + absl::Milliseconds(500));
  EXPECT_EQ(ParseSwitchTime(""), std::nullopt);
  EXPECT_EQ(ParseSwitchTime("yesterday"), std::nullopt);
  EXPECT_EQ(ParseSwitchTime(FormatSwitchTime(At(0))), At(0));
}

// ---- The patch

TEST(LeaderAnnotationsPatchTest, NothingToPatchWhenEqual) {
  Annotations have = {
      {"team", "db"},
      {kLeaderPodNameAnnotation, "web-0"},
      {kLeaderPodUidAnnotation, "uid-0"},
      {kLeaderLastSwitchTimeAnnotation, "2024-05-01T12:00:00Z"}};
  Annotations want =
      LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, At(1714564800));
  nlohmann::json patch = LeaderAnnotationsPatch(have, want);
  EXPECT_TRUE(patch.empty());
  EXPECT_TRUE(patch.is_object());
  EXPECT_TRUE(LeaderAnnotationsPatch({}, {}).empty());
  EXPECT_TRUE(LeaderAnnotationsPatch({{"team", "db"}}, {}).empty());
}

TEST(LeaderAnnotationsPatchTest, FirstLeaderSetsAllThree) {
  nlohmann::json patch = LeaderAnnotationsPatch(
      {{"team", "db"}},
      LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, At(1714564800)));
  EXPECT_EQ(patch, nlohmann::json::parse(R"({"metadata":{"annotations":{
      "zen-lead.io/leader-pod-name":"web-0",
      "zen-lead.io/leader-pod-uid":"uid-0",
      "zen-lead.io/leader-last-switch-time":"2024-05-01T12:00:00Z"}}})"));
}

TEST(LeaderAnnotationsPatchTest, SwitchSetsOnlyWhatChanged) {
  Annotations have = LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, At(100));
  Annotations want = LeaderAnnotations(LeaderPod{"web-1", "uid-1"}, At(200));
  have[kLeaderPodNameAnnotation] =
      "web-1";  // same name, new pod (a StatefulSet)
  EXPECT_EQ(LeaderAnnotationsPatch(have, want),
            nlohmann::json::parse(R"({"metadata":{"annotations":{
      "zen-lead.io/leader-pod-uid":"uid-1",
      "zen-lead.io/leader-last-switch-time":"1970-01-01T00:03:20Z"}}})"));
}

TEST(LeaderAnnotationsPatchTest, LostLeaderNullsNameAndUid) {
  Annotations have = {
      {"team", "db"},
      {"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  for (auto& [k, v] : LeaderAnnotations(LeaderPod{"web-0", "uid-0"}, At(100))) {
    have[k] = v;
  }
  nlohmann::json patch =
      LeaderAnnotationsPatch(have, LeaderAnnotations(std::nullopt, At(200)));
  EXPECT_EQ(patch, nlohmann::json::parse(R"({"metadata":{"annotations":{
      "zen-lead.io/leader-pod-name":null,
      "zen-lead.io/leader-pod-uid":null,
      "zen-lead.io/leader-last-switch-time":"1970-01-01T00:03:20Z"}}})"));
}

TEST(LeaderAnnotationsPatchTest, UserAnnotationsAreNeverTouched) {
  // A user key in `have` that `want` lacks is not nulled, and a non-zen-lead
  // key in `want` is not written: the patch names zen-lead's keys only.
  Annotations have = {{"team", "db"},
                      {"zen-lead.io/enabled", "true"},
                      {kLeaderPodNameAnnotation, "web-0"}};
  Annotations want = {
      {"team", "other"}, {"extra", "x"}, {kLeaderPodNameAnnotation, "web-0"}};
  EXPECT_TRUE(LeaderAnnotationsPatch(have, want).empty());

  want[kLeaderPodNameAnnotation] = "web-1";
  nlohmann::json patch = LeaderAnnotationsPatch(have, want);
  EXPECT_EQ(patch, nlohmann::json::parse(R"({"metadata":{"annotations":{
      "zen-lead.io/leader-pod-name":"web-1"}}})"));
}

TEST(LeaderAnnotationsPatchTest, EmptyValueIsSetNotRemoved) {
  nlohmann::json patch = LeaderAnnotationsPatch(
      {{kLeaderPodUidAnnotation, "uid-0"}}, {{kLeaderPodUidAnnotation, ""}});
  EXPECT_EQ(patch, nlohmann::json::parse(
                       R"({"metadata":{"annotations":{
      "zen-lead.io/leader-pod-uid":""}}})"));
}

}  // namespace
}  // namespace zenlead::pool
