// The built-in subsets: real API server JSON decodes into the typed fields
// zen-lead uses, and everything else survives the round trip.
#include <string>

#include "api/types/admissionreview.h"
#include "api/types/endpointslice.h"
#include "api/types/lease.h"
#include "api/types/pod.h"
#include "api/types/service.h"
#include "api/types/statefulset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::k8s {
namespace {

using json = nlohmann::json;

// A Pod as the API server returns it (abridged but with its usual clutter).
constexpr char kPod[] = R"({
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {
    "name": "web-7d4b9c-x2x9z", "generateName": "web-7d4b9c-", "namespace": "shop",
    "uid": "0c3c1c2e", "resourceVersion": "1234", "creationTimestamp": "2024-05-06T07:08:09Z",
    "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                         "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true}],
    "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]
  },
  "spec": {
    "containers": [{"name": "web", "image": "nginx",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "resources": {}, "terminationMessagePath": "/dev/termination-log"}],
    "nodeName": "node-1", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]
  },
  "status": {
    "phase": "Running",
    "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": "2024-05-06T07:08:19Z"}],
    "podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}], "hostIP": "172.18.0.2",
    "startTime": "2024-05-06T07:08:09Z", "qosClass": "BestEffort"
  }})";

TEST(PodTest, ReadsWhatZenLeadNeedsAndKeepsTheRest) {
  json in = json::parse(kPod);
  absl::StatusOr<Pod> pod = Pod::FromJson(in);
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->status->phase, PodStatus::kPhaseRunning);
  EXPECT_EQ(pod->status->pod_ip, "10.244.0.7");
  EXPECT_EQ((*pod->status->pod_ips)[0].ip, "10.244.0.7");
  EXPECT_EQ((*pod->status->conditions)[0].status, PodCondition::kStatusTrue);
  EXPECT_EQ(pod->spec->node_name, "node-1");
  const ContainerPort& port = (*(*pod->spec->containers)[0].ports)[0];
  EXPECT_EQ(port.name, "http");
  EXPECT_EQ(port.container_port, 8080);
  const OwnerReference& owner = (*pod->metadata->owner_references)[0];
  EXPECT_EQ(owner.kind, "ReplicaSet");
  EXPECT_EQ(owner.controller, true);
  EXPECT_FALSE(pod->metadata->deletion_timestamp.has_value());
  absl::StatusOr<absl::Time> created =
      openapi::ParseDateTime(*pod->metadata->creation_timestamp);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(pod->ToJson(), in);
  EXPECT_TRUE(Validate(*pod).ok());
}

TEST(ServiceTest, TargetPortIsIntOrString) {
  json in = json::parse(R"({"apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "annotations": {"zen-lead.io/enabled": "true"}},
    "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
             "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                       {"name": "metrics", "port": 9090, "targetPort": 9090,
                        "appProtocol": "http"}],
             "sessionAffinity": "None"},
    "status": {"loadBalancer": {}}})");
  absl::StatusOr<Service> svc = Service::FromJson(in);
  ASSERT_TRUE(svc.ok()) << svc.status();
  const std::vector<ServicePort>& ports = *svc->spec->ports;
  EXPECT_TRUE(ports[0].target_port->is_string());
  EXPECT_EQ(ports[0].target_port->string_value(), "http");
  EXPECT_EQ(ports[1].target_port->int_value(), 9090);
  EXPECT_EQ(ports[1].app_protocol, "http");
  EXPECT_EQ(svc->ToJson(), in);
  ApplyDefaults(*svc);
  EXPECT_EQ(ports[1].protocol, "TCP");
  EXPECT_EQ(svc->spec->selector->at("app"), "web");
}

TEST(EndpointSliceTest, NullEndpointsAndTheLeaderEndpoint) {
  // An empty slice comes back with "endpoints": null.
  json empty = json::parse(
      R"({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "web-leader", "labels": {"kubernetes.io/service-name": "web-leader"}},
    "addressType": "IPv4", "endpoints": null, "ports": null})");
  absl::StatusOr<EndpointSlice> slice = EndpointSlice::FromJson(empty);
  ASSERT_TRUE(slice.ok()) << slice.status();
  EXPECT_FALSE(slice->endpoints.has_value());
  EXPECT_EQ(slice->ToJson(), empty);

  EndpointSlice leader;
  leader.address_type = EndpointSlice::kAddressTypeIPv4;
  Endpoint e;
  e.addresses = {"10.244.0.7"};
  e.conditions.emplace();
  e.conditions->ready = true;
  e.node_name = "node-1";
  e.target_ref.emplace();
  e.target_ref->kind = "Pod";
  e.target_ref->name = "web-0";
  leader.endpoints = {e};
  EXPECT_EQ(leader.ToJson(),
            json::parse(R"({"addressType": "IPv4", "endpoints": [
    {"addresses": ["10.244.0.7"], "conditions": {"ready": true}, "nodeName": "node-1",
     "targetRef": {"kind": "Pod", "name": "web-0"}}]})"));
  (*leader.endpoints)[0].addresses->clear();
  EXPECT_EQ(Validate(leader).message(),
            "endpoints[0].addresses: must have at least 1 item, got 0");
  EXPECT_EQ(EndpointSlice::FromJson(json::parse(R"({"endpoints":[]})"))
                .status()
                .message(),
            "addressType: required field is missing");
}

