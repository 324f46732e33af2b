// The informer's cache: Kubernetes objects by "namespace/name" key, plus
// secondary indexes (by owner UID, by a label value...) kept up to date on
// every change. Objects are immutable once stored and handed out as
// shared_ptr<const json>, so readers never copy them and never see them
// change; an update stores a new object.
//
//   Store store;
//   absl::Status s = store.AddIndexer("owner", IndexByOwnerUid());  // first
//   store.Put("ns/a", std::make_shared<const nlohmann::json>(pod));
//   ObjectPtr a = store.Get("ns/a");                     // nullptr if absent
//   absl::StatusOr<std::vector<ObjectPtr>> owned =
//       store.ByIndex("owner", replicaset_uid);  // the pods it owns
//
// Compiled in header_examples_test.cc.
//
// Thread-safe: reads may run concurrently with the informer's writes.
//
// Compact mode (Store(/*compact=*/true)) keeps each object serialized
// (MessagePack) and decodes it on every read: about a fifth of the memory of
// a parsed nlohmann::json tree (whose every field is a std::map node), for a
// few microseconds per read. For large caches read at a modest rate, such as
// the operator's pods and Services at 1,000 pools. Readers still get an
// immutable shared_ptr<const json>, a fresh one per read.
#ifndef ZEN_LEAD_API_RUNTIME_STORE_H_
#define ZEN_LEAD_API_RUNTIME_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/runtime/meta.h"
#include "nlohmann/json.hpp"

namespace zenlead::runtime {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

// The values an object is indexed under (none: not in the index).
using IndexFunc =
    std::function<std::vector<std::string>(const nlohmann::json&)>;

// Index functions for common lookups.
IndexFunc IndexByNamespace();
// Every metadata.ownerReferences[].uid.
IndexFunc IndexByOwnerUid();
// The value of metadata.labels[label] when present.
IndexFunc IndexByLabel(std::string label);

class Store {
 public:
  explicit Store(bool compact = false) : compact_(compact) {}

  // Registers an index; only while the store is empty (an index must see
  // every object). Errors: FailedPrecondition when not empty, AlreadyExists
  // for a name used before.
  absl::Status AddIndexer(const std::string& name, IndexFunc fn);

  ObjectPtr Get(const std::string& key) const;
  ObjectPtr Get(absl::string_view ns, absl::string_view name) const {
    return Get(ObjectKey(ns, name));
  }
  // In no particular order.
  std::vector<ObjectPtr> List() const;
  std::vector<std::string> ListKeys() const;
  size_t Size() const;
  // Objects whose index function returned `value`. NotFound for an unknown
  // index name.
  absl::StatusOr<std::vector<ObjectPtr>> ByIndex(
      const std::string& index, const std::string& value) const;

  // Stores obj under key; returns the object it replaces (nullptr if none).
  ObjectPtr Put(const std::string& key, const ObjectPtr& obj);
  // Removes key; returns the object removed (nullptr if none).
  ObjectPtr Remove(const std::string& key);

 private:
  struct Index {
    IndexFunc fn;
    absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> keys;
  };
  void Unindex(const std::string& key, const nlohmann::json& obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reindex(const std::string& key, const nlohmann::json& obj)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // One stored object: parsed, or (compact) serialized.
  struct Slot {
    ObjectPtr obj;
    std::string packed;
  };
  Slot Pack(const ObjectPtr& obj) const;
  ObjectPtr Unpack(const Slot& slot) const;

  const bool compact_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Slot> items_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Index> indexes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_STORE_H_
