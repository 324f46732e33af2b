#include "codegen/schema.h"

#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

namespace zenlead::codegen {
namespace {

#define SCHEMA_RETURN_IF_ERROR(expr)   \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (0)

Location At(const std::string& file, const std::string& path,
            const YAML::Node& node) {
  Location at{file, path, 0, 0};
  const YAML::Mark mark = node.Mark();
  if (mark.line >= 0) {
    at.line = mark.line + 1;
    at.column = mark.column + 1;
  }
  return at;
}

absl::string_view NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "nothing";
  }
}

// The value of a YAML scalar under the YAML 1.2 core schema: quoted scalars
// are strings, plain ones may be null, booleans, integers or floats.
nlohmann::json ScalarJson(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& text = node.Scalar();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
  static const re2::RE2* const kInt = new re2::RE2("[-+]?[0-9]+");
  static const re2::RE2* const kHex = new re2::RE2("0x[0-9a-fA-F]+");
  static const re2::RE2* const kOct = new re2::RE2("0o[0-7]+");
  static const re2::RE2* const kFloat =
      new re2::RE2("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (text == "~" || text == "null" || text == "Null" || text == "NULL" ||
      text.empty()) {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  int64_t i = 0;
  if (re2::RE2::FullMatch(text, *kInt) && absl::SimpleAtoi(text, &i)) {
    return i;
  }
  if (re2::RE2::FullMatch(text, *kHex) &&
      absl::SimpleHexAtoi(text.substr(2), &i)) {
    return i;
  }
  if (re2::RE2::FullMatch(text, *kOct)) {
    int64_t v = 0;
    for (char c : text.substr(2)) v = v * 8 + (c - '0');
    return v;
  }
  double d = 0;
  if (re2::RE2::FullMatch(text, *kFloat) && absl::SimpleAtod(text, &d)) {
    return d;
  }
  return text;
}

nlohmann::json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& entry : node) {
        out[entry.first.as<std::string>()] = ToJson(entry.second);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return ScalarJson(node);
    default:
      return nullptr;
  }
}

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  absl::Status Error(const std::string& path, const YAML::Node& node,
                     absl::string_view message) const {
    return SchemaError(At(file_, path, node), message);
  }

  absl::StatusOr<std::string> String(const YAML::Node& node,
                                     const std::string& path) const {
    if (!node.IsScalar()) {
      return Error(path, node,
                   absl::StrCat("expected a string, got ", NodeKind(node)));
    }
    return node.Scalar();
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node,
                            const std::string& path) const {
    nlohmann::json v = node.IsScalar() ? ScalarJson(node) : nlohmann::json();
    if (!v.is_boolean()) {
      return Error(path, node, "expected true or false");
    }
    return v.get<bool>();
  }

  absl::StatusOr<double> Number(const YAML::Node& node,
                                const std::string& path) const {
    nlohmann::json v = node.IsScalar() ? ScalarJson(node) : nlohmann::json();
    if (!v.is_number()) return Error(path, node, "expected a number");
    return v.get<double>();
  }

  absl::StatusOr<int64_t> Count(const YAML::Node& node,
                                const std::string& path) const {
    nlohmann::json v = node.IsScalar() ? ScalarJson(node) : nlohmann::json();
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      return Error(path, node, "expected a non-negative integer");
    }
    return v.get<int64_t>();
  }

  absl::StatusOr<std::vector<std::string>> Strings(
      const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence()) {
      return Error(
          path, node,
          absl::StrCat("expected a list of strings, got ", NodeKind(node)));
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) {
      absl::StatusOr<std::string> s =
          String(node[i], absl::StrCat(path, "[", i, "]"));
      if (!s.ok()) return s.status();
      out.push_back(*s);
    }
    return out;
  }

  absl::StatusOr<std::unique_ptr<Schema>> ParseSchema(
      const YAML::Node& node, const std::string& path) const;

  absl::StatusOr<Document> LoadCrd(const YAML::Node& root,
                                   const std::string& crd_version) const;
  absl::StatusOr<Document> LoadSchemaFile(const YAML::Node& root) const;

 private:
  absl::Status ParseKeyword(const std::string& key, const YAML::Node& value,
                            const std::string& path, Schema& s) const;
  absl::Status CheckSchema(const YAML::Node& node, const std::string& path,
                           const std::set<std::string>& keys, Schema& s) const;

  std::string file_;
};

