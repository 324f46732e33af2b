#include "codegen/runtime/typed_client.h"

#include <utility>

namespace zenlead::openapi {

nlohmann::json WithTypeMeta(nlohmann::json object,
                            absl::string_view api_version,
                            absl::string_view kind) {
  if (!object.is_object()) object = nlohmann::json::object();
  object["apiVersion"] = std::string(api_version);
  object["kind"] = std::string(kind);
  return object;
}

absl::StatusOr<std::string> NameOf(const nlohmann::json& object,
                                   absl::string_view verb,
                                   absl::string_view kind) {
  auto metadata = object.find("metadata");
  if (metadata != object.end() && metadata->is_object()) {
    auto name = metadata->find("name");
    if (name != metadata->end() && name->is_string() &&
        !name->get<std::string>().empty()) {
      return name->get<std::string>();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(verb, " ", kind, ": metadata.name is required"));
}

}  // namespace zenlead::openapi
