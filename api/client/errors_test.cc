#include "api/client/errors.h"

#include <string>

#include "gtest/gtest.h"

namespace zenlead::client {
namespace {

std::string StatusBody(int code, const std::string& reason,
                       const std::string& message) {
  nlohmann::json status = {{"kind", "Status"},    {"apiVersion", "v1"},
                           {"status", "Failure"}, {"code", code},
                           {"reason", reason},    {"message", message}};
  return status.dump();
}

struct MappingCase {
  int http_code;
  const char* reason;
  absl::StatusCode expected;
};

class MappingTest : public ::testing::TestWithParam<MappingCase> {};

TEST_P(MappingTest, MapsCodeAndKeepsPayloads) {
  const MappingCase& c = GetParam();
  absl::Status status = StatusFromResponse(
      c.http_code, StatusBody(c.http_code, c.reason, "the server said so"));
  EXPECT_EQ(status.code(), c.expected) << status;
  EXPECT_EQ(HttpCodeOf(status), c.http_code);
  EXPECT_EQ(ReasonOf(status), c.reason);
  EXPECT_EQ(KubernetesMessageOf(status), "the server said so");
  EXPECT_NE(status.message().find("the server said so"),
            absl::string_view::npos)
      << status;
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, MappingTest,
    ::testing::Values(
        MappingCase{400, "BadRequest", absl::StatusCode::kInvalidArgument},
        MappingCase{401, "Unauthorized", absl::StatusCode::kUnauthenticated},
        MappingCase{403, "Forbidden", absl::StatusCode::kPermissionDenied},
        MappingCase{404, "NotFound", absl::StatusCode::kNotFound},
        MappingCase{409, "AlreadyExists", absl::StatusCode::kAlreadyExists},
        MappingCase{409, "Conflict", absl::StatusCode::kAborted},
        MappingCase{410, "Expired", absl::StatusCode::kFailedPrecondition},
        MappingCase{410, "Gone", absl::StatusCode::kFailedPrecondition},
        MappingCase{422, "Invalid", absl::StatusCode::kInvalidArgument},
        MappingCase{429, "TooManyRequests",
                    absl::StatusCode::kResourceExhausted},
        MappingCase{500, "InternalError", absl::StatusCode::kUnavailable},
        MappingCase{503, "ServiceUnavailable", absl::StatusCode::kUnavailable},
        MappingCase{504, "Timeout", absl::StatusCode::kDeadlineExceeded}));

TEST(ErrorsTest, SuccessIsOk) {
  EXPECT_TRUE(StatusFromResponse(200, "{}").ok());
  EXPECT_TRUE(StatusFromResponse(201, "").ok());
}

TEST(ErrorsTest, Predicates) {
  absl::Status not_found =
      StatusFromResponse(404, StatusBody(404, "NotFound", "x not found"));
  absl::Status exists = StatusFromResponse(
      409, StatusBody(409, "AlreadyExists", "x already exists"));
  absl::Status conflict = StatusFromResponse(
      409, StatusBody(409, "Conflict", "the object has been modified"));
  absl::Status gone =
      StatusFromResponse(410, StatusBody(410, "Expired", "too old"));
  absl::Status invalid =
      StatusFromResponse(422, StatusBody(422, "Invalid", "spec.x: Invalid"));
  absl::Status throttled =
      StatusFromResponse(429, StatusBody(429, "TooManyRequests", "slow down"));

  EXPECT_TRUE(IsNotFound(not_found));
  EXPECT_FALSE(IsNotFound(conflict));
  EXPECT_TRUE(IsAlreadyExists(exists));
  EXPECT_FALSE(IsConflict(exists));
  EXPECT_TRUE(IsConflict(conflict));
  EXPECT_FALSE(IsAlreadyExists(conflict));
  EXPECT_TRUE(IsGone(gone));
  EXPECT_FALSE(IsGone(not_found));
  EXPECT_TRUE(IsInvalid(invalid));
  EXPECT_FALSE(IsInvalid(not_found));
  EXPECT_TRUE(IsRetriable(throttled));
  EXPECT_FALSE(IsRetriable(conflict));
  EXPECT_FALSE(IsRetriable(invalid));
  EXPECT_FALSE(IsNotFound(absl::OkStatus()));
  EXPECT_FALSE(IsGone(absl::OkStatus()));
  EXPECT_FALSE(IsRetriable(absl::OkStatus()));
}

TEST(ErrorsTest, RetriableCodesAndTransportErrors) {
  for (int code : {500, 502, 503, 504, 429}) {
    EXPECT_TRUE(IsRetriable(StatusFromResponse(code, ""))) << code;
  }
  for (int code : {400, 401, 403, 404, 409, 410, 422}) {
    EXPECT_FALSE(IsRetriable(StatusFromResponse(code, ""))) << code;
  }
  absl::Status refused = ConnectionError("Connection refused");
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpCodeOf(refused), 0);
  EXPECT_TRUE(IsRetriable(refused));
  EXPECT_TRUE(IsRetriable(absl::DeadlineExceededError("timed out")));
  // Errors that did not come from the API at all are not "retriable" here.
  EXPECT_FALSE(IsRetriable(absl::InvalidArgumentError("bad name")));
}

TEST(ErrorsTest, WatchErrorEventWith410IsGone) {
  // The object of {"type":"ERROR"} after a watch from a compacted version.
  nlohmann::json object = nlohmann::json::parse(R"json({
    "kind": "Status", "apiVersion": "v1", "metadata": {},
    "status": "Failure",
    "message": "too old resource version: 1 (4242)",
    "reason": "Expired", "code": 410})json");
  absl::Status status = StatusFromKubernetesStatus(object);
  EXPECT_TRUE(IsGone(status));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(HttpCodeOf(status), 410);
  EXPECT_NE(status.message().find("too old resource version"),
            absl::string_view::npos);
}

