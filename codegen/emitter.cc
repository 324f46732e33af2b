#include "codegen/emitter.h"

#include <cstdint>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/names.h"

namespace zenlead::codegen {
namespace {

std::string Pad(int indent) { return std::string(indent, ' '); }

std::string IntLiteral(int64_t v) {
  if (v == INT64_MIN) return "(-9223372036854775807 - 1)";
  return absl::StrCat(v);
}

// `head(args...)tail` at `indent`, wrapped at commas to stay within 80
// columns where it can (clang-format's style for calls).
std::string Call(int indent, const std::string& head,
                 const std::vector<std::string>& args,
                 const std::string& tail) {
  const std::string pad(indent, ' ');
  std::string line =
      absl::StrCat(pad, head, "(", absl::StrJoin(args, ", "), ")", tail);
  if (line.size() <= 80 || args.empty()) return line + "\n";
  size_t cont = indent + head.size() + 1;
  std::string out = absl::StrCat(pad, head, "(");
  size_t col = out.size();
  if (cont > 40) {
    cont = indent + 4;
    out += "\n" + std::string(cont, ' ');
    col = cont;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string piece =
        args[i] + (i + 1 < args.size() ? "," : absl::StrCat(")", tail));
    if (col > cont && col + 1 + piece.size() > 80) {
      out += "\n" + std::string(cont, ' ');
      col = cont;
    } else if (col > cont) {
      out += " ";
      ++col;
    }
    out += piece;
    col += piece.size();
  }
  return out + "\n";
}

std::string Int64Literal(int64_t v) {
  return absl::StrCat("int64_t{", IntLiteral(v), "}");
}

std::string DoubleLiteral(double v) {
  std::string s = nlohmann::json(v).dump();
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string JsonList(const std::vector<nlohmann::json>& values) {
  std::vector<std::string> parts;
  parts.reserve(values.size());
  for (const nlohmann::json& v : values) parts.push_back(v.dump());
  return absl::StrJoin(parts, ", ");
}

std::string HeaderGuard(absl::string_view include_path) {
  std::string guard = "ZEN_LEAD_";
  for (char c : include_path) {
    guard.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c))
                        ? absl::ascii_toupper(static_cast<unsigned char>(c))
                        : '_');
  }
  return guard + "_";
}

class Emitter {
 public:
  Emitter(const Model& model, const Document& doc, const std::string& base,
          const std::map<const Document*, std::string>& headers,
          const EmitOptions& options)
      : model_(model),
        doc_(doc),
        base_(base),
        headers_(headers),
        options_(options),
        rt_(absl::StartsWith(options.cpp_namespace, "zenlead::")
                ? "openapi::"
                : "::zenlead::openapi::"),
        cl_(absl::StartsWith(options.cpp_namespace, "zenlead::")
                ? "client::"
                : "::zenlead::client::") {}

  GeneratedCode Run() {
    const std::vector<const StructDef*>& structs = model_.StructsOf(doc_);
    std::vector<const StructDef*> clients;
    for (const StructDef* def : structs) {
      if (options_.clients && def->resource.has_value() &&
          def->list != nullptr) {
        clients.push_back(def);
      }
    }
    const std::string header_path = IncludePath(base_);

    // --- Header.
    std::string h = Banner();
    h += FileComment(structs, clients);
    const std::string guard = HeaderGuard(header_path);
    absl::StrAppend(&h, "#ifndef ", guard, "\n#define ", guard, "\n\n");
    std::vector<std::string> std_includes = {"<cstdint>", "<map>", "<optional>",
                                             "<string>", "<vector>"};
    if (!clients.empty())
      std_includes.insert(std_includes.begin() + 1, "<functional>");
    for (const std::string& inc : std_includes)
      absl::StrAppend(&h, "#include ", inc, "\n");
    std::set<std::string> includes = {
        "absl/status/status.h", "absl/status/statusor.h",
        "codegen/runtime/openapi.h", "nlohmann/json.hpp"};
    if (!clients.empty()) {
      includes.insert("absl/strings/string_view.h");
      includes.insert("api/client/client.h");
    }
    for (const Document* dep : model_.DependenciesOf(doc_)) {
      std::string imported = model_.ImportedHeader(*dep);
      if (!imported.empty()) {
        includes.insert(imported);
      } else {
        auto it = headers_.find(dep);
        if (it != headers_.end()) includes.insert(it->second);
      }
    }
    h += "\n";
    for (const std::string& inc : includes)
      absl::StrAppend(&h, "#include \"", inc, "\"\n");
    absl::StrAppend(&h, "\nnamespace ", options_.cpp_namespace, " {\n");

    // --- Source body first: it registers the patterns.
    std::string body;
    for (const StructDef* def : structs) EmitStructImpl(*def, body);
    for (const StructDef* def : clients) EmitClientImpl(*def, body);

    for (const StructDef* def : structs) EmitStruct(*def, h);
    if (!structs.empty()) {
      h +=
          "\n// Building blocks of FromJson, ToJson and Validate, also used by "
          "the\n// generated code of types that contain these.\n";
      for (const StructDef* def : structs) {
        absl::StrAppend(&h,
                        "absl::Status DecodeJson(const nlohmann::json& json, "
                        "const std::string& path,\n",
                        "                        ", def->name, "& out);\n");
        absl::StrAppend(&h, "nlohmann::json EncodeJson(const ", def->name,
                        "& value);\n");
        absl::StrAppend(&h, "void ValidateAt(const ", def->name,
                        "& value, const std::string& path,\n                ",
                        rt_, "Errors& errors);\n");
      }
    }
    for (const StructDef* def : clients) EmitClientDecl(*def, h);
    absl::StrAppend(&h, "\n}  // namespace ", options_.cpp_namespace,
                    "\n\n#endif  // ", guard, "\n");

    // --- Source.
    std::string cc = Banner();
    absl::StrAppend(&cc, "#include \"", header_path, "\"\n\n");
    absl::StrAppend(&cc,
                    "#include <cstdint>\n#include <map>\n#include <optional>\n"
                    "#include <string>\n#include <vector>\n\n");
    std::set<std::string> cc_includes = {
        "absl/status/status.h", "absl/status/statusor.h",
        "codegen/runtime/openapi.h", "nlohmann/json.hpp"};
    if (!patterns_.empty()) cc_includes.insert("re2/re2.h");
    if (!clients.empty()) cc_includes.insert("codegen/runtime/typed_client.h");
    for (const std::string& inc : cc_includes)
      absl::StrAppend(&cc, "#include \"", inc, "\"\n");
    absl::StrAppend(&cc, "\nnamespace ", options_.cpp_namespace, " {\n");
    if (!patterns_.empty()) {
      cc += "namespace {\n\n// The schema's patterns, compiled once.\n";
      for (size_t i = 0; i < patterns_.size(); ++i) {
        absl::StrAppend(
            &cc, "const re2::RE2& Pattern", i + 1, "() {\n",
            "  static const re2::RE2* const pattern =\n      new re2::RE2(",
            CppStringLiteral(patterns_[i]), ");\n  return *pattern;\n}\n\n");
      }
      cc += "}  // namespace\n";
    }
    cc += body;
    absl::StrAppend(&cc, "\n}  // namespace ", options_.cpp_namespace, "\n");
    return GeneratedCode{h, cc};
  }

