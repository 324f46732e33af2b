#include "webhook/admission_review.h"

#include <string>

#include "absl/status/status.h"
#include "api/types/pod.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead::webhook {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

json PodReview(const std::string& uid) {
  json review = json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
      "uid": "", "kind": {"group": "", "version": "v1", "kind": "Pod"},
      "resource": {"group": "", "version": "v1", "resource": "pods"},
      "namespace": "shop", "operation": "CREATE",
      "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
      "object": {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"generateName": "web-", "namespace": "shop"},
                 "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
      "dryRun": false
    }
  })");
  review["request"]["uid"] = uid;
  return review;
}

// The header's example, as written there.
std::string HeaderExample(const std::string& body) {
  absl::StatusOr<k8s::AdmissionReview> review = DecodeReview(body);
  if (!review.ok()) {
    // HTTP 400, the message names the field: "request.uid: required ..."
    return ErrorReviewJson(review.status());
  }
  const k8s::AdmissionRequest& request = *review->request;
  absl::Status fits = CheckRoute(PodsRoute(), request);
  Decision decision = fits.ok() ? Decision::Allow("OutsidePool")
                                : Decision::Error("WrongObject", fits);
  std::string answer = EncodeResponse(request.uid, decision);
  return answer;
}

TEST(AdmissionReviewTest, HeaderExampleAllowsAPodAndEchoesTheUid) {
  const json answer = json::parse(HeaderExample(PodReview("a1").dump()));
  EXPECT_EQ(answer, json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "response": {"uid": "a1", "allowed": true}
  })"));
  const json error = json::parse(HeaderExample("{"));
  EXPECT_EQ(error["response"]["uid"], "");
  EXPECT_EQ(error["response"]["allowed"], false);
  EXPECT_EQ(error["response"]["status"]["code"], 400);
}