absl::Status Loader::ParseKeyword(const std::string& key,
                                  const YAML::Node& value,
                                  const std::string& path, Schema& s) const {
  const std::string kpath = absl::StrCat(path, ".", key);
  auto set_string = [&](std::string& out) -> absl::Status {
    absl::StatusOr<std::string> v = String(value, kpath);
    if (!v.ok()) return v.status();
    out = *v;
    return absl::OkStatus();
  };
  auto set_bool = [&](bool& out) -> absl::Status {
    absl::StatusOr<bool> v = Bool(value, kpath);
    if (!v.ok()) return v.status();
    out = *v;
    return absl::OkStatus();
  };
  auto set_count = [&](std::optional<int64_t>& out) -> absl::Status {
    absl::StatusOr<int64_t> v = Count(value, kpath);
    if (!v.ok()) return v.status();
    out = *v;
    return absl::OkStatus();
  };
  auto set_number = [&](std::optional<double>& out) -> absl::Status {
    absl::StatusOr<double> v = Number(value, kpath);
    if (!v.ok()) return v.status();
    out = *v;
    return absl::OkStatus();
  };

  if (key == "type") {
    std::string type;
    SCHEMA_RETURN_IF_ERROR(set_string(type));
    if (type == "object") {
      s.type = Schema::Type::kObject;
    } else if (type == "array") {
      s.type = Schema::Type::kArray;
    } else if (type == "string") {
      s.type = Schema::Type::kString;
    } else if (type == "integer") {
      s.type = Schema::Type::kInteger;
    } else if (type == "number") {
      s.type = Schema::Type::kNumber;
    } else if (type == "boolean") {
      s.type = Schema::Type::kBoolean;
    } else {
      return Error(kpath, value,
                   absl::StrCat("unsupported type \"", type,
                                "\" (expected object, array, string, integer, "
                                "number or boolean)"));
    }
    return absl::OkStatus();
  }
  if (key == "format") return set_string(s.format);
  if (key == "description") return set_string(s.description);
  if (key == "title") return set_string(s.title);
  if (key == "x-zen-lead-type-name") {
    SCHEMA_RETURN_IF_ERROR(set_string(s.type_name));
    return absl::OkStatus();
  }
  if (key == "$ref") {
    s.ref_at = At(file_, kpath, value);
    return set_string(s.ref);
  }
  if (key == "default") {
    s.default_value = ToJson(value);
    s.default_at = At(file_, kpath, value);
    return absl::OkStatus();
  }
  if (key == "enum") {
    if (!value.IsSequence() || value.size() == 0) {
      return Error(kpath, value, "expected a non-empty list of values");
    }
    s.enum_at = At(file_, kpath, value);
    for (const auto& item : value) s.enum_values.push_back(ToJson(item));
    return absl::OkStatus();
  }
  if (key == "minimum") return set_number(s.minimum);
  if (key == "maximum") return set_number(s.maximum);
  if (key == "exclusiveMinimum") return set_bool(s.exclusive_minimum);
  if (key == "exclusiveMaximum") return set_bool(s.exclusive_maximum);
  if (key == "pattern") {
    std::string pattern;
    SCHEMA_RETURN_IF_ERROR(set_string(pattern));
    re2::RE2 re(pattern, re2::RE2::Quiet);
    if (!re.ok()) {
      return Error(kpath, value,
                   absl::StrCat("pattern is not a valid RE2 regular "
                                "expression: ",
                                re.error()));
    }
    s.pattern = pattern;
    return absl::OkStatus();
  }
  if (key == "minLength") return set_count(s.min_length);
  if (key == "maxLength") return set_count(s.max_length);
  if (key == "minItems") return set_count(s.min_items);
  if (key == "maxItems") return set_count(s.max_items);
  if (key == "minProperties") return set_count(s.min_properties);
  if (key == "maxProperties") return set_count(s.max_properties);
  if (key == "required") {
    absl::StatusOr<std::vector<std::string>> v = Strings(value, kpath);
    if (!v.ok()) return v.status();
    s.required = *v;
    return absl::OkStatus();
  }
  if (key == "properties") {
    if (!value.IsMap()) {
      return Error(kpath, value,
                   absl::StrCat("expected a map of property schemas, got ",
                                NodeKind(value)));
    }
    for (const auto& entry : value) {
      std::string name = entry.first.as<std::string>();
      absl::StatusOr<std::unique_ptr<Schema>> prop =
          ParseSchema(entry.second, absl::StrCat(kpath, ".", name));
      if (!prop.ok()) return prop.status();
      s.properties.push_back(Property{name, *std::move(prop)});
    }
    return absl::OkStatus();
  }
  if (key == "additionalProperties") {
    if (value.IsScalar()) {
      absl::StatusOr<bool> allowed = Bool(value, kpath);
      if (!allowed.ok()) return allowed.status();
      // false only restates that unknown fields are not modelled; true means
      // values of any shape.
      if (*allowed) {
        s.additional_properties = std::make_unique<Schema>();
        s.additional_properties->at = At(file_, kpath, value);
        s.additional_properties->preserve_unknown_fields = true;
      }
      return absl::OkStatus();
    }
    absl::StatusOr<std::unique_ptr<Schema>> v = ParseSchema(value, kpath);
    if (!v.ok()) return v.status();
    s.additional_properties = *std::move(v);
    return absl::OkStatus();
  }
  if (key == "items") {
    if (value.IsSequence()) {
      return Error(kpath, value,
                   "tuple items (a list of schemas) are not supported; give "
                   "one schema for every item");
    }
    absl::StatusOr<std::unique_ptr<Schema>> v = ParseSchema(value, kpath);
    if (!v.ok()) return v.status();
    s.items = *std::move(v);
    return absl::OkStatus();
  }
  if (key == "nullable") return set_bool(s.nullable);
  if (key == "x-kubernetes-int-or-string") return set_bool(s.int_or_string);
  if (key == "x-kubernetes-preserve-unknown-fields") {
    return set_bool(s.preserve_unknown_fields);
  }
  if (key == "x-kubernetes-embedded-resource") {
    return set_bool(s.embedded_resource);
  }
  if (key == "x-kubernetes-list-type") {
    SCHEMA_RETURN_IF_ERROR(set_string(s.list_type));
    if (s.list_type != "atomic" && s.list_type != "set" &&
        s.list_type != "map") {
      return Error(kpath, value, "expected atomic, set or map");
    }
    return absl::OkStatus();
  }
  if (key == "x-kubernetes-list-map-keys") {
    absl::StatusOr<std::vector<std::string>> v = Strings(value, kpath);
    if (!v.ok()) return v.status();
    s.list_map_keys = *v;
    return absl::OkStatus();
  }
  if (key == "x-kubernetes-validations") {
    if (!value.IsSequence()) return Error(kpath, value, "expected a list");
    for (size_t i = 0; i < value.size(); ++i) {
      const YAML::Node& rule = value[i];
      const std::string rpath = absl::StrCat(kpath, "[", i, "]");
      if (!rule.IsMap() || !rule["rule"]) {
        return Error(rpath, rule, "expected a map with a rule");
      }
      CelRule cel;
      absl::StatusOr<std::string> text = String(rule["rule"], rpath + ".rule");
      if (!text.ok()) return text.status();
      cel.rule = *text;
      if (rule["message"]) cel.message = rule["message"].Scalar();
      if (rule["fieldPath"]) cel.field_path = rule["fieldPath"].Scalar();
      s.validations.push_back(std::move(cel));
    }
    return absl::OkStatus();
  }
  // Documentation and Kubernetes extensions with no effect on the C++ types.
  static const std::set<std::string>* const kIgnored =
      new std::set<std::string>{"example",    "externalDocs",
                                "readOnly",   "writeOnly",
                                "deprecated", "x-kubernetes-map-type"};
  if (kIgnored->count(key) > 0) return absl::OkStatus();
  // Handled by the caller.
  if (key == "allOf" || key == "anyOf") return absl::OkStatus();
  if (key == "oneOf") {
    return Error(
        kpath, value,
        "oneOf is not supported: a C++ struct cannot be one of several "
        "schemas. Use optional fields of one object, or "
        "x-kubernetes-int-or-string for a number-or-name");
  }
  if (key == "not") {
    return Error(kpath, value,
                 "not is not supported: a C++ type cannot express \"anything "
                 "but\" a schema; use enum, pattern or a CEL rule");
  }
  if (absl::StartsWith(key, "x-")) return absl::OkStatus();
  static const std::set<std::string>* const kUnsupported =
      new std::set<std::string>{
          "uniqueItems",     "multipleOf",  "patternProperties", "dependencies",
          "additionalItems", "definitions", "$schema",           "id",
          "discriminator",   "xml"};
  if (kUnsupported->count(key) > 0) {
    return Error(kpath, value,
                 absl::StrCat(key, " is not supported by the generator"));
  }
  return Error(kpath, value,
               absl::StrCat("unknown schema keyword \"", key, "\""));
}