 private:
  std::string IncludePath(const std::string& base) const {
    return options_.include_prefix.empty()
               ? base + ".h"
               : absl::StrCat(options_.include_prefix, "/", base, ".h");
  }

  std::string Banner() const {
    return absl::StrCat(
        "// Generated by codegen (//codegen:openapi_gen) from ", doc_.file,
        ".\n// DO NOT EDIT: change the schema and rebuild. Generated files are "
        "not\n// committed.\n");
  }

  std::string FileComment(const std::vector<const StructDef*>& structs,
                          const std::vector<const StructDef*>& clients) const {
    std::vector<std::string> roots;
    const StructDef* example = nullptr;
    for (const StructDef* def : structs) {
      if (def->parent == nullptr && def->list_of == nullptr)
        roots.push_back(def->name);
      if (example == nullptr && def->gvk.has_value() && def->list_of == nullptr)
        example = def;
    }
    if (example == nullptr && !structs.empty()) example = structs.back();
    std::string text = absl::StrCat(
        "C++ types for ",
        roots.empty() ? "nothing" : absl::StrJoin(roots, ", "), ".\n",
        "Each struct has std::optional members for optional fields; FromJson "
        "and ToJson "
        "(fields the struct does not model stay in unknown_fields and are "
        "written back); "
        "ApplyDefaults (the schema's defaults); Validate (required, enum, "
        "minimum, maximum, "
        "pattern, lengths, item counts: every violation with its field path).");
    if (!clients.empty()) {
      std::vector<std::string> names;
      names.reserve(clients.size());
      for (const StructDef* def : clients)
        names.push_back(def->name + "Client");
      absl::StrAppend(
          &text, " ", absl::StrJoin(names, ", "),
          " read and write them through a zenlead::client::Client: get, list, "
          "watch, create, update, update status, server-side apply, delete.");
    }
    std::string out = "//\n" + Comment(text, 0);
    if (example != nullptr) {
      const std::string& n = example->name;
      absl::StrAppend(&out, "//\n//   absl::StatusOr<", n, "> value = ", n,
                      "::FromJson(json);\n",
                      "//   if (!value.ok()) return value.status();  // names "
                      "the bad field\n",
                      "//   ApplyDefaults(*value);\n",
                      "//   absl::Status valid = Validate(*value);\n",
                      "//   nlohmann::json same = value->ToJson();   // "
                      "unknown fields too\n");
    }
    if (!clients.empty()) {
      const StructDef* c = clients.front();
      std::string var = SnakeCase(c->resource->plural);
      if (IsReserved(var)) var += "_client";
      absl::StrAppend(&out, "//\n//   ", c->name, "Client ", var,
                      "(client);  // a zenlead::client::Client\n",
                      "//   absl::StatusOr<", c->name, "> got = ", var, ".Get(",
                      c->resource->namespaced ? "\"default\", " : "",
                      "\"name\");\n");
    }
    return out;
  }

  std::string StructRef(const StructDef* def) const {
    if (def->cpp_namespace == options_.cpp_namespace) return def->name;
    return absl::StrCat(def->cpp_namespace, "::", def->name);
  }

  std::string CppType(const TypeRef& t) const {
    switch (t.kind) {
      case TypeRef::Kind::kString:
        return "std::string";
      case TypeRef::Kind::kInt32:
        return "int32_t";
      case TypeRef::Kind::kInt64:
        return "int64_t";
      case TypeRef::Kind::kDouble:
        return "double";
      case TypeRef::Kind::kBool:
        return "bool";
      case TypeRef::Kind::kIntOrString:
        return rt_ + "IntOrString";
      case TypeRef::Kind::kJson:
        return "nlohmann::json";
      case TypeRef::Kind::kStruct:
        return StructRef(t.def);
      case TypeRef::Kind::kVector:
        return absl::StrCat("std::vector<", CppType(*t.element), ">");
      case TypeRef::Kind::kMap:
        return absl::StrCat("std::map<std::string, ", CppType(*t.element), ">");
    }
    return "nlohmann::json";
  }