TEST(ErrorsTest, StatusWithoutCodeInfersFromReason) {
  absl::Status status = StatusFromKubernetesStatus(
      {{"kind", "Status"}, {"reason", "Expired"}, {"message", "gone"}});
  EXPECT_TRUE(IsGone(status));
}

TEST(ErrorsTest, MalformedStatusObjectIsInternal) {
  EXPECT_EQ(StatusFromKubernetesStatus("not an object").code(),
            absl::StatusCode::kInternal);
}

TEST(ErrorsTest, NonStatusBodyKeepsCodeAndExcerpt) {
  absl::Status status =
      StatusFromResponse(502, "<html>Bad gateway from the proxy</html>");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpCodeOf(status), 502);
  EXPECT_NE(status.message().find("Bad gateway from the proxy"),
            absl::string_view::npos);
  std::string huge(10000, 'x');
  EXPECT_LT(StatusFromResponse(500, huge).message().size(), 400u);
}

TEST(ErrorsTest, MissingReasonGetsTheDefaultForTheCode) {
  absl::Status status = StatusFromResponse(404, R"({"kind":"Status"})");
  EXPECT_EQ(ReasonOf(status), "NotFound");
  EXPECT_TRUE(IsNotFound(status));
}

TEST(ErrorsTest, WithContextKeepsCodeAndPayloads) {
  absl::Status status = WithContext(
      StatusFromResponse(409, StatusBody(409, "Conflict", "modified")),
      "PUT /api/v1/namespaces/a/configmaps/b");
  EXPECT_TRUE(IsConflict(status));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status.message().substr(0, 40),
            "PUT /api/v1/namespaces/a/configmaps/b: m");
  EXPECT_TRUE(WithContext(absl::OkStatus(), "x").ok());
}

TEST(ErrorsTest, OtherCodes) {
  EXPECT_EQ(CodeForHttp(405, ""), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(CodeForHttp(418, ""), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeForHttp(507, ""), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace zenlead::client
