#include "codegen/model.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "codegen/names.h"

namespace zenlead::codegen {
namespace {

#define MODEL_RETURN_IF_ERROR(expr)    \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (0)

// "a/./b/../c.yaml" -> "a/c.yaml".
std::string NormalizePath(absl::string_view path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == ".." && !parts.empty() && parts.back() != "..") {
      parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  std::string out = absl::StrJoin(parts, "/");
  return absl::StartsWith(path, "/") ? "/" + out : out;
}

std::string DirName(absl::string_view path) {
  size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? ""
                                          : std::string(path.substr(0, slash));
}

// Where a nested object sits in its parent: its type name comes from that.
enum class Role { kProperty, kItem, kValue, kAlias };

bool IsStructSchema(const Schema& s) {
  return s.ref.empty() && !s.int_or_string && s.type == Schema::Type::kObject &&
         !s.properties.empty();
}

// Functions every generated namespace declares; no type may take their name.
const std::set<std::string>& ReservedTypeNames() {
  static const std::set<std::string>* const kNames = new std::set<std::string>{
      "Validate", "ValidateAt", "ApplyDefaults", "DecodeJson", "EncodeJson"};
  return *kNames;
}

// Property names that say nothing on their own: their types are named after
// the enclosing type (LeaderPolicySpec, not Spec).
bool IsGenericPropertyName(absl::string_view name) {
  return name == "spec" || name == "status" || name == "metadata";
}

}  // namespace

bool TypeRef::ContainsStruct() const {
  if (kind == Kind::kStruct) return true;
  return element != nullptr && element->ContainsStruct();
}

class ModelBuilder {
 public:
  ModelBuilder(const std::vector<Document>& inputs, std::string cpp_namespace,
               const std::vector<ImportedDocument>& imports)
      : inputs_(inputs),
        namespace_(std::move(cpp_namespace)),
        imports_(imports),
        model_(new Model()) {}

  absl::StatusOr<std::unique_ptr<Model>> Build() {
    MODEL_RETURN_IF_ERROR(RegisterNamedTypes());
    for (size_t i = 0; i < model_->structs_.size(); ++i) {
      StructDef* def = model_->structs_[i].get();
      if (def->imported || def->schema == nullptr || def->parent != nullptr) {
        continue;
      }
      if (!named_fields_built_.insert(def).second) continue;
      MODEL_RETURN_IF_ERROR(BuildFields(*def, *def->schema, *def->doc));
    }
    MODEL_RETURN_IF_ERROR(AssignNames());
    MODEL_RETURN_IF_ERROR(AddLists());
    MODEL_RETURN_IF_ERROR(AssignMembers());
    MODEL_RETURN_IF_ERROR(CheckValues());
    MODEL_RETURN_IF_ERROR(Order());
    return std::move(model_);
  }

 private:
  struct Named {
    const Document* doc = nullptr;
    const TypeDecl* decl = nullptr;
    StructDef* def = nullptr;  // null for named non-object types
  };

  StructDef* NewStruct() {
    model_->structs_.push_back(std::make_unique<StructDef>());
    return model_->structs_.back().get();
  }