  // A C++ expression for the JSON value `v` as a `t`.
  std::string ValueExpr(const TypeRef& t, const nlohmann::json& v) const {
    switch (t.kind) {
      case TypeRef::Kind::kString:
        return CppStringLiteral(v.get<std::string>());
      case TypeRef::Kind::kInt32:
        return IntLiteral(v.get<int64_t>());
      case TypeRef::Kind::kInt64:
        return Int64Literal(v.get<int64_t>());
      case TypeRef::Kind::kDouble:
        return DoubleLiteral(v.get<double>());
      case TypeRef::Kind::kBool:
        return v.get<bool>() ? "true" : "false";
      case TypeRef::Kind::kIntOrString:
        return absl::StrCat(rt_, "IntOrString(",
                            v.is_string()
                                ? CppStringLiteral(v.get<std::string>())
                                : Int64Literal(v.get<int64_t>()),
                            ")");
      case TypeRef::Kind::kJson:
        return absl::StrCat("nlohmann::json::parse(",
                            CppStringLiteral(v.dump()), ")");
      case TypeRef::Kind::kStruct:
      case TypeRef::Kind::kVector:
      case TypeRef::Kind::kMap:
        if (v.empty()) return CppType(t) + "()";
        return absl::StrCat(rt_, "DefaultFromJson<", CppType(t), ">(",
                            CppStringLiteral(v.dump()), ")");
    }
    return "{}";
  }

  // "Minimum: 1. Maximum: 300." for one level of a type.
  std::string LevelFacts(const TypeRef& t) const {
    const Schema* s = t.schema;
    std::vector<std::string> facts;
    if (t.kind == TypeRef::Kind::kIntOrString)
      facts.push_back("An integer or a string.");
    if (t.kind == TypeRef::Kind::kJson) facts.push_back("Any JSON value.");
    if (s == nullptr) return absl::StrJoin(facts, " ");
    if (!s->enum_values.empty()) {
      facts.push_back(absl::StrCat("One of: ", JsonList(s->enum_values), "."));
    }
    auto bound = [&](const std::optional<double>& b, bool exclusive,
                     absl::string_view inclusive_word,
                     absl::string_view exclusive_word) {
      if (!b.has_value()) return;
      bool integer = t.kind != TypeRef::Kind::kDouble;
      facts.push_back(absl::StrCat(
          exclusive ? exclusive_word : inclusive_word, ": ",
          integer ? IntLiteral(static_cast<int64_t>(*b)) : DoubleLiteral(*b),
          "."));
    };
    bound(s->minimum, s->exclusive_minimum, "Minimum", "Greater than");
    bound(s->maximum, s->exclusive_maximum, "Maximum", "Less than");
    if (s->min_length)
      facts.push_back(
          absl::StrCat("At least ", *s->min_length, " characters."));
    if (s->max_length)
      facts.push_back(absl::StrCat("At most ", *s->max_length, " characters."));
    if (s->min_items)
      facts.push_back(absl::StrCat("At least ", *s->min_items, " items."));
    if (s->max_items)
      facts.push_back(absl::StrCat("At most ", *s->max_items, " items."));
    if (s->min_properties)
      facts.push_back(
          absl::StrCat("At least ", *s->min_properties, " entries."));
    if (s->max_properties)
      facts.push_back(
          absl::StrCat("At most ", *s->max_properties, " entries."));
    if (!s->list_map_keys.empty()) {
      facts.push_back(absl::StrCat("A list map keyed by ",
                                   absl::StrJoin(s->list_map_keys, ", "), "."));
    }
    if (s->format == "date-time") {
      facts.push_back("An RFC 3339 date-time (openapi::ParseDateTime).");
    } else if (s->format == "quantity") {
      facts.push_back("A quantity (openapi::ParseQuantityMilli).");
    } else if (!s->format.empty() && s->format != "int32" &&
               s->format != "int64" && s->format != "double" &&
               s->format != "float") {
      facts.push_back(absl::StrCat("Format: ", s->format, "."));
    }
    if (s->pattern) facts.push_back(absl::StrCat("Pattern: ", *s->pattern));
    return absl::StrJoin(facts, " ");
  }

  std::string FieldComment(const Field& f) const {
    std::vector<std::string> facts;
    if (f.required) facts.push_back("Required.");
    if (f.default_value.has_value()) {
      facts.push_back(absl::StrCat("Default: ", f.default_value->dump(), "."));
    }
    std::string level = LevelFacts(f.type);
    if (!level.empty()) facts.push_back(level);
    if (f.type.element != nullptr) {
      std::string inner = LevelFacts(*f.type.element);
      if (!inner.empty()) {
        facts.push_back(absl::StrCat(f.type.kind == TypeRef::Kind::kVector
                                         ? "Each item: "
                                         : "Each value: ",
                                     inner));
      }
    }
    std::string text = f.schema != nullptr ? f.schema->description : "";
    if (!facts.empty()) {
      if (!text.empty()) text += "\n";
      text += absl::StrJoin(facts, " ");
    }
    return Comment(text, 2);
  }

