// Golden tests: runs //codegen:openapi_gen on each schema of
// codegen/testdata/features/ the way openapi_cc_library does, and compares
// every generated file with codegen/testdata/golden/<file>.golden, so that
// any change to the generated code shows up in review. After an intended
// change, regenerate them with codegen/testdata/update_goldens.sh.
//
// Usage: golden_test <path of openapi_gen>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/test_util.h"
#include "gtest/gtest.h"

namespace zenlead::codegen {
namespace {

std::string generator;  // from argv[1]

struct GoldenCase {
  std::string name;
  // FILE=BASE, as openapi_cc_library passes them.
  std::vector<std::string> inputs;
  std::vector<std::string> extra_flags;
};

std::string Feature(const std::string& base) {
  return absl::StrCat("codegen/testdata/features/", base, ".yaml=", base);
}

std::vector<GoldenCase> Cases() {
  std::vector<GoldenCase> cases;
  for (const char* f :
       {"arrays", "defaults", "enums", "int_or_string", "maps", "nested",
        "optional_fields", "required_fields", "unknown_fields", "validation"}) {
    cases.push_back({f, {Feature(f)}, {}});
  }
  cases.push_back({"refs", {Feature("refs_common"), Feature("refs_main")}, {}});
  cases.push_back({"crd",
                   {Feature("crd")},
                   {"--import_manifest=api/types/core.openapi.json"}});
  return cases;
}

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, GeneratedCodeMatchesGolden) {
  const GoldenCase& c = GetParam();
  const std::string out = MakeTempDir("golden_" + c.name);
  std::vector<std::string> args = {
      "--out_dir=" + out,
      "--include_prefix=codegen/testdata",
      "--cpp_namespace=zenlead::codegen_test::" + c.name,
  };
  args.insert(args.end(), c.extra_flags.begin(), c.extra_flags.end());
  args.insert(args.end(), c.inputs.begin(), c.inputs.end());
  GeneratorRun run = RunGenerator(generator, args);
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  EXPECT_EQ(run.stderr_text, "");

  const char* update = std::getenv("ZEN_LEAD_UPDATE_GOLDENS");
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  for (const std::string& input : c.inputs) {
    const std::string base = input.substr(input.rfind('=') + 1);
    for (const std::string ext : {".h", ".cc"}) {
      const std::string generated =
          ReadFileOrEmpty(absl::StrCat(out, "/", base, ext));
      ASSERT_FALSE(generated.empty()) << base << ext << " was not generated";
      const std::string golden_path =
          absl::StrCat("codegen/testdata/golden/", base, ext, ".golden");
      if (update != nullptr && std::string(update) == "1" &&
          workspace != nullptr) {
        std::ofstream(absl::StrCat(workspace, "/", golden_path),
                      std::ios::binary)
            << generated;
        continue;
      }
      const std::string golden = ReadFileOrEmpty(golden_path);
      ASSERT_FALSE(golden.empty())
          << golden_path
          << " is missing: run codegen/testdata/update_goldens.sh";
      EXPECT_EQ(generated, golden)
          << base << ext << " differs from " << golden_path
          << "; if the change is intended, run "
             "codegen/testdata/update_goldens.sh";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Features, GoldenTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<GoldenCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace zenlead::codegen

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: golden_test <openapi_gen>\n");
    return 2;
  }
  zenlead::codegen::generator = argv[1];
  return RUN_ALL_TESTS();
}
