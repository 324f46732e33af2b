#include "api/client/exceptions.h"

#include <stdexcept>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead::client {
namespace {

using ::testing::HasSubstr;

TEST(ExceptionsTest, TurnsWhatWasThrownIntoAnInternalErrorAndCountsIt) {
  const int64_t before = CaughtExceptions();
  absl::Status s = CallCatchingExceptions("reading a pod", [] {
    nlohmann::json pod = {{"spec", "not an object"}};
    (void)pod.at("spec").value("nodeName", "");  // throws type_error
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("reading a pod threw an exception: "));
  EXPECT_THAT(s.message(), HasSubstr("type_error"));

  s = CallCatchingExceptions("a handler", [] { throw 42; });
  EXPECT_THAT(s.message(), HasSubstr("not a std::exception"));
  EXPECT_EQ(CaughtExceptions(), before + 2);

  int ran = 0;
  EXPECT_TRUE(CallCatchingExceptions("fine", [&] { ++ran; }).ok());
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(CaughtExceptions(), before + 2);
}

}  // namespace
}  // namespace zenlead::client