  void EmitEnumConstants(const StructDef& def, std::string& out) const {
    std::set<std::string> used;
    for (const Field& f : def.fields) {
      const TypeRef* level = &f.type;
      std::string stem = f.json_name;
      if (f.type.kind == TypeRef::Kind::kVector && f.type.element != nullptr) {
        level = f.type.element.get();
        stem = Singular(f.json_name);
      }
      if (level->kind != TypeRef::Kind::kString || level->schema == nullptr ||
          level->schema->enum_values.empty()) {
        continue;
      }
      absl::StrAppend(&out, "  // Values of ", f.member, ".\n");
      for (const nlohmann::json& v : level->schema->enum_values) {
        std::string name = absl::StrCat("k", PascalCase(stem),
                                        PascalCase(v.get<std::string>()));
        for (int n = 2; !used.insert(name).second; ++n) {
          name = absl::StrCat("k", PascalCase(stem),
                              PascalCase(v.get<std::string>()), n);
        }
        absl::StrAppend(&out, "  static constexpr char ", name,
                        "[] = ", CppStringLiteral(v.get<std::string>()), ";\n");
      }
    }
  }

  void EmitStruct(const StructDef& def, std::string& out) const {
    std::string text = def.description;
    if (def.schema != nullptr && !def.schema->validations.empty()) {
      if (!text.empty()) text += "\n\n";
      text +=
          "The API server also checks these CEL rules (Validate() does not):";
      for (const CelRule& rule : def.schema->validations) {
        absl::StrAppend(
            &text, "\n- ", rule.rule,
            rule.message.empty() ? "" : " (\"" + rule.message + "\")");
      }
    }
    out += "\n";
    out += Comment(text, 0);
    absl::StrAppend(&out, "struct ", def.name, " {\n");
    bool constants = false;
    if (def.gvk.has_value()) {
      absl::StrAppend(&out, "  static constexpr char kApiVersion[] = \"",
                      def.gvk->ApiVersion(),
                      "\";\n  static constexpr char kKind[] = \"",
                      def.gvk->kind, "\";\n");
      constants = true;
    }
    std::string enums;
    EmitEnumConstants(def, enums);
    if (!enums.empty()) {
      if (constants) out += "\n";
      out += enums;
      constants = true;
    }
    for (size_t i = 0; i < def.fields.size(); ++i) {
      const Field& f = def.fields[i];
      if (constants || i > 0) out += "\n";
      out += FieldComment(f);
      std::string type = CppType(f.type);
      if (!f.required) {
        absl::StrAppend(&out, "  std::optional<", type, "> ", f.member, ";\n");
        continue;
      }
      std::string init;
      const bool scalar = f.type.kind != TypeRef::Kind::kStruct &&
                          f.type.kind != TypeRef::Kind::kVector &&
                          f.type.kind != TypeRef::Kind::kMap &&
                          f.type.kind != TypeRef::Kind::kJson;
      if (scalar && f.default_value.has_value()) {
        init = " = " + ValueExpr(f.type, *f.default_value);
      } else if (f.type.kind == TypeRef::Kind::kInt32 ||
                 f.type.kind == TypeRef::Kind::kInt64 ||
                 f.type.kind == TypeRef::Kind::kDouble) {
        init = " = 0";
      } else if (f.type.kind == TypeRef::Kind::kBool) {
        init = " = false";
      }
      absl::StrAppend(&out, "  ", type, " ", f.member, init, ";\n");
    }
    absl::StrAppend(
        &out,
        "\n  // JSON fields this struct does not model; ToJson() writes them "
        "back.\n",
        "  nlohmann::json unknown_fields = nlohmann::json::object();\n\n",
        "  static absl::StatusOr<", def.name,
        "> FromJson(const nlohmann::json& json);\n",
        "  nlohmann::json ToJson() const;\n};\n\n", "bool operator==(const ",
        def.name, "& a, const ", def.name, "& b);\n",
        "inline bool operator!=(const ", def.name, "& a, const ", def.name,
        "& b) {\n  return !(a == b);\n}\n", "void ApplyDefaults(", def.name,
        "& value);\n", "absl::Status Validate(const ", def.name, "& value);\n");
  }

  bool StructHasChecks(const StructDef* def) const {
    if (def->imported) return true;
    auto it = struct_checks_.find(def);
    if (it != struct_checks_.end()) return it->second;
    struct_checks_[def] = false;  // no recursion: the model has none
    bool any = false;
    for (const Field& f : def->fields) any = any || HasChecks(f.type);
    struct_checks_[def] = any;
    return any;
  }

  bool HasStringChecks(const Schema* s) const {
    return s != nullptr &&
           (!s->enum_values.empty() || s->pattern || s->min_length ||
            s->max_length || s->format == "date-time");
  }

  bool HasNumberChecks(const Schema* s) const {
    return s != nullptr &&
           (!s->enum_values.empty() || s->minimum || s->maximum);
  }

  bool HasChecks(const TypeRef& t) const {
    const Schema* s = t.schema;
    switch (t.kind) {
      case TypeRef::Kind::kStruct:
        return StructHasChecks(t.def);
      case TypeRef::Kind::kVector:
        return (s != nullptr &&
                (s->min_items || s->max_items || !s->list_map_keys.empty())) ||
               HasChecks(*t.element);
      case TypeRef::Kind::kMap:
        return (s != nullptr && (s->min_properties || s->max_properties)) ||
               HasChecks(*t.element);
      case TypeRef::Kind::kString:
        return HasStringChecks(s);
      case TypeRef::Kind::kInt32:
      case TypeRef::Kind::kInt64:
      case TypeRef::Kind::kDouble:
        return HasNumberChecks(s);
      case TypeRef::Kind::kIntOrString:
        return HasStringChecks(s) || HasNumberChecks(s);
      case TypeRef::Kind::kBool:
      case TypeRef::Kind::kJson:
        return false;
    }
    return false;
  }

  std::string PatternCall(const std::string& pattern) {
    for (size_t i = 0; i < patterns_.size(); ++i) {
      if (patterns_[i] == pattern) return absl::StrCat("Pattern", i + 1, "()");
    }
    patterns_.push_back(pattern);
    return absl::StrCat("Pattern", patterns_.size(), "()");
  }

