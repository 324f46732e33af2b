// The generator's view of an input file: a CustomResourceDefinition (its
// spec.versions[].schema.openAPIV3Schema) or a schema file of ours (a map of
// type name -> OpenAPI v3 schema, e.g. api/schemas/pod.yaml), parsed from
// YAML with yaml-cpp into Schema trees that remember where each node came
// from, so every error names the file, line and schema path.
//
//   absl::StatusOr<Document> doc = LoadDocument(
//       "config/crd/bases/coordination.kube-zen.io_leaderpolicies.yaml",
//       /*crd_version=*/"");
//   if (!doc.ok()) {
//     // "config/crd/...yaml:42:11: error: spec.versions[0].schema.
//     //  openAPIV3Schema.properties.spec: oneOf is not supported ..."
//   }
//
// Only what the generator can represent is accepted; anything else (oneOf,
// a bare allOf, patternProperties, unknown keywords) is an error rather than
// silently ignored. `x-` extensions other than the Kubernetes ones listed in
// docs/codegen.md are ignored.
#ifndef ZEN_LEAD_CODEGEN_SCHEMA_H_
#define ZEN_LEAD_CODEGEN_SCHEMA_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace zenlead::codegen {

// Where a schema node is: the file, its schema path in the document
// ("Pod.properties.spec", "spec.versions[0].schema.openAPIV3Schema") and its
// 1-based line and column (0 when unknown).
struct Location {
  std::string file;
  std::string path;
  int line = 0;
  int column = 0;
};

// InvalidArgumentError "<file>:<line>:<column>: error: <path>: <message>"
// (line and column left out when unknown, the path when empty): the format
// compilers use, so editors and build logs link to the spot.
absl::Status SchemaError(const Location& at, absl::string_view message);

// One x-kubernetes-validations rule (CEL). The generator does not evaluate
// CEL; it documents the rules in the generated comments.
struct CelRule {
  std::string rule;
  std::string message;
  std::string field_path;
};

struct Schema;

struct Property {
  std::string name;
  std::unique_ptr<Schema> schema;
};

struct Schema {
  enum class Type {
    kNone,
    kObject,
    kArray,
    kString,
    kInteger,
    kNumber,
    kBoolean
  };

  Location at;
  Type type = Type::kNone;
  std::string format;
  std::string description;
  std::string title;
  // x-zen-lead-type-name: the C++ name of the type this schema becomes.
  std::string type_name;
  // $ref as written ("#/ObjectMeta", "meta.yaml#/ObjectMeta"); empty if none.
  std::string ref;
  Location ref_at;

  std::optional<nlohmann::json> default_value;
  Location default_at;
  std::vector<nlohmann::json> enum_values;
  Location enum_at;
  std::optional<double> minimum;
  std::optional<double> maximum;
  bool exclusive_minimum = false;
  bool exclusive_maximum = false;
  std::optional<std::string> pattern;
  std::optional<int64_t> min_length;
  std::optional<int64_t> max_length;
  std::optional<int64_t> min_items;
  std::optional<int64_t> max_items;
  std::optional<int64_t> min_properties;
  std::optional<int64_t> max_properties;

  std::vector<std::string> required;
  std::vector<Property> properties;
  // additionalProperties: a schema for the values of a map.
  std::unique_ptr<Schema> additional_properties;
  std::unique_ptr<Schema> items;

  bool nullable = false;
  bool int_or_string = false;
  bool preserve_unknown_fields = false;
  bool embedded_resource = false;
  std::string list_type;
  std::vector<std::string> list_map_keys;
  std::vector<CelRule> validations;

  bool IsRequired(absl::string_view property) const;
  const Schema* FindProperty(absl::string_view property) const;
};

struct GroupVersionKind {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  // "v1" or "apps/v1".
  std::string ApiVersion() const;
};

// The REST resource of a kind: what a typed client needs.
struct ResourceInfo {
  std::string plural;
  bool namespaced = true;
  bool status_subresource = false;
};

// A named top-level schema: a key of a schema file, or the CRD's kind.
struct TypeDecl {
  std::string name;
  Location at;
  std::unique_ptr<Schema> schema;
  // x-kubernetes-group-version-kind (schema files) or the CRD's group,
  // version and kind.
  std::optional<GroupVersionKind> gvk;
  // x-zen-lead-resource (schema files) or the CRD's plural, scope and
  // status subresource.
  std::optional<ResourceInfo> resource;
};

struct Document {
  // The path as given to the generator.
  std::string file;
  bool crd = false;
  std::vector<TypeDecl> types;

  const TypeDecl* Find(absl::string_view name) const;
};

// UpperCamelCase letters and digits: a valid generated type name.
bool IsTypeName(absl::string_view name);

// Loads and checks one file. For a CRD, `crd_version` picks the version
// (empty: the storage version).
absl::StatusOr<Document> LoadDocument(const std::string& file,
                                      const std::string& crd_version);

// The same from text already read; `file` is only used in messages.
absl::StatusOr<Document> ParseDocument(const std::string& file,
                                       const std::string& text,
                                       const std::string& crd_version);

}  // namespace zenlead::codegen

#endif  // ZEN_LEAD_CODEGEN_SCHEMA_H_
