#include "api/validation/names.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"

namespace zenlead::validation {
namespace {

// The patterns are the API server's, anchored by FullMatch.
const RE2& Dns1123LabelRe() {
  static const RE2* const re = new RE2("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return *re;
}

const RE2& Dns1123SubdomainRe() {
  static const RE2* const re = new RE2(
      "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return *re;
}

const RE2& Dns1035LabelRe() {
  static const RE2* const re = new RE2("[a-z]([-a-z0-9]*[a-z0-9])?");
  return *re;
}

const RE2& QualifiedNameRe() {
  static const RE2* const re =
      new RE2("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
  return *re;
}

absl::Status Invalid(absl::string_view field, absl::string_view value,
                     absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": \"", value, "\" ", why));
}

absl::Status CheckLengthAndPattern(absl::string_view field,
                                   absl::string_view value, size_t max_length,
                                   const RE2& re, absl::string_view rule) {
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must not be empty; ", rule));
  }
  if (value.size() > max_length) {
    return Invalid(
        field, value,
        absl::StrCat("is ", value.size(),
                     " characters long; it must be no more than ", max_length));
  }
  if (!RE2::FullMatch(re2::StringPiece(value.data(), value.size()), re)) {
    return Invalid(field, value, absl::StrCat("is not valid: ", rule));
  }
  return absl::OkStatus();
}

constexpr absl::string_view kDns1123LabelRule =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric "
    "characters or '-', and must start and end with an alphanumeric character "
    "(e.g. 'my-name' or '123-abc')";
constexpr absl::string_view kDns1123SubdomainRule =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'example.com')";
constexpr absl::string_view kDns1035LabelRule =
    "a DNS-1035 label must consist of lower case alphanumeric characters or "
    "'-', start with an alphabetic character, and end with an alphanumeric "
    "character (e.g. 'my-name' or 'abc-123')";
constexpr absl::string_view kQualifiedNameRule =
    "a name must consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyName', "
    "'my.name' or '123-abc'), with an optional DNS subdomain prefix and '/' "
    "(e.g. 'example.com/MyName')";
constexpr absl::string_view kLabelValueRule =
    "a label value must be empty or consist of alphanumeric characters, '-', "
    "'_' or '.', and must start and end with an alphanumeric character (e.g. "
    "'MyValue', 'my_value' or '12345')";

std::string KeyField(absl::string_view field, absl::string_view key) {
  return absl::StrCat(field, "[\"", key, "\"]");
}

}  // namespace

absl::Status ValidateDns1123Label(absl::string_view field,
                                  absl::string_view value) {
  return CheckLengthAndPattern(field, value, kDns1123LabelMaxLength,
                               Dns1123LabelRe(), kDns1123LabelRule);
}

absl::Status ValidateDns1123Subdomain(absl::string_view field,
                                      absl::string_view value) {
  return CheckLengthAndPattern(field, value, kDns1123SubdomainMaxLength,
                               Dns1123SubdomainRe(), kDns1123SubdomainRule);
}

absl::Status ValidateDns1035Label(absl::string_view field,
                                  absl::string_view value) {
  return CheckLengthAndPattern(field, value, kDns1123LabelMaxLength,
                               Dns1035LabelRe(), kDns1035LabelRule);
}

absl::Status ValidateQualifiedName(absl::string_view field,
                                   absl::string_view key) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(key, absl::MaxSplits('/', 1));
  absl::string_view name = key;
  if (parts.size() == 2) {
    absl::string_view prefix = parts[0];
    name = parts[1];
    if (prefix.empty()) {
      return Invalid(field, key, "has an empty prefix before '/'");
    }
    absl::Status s =
        ValidateDns1123Subdomain(absl::StrCat(field, " prefix"), prefix);
    if (!s.ok()) return s;
    if (name.find('/') != absl::string_view::npos) {
      return Invalid(
          field, key,
          absl::StrCat("must contain at most one '/'; ", kQualifiedNameRule));
    }
  }
  return CheckLengthAndPattern(field, name, kQualifiedNameMaxLength,
                               QualifiedNameRe(), kQualifiedNameRule);
}

absl::Status ValidateLabelValue(absl::string_view field,
                                absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  return CheckLengthAndPattern(field, value, kLabelValueMaxLength,
                               QualifiedNameRe(), kLabelValueRule);
}

absl::Status ValidateLabels(absl::string_view field,
                            const std::map<std::string, std::string>& labels) {
  for (const auto& [key, value] : labels) {
    std::string key_field = KeyField(field, key);
    absl::Status s = ValidateQualifiedName(key_field, key);
    if (!s.ok()) return s;
    s = ValidateLabelValue(key_field, value);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateAnnotations(
    absl::string_view field,
    const std::map<std::string, std::string>& annotations) {
  size_t total = 0;
  for (const auto& [key, value] : annotations) {
    absl::Status s =
        ValidateQualifiedName(KeyField(field, key), absl::AsciiStrToLower(key));
    if (!s.ok()) return s;
    total += key.size() + value.size();
  }
  if (total > kTotalAnnotationSizeLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": annotations are ", total,
                     " bytes in total; they must be no "
                     "more than ",
                     kTotalAnnotationSizeLimit, " bytes (keys plus values)"));
  }
  return absl::OkStatus();
}

}  // namespace zenlead::validation
