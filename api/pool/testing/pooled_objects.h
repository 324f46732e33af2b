// Objects for e2e tests of code built on the pool model: a Deployment that
// joins a pool by its zen-lead/pool label.
//
//   json d = PooledDeployment("web", "db");  // 2 replicas, app=web
//   d["spec"]["strategy"] = {{"type", "Recreate"}};
//   api->Create(k8s::DeploymentClient::Resource(), ns, d);
#ifndef ZEN_LEAD_API_POOL_TESTING_POOLED_OBJECTS_H_
#define ZEN_LEAD_API_POOL_TESTING_POOLED_OBJECTS_H_

#include <string>

#include "nlohmann/json.hpp"

namespace zenlead::pool::testing {

// An apps/v1 Deployment `name` of 2 replicas (pods labelled app=name, one
// container) labelled zen-lead/pool=`pool`.
inline nlohmann::json PooledDeployment(const std::string& name,
                                       const std::string& pool) {
  using json = nlohmann::json;
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", name}, {"labels", {{"zen-lead/pool", pool}}}}},
      {"spec",
       {{"replicas", 2},
        {"selector", {{"matchLabels", {{"app", name}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", name}}}}},
          {"spec",
           {{"containers",
             json::array({{{"name", "app"}, {"image", "example/app"}}})}}}}}}}};
}

}  // namespace zenlead::pool::testing

#endif  // ZEN_LEAD_API_POOL_TESTING_POOLED_OBJECTS_H_