  void EmitStringChecks(const Schema& s, const std::string& value,
                        const std::string& path, int indent, std::string& out) {
    if (!s.enum_values.empty()) {
      std::vector<std::string> quoted;
      for (const nlohmann::json& v : s.enum_values) {
        quoted.push_back(CppStringLiteral(v.get<std::string>()));
      }
      out +=
          Call(indent, rt_ + "CheckEnum",
               {path, value, "{" + absl::StrJoin(quoted, ", ") + "}", "errors"},
               ";");
    }
    if (s.min_length) {
      out += Call(indent, rt_ + "CheckMinLength",
                  {path, value, absl::StrCat(*s.min_length), "errors"}, ";");
    }
    if (s.max_length) {
      out += Call(indent, rt_ + "CheckMaxLength",
                  {path, value, absl::StrCat(*s.max_length), "errors"}, ";");
    }
    if (s.pattern) {
      out += Call(indent, rt_ + "CheckPattern",
                  {path, value, PatternCall(*s.pattern), "errors"}, ";");
    }
    if (s.format == "date-time") {
      out += Call(indent, rt_ + "CheckDateTime", {path, value, "errors"}, ";");
    }
  }

  void EmitNumberChecks(const Schema& s, bool integer, const std::string& value,
                        const std::string& path, int indent, std::string& out) {
    const std::string v =
        integer ? absl::StrCat("int64_t{", value, "}") : value;
    if (!s.enum_values.empty() && integer) {
      out +=
          Call(indent, rt_ + "CheckEnum",
               {path, v, "{" + JsonList(s.enum_values) + "}", "errors"}, ";");
    }
    auto bound = [&](const std::optional<double>& b, bool exclusive,
                     const char* fn) {
      if (!b.has_value()) return;
      out += Call(
          indent, rt_ + fn,
          {path, v,
           integer ? Int64Literal(static_cast<int64_t>(*b)) : DoubleLiteral(*b),
           exclusive ? "/*exclusive=*/true" : "/*exclusive=*/false", "errors"},
          ";");
    };
    bound(s.minimum, s.exclusive_minimum, "CheckMinimum");
    bound(s.maximum, s.exclusive_maximum, "CheckMaximum");
  }

  // Checks of `value` (an expression of type `t`) whose field path is the
  // std::string variable `path`.
  void EmitChecks(const TypeRef& t, const std::string& value,
                  const std::string& path, int indent, int depth,
                  std::string& out) {
    const std::string pad = Pad(indent);
    const Schema* s = t.schema;
    switch (t.kind) {
      case TypeRef::Kind::kStruct:
        out += Call(indent, "ValidateAt", {value, path, "errors"}, ";");
        return;
      case TypeRef::Kind::kString:
        EmitStringChecks(*s, value, path, indent, out);
        return;
      case TypeRef::Kind::kInt32:
      case TypeRef::Kind::kInt64:
      case TypeRef::Kind::kDouble:
        EmitNumberChecks(*s, t.kind != TypeRef::Kind::kDouble, value, path,
                         indent, out);
        return;
      case TypeRef::Kind::kIntOrString:
        if (HasStringChecks(s)) {
          absl::StrAppend(&out, pad, "if (", value, ".is_string()) {\n");
          EmitStringChecks(*s, value + ".string_value()", path, indent + 2,
                           out);
          absl::StrAppend(&out, pad, "}\n");
        }
        if (s->minimum || s->maximum) {
          absl::StrAppend(&out, pad, "if (", value, ".is_int()) {\n");
          Schema numeric;
          numeric.minimum = s->minimum;
          numeric.maximum = s->maximum;
          numeric.exclusive_minimum = s->exclusive_minimum;
          numeric.exclusive_maximum = s->exclusive_maximum;
          EmitNumberChecks(numeric, true, value + ".int_value()", path,
                           indent + 2, out);
          absl::StrAppend(&out, pad, "}\n");
        }
        return;
      case TypeRef::Kind::kVector: {
        if (s != nullptr && s->min_items) {
          out += Call(
              indent, rt_ + "CheckMinItems",
              {path, value + ".size()", absl::StrCat(*s->min_items), "errors"},
              ";");
        }
        if (s != nullptr && s->max_items) {
          out += Call(
              indent, rt_ + "CheckMaxItems",
              {path, value + ".size()", absl::StrCat(*s->max_items), "errors"},
              ";");
        }
        if (s != nullptr && !s->list_map_keys.empty()) {
          std::vector<std::string> keys;
          for (const std::string& k : s->list_map_keys) {
            keys.push_back(CppStringLiteral(k));
          }
          out += Call(
              indent, rt_ + "CheckListMapKeys",
              {path, value, "{" + absl::StrJoin(keys, ", ") + "}", "errors"},
              ";");
        }
        if (!HasChecks(*t.element)) return;
        const std::string suffix = depth == 0 ? "" : absl::StrCat(depth + 1);
        const std::string i = "i" + suffix;
        const std::string item = "item" + suffix;
        const std::string item_path = "item_path" + suffix;
        absl::StrAppend(&out, pad, "for (size_t ", i, " = 0; ", i, " < ", value,
                        ".size(); ++", i, ") {\n");
        absl::StrAppend(&out, pad, "  const auto& ", item, " = ", value, "[", i,
                        "];\n");
        absl::StrAppend(&out, pad, "  const std::string ", item_path, " = ",
                        rt_, "Index(", path, ", ", i, ");\n");
        EmitChecks(*t.element, item, item_path, indent + 2, depth + 1, out);
        absl::StrAppend(&out, pad, "}\n");
        return;
      }
      case TypeRef::Kind::kMap: {
        if (s != nullptr && s->min_properties) {
          out += Call(indent, rt_ + "CheckMinProperties",
                      {path, value + ".size()",
                       absl::StrCat(*s->min_properties), "errors"},
                      ";");
        }
        if (s != nullptr && s->max_properties) {
          out += Call(indent, rt_ + "CheckMaxProperties",
                      {path, value + ".size()",
                       absl::StrCat(*s->max_properties), "errors"},
                      ";");
        }
        if (!HasChecks(*t.element)) return;
        const std::string suffix = depth == 0 ? "" : absl::StrCat(depth + 1);
        const std::string key = "key" + suffix;
        const std::string item = "item" + suffix;
        const std::string item_path = "item_path" + suffix;
        absl::StrAppend(&out, pad, "for (const auto& [", key, ", ", item,
                        "] : ", value, ") {\n");
        absl::StrAppend(&out, pad, "  const std::string ", item_path, " = ",
                        rt_, "Key(", path, ", ", key, ");\n");
        EmitChecks(*t.element, item, item_path, indent + 2, depth + 1, out);
        absl::StrAppend(&out, pad, "}\n");
        return;
      }
      case TypeRef::Kind::kBool:
      case TypeRef::Kind::kJson:
        return;
    }
  }

