// Small helpers for Kubernetes object metadata and time formats, shared by
// the store, the informer, leader election and the event recorder.
//
//   std::string key = ObjectKey(pod);                     // "ns/name"
//   std::string rv = MetadataString(pod, "resourceVersion");
//   lease["spec"]["renewTime"] = FormatMicroTime(clock->Now());
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_RUNTIME_META_H_
#define ZEN_LEAD_API_RUNTIME_META_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {

// "namespace/name", or "name" for a cluster-scoped object.
std::string ObjectKey(absl::string_view ns, absl::string_view name);
// The key of an object from its metadata; "" when it has no name.
std::string ObjectKey(const nlohmann::json& obj);

// metadata.<field> when it is a string, else "" (never throws).
std::string MetadataString(const nlohmann::json& obj, absl::string_view field);

// A metav1.MicroTime: RFC 3339 in UTC with microseconds
// ("2025-03-01T12:00:00.123456Z").
std::string FormatMicroTime(absl::Time t);

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_META_H_
