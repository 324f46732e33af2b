#include "api/runtime/event_recorder.h"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "api/client/clock.h"
#include "api/client/errors.h"
#include "api/client/testing/fake_client.h"
#include "api/runtime/meta.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::FakeClient;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const ObjectReference kPolicy{"zen-lead.io/v1alpha1", "LeaderPolicy", "ns",
                              "db", "uid-1"};

// Records the Create and Patch calls the recorder makes; creates can be held
// to keep the writer busy.
class EventSink {
 public:
  explicit EventSink(FakeClient& fake) {
    fake.create =
        [this](const client::Resource& r, absl::string_view ns,
               const nlohmann::json& obj) -> absl::StatusOr<nlohmann::json> {
      absl::MutexLock lock(&mu_);
      ++creates_entered_;
      mu_.Await(absl::Condition(
          +[](bool* hold) { return !*hold; }, &hold_));
      EXPECT_EQ(r.ApiVersion(), "events.k8s.io/v1");
      EXPECT_EQ(r.resource, "events");
      EXPECT_EQ(ns, MetadataString(obj, "namespace"));
      created_.push_back(obj);
      return obj;
    };
    fake.patch = [this](
                     const client::Resource& r, absl::string_view ns,
                     absl::string_view name, client::PatchType type,
                     const nlohmann::json& patch,
                     absl::string_view sub) -> absl::StatusOr<nlohmann::json> {
      absl::MutexLock lock(&mu_);
      EXPECT_EQ(type, client::PatchType::kMerge);
      EXPECT_EQ(sub, "");
      patches_.push_back({std::string(name), patch});
      if (patch_not_found_) {
        return client::StatusFromResponse(
            404, R"({"kind":"Status","reason":"NotFound","code":404})");
      }
      return patch;
    };
  }
  std::vector<nlohmann::json> created() {
    absl::MutexLock lock(&mu_);
    return created_;
  }
  std::vector<std::pair<std::string, nlohmann::json>> patches() {
    absl::MutexLock lock(&mu_);
    return patches_;
  }
  void Hold(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  // Waits (real time) until n creates have started.
  bool AwaitCreatesEntered(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return creates_entered_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
  void PatchNotFound() {
    absl::MutexLock lock(&mu_);
    patch_not_found_ = true;
  }

 private:
  absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int creates_entered_ ABSL_GUARDED_BY(mu_) = 0;
  bool patch_not_found_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<nlohmann::json> created_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, nlohmann::json>> patches_
      ABSL_GUARDED_BY(mu_);
};

class EventRecorderTest : public ::testing::Test {
 protected:
  EventRecorderOptions Options() {
    EventRecorderOptions options;
    options.reporting_instance = "zen-lead-0";
    options.clock = &clock_;
    options.logger = &quiet_;
    return options;
  }
  // Flush with a deadline that never comes on the fake clock: returns when
  // the writer has handled everything.
  void Flush(EventRecorder& recorder) {
    ASSERT_TRUE(recorder.Flush(absl::InfiniteFuture()));
  }

  client::FakeClock clock_;
  FakeClient fake_;
  EventSink sink_{fake_};
  Logger quiet_{[](absl::string_view) {}, LogLevel::kError, nullptr};
};

// A throwing Client on the writer thread used to end the process.
TEST_F(EventRecorderTest, AThrowingClientDropsThatEventOnly) {
  FakeClient throwing;
  int calls = 0;
  throwing.create =
      [&](const client::Resource& r, absl::string_view ns,
          const nlohmann::json& obj) -> absl::StatusOr<nlohmann::json> {
    if (++calls == 1) throw std::runtime_error("client bug");
    return obj;
  };
  EventRecorder recorder(&throwing, Options());
  ASSERT_TRUE(
      recorder.Record(kPolicy, EventType::kWarning, "First", "Elect", "a")
          .ok());
  ASSERT_TRUE(
      recorder.Record(kPolicy, EventType::kNormal, "Second", "Elect", "b")
          .ok());
  Flush(recorder);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(recorder.stats().failed, 1);
  EXPECT_EQ(recorder.stats().created, 1);
}

TEST_F(EventRecorderTest, CreatesAnEventsV1Event) {
  EventRecorder recorder(&fake_, Options());
  ASSERT_TRUE(recorder
                  .Record(kPolicy, EventType::kNormal, "LeaderElected", "Elect",
                          "Pod db-0 is the leader")
                  .ok());
  Flush(recorder);
  ASSERT_EQ(sink_.created().size(), 1u);
  nlohmann::json e = sink_.created()[0];
  EXPECT_EQ(e["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_EQ(e["metadata"]["namespace"], "ns");
  EXPECT_THAT(e["metadata"]["name"].get<std::string>(),
              MatchesRegex("db\\.[0-9a-f]{16}"));
  EXPECT_EQ(e["eventTime"], FormatMicroTime(clock_.Now()));
  EXPECT_EQ(e["reportingController"], "zen-lead");
  EXPECT_EQ(e["reportingInstance"], "zen-lead-0");
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_EQ(e["reason"], "LeaderElected");
  EXPECT_EQ(e["action"], "Elect");
  EXPECT_EQ(e["note"], "Pod db-0 is the leader");
  EXPECT_EQ(e["regarding"],
            (nlohmann::json{{"apiVersion", "zen-lead.io/v1alpha1"},
                            {"kind", "LeaderPolicy"},
                            {"namespace", "ns"},
                            {"name", "db"},
                            {"uid", "uid-1"}}));
  EXPECT_FALSE(e.contains("series"));
  EXPECT_EQ(recorder.stats().created, 1);
}

TEST_F(EventRecorderTest, RepeatsWithinTheWindowUpdateTheSeries) {
  EventRecorder recorder(&fake_, Options());
  auto record = [&] {
    return recorder.Record(kPolicy, EventType::kWarning, "NoReadyCandidates",
                           "Elect", "no pod of pool db is Ready");
  };
  ASSERT_TRUE(record().ok());
  Flush(recorder);
  const std::string name = sink_.created().at(0)["metadata"]["name"];
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(record().ok());
  clock_.Advance(
      absl::Minutes(9));  // 9 min after the previous one: same series
  ASSERT_TRUE(record().ok());
  Flush(recorder);
  EXPECT_EQ(sink_.created().size(), 1u);
  ASSERT_EQ(sink_.patches().size(), 2u);
  EXPECT_EQ(sink_.patches()[0].first, name);
  EXPECT_EQ(
      sink_.patches()[0].second,
      (nlohmann::json{{"series",
                       {{"count", 2},
                        {"lastObservedTime",
                         FormatMicroTime(clock_.Now() - absl::Minutes(9))}}}}));
  EXPECT_EQ(sink_.patches()[1].second["series"]["count"], 3);
  EXPECT_EQ(sink_.patches()[1].second["series"]["lastObservedTime"],
            FormatMicroTime(clock_.Now()));

  clock_.Advance(absl::Minutes(10) + absl::Seconds(1));  // past the window
  ASSERT_TRUE(record().ok());
  Flush(recorder);
  EXPECT_EQ(sink_.created().size(), 2u);
  EXPECT_NE(sink_.created()[1]["metadata"]["name"], name);
  EXPECT_EQ(recorder.stats().patched, 2);
  EXPECT_EQ(recorder.stats().created, 2);
}

TEST_F(EventRecorderTest, DifferentNoteReasonOrObjectIsADifferentEvent) {
  EventRecorder recorder(&fake_, Options());
  ObjectReference other = kPolicy;
  other.name = "web";
  ASSERT_TRUE(
      recorder
          .Record(kPolicy, EventType::kNormal, "LeaderChanged", "Elect", "a")
          .ok());
  ASSERT_TRUE(
      recorder
          .Record(kPolicy, EventType::kNormal, "LeaderChanged", "Elect", "b")
          .ok());
  ASSERT_TRUE(
      recorder
          .Record(kPolicy, EventType::kNormal, "LeaderElected", "Elect", "a")
          .ok());
  ASSERT_TRUE(
      recorder.Record(other, EventType::kNormal, "LeaderChanged", "Elect", "a")
          .ok());
  Flush(recorder);
  EXPECT_EQ(sink_.created().size(), 4u);
  EXPECT_TRUE(sink_.patches().empty());
}

TEST_F(EventRecorderTest, AnExpiredEventStartsANewOne) {
  EventRecorder recorder(&fake_, Options());
  ASSERT_TRUE(
      recorder
          .Record(kPolicy, EventType::kNormal, "LeaderElected", "Elect", "x")
          .ok());
  Flush(recorder);
  sink_.PatchNotFound();
  ASSERT_TRUE(
      recorder
          .Record(kPolicy, EventType::kNormal, "LeaderElected", "Elect", "x")
          .ok());
  Flush(recorder);
  EXPECT_EQ(sink_.patches().size(), 1u);
  EXPECT_EQ(sink_.created().size(), 2u);
}

TEST_F(EventRecorderTest, RecordNeverBlocksAndDropsWhenTheQueueIsFull) {
  EventRecorderOptions options = Options();
  options.queue_size = 2;
  EventRecorder recorder(&fake_, std::move(options));
  sink_.Hold(true);
  auto record = [&](const std::string& note) {
    return recorder.Record(kPolicy, EventType::kNormal, "LeaderElected",
                           "Elect", note);
  };
  ASSERT_TRUE(record("1").ok());
  // The writer is stuck creating "1"; the queue is empty again.
  ASSERT_TRUE(sink_.AwaitCreatesEntered(1));
  EXPECT_FALSE(recorder.Flush(clock_.Now()));  // not drained: writer busy
  ASSERT_TRUE(record("2").ok());
  ASSERT_TRUE(record("3").ok());
  absl::Status dropped = record("4");
  EXPECT_EQ(dropped.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(recorder.stats().dropped, 1);
  sink_.Hold(false);
  Flush(recorder);
  std::vector<std::string> notes;
  for (const nlohmann::json& e : sink_.created()) notes.push_back(e["note"]);
  EXPECT_THAT(notes, ::testing::ElementsAre("1", "2", "3"));
}

TEST_F(EventRecorderTest, RejectsBadInput) {
  EventRecorder recorder(&fake_, Options());
  EXPECT_EQ(
      recorder.Record(kPolicy, EventType::kNormal, "leaderElected", "Elect", "")
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(recorder
                              .Record(kPolicy, EventType::kNormal,
                                      "Leader Elected", "Elect", "")
                              .message()),
              HasSubstr("UpperCamelCase"));
  EXPECT_EQ(
      recorder.Record(kPolicy, EventType::kNormal, "LeaderElected", "", "")
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(recorder
                .Record(ObjectReference(), EventType::kNormal, "LeaderElected",
                        "Elect", "")
                .code(),
            absl::StatusCode::kInvalidArgument);
  EventRecorderOptions anonymous = Options();
  anonymous.reporting_instance = "";
  EventRecorder no_instance(&fake_, std::move(anonymous));
  EXPECT_EQ(
      no_instance
          .Record(kPolicy, EventType::kNormal, "LeaderElected", "Elect", "")
          .code(),
      absl::StatusCode::kFailedPrecondition);
  recorder.Stop();
  EXPECT_EQ(
      recorder.Record(kPolicy, EventType::kNormal, "LeaderElected", "Elect", "")
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST_F(EventRecorderTest, LongNotesAreCutOnACharacterBoundary) {
  EventRecorder recorder(&fake_, Options());
  std::string note(1023, 'x');
  note += "\xc3\xa9";  // "é": bytes 1024 and 1025
  ASSERT_TRUE(
      recorder
          .Record(kPolicy, EventType::kNormal, "LeaderElected", "Elect", note)
          .ok());
  Flush(recorder);
  EXPECT_EQ(sink_.created().at(0)["note"].get<std::string>(),
            std::string(1023, 'x'));
}

TEST_F(EventRecorderTest, ClusterScopedObjectsGetEventsInDefault) {
  EventRecorder recorder(&fake_, Options());
  ObjectReference node{"v1", "Node", "", "Node_1", "n-uid"};
  ASSERT_TRUE(
      recorder.Record(node, EventType::kNormal, "Seen", "Observe", "").ok());
  Flush(recorder);
  nlohmann::json e = sink_.created().at(0);
  EXPECT_EQ(e["metadata"]["namespace"], "default");
  EXPECT_FALSE(e["regarding"].contains("namespace"));
  EXPECT_THAT(e["metadata"]["name"].get<std::string>(),
              MatchesRegex("node-1\\.[0-9a-f]{16}"));
}

}  // namespace
}  // namespace zenlead::runtime
