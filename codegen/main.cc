// openapi_gen: OpenAPI v3 schemas (CRDs, api/schemas/*.yaml) -> C++ types.
// Normally run by the openapi_cc_library macro (defs.bzl) at build time:
//
//   openapi_gen --out_dir=DIR --include_prefix=api/types
//       --cpp_namespace=zenlead::k8s [--import_manifest=core.openapi.json]
//       [--manifest_out=DIR/core.openapi.json]
//       api/schemas/meta.yaml api/schemas/pod.yaml=pod ...
//
// Each input FILE[=BASE] gives DIR/BASE.h and DIR/BASE.cc (BASE defaults to
// the file name without .yaml). Errors go to stderr as
// "FILE:LINE:COLUMN: error: SCHEMA.PATH: message"; the exit code is 1 for
// schema errors, 2 for usage errors.
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "codegen/generator.h"

ABSL_FLAG(std::string, out_dir, ".", "Directory for the generated files.");
ABSL_FLAG(
    std::string, include_prefix, "",
    "Directory of the generated headers in #include lines, e.g. api/types.");
ABSL_FLAG(std::string, cpp_namespace, "zenlead::api",
          "C++ namespace of the generated types.");
ABSL_FLAG(std::vector<std::string>, import_manifest, {},
          "Manifests (comma-separated) of libraries whose types the inputs may "
          "$ref.");
ABSL_FLAG(std::string, manifest_out, "",
          "Where to write this library's manifest.");
ABSL_FLAG(std::string, crd_version, "",
          "CRD version to generate (default: the storage version).");
ABSL_FLAG(bool, clients, true,
          "Generate typed clients for kinds with a REST resource.");

namespace {

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) {
    std::fprintf(stderr, "%s: error: cannot write the file\n", path.c_str());
    return false;
  }
  return true;
}

std::string BaseName(const std::string& file) {
  std::string base = file.substr(file.rfind('/') + 1);
  for (const char* ext : {".yaml", ".yml", ".json"}) {
    if (absl::EndsWith(base, ext))
      base.resize(base.size() - std::string(ext).size());
  }
  return base;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  zenlead::codegen::GeneratorOptions options;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string arg = args[i];
    size_t eq = arg.rfind('=');
    if (eq != std::string::npos) {
      options.inputs.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
    } else {
      options.inputs.emplace_back(arg, BaseName(arg));
    }
  }
  if (options.inputs.empty()) {
    std::fprintf(stderr,
                 "usage: openapi_gen [flags] FILE[=BASE]... (see --help)\n");
    return 2;
  }
  options.cpp_namespace = absl::GetFlag(FLAGS_cpp_namespace);
  options.include_prefix = absl::GetFlag(FLAGS_include_prefix);
  options.import_manifests = absl::GetFlag(FLAGS_import_manifest);
  options.crd_version = absl::GetFlag(FLAGS_crd_version);
  options.clients = absl::GetFlag(FLAGS_clients);

  absl::StatusOr<zenlead::codegen::GeneratedFiles> files =
      zenlead::codegen::Generate(options);
  if (!files.ok()) {
    std::fprintf(stderr, "%s\n", std::string(files.status().message()).c_str());
    return 1;
  }
  const std::string out_dir = absl::GetFlag(FLAGS_out_dir);
  for (const auto& [name, content] : *files) {
    if (!WriteFile(absl::StrCat(out_dir, "/", name), content)) return 1;
  }
  const std::string manifest = absl::GetFlag(FLAGS_manifest_out);
  if (!manifest.empty() &&
      !WriteFile(manifest, zenlead::codegen::Manifest(options)))
    return 1;
  return 0;
}
