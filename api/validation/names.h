// Kubernetes name, label and annotation validation, with the API server's
// rules, so zen-lead rejects a bad name before the API server does and can
// say which field is wrong and how to fix it.
//
//   absl::Status s = zenlead::validation::ValidateDns1123Label(
//       "metadata.name", name);
//   if (!s.ok()) return s;  // "metadata.name: "Web_1" is not a valid ..."
//
//   // The leader Service name must itself be a valid Service name.
//   RETURN_IF_ERROR(ValidateDns1035Label("service name", base + "-leader"));
//
// Every function returns OkStatus() or InvalidArgumentError whose message
// starts with the field path given by the caller.
#ifndef ZEN_LEAD_API_VALIDATION_NAMES_H_
#define ZEN_LEAD_API_VALIDATION_NAMES_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace zenlead::validation {

inline constexpr size_t kDns1123LabelMaxLength = 63;
inline constexpr size_t kDns1123SubdomainMaxLength = 253;
inline constexpr size_t kQualifiedNameMaxLength = 63;
inline constexpr size_t kLabelValueMaxLength = 63;
// Total size of all annotation keys and values on one object.
inline constexpr size_t kTotalAnnotationSizeLimit = size_t{256} * 1024;

// RFC 1123 label: lower-case alphanumerics and '-', starting and ending
// alphanumeric, at most 63 characters (namespace names, most object names).
absl::Status ValidateDns1123Label(absl::string_view field,
                                  absl::string_view value);

// RFC 1123 subdomain: dot-separated RFC 1123 labels, at most 253 characters
// (Deployment, LeaderPolicy, Lease and other object names).
absl::Status ValidateDns1123Subdomain(absl::string_view field,
                                      absl::string_view value);

// RFC 1035 label: like an RFC 1123 label but starting with a letter
// (Service names).
absl::Status ValidateDns1035Label(absl::string_view field,
                                  absl::string_view value);

// A label or annotation key: an optional DNS subdomain prefix and '/',
// then a name of at most 63 characters of alphanumerics, '-', '_' and '.',
// starting and ending alphanumeric. "zen-lead/pool" and "app" are valid.
absl::Status ValidateQualifiedName(absl::string_view field,
                                   absl::string_view key);

// A label value: empty, or at most 63 characters of alphanumerics, '-', '_'
// and '.', starting and ending alphanumeric.
absl::Status ValidateLabelValue(absl::string_view field,
                                absl::string_view value);

// A whole label map: every key and value. The field of each message names the
// key, e.g. metadata.labels["zen-lead/pool"].
absl::Status ValidateLabels(absl::string_view field,
                            const std::map<std::string, std::string>& labels);

// A whole annotation map: every key (case-insensitively, as the API server
// checks it) and the 256 KiB limit on keys plus values.
absl::Status ValidateAnnotations(
    absl::string_view field,
    const std::map<std::string, std::string>& annotations);

}  // namespace zenlead::validation

#endif  // ZEN_LEAD_API_VALIDATION_NAMES_H_
