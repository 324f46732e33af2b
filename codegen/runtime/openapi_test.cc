#include "codegen/runtime/openapi.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "re2/re2.h"

namespace zenlead::openapi {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

TEST(PathTest, FollowsApiServerNotation) {
  EXPECT_EQ(Child("", "spec"), "spec");
  EXPECT_EQ(Child("spec", "ports"), "spec.ports");
  EXPECT_EQ(Index("spec.ports", 2), "spec.ports[2]");
  EXPECT_EQ(Key("metadata.labels", "app"), "metadata.labels[app]");
}

TEST(DecodeTest, ScalarsCheckTheirType) {
  std::string s;
  EXPECT_TRUE(DecodeJson(json("x"), "a", s).ok());
  EXPECT_EQ(s, "x");
  absl::Status status = DecodeJson(json(3), "spec.name", s);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "spec.name: expected string, got integer");

  int32_t i32 = 0;
  EXPECT_TRUE(DecodeJson(json(7), "a", i32).ok());
  EXPECT_EQ(i32, 7);
  EXPECT_TRUE(DecodeJson(json(7.0), "a", i32).ok());
  EXPECT_EQ(DecodeJson(json("7"), "spec.leaseDurationSeconds", i32).message(),
            "spec.leaseDurationSeconds: expected integer, got string");
  EXPECT_EQ(DecodeJson(json(3000000000LL), "n", i32).message(),
            "n: expected a 32-bit integer, got 3000000000");
  EXPECT_EQ(DecodeJson(json(1.5), "n", i32).message(),
            "n: expected a 32-bit integer, got 1.5");

  int64_t i64 = 0;
  EXPECT_TRUE(DecodeJson(json(3000000000LL), "a", i64).ok());
  EXPECT_EQ(i64, 3000000000LL);
  EXPECT_FALSE(DecodeJson(json(18446744073709551615ULL), "a", i64).ok());

  double d = 0;
  EXPECT_TRUE(DecodeJson(json(2), "a", d).ok());
  EXPECT_EQ(d, 2.0);
  bool b = false;
  EXPECT_TRUE(DecodeJson(json(true), "a", b).ok());
  EXPECT_TRUE(b);
  EXPECT_EQ(DecodeJson(json("true"), "x", b).message(),
            "x: expected boolean, got string");
}

TEST(DecodeTest, IntOrString) {
  IntOrString v;
  ASSERT_TRUE(DecodeJson(json(8080), "p", v).ok());
  EXPECT_TRUE(v.is_int());
  EXPECT_EQ(v.int_value(), 8080);
  ASSERT_TRUE(DecodeJson(json("http"), "p", v).ok());
  EXPECT_TRUE(v.is_string());
  EXPECT_EQ(v.string_value(), "http");
  EXPECT_EQ(v.ToString(), "http");
  EXPECT_EQ(
      DecodeJson(json(true), "spec.ports[0].targetPort", v).message(),
      "spec.ports[0].targetPort: expected integer or string, got boolean");
  EXPECT_EQ(EncodeJson(IntOrString(80)), json(80));
  EXPECT_EQ(EncodeJson(IntOrString("web")), json("web"));
  EXPECT_NE(IntOrString(80), IntOrString("80"));
}

TEST(DecodeTest, ContainersNameTheElement) {
  std::vector<int32_t> v;
  ASSERT_TRUE(DecodeJson(json::parse("[1,2]"), "a", v).ok());
  EXPECT_THAT(v, ElementsAre(1, 2));
  EXPECT_EQ(DecodeJson(json::parse(R"([1,"x"])"), "spec.list", v).message(),
            "spec.list[1]: expected integer, got string");
  std::map<std::string, std::string> m;
  EXPECT_EQ(
      DecodeJson(json::parse(R"({"app":1})"), "metadata.labels", m).message(),
      "metadata.labels[app]: expected string, got integer");
  EXPECT_EQ(DecodeJson(json::parse("[]"), "metadata.labels", m).message(),
            "metadata.labels: expected object, got array");
}

