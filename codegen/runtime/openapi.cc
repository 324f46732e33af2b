#include "codegen/runtime/openapi.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"

namespace zenlead::openapi {
namespace {

absl::Status Invalid(absl::string_view path, absl::string_view message) {
  if (path.empty()) return absl::InvalidArgumentError(message);
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

void Add(Errors& errors, absl::string_view path, absl::string_view message) {
  errors.push_back(path.empty() ? std::string(message)
                                : absl::StrCat(path, ": ", message));
}

// A JSON value for an error message, shortened.
std::string Show(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// Integral JSON number to int64, or nullopt.
std::optional<int64_t> AsInt64(const nlohmann::json& json) {
  if (json.is_number_integer() && !json.is_number_unsigned()) {
    return json.get<int64_t>();
  }
  if (json.is_number_unsigned()) {
    uint64_t v = json.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<int64_t>(v);
  }
  if (json.is_number_float()) {
    double d = json.get<double>();
    // 2^63 is exactly representable; anything at or beyond it is not int64.
    if (std::isfinite(d) && std::trunc(d) == d && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

size_t CodePoints(absl::string_view s) {
  size_t n = 0;
  for (char c : s) {
    // Count every byte that does not continue a UTF-8 sequence.
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string Quoted(absl::string_view s) { return nlohmann::json(s).dump(); }

}  // namespace

std::string Child(absl::string_view path, absl::string_view field) {
  if (path.empty()) return std::string(field);
  return absl::StrCat(path, ".", field);
}

std::string Index(absl::string_view path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

std::string Key(absl::string_view path, absl::string_view key) {
  return absl::StrCat(path, "[", key, "]");
}

absl::string_view JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object:
      return "object";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::null:
      return "null";
    default:
      return "binary";
  }
}

absl::Status TypeError(absl::string_view path, absl::string_view expected,
                       const nlohmann::json& got) {
  return Invalid(
      path, absl::StrCat("expected ", expected, ", got ", JsonTypeName(got)));
}

std::string IntOrString::ToString() const {
  return is_int_ ? absl::StrCat(int_value_) : string_value_;
}

// --- Decoding ---------------------------------------------------------------

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        std::string& out) {
  if (!json.is_string()) return TypeError(path, "string", json);
  out = json.get<std::string>();
  return absl::OkStatus();
}

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        int32_t& out) {
  if (!json.is_number()) return TypeError(path, "integer", json);
  std::optional<int64_t> v = AsInt64(json);
  if (!v.has_value() || *v < std::numeric_limits<int32_t>::min() ||
      *v > std::numeric_limits<int32_t>::max()) {
    return Invalid(path,
                   absl::StrCat("expected a 32-bit integer, got ", Show(json)));
  }
  out = static_cast<int32_t>(*v);
  return absl::OkStatus();
}

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        int64_t& out) {
  if (!json.is_number()) return TypeError(path, "integer", json);
  std::optional<int64_t> v = AsInt64(json);
  if (!v.has_value()) {
    return Invalid(path,
                   absl::StrCat("expected a 64-bit integer, got ", Show(json)));
  }
  out = *v;
  return absl::OkStatus();
}

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        double& out) {
  if (!json.is_number()) return TypeError(path, "number", json);
  out = json.get<double>();
  return absl::OkStatus();
}

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        bool& out) {
  if (!json.is_boolean()) return TypeError(path, "boolean", json);
  out = json.get<bool>();
  return absl::OkStatus();
}

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        IntOrString& out) {
  if (json.is_string()) {
    out = IntOrString(json.get<std::string>());
    return absl::OkStatus();
  }
  if (json.is_number()) {
    std::optional<int64_t> v = AsInt64(json);
    if (!v.has_value()) {
      return Invalid(path, absl::StrCat("expected an integer or a string, got ",
                                        Show(json)));
    }
    out = IntOrString(*v);
    return absl::OkStatus();
  }
  return TypeError(path, "integer or string", json);
}

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        nlohmann::json& out) {
  out = json;
  return absl::OkStatus();
}

ObjectDecoder::ObjectDecoder(const nlohmann::json& json,
                             const std::string& path)
    : json_(json), path_(path) {
  if (!json.is_object()) status_ = TypeError(path, "object", json);
}

absl::Status ObjectDecoder::Finish(nlohmann::json& unknown_fields) {
  if (!status_.ok()) return status_;
  unknown_fields = nlohmann::json::object();
  for (const auto& [key, value] : json_.items()) {
    bool known = false;
    for (const char* name : known_) {
      if (key == name) {
        known = true;
        break;
      }
    }
    if (!known) unknown_fields[key] = value;
  }
  return absl::OkStatus();
}

// --- Encoding ---------------------------------------------------------------

nlohmann::json EncodeJson(const IntOrString& value) {
  if (value.is_int()) return value.int_value();
  return value.string_value();
}

ObjectEncoder::ObjectEncoder(const nlohmann::json& unknown_fields)
    : json_(unknown_fields.is_object() ? unknown_fields
                                       : nlohmann::json::object()) {}

