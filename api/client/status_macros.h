// RETURN_IF_ERROR and ASSIGN_OR_RETURN for absl::Status / absl::StatusOr, which
// abseil 20220623 does not ship. Both only evaluate their argument once.
//
//   absl::StatusOr<Config> Load(const std::string& path) {
//     ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
//     RETURN_IF_ERROR(Validate(text));
//     return Parse(text);
//   }
//
// Compiled in header_examples_test.cc.
//
// Guarded by #ifndef so that another module defining the same macros with the
// same meaning does not clash.
#ifndef ZEN_LEAD_API_CLIENT_STATUS_MACROS_H_
#define ZEN_LEAD_API_CLIENT_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#ifndef RETURN_IF_ERROR
#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status zl_status_ = (expr);      \
    if (!zl_status_.ok()) return zl_status_; \
  } while (0)
#endif

#define ZL_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define ZL_STATUS_MACROS_CONCAT_(a, b) ZL_STATUS_MACROS_CONCAT_INNER_(a, b)

#ifndef ASSIGN_OR_RETURN
#define ASSIGN_OR_RETURN(lhs, expr)                                           \
  ZL_ASSIGN_OR_RETURN_IMPL_(ZL_STATUS_MACROS_CONCAT_(zl_statusor_, __LINE__), \
                            lhs, expr)
// `statusor` is a variable name and `lhs` a declaration ("auto x"): neither
// can be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define ZL_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)     \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)
// NOLINTEND(bugprone-macro-parentheses)
#endif

#endif  // ZEN_LEAD_API_CLIENT_STATUS_MACROS_H_
