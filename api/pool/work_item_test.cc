#include "api/pool/work_item.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

// The header's usage example, as written there.
TEST(WorkItemTest, HeaderExample) {
  WorkItem renew{WorkItem::Kind::kRenew, PoolKey{"shop", "db"}};
  EXPECT_EQ(renew.Encode(), "renew:shop/db");
  absl::StatusOr<WorkItem> item = WorkItem::Decode(renew.Encode());
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->kind, WorkItem::Kind::kRenew);
  EXPECT_EQ(item->pool, (PoolKey{"shop", "db"}));
}

TEST(WorkItemTest, ReconcileKeysAreThePoolKey) {
  WorkItem r{WorkItem::Kind::kReconcile, PoolKey{"ns", "web"}};
  EXPECT_EQ(r.Encode(), "ns/web");
  EXPECT_EQ(*WorkItem::Decode("ns/web"), r);
}

TEST(WorkItemTest, EveryKindRoundTripsAndKindsNeverCollide) {
  const PoolKey pool{"ns", "web"};
  std::set<std::string> keys;
  for (WorkItem::Kind kind :
       {WorkItem::Kind::kReconcile, WorkItem::Kind::kPublish,
        WorkItem::Kind::kRenew}) {
    WorkItem item{kind, pool};
    EXPECT_TRUE(keys.insert(item.Encode()).second) << item.Encode();
    absl::StatusOr<WorkItem> back = WorkItem::Decode(item.Encode());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, item);
  }
  EXPECT_EQ(WorkItem::Decode("publish:ns/web")->kind, WorkItem::Kind::kPublish);
}

TEST(PoolKeyTest, FirstSlashSeparatesTheNameMayHoldAnything) {
  absl::StatusOr<PoolKey> k = PoolKey::Parse("ns/a/b c");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->ns, "ns");
  EXPECT_EQ(k->name, "a/b c");
  EXPECT_EQ(k->String(), "ns/a/b c");
}

TEST(PoolKeyTest, MalformedKeysAreOneError) {
  for (const char* bad : {"", "ns", "/db", "ns/", "renew:", "renew:ns",
                          "publish:", "publish:ns"}) {
    EXPECT_FALSE(WorkItem::Decode(bad).ok()) << bad;
  }
  EXPECT_NE(PoolKey::Parse("nopool").status().message().find("nopool"),
            std::string::npos);
}

}  // namespace
}  // namespace zenlead::pool
