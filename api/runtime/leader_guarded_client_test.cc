#include "api/runtime/leader_guarded_client.h"

#include <atomic>
#include <string>
#include <vector>

#include "api/client/testing/fake_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::FakeClient;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const client::Resource kServices{"", "v1", "services", true};

class LeaderGuardedClientTest : public ::testing::Test {
 protected:
  LeaderGuardedClientTest() {
    auto record = [this](const std::string& verb) {
      calls_.push_back(verb);
      return nlohmann::json::object();
    };
    fake_.get = [=](const client::Resource&, absl::string_view,
                    absl::string_view) { return record("get"); };
    fake_.list = [=](const client::Resource&, absl::string_view,
                     const client::ListOptions&) { return record("list"); };
    fake_.create = [=](const client::Resource&, absl::string_view,
                       const nlohmann::json&) { return record("create"); };
    fake_.update = [=](const client::Resource&, absl::string_view,
                       const nlohmann::json&) { return record("update"); };
    fake_.update_status = [=](const client::Resource&, absl::string_view,
                              const nlohmann::json&) {
      return record("update_status");
    };
    fake_.del = [=](const client::Resource&, absl::string_view,
                    absl::string_view, const client::DeleteOptions&) {
      record("delete");
      return absl::OkStatus();
    };
    fake_.patch = [=](const client::Resource&, absl::string_view,
                      absl::string_view, client::PatchType,
                      const nlohmann::json&,
                      absl::string_view) { return record("patch"); };
    fake_.apply = [=](const client::Resource&, absl::string_view,
                      absl::string_view, const nlohmann::json&,
                      const client::ApplyOptions&,
                      absl::string_view) { return record("apply"); };
  }

  // Every write verb through `client`; their statuses in order.
  std::vector<absl::Status> WriteEverything(client::Client& client) {
    const nlohmann::json svc = {{"metadata", {{"name", "db-leader"}}}};
    return {
        client.Create(kServices, "ns", svc).status(),
        client.Update(kServices, "ns", svc).status(),
        client.UpdateStatus(kServices, "ns", svc).status(),
        client.Delete(kServices, "ns", "db-leader", client::DeleteOptions()),
        client
            .Patch(kServices, "ns", "db-leader", client::PatchType::kMerge, svc,
                   "")
            .status(),
        client.Apply(kServices, "ns", "db-leader", svc, client::ApplyOptions())
            .status()};
  }

  FakeClient fake_;
  std::vector<std::string> calls_;
};

TEST_F(LeaderGuardedClientTest, WritesOnlyWhileLeadingAndAsksEachTime) {
  std::atomic<bool> leading{true};
  int asked = 0;
  LeaderGuardedClient writer(&fake_, [&] {
    ++asked;
    return leading.load();
  });
  for (const absl::Status& s : WriteEverything(writer)) EXPECT_TRUE(s.ok());
  EXPECT_EQ(asked, 6);
  EXPECT_THAT(calls_, ElementsAre("create", "update", "update_status", "delete",
                                  "patch", "apply"));

  leading = false;
  calls_.clear();
  for (const absl::Status& s : WriteEverything(writer)) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(IsNotLeader(s)) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("services ns/db-leader refused: this replica is "
                          "not the leader"));
  }
  EXPECT_TRUE(calls_.empty());  // nothing reached the API server
  EXPECT_FALSE(IsNotLeader(absl::UnavailableError("connection refused")));

  // Reads and watches are never refused: standbys keep warm caches.
  EXPECT_TRUE(writer.Get(kServices, "ns", "db-leader").ok());
  EXPECT_TRUE(writer.List(kServices, "ns", client::ListOptions()).ok());
  fake_.EndWatch(absl::OkStatus());
  EXPECT_TRUE(writer
                  .Watch(kServices, "ns", client::WatchOptions(),
                         [](const client::WatchEvent&) { return true; })
                  .ok());
  EXPECT_THAT(calls_, ElementsAre("get", "list"));
  EXPECT_EQ(fake_.watch_calls().size(), 1u);

  leading = true;
  EXPECT_TRUE(
      writer.Delete(kServices, "ns", "x", client::DeleteOptions()).ok());
}

}  // namespace
}  // namespace zenlead::runtime