absl::StatusOr<std::unique_ptr<Schema>> Loader::ParseSchema(
    const YAML::Node& node, const std::string& path) const {
  if (!node.IsMap()) {
    return Error(path, node,
                 absl::StrCat("a schema must be a map, got ", NodeKind(node)));
  }
  auto s = std::make_unique<Schema>();
  s->at = At(file_, path, node);
  std::set<std::string> keys;
  for (const auto& entry : node) {
    std::string key = entry.first.as<std::string>();
    keys.insert(key);
    SCHEMA_RETURN_IF_ERROR(ParseKeyword(key, entry.second, path, *s));
  }
  SCHEMA_RETURN_IF_ERROR(CheckSchema(node, path, keys, *s));
  return s;
}

absl::Status Loader::CheckSchema(const YAML::Node& node,
                                 const std::string& path,
                                 const std::set<std::string>& keys,
                                 Schema& s) const {
  // allOf: [{$ref: X}] is how OpenAPI v3 puts a description next to a $ref.
  if (keys.count("allOf") > 0) {
    const YAML::Node all_of = node["allOf"];
    const std::string apath = path + ".allOf";
    if (!all_of.IsSequence() || all_of.size() != 1 || !all_of[0].IsMap() ||
        all_of[0].size() != 1 || !all_of[0]["$ref"] || !s.ref.empty()) {
      return Error(apath, all_of,
                   "allOf is not supported except as allOf: [{$ref: ...}] "
                   "(one reference); merge the schemas into one object");
    }
    s.ref_at = At(file_, apath + "[0].$ref", all_of[0]["$ref"]);
    s.ref = all_of[0]["$ref"].Scalar();
  }
  // anyOf: [{type: integer}, {type: string}] spells out int-or-string.
  if (keys.count("anyOf") > 0) {
    const YAML::Node any_of = node["anyOf"];
    const std::string apath = path + ".anyOf";
    std::set<std::string> types;
    bool plain = any_of.IsSequence() && any_of.size() == 2;
    if (plain) {
      for (const auto& branch : any_of) {
        if (!branch.IsMap() || branch.size() != 1 || !branch["type"]) {
          plain = false;
          break;
        }
        types.insert(branch["type"].Scalar());
      }
    }
    if (!plain || !s.int_or_string ||
        types != std::set<std::string>{"integer", "string"}) {
      return Error(apath, any_of,
                   "anyOf is not supported except as anyOf: [{type: integer}, "
                   "{type: string}] with x-kubernetes-int-or-string: true");
    }
  }

  if (!s.ref.empty()) {
    static const std::set<std::string>* const kWithRef =
        new std::set<std::string>{"$ref",    "allOf",    "description", "title",
                                  "default", "nullable", "example"};
    for (const std::string& key : keys) {
      if (kWithRef->count(key) == 0 && !absl::StartsWith(key, "x-")) {
        return Error(absl::StrCat(path, ".", key), node[key],
                     absl::StrCat("\"", key,
                                  "\" next to $ref is not supported; put it "
                                  "in the referenced schema"));
      }
    }
    return absl::OkStatus();
  }

  if (s.type == Schema::Type::kNone) {
    if (s.int_or_string || s.preserve_unknown_fields) {
      // int-or-string, or a value of any shape.
    } else if (!s.properties.empty() || s.additional_properties) {
      s.type = Schema::Type::kObject;
    } else if (s.items) {
      s.type = Schema::Type::kArray;
    } else {
      return Error(path, node,
                   "no type: set type (object, array, string, integer, "
                   "number or boolean), a $ref, or "
                   "x-kubernetes-preserve-unknown-fields: true");
    }
  }
  if (s.int_or_string && s.type != Schema::Type::kNone) {
    return Error(path, node,
                 "x-kubernetes-int-or-string cannot have a type; the type is "
                 "integer or string");
  }

  auto only_for = [&](bool applies, std::initializer_list<const char*> names,
                      absl::string_view what) -> absl::Status {
    if (applies) return absl::OkStatus();
    for (const char* name : names) {
      if (keys.count(name) > 0) {
        return Error(path + "." + name, node[name],
                     absl::StrCat(name, " only applies to ", what));
      }
    }
    return absl::OkStatus();
  };
  const bool is_string = s.type == Schema::Type::kString || s.int_or_string;
  const bool is_number = s.type == Schema::Type::kInteger ||
                         s.type == Schema::Type::kNumber || s.int_or_string;
  SCHEMA_RETURN_IF_ERROR(
      only_for(is_string, {"pattern", "minLength", "maxLength"}, "strings"));
  SCHEMA_RETURN_IF_ERROR(only_for(
      is_number, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
      "numbers"));
  SCHEMA_RETURN_IF_ERROR(
      only_for(s.type == Schema::Type::kArray,
               {"items", "minItems", "maxItems", "x-kubernetes-list-type",
                "x-kubernetes-list-map-keys"},
               "arrays"));
  SCHEMA_RETURN_IF_ERROR(
      only_for(s.type == Schema::Type::kObject,
               {"properties", "additionalProperties", "required",
                "minProperties", "maxProperties"},
               "objects"));

  if (s.type == Schema::Type::kArray && !s.items) {
    return Error(path, node, "an array needs items (the schema of each item)");
  }
  if (!s.properties.empty() && s.additional_properties) {
    return Error(path + ".additionalProperties", node["additionalProperties"],
                 "properties and additionalProperties together are not "
                 "supported: use one or the other");
  }
  std::set<std::string> names;
  for (const Property& p : s.properties) names.insert(p.name);
  for (const std::string& r : s.required) {
    if (names.count(r) == 0) {
      return Error(path + ".required", node["required"],
                   absl::StrCat("required field \"", r,
                                "\" is not among the properties"));
    }
  }
  if (!s.list_map_keys.empty()) {
    if (s.list_type != "map") {
      return Error(path + ".x-kubernetes-list-map-keys",
                   node["x-kubernetes-list-map-keys"],
                   "x-kubernetes-list-map-keys needs "
                   "x-kubernetes-list-type: map");
    }
    for (const std::string& key : s.list_map_keys) {
      if (s.items->ref.empty() && s.items->FindProperty(key) == nullptr) {
        return Error(path + ".x-kubernetes-list-map-keys",
                     node["x-kubernetes-list-map-keys"],
                     absl::StrCat("list map key \"", key,
                                  "\" is not a property of the items"));
      }
    }
  } else if (s.list_type == "map") {
    return Error(path + ".x-kubernetes-list-type",
                 node["x-kubernetes-list-type"],
                 "x-kubernetes-list-type: map needs "
                 "x-kubernetes-list-map-keys");
  }
  if (!s.type_name.empty() && !IsTypeName(s.type_name)) {
    return Error(path + ".x-zen-lead-type-name", node["x-zen-lead-type-name"],
                 absl::StrCat("\"", s.type_name,
                              "\" is not a C++ type name (expected "
                              "UpperCamelCase letters and digits)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Document> Loader::LoadCrd(const YAML::Node& root,
                                         const std::string& crd_version) const {
  Document doc;
  doc.file = file_;
  doc.crd = true;
  const YAML::Node api_version = root["apiVersion"];
  if (!api_version || api_version.Scalar() != "apiextensions.k8s.io/v1") {
    return Error("apiVersion", api_version ? api_version : root,
                 "only apiextensions.k8s.io/v1 CustomResourceDefinitions are "
                 "supported");
  }
  const YAML::Node spec = root["spec"];
  if (!spec || !spec.IsMap()) return Error("spec", root, "missing spec");
  auto field = [&](const YAML::Node& parent, const char* key,
                   const std::string& path) -> absl::StatusOr<std::string> {
    const YAML::Node v = parent[key];
    if (!v) return Error(path, parent, absl::StrCat("missing ", key));
    return String(v, path + "." + key);
  };
  absl::StatusOr<std::string> group = field(spec, "group", "spec");
  if (!group.ok()) return group.status();
  const YAML::Node names = spec["names"];
  if (!names || !names.IsMap()) return Error("spec", spec, "missing names");
  absl::StatusOr<std::string> kind = field(names, "kind", "spec.names");
  if (!kind.ok()) return kind.status();
  absl::StatusOr<std::string> plural = field(names, "plural", "spec.names");
  if (!plural.ok()) return plural.status();
  absl::StatusOr<std::string> scope = field(spec, "scope", "spec");
  if (!scope.ok()) return scope.status();
  if (*scope != "Namespaced" && *scope != "Cluster") {
    return Error("spec.scope", spec["scope"], "expected Namespaced or Cluster");
  }
  if (!IsTypeName(*kind)) {
    return Error("spec.names.kind", names["kind"],
                 "the kind is not a C++ type name");
  }

  const YAML::Node versions = spec["versions"];
  if (!versions || !versions.IsSequence() || versions.size() == 0) {
    return Error("spec.versions", spec, "missing versions");
  }
  int chosen = -1;
  std::vector<std::string> available;
  for (size_t i = 0; i < versions.size(); ++i) {
    const YAML::Node v = versions[i];
    std::string name = v["name"] ? v["name"].Scalar() : "";
    available.push_back(name);
    bool storage = v["storage"] && ScalarJson(v["storage"]) == true;
    if (crd_version.empty() ? storage : name == crd_version) {
      chosen = static_cast<int>(i);
    }
  }
  if (chosen < 0) {
    return Error(
        "spec.versions", versions,
        crd_version.empty()
            ? std::string("no version has storage: true")
            : absl::StrCat("no version \"", crd_version, "\" (versions: ",
                           absl::StrJoin(available, ", "), ")"));
  }
  const YAML::Node version = versions[chosen];
  const std::string vpath = absl::StrCat("spec.versions[", chosen, "]");
  const YAML::Node schema = version["schema"];
  if (!schema || !schema["openAPIV3Schema"]) {
    return Error(vpath, version, "missing schema.openAPIV3Schema");
  }
  const std::string spath = vpath + ".schema.openAPIV3Schema";
  absl::StatusOr<std::unique_ptr<Schema>> root_schema =
      ParseSchema(schema["openAPIV3Schema"], spath);
  if (!root_schema.ok()) return root_schema.status();
  if ((*root_schema)->type != Schema::Type::kObject) {
    return Error(spath, schema["openAPIV3Schema"],
                 "the root schema must be an object");
  }

  TypeDecl decl;
  decl.name = *kind;
  decl.at = At(file_, spath, schema["openAPIV3Schema"]);
  decl.schema = *std::move(root_schema);
  decl.gvk = GroupVersionKind{*group, available[chosen], *kind};
  ResourceInfo resource;
  resource.plural = *plural;
  resource.namespaced = *scope == "Namespaced";
  resource.status_subresource =
      version["subresources"] && version["subresources"]["status"];
  decl.resource = resource;
  doc.types.push_back(std::move(decl));
  return doc;
}

absl::StatusOr<Document> Loader::LoadSchemaFile(const YAML::Node& root) const {
  Document doc;
  doc.file = file_;
  if (!root.IsMap()) {
    return Error("", root,
                 absl::StrCat("expected a map of type name to schema (or a "
                              "CustomResourceDefinition), got ",
                              NodeKind(root)));
  }
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const std::string name = entry.first.as<std::string>();
    const YAML::Node& node = entry.second;
    if (!IsTypeName(name)) {
      return Error(name, entry.first,
                   "a type name must be UpperCamelCase letters and digits");
    }
    if (!seen.insert(name).second) {
      return Error(name, entry.first, "type defined twice");
    }
    absl::StatusOr<std::unique_ptr<Schema>> schema = ParseSchema(node, name);
    if (!schema.ok()) return schema.status();
    TypeDecl decl;
    decl.name = name;
    decl.at = At(file_, name, node);
    decl.schema = *std::move(schema);

    const YAML::Node gvks = node["x-kubernetes-group-version-kind"];
    if (gvks) {
      const std::string gpath = name + ".x-kubernetes-group-version-kind";
      if (!gvks.IsSequence() || gvks.size() != 1 || !gvks[0].IsMap()) {
        return Error(gpath, gvks,
                     "expected a list of one {group, version, kind}");
      }
      GroupVersionKind gvk;
      gvk.group = gvks[0]["group"] ? gvks[0]["group"].Scalar() : "";
      gvk.version = gvks[0]["version"] ? gvks[0]["version"].Scalar() : "";
      gvk.kind = gvks[0]["kind"] ? gvks[0]["kind"].Scalar() : "";
      if (gvk.version.empty() || gvk.kind.empty()) {
        return Error(gpath, gvks, "version and kind are required");
      }
      decl.gvk = gvk;
    }
    const YAML::Node res = node["x-zen-lead-resource"];
    if (res) {
      const std::string rpath = name + ".x-zen-lead-resource";
      if (!decl.gvk.has_value()) {
        return Error(
            rpath, res,
            "x-zen-lead-resource needs x-kubernetes-group-version-kind");
      }
      if (!res.IsMap() || !res["plural"]) {
        return Error(rpath, res,
                     "expected {plural: <resource>, namespaced: <bool>, "
                     "statusSubresource: <bool>}");
      }
      ResourceInfo info;
      info.plural = res["plural"].Scalar();
      if (res["namespaced"]) {
        absl::StatusOr<bool> b = Bool(res["namespaced"], rpath + ".namespaced");
        if (!b.ok()) return b.status();
        info.namespaced = *b;
      }
      if (res["statusSubresource"]) {
        absl::StatusOr<bool> b =
            Bool(res["statusSubresource"], rpath + ".statusSubresource");
        if (!b.ok()) return b.status();
        info.status_subresource = *b;
      }
      decl.resource = info;
    }
    doc.types.push_back(std::move(decl));
  }
  if (doc.types.empty()) return Error("", root, "no types");
  return doc;
}

}  // namespace

bool IsTypeName(absl::string_view name) {
  if (name.empty() ||
      !absl::ascii_isupper(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status SchemaError(const Location& at, absl::string_view message) {
  std::string where = at.file;
  if (at.line > 0) absl::StrAppend(&where, ":", at.line, ":", at.column);
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": error: ", at.path.empty() ? "" : at.path,
                   at.path.empty() ? "" : ": ", message));
}

bool Schema::IsRequired(absl::string_view property) const {
  for (const std::string& r : required) {
    if (r == property) return true;
  }
  return false;
}

const Schema* Schema::FindProperty(absl::string_view property) const {
  for (const Property& p : properties) {
    if (p.name == property) return p.schema.get();
  }
  return nullptr;
}

std::string GroupVersionKind::ApiVersion() const {
  return group.empty() ? version : absl::StrCat(group, "/", version);
}

const TypeDecl* Document::Find(absl::string_view name) const {
  for (const TypeDecl& t : types) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<Document> ParseDocument(const std::string& file,
                                       const std::string& text,
                                       const std::string& crd_version) {
  Loader loader(file);
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || root.IsNull()) {
      return SchemaError(Location{file, "", 0, 0}, "the file is empty");
    }
    if (root.IsMap() && root["kind"] && root["kind"].IsScalar() &&
        root["kind"].Scalar() == "CustomResourceDefinition") {
      return loader.LoadCrd(root, crd_version);
    }
    return loader.LoadSchemaFile(root);
  } catch (const YAML::Exception& e) {
    Location at{file, "", 0, 0};
    if (e.mark.line >= 0) {
      at.line = e.mark.line + 1;
      at.column = e.mark.column + 1;
    }
    return SchemaError(at, absl::StrCat("invalid YAML: ", e.msg));
  }
}

absl::StatusOr<Document> LoadDocument(const std::string& file,
                                      const std::string& crd_version) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(file, ": error: cannot read file"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseDocument(file, text.str(), crd_version);
}

}  // namespace zenlead::codegen
