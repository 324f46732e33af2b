// The event recorder against a real API server (e2e/cluster; KUBECONFIG):
// repeats of one event become one events.k8s.io/v1 Event whose series counts
// them; a different note is a different Event.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//       //api/client:event_recorder_e2e_test
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/runtime/event_recorder.h"
#include "api/runtime/meta.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;

const client::Resource kConfigMaps{"", "v1", "configmaps", true};
const client::Resource kEvents{"events.k8s.io", "v1", "events", true};

TEST(EventRecorderE2eTest, RepeatsAggregateIntoOneEventSeries) {
  std::unique_ptr<client::RestClient> client = NewE2eClient();
  ASSERT_NE(client, nullptr);
  TestNamespace ns(client.get(), "ev-e2e");
  absl::StatusOr<nlohmann::json> subject =
      client->Create(kConfigMaps, ns.name(),
                     {{"apiVersion", "v1"},
                      {"kind", "ConfigMap"},
                      {"metadata", {{"name", "subject"}}}});
  ASSERT_TRUE(subject.ok()) << subject.status();
  const ObjectReference ref{"v1", "ConfigMap", ns.name(), "subject",
                            MetadataString(*subject, "uid")};

  EventRecorderOptions options;
  options.reporting_instance = "zen-lead-e2e-0";
  EventRecorder recorder(client.get(), std::move(options));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(recorder
                    .Record(ref, EventType::kWarning, "NoReadyCandidates",
                            "Elect", "no pod of pool db is Ready")
                    .ok());
  }
  ASSERT_TRUE(recorder
                  .Record(ref, EventType::kWarning, "NoReadyCandidates",
                          "Elect", "no pod of pool web is Ready")
                  .ok());
  ASSERT_TRUE(recorder.Flush(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(recorder.stats().created, 2);
  EXPECT_EQ(recorder.stats().patched, 2);
  EXPECT_EQ(recorder.stats().failed, 0);

  absl::StatusOr<nlohmann::json> events =
      client->List(kEvents, ns.name(), client::ListOptions());
  ASSERT_TRUE(events.ok()) << events.status();
  std::vector<nlohmann::json> ours;
  for (const nlohmann::json& e : (*events)["items"]) {
    if (e.value("reportingController", "") == "zen-lead") ours.push_back(e);
  }
  ASSERT_EQ(ours.size(), 2u) << events->dump(2);
  for (const nlohmann::json& e : ours) {
    EXPECT_EQ(e["reason"], "NoReadyCandidates");
    EXPECT_EQ(e["type"], "Warning");
    EXPECT_EQ(e["action"], "Elect");
    EXPECT_EQ(e["reportingInstance"], "zen-lead-e2e-0");
    EXPECT_EQ(e["regarding"]["uid"], ref.uid);
    EXPECT_EQ(e["regarding"]["kind"], "ConfigMap");
    if (e["note"] == "no pod of pool db is Ready") {
      ASSERT_TRUE(e.contains("series")) << e.dump(2);
      EXPECT_EQ(e["series"]["count"], 3);
      EXPECT_TRUE(e["series"].contains("lastObservedTime"));
      std::cout << "aggregated event: " << e["metadata"]["name"] << " series "
                << e["series"].dump() << "\n";
    } else {
      EXPECT_EQ(e["note"], "no pod of pool web is Ready");
      EXPECT_FALSE(e.contains("series")) << e.dump(2);
    }
  }
}

}  // namespace
}  // namespace zenlead::runtime
