// Support code for the C++ types that codegen (//codegen:openapi_gen)
// generates from OpenAPI schemas: field paths for error messages, JSON
// decoding and encoding of scalars, vectors, maps and optionals (with the
// unknown fields of an object kept aside), IntOrString, the validation checks
// (enum, minimum/maximum, pattern, lengths, item counts, date-time), and
// date-time / quantity helpers.
//
// Generated code is written in terms of ObjectDecoder, ObjectEncoder and the
// Check* functions; hand-written code mostly needs IntOrString and the
// helpers:
//
//   namespace openapi = zenlead::openapi;
//   openapi::IntOrString target = openapi::IntOrString("http");
//   absl::StatusOr<absl::Time> created =
//       openapi::ParseDateTime(*pod.metadata->creation_timestamp);
//   std::string renew_time = openapi::FormatMicroTime(clock.Now());
//   absl::StatusOr<int64_t> milli_cpu = openapi::ParseQuantityMilli("250m");
//
// Every decoding error is an InvalidArgumentError that starts with the field
// path ("spec.leaseDurationSeconds: expected integer, got string"); the root
// object has the empty path.
#ifndef ZEN_LEAD_CODEGEN_RUNTIME_OPENAPI_H_
#define ZEN_LEAD_CODEGEN_RUNTIME_OPENAPI_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace re2 {
class RE2;
}  // namespace re2

namespace zenlead::openapi {

// ---------------------------------------------------------------------------
// Field paths, in the API server's notation: "spec.ports[0].targetPort",
// "metadata.labels[app]". The root has the empty path.

std::string Child(absl::string_view path, absl::string_view field);
std::string Index(absl::string_view path, size_t index);
std::string Key(absl::string_view path, absl::string_view key);

// "object", "array", "string", "integer", "number", "boolean" or "null".
absl::string_view JsonTypeName(const nlohmann::json& value);

// InvalidArgumentError "<path>: expected <expected>, got <type of got>".
absl::Status TypeError(absl::string_view path, absl::string_view expected,
                       const nlohmann::json& got);

// ---------------------------------------------------------------------------
// IntOrString (x-kubernetes-int-or-string): a number or a name, e.g. a
// Service targetPort (8080 or "http").

class IntOrString {
 public:
  // The integer 0.
  IntOrString() = default;
  explicit IntOrString(int64_t value) : int_value_(value) {}
  explicit IntOrString(std::string value)
      : is_int_(false), string_value_(std::move(value)) {}
  explicit IntOrString(const char* value) : IntOrString(std::string(value)) {}

  bool is_int() const { return is_int_; }
  bool is_string() const { return !is_int_; }
  // 0 when is_string().
  int64_t int_value() const { return int_value_; }
  // "" when is_int().
  const std::string& string_value() const { return string_value_; }
  // "8080" or "http".
  std::string ToString() const;

  friend bool operator==(const IntOrString& a, const IntOrString& b) {
    return a.is_int_ == b.is_int_ && a.int_value_ == b.int_value_ &&
           a.string_value_ == b.string_value_;
  }
  friend bool operator!=(const IntOrString& a, const IntOrString& b) {
    return !(a == b);
  }

 private:
  bool is_int_ = true;
  int64_t int_value_ = 0;
  std::string string_value_;
};

// ---------------------------------------------------------------------------
// Decoding. Each DecodeJson overload reads `json` into `out` or returns an
// InvalidArgumentError naming `path`. Generated types add their own overload
// (found by argument-dependent lookup), so vectors and maps of them work.

absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        std::string& out);
// Integers accept JSON integers and integral floats (3.0) in range.
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        int32_t& out);
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        int64_t& out);
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        double& out);
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        bool& out);
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        IntOrString& out);
// Free-form values (x-kubernetes-preserve-unknown-fields): kept as they are.
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        nlohmann::json& out);
template <typename T>
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        std::vector<T>& out);
template <typename T>
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        std::map<std::string, T>& out);

// Reads the fields of one JSON object. Stops at the first error; Finish()
// returns it and hands back every field no Required/Optional call named.
//
//   ObjectDecoder decoder(json, path);
//   decoder.Required("name", out.name);
//   decoder.Optional("uid", out.uid);
//   return decoder.Finish(out.unknown_fields);
class ObjectDecoder {
 public:
  // An error unless `json` is an object.
  ObjectDecoder(const nlohmann::json& json, const std::string& path);

  // A missing field is an error; null is an error too.
  template <typename T>
  void Required(const char* name, T& out);
  // A missing field gives nullopt. So does null, which is also kept among the
  // unknown fields so that encoding gives back the same null.
  template <typename T>
  void Optional(const char* name, std::optional<T>& out);

