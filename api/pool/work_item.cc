#include "api/pool/work_item.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace zenlead::pool {
namespace {

constexpr absl::string_view kRenewPrefix = "renew:";

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
  return kind == Kind::kRenew ? absl::StrCat(kRenewPrefix, pool.String())
                              : pool.String();
}

absl::StatusOr<WorkItem> WorkItem::Decode(absl::string_view key) {
  WorkItem item;
  if (absl::ConsumePrefix(&key, kRenewPrefix)) item.kind = Kind::kRenew;
  absl::StatusOr<PoolKey> pool = PoolKey::Parse(key);
  if (!pool.ok()) return pool.status();
  item.pool = *std::move(pool);
  return item;
}

}  // namespace zenlead::pool