  void EmitStructImpl(const StructDef& def, std::string& out) {
    const std::string& n = def.name;
    absl::StrAppend(&out, "\n// ", n, "\n\n");
    absl::StrAppend(
        &out, "absl::StatusOr<", n, "> ", n,
        "::FromJson(const nlohmann::json& json) {\n", "  ", n, " value;\n",
        "  absl::Status status = DecodeJson(json, \"\", value);\n",
        "  if (!status.ok()) return status;\n", "  return value;\n}\n\n");
    absl::StrAppend(&out, "nlohmann::json ", n,
                    "::ToJson() const { return EncodeJson(*this); }\n\n");

    // DecodeJson.
    absl::StrAppend(&out,
                    "absl::Status DecodeJson(const nlohmann::json& json, const "
                    "std::string& path,\n",
                    "                        ", n, "& out) {\n", "  ", rt_,
                    "ObjectDecoder decoder(json, path);\n");
    for (const Field& f : def.fields) {
      absl::StrAppend(&out, "  decoder.", f.required ? "Required" : "Optional",
                      "(", CppStringLiteral(f.json_name), ", out.", f.member,
                      ");\n");
    }
    absl::StrAppend(&out,
                    "  return decoder.Finish(out.unknown_fields);\n}\n\n");

    // EncodeJson.
    absl::StrAppend(&out, "nlohmann::json EncodeJson(const ", n, "& value) {\n",
                    "  ", rt_,
                    "ObjectEncoder encoder(value.unknown_fields);\n");
    for (const Field& f : def.fields) {
      absl::StrAppend(&out, "  encoder.", f.required ? "Required" : "Optional",
                      "(", CppStringLiteral(f.json_name), ", value.", f.member,
                      ");\n");
    }
    absl::StrAppend(&out, "  return encoder.Finish();\n}\n\n");

    // operator==.
    absl::StrAppend(&out, "bool operator==(const ", n, "& a, const ", n,
                    "& b) {\n  return ");
    for (const Field& f : def.fields) {
      absl::StrAppend(&out, "a.", f.member, " == b.", f.member,
                      " &&\n         ");
    }
    absl::StrAppend(&out, "a.unknown_fields == b.unknown_fields;\n}\n\n");

    // ApplyDefaults.
    std::string defaults;
    for (const Field& f : def.fields) {
      if (!f.required && f.default_value.has_value()) {
        const std::string condition =
            absl::StrCat("  if (!value.", f.member, ".has_value())");
        const std::string assignment =
            absl::StrCat("value.", f.member, " = ",
                         ValueExpr(f.type, *f.default_value), ";");
        if (condition.size() + 1 + assignment.size() <= 80) {
          absl::StrAppend(&defaults, condition, " ", assignment, "\n");
        } else {
          absl::StrAppend(&defaults, condition, " {\n    ", assignment,
                          "\n  }\n");
        }
      }
      if (f.type.ContainsStruct()) {
        absl::StrAppend(&defaults, "  ", rt_, "ApplyDefaultsTo(value.",
                        f.member, ");\n");
      }
    }
    if (defaults.empty()) {
      absl::StrAppend(&out, "void ApplyDefaults(", n,
                      "& /*value*/) {\n  // No defaults in ", n, ".\n}\n\n");
    } else {
      absl::StrAppend(&out, "void ApplyDefaults(", n, "& value) {\n", defaults,
                      "}\n\n");
    }

    // ValidateAt.
    std::string checks;
    for (const Field& f : def.fields) {
      if (!HasChecks(f.type)) continue;
      const std::string json_name = CppStringLiteral(f.json_name);
      const std::string child =
          absl::StrCat(rt_, "Child(path, ", json_name, ")");
      const std::string member = "value." + f.member;
      if (f.type.kind == TypeRef::Kind::kStruct) {
        if (f.required) {
          checks += Call(2, "ValidateAt", {member, child, "errors"}, ";");
        } else {
          absl::StrAppend(&checks, "  if (", member, ".has_value()) {\n");
          checks += Call(4, "ValidateAt", {"*" + member, child, "errors"}, ";");
          checks += "  }\n";
        }
        continue;
      }
      absl::StrAppend(&checks, f.required ? "  {\n"
                                          : absl::StrCat("  if (", member,
                                                         ".has_value()) {\n"));
      absl::StrAppend(&checks, "    const std::string field_path = ", child,
                      ";\n");
      if (!f.required) {
        absl::StrAppend(&checks, "    const auto& field = *", member, ";\n");
      }
      EmitChecks(f.type, f.required ? member : "field", "field_path", 4, 0,
                 checks);
      checks += "  }\n";
    }
    if (checks.empty()) {
      absl::StrAppend(
          &out, "void ValidateAt(const ", n,
          "& /*value*/, const std::string& /*path*/,\n", "                ",
          rt_, "Errors& /*errors*/) {\n  // No rules in ", n, ".\n}\n\n");
    } else {
      absl::StrAppend(&out, "void ValidateAt(const ", n,
                      "& value, const std::string& path,\n", "                ",
                      rt_, "Errors& errors) {\n", checks, "}\n\n");
    }
    absl::StrAppend(&out, "absl::Status Validate(const ", n, "& value) {\n",
                    "  ", rt_, "Errors errors;\n",
                    "  ValidateAt(value, \"\", errors);\n", "  return ", rt_,
                    "JoinErrors(errors);\n}\n");
  }