void DieBadDefault(const char* json_text, const std::string& message) {
  std::fprintf(stderr,
               "zenlead::openapi: schema default %s does not decode: %s "
               "(a codegen bug: the generator checks defaults)\n",
               json_text, message.c_str());
  std::abort();
}

// --- Validation -------------------------------------------------------------

void CheckMinimum(const std::string& path, int64_t value, int64_t minimum,
                  bool exclusive, Errors& errors) {
  if (exclusive ? value > minimum : value >= minimum) return;
  Add(errors, path,
      absl::StrCat("must be greater than ", exclusive ? "" : "or equal to ",
                   minimum, ", got ", value));
}

void CheckMaximum(const std::string& path, int64_t value, int64_t maximum,
                  bool exclusive, Errors& errors) {
  if (exclusive ? value < maximum : value <= maximum) return;
  Add(errors, path,
      absl::StrCat("must be less than ", exclusive ? "" : "or equal to ",
                   maximum, ", got ", value));
}

void CheckMinimum(const std::string& path, double value, double minimum,
                  bool exclusive, Errors& errors) {
  if (exclusive ? value > minimum : value >= minimum) return;
  Add(errors, path,
      absl::StrCat("must be greater than ", exclusive ? "" : "or equal to ",
                   nlohmann::json(minimum).dump(), ", got ",
                   nlohmann::json(value).dump()));
}

void CheckMaximum(const std::string& path, double value, double maximum,
                  bool exclusive, Errors& errors) {
  if (exclusive ? value < maximum : value <= maximum) return;
  Add(errors, path,
      absl::StrCat("must be less than ", exclusive ? "" : "or equal to ",
                   nlohmann::json(maximum).dump(), ", got ",
                   nlohmann::json(value).dump()));
}

void CheckEnum(const std::string& path, const std::string& value,
               std::initializer_list<absl::string_view> allowed,
               Errors& errors) {
  for (absl::string_view a : allowed) {
    if (value == a) return;
  }
  std::vector<std::string> quoted;
  for (absl::string_view a : allowed) quoted.push_back(Quoted(a));
  Add(errors, path,
      absl::StrCat("must be one of ", absl::StrJoin(quoted, ", "), ", got ",
                   Quoted(value)));
}

void CheckEnum(const std::string& path, int64_t value,
               std::initializer_list<int64_t> allowed, Errors& errors) {
  for (int64_t a : allowed) {
    if (value == a) return;
  }
  Add(errors, path,
      absl::StrCat("must be one of ", absl::StrJoin(allowed, ", "), ", got ",
                   value));
}

void CheckPattern(const std::string& path, const std::string& value,
                  const re2::RE2& pattern, Errors& errors) {
  if (re2::RE2::PartialMatch(re2::StringPiece(value.data(), value.size()),
                             pattern)) {
    return;
  }
  Add(errors, path,
      absl::StrCat("must match the pattern ", Quoted(pattern.pattern()),
                   ", got ", Quoted(value)));
}

void CheckMinLength(const std::string& path, const std::string& value,
                    int64_t min_length, Errors& errors) {
  size_t n = CodePoints(value);
  if (static_cast<int64_t>(n) >= min_length) return;
  Add(errors, path,
      absl::StrCat("must be at least ", min_length,
                   min_length == 1 ? " character" : " characters",
                   " long, got ", n));
}

void CheckMaxLength(const std::string& path, const std::string& value,
                    int64_t max_length, Errors& errors) {
  size_t n = CodePoints(value);
  if (static_cast<int64_t>(n) <= max_length) return;
  Add(errors, path,
      absl::StrCat("must be at most ", max_length,
                   max_length == 1 ? " character" : " characters",
                   " long, got ", n));
}

void CheckMinItems(const std::string& path, size_t size, int64_t min_items,
                   Errors& errors) {
  if (static_cast<int64_t>(size) >= min_items) return;
  Add(errors, path,
      absl::StrCat("must have at least ", min_items,
                   min_items == 1 ? " item" : " items", ", got ", size));
}

void CheckMaxItems(const std::string& path, size_t size, int64_t max_items,
                   Errors& errors) {
  if (static_cast<int64_t>(size) <= max_items) return;
  Add(errors, path,
      absl::StrCat("must have at most ", max_items,
                   max_items == 1 ? " item" : " items", ", got ", size));
}

void CheckMinProperties(const std::string& path, size_t size,
                        int64_t min_properties, Errors& errors) {
  if (static_cast<int64_t>(size) >= min_properties) return;
  Add(errors, path,
      absl::StrCat("must have at least ", min_properties,
                   min_properties == 1 ? " entry" : " entries", ", got ",
                   size));
}

void CheckMaxProperties(const std::string& path, size_t size,
                        int64_t max_properties, Errors& errors) {
  if (static_cast<int64_t>(size) <= max_properties) return;
  Add(errors, path,
      absl::StrCat("must have at most ", max_properties,
                   max_properties == 1 ? " entry" : " entries", ", got ",
                   size));
}