  // The first error, or OK with `unknown_fields` set to the fields that were
  // not decoded (an object, possibly empty).
  absl::Status Finish(nlohmann::json& unknown_fields);

 private:
  const nlohmann::json& json_;
  const std::string& path_;
  std::vector<const char*> known_;
  absl::Status status_;
};

// ---------------------------------------------------------------------------
// Encoding.

inline nlohmann::json EncodeJson(const std::string& value) { return value; }
inline nlohmann::json EncodeJson(int32_t value) { return value; }
inline nlohmann::json EncodeJson(int64_t value) { return value; }
inline nlohmann::json EncodeJson(double value) { return value; }
inline nlohmann::json EncodeJson(bool value) { return value; }
nlohmann::json EncodeJson(const IntOrString& value);
inline nlohmann::json EncodeJson(const nlohmann::json& value) { return value; }
template <typename T>
nlohmann::json EncodeJson(const std::vector<T>& values);
template <typename T>
nlohmann::json EncodeJson(const std::map<std::string, T>& values);

// Builds one JSON object, starting from the unknown fields of the value so
// that fields this program does not model survive a read-modify-write.
//
//   ObjectEncoder encoder(value.unknown_fields);
//   encoder.Required("name", value.name);
//   encoder.Optional("uid", value.uid);
//   return encoder.Finish();
class ObjectEncoder {
 public:
  explicit ObjectEncoder(const nlohmann::json& unknown_fields);

  template <typename T>
  void Required(const char* name, const T& value) {
    json_[name] = EncodeJson(value);
  }
  // Nothing is written for nullopt.
  template <typename T>
  void Optional(const char* name, const std::optional<T>& value) {
    if (value.has_value()) json_[name] = EncodeJson(*value);
  }
  nlohmann::json Finish() { return std::move(json_); }

 private:
  nlohmann::json json_;
};

// ---------------------------------------------------------------------------
// Defaulting: ApplyDefaults(T&) of generated types, applied through
// optionals, vectors and maps. Scalars have no defaults of their own.

template <typename T>
void ApplyDefaultsTo(std::optional<T>& value);
template <typename T>
void ApplyDefaultsTo(std::vector<T>& values);
template <typename T>
void ApplyDefaultsTo(std::map<std::string, T>& values);
template <typename T>
void ApplyDefaultsTo(T& value) {
  ApplyDefaults(value);
}
template <typename T>
void ApplyDefaultsTo(std::optional<T>& value) {
  if (value.has_value()) ApplyDefaultsTo(*value);
}
template <typename T>
void ApplyDefaultsTo(std::vector<T>& values) {
  for (T& value : values) ApplyDefaultsTo(value);
}
template <typename T>
void ApplyDefaultsTo(std::map<std::string, T>& values) {
  for (auto& entry : values) ApplyDefaultsTo(entry.second);
}

// A schema default that is not a scalar ({} or a list), decoded from the
// JSON text the generator checked against the schema. A failure here is a
// generator bug, so it aborts.
template <typename T>
T DefaultFromJson(const char* json_text);

// ---------------------------------------------------------------------------
// Validation. Each check appends "<path>: <what is wrong>" to `errors`.

using Errors = std::vector<std::string>;

void CheckMinimum(const std::string& path, int64_t value, int64_t minimum,
                  bool exclusive, Errors& errors);
void CheckMaximum(const std::string& path, int64_t value, int64_t maximum,
                  bool exclusive, Errors& errors);
void CheckMinimum(const std::string& path, double value, double minimum,
                  bool exclusive, Errors& errors);
void CheckMaximum(const std::string& path, double value, double maximum,
                  bool exclusive, Errors& errors);
void CheckEnum(const std::string& path, const std::string& value,
               std::initializer_list<absl::string_view> allowed,
               Errors& errors);
void CheckEnum(const std::string& path, int64_t value,
               std::initializer_list<int64_t> allowed, Errors& errors);
// `pattern` is searched for anywhere in the value (JSON Schema semantics);
// anchor it with ^...$ to match the whole value.
void CheckPattern(const std::string& path, const std::string& value,
                  const re2::RE2& pattern, Errors& errors);
// Lengths count Unicode code points (UTF-8), as the API server does.
void CheckMinLength(const std::string& path, const std::string& value,
                    int64_t min_length, Errors& errors);
void CheckMaxLength(const std::string& path, const std::string& value,
                    int64_t max_length, Errors& errors);
void CheckMinItems(const std::string& path, size_t size, int64_t min_items,
                   Errors& errors);
void CheckMaxItems(const std::string& path, size_t size, int64_t max_items,
                   Errors& errors);
