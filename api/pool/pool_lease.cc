#include "api/pool/pool_lease.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/client/errors.h"
#include "api/runtime/meta.h"
#include "api/types/lease.h"

namespace zenlead::pool {
namespace {

const client::Resource& kLeases = k8s::LeaseClient::Resource();

constexpr char kLeaseConflictPrefix[] = "LeaseConflict: ";
constexpr int kWriteAttempts = 3;

}  // namespace

std::optional<LeaseRead> LeaseReadFromObject(const nlohmann::json& lease) {
  if (!lease.is_object()) return std::nullopt;
  LeaseRead read;
  read.resource_version = runtime::MetadataString(lease, "resourceVersion");
  std::optional<LeaseState> state = LeaseFromObject(lease);
  if (state) {
    read.state = std::move(*state);
  } else {
    read.foreign = true;
  }
  return read;
}

absl::StatusOr<std::optional<LeaseRead>> ReadLease(client::Client& client,
                                                   const std::string& ns,
                                                   const std::string& pool) {
  absl::StatusOr<nlohmann::json> lease = client.Get(kLeases, ns, pool);
  if (client::IsNotFound(lease.status())) {
    return std::optional<LeaseRead>();
  }
  if (!lease.ok()) return lease.status();
  std::optional<LeaseRead> read = LeaseReadFromObject(*lease);
  if (!read) {
    return absl::InternalError(absl::StrCat(
        "the API server returned no object for Lease ", ns, "/", pool));
  }
  return read;
}

std::optional<LeaseState> NextLease(const std::optional<LeaseState>& current,
                                    const std::optional<Candidate>& leader,
                                    const PolicySettings& policy,
                                    int64_t high_water,
                                    absl::Duration renew_every,
                                    absl::Time now) {
  LeaseState next = current.value_or(LeaseState{});
  const std::string new_uid = leader ? leader->uid : "";
  const bool holder_changed = !current || next.holder_uid != new_uid;
  if (holder_changed) {
    next.holder_uid = new_uid;
    next.holder_identity = leader ? leader->identity : "";
    if (leader) {
      next.transitions = std::max(next.transitions, high_water) + 1;
      next.acquire_time = now;
    }
  }
  if (leader) next.holder_identity = leader->identity;
  next.lease_duration_seconds = policy.lease_duration_seconds;
  const bool renew = leader && now - next.renew_time >= renew_every;
  if ((holder_changed && leader) || renew) next.renew_time = now;
  if (current && !holder_changed && !renew &&
      current->holder_identity == next.holder_identity &&
      current->lease_duration_seconds == next.lease_duration_seconds) {
    return std::nullopt;
  }
  return next;
}

bool OnlyRenewal(const LeaseState& current, const LeaseState& next) {
  return current.holder_uid == next.holder_uid &&
         current.holder_identity == next.holder_identity &&
         current.transitions == next.transitions &&
         current.acquire_time == next.acquire_time &&
         current.lease_duration_seconds == next.lease_duration_seconds;
}

nlohmann::json LeasePatch(const std::string& ns, const std::string& pool,
                          const PolicySettings& policy,
                          const LeaseState& state) {
  nlohmann::json patch = LeaseApply(ns, pool, policy, pool, state);
  patch.erase("apiVersion");
  patch.erase("kind");
  patch["metadata"].erase("name");
  patch["metadata"].erase("namespace");
  nlohmann::json& spec = patch["spec"];
  for (const char* field : {"holderIdentity", "acquireTime", "renewTime"}) {
    if (!spec.contains(field)) spec[field] = nullptr;
  }
  // No LeaderPolicy (any more): no owner.
  if (!patch["metadata"].contains("ownerReferences")) {
    patch["metadata"]["ownerReferences"] = nullptr;
  }
  return patch;
}

bool IsLeaseConflict(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) &&
         absl::StartsWith(status.message(), kLeaseConflictPrefix);
}

absl::StatusOr<LeaseState> WriteLeaseChange(client::Client& client,
                                            const std::string& ns,
                                            const std::string& pool,
                                            const PolicySettings& policy,
                                            std::optional<LeaseRead> read,
                                            const LeaseDecision& decide) {
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    if (read && read->foreign) {
      return absl::FailedPreconditionError(absl::StrCat(
          kLeaseConflictPrefix, "a Lease named ", pool, " exists in ", ns,
          " and is not managed by zen-lead; rename the pool or remove that "
          "Lease"));
    }
    std::optional<LeaseState> current =
        read ? std::optional<LeaseState>(read->state) : std::nullopt;
    std::optional<LeaseState> want = decide(current);
    if (!want) return current.value_or(LeaseState{});
    absl::Status written;
    if (!read) {
      written =
          client.Create(kLeases, ns, LeaseApply(ns, pool, policy, pool, *want))
              .status();
      if (!client::IsAlreadyExists(written)) {
        if (written.ok()) return *want;
        return written;
      }
    } else {
      // The precondition: the API server answers 409 if the Lease is no
      // longer at the version the decision was computed from.
      nlohmann::json patch = LeasePatch(ns, pool, policy, *want);
      patch["metadata"]["resourceVersion"] = read->resource_version;
      written =
          client.Patch(kLeases, ns, pool, client::PatchType::kMerge, patch, "")
              .status();
      if (!client::IsConflict(written)) {
        if (written.ok()) return *want;
        return written;
      }
    }
    // Someone wrote (or created) the Lease since it was read: decide again
    // from what it says now.
    absl::StatusOr<std::optional<LeaseRead>> fresh =
        ReadLease(client, ns, pool);
    if (!fresh.ok()) return fresh.status();
    read = std::move(*fresh);
  }
  return absl::AbortedError(
      absl::StrCat("the pool Lease ", ns, "/", pool, " changed during each of ",
                   kWriteAttempts, " writes; retrying later"));
}

}  // namespace zenlead::pool