TEST(AdmissionReviewTest, DecodesARealReview) {
  absl::StatusOr<k8s::AdmissionReview> review =
      DecodeReview(PodReview("705ab4f5-6393-11e8-b7cc-42010a800002").dump());
  ASSERT_TRUE(review.ok()) << review.status();
  const k8s::AdmissionRequest& request = *review->request;
  EXPECT_EQ(request.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(request.operation, "CREATE");
  EXPECT_EQ(request.namespace_field, "shop");
  EXPECT_TRUE(CheckRoute(PodsRoute(), request).ok());

  absl::StatusOr<k8s::Pod> pod = DecodeObject<k8s::Pod>(request);
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_TRUE(pod->metadata.has_value());
  EXPECT_EQ(pod->metadata->generate_name, "web-");
}

struct BadBody {
  const char* name;
  std::string body;
  const char* message;
};

TEST(AdmissionReviewTest, BadBodiesAreInvalidArgumentsNamingTheProblem) {
  json no_uid = PodReview("x");
  no_uid["request"].erase("uid");
  json empty_uid = PodReview("");
  json wrong_version = PodReview("x");
  wrong_version["apiVersion"] = "admission.k8s.io/v1beta1";
  json no_version = PodReview("x");
  no_version.erase("apiVersion");
  json wrong_kind = PodReview("x");
  wrong_kind["kind"] = "Pod";
  json no_request = PodReview("x");
  no_request.erase("request");
  json null_request = PodReview("x");
  null_request["request"] = nullptr;
  json request_string = PodReview("x");
  request_string["request"] = "hello";
  json uid_number = PodReview("x");
  uid_number["request"]["uid"] = 7;
  json bad_operation = PodReview("x");
  bad_operation["request"]["operation"] = "PATCH";
  const std::string valid = PodReview("x").dump();

  const BadBody cases[] = {
      {"empty", "", "the request body is empty"},
      {"not json", "hello", "not valid JSON"},
      {"truncated", valid.substr(0, valid.size() / 2), "not valid JSON"},
      {"trailing garbage", valid + "}", "not valid JSON"},
      {"array", "[1, 2]", "is a JSON array"},
      {"string", "\"AdmissionReview\"", "is a JSON string"},
      {"deep", std::string(10000, '[') + std::string(10000, ']'),
       "deeper than 200 levels"},
      {"wrong apiVersion", wrong_version.dump(),
       "apiVersion: expected \"admission.k8s.io/v1\", got "
       "\"admission.k8s.io/v1beta1\""},
      {"no apiVersion", no_version.dump(), "got none"},
      {"wrong kind", wrong_kind.dump(),
       "kind: expected \"AdmissionReview\", got \"Pod\""},
      {"no request", no_request.dump(), "request: required field is missing"},
      {"null request", null_request.dump(),
       "request: required field is missing"},
      {"request not an object", request_string.dump(),
       "request: expected object, got string"},
      {"no uid", no_uid.dump(), "request.uid: required field is missing"},
      {"empty uid", empty_uid.dump(), "request.uid: must not be empty"},
      {"uid a number", uid_number.dump(), "request.uid: expected string"},
      {"unknown operation", bad_operation.dump(), "request.operation"},
  };
  for (const BadBody& c : cases) {
    absl::StatusOr<k8s::AdmissionReview> review = DecodeReview(c.body);
    ASSERT_FALSE(review.ok()) << c.name;
    EXPECT_EQ(review.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_THAT(std::string(review.status().message()), HasSubstr(c.message))
        << c.name;
  }
}

TEST(AdmissionReviewTest, BracketsInStringsDoNotCountAsDepth) {
  json review = PodReview("deep-string");
  review["request"]["object"]["metadata"]["annotations"] = {
      {"note", std::string(5000, '[')}};
  EXPECT_TRUE(DecodeReview(review.dump()).ok());
}

TEST(AdmissionReviewTest, CheckRouteNamesTheMismatch) {
  json deployment = PodReview("d");
  deployment["request"]["kind"] = {
      {"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  json update = PodReview("u");
  update["request"]["operation"] = "UPDATE";
  json no_object = PodReview("n");
  no_object["request"].erase("object");
  json object_array = PodReview("a");
  object_array["request"]["object"] = json::array();
  json object_kind = PodReview("k");
  object_kind["request"]["object"]["kind"] = "Service";
  json object_version = PodReview("v");
  object_version["request"]["object"]["apiVersion"] = "apps/v1";

  const struct {
    json review;
    const char* message;
  } cases[] = {
      {deployment,
       "request.kind: the pods webhook reviews v1, Kind=Pod, got apps/v1, "
       "Kind=Deployment"},
      {update,
       "request.operation: the pods webhook reviews CREATE, got "
       "UPDATE"},
      {no_object, "request.object: required field is missing"},
      {object_array, "request.object: expected object, got array"},
      {object_kind, "request.object.kind: expected \"Pod\", got \"Service\""},
      {object_version,
       "request.object.apiVersion: expected \"v1\", got \"apps/v1\""},
  };
  for (const auto& c : cases) {
    absl::StatusOr<k8s::AdmissionReview> review = DecodeReview(c.review.dump());
    ASSERT_TRUE(review.ok()) << review.status();
    absl::Status fits = CheckRoute(PodsRoute(), *review->request);
    EXPECT_EQ(fits.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(fits.message()), HasSubstr(c.message));
  }
}

TEST(AdmissionReviewTest, LeaderPoliciesRouteTakesCreateAndUpdate) {
  json review = PodReview("p");
  review["request"]["kind"] = {{"group", "coordination.kube-zen.io"},
                               {"version", "v1alpha1"},
                               {"kind", "LeaderPolicy"}};
  review["request"]["object"] = {
      {"apiVersion", "coordination.kube-zen.io/v1alpha1"},
      {"kind", "LeaderPolicy"}};
  for (const char* op : {"CREATE", "UPDATE"}) {
    review["request"]["operation"] = op;
    absl::StatusOr<k8s::AdmissionReview> decoded = DecodeReview(review.dump());
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_TRUE(CheckRoute(LeaderPoliciesRoute(), *decoded->request).ok())
        << op;
    EXPECT_FALSE(CheckRoute(PodsRoute(), *decoded->request).ok()) << op;
  }
}

TEST(AdmissionReviewTest, DecodeObjectPathsStartAtRequestObject) {
  json review = PodReview("o");
  review["request"]["object"]["metadata"]["labels"] = {{"app", 7}};
  absl::StatusOr<k8s::AdmissionReview> decoded = DecodeReview(review.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  absl::StatusOr<k8s::Pod> pod = DecodeObject<k8s::Pod>(*decoded->request);
  ASSERT_FALSE(pod.ok());
  EXPECT_THAT(std::string(pod.status().message()),
              HasSubstr("request.object.metadata.labels[app]: expected "
                        "string"));
}

TEST(AdmissionReviewTest, ResponsesCarryStatusAndWarnings) {
  Decision deny = Decision::Deny(
      "PoolHeld",
      "pool shop/db is held by pod db-0; kubectl get lease -n shop db");
  deny.warnings = {"a warning"};
  EXPECT_EQ(json::parse(EncodeResponse("u1", deny)), json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "response": {"uid": "u1", "allowed": false, "warnings": ["a warning"],
      "status": {"status": "Failure", "code": 403, "reason": "Forbidden",
        "message": "pool shop/db is held by pod db-0; kubectl get lease -n shop db"}}
  })"));

  Decision allow = Decision::Allow("Valid");
  allow.warnings = {"spec.renewDeadlineSeconds is close to the lease"};
  EXPECT_EQ(json::parse(EncodeResponse("u2", allow))["response"],
            json::parse(R"({
    "uid": "u2", "allowed": true,
    "warnings": ["spec.renewDeadlineSeconds is close to the lease"]})"));

  const json error = json::parse(EncodeResponse(
      "u3", Decision::Error("HandlerTimeout",
                            absl::DeadlineExceededError("no decision in 2s"))));
  EXPECT_EQ(error["response"]["status"]["code"], 504);
  EXPECT_EQ(error["response"]["status"]["reason"], "Timeout");
  EXPECT_EQ(error["response"]["status"]["message"], "no decision in 2s");
}

TEST(AdmissionReviewTest, ResponseIsTheGeneratedType) {
  k8s::AdmissionReview review = ResponseReview("u", Decision::Allow("Ok"));
  ASSERT_TRUE(review.response.has_value());
  EXPECT_EQ(review.response->uid, "u");
  EXPECT_TRUE(review.response->allowed);
  EXPECT_FALSE(review.request.has_value());
  EXPECT_TRUE(Validate(review).ok());
}

TEST(AdmissionReviewTest, InvalidUtf8InMessagesIsReplacedNotThrown) {
  Decision deny = Decision::Deny("Bad", std::string("bad byte \xff here"));
  const std::string body = EncodeResponse("u", deny);
  EXPECT_TRUE(json::accept(body));
  EXPECT_THAT(body, HasSubstr("bad byte"));
}

TEST(AdmissionReviewTest, HttpStatusForCanonicalCodes) {
  EXPECT_EQ(HttpStatusFor(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("")), 400);
  EXPECT_EQ(HttpStatusFor(absl::PermissionDeniedError("")), 403);
  EXPECT_EQ(HttpStatusFor(absl::AbortedError("")), 409);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("")), 503);
  EXPECT_EQ(HttpStatusFor(absl::DeadlineExceededError("")), 504);
  EXPECT_EQ(HttpStatusFor(absl::InternalError("")), 500);
}

}  // namespace
}  // namespace zenlead::webhook
