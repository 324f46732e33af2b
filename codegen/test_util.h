// Helpers for tests that run the openapi_gen binary: run it with arguments
// and collect its exit code, stderr and output files.
//
//   GeneratorRun run = RunGenerator(generator_path, {"--out_dir=" + dir,
//                                                    "schema.yaml=x"});
//   EXPECT_EQ(run.exit_code, 1);
//   EXPECT_THAT(run.stderr_text, HasSubstr("schema.yaml:3:5: error: "));
#ifndef ZEN_LEAD_CODEGEN_TEST_UTIL_H_
#define ZEN_LEAD_CODEGEN_TEST_UTIL_H_

#include <string>
#include <vector>

namespace zenlead::codegen {

struct GeneratorRun {
  int exit_code = -1;
  std::string stderr_text;
};

// Runs `binary` with `args` (no shell quoting needed for plain paths and
// flags) from the current directory.
GeneratorRun RunGenerator(const std::string& binary,
                          const std::vector<std::string>& args);

// A fresh empty directory under TEST_TMPDIR.
std::string MakeTempDir(const std::string& name);

// The contents of `path`, or "" if it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace zenlead::codegen

#endif  // ZEN_LEAD_CODEGEN_TEST_UTIL_H_