  // The namespace parameter of a client method ("absl::string_view ns"), if
  // the resource is namespaced, followed by `rest`.
  std::vector<std::string> Params(const StructDef& def,
                                  std::vector<std::string> rest) const {
    if (def.resource->namespaced)
      rest.insert(rest.begin(), "absl::string_view ns");
    return rest;
  }
  std::string NsArg(const StructDef& def) const {
    return def.resource->namespaced ? "ns" : "\"\"";
  }

  void EmitClientDecl(const StructDef& def, std::string& out) const {
    const std::string& n = def.name;
    const std::string list = def.list->name;
    const ResourceInfo& r = *def.resource;
    const std::string object = absl::StrCat("const ", n, "& object");
    absl::StrAppend(
        &out, "\n// One event of ", n, "Client::Watch. For kBookmark only\n",
        "// object.metadata.resourceVersion is set.\n", "struct ", n,
        "WatchEvent {\n", "  ", cl_, "WatchEvent::Type type = ", cl_,
        "WatchEvent::Type::kAdded;\n", "  ", n, " object;\n};\n");
    std::string summary = absl::StrCat(
        "Typed access to ", r.plural, " (", def.gvk->ApiVersion(), ", ",
        r.namespaced ? "namespaced" : "cluster-scoped",
        ") over a zenlead::client::Client, which it does not own. API errors "
        "pass through unchanged (client::IsNotFound and friends work); an "
        "answer that does not decode is an InternalError naming the field.");
    out += "\n" + Comment(summary, 0);
    std::string var = SnakeCase(r.plural);
    if (IsReserved(var)) var += "_client";
    absl::StrAppend(&out, "//\n//   ", n, "Client ", var, "(client);\n",
                    "//   absl::StatusOr<", n, "> got = ", var, ".Get(",
                    r.namespaced ? "\"default\", " : "", "\"name\");\n");
    absl::StrAppend(&out, "class ", n, "Client {\n public:\n");
    out += Call(2, absl::StrCat("explicit ", n, "Client"),
                {cl_ + "Client& client"}, " : client_(&client) {}");
    absl::StrAppend(&out, "\n  // ", r.plural, " in ", def.gvk->ApiVersion(),
                    ".\n  static const ", cl_, "Resource& Resource();\n\n");
    const std::string typed = absl::StrCat("absl::StatusOr<", n, "> ");
    const std::string typed_list = absl::StrCat("absl::StatusOr<", list, "> ");
    out += Call(2, typed + "Get", Params(def, {"absl::string_view name"}),
                " const;");
    out += "  // One page, or everything when options.limit is 0.\n";
    out += Call(
        2, typed_list + "List",
        Params(def, {absl::StrCat("const ", cl_, "ListOptions& options = {}")}),
        " const;");
    out += "  // Every page (follows continue tokens).\n";
    out += Call(
        2, typed_list + "ListAll",
        Params(def, {absl::StrCat("const ", cl_, "ListOptions& options = {}")}),
        " const;");
    out +=
        "  // Calls handler for each event until it returns false or the "
        "server\n"
        "  // ends the watch (OK; re-watch from the last resourceVersion). An\n"
        "  // ERROR event ends it with its status (client::IsGone: relist).\n";
    out +=
        Call(2, "absl::Status Watch",
             Params(def, {absl::StrCat("const ", cl_, "WatchOptions& options"),
                          absl::StrCat("const std::function<bool(const ", n,
                                       "WatchEvent&)>& handler")}),
             " const;");
    out += "  // apiVersion and kind are filled in.\n";
    out += Call(2, typed + "Create", Params(def, {object}), " const;");
    out += "  // PUT; metadata.resourceVersion makes it conditional.\n";
    out += Call(2, typed + "Update", Params(def, {object}), " const;");
    if (r.status_subresource) {
      out += "  // PUT to the status subresource.\n";
      out += Call(2, typed + "UpdateStatus", Params(def, {object}), " const;");
    }
    out +=
        "  // Server-side apply of the fields set in `object` (metadata.name "
        "is\n"
        "  // required); options.field_manager defaults to \"zen-lead\".\n";
    const std::string apply_options =
        absl::StrCat("const ", cl_, "ApplyOptions& options = {}");
    out += Call(2, typed + "Apply", Params(def, {object, apply_options}),
                " const;");
    if (r.status_subresource) {
      out += "  // Server-side apply to the status subresource.\n";
      out += Call(2, typed + "ApplyStatus",
                  Params(def, {object, apply_options}), " const;");
    }
    out += Call(2, "absl::Status Delete",
                Params(def, {"absl::string_view name",
                             absl::StrCat("const ", cl_,
                                          "DeleteOptions& options = {}")}),
                " const;");
    absl::StrAppend(&out, "\n private:\n  ", cl_, "Client* client_;\n};\n");
  }