void CheckDateTime(const std::string& path, const std::string& value,
                   Errors& errors) {
  if (ParseDateTime(value).ok()) return;
  Add(errors, path,
      absl::StrCat("must be an RFC 3339 date-time like "
                   "\"2006-01-02T15:04:05Z\", got ",
                   Quoted(value)));
}

void CheckListMapKeys(const std::string& path,
                      const std::vector<nlohmann::json>& items,
                      std::initializer_list<const char*> keys, Errors& errors) {
  std::set<std::string> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<std::string> parts;
    for (const char* key : keys) {
      auto it = items[i].find(key);
      parts.push_back(absl::StrCat(
          key, "=", it == items[i].end() ? "<missing>" : it->dump()));
    }
    std::string joined = absl::StrJoin(parts, ",");
    if (!seen.insert(joined).second) {
      Add(errors, Index(path, i),
          absl::StrCat("duplicate entry with ", joined));
    }
  }
}

absl::Status JoinErrors(const Errors& errors) {
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

// --- Helpers ----------------------------------------------------------------

absl::StatusOr<absl::Time> ParseDateTime(absl::string_view value) {
  absl::Time time;
  std::string error;
  // RFC3339_full accepts fractional seconds and any offset; also require the
  // 'T' separator and an explicit zone, which absl already does.
  if (!absl::ParseTime(absl::RFC3339_full, value, &time, &error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an RFC 3339 date-time: ", Quoted(value), ": ", error));
  }
  return time;
}

std::string FormatDateTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string FormatMicroTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<int64_t> ParseQuantityMilli(absl::string_view value) {
  const std::string original(value);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a quantity: ", Quoted(original), ": ", why));
  };
  absl::string_view s = value;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  // Digits with an optional fraction.
  size_t i = 0;
  while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
  size_t int_end = i;
  size_t frac_begin = i, frac_end = i;
  if (i < s.size() && s[i] == '.') {
    frac_begin = ++i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    frac_end = i;
  }
  if (int_end == 0 && frac_end == frac_begin) return bad("no digits");
  absl::string_view int_digits = s.substr(0, int_end);
  absl::string_view frac_digits = s.substr(frac_begin, frac_end - frac_begin);
  absl::string_view suffix = s.substr(i);

  // The value is digits × 10^exp10 × 2^exp2 (in thousandths: exp10 += 3).
  int exp10 = 3;
  int exp2 = 0;
  if (suffix.empty()) {
  } else if (suffix == "Ki") {
    exp2 = 10;
  } else if (suffix == "Mi") {
    exp2 = 20;
  } else if (suffix == "Gi") {
    exp2 = 30;
  } else if (suffix == "Ti") {
    exp2 = 40;
  } else if (suffix == "Pi") {
    exp2 = 50;
  } else if (suffix == "Ei") {
    exp2 = 60;
  } else if (suffix == "n") {
    exp10 -= 9;
  } else if (suffix == "u") {
    exp10 -= 6;
  } else if (suffix == "m") {
    exp10 -= 3;
  } else if (suffix == "k") {
    exp10 += 3;
  } else if (suffix == "M") {
    exp10 += 6;
  } else if (suffix == "G") {
    exp10 += 9;
  } else if (suffix == "T") {
    exp10 += 12;
  } else if (suffix == "P") {
    exp10 += 15;
  } else if (suffix == "E") {
    exp10 += 18;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    int e = 0;
    if (!absl::SimpleAtoi(suffix.substr(1), &e) || e > 40 || e < -40) {
      return bad("bad exponent");
    }
    exp10 += e;
  } else {
    return bad("unknown suffix");
  }

  // Accumulate in a wide integer: mantissa digits, then scale.
  __int128 mantissa = 0;
  const __int128 kLimit = static_cast<__int128>(1) << 100;
  for (char c : int_digits) {
    mantissa = mantissa * 10 + (c - '0');
    if (mantissa > kLimit) return bad("too large");
  }
  for (char c : frac_digits) {
    mantissa = mantissa * 10 + (c - '0');
    --exp10;
    if (mantissa > kLimit) return bad("too precise");
  }
  for (; exp10 > 0; --exp10) {
    mantissa *= 10;
    if (mantissa > kLimit) return bad("too large");
  }
  for (; exp2 > 0; --exp2) {
    mantissa *= 2;
    if (mantissa > kLimit) return bad("too large");
  }
  // Kubernetes rounds up fractions of the smallest unit.
  bool inexact = false;
  for (; exp10 < 0; ++exp10) {
    if (mantissa % 10 != 0) inexact = true;
    mantissa /= 10;
  }
  if (inexact) mantissa += 1;
  if (mantissa > std::numeric_limits<int64_t>::max()) return bad("too large");
  int64_t result = static_cast<int64_t>(mantissa);
  return negative ? -result : result;
}

}  // namespace zenlead::openapi
