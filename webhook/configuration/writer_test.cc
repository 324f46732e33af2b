// The writer's own logic over a scripted client: what it applies and how,
// which events make it write, retries on the injected clock. What the API
// server does with the writes (no-op applies, garbage collection, the
// webhooks being called) is in configuration_e2e_test.cc.
#include "webhook/configuration/writer.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/errors.h"
#include "api/client/status_macros.h"
#include "api/client/testing/fake_client.h"
#include "api/runtime/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace zenlead::webhook::configuration {
namespace {

using client::WatchEvent;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kCa1[] =
    "-----BEGIN CERTIFICATE-----\nONE\n-----END CERTIFICATE-----\n";
constexpr char kCa2[] =
    "-----BEGIN CERTIFICATE-----\nTWO\n-----END CERTIFICATE-----\n";
constexpr absl::Duration kWait = absl::Seconds(10);

struct Applied {
  std::string resource;
  std::string name;
  json body;
  client::ApplyOptions options;
};

// A scripted API: the owner exists with owner_uid_, applies answer with
// the next resourceVersion (or the scripted errors first), the list is
// empty and the watch replays what a test pushes.
class WriterTest : public ::testing::Test {
 protected:
  WriterTest()
      : logger_([this](absl::string_view line) { Log(line); },
                runtime::LogLevel::kDebug, &clock_) {
    fake_.get = [this](const client::Resource& r, absl::string_view,
                       absl::string_view name) -> absl::StatusOr<json> {
      absl::MutexLock lock(&mu_);
      if (!owner_exists_) {
        return client::StatusFromResponse(
            404, R"({"kind":"Status","reason":"NotFound","code":404})");
      }
      return json{{"apiVersion", r.ApiVersion()},
                  {"metadata", {{"name", name}, {"uid", owner_uid_}}}};
    };
    fake_.list = [](const client::Resource&, absl::string_view,
                    const client::ListOptions&) -> absl::StatusOr<json> {
      return json{{"metadata", {{"resourceVersion", "1"}}},
                  {"items", json::array()}};
    };
    fake_.apply = [this](const client::Resource& r, absl::string_view,
                         absl::string_view name, const json& body,
                         const client::ApplyOptions& options,
                         absl::string_view) -> absl::StatusOr<json> {
      absl::MutexLock lock(&mu_);
      applied_.push_back({r.resource, std::string(name), body, options});
      if (!apply_errors_.empty()) {
        absl::Status error = apply_errors_.front();
        apply_errors_.erase(apply_errors_.begin());
        return error;
      }
      json out = body;
      out["metadata"]["resourceVersion"] = absl::StrCat(++resource_version_);
      return out;
    };
  }

  ~WriterTest() override { fake_.Stop(); }

  WriterOptions Options() {
    WriterOptions options;
    options.desired.base_url = "https://127.0.0.1:9443";
    options.desired.zen_lead_namespace = "zen-lead-system";
    options.owner = OwnerName{OwnerKind::kClusterRole, "zen-lead-manager"};
    options.clock = &clock_;
    options.logger = &logger_;
    return options;
  }

  std::unique_ptr<Writer> NewWriter(WriterOptions options) {
    absl::StatusOr<std::unique_ptr<Writer>> writer =
        Writer::Create(&fake_, &fake_, std::move(options));
    EXPECT_TRUE(writer.ok()) << writer.status();
    return writer.ok() ? *std::move(writer) : nullptr;
  }

  // The configuration as the watch would report it.
  json Event(const std::string& resource_version) {
    return json{{"apiVersion", "admissionregistration.k8s.io/v1"},
                {"kind", "ValidatingWebhookConfiguration"},
                {"metadata",
                 {{"name", kDefaultConfigurationName},
                  {"resourceVersion", resource_version}}}};
  }

