#include "codegen/names.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace zenlead::codegen {
namespace {

bool IsUpper(char c) {
  return absl::ascii_isupper(static_cast<unsigned char>(c));
}
bool IsLower(char c) {
  return absl::ascii_islower(static_cast<unsigned char>(c));
}
bool IsDigit(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c));
}
bool IsAlnum(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c));
}

}  // namespace

std::string PascalCase(absl::string_view name) {
  std::string out;
  bool start_of_word = true;
  for (char c : name) {
    if (!IsAlnum(c)) {
      start_of_word = true;
      continue;
    }
    out.push_back(start_of_word ? absl::ascii_toupper(c) : c);
    start_of_word = false;
  }
  if (out.empty()) return "Empty";
  if (IsDigit(out[0])) out.insert(0, "V");
  return out;
}

std::string SnakeCase(absl::string_view name) {
  std::string out;
  const size_t n = name.size();
  for (size_t i = 0; i < n; ++i) {
    char c = name[i];
    if (!IsAlnum(c)) {
      if (!out.empty() && out.back() != '_') out.push_back('_');
      continue;
    }
    if (IsUpper(c) && i > 0 && !out.empty() && out.back() != '_') {
      char prev = name[i - 1];
      bool next_lower = i + 1 < n && IsLower(name[i + 1]);
      // "podIPs": the 's' pluralises the acronym, it does not start a word.
      bool plural_acronym = next_lower && name[i + 1] == 's' &&
                            (i + 2 == n || !IsLower(name[i + 2]));
      if (IsLower(prev) || IsDigit(prev) ||
          (IsUpper(prev) && next_lower && !plural_acronym)) {
        out.push_back('_');
      }
    }
    out.push_back(absl::ascii_tolower(c));
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  if (out.empty()) return "field";
  if (IsDigit(out[0])) out.insert(0, "f_");
  return out;
}

std::string Singular(absl::string_view name) {
  std::string s(name);
  auto ends = [&](absl::string_view suffix) {
    return absl::EndsWith(s, suffix) && s.size() > suffix.size();
  };
  if (ends("ies")) return s.substr(0, s.size() - 3) + "y";
  if (ends("sses")) return s.substr(0, s.size() - 2);
  if (ends("xes") || ends("ches") || ends("shes") || ends("uses")) {
    return s.substr(0, s.size() - 2);
  }
  if (ends("ss")) return s;
  if (ends("s")) return s.substr(0, s.size() - 1);
  return s;
}

bool IsReserved(absl::string_view name) {
  static const std::set<absl::string_view>* const kReserved =
      new std::set<absl::string_view>{
          "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand",
          "bitor", "bool", "break", "case", "catch", "char", "char8_t",
          "char16_t", "char32_t", "class", "compl", "concept", "const",
          "consteval", "constexpr", "constinit", "const_cast", "continue",
          "co_await", "co_return", "co_yield", "decltype", "default", "delete",
          "do", "double", "dynamic_cast", "else", "enum", "explicit", "export",
          "extern", "false", "float", "for", "friend", "goto", "if", "inline",
          "int", "long", "mutable", "namespace", "new", "noexcept", "not",
          "not_eq", "nullptr", "operator", "or", "or_eq", "private",
          "protected", "public", "register", "reinterpret_cast", "requires",
          "return", "short", "signed", "sizeof", "static", "static_assert",
          "static_cast", "struct", "switch", "template", "this", "thread_local",
          "throw", "true", "try", "typedef", "typeid", "typename", "union",
          "unsigned", "using", "virtual", "void", "volatile", "wchar_t",
          "while", "xor", "xor_eq",
          // Macros of the C and POSIX headers, and GNU mode predefines.
          "assert", "errno", "linux", "unix", "major", "minor", "stdin",
          "stdout", "stderr",
          // The member every generated struct has.
          "unknown_fields"};
  return kReserved->count(name) > 0;
}

std::string MemberName(absl::string_view json_name) {
  std::string name = SnakeCase(json_name);
  if (IsReserved(name)) name += "_field";
  return name;
}

bool IsIdentifier(absl::string_view name) {
  if (name.empty() || IsDigit(name[0])) return false;
  for (char c : name) {
    if (!IsAlnum(c) && c != '_') return false;
  }
  return true;
}

std::string CppStringLiteral(absl::string_view value) {
  bool needs_escape = false;
  bool printable = true;
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') needs_escape = true;
    if (u < 0x20 || u == 0x7f) printable = false;
  }
  // A raw string reads better for regular expressions full of backslashes
  // and for JSON full of quotes.
  if (needs_escape && printable) {
    if (!absl::StrContains(value, ")\""))
      return absl::StrCat("R\"(", value, ")\"");
    if (!absl::StrContains(value, ")re\"")) {
      return absl::StrCat("R\"re(", value, ")re\"");
    }
  }
  std::string out = "\"";
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '?':
        out += "?";  // trigraphs are gone in C++17
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\x";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
          // A following hex digit would extend the escape: split the literal.
          out += "\"\"";
        } else {
          out.push_back(c);
        }
    }
  }
  out += "\"";
  return out;
}

std::string Comment(absl::string_view text, int indent) {
  const std::string prefix = std::string(indent, ' ') + "//";
  const size_t width = 80 - prefix.size() - 1;
  std::string out;
  for (absl::string_view raw_line : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw_line);
    if (line.empty()) {
      if (!out.empty()) out += prefix + "\n";
      continue;
    }
    std::string current;
    for (absl::string_view word :
         absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
      if (!current.empty() && current.size() + 1 + word.size() > width) {
        absl::StrAppend(&out, prefix, " ", current, "\n");
        current.clear();
      }
      if (!current.empty()) current += ' ';
      absl::StrAppend(&current, word);
    }
    if (!current.empty()) absl::StrAppend(&out, prefix, " ", current, "\n");
  }
  // A trailing empty comment line adds nothing.
  while (absl::EndsWith(out, prefix + "\n")) {
    out.resize(out.size() - prefix.size() - 1);
  }
  // A backslash at the end of a // comment would continue it onto the next
  // source line.
  std::string safe;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\\' && i + 1 < out.size() && out[i + 1] == '\n') {
      safe += "\\ (backslash)";
    } else {
      safe.push_back(out[i]);
    }
  }
  return safe;
}

}  // namespace zenlead::codegen
