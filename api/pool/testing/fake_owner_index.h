// An OwnerIndex for unit tests: the owners and Services it is given, no
// cache, no API server.
//
//   FakeOwnerIndex index;
//   index.owners["rs-uid"] = node;    // pool::OwnerNode, by UID
//   index.services.push_back(web);    // pool::Source of kind kService
//   pool::PodPools pools = pool::PoolsOfPod(pod, "shop", index, nullptr, {});
#ifndef ZEN_LEAD_API_POOL_TESTING_FAKE_OWNER_INDEX_H_
#define ZEN_LEAD_API_POOL_TESTING_FAKE_OWNER_INDEX_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/pool/membership.h"

namespace zenlead::pool {

class FakeOwnerIndex : public OwnerIndex {
 public:
  // An owner by UID, found only in its own namespace.
  std::optional<OwnerNode> Owner(const std::string& ns,
                                 const OwnerRef& ref) const override {
    auto it = owners.find(ref.uid);
    if (it == owners.end() || it->second.ns != ns) return std::nullopt;
    return it->second;
  }
  std::vector<Source> ServicesSelecting(
      const std::string& ns,
      const std::map<std::string, std::string>& labels) const override {
    std::vector<Source> out;
    for (const Source& s : services) {
      if (s.ns == ns && SelectorMatches(s.selector, labels)) out.push_back(s);
    }
    return out;
  }

  std::map<std::string, OwnerNode> owners;  // by UID
  std::vector<Source> services;
};

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_TESTING_FAKE_OWNER_INDEX_H_