TEST(ObjectDecoderTest, RequiredOptionalAndUnknownFields) {
  json in = json::parse(R"({"name":"a","extra":{"x":1},"uid":null})");
  std::string name;
  std::optional<std::string> uid = "stale";
  std::optional<int32_t> count;
  json unknown;
  ObjectDecoder decoder(in, "holder");
  decoder.Required("name", name);
  decoder.Optional("uid", uid);
  decoder.Optional("count", count);
  ASSERT_TRUE(decoder.Finish(unknown).ok());
  EXPECT_EQ(name, "a");
  EXPECT_FALSE(uid.has_value());
  EXPECT_FALSE(count.has_value());
  // The null is kept so that encoding gives the same JSON back.
  EXPECT_EQ(unknown, json::parse(R"({"extra":{"x":1},"uid":null})"));

  ObjectEncoder encoder(unknown);
  encoder.Required("name", name);
  encoder.Optional("uid", uid);
  encoder.Optional("count", count);
  EXPECT_EQ(encoder.Finish(), in);
}

TEST(ObjectDecoderTest, ReportsTheFirstError) {
  json in = json::parse(R"({"a":"x","b":"y"})");
  int32_t a = 0;
  int32_t b = 0;
  std::string c;
  json unknown;
  ObjectDecoder decoder(in, "spec");
  decoder.Required("a", a);
  decoder.Required("b", b);
  decoder.Required("c", c);
  EXPECT_EQ(decoder.Finish(unknown).message(),
            "spec.a: expected integer, got string");

  ObjectDecoder missing(json::parse("{}"), "spec.holder");
  missing.Required("c", c);
  EXPECT_EQ(missing.Finish(unknown).message(),
            "spec.holder.c: required field is missing");

  ObjectDecoder not_object(json::parse("[]"), "");
  EXPECT_EQ(not_object.Finish(unknown).message(), "expected object, got array");
}

TEST(CheckTest, MessagesNameThePathAndTheRule) {
  Errors errors;
  CheckMinimum("spec.a", int64_t{0}, int64_t{1}, false, errors);
  CheckMinimum("spec.a", int64_t{1}, int64_t{1}, false, errors);
  CheckMaximum("spec.b", int64_t{301}, int64_t{300}, false, errors);
  CheckMaximum("spec.b", int64_t{300}, int64_t{300}, true, errors);
  CheckMinimum("spec.c", 0.5, 1.0, false, errors);
  CheckEnum("spec.mode", "fast", {"standby", "scaleDown"}, errors);
  CheckEnum("spec.mode", "standby", {"standby", "scaleDown"}, errors);
  CheckEnum("spec.n", int64_t{3}, {1, 2}, errors);
  EXPECT_THAT(
      errors,
      ElementsAre("spec.a: must be greater than or equal to 1, got 0",
                  "spec.b: must be less than or equal to 300, got 301",
                  "spec.b: must be less than 300, got 300",
                  "spec.c: must be greater than or equal to 1.0, got 0.5",
                  "spec.mode: must be one of \"standby\", "
                  "\"scaleDown\", got \"fast\"",
                  "spec.n: must be one of 1, 2, got 3"));
}

