// The owner of zen-lead's ValidatingWebhookConfiguration: a cluster-scoped
// object of the install, named by the --webhook-owner flag, whose deletion
// makes the garbage collector delete the configuration (a namespaced owner
// cannot own a cluster-scoped object).
//
//   absl::StatusOr<OwnerName> owner = ParseOwner(flag);  // at flag time
//   if (!owner.ok()) return owner.status();  // "--webhook-owner: ..."
//   absl::StatusOr<k8s::OwnerReference> ref = LookUpOwner(*client, *owner);
//   if (client::IsNotFound(ref.status())) { ... }  // not installed (yet)
//
// Compiled in owner_test.cc.
//
// Which object, and why (docs/webhook.md, "The webhook configuration"):
//   clusterrole/zen-lead-manager (kDefaultOwner), config/rbac's ClusterRole,
//     in the cluster. `kubectl delete -k config/default` deletes it at once
//     (a ClusterRole has no finalizer), the garbage collector then deletes
//     the configuration, and zen-lead, which has just lost its permissions
//     with it, cannot write it again while its pods are terminating. The
//     install's Namespace stays until everything in it is gone (the pods'
//     grace periods, finalizers), and the configuration would stay as long,
//     sending LeaderPolicy writes (failurePolicy Fail) to pods that are
//     going or gone.
//   customresourcedefinition/leaderpolicies.coordination.kube-zen.io
//     (LeaderPolicyCrdOwner()), when zen-lead runs outside the cluster
//     (`make run`, `make demo`): the CRD is then the only object installed.
#ifndef ZEN_LEAD_WEBHOOK_CONFIGURATION_OWNER_H_
#define ZEN_LEAD_WEBHOOK_CONFIGURATION_OWNER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/client/client.h"
#include "api/types/meta.h"

namespace zenlead::webhook::configuration {

// config/rbac/role.yaml's ClusterRole.
inline constexpr char kDefaultOwner[] = "clusterrole/zen-lead-manager";

enum class OwnerKind { kClusterRole, kCustomResourceDefinition };

struct OwnerName {
  OwnerKind kind = OwnerKind::kClusterRole;
  std::string name;

  // "clusterrole/zen-lead-manager": the flag's form.
  std::string ToString() const;
};

// The LeaderPolicy CRD ("customresourcedefinition/" + its name).
OwnerName LeaderPolicyCrdOwner();

// "clusterrole/<name>" or "customresourcedefinition/<name>" (kinds in lower
// case, as kubectl writes them). InvalidArgument naming the flag and the
// accepted forms otherwise.
absl::StatusOr<OwnerName> ParseOwner(absl::string_view flag);

// Reads the owner and returns the reference to write: its apiVersion,
// kind, name and uid, neither controller nor blockOwnerDeletion (which
// would need the right to update the owner's finalizers). The uid is read
// each time: a reinstalled owner has a new one. NotFound when it does not
// exist and FailedPrecondition when it is being deleted (an ownerReference
// to it would be collected at once), each message naming the flag; other
// errors pass through with the owner named.
absl::StatusOr<k8s::OwnerReference> LookUpOwner(client::Client& client,
                                                const OwnerName& owner);

}  // namespace zenlead::webhook::configuration

#endif  // ZEN_LEAD_WEBHOOK_CONFIGURATION_OWNER_H_
