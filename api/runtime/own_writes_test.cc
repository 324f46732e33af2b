#include "api/runtime/own_writes.h"

#include <stdexcept>
#include <string>

#include "api/client/testing/fake_client.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::PatchType;
using client::Resource;
using client::testing::FakeClient;
using nlohmann::json;

const Resource kSlices{"discovery.k8s.io", "v1", "endpointslices"};
const Resource kLeases{"coordination.k8s.io", "v1", "leases"};

json Obj(const std::string& ns, const std::string& name,
         const std::string& version) {
  return {{"metadata",
           {{"namespace", ns}, {"name", name}, {"resourceVersion", version}}}};
}

// A write of `obj` through `own` that returned `obj`.
void Wrote(OwnWrites& own, const Resource& r, const json& obj) {
  const std::string ns = obj["metadata"]["namespace"];
  const std::string name = obj["metadata"]["name"];
  own.BeginWrite(r, ns, name);
  own.EndWrite(r, ns, name, obj);
}

// How many times an event's reaction ran.
struct Reactions {
  int ran = 0;
  std::function<void()> Count() {
    return [this] { ++ran; };
  }
};

TEST(OwnWritesTest, AnEchoAfterTheResponseIsDroppedOnce) {
  OwnWrites own;
  Reactions r;
  Wrote(own, kSlices, Obj("ns", "db-leader", "10"));
  EXPECT_EQ(own.size(), 1u);
  own.OnEvent(kSlices, Obj("ns", "db-leader", "10"), r.Count());
  EXPECT_EQ(r.ran, 0);
  EXPECT_EQ(own.size(), 0u);
  // The same version again (a relist) is news.
  own.OnEvent(kSlices, Obj("ns", "db-leader", "10"), r.Count());
  EXPECT_EQ(r.ran, 1);
}

TEST(OwnWritesTest, AnotherVersionNameOrResourceIsNews) {
  OwnWrites own;
  Reactions r;
  Wrote(own, kSlices, Obj("ns", "db-leader", "10"));
  own.OnEvent(kSlices, Obj("ns", "db-leader", "11"), r.Count());
  own.OnEvent(kSlices, Obj("other", "db-leader", "10"), r.Count());
  own.OnEvent(kSlices, Obj("ns", "db", "10"), r.Count());
  own.OnEvent(kLeases, Obj("ns", "db-leader", "10"), r.Count());
  EXPECT_EQ(r.ran, 4);
  own.OnEvent(kSlices, Obj("ns", "db-leader", "10"), r.Count());
  EXPECT_EQ(r.ran, 4);
}

TEST(OwnWritesTest, AnEchoBeforeTheResponseIsHeldThenDropped) {
  OwnWrites own;
  Reactions r;
  own.BeginWrite(kSlices, "ns", "db-leader");
  // The watch is faster than the response.
  own.OnEvent(kSlices, Obj("ns", "db-leader", "10"), r.Count());
  EXPECT_EQ(r.ran, 0);
  own.EndWrite(kSlices, "ns", "db-leader", Obj("ns", "db-leader", "10"));
  EXPECT_EQ(r.ran, 0);
  EXPECT_EQ(own.size(), 0u);
}

TEST(OwnWritesTest, NewsDuringAWriteRunsWhenTheWriteEnds) {
  OwnWrites own;
  Reactions r;
  own.BeginWrite(kSlices, "ns", "db-leader");
  own.OnEvent(kSlices, Obj("ns", "db-leader", "9"), r.Count());   // a user's
  own.OnEvent(kSlices, Obj("ns", "db-leader", "10"), r.Count());  // ours
  EXPECT_EQ(r.ran, 0);
  own.EndWrite(kSlices, "ns", "db-leader", Obj("ns", "db-leader", "10"));
  EXPECT_EQ(r.ran, 1);
}

TEST(OwnWritesTest, AFailedWriteRunsWhatItHeld) {
  OwnWrites own;
  Reactions r;
  own.BeginWrite(kLeases, "ns", "db");
  own.OnEvent(kLeases, Obj("ns", "db", "3"), r.Count());
  own.EndWrite(kLeases, "ns", "db", absl::AbortedError("conflict"));
  EXPECT_EQ(r.ran, 1);
  EXPECT_EQ(own.size(), 0u);
}

TEST(OwnWritesTest, TwoWritesInFlightDecideAtTheLastEnd) {
  OwnWrites own;
  Reactions r;
  own.BeginWrite(kSlices, "ns", "s");
  own.BeginWrite(kSlices, "ns", "s");
  own.OnEvent(kSlices, Obj("ns", "s", "1"), r.Count());
  own.OnEvent(kSlices, Obj("ns", "s", "2"), r.Count());
  own.EndWrite(kSlices, "ns", "s", Obj("ns", "s", "1"));
  EXPECT_EQ(r.ran, 0);  // the second write may still be the other echo
  own.EndWrite(kSlices, "ns", "s", Obj("ns", "s", "2"));
  EXPECT_EQ(r.ran, 0);
  EXPECT_EQ(own.size(), 0u);
}