  void EmitClientImpl(const StructDef& def, std::string& out) const {
    const std::string& n = def.name;
    const std::string c = n + "Client";
    const std::string list = def.list->name;
    const std::string ns = NsArg(def);
    const ResourceInfo& r = *def.resource;
    const std::string object = absl::StrCat("const ", n, "& object");
    const std::string typed = absl::StrCat("absl::StatusOr<", n, "> ", c, "::");
    const std::string typed_list =
        absl::StrCat("absl::StatusOr<", list, "> ", c, "::");
    // return DecodeAnswer<type>(call, "type");
    auto decode = [&](const std::string& type, const std::string& call) {
      return Call(2, absl::StrCat("return ", rt_, "DecodeAnswer<", type, ">"),
                  {call, CppStringLiteral(type)}, ";");
    };
    const std::string body = absl::StrCat(rt_, "WithTypeMeta(object.ToJson(), ",
                                          n, "::kApiVersion, ", n, "::kKind)");

    absl::StrAppend(&out, "\n// ", c, "\n\n");
    absl::StrAppend(
        &out, "const ", cl_, "Resource& ", c, "::Resource() {\n",
        "  static const ", cl_, "Resource* const resource =\n", "      new ",
        cl_, "Resource{", CppStringLiteral(def.gvk->group), ", ",
        CppStringLiteral(def.gvk->version), ", ", CppStringLiteral(r.plural),
        ", ", r.namespaced ? "/*namespaced=*/true" : "/*namespaced=*/false",
        "};\n  return *resource;\n}\n\n");
    out += Call(0, typed + "Get", Params(def, {"absl::string_view name"}),
                " const {");
    out += decode(n, absl::StrCat("client_->Get(Resource(), ", ns, ", name)"));
    out += "}\n\n";
    out +=
        Call(0, typed_list + "List",
             Params(def, {absl::StrCat("const ", cl_, "ListOptions& options")}),
             " const {");
    out += decode(list,
                  absl::StrCat("client_->List(Resource(), ", ns, ", options)"));
    out += "}\n\n";
    out +=
        Call(0, typed_list + "ListAll",
             Params(def, {absl::StrCat("const ", cl_, "ListOptions& options")}),
             " const {");
    out += decode(list, absl::StrCat(cl_, "ListAll(*client_, Resource(), ", ns,
                                     ", options)"));
    out += "}\n\n";
    out +=
        Call(0, absl::StrCat("absl::Status ", c, "::Watch"),
             Params(def, {absl::StrCat("const ", cl_, "WatchOptions& options"),
                          absl::StrCat("const std::function<bool(const ", n,
                                       "WatchEvent&)>& handler")}),
             " const {");
    out +=
        Call(2, absl::StrCat("return ", rt_, "TypedWatch<", n, "WatchEvent>"),
             {"*client_", "Resource()", ns, "options", CppStringLiteral(n),
              "handler"},
             ";");
    out += "}\n\n";
    auto write = [&](const std::string& method, const std::string& verb) {
      out += Call(0, typed + method, Params(def, {object}), " const {");
      absl::StrAppend(&out, "  const nlohmann::json body =\n      ", body,
                      ";\n");
      out += decode(
          n, absl::StrCat("client_->", verb, "(Resource(), ", ns, ", body)"));
      out += "}\n\n";
    };
    write("Create", "Create");
    write("Update", "Update");
    if (r.status_subresource) write("UpdateStatus", "UpdateStatus");
    auto apply = [&](const std::string& method,
                     const std::string& subresource) {
      out += Call(0, typed + method,
                  Params(def, {object, absl::StrCat("const ", cl_,
                                                    "ApplyOptions& options")}),
                  " const {");
      absl::StrAppend(&out, "  const nlohmann::json body =\n      ", body,
                      ";\n");
      out += Call(2, "absl::StatusOr<std::string> name = " + rt_ + "NameOf",
                  {"body", "\"apply\"", CppStringLiteral(n)}, ";");
      out += "  if (!name.ok()) return name.status();\n";
      out +=
          decode(n, absl::StrCat("client_->Apply(Resource(), ", ns,
                                 ", *name, body, options", subresource, ")"));
      out += "}\n\n";
    };
    apply("Apply", "");
    if (r.status_subresource) apply("ApplyStatus", ", \"status\"");
    out += Call(
        0, absl::StrCat("absl::Status ", c, "::Delete"),
        Params(def, {"absl::string_view name",
                     absl::StrCat("const ", cl_, "DeleteOptions& options")}),
        " const {");
    absl::StrAppend(&out, "  return client_->Delete(Resource(), ", ns,
                    ", name, options);\n}\n");
  }

  const Model& model_;
  const Document& doc_;
  const std::string base_;
  const std::map<const Document*, std::string>& headers_;
  const EmitOptions& options_;
  const std::string rt_;
  const std::string cl_;
  std::vector<std::string> patterns_;
  mutable std::map<const StructDef*, bool> struct_checks_;
};

}  // namespace

GeneratedCode Emit(const Model& model, const Document& doc,
                   const std::string& base,
                   const std::map<const Document*, std::string>& headers,
                   const EmitOptions& options) {
  return Emitter(model, doc, base, headers, options).Run();
}

}  // namespace zenlead::codegen