TEST(CheckTest, StringsAndCollections) {
  Errors errors;
  re2::RE2 dns("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  CheckPattern("metadata.name", "Web_1", dns, errors);
  CheckPattern("metadata.name", "web-1", dns, errors);
  // Unanchored patterns match anywhere, as in JSON Schema.
  re2::RE2 digit("[0-9]");
  CheckPattern("x", "abc1", digit, errors);
  CheckMaxLength("x", "h\xC3\xA9llo", 5, errors);  // 5 code points, 6 bytes
  CheckMaxLength("x", "abcdef", 5, errors);
  CheckMinLength("x", "", 1, errors);
  CheckMinItems("l", 0, 1, errors);
  CheckMaxItems("l", 3, 2, errors);
  CheckMaxProperties("m", 3, 2, errors);
  CheckDateTime("t", "2024-01-02T03:04:05Z", errors);
  CheckDateTime("t", "2024-01-02T03:04:05.123456+02:00", errors);
  CheckDateTime("t", "yesterday", errors);
  EXPECT_THAT(
      errors,
      ElementsAre(
          "metadata.name: must match the pattern "
          "\"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$\", got \"Web_1\"",
          "x: must be at most 5 characters long, got 6",
          "x: must be at least 1 character long, got 0",
          "l: must have at least 1 item, got 0",
          "l: must have at most 2 items, got 3",
          "m: must have at most 2 entries, got 3",
          "t: must be an RFC 3339 date-time like \"2006-01-02T15:04:05Z\", "
          "got \"yesterday\""));
}

TEST(CheckTest, ListMapKeysAreUnique) {
  Errors errors;
  std::vector<json> items = {json::parse(R"({"type":"Ready","status":"True"})"),
                             json::parse(R"({"type":"Other"})"),
                             json::parse(R"({"type":"Ready"})")};
  CheckListMapKeys("status.conditions", items, {"type"}, errors);
  EXPECT_THAT(errors, ElementsAre("status.conditions[2]: duplicate entry with "
                                  "type=\"Ready\""));
}

TEST(JoinErrorsTest, JoinsAll) {
  EXPECT_TRUE(JoinErrors({}).ok());
  absl::Status s = JoinErrors({"a: x", "b: y"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "a: x; b: y");
}

TEST(TimeTest, ParseAndFormat) {
  absl::StatusOr<absl::Time> t = ParseDateTime("2024-05-06T07:08:09Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatDateTime(*t), "2024-05-06T07:08:09Z");
  EXPECT_EQ(FormatMicroTime(*t + absl::Microseconds(12)),
            "2024-05-06T07:08:09.000012Z");
  absl::StatusOr<absl::Time> micro = ParseDateTime("2024-05-06T07:08:09.5Z");
  ASSERT_TRUE(micro.ok());
  EXPECT_EQ(*micro - *t, absl::Milliseconds(500));
  EXPECT_THAT(std::string(ParseDateTime("2024-05-06").status().message()),
              HasSubstr("not an RFC 3339 date-time"));
}

TEST(QuantityTest, ParsesKubernetesSuffixes) {
  EXPECT_EQ(*ParseQuantityMilli("250m"), 250);
  EXPECT_EQ(*ParseQuantityMilli("1"), 1000);
  EXPECT_EQ(*ParseQuantityMilli("1.5"), 1500);
  EXPECT_EQ(*ParseQuantityMilli("2k"), 2000000);
  EXPECT_EQ(*ParseQuantityMilli("1Ki"), 1024000);
  EXPECT_EQ(*ParseQuantityMilli("1Gi"), 1073741824000LL);
  EXPECT_EQ(*ParseQuantityMilli("2e3"), 2000000);
  EXPECT_EQ(*ParseQuantityMilli("-1"), -1000);
  EXPECT_EQ(*ParseQuantityMilli("1u"), 1);  // rounded up to 1m
  EXPECT_EQ(*ParseQuantityMilli(".5"), 500);
  EXPECT_FALSE(ParseQuantityMilli("").ok());
  EXPECT_FALSE(ParseQuantityMilli("1Xi").ok());
  EXPECT_FALSE(ParseQuantityMilli("abc").ok());
  EXPECT_FALSE(ParseQuantityMilli("100E").ok());  // 1e20: does not fit
}

struct Widget {
  int defaults_applied = 0;
};
void ApplyDefaults(Widget& w) { ++w.defaults_applied; }

TEST(DefaultsTest, ReachEveryStructInContainers) {
  std::optional<std::vector<Widget>> list = std::vector<Widget>(2);
  std::map<std::string, Widget> map = {{"a", {}}};
  std::optional<Widget> none;
  ApplyDefaultsTo(list);
  ApplyDefaultsTo(map);
  ApplyDefaultsTo(none);
  EXPECT_EQ((*list)[0].defaults_applied, 1);
  EXPECT_EQ((*list)[1].defaults_applied, 1);
  EXPECT_EQ(map["a"].defaults_applied, 1);
  EXPECT_FALSE(none.has_value());
}

TEST(DefaultsTest, DefaultFromJson) {
  auto v = DefaultFromJson<std::vector<std::string>>(R"(["a","b"])");
  EXPECT_THAT(v, ElementsAre("a", "b"));
  EXPECT_DEATH(DefaultFromJson<std::vector<int32_t>>(R"(["a"])"),
               "does not decode");
}

}  // namespace
}  // namespace zenlead::openapi