TEST(LeaseTest, MicroTimes) {
  json in =
      json::parse(R"({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
    "metadata": {"name": "web", "resourceVersion": "5"},
    "spec": {"holderIdentity": "web-0", "leaseDurationSeconds": 15,
             "acquireTime": "2024-05-06T07:08:09.123456Z",
             "renewTime": "2024-05-06T07:08:19.000001Z", "leaseTransitions": 4}})");
  absl::StatusOr<Lease> lease = Lease::FromJson(in);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->spec->lease_transitions, 4);
  absl::StatusOr<absl::Time> renew =
      openapi::ParseDateTime(*lease->spec->renew_time);
  ASSERT_TRUE(renew.ok());
  EXPECT_EQ(openapi::FormatMicroTime(*renew), "2024-05-06T07:08:19.000001Z");
  EXPECT_EQ(lease->ToJson(), in);
  lease->spec->renew_time = "soon";
  EXPECT_EQ(Validate(*lease).message(),
            "spec.renewTime: must be an RFC 3339 date-time like "
            "\"2006-01-02T15:04:05Z\", got "
            "\"soon\"");
}

TEST(StatefulSetTest, TemplatePortsAndReplicas) {
  absl::StatusOr<StatefulSet> sts = StatefulSet::FromJson(json::parse(R"({
    "metadata": {"name": "db", "labels": {"zen-lead/pool": "db"}},
    "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
             "template": {"metadata": {"labels": {"app": "db"}},
                          "spec": {"containers": [{"name": "pg",
                                   "ports": [{"containerPort": 5432}]}]}}},
    "status": {"replicas": 3, "readyReplicas": 2}})"));
  ASSERT_TRUE(sts.ok()) << sts.status();
  ApplyDefaults(*sts);
  EXPECT_EQ(sts->spec->replicas, 1);
  const ContainerPort& port =
      (*(*sts->spec->template_field->spec->containers)[0].ports)[0];
  EXPECT_EQ(port.container_port, 5432);
  EXPECT_EQ(port.protocol, "TCP");  // defaulted
  EXPECT_EQ(sts->status->ready_replicas, 2);
  EXPECT_EQ(sts->spec->selector->match_labels->at("app"), "db");
}

TEST(AdmissionReviewTest, RequestAndResponse) {
  absl::StatusOr<AdmissionReview> review =
      AdmissionReview::FromJson(json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {"uid": "r1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "shop", "operation": "CREATE",
                "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                             "groups": ["system:serviceaccounts"]},
                "object": {"metadata": {"generateName": "web-"}}, "oldObject": null,
                "dryRun": false, "options": {"kind": "CreateOptions"}}})"));
  ASSERT_TRUE(review.ok()) << review.status();
  const AdmissionRequest& req = *review->request;
  EXPECT_EQ(req.kind.kind, "Pod");
  EXPECT_EQ(req.operation, AdmissionRequest::kOperationCREATE);
  absl::StatusOr<Pod> pod = Pod::FromJson(*req.object);
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->metadata->generate_name, "web-");

  AdmissionReview answer;
  answer.api_version = AdmissionReview::kApiVersion;
  answer.kind = AdmissionReview::kKind;
  answer.response.emplace();
  answer.response->uid = req.uid;
  answer.response->allowed = false;
  answer.response->status.emplace();
  answer.response->status->code = 403;
  answer.response->status->message = "pool db has a leader: db-0";
  EXPECT_EQ(answer.ToJson(),
            json::parse(R"({"apiVersion": "admission.k8s.io/v1",
    "kind": "AdmissionReview", "response": {"uid": "r1", "allowed": false,
    "status": {"code": 403, "message": "pool db has a leader: db-0"}}})"));
}

}  // namespace
}  // namespace zenlead::k8s