  absl::Status RegisterNamedTypes() {
    auto add = [&](const Document& doc, bool imported,
                   const std::string& ns) -> absl::Status {
      all_docs_.push_back(&doc);
      for (const TypeDecl& decl : doc.types) {
        Named named{&doc, &decl, nullptr};
        if (IsStructSchema(*decl.schema)) {
          StructDef* def = NewStruct();
          def->name = decl.name;
          def->short_name = decl.name;
          def->fixed_name = true;
          def->cpp_namespace = ns;
          def->doc = &doc;
          def->imported = imported;
          def->schema = decl.schema.get();
          def->description = decl.schema->description;
          def->gvk = decl.gvk;
          def->resource = decl.resource;
          def->at = decl.at;
          named.def = def;
        } else if (decl.resource.has_value()) {
          return SchemaError(decl.at,
                             "a kind with a resource must be an object with "
                             "properties");
        }
        named_[{&doc, decl.name}] = named;
      }
      return absl::OkStatus();
    };
    for (const ImportedDocument& imp : imports_) {
      MODEL_RETURN_IF_ERROR(add(imp.doc, true, imp.cpp_namespace));
      model_->imported_headers_[&imp.doc] = imp.header;
    }
    for (const Document& doc : inputs_) {
      MODEL_RETURN_IF_ERROR(add(doc, false, namespace_));
      input_docs_.insert(&doc);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Named> FindRef(const Schema& s, const Document& from) {
    const std::string& ref = s.ref;
    size_t hash = ref.find('#');
    std::string file_part =
        hash == std::string::npos ? ref : ref.substr(0, hash);
    std::string fragment =
        hash == std::string::npos ? "" : ref.substr(hash + 1);
    if (fragment.size() < 2 || fragment[0] != '/' ||
        fragment.find('/', 1) != std::string::npos) {
      return SchemaError(
          s.ref_at,
          absl::StrCat("$ref \"", ref,
                       "\" is not supported: write \"#/TypeName\" for a type "
                       "in the same file or \"other.yaml#/TypeName\""));
    }
    std::string type_name = fragment.substr(1);
    const Document* target = &from;
    if (!file_part.empty()) {
      std::string wanted =
          absl::StartsWith(file_part, "/")
              ? NormalizePath(file_part)
              : NormalizePath(absl::StrCat(DirName(from.file), "/", file_part));
      target = nullptr;
      for (const Document* doc : all_docs_) {
        if (NormalizePath(doc->file) == wanted) target = doc;
      }
      if (target == nullptr) {
        return SchemaError(
            s.ref_at, absl::StrCat("$ref \"", ref, "\": ", wanted,
                                   " is not among the generator's inputs or "
                                   "imports"));
      }
    }
    auto it = named_.find({target, type_name});
    if (it == named_.end()) {
      return SchemaError(s.ref_at,
                         absl::StrCat("$ref \"", ref, "\": no type ", type_name,
                                      " in ", target->file));
    }
    return it->second;
  }

  absl::StatusOr<TypeRef> Resolve(const Schema& s, const Document& doc,
                                  StructDef* parent, const std::string& prop,
                                  Role role) {
    if (!s.ref.empty()) {
      absl::StatusOr<Named> named = FindRef(s, doc);
      if (!named.ok()) return named.status();
      if (named->def != nullptr) {
        TypeRef t;
        t.kind = TypeRef::Kind::kStruct;
        t.def = named->def;
        return t;
      }
      auto cached = alias_cache_.find(named->decl);
      if (cached != alias_cache_.end()) return cached->second;
      if (!resolving_.insert(named->decl).second) {
        return SchemaError(
            s.ref_at, absl::StrCat("$ref \"", s.ref, "\" refers to itself"));
      }
      absl::StatusOr<TypeRef> t =
          Resolve(*named->decl->schema, *named->doc, nullptr, named->decl->name,
                  Role::kAlias);
      resolving_.erase(named->decl);
      if (!t.ok()) return t.status();
      alias_cache_[named->decl] = *t;
      return t;
    }
    TypeRef t;
    t.schema = &s;
    if (s.int_or_string) {
      t.kind = TypeRef::Kind::kIntOrString;
      return t;
    }
    switch (s.type) {
      case Schema::Type::kNone:
        t.kind = TypeRef::Kind::kJson;
        return t;
      case Schema::Type::kString:
        t.kind = TypeRef::Kind::kString;
        return t;
      case Schema::Type::kInteger:
        t.kind =
            s.format == "int32" ? TypeRef::Kind::kInt32 : TypeRef::Kind::kInt64;
        return t;
      case Schema::Type::kNumber:
        t.kind = TypeRef::Kind::kDouble;
        return t;
      case Schema::Type::kBoolean:
        t.kind = TypeRef::Kind::kBool;
        return t;
      case Schema::Type::kArray: {
        absl::StatusOr<TypeRef> item =
            Resolve(*s.items, doc, parent, prop, Role::kItem);
        if (!item.ok()) return item.status();
        t.kind = TypeRef::Kind::kVector;
        t.element = std::make_shared<TypeRef>(*item);
        return t;
      }
      case Schema::Type::kObject:
        break;
    }
    if (s.additional_properties) {
      absl::StatusOr<TypeRef> value =
          Resolve(*s.additional_properties, doc, parent, prop, Role::kValue);
      if (!value.ok()) return value.status();
      t.kind = TypeRef::Kind::kMap;
      t.element = std::make_shared<TypeRef>(*value);
      return t;
    }
    if (s.properties.empty()) {
      t.kind = TypeRef::Kind::kJson;
      return t;
    }
    if (input_docs_.count(&doc) == 0) {
      return SchemaError(s.at,
                         "an inline object inside a named non-object type of "
                         "an imported file cannot be used; give it a name");
    }
    StructDef* def = NewStruct();
    def->cpp_namespace = namespace_;
    def->doc = &doc;
    def->schema = &s;
    def->description = s.description;
    def->parent = parent;
    def->at = s.at;
    if (!s.type_name.empty()) {
      def->short_name = s.type_name;
      def->fixed_name = true;
    } else if (!s.title.empty()) {
      def->short_name = PascalCase(s.title);
      def->fixed_name = true;
    } else if (role == Role::kItem) {
      std::string singular = Singular(prop);
      def->short_name = PascalCase(singular == prop ? prop + "Item" : singular);
    } else if (role == Role::kValue) {
      def->short_name = PascalCase(prop) + "Value";
    } else {
      def->short_name = PascalCase(prop);
    }
    def->qualified = !def->fixed_name && parent != nullptr &&
                     role == Role::kProperty && IsGenericPropertyName(prop);
    MODEL_RETURN_IF_ERROR(BuildFields(*def, s, doc));
    t.kind = TypeRef::Kind::kStruct;
    t.def = def;
    t.schema = nullptr;
    return t;
  }

  // The named struct `name` in any document, for CRD metadata and lists.
  absl::StatusOr<StructDef*> FindWellKnown(const std::string& name,
                                           const Location& at) {
    StructDef* found = nullptr;
    for (const auto& [key, named] : named_) {
      if (key.second != name || named.def == nullptr) continue;
      if (found != nullptr) {
        return SchemaError(
            at, absl::StrCat("two types named ", name, " are available (",
                             found->doc->file, ", ", named.doc->file,
                             "); import only one"));
      }
      found = named.def;
    }
    return found;
  }

  absl::Status BuildFields(StructDef& def, const Schema& s,
                           const Document& doc) {
    for (const Property& p : s.properties) {
      Field f;
      f.json_name = p.name;
      f.required = s.IsRequired(p.name);
      f.schema = p.schema.get();
      absl::StatusOr<TypeRef> type =
          Resolve(*p.schema, doc, &def, p.name, Role::kProperty);
      if (!type.ok()) return type.status();
      f.type = *type;
      f.default_value = p.schema->default_value;
      if (!f.default_value.has_value() && !p.schema->ref.empty()) {
        absl::StatusOr<Named> named = FindRef(*p.schema, doc);
        if (named.ok() && named->def == nullptr) {
          f.default_value = named->decl->schema->default_value;
        }
      }
      // A CRD's metadata is an ObjectMeta; its schema says only "object".
      if (doc.crd && def.parent == nullptr && def.gvk.has_value() &&
          p.name == "metadata" && f.type.kind == TypeRef::Kind::kJson) {
        absl::StatusOr<StructDef*> meta =
            FindWellKnown("ObjectMeta", p.schema->at);
        if (!meta.ok()) return meta.status();
        if (*meta != nullptr) {
          f.type = TypeRef();
          f.type.kind = TypeRef::Kind::kStruct;
          f.type.def = *meta;
        }
      }
      def.fields.push_back(std::move(f));
    }
    return absl::OkStatus();
  }

  static std::string FullName(const StructDef* def) {
    if (def->qualified && def->parent != nullptr) {
      return FullName(def->parent) + def->short_name;
    }
    return def->short_name;
  }

  // Names every nested struct: short names where they are unique, prefixed
  // with the enclosing type's name where two would clash.
  absl::Status AssignNames() {
    for (int round = 0;; ++round) {
      std::map<std::string, std::vector<StructDef*>> groups;
      for (const auto& def : model_->structs_) {
        if (def->imported && def->cpp_namespace != namespace_) continue;
        groups[FullName(def.get())].push_back(def.get());
      }
      bool clash = false;
      for (auto& [name, defs] : groups) {
        bool reserved = ReservedTypeNames().count(name) > 0;
        if (defs.size() < 2 && !reserved) continue;
        clash = true;
        bool changed = false;
        for (StructDef* def : defs) {
          if (!def->fixed_name && !def->qualified && def->parent != nullptr) {
            def->qualified = true;
            changed = true;
          }
        }
        if (!changed) {
          if (reserved) {
            return SchemaError(
                defs[0]->at,
                absl::StrCat("the type name ", name,
                             " is taken by a generated function; set "
                             "x-zen-lead-type-name or a title"));
          }
          std::vector<std::string> where;
          for (StructDef* def : defs) {
            where.push_back(absl::StrCat(def->at.file, ":", def->at.line, " (",
                                         def->at.path, ")"));
          }
          return SchemaError(
              defs[1]->at,
              absl::StrCat("two types would both be named ", name, ": ",
                           absl::StrJoin(where, " and "),
                           "; rename one with x-zen-lead-type-name or a "
                           "title"));
        }
      }
      if (!clash) break;
    }
    for (const auto& def : model_->structs_) def->name = FullName(def.get());
    return absl::OkStatus();
  }

  Schema* NewSchema(const std::string& description, const Location& at) {
    model_->synthetic_schemas_.push_back(std::make_unique<Schema>());
    Schema* s = model_->synthetic_schemas_.back().get();
    s->description = description;
    s->at = at;
    return s;
  }

  absl::Status AddLists() {
    std::set<std::string> names;
    for (const auto& def : model_->structs_) {
      if (!def->imported || def->cpp_namespace == namespace_) {
        names.insert(def->name);
      }
    }
    const size_t count = model_->structs_.size();
    for (size_t i = 0; i < count; ++i) {
      StructDef* kind = model_->structs_[i].get();
      if (kind->imported || !kind->resource.has_value() ||
          !kind->gvk.has_value()) {
        continue;
      }
      const std::string name = kind->name + "List";
      if (names.count(name) > 0) {
        return SchemaError(kind->at,
                           absl::StrCat("the list type ", name,
                                        " of this kind clashes with a type of "
                                        "the same name"));
      }
      absl::StatusOr<StructDef*> list_meta =
          FindWellKnown("ListMeta", kind->at);
      if (!list_meta.ok()) return list_meta.status();
      StructDef* list = NewStruct();
      list->name = name;
      list->short_name = name;
      list->fixed_name = true;
      list->cpp_namespace = namespace_;
      list->doc = kind->doc;
      list->description = absl::StrCat("A list of ", kind->name,
                                       " objects, as List returns it.");
      list->gvk = GroupVersionKind{kind->gvk->group, kind->gvk->version, name};
      list->list_of = kind;
      list->at = kind->at;
      kind->list = list;

      auto add = [&](const char* json_name, TypeRef type, bool required,
                     const std::string& description) {
        Field f;
        f.json_name = json_name;
        f.required = required;
        f.type = std::move(type);
        f.schema = NewSchema(description, kind->at);
        if (f.type.schema == nullptr && f.type.kind != TypeRef::Kind::kStruct &&
            f.type.kind != TypeRef::Kind::kVector) {
          f.type.schema = f.schema;
        }
        list->fields.push_back(std::move(f));
      };
      TypeRef str;
      str.kind = TypeRef::Kind::kString;
      add("apiVersion", str, false, "\"" + kind->gvk->ApiVersion() + "\".");
      add("kind", str, false, "\"" + name + "\".");
      TypeRef meta;
      if (*list_meta != nullptr) {
        meta.kind = TypeRef::Kind::kStruct;
        meta.def = *list_meta;
      } else {
        meta.kind = TypeRef::Kind::kJson;
      }
      add("metadata", meta, false,
          "resourceVersion of the list and the continue token of the next "
          "page.");
      TypeRef item;
      item.kind = TypeRef::Kind::kStruct;
      item.def = kind;
      TypeRef items;
      items.kind = TypeRef::Kind::kVector;
      items.element = std::make_shared<TypeRef>(item);
      items.schema = NewSchema("", kind->at);
      add("items", items, true, "The objects.");
    }
    return absl::OkStatus();
  }

  absl::Status AssignMembers() {
    for (const auto& def : model_->structs_) {
      if (def->imported) continue;
      std::map<std::string, std::string> seen;
      for (Field& f : def->fields) {
        f.member = MemberName(f.json_name);
        auto [it, inserted] = seen.emplace(f.member, f.json_name);
        if (!inserted) {
          return SchemaError(
              f.schema->at,
              absl::StrCat("fields \"", it->second, "\" and \"", f.json_name,
                           "\" would both become the C++ member ", f.member));
        }
      }
    }
    return absl::OkStatus();
  }

  // Why `value` does not fit `type` ("" when it does); `path` is inside the
  // value.
  std::string Misfit(const TypeRef& type, const nlohmann::json& value,
                     const std::string& path) {
    auto expected = [&](absl::string_view what) {
      return absl::StrCat(path.empty() ? "" : path + ": ", "expected ", what,
                          ", got ", value.dump());
    };
    auto integral = [&](int64_t lo, int64_t hi) {
      if (value.is_number_integer()) {
        if (value.is_number_unsigned()) {
          return value.get<uint64_t>() <= static_cast<uint64_t>(hi);
        }
        int64_t v = value.get<int64_t>();
        return v >= lo && v <= hi;
      }
      return false;
    };
    std::string problem;
    switch (type.kind) {
      case TypeRef::Kind::kString:
        if (!value.is_string()) return expected("a string");
        break;
      case TypeRef::Kind::kInt32:
        if (!integral(INT32_MIN, INT32_MAX))
          return expected("a 32-bit integer");
        break;
      case TypeRef::Kind::kInt64:
        if (!integral(INT64_MIN, INT64_MAX)) return expected("an integer");
        break;
      case TypeRef::Kind::kDouble:
        if (!value.is_number()) return expected("a number");
        break;
      case TypeRef::Kind::kBool:
        if (!value.is_boolean()) return expected("true or false");
        break;
      case TypeRef::Kind::kIntOrString:
        if (!value.is_string() && !integral(INT64_MIN, INT64_MAX)) {
          return expected("an integer or a string");
        }
        break;
      case TypeRef::Kind::kJson:
        break;
      case TypeRef::Kind::kStruct:
        if (!value.is_object()) return expected("an object");
        if (type.def->imported) break;
        for (const Field& f : type.def->fields) {
          auto it = value.find(f.json_name);
          std::string fpath =
              path.empty() ? f.json_name : path + "." + f.json_name;
          if (it == value.end() || it->is_null()) {
            if (f.required) return fpath + ": required field is missing";
            continue;
          }
          problem = Misfit(f.type, *it, fpath);
          if (!problem.empty()) return problem;
        }
        break;
      case TypeRef::Kind::kVector:
        if (!value.is_array()) return expected("a list");
        for (size_t i = 0; i < value.size(); ++i) {
          problem =
              Misfit(*type.element, value[i], absl::StrCat(path, "[", i, "]"));
          if (!problem.empty()) return problem;
        }
        break;
      case TypeRef::Kind::kMap:
        if (!value.is_object()) return expected("an object");
        for (const auto& [key, item] : value.items()) {
          problem =
              Misfit(*type.element, item, absl::StrCat(path, "[", key, "]"));
          if (!problem.empty()) return problem;
        }
        break;
    }
    if (type.schema != nullptr && !type.schema->enum_values.empty() &&
        !value.is_null()) {
      bool found = false;
      for (const nlohmann::json& allowed : type.schema->enum_values) {
        if (allowed == value) found = true;
      }
      if (!found) {
        return absl::StrCat(path.empty() ? "" : path + ": ", value.dump(),
                            " is not one of the enum values");
      }
    }
    return "";
  }

  // Enum values and numeric bounds at every level of `type`.
  absl::Status CheckLevels(const TypeRef& type) {
    const Schema* s = type.schema;
    if (s != nullptr) {
      const bool scalar = type.kind != TypeRef::Kind::kVector &&
                          type.kind != TypeRef::Kind::kMap &&
                          type.kind != TypeRef::Kind::kJson &&
                          type.kind != TypeRef::Kind::kStruct;
      if (!s->enum_values.empty()) {
        if (!scalar || type.kind == TypeRef::Kind::kIntOrString ||
            type.kind == TypeRef::Kind::kBool) {
          return SchemaError(s->enum_at,
                             "enum is only supported on strings and numbers");
        }
        TypeRef plain = type;
        plain.schema = nullptr;
        for (const nlohmann::json& v : s->enum_values) {
          std::string problem = Misfit(plain, v, "");
          if (!problem.empty()) {
            return SchemaError(s->enum_at,
                               absl::StrCat("enum value does not fit the "
                                            "type: ",
                                            problem));
          }
        }
      }
      const bool integer = type.kind == TypeRef::Kind::kInt32 ||
                           type.kind == TypeRef::Kind::kInt64 ||
                           type.kind == TypeRef::Kind::kIntOrString;
      for (const std::optional<double>& bound : {s->minimum, s->maximum}) {
        if (bound.has_value() && integer &&
            (*bound != static_cast<double>(static_cast<int64_t>(*bound)))) {
          return SchemaError(s->at,
                             "minimum and maximum of an integer must be "
                             "integers");
        }
      }
    }
    if (type.element != nullptr) return CheckLevels(*type.element);
    return absl::OkStatus();
  }

  absl::Status CheckValues() {
    for (const auto& def : model_->structs_) {
      if (def->imported) continue;
      for (const Field& f : def->fields) {
        MODEL_RETURN_IF_ERROR(CheckLevels(f.type));
        if (!f.default_value.has_value()) continue;
        std::string problem = Misfit(f.type, *f.default_value, "");
        if (!problem.empty()) {
          const Location& at = f.schema->default_value.has_value()
                                   ? f.schema->default_at
                                   : f.schema->at;
          return SchemaError(
              at, absl::StrCat("default ", f.default_value->dump(),
                               " does not fit the schema: ", problem));
        }
      }
    }
    return absl::OkStatus();
  }

  static void StructsIn(const TypeRef& type,
                        std::vector<const StructDef*>& out) {
    if (type.kind == TypeRef::Kind::kStruct) out.push_back(type.def);
    if (type.element != nullptr) StructsIn(*type.element, out);
  }

  absl::Status Visit(const StructDef* def,
                     std::map<const StructDef*, int>& state,
                     std::vector<const StructDef*>& order,
                     std::vector<const Document*>& deps) {
    int& st = state[def];
    if (st == 2) return absl::OkStatus();
    if (st == 1) {
      return SchemaError(def->at,
                         absl::StrCat("the type ", def->name,
                                      " contains itself; recursive types are "
                                      "not supported"));
    }
    st = 1;
    for (const Field& f : def->fields) {
      std::vector<const StructDef*> inner;
      StructsIn(f.type, inner);
      for (const StructDef* s : inner) {
        if (s->doc == def->doc && !s->imported) {
          MODEL_RETURN_IF_ERROR(Visit(s, state, order, deps));
        } else if (std::find(deps.begin(), deps.end(), s->doc) == deps.end()) {
          deps.push_back(s->doc);
        }
      }
    }
    state[def] = 2;
    order.push_back(def);
    return absl::OkStatus();
  }

  absl::Status Order() {
    for (const Document& doc : inputs_) {
      std::map<const StructDef*, int> state;
      std::vector<const StructDef*>& order = model_->order_[&doc];
      std::vector<const Document*>& deps = model_->dependencies_[&doc];
      for (const auto& def : model_->structs_) {
        if (def->doc != &doc || def->imported) continue;
        MODEL_RETURN_IF_ERROR(Visit(def.get(), state, order, deps));
      }
    }
    // Headers include each other along these edges: no cycles.
    std::map<const Document*, int> state;
    std::function<absl::Status(const Document*)> visit =
        [&](const Document* doc) -> absl::Status {
      int& st = state[doc];
      if (st == 2) return absl::OkStatus();
      if (st == 1) {
        return SchemaError(Location{doc->file, "", 0, 0},
                           "the types of this file and another input refer to "
                           "each other; move them into one file");
      }
      st = 1;
      for (const Document* dep : model_->dependencies_[doc]) {
        MODEL_RETURN_IF_ERROR(visit(dep));
      }
      state[doc] = 2;
      return absl::OkStatus();
    };
    for (const Document& doc : inputs_) MODEL_RETURN_IF_ERROR(visit(&doc));
    return absl::OkStatus();
  }

  const std::vector<Document>& inputs_;
  const std::string namespace_;
  const std::vector<ImportedDocument>& imports_;
  std::unique_ptr<Model> model_;
  std::vector<const Document*> all_docs_;
  std::set<const Document*> input_docs_;
  std::map<std::pair<const Document*, std::string>, Named> named_;
  std::map<const TypeDecl*, TypeRef> alias_cache_;
  std::set<const TypeDecl*> resolving_;
  std::set<const StructDef*> named_fields_built_;
};

absl::StatusOr<std::unique_ptr<Model>> Model::Build(
    const std::vector<Document>& inputs, const std::string& cpp_namespace,
    const std::vector<ImportedDocument>& imports) {
  return ModelBuilder(inputs, cpp_namespace, imports).Build();
}

const std::vector<const StructDef*>& Model::StructsOf(
    const Document& doc) const {
  static const std::vector<const StructDef*>* const kNone =
      new std::vector<const StructDef*>();
  auto it = order_.find(&doc);
  return it == order_.end() ? *kNone : it->second;
}

const std::vector<const Document*>& Model::DependenciesOf(
    const Document& doc) const {
  static const std::vector<const Document*>* const kNone =
      new std::vector<const Document*>();
  auto it = dependencies_.find(&doc);
  return it == dependencies_.end() ? *kNone : it->second;
}

std::string Model::ImportedHeader(const Document& doc) const {
  auto it = imported_headers_.find(&doc);
  return it == imported_headers_.end() ? "" : it->second;
}

}  // namespace zenlead::codegen
