// libFuzzer target for the AdmissionReview path: any bytes as an HTTP body
// through DecodeReview, CheckRoute on both routes and the response encoding.
// Beyond "no crash, no sanitizer report" it checks what the server relies
// on: every answer is JSON, and a decoded review's answer decodes back as an
// AdmissionReview response echoing the request's uid.
//
// Built two ways: webhook/fuzz.sh compiles it with clang -fsanitize=fuzzer
// and runs it for a bounded time (docs/webhook.md, "Fuzzing"); Bazel links
// it into //webhook:admission_review_fuzzer_test, which replays the seed
// corpus and every prefix of each seed with GCC, so a crash the fuzzer
// found once stays fixed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/types/admissionreview.h"
#include "nlohmann/json.hpp"
#include "webhook/admission_review.h"

namespace {

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "admission_review_fuzzer: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using zenlead::webhook::Decision;
  namespace k8s = zenlead::k8s;
  namespace webhook = zenlead::webhook;

  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<k8s::AdmissionReview> review = webhook::DecodeReview(body);
  if (!review.ok()) {
    Require(!review.status().message().empty(), "an error without a message");
    Require(nlohmann::json::accept(webhook::ErrorReviewJson(review.status())),
            "an error answer that is not JSON");
    return 0;
  }
  Require(review->request.has_value() && !review->request->uid.empty(),
          "a decoded review without a request uid");
  for (const webhook::RouteSpec& route :
       {webhook::PodsRoute(), webhook::LeaderPoliciesRoute()}) {
    const absl::Status fits = webhook::CheckRoute(route, *review->request);
    const Decision decision = fits.ok() ? Decision::Allow("Fuzz")
                                        : Decision::Error("WrongObject", fits);
    const std::string answer =
        webhook::EncodeResponse(review->request->uid, decision);
    const nlohmann::json parsed =
        nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
    Require(!parsed.is_discarded(), "an answer that is not JSON");
    absl::StatusOr<k8s::AdmissionReview> back =
        k8s::AdmissionReview::FromJson(parsed);
    Require(back.ok() && back->response.has_value(),
            "an answer that is not an AdmissionReview response");
    Require(back->response->uid == review->request->uid,
            "an answer with another uid");
    Require(back->response->allowed == fits.ok(), "a changed decision");
  }
  return 0;
}
