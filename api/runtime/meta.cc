#include "api/runtime/meta.h"

#include "absl/strings/str_cat.h"

namespace zenlead::runtime {

std::string ObjectKey(absl::string_view ns, absl::string_view name) {
  if (ns.empty()) return std::string(name);
  return absl::StrCat(ns, "/", name);
}

std::string MetadataString(const nlohmann::json& obj, absl::string_view field) {
  if (!obj.is_object()) return "";
  auto metadata = obj.find("metadata");
  if (metadata == obj.end() || !metadata->is_object()) return "";
  auto it = metadata->find(std::string(field));
  if (it == metadata->end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::string ObjectKey(const nlohmann::json& obj) {
  const std::string name = MetadataString(obj, "name");
  if (name.empty()) return "";
  return ObjectKey(MetadataString(obj, "namespace"), name);
}

std::string FormatMicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

}  // namespace zenlead::runtime
