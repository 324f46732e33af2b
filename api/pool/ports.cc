#include "api/pool/ports.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace zenlead::pool {

std::vector<ServicePort> PortsFromContainers(
    const std::vector<ContainerPort>& container_ports) {
  std::vector<ServicePort> out;
  std::set<std::pair<int32_t, std::string>> seen;
  for (const ContainerPort& cp : container_ports) {
    if (!seen.insert({cp.container_port, cp.protocol}).second) continue;
    ServicePort sp;
    sp.name = cp.name.empty() ? absl::StrCat(absl::AsciiStrToLower(cp.protocol),
                                             "-", cp.container_port)
                              : cp.name;
    sp.port = cp.container_port;
    sp.target_port = cp.container_port;
    sp.protocol = cp.protocol;
    sp.target_must_be_declared = true;
    out.push_back(std::move(sp));
  }
  return out;
}

absl::StatusOr<std::vector<SlicePort>> ResolveSlicePorts(
    const std::vector<ServicePort>& service_ports,
    const std::vector<ContainerPort>& leader_ports,
    bool leader_of_this_source) {
  std::vector<SlicePort> out;
  for (const ServicePort& sp : service_ports) {
    SlicePort slice_port{sp.name, sp.target_port, sp.protocol, sp.app_protocol};
    if (!sp.target_port_name.empty()) {
      slice_port.port = 0;
      for (const ContainerPort& cp : leader_ports) {
        if (cp.name == sp.target_port_name && cp.protocol == sp.protocol) {
          slice_port.port = cp.container_port;
          break;
        }
      }
      if (slice_port.port == 0) {
        return absl::NotFoundError(absl::StrCat(
            "service port \"", sp.name, "\" targets the named port \"",
            sp.target_port_name, "\" (", sp.protocol,
            "), which no container of the leader pod declares; name the "
            "container port or use a number"));
      }
    } else {
      if (slice_port.port == 0) slice_port.port = sp.port;
      if (sp.target_must_be_declared && !leader_of_this_source) {
        bool declared = false;
        for (const ContainerPort& cp : leader_ports) {
          declared |= cp.container_port == slice_port.port &&
                      cp.protocol == sp.protocol;
        }
        if (!declared) {
          return absl::NotFoundError(absl::StrCat(
              "service port \"", sp.name, "\" targets port ", slice_port.port,
              " (", sp.protocol,
              "), which no container of the leader pod declares (the leader "
              "is a pod of another workload of the pool); give the pool's "
              "workloads the same container ports"));
        }
      }
    }
    out.push_back(std::move(slice_port));
  }
  return out;
}

}  // namespace zenlead::pool
