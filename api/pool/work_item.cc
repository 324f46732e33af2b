#include "api/pool/work_item.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace zenlead::pool {
namespace {

constexpr absl::string_view kRenewPrefix = "renew:";
constexpr absl::string_view kPublishPrefix = "publish:";

}  // namespace

std::string PoolKey::String() const { return absl::StrCat(ns, "/", name); }

absl::StatusOr<PoolKey> PoolKey::Parse(absl::string_view text) {
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos || slash == 0 ||
      slash + 1 == text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool key \"", text, "\" is not namespace/name"));
  }
  return PoolKey{std::string(text.substr(0, slash)),
                 std::string(text.substr(slash + 1))};
}

std::string WorkItem::Encode() const {
  switch (kind) {
    case Kind::kRenew:
      return absl::StrCat(kRenewPrefix, pool.String());
    case Kind::kPublish:
      return absl::StrCat(kPublishPrefix, pool.String());
    case Kind::kReconcile:
      break;
  }
  return pool.String();
}

absl::StatusOr<WorkItem> WorkItem::Decode(absl::string_view key) {
  WorkItem item;
  if (absl::ConsumePrefix(&key, kRenewPrefix)) {
    item.kind = Kind::kRenew;
  } else if (absl::ConsumePrefix(&key, kPublishPrefix)) {
    item.kind = Kind::kPublish;
  }
  absl::StatusOr<PoolKey> pool = PoolKey::Parse(key);
  if (!pool.ok()) return pool.status();
  item.pool = *std::move(pool);
  return item;
}

}  // namespace zenlead::pool
