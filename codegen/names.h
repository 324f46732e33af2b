// Naming rules of the generator: how JSON names in an OpenAPI schema become
// C++ type, member and constant names, and how text becomes C++ literals and
// comments. docs/codegen.md describes the rules for users.
//
//   PascalCase("currentHolder")  == "CurrentHolder"
//   SnakeCase("podIPs")          == "pod_ips"
//   Singular("conditions")       == "condition"
//   MemberName("namespace")      == "namespace_field"   // C++ keyword
//   CppStringLiteral("a\"b")     == "\"a\\\"b\""
#ifndef ZEN_LEAD_CODEGEN_NAMES_H_
#define ZEN_LEAD_CODEGEN_NAMES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace zenlead::codegen {

// "currentHolder" -> "CurrentHolder", "pod-ip" -> "PodIp", "IPv4" -> "IPv4".
// Non-alphanumerics separate words; a leading digit gets a "V" prefix.
std::string PascalCase(absl::string_view name);

// "leaseDurationSeconds" -> "lease_duration_seconds", "podIP" -> "pod_ip",
// "podIPs" -> "pod_ips", "HTTPServer" -> "http_server".
std::string SnakeCase(absl::string_view name);

// English singular of a plural property name, for array item types:
// "policies" -> "policy", "addresses" -> "address", "ports" -> "port",
// "podIPs" -> "podIP". Names that do not look plural are returned as is.
std::string Singular(absl::string_view name);

// C++ keywords, alternative tokens and macros that a member must not be
// named after.
bool IsReserved(absl::string_view name);

// The C++ member name of a JSON field: SnakeCase, with "_field" appended to
// reserved words ("namespace_field", "continue_field", "unknown_fields_field").
std::string MemberName(absl::string_view json_name);

// [A-Za-z_][A-Za-z0-9_]*
bool IsIdentifier(absl::string_view name);

// A C++ string literal for `value`: a raw string when that reads better,
// else an escaped one.
std::string CppStringLiteral(absl::string_view value);

// Lines of `text` as // comments at `indent` spaces, wrapped to 80 columns.
// Paragraph breaks in `text` are kept.
std::string Comment(absl::string_view text, int indent);

}  // namespace zenlead::codegen

#endif  // ZEN_LEAD_CODEGEN_NAMES_H_
