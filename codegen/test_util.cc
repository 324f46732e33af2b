#include "codegen/test_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace zenlead::codegen {
namespace {

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

}  // namespace

std::string MakeTempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  std::system(
      absl::StrCat("rm -rf ", ShellQuote(dir), " && mkdir -p ", ShellQuote(dir))
          .c_str());
  return dir;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

GeneratorRun RunGenerator(const std::string& binary,
                          const std::vector<std::string>& args) {
  const std::string err = MakeTempDir("stderr") + "/stderr.txt";
  std::string command = ShellQuote(binary);
  for (const std::string& arg : args)
    absl::StrAppend(&command, " ", ShellQuote(arg));
  absl::StrAppend(&command, " 2>", ShellQuote(err));
  GeneratorRun run;
  int status = std::system(command.c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.stderr_text = ReadFileOrEmpty(err);
  return run;
}

}  // namespace zenlead::codegen
