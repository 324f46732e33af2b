#include "api/validation/names.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::validation {
namespace {

using ::testing::HasSubstr;

MATCHER_P(IsInvalidWith, text, "") {
  return arg.code() == absl::StatusCode::kInvalidArgument &&
         std::string(arg.message()).find(text) != std::string::npos;
}

TEST(Dns1123LabelTest, AcceptsValidLabels) {
  for (const std::string& v :
       {std::string("a"), std::string("0"), std::string("web"),
        std::string("my-name"), std::string("123-abc"), std::string(63, 'x')}) {
    EXPECT_TRUE(ValidateDns1123Label("metadata.name", v).ok()) << v;
  }
}

TEST(Dns1123LabelTest, RejectsInvalidLabels) {
  for (const char* v : {"-a", "a-", "A", "web_1", "a.b", "a b", "é"}) {
    EXPECT_THAT(ValidateDns1123Label("metadata.name", v),
                IsInvalidWith("RFC 1123 label"))
        << v;
  }
}

TEST(Dns1123LabelTest, RejectsEmptyNamingTheField) {
  absl::Status s = ValidateDns1123Label("metadata.namespace", "");
  EXPECT_THAT(s, IsInvalidWith("metadata.namespace: must not be empty"));
}

TEST(Dns1123LabelTest, RejectsTooLongWithLength) {
  absl::Status s = ValidateDns1123Label("metadata.name", std::string(64, 'a'));
  EXPECT_THAT(s, IsInvalidWith("is 64 characters long"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("no more than 63"));
}

TEST(Dns1123SubdomainTest, AcceptsDottedNames) {
  for (const char* v : {"example.com", "a.b.c", "web-0", "x"}) {
    EXPECT_TRUE(ValidateDns1123Subdomain("metadata.name", v).ok()) << v;
  }
  EXPECT_TRUE(
      ValidateDns1123Subdomain("metadata.name", std::string(253, 'a')).ok());
}

TEST(Dns1123SubdomainTest, RejectsBadDotsAndCase) {
  for (const char* v : {".a", "a.", "a..b", "A.b", "a_b.c", "a.-b"}) {
    EXPECT_THAT(ValidateDns1123Subdomain("metadata.name", v),
                IsInvalidWith("RFC 1123 subdomain"))
        << v;
  }
  EXPECT_THAT(ValidateDns1123Subdomain("metadata.name", std::string(254, 'a')),
              IsInvalidWith("no more than 253"));
}

TEST(Dns1035LabelTest, MustStartWithLetter) {
  EXPECT_TRUE(ValidateDns1035Label("name", "web-leader").ok());
  EXPECT_THAT(ValidateDns1035Label("name", "1web"),
              IsInvalidWith("start with an alphabetic character"));
  EXPECT_THAT(ValidateDns1035Label("name", "web.leader"),
              IsInvalidWith("DNS-1035"));
}

TEST(Dns1035LabelTest, LeaderServiceNameTooLong) {
  std::string base(57, 'a');
  EXPECT_TRUE(ValidateDns1035Label("service", base + "-lead").ok());
  EXPECT_THAT(ValidateDns1035Label("service", base + "-leader"),
              IsInvalidWith("64 characters long"));
}

TEST(QualifiedNameTest, AcceptsPrefixedAndPlainKeys) {
  for (const char* v :
       {"app", "zen-lead/pool", "zen-lead.io/enabled", "MyName", "my.name",
        "app.kubernetes.io/managed-by", "a_b", "example.com/My_Name-1"}) {
    EXPECT_TRUE(ValidateQualifiedName("key", v).ok()) << v;
  }
}

TEST(QualifiedNameTest, RejectsBadKeys) {
  EXPECT_THAT(ValidateQualifiedName("key", "/pool"),
              IsInvalidWith("empty prefix"));
  EXPECT_THAT(ValidateQualifiedName("key", "zen-lead/"),
              IsInvalidWith("must not be empty"));
  EXPECT_THAT(ValidateQualifiedName("key", "a/b/c"),
              IsInvalidWith("at most one '/'"));
  EXPECT_THAT(ValidateQualifiedName("key", "Zen_Lead/pool"),
              IsInvalidWith("key prefix"));
  EXPECT_THAT(ValidateQualifiedName("key", "-app"),
              IsInvalidWith("start and end with an alphanumeric"));
  EXPECT_THAT(ValidateQualifiedName("key", std::string(64, 'k')),
              IsInvalidWith("no more than 63"));
}

TEST(LabelValueTest, EmptyIsValid) {
  EXPECT_TRUE(ValidateLabelValue("value", "").ok());
}

TEST(LabelValueTest, AcceptsAndRejects) {
  EXPECT_TRUE(ValidateLabelValue("value", "my_value.1-A").ok());
  EXPECT_THAT(ValidateLabelValue("value", "a b"), IsInvalidWith("label value"));
  EXPECT_THAT(ValidateLabelValue("value", "_a"), IsInvalidWith("label value"));
  EXPECT_THAT(ValidateLabelValue("value", std::string(64, 'v')),
              IsInvalidWith("no more than 63"));
}

TEST(LabelsTest, NamesTheOffendingKey) {
  absl::Status s = ValidateLabels(
      "metadata.labels", {{"app", "web"}, {"zen-lead/pool", "bad value"}});
  EXPECT_THAT(s, IsInvalidWith("metadata.labels[\"zen-lead/pool\"]"));
  EXPECT_TRUE(
      ValidateLabels("metadata.labels", {{"zen-lead/pool", "db"}}).ok());
}

TEST(AnnotationsTest, KeysAreCheckedCaseInsensitively) {
  EXPECT_TRUE(
      ValidateAnnotations("metadata.annotations", {{"Example.COM/Key", "x"}})
          .ok());
  EXPECT_THAT(ValidateAnnotations("metadata.annotations", {{"bad key", "x"}}),
              IsInvalidWith("metadata.annotations[\"bad key\"]"));
}

TEST(AnnotationsTest, TotalSizeLimit) {
  std::map<std::string, std::string> ok = {
      {"a", std::string(kTotalAnnotationSizeLimit - 1, 'x')}};
  EXPECT_TRUE(ValidateAnnotations("metadata.annotations", ok).ok());
  std::map<std::string, std::string> big = {
      {"a", std::string(kTotalAnnotationSizeLimit, 'x')}};
  EXPECT_THAT(ValidateAnnotations("metadata.annotations", big),
              IsInvalidWith("262145 bytes in total"));
}

}  // namespace
}  // namespace zenlead::validation
