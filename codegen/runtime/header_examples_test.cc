// The usage examples at the top of codegen/runtime's headers, compiled and
// run (STYLE.md: examples must compile, or they rot). Each test's body is its
// header's example as written there, with the pod, clock and client it
// assumes defined here, and checks what the example's comments promise.
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/client/testing/fake_client.h"
#include "api/types/pod.h"
#include "codegen/runtime/openapi.h"
#include "codegen/runtime/typed_client.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead {
namespace {

using client::testing::FakeClient;
using k8s::Pod;

const absl::Time kCreated = absl::FromCivil(
    absl::CivilSecond(2025, 3, 1, 12, 0, 0), absl::UTCTimeZone());

nlohmann::json PodJson() {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"namespace", "ns"},
            {"name", "web-0"},
            {"creationTimestamp", "2025-03-01T12:00:00Z"}}}};
}

TEST(HeaderExamplesTest, OpenapiH) {
  absl::StatusOr<Pod> decoded = Pod::FromJson(PodJson());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const Pod& pod = *decoded;
  client::FakeClock clock(kCreated + absl::Microseconds(1500));

  namespace openapi = zenlead::openapi;
  openapi::IntOrString target = openapi::IntOrString("http");
  absl::StatusOr<absl::Time> created =
      openapi::ParseDateTime(*pod.metadata->creation_timestamp);
  std::string renew_time = openapi::FormatMicroTime(clock.Now());
  absl::StatusOr<int64_t> milli_cpu = openapi::ParseQuantityMilli("250m");

  EXPECT_TRUE(target.is_string());
  EXPECT_EQ(target.string_value(), "http");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(*created, kCreated);
  EXPECT_EQ(renew_time, "2025-03-01T12:00:00.001500Z");
  ASSERT_TRUE(milli_cpu.ok()) << milli_cpu.status();
  EXPECT_EQ(*milli_cpu, 250);
}

TEST(HeaderExamplesTest, TypedClientH) {
  FakeClient client;
  client.get = [](const client::Resource&, absl::string_view ns,
                  absl::string_view name) {
    EXPECT_EQ(ns, "ns");
    EXPECT_EQ(name, "web-0");
    return FakeClient::JsonResult(PodJson());
  };
  const client::Resource resource{"", "v1", "pods", true};

  // typed_client.h writes DecodeAnswer<Pod>(answer), which does not compile:
  // DecodeAnswer also takes the type's name, for its error messages.
  absl::StatusOr<Pod> pod =
      openapi::DecodeAnswer<Pod>(client.Get(resource, "ns", "web-0"), "Pod");
  ASSERT_TRUE(pod.ok()) << pod.status();  // not in the example
  nlohmann::json body = openapi::WithTypeMeta(pod->ToJson(), "v1", "Pod");

  EXPECT_EQ(pod->metadata->name, "web-0");
  EXPECT_EQ(body["apiVersion"], "v1");
  EXPECT_EQ(body["kind"], "Pod");
  EXPECT_EQ(body["metadata"]["name"], "web-0");
}

}  // namespace
}  // namespace zenlead
