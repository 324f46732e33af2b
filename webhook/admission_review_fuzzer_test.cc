// Replays the fuzzer's seed corpus (webhook/testdata/admission_review_corpus)
// through LLVMFuzzerTestOneInput, compiled with the normal toolchain: every
// seed, and every prefix of each (truncated bodies are the commonest bad
// input). A crash input the fuzzer finds is added to the corpus, so it is
// checked by every test run from then on.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr char kCorpus[] = "webhook/testdata/admission_review_corpus";

std::vector<std::string> Seeds() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream data;
    data << in.rdbuf();
    out.push_back(data.str());
  }
  return out;
}

int Feed(const std::string& input) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                                input.size());
}

TEST(AdmissionReviewFuzzerTest, SeedsAndEveryPrefixOfThemPass) {
  const std::vector<std::string> seeds = Seeds();
  ASSERT_GE(seeds.size(), 5u) << "corpus missing from the runfiles";
  size_t inputs = 0;
  for (const std::string& seed : seeds) {
    for (size_t n = 0; n <= seed.size(); ++n) {
      ASSERT_EQ(Feed(seed.substr(0, n)), 0);
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 1000u);
}

}  // namespace