void CheckMinProperties(const std::string& path, size_t size,
                        int64_t min_properties, Errors& errors);
void CheckMaxProperties(const std::string& path, size_t size,
                        int64_t max_properties, Errors& errors);
// format: date-time (RFC 3339).
void CheckDateTime(const std::string& path, const std::string& value,
                   Errors& errors);
// x-kubernetes-list-type: map. No two items may have the same values for
// the key fields. Items are compared in their JSON form.
void CheckListMapKeys(const std::string& path,
                      const std::vector<nlohmann::json>& items,
                      std::initializer_list<const char*> keys, Errors& errors);
template <typename T>
void CheckListMapKeys(const std::string& path, const std::vector<T>& items,
                      std::initializer_list<const char*> keys, Errors& errors) {
  std::vector<nlohmann::json> json_items;
  json_items.reserve(items.size());
  for (const T& item : items) json_items.push_back(EncodeJson(item));
  CheckListMapKeys(path, json_items, keys, errors);
}

// OK when `errors` is empty, else one InvalidArgumentError listing all of
// them, joined by "; ", in the order they were found.
absl::Status JoinErrors(const Errors& errors);

// ---------------------------------------------------------------------------
// Helpers for string-typed fields.

// metav1.Time / MicroTime strings (RFC 3339, fractional seconds allowed).
absl::StatusOr<absl::Time> ParseDateTime(absl::string_view value);
// "2006-01-02T15:04:05Z" (metav1.Time: whole seconds, UTC).
std::string FormatDateTime(absl::Time time);
// "2006-01-02T15:04:05.000000Z" (metav1.MicroTime: Lease times, Events).
std::string FormatMicroTime(absl::Time time);

// A resource.Quantity ("250m", "1Gi", "1.5", "2e3") in thousandths:
// "250m" gives 250, "1Gi" gives 1073741824000. An error for malformed
// values and values that do not fit.
absl::StatusOr<int64_t> ParseQuantityMilli(absl::string_view value);

// ---------------------------------------------------------------------------
// Template definitions.

template <typename T>
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        std::vector<T>& out) {
  if (!json.is_array()) return TypeError(path, "array", json);
  out.clear();
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    T item{};
    absl::Status status = DecodeJson(json[i], Index(path, i), item);
    if (!status.ok()) return status;
    out.push_back(std::move(item));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status DecodeJson(const nlohmann::json& json, const std::string& path,
                        std::map<std::string, T>& out) {
  if (!json.is_object()) return TypeError(path, "object", json);
  out.clear();
  for (const auto& [key, value] : json.items()) {
    T item{};
    absl::Status status = DecodeJson(value, Key(path, key), item);
    if (!status.ok()) return status;
    out.emplace(key, std::move(item));
  }
  return absl::OkStatus();
}

template <typename T>
void ObjectDecoder::Required(const char* name, T& out) {
  known_.push_back(name);
  if (!status_.ok()) return;
  auto it = json_.find(name);
  if (it == json_.end() || it->is_null()) {
    status_ = absl::InvalidArgumentError(Child(path_, name) +
                                         ": required field is missing");
    return;
  }
  status_ = DecodeJson(*it, Child(path_, name), out);
}

template <typename T>
void ObjectDecoder::Optional(const char* name, std::optional<T>& out) {
  if (!status_.ok()) return;
  auto it = json_.find(name);
  if (it == json_.end() || it->is_null()) {
    out.reset();
    // Not marked known: a null stays among the unknown fields.
    return;
  }
  known_.push_back(name);
  T value{};
  status_ = DecodeJson(*it, Child(path_, name), value);
  if (status_.ok()) out = std::move(value);
}

template <typename T>
nlohmann::json EncodeJson(const std::vector<T>& values) {
  nlohmann::json json = nlohmann::json::array();
  for (const T& value : values) json.push_back(EncodeJson(value));
  return json;
}

template <typename T>
nlohmann::json EncodeJson(const std::map<std::string, T>& values) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [key, value] : values) json[key] = EncodeJson(value);
  return json;
}

// Aborts with `message`; for DefaultFromJson only.
[[noreturn]] void DieBadDefault(const char* json_text,
                                const std::string& message);

template <typename T>
T DefaultFromJson(const char* json_text) {
  nlohmann::json json =
      nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) DieBadDefault(json_text, "not JSON");
  T value{};
  absl::Status status = DecodeJson(json, "", value);
  if (!status.ok()) DieBadDefault(json_text, std::string(status.message()));
  return value;
}

}  // namespace zenlead::openapi

#endif  // ZEN_LEAD_CODEGEN_RUNTIME_OPENAPI_H_
