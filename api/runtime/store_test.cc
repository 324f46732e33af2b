#include "api/runtime/store.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

ObjectPtr Pod(const std::string& ns, const std::string& name,
              const std::string& pool, const std::string& owner) {
  nlohmann::json pod = {{"metadata", {{"namespace", ns}, {"name", name}}}};
  if (!pool.empty()) pod["metadata"]["labels"]["zen-lead/pool"] = pool;
  if (!owner.empty()) {
    pod["metadata"]["ownerReferences"] = {{{"uid", owner}, {"kind", "X"}}};
  }
  return std::make_shared<const nlohmann::json>(std::move(pod));
}

std::vector<std::string> Keys(const std::vector<ObjectPtr>& objs) {
  std::vector<std::string> keys;
  keys.reserve(objs.size());
  for (const ObjectPtr& o : objs) keys.push_back(ObjectKey(*o));
  std::sort(keys.begin(), keys.end());
  return keys;
}

// Every behaviour holds for parsed and for compact (serialized) storage.
class StoreModeTest : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(ParsedAndCompact, StoreModeTest, ::testing::Bool());

TEST(StoreTest, CompactRoundTripsEveryJsonType) {
  const nlohmann::json obj = {
      {"metadata",
       {{"namespace", "ns"},
        {"name", "a"},
        {"labels", {{"app", "db"}}},
        {"ownerReferences",
         {{{"uid", "u-1"}, {"controller", true}, {"kind", "ReplicaSet"}}}}}},
      {"spec", {{"replicas", 3}, {"offset", -2}, {"ratio", 0.5}}},
      {"status",
       {{"podIP", nullptr}, {"conditions", nlohmann::json::array()}}}};
  Store store(/*compact=*/true);
  store.Put("ns/a", std::make_shared<const nlohmann::json>(obj));
  ObjectPtr got = store.Get("ns/a");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, obj);
  EXPECT_EQ(got->at("spec").at("offset").get<int64_t>(), -2);
  EXPECT_EQ(got->at("spec").at("replicas").get<int>(), 3);
}

TEST(StoreTest, Keys) {
  EXPECT_EQ(ObjectKey("ns", "a"), "ns/a");
  EXPECT_EQ(ObjectKey("", "node-1"), "node-1");
  EXPECT_EQ(ObjectKey(nlohmann::json{{"metadata", {{"name", "n"}}}}), "n");
  EXPECT_EQ(ObjectKey(nlohmann::json{{"metadata", 3}}), "");
  EXPECT_EQ(ObjectKey(nlohmann::json("x")), "");
}

TEST_P(StoreModeTest, PutGetRemove) {
  Store store(/*compact=*/GetParam());
  EXPECT_EQ(store.Put("ns/a", Pod("ns", "a", "", "")), nullptr);
  ObjectPtr first = store.Get("ns", "a");
  ASSERT_NE(first, nullptr);
  ObjectPtr replaced = store.Put("ns/a", Pod("ns", "a", "p", ""));
  ASSERT_NE(replaced, nullptr);
  EXPECT_EQ(*replaced, *first);
  // Readers holding the old object still see it unchanged.
  EXPECT_FALSE(first->at("metadata").contains("labels"));
  EXPECT_EQ(store.Size(), 1u);
  EXPECT_NE(store.Remove("ns/a"), nullptr);
  EXPECT_EQ(store.Remove("ns/a"), nullptr);
  EXPECT_EQ(store.Get("ns/a"), nullptr);
}

TEST_P(StoreModeTest, IndexesFollowUpdatesAndRemovals) {
  Store store(/*compact=*/GetParam());
  ASSERT_TRUE(store.AddIndexer("pool", IndexByLabel("zen-lead/pool")).ok());
  ASSERT_TRUE(store.AddIndexer("owner", IndexByOwnerUid()).ok());
  ASSERT_TRUE(store.AddIndexer("ns", IndexByNamespace()).ok());
  store.Put("ns/a", Pod("ns", "a", "db", "rs-1"));
  store.Put("ns/b", Pod("ns", "b", "db", "rs-2"));
  store.Put("other/c", Pod("other", "c", "web", "rs-1"));
  EXPECT_THAT(Keys(*store.ByIndex("pool", "db")), ElementsAre("ns/a", "ns/b"));
  EXPECT_THAT(Keys(*store.ByIndex("owner", "rs-1")),
              ElementsAre("ns/a", "other/c"));
  EXPECT_THAT(Keys(*store.ByIndex("ns", "other")), ElementsAre("other/c"));

  store.Put("ns/a", Pod("ns", "a", "web", ""));  // moved pool, lost owner
  EXPECT_THAT(Keys(*store.ByIndex("pool", "db")), ElementsAre("ns/b"));
  EXPECT_THAT(Keys(*store.ByIndex("pool", "web")),
              ElementsAre("ns/a", "other/c"));
  EXPECT_THAT(Keys(*store.ByIndex("owner", "rs-1")), ElementsAre("other/c"));
  store.Remove("other/c");
  EXPECT_THAT(Keys(*store.ByIndex("pool", "web")), ElementsAre("ns/a"));
  EXPECT_THAT(*store.ByIndex("owner", "rs-1"), IsEmpty());
  EXPECT_EQ(store.ByIndex("nope", "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreModeTest, IndexersOnlyBeforeObjects) {
  Store store(/*compact=*/GetParam());
  ASSERT_TRUE(store.AddIndexer("pool", IndexByLabel("zen-lead/pool")).ok());
  EXPECT_EQ(store.AddIndexer("pool", IndexByOwnerUid()).code(),
            absl::StatusCode::kAlreadyExists);
  store.Put("ns/a", Pod("ns", "a", "db", ""));
  EXPECT_EQ(store.AddIndexer("late", IndexByOwnerUid()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreModeTest, ThrowingIndexFunctionIndexesNothing) {
  Store store(/*compact=*/GetParam());
  ASSERT_TRUE(store
                  .AddIndexer("bad",
                              [](const nlohmann::json& obj) {
                                // Throws: a string has no "spec" key.
                                return std::vector<std::string>{
                                    obj.at("spec").get<std::string>()};
                              })
                  .ok());
  store.Put("ns/a", Pod("ns", "a", "", ""));
  EXPECT_THAT(store.ListKeys(), UnorderedElementsAre("ns/a"));
  store.Remove("ns/a");
  EXPECT_EQ(store.Size(), 0u);
}

}  // namespace
}  // namespace zenlead::runtime
