// Bad input to the generator binary: each case must exit with 1, write
// nothing, and print one line "FILE:LINE:COLUMN: error: SCHEMA.PATH: message"
// naming the file and the schema path. The last test shows the build-time
// format exactly as openapi_cc_library's genrule invokes the generator.
//
// Usage: generator_failure_test <path of openapi_gen>
#include <dirent.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::codegen {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string generator;  // from argv[1]

constexpr char kBad[] = "codegen/testdata/bad/";

int CountFiles(const std::string& dir) {
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
    }
    closedir(d);
  }
  return n;
}

struct FailureCase {
  std::string file;
  // The start of the message: file:line:column: error: path: (and more).
  std::string prefix;
  // A phrase the rest of the message must contain.
  std::string says;
};

void PrintTo(const FailureCase& c, std::ostream* os) { *os << c.file; }

class GeneratorFailureTest : public ::testing::TestWithParam<FailureCase> {};

TEST_P(GeneratorFailureTest, ExitsNonZeroNamingFileAndSchemaPath) {
  const FailureCase& c = GetParam();
  const std::string out = MakeTempDir("failure_" + c.file);
  GeneratorRun run =
      RunGenerator(generator, {"--out_dir=" + out,
                               "--manifest_out=" + out + "/m.openapi.json",
                               absl::StrCat(kBad, c.file, "=widget")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.stderr_text, StartsWith(absl::StrCat(kBad, c.prefix)));
  EXPECT_THAT(run.stderr_text, HasSubstr(c.says));
  // One line, ending in a newline.
  EXPECT_EQ(run.stderr_text.find('\n'), run.stderr_text.size() - 1)
      << run.stderr_text;
  EXPECT_EQ(CountFiles(out), 0) << "a failed run must not leave outputs";
}

INSTANTIATE_TEST_SUITE_P(
    BadSchemas, GeneratorFailureTest,
    ::testing::Values(
        FailureCase{"broken_yaml.yaml",
                    "broken_yaml.yaml:5:9: error: invalid YAML: ",
                    "end of map flow not found"},
        FailureCase{"one_of.yaml",
                    "one_of.yaml:7:7: error: Widget.properties.shape.oneOf: ",
                    "oneOf is not supported"},
        FailureCase{"all_of.yaml",
                    "all_of.yaml:6:7: error: Widget.properties.base.allOf: ",
                    "allOf is not supported except as allOf: [{$ref: ...}]"},
        FailureCase{"crd_unsupported.yaml",
                    "crd_unsupported.yaml:24:19: error: "
                    "spec.versions[0].schema.openAPIV3Schema."
                    "properties.spec.properties.selector.not: ",
                    "not is not supported"},
        FailureCase{
            "missing_ref.yaml",
            "missing_ref.yaml:5:13: error: Widget.properties.owner.$ref: ",
            "$ref \"#/Person\": no type Person in "
            "codegen/testdata/bad/missing_ref.yaml"},
        FailureCase{
            "missing_ref_file.yaml",
            "missing_ref_file.yaml:5:13: error: Widget.properties.owner.$ref: ",
            "codegen/testdata/bad/people.yaml is not among the generator's "
            "inputs"},
        FailureCase{
            "bad_pattern.yaml",
            "bad_pattern.yaml:6:16: error: Widget.properties.name.pattern: ",
            "not a valid RE2 regular expression: invalid perl operator: (?!"},
        FailureCase{
            "bad_default.yaml",
            "bad_default.yaml:7:16: error: Widget.properties.size.default: ",
            "default \"large\" does not fit the schema: expected a 32-bit "
            "integer"},
        FailureCase{"name_clash.yaml",
                    "name_clash.yaml:11:7: error: Widget.properties.right: ",
                    "two types would both be named Side"},
        FailureCase{"recursive.yaml", "recursive.yaml:2:3: error: Node: ",
                    "the type Node contains itself"},
        FailureCase{"unknown_keyword.yaml",
                    "unknown_keyword.yaml:6:18: error: "
                    "Widget.properties.name.maxlength: ",
                    "unknown schema keyword \"maxlength\""}),
    [](const ::testing::TestParamInfo<FailureCase>& info) {
      std::string name = info.param.file.substr(0, info.param.file.find('.'));
      return name;
    });

TEST(GeneratorFailureTest, MissingFileIsNamed) {
  GeneratorRun run =
      RunGenerator(generator, {"--out_dir=" + MakeTempDir("missing"),
                               "codegen/testdata/bad/no_such_file.yaml"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(
      run.stderr_text,
      "codegen/testdata/bad/no_such_file.yaml: error: cannot read file\n");
}

TEST(GeneratorFailureTest, UsageErrorsExitWithTwo) {
  GeneratorRun run = RunGenerator(generator, {"--out_dir=/tmp"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.stderr_text, HasSubstr("usage: openapi_gen"));
}

TEST(GeneratorFailureTest, BadNamespaceIsRejected) {
  GeneratorRun run = RunGenerator(
      generator, {"--out_dir=" + MakeTempDir("ns"), "--cpp_namespace=Zen Lead",
                  "codegen/testdata/features/enums.yaml"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.stderr_text,
              HasSubstr("\"Zen Lead\" is not a C++ namespace"));
}

// What `bazel build` prints when a schema is wrong: the genrule runs the
// generator with these flags, and its stderr is this single line, which
// editors and CI logs link to the file and line.
TEST(GeneratorFailureTest, BuildTimeMessageFormat) {
  const std::string out = MakeTempDir("build_time");
  GeneratorRun run =
      RunGenerator(generator, {"--out_dir=" + out, "--include_prefix=api/types",
                               "--cpp_namespace=zenlead::k8s",
                               "--manifest_out=" + out + "/core.openapi.json",
                               "codegen/testdata/bad/one_of.yaml=one_of"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(
      run.stderr_text,
      "codegen/testdata/bad/one_of.yaml:7:7: error: "
      "Widget.properties.shape.oneOf: oneOf is not supported: a C++ struct "
      "cannot be one of several schemas. Use optional fields of one "
      "object, or x-kubernetes-int-or-string for a number-or-name\n");
  EXPECT_EQ(CountFiles(out), 0);
}

}  // namespace
}  // namespace zenlead::codegen

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: generator_failure_test <openapi_gen>\n");
    return 2;
  }
  zenlead::codegen::generator = argv[1];
  return RUN_ALL_TESTS();
}
