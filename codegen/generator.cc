#include "codegen/generator.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "codegen/emitter.h"
#include "codegen/model.h"
#include "codegen/schema.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"

namespace zenlead::codegen {
namespace {

std::string HeaderPath(const GeneratorOptions& options,
                       const std::string& base) {
  return options.include_prefix.empty()
             ? base + ".h"
             : absl::StrCat(options.include_prefix, "/", base, ".h");
}

absl::StatusOr<std::vector<ImportedDocument>> LoadImports(
    const GeneratorOptions& options) {
  std::vector<ImportedDocument> imports;
  for (const std::string& path : options.import_manifests) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat(path, ": error: cannot read the import manifest"));
    }
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json manifest =
        nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (!manifest.is_object() || !manifest.contains("namespace") ||
        !manifest["namespace"].is_string() || !manifest.contains("files") ||
        !manifest["files"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": error: not an import manifest written by openapi_gen"));
    }
    for (const nlohmann::json& file : manifest["files"]) {
      if (!file.is_object() ||
          !file.value("schema", nlohmann::json()).is_string() ||
          !file.value("header", nlohmann::json()).is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": error: a file entry needs schema and header"));
      }
      absl::StatusOr<Document> doc =
          LoadDocument(file["schema"].get<std::string>(),
                       file.value("crdVersion", std::string()));
      if (!doc.ok()) return doc.status();
      imports.push_back(
          ImportedDocument{*std::move(doc), file["header"].get<std::string>(),
                           manifest["namespace"].get<std::string>()});
    }
  }
  return imports;
}

}  // namespace

std::string Manifest(const GeneratorOptions& options) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& [file, base] : options.inputs) {
    nlohmann::json entry = {{"schema", file},
                            {"header", HeaderPath(options, base)}};
    if (!options.crd_version.empty()) entry["crdVersion"] = options.crd_version;
    files.push_back(entry);
  }
  nlohmann::json manifest = {{"namespace", options.cpp_namespace},
                             {"files", files}};
  return manifest.dump(2) + "\n";
}

absl::StatusOr<GeneratedFiles> Generate(const GeneratorOptions& options) {
  static const re2::RE2* const kNamespace =
      new re2::RE2("[a-z_][a-z0-9_]*(::[a-z_][a-z0-9_]*)*");
  if (!re2::RE2::FullMatch(options.cpp_namespace, *kNamespace)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "error: \"", options.cpp_namespace,
        "\" is not a C++ namespace (lower_case names joined by ::)"));
  }
  if (options.inputs.empty())
    return absl::InvalidArgumentError("error: no input files");
  static const re2::RE2* const kBase = new re2::RE2("[a-z0-9_]+");
  std::set<std::string> bases;
  for (const auto& [file, base] : options.inputs) {
    if (!re2::RE2::FullMatch(base, *kBase)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": error: output name \"", base,
                       "\" must be lower_case letters, digits and _"));
    }
    if (!bases.insert(base).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": error: two inputs have the output name \"", base, "\""));
    }
  }

  absl::StatusOr<std::vector<ImportedDocument>> imports = LoadImports(options);
  if (!imports.ok()) return imports.status();
  std::vector<Document> docs;
  docs.reserve(options.inputs.size());
  for (const auto& [file, base] : options.inputs) {
    absl::StatusOr<Document> doc = LoadDocument(file, options.crd_version);
    if (!doc.ok()) return doc.status();
    docs.push_back(*std::move(doc));
  }
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::Build(docs, options.cpp_namespace, *imports);
  if (!model.ok()) return model.status();

  std::map<const Document*, std::string> headers;
  for (size_t i = 0; i < docs.size(); ++i) {
    headers[&docs[i]] = HeaderPath(options, options.inputs[i].second);
  }
  EmitOptions emit;
  emit.cpp_namespace = options.cpp_namespace;
  emit.include_prefix = options.include_prefix;
  emit.clients = options.clients;
  GeneratedFiles files;
  for (size_t i = 0; i < docs.size(); ++i) {
    const std::string& base = options.inputs[i].second;
    GeneratedCode code = Emit(**model, docs[i], base, headers, emit);
    files[base + ".h"] = std::move(code.header);
    files[base + ".cc"] = std::move(code.source);
  }
  return files;
}

}  // namespace zenlead::codegen
