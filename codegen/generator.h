// The generator end to end: load the input schema files (and the manifests
// of imported openapi_cc_library targets), build the Model, emit a header
// and a source per input, and describe the result in a manifest that other
// libraries import. main.cc is a thin command line over Generate().
//
//   GeneratorOptions options;
//   options.inputs = {{"config/crd/bases/x_leaderpolicies.yaml",
//   "leaderpolicy"}}; options.cpp_namespace = "zenlead::api::v1alpha1";
//   options.include_prefix = "api/types";
//   options.import_manifests = {"bazel-out/.../api/types/core.openapi.json"};
//   absl::StatusOr<GeneratedFiles> files = Generate(options);
//   // files->at("leaderpolicy.h"), files->at("leaderpolicy.cc")
#ifndef ZEN_LEAD_CODEGEN_GENERATOR_H_
#define ZEN_LEAD_CODEGEN_GENERATOR_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zenlead::codegen {

struct GeneratorOptions {
  // Schema files and the base name of their outputs (base.h, base.cc).
  std::vector<std::pair<std::string, std::string>> inputs;
  // Manifests (.openapi.json) of libraries whose types inputs may use.
  std::vector<std::string> import_manifests;
  std::string cpp_namespace;
  // Directory of the generated headers in #include lines.
  std::string include_prefix;
  // For CRDs: the version to generate (empty: the storage version).
  std::string crd_version;
  bool clients = true;
};

// Output file name (base.h, base.cc, or the manifest name) -> contents.
using GeneratedFiles = std::map<std::string, std::string>;

// Generates everything in memory. Errors name the file, line and schema
// path ("api/schemas/pod.yaml:12:7: error: Pod.properties.spec: ...").
absl::StatusOr<GeneratedFiles> Generate(const GeneratorOptions& options);

// The manifest describing the outputs of `options`, for importers: which
// schema files map to which headers, in which namespace.
std::string Manifest(const GeneratorOptions& options);

}  // namespace zenlead::codegen

#endif  // ZEN_LEAD_CODEGEN_GENERATOR_H_
