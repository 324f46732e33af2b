// Ports of a pool's `<name>-leader` Service and of its EndpointSlice.
//
// The leader Service is selector-less, so its traffic goes to the ports that
// the EndpointSlice names: for each Service port, the slice carries a port of
// the same name whose number is the Service's targetPort resolved on the
// leader pod (a named targetPort is looked up in the pod's container ports).
//
//   std::vector<ServicePort> ports = PortsFromContainers(template_ports);
//   absl::StatusOr<std::vector<SlicePort>> slice =
//       ResolveSlicePorts(ports, leader_container_ports);
//   if (!slice.ok()) { /* fail closed: no endpoint, Warning event */ }
#ifndef ZEN_LEAD_API_POOL_PORTS_H_
#define ZEN_LEAD_API_POOL_PORTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace zenlead::pool {

struct ContainerPort {
  std::string name;
  int32_t container_port = 0;
  std::string protocol = "TCP";
};

struct ServicePort {
  std::string name;
  int32_t port = 0;
  // targetPort: a number (target_port_name empty) or a container port name.
  int32_t target_port = 0;
  std::string target_port_name;
  std::string protocol = "TCP";
  std::string app_protocol;
  // A workload's port (PortsFromContainers): the leader pod must declare the
  // numeric target port too. A pool may hold several workloads, and the
  // leader may be a pod of another one that does not serve this port. A
  // Service's numeric targetPort is used as is, as Kubernetes does.
  bool target_must_be_declared = false;
};

struct SlicePort {
  std::string name;
  int32_t port = 0;
  std::string protocol = "TCP";
  std::string app_protocol;
};

// Service ports for a workload source: one per container port of the pod
// template, named after the container port (or "<protocol>-<port>" in lower
// case when unnamed), targeting the port by number. Duplicates (same number
// and protocol in two containers) are kept once.
std::vector<ServicePort> PortsFromContainers(
    const std::vector<ContainerPort>& container_ports);

// The EndpointSlice ports for a leader pod. A numeric targetPort (or 0,
// meaning "same as port") is used as is unless target_must_be_declared; a
// named one (and a numeric one that must be declared) must match a container
// port of that name (number) and protocol on the leader pod, otherwise the
// error names the Service port and what is missing (the caller fails
// closed).
// leader_of_this_source: the leader is a pod of the workload the ports came
// from; its numeric ports are then used as is (during a rollout that adds a
// port, the sticky leader may be an older pod that does not declare it yet).
absl::StatusOr<std::vector<SlicePort>> ResolveSlicePorts(
    const std::vector<ServicePort>& service_ports,
    const std::vector<ContainerPort>& leader_ports,
    bool leader_of_this_source = false);

}  // namespace zenlead::pool

#endif  // ZEN_LEAD_API_POOL_PORTS_H_
