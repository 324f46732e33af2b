// Writes the C++ header and source for one input document of a Model:
// structs with std::optional / std::vector / std::map members, FromJson /
// ToJson that keep unknown fields, ApplyDefaults, Validate, operator==, and
// a typed client per kind with a REST resource.
//
//   EmitOptions options{.cpp_namespace = "zenlead::k8s",
//                       .include_prefix = "api/types"};
//   GeneratedCode code = Emit(*model, doc, "pod", headers, options);
//   // code.header -> api/types/pod.h, code.source -> api/types/pod.cc
//
// The output is meant to be read: docs/codegen.md shows what it looks like.
#ifndef ZEN_LEAD_CODEGEN_EMITTER_H_
#define ZEN_LEAD_CODEGEN_EMITTER_H_

#include <map>
#include <string>

#include "codegen/model.h"
#include "codegen/schema.h"

namespace zenlead::codegen {

struct EmitOptions {
  // C++ namespace of the generated types, e.g. "zenlead::api::v1alpha1".
  std::string cpp_namespace;
  // Directory of the generated headers in #include lines ("api/types").
  std::string include_prefix;
  // Typed clients for kinds with a REST resource (needs //api/client).
  bool clients = true;
};

struct GeneratedCode {
  std::string header;
  std::string source;
};

// `headers` maps every input document to its header's include path.
GeneratedCode Emit(const Model& model, const Document& doc,
                   const std::string& base,
                   const std::map<const Document*, std::string>& headers,
                   const EmitOptions& options);

}  // namespace zenlead::codegen

#endif  // ZEN_LEAD_CODEGEN_EMITTER_H_
