#include "api/runtime/store.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace zenlead::runtime {
namespace {

// An index function must not take the informer down: nlohmann::json throws
// on type mismatches, so a throwing function indexes nothing.
std::vector<std::string> SafeValues(const IndexFunc& fn,
                                    const nlohmann::json& obj) {
  try {
    return fn(obj);
  } catch (const std::exception&) {
    return {};
  }
}

const nlohmann::json* Metadata(const nlohmann::json& obj) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find("metadata");
  if (it == obj.end() || !it->is_object()) return nullptr;
  return &*it;
}

}  // namespace

IndexFunc IndexByNamespace() {
  return [](const nlohmann::json& obj) -> std::vector<std::string> {
    std::string ns = MetadataString(obj, "namespace");
    if (ns.empty()) return {};
    return {std::move(ns)};
  };
}

IndexFunc IndexByOwnerUid() {
  return [](const nlohmann::json& obj) {
    std::vector<std::string> uids;
    const nlohmann::json* metadata = Metadata(obj);
    if (metadata == nullptr) return uids;
    auto refs = metadata->find("ownerReferences");
    if (refs == metadata->end() || !refs->is_array()) return uids;
    for (const nlohmann::json& ref : *refs) {
      if (!ref.is_object()) continue;
      auto uid = ref.find("uid");
      if (uid != ref.end() && uid->is_string()) {
        uids.push_back(uid->get<std::string>());
      }
    }
    return uids;
  };
}

IndexFunc IndexByLabel(std::string label) {
  return [label = std::move(label)](
             const nlohmann::json& obj) -> std::vector<std::string> {
    const nlohmann::json* metadata = Metadata(obj);
    if (metadata == nullptr) return {};
    auto labels = metadata->find("labels");
    if (labels == metadata->end() || !labels->is_object()) return {};
    auto value = labels->find(label);
    if (value == labels->end() || !value->is_string()) return {};
    return {value->get<std::string>()};
  };
}

absl::Status Store::AddIndexer(const std::string& name, IndexFunc fn) {
  absl::MutexLock lock(&mu_);
  if (!items_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "index \"", name,
        "\": indexes must be added before the store holds objects (before "
        "the informer starts)"));
  }
  if (indexes_.count(name) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("index \"", name, "\" is already registered"));
  }
  indexes_[name].fn = std::move(fn);
  return absl::OkStatus();
}

Store::Slot Store::Pack(const ObjectPtr& obj) const {
  Slot slot;
  if (!compact_) {
    slot.obj = obj;
    return slot;
  }
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(*obj);
  slot.packed.assign(bytes.begin(), bytes.end());  // exact size, no slack
  return slot;
}

ObjectPtr Store::Unpack(const Slot& slot) const {
  if (!compact_) return slot.obj;
  // Written by Pack from a valid object: decoding cannot fail.
  return std::make_shared<const nlohmann::json>(
      nlohmann::json::from_msgpack(slot.packed));
}

ObjectPtr Store::Get(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : Unpack(it->second);
}

std::vector<ObjectPtr> Store::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [key, slot] : items_) out.push_back(Unpack(slot));
  return out;
}

std::vector<std::string> Store::ListKeys() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, slot] : items_) out.push_back(key);
  return out;
}

size_t Store::Size() const {
  absl::MutexLock lock(&mu_);
  return items_.size();
}

absl::StatusOr<std::vector<ObjectPtr>> Store::ByIndex(
    const std::string& index, const std::string& value) const {
  absl::MutexLock lock(&mu_);
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) {
    return absl::NotFoundError(absl::StrCat("no index named \"", index, "\""));
  }
  std::vector<ObjectPtr> out;
  auto keys = idx->second.keys.find(value);
  if (keys == idx->second.keys.end()) return out;
  out.reserve(keys->second.size());
  for (const std::string& key : keys->second) {
    auto it = items_.find(key);
    if (it != items_.end()) out.push_back(Unpack(it->second));
  }
  return out;
}

void Store::Unindex(const std::string& key, const nlohmann::json& obj) {
  for (auto& [name, index] : indexes_) {
    for (const std::string& value : SafeValues(index.fn, obj)) {
      auto it = index.keys.find(value);
      if (it == index.keys.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) index.keys.erase(it);
    }
  }
}

void Store::Reindex(const std::string& key, const nlohmann::json& obj) {
  for (auto& [name, index] : indexes_) {
    for (std::string& value : SafeValues(index.fn, obj)) {
      index.keys[std::move(value)].insert(key);
    }
  }
}

ObjectPtr Store::Put(const std::string& key, const ObjectPtr& obj) {
  Slot packed = Pack(obj);  // outside the lock
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = items_.try_emplace(key);
  ObjectPtr old = inserted ? nullptr : Unpack(it->second);
  if (old != nullptr) Unindex(key, *old);
  Reindex(key, *obj);
  it->second = std::move(packed);
  return old;
}

ObjectPtr Store::Remove(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  ObjectPtr old = Unpack(it->second);
  items_.erase(it);
  Unindex(key, *old);
  return old;
}

}  // namespace zenlead::runtime
