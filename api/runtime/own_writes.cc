#include "api/runtime/own_writes.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "api/runtime/meta.h"

namespace zenlead::runtime {
namespace {

std::string KeyOf(const client::Resource& r, absl::string_view ns,
                  absl::string_view name) {
  return absl::StrCat(r.group, "/", r.resource, "/", r.namespaced ? ns : "",
                      "/", name);
}

std::string KeyOf(const client::Resource& r, const nlohmann::json& obj) {
  return KeyOf(r, MetadataString(obj, "namespace"),
               MetadataString(obj, "name"));
}

// Takes `version` out of `versions`; whether it was there.
bool TakeVersion(std::vector<std::string>& versions,
                 const std::string& version) {
  auto it = std::find(versions.begin(), versions.end(), version);
  if (it == versions.end()) return false;
  versions.erase(it);
  return true;
}

}  // namespace

OwnWrites::OwnWrites(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 2)) {}

void OwnWrites::AddVersion(const std::string& key, std::string version) {
  Entry& e = entries_[key];
  e.seq = ++seq_;
  if (std::find(e.versions.begin(), e.versions.end(), version) !=
      e.versions.end()) {
    return;
  }
  // An object written over and over with no echo yet keeps its latest few.
  constexpr size_t kVersionsPerObject = 4;
  if (e.versions.size() >= kVersionsPerObject) {
    e.versions.erase(e.versions.begin());
  }
  e.versions.push_back(std::move(version));
}

void OwnWrites::Trim() {
  if (entries_.size() <= capacity_) return;
  // Forget the older half of the idle entries (their echoes, if they still
  // come, are reacted to like news); never one with a write in flight or a
  // held reaction.
  std::vector<uint64_t> seqs;
  seqs.reserve(entries_.size());
  for (const auto& [k, e] : entries_) {
    if (e.in_flight == 0 && e.held.empty()) seqs.push_back(e.seq);
  }
  if (seqs.empty()) return;
  auto middle = seqs.begin() + static_cast<std::ptrdiff_t>(seqs.size() / 2);
  std::nth_element(seqs.begin(), middle, seqs.end());
  const uint64_t keep_from = *middle;
  absl::erase_if(entries_, [keep_from](const auto& kv) {
    const Entry& e = kv.second;
    return e.in_flight == 0 && e.held.empty() && e.seq < keep_from;
  });
}

void OwnWrites::BeginWrite(const client::Resource& r, absl::string_view ns,
                           absl::string_view name) {
  if (name.empty()) return;
  absl::MutexLock lock(&mu_);
  Entry& e = entries_[KeyOf(r, ns, name)];
  ++e.in_flight;
  e.seq = ++seq_;
}

void OwnWrites::EndWrite(const client::Resource& r, absl::string_view ns,
                         absl::string_view name,
                         const absl::StatusOr<nlohmann::json>& written) {
  if (name.empty()) return;  // not announced
  std::string version;
  if (written.ok()) version = MetadataString(*written, "resourceVersion");
  std::vector<std::function<void()>> run;
  {
    absl::MutexLock lock(&mu_);
    // Always there: an entry with a write in flight is never trimmed.
    auto it = entries_.find(KeyOf(r, ns, name));
    if (it == entries_.end()) return;
    Entry& e = it->second;
    if (e.in_flight > 0) --e.in_flight;
    if (!version.empty()) AddVersion(it->first, version);
    if (e.in_flight == 0) {
      for (auto& [held_version, news] : e.held) {
        if (!TakeVersion(e.versions, held_version)) {
          run.push_back(std::move(news));
        }
      }
      e.held.clear();
      if (e.versions.empty()) entries_.erase(it);
    }
    Trim();
  }
  for (const std::function<void()>& news : run) news();
}

void OwnWrites::OnEvent(const client::Resource& r, const nlohmann::json& obj,
                        std::function<void()> news) {
  const std::string version = MetadataString(obj, "resourceVersion");
  if (!version.empty()) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(KeyOf(r, obj));
    if (it != entries_.end()) {
      Entry& e = it->second;
      if (TakeVersion(e.versions, version)) {
        if (e.versions.empty() && e.in_flight == 0 && e.held.empty()) {
          entries_.erase(it);
        }
        return;  // the echo
      }
      if (e.in_flight > 0) {
        e.held.emplace_back(version, std::move(news));
        return;  // decided when the write ends
      }
    }
  }
  news();
}

size_t OwnWrites::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

RecordingClient::RecordingClient(client::Client* inner, OwnWrites* own)
    : ForwardingClient(inner), own_(own) {}

absl::StatusOr<nlohmann::json> RecordingClient::Tracked(
    const client::Resource& r, absl::string_view ns, absl::string_view name,
    const std::function<absl::StatusOr<nlohmann::json>()>& write) {
  own_->BeginWrite(r, ns, name);
  absl::StatusOr<nlohmann::json> got;
  try {
    got = write();
  } catch (...) {
    // Never leave the object's events held behind a write that did not end.
    own_->EndWrite(r, ns, name, absl::UnknownError("the write threw"));
    throw;
  }
  own_->EndWrite(r, ns, name, got);
  return got;
}

absl::StatusOr<nlohmann::json> RecordingClient::Update(
    const client::Resource& r, absl::string_view ns,
    const nlohmann::json& obj) {
  return Tracked(r, ns, MetadataString(obj, "name"),
                 [&] { return ForwardingClient::Update(r, ns, obj); });
}

absl::StatusOr<nlohmann::json> RecordingClient::UpdateStatus(
    const client::Resource& r, absl::string_view ns,
    const nlohmann::json& obj) {
  return Tracked(r, ns, MetadataString(obj, "name"),
                 [&] { return ForwardingClient::UpdateStatus(r, ns, obj); });
}

absl::StatusOr<nlohmann::json> RecordingClient::Patch(
    const client::Resource& r, absl::string_view ns, absl::string_view name,
    client::PatchType type, const nlohmann::json& patch,
    absl::string_view subresource) {
  return Tracked(r, ns, name, [&] {
    return ForwardingClient::Patch(r, ns, name, type, patch, subresource);
  });
}

absl::StatusOr<nlohmann::json> RecordingClient::Apply(
    const client::Resource& r, absl::string_view ns, absl::string_view name,
    const nlohmann::json& obj, const client::ApplyOptions& options,
    absl::string_view subresource) {
  return Tracked(r, ns, name, [&] {
    return ForwardingClient::Apply(r, ns, name, obj, options, subresource);
  });
}

}  // namespace zenlead::runtime