  std::vector<Applied> applied() {
    absl::MutexLock lock(&mu_);
    return applied_;
  }
  bool AwaitApplies(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return applied_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  // Waits (in real time) until the keeper has looked `n` times in all.
  static bool AwaitChecks(const Writer& writer, int64_t n) {
    const absl::Time deadline = absl::Now() + kWait;
    while (writer.stats().checks < n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  // The retry_in of each "retrying" line.
  std::vector<std::string> RetryWaits() {
    std::vector<std::string> waits;
    for (const std::string& line : logs()) {
      if (absl::StrContains(line, "cannot write the webhook configuration")) {
        waits.push_back(json::parse(line).value("retry_in", ""));
      }
    }
    return waits;
  }
  bool AwaitRetryLogs(size_t n) {
    const absl::Time deadline = absl::Now() + kWait;
    while (RetryWaits().size() < n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  std::vector<std::string> logs() {
    absl::MutexLock lock(&mu_);
    return logs_;
  }

  void Log(absl::string_view line) {
    absl::MutexLock lock(&mu_);
    logs_.emplace_back(line);
  }

  client::FakeClock clock_;
  runtime::Logger logger_;
  client::testing::FakeClient fake_;
  absl::Mutex mu_;
  bool owner_exists_ ABSL_GUARDED_BY(mu_) = true;
  std::string owner_uid_ ABSL_GUARDED_BY(mu_) = "role-uid-1";
  int resource_version_ ABSL_GUARDED_BY(mu_) = 10;
  std::vector<absl::Status> apply_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<Applied> applied_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> logs_ ABSL_GUARDED_BY(mu_);
};

absl::Status HeaderExample(client::Client* guarded_client,
                           client::Client* watch_client,
                           const std::string& owner_flag,
                           const std::string& ca_pem, client::Clock* clock) {
  WriterOptions options;
  options.desired.base_url = "https://127.0.0.1:9443";  // desired.h
  options.desired.zen_lead_namespace = "zen-lead-system";
  ASSIGN_OR_RETURN(options.owner, ParseOwner(owner_flag));  // owner.h
  options.clock = clock;
  ASSIGN_OR_RETURN(std::unique_ptr<Writer> writer,
                   Writer::Create(guarded_client, watch_client, options));
  // Elected:
  RETURN_IF_ERROR(writer->Start());               // watch and restore
  absl::Status written = writer->Update(ca_pem);  // at start, on rotation
  if (!written.ok()) {
    return written;  // log; the writer retries by itself too
  }
  // Lost the lease or shutting down:
  writer->Stop();
  return absl::OkStatus();
}

TEST_F(WriterTest, HeaderExample) {
  const absl::Status done =
      HeaderExample(&fake_, &fake_, kDefaultOwner, kCa1, &clock_);
  EXPECT_TRUE(done.ok()) << done;
  // Update's write (and maybe a restore: the scripted list is empty).
  EXPECT_GE(applied().size(), 1u);
}

TEST_F(WriterTest, UpdateAppliesTheDesiredObjectWithForce) {
  WriterOptions options = Options();
  const DesiredOptions desired = options.desired;
  std::unique_ptr<Writer> writer = NewWriter(std::move(options));
  const absl::Status written = writer->Update(kCa1);
  ASSERT_TRUE(written.ok()) << written;

  const std::vector<Applied> calls = applied();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].resource, "validatingwebhookconfigurations");
  EXPECT_EQ(calls[0].name, "zen-lead-webhook");
  EXPECT_EQ(calls[0].options.field_manager, "zen-lead-operator");
  EXPECT_TRUE(calls[0].options.force);
  k8s::OwnerReference owner;
  owner.api_version = "rbac.authorization.k8s.io/v1";
  owner.kind = "ClusterRole";
  owner.name = "zen-lead-manager";
  owner.uid = "role-uid-1";
  absl::StatusOr<k8s::ValidatingWebhookConfiguration> expected =
      DesiredConfiguration(desired, kCa1, owner);
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(calls[0].body, expected->ToJson());

  ASSERT_TRUE(writer->LastWritten().has_value());
  EXPECT_EQ(writer->LastWritten()->metadata->resource_version, "11");
  EXPECT_EQ(writer->stats().writes, 1);
  EXPECT_EQ(writer->stats().restores, 0);
}

TEST_F(WriterTest, EachWriteReadsTheOwnerAndTheNewBundle) {
  std::unique_ptr<Writer> writer = NewWriter(Options());
  ASSERT_TRUE(writer->Update(kCa1).ok());
  {
    absl::MutexLock lock(&mu_);
    owner_uid_ = "role-uid-2";  // reinstalled
  }
  ASSERT_TRUE(writer->Update(kCa2).ok());
  const std::vector<Applied> calls = applied();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].body["metadata"]["ownerReferences"][0]["uid"],
            "role-uid-2");
  for (const json& webhook : calls[1].body["webhooks"]) {
    EXPECT_EQ(webhook["clientConfig"]["caBundle"], absl::Base64Escape(kCa2));
  }
}

TEST_F(WriterTest, MissingOwnerWritesNothing) {
  {
    absl::MutexLock lock(&mu_);
    owner_exists_ = false;
  }
  std::unique_ptr<Writer> writer = NewWriter(Options());
  const absl::Status written = writer->Update(kCa1);
  EXPECT_EQ(written.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(written.message(),
              HasSubstr("owner clusterrole/zen-lead-manager does not exist"));
  EXPECT_TRUE(applied().empty());
  EXPECT_FALSE(writer->LastWritten().has_value());
  EXPECT_EQ(writer->stats().errors, 1);
}

TEST_F(WriterTest, BadBundleKeepsThePreviousOne) {
  std::unique_ptr<Writer> writer = NewWriter(Options());
  ASSERT_TRUE(writer->Update(kCa1).ok());
  const absl::Status bad = writer->Update("not PEM");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(applied().size(), 1u);
  EXPECT_EQ(writer->LastWritten()->webhooks->at(0).client_config.ca_bundle,
            absl::Base64Escape(kCa1));
}

TEST_F(WriterTest, OnlyOthersChangesAreRestored) {
  std::unique_ptr<Writer> writer = NewWriter(Options());
  ASSERT_TRUE(writer->Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(1, kWait));
  // One object, by name, so that RBAC can grant list and watch on it alone.
  EXPECT_EQ(fake_.list_calls().at(0).field_selector,
            "metadata.name=zen-lead-webhook");
  EXPECT_EQ(fake_.watch_calls().at(0).field_selector,
            "metadata.name=zen-lead-webhook");
  // The look after the first list: nothing to write yet.
  ASSERT_TRUE(AwaitChecks(*writer, 1));
  ASSERT_TRUE(writer->Update(kCa1).ok());  // resourceVersion 11

  // The event of zen-lead's own write: looked at, nothing written.
  fake_.PushWatchEvent(WatchEvent::Type::kAdded, Event("11"));
  ASSERT_TRUE(AwaitChecks(*writer, 2));
  EXPECT_EQ(applied().size(), 1u);

  // Someone edits it: applied again (resourceVersion 12).
  fake_.PushWatchEvent(WatchEvent::Type::kModified, Event("99"));
  ASSERT_TRUE(AwaitApplies(2));
  ASSERT_TRUE(AwaitChecks(*writer, 3));
  EXPECT_EQ(writer->stats().restores, 1);
  EXPECT_EQ(writer->LastWritten()->metadata->resource_version, "12");

  // Someone deletes it: applied again, the same object.
  fake_.PushWatchEvent(WatchEvent::Type::kDeleted, Event("12"));
  ASSERT_TRUE(AwaitApplies(3));
  ASSERT_TRUE(AwaitChecks(*writer, 4));
  EXPECT_EQ(writer->stats().restores, 2);
  const std::vector<Applied> calls = applied();
  EXPECT_EQ(calls[2].body, calls[0].body);
  EXPECT_EQ(writer->stats().writes, 3);
  bool logged = false;
  for (const std::string& line : logs()) {
    logged |= absl::StrContains(line, "restored the webhook configuration") &&
              absl::StrContains(line, R"("reason":"deleted")");
  }
  EXPECT_TRUE(logged);
}

TEST_F(WriterTest, NothingIsWrittenBeforeTheFirstUpdate) {
  std::unique_ptr<Writer> writer = NewWriter(Options());
  ASSERT_TRUE(writer->Start().ok());
  ASSERT_TRUE(fake_.AwaitWatchCalls(1, kWait));
  ASSERT_TRUE(AwaitChecks(*writer, 1));  // after the list
  fake_.PushWatchEvent(WatchEvent::Type::kAdded, Event("5"));
  ASSERT_TRUE(AwaitChecks(*writer, 2));  // after the event
  EXPECT_TRUE(applied().empty());
}

// Written, then deleted before the watch's first list: the list is empty
// and no event says anything, so the writer looks once it has listed.
TEST_F(WriterTest, DeletedBeforeTheFirstListIsRestored) {
  std::unique_ptr<Writer> writer = NewWriter(Options());
  ASSERT_TRUE(writer->Update(kCa1).ok());
  ASSERT_TRUE(writer->Start().ok());
  ASSERT_TRUE(AwaitApplies(2));
  ASSERT_TRUE(AwaitChecks(*writer, 1));
  EXPECT_EQ(writer->stats().restores, 1);
  const std::vector<Applied> calls = applied();
  EXPECT_EQ(calls[1].body, calls[0].body);
}

TEST_F(WriterTest, FailedWritesAreRetriedWithBackoff) {
  const absl::Status unavailable = client::StatusFromResponse(
      503, R"({"kind":"Status","reason":"ServiceUnavailable","code":503})");
  {
    absl::MutexLock lock(&mu_);
    apply_errors_ = {unavailable, unavailable, unavailable, unavailable};
  }
  WriterOptions options = Options();
  options.retry_initial = absl::Seconds(1);
  options.retry_max = absl::Seconds(3);
  std::unique_ptr<Writer> writer = NewWriter(std::move(options));
  ASSERT_TRUE(writer->Start().ok());
  // Update reports its own failure; the keeper retries at once, then after
  // 1 s, 2 s and 3 s (capped) on the clock.
  const absl::Status first = writer->Update(kCa1);
  EXPECT_EQ(client::HttpCodeOf(first), 503);
  EXPECT_THAT(first.message(),
              HasSubstr("applying ValidatingWebhookConfiguration "
                        "zen-lead-webhook"));
  int logged = 0;
  for (const absl::Duration wait :
       {absl::Seconds(1), absl::Seconds(2), absl::Seconds(3)}) {
    // The retry is logged before its wait starts, after the last one ended:
    // the waiter counted then is the new wait.
    ASSERT_TRUE(AwaitRetryLogs(++logged));
    ASSERT_TRUE(clock_.AwaitWaiters(1, kWait));
    clock_.Advance(wait);
  }
  ASSERT_TRUE(AwaitApplies(5));
  ASSERT_TRUE(AwaitChecks(*writer, 4));
  EXPECT_EQ(writer->stats().writes, 1);
  EXPECT_EQ(writer->stats().errors, 4);
  ASSERT_TRUE(writer->LastWritten().has_value());
  EXPECT_THAT(RetryWaits(), ElementsAre("1s", "2s", "3s"));
}

TEST_F(WriterTest, StartTwiceIsRefusedAndStopIsIdempotent) {
  std::unique_ptr<Writer> writer = NewWriter(Options());
  ASSERT_TRUE(writer->Start().ok());
  EXPECT_EQ(writer->Start().code(), absl::StatusCode::kFailedPrecondition);
  writer->Stop();
  writer->Stop();
}

TEST_F(WriterTest, CreateRefusesBadOptions) {
  WriterOptions no_url = Options();
  no_url.desired.base_url.clear();
  EXPECT_THAT(Writer::Create(&fake_, &fake_, no_url).status().message(),
              HasSubstr("base_url, service: set exactly one"));
  WriterOptions no_owner = Options();
  no_owner.owner.name.clear();
  EXPECT_THAT(Writer::Create(&fake_, &fake_, no_owner).status().message(),
              HasSubstr("--webhook-owner"));
  WriterOptions backoff = Options();
  backoff.retry_max = absl::Milliseconds(1);
  EXPECT_EQ(Writer::Create(&fake_, &fake_, backoff).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Writer::Create(nullptr, &fake_, Options()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace zenlead::webhook::configuration