TEST(OwnWritesTest, NoVersionIsNeverAnEcho) {
  OwnWrites own;
  Reactions r;
  Wrote(own, kSlices, Obj("ns", "a", ""));
  EXPECT_EQ(own.size(), 0u);
  own.OnEvent(kSlices, Obj("ns", "a", ""), r.Count());
  own.OnEvent(kSlices, json::object(), r.Count());
  EXPECT_EQ(r.ran, 2);
}

TEST(OwnWritesTest, AboveCapacityTheOlderIdleHalfIsForgotten) {
  OwnWrites own(8);
  Reactions r;
  own.BeginWrite(kSlices, "ns", "busy");  // in flight: never forgotten
  for (int i = 0; i < 9; ++i) {
    Wrote(own, kSlices, Obj("ns", "s" + std::to_string(i), "1"));
  }
  EXPECT_LE(own.size(), 8u);
  own.OnEvent(kSlices, Obj("ns", "s0", "1"), r.Count());  // oldest: news
  EXPECT_EQ(r.ran, 1);
  own.OnEvent(kSlices, Obj("ns", "s8", "1"), r.Count());  // newest: echo
  EXPECT_EQ(r.ran, 1);
  own.OnEvent(kSlices, Obj("ns", "busy", "4"), r.Count());
  own.EndWrite(kSlices, "ns", "busy", Obj("ns", "busy", "4"));
  EXPECT_EQ(r.ran, 1);
}

TEST(RecordingClientTest, AnnouncesUpdatesAndPatchesAndKeepsSuccessfulOnes) {
  FakeClient inner;
  OwnWrites own;
  Reactions r;
  inner.patch = [&](const Resource&, absl::string_view ns,
                    absl::string_view name, PatchType, const json&,
                    absl::string_view) {
    // The echo arrives while the write is in flight.
    own.OnEvent(kLeases, Obj(std::string(ns), std::string(name), "5"),
                r.Count());
    return FakeClient::JsonResult(Obj(std::string(ns), std::string(name), "5"));
  };
  inner.create = [](const Resource&, absl::string_view, const json& obj) {
    json out = obj;
    out["metadata"]["resourceVersion"] = "1";
    return FakeClient::JsonResult(out);
  };
  inner.update = [](const Resource&, absl::string_view, const json& obj) {
    json out = obj;
    out["metadata"]["resourceVersion"] = "9";
    return FakeClient::JsonResult(out);
  };
  RecordingClient writer(&inner, &own);
  ASSERT_TRUE(
      writer.Patch(kLeases, "ns", "db", PatchType::kMerge, json::object(), "")
          .ok());
  EXPECT_EQ(r.ran, 0);
  // A create is not tracked (its echo is an add).
  ASSERT_TRUE(writer.Create(kLeases, "ns", Obj("ns", "x", "")).ok());
  ASSERT_TRUE(writer.Update(kLeases, "ns", Obj("ns", "y", "8")).ok());
  EXPECT_EQ(own.size(), 1u);
  own.OnEvent(kLeases, Obj("ns", "y", "8"), r.Count());  // sent, not kept
  EXPECT_EQ(r.ran, 1);
  own.OnEvent(kLeases, Obj("ns", "y", "9"), r.Count());
  EXPECT_EQ(r.ran, 1);
  EXPECT_EQ(own.size(), 0u);
}

TEST(RecordingClientTest, AWriteThatThrowsReleasesWhatItHeld) {
  FakeClient inner;
  OwnWrites own;
  Reactions r;
  inner.patch = [&](const Resource&, absl::string_view ns,
                    absl::string_view name, PatchType, const json&,
                    absl::string_view) -> FakeClient::JsonResult {
    own.OnEvent(kLeases, Obj(std::string(ns), std::string(name), "5"),
                r.Count());
    throw std::runtime_error("transport bug");
  };
  RecordingClient writer(&inner, &own);
  EXPECT_THROW((void)writer.Patch(kLeases, "ns", "db", PatchType::kMerge,
                                  json::object(), ""),
               std::runtime_error);
  EXPECT_EQ(r.ran, 1);
  EXPECT_EQ(own.size(), 0u);
  own.OnEvent(kLeases, Obj("ns", "db", "6"), r.Count());  // not held
  EXPECT_EQ(r.ran, 2);
}

}  // namespace
}  // namespace zenlead::runtime
