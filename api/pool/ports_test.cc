#include "api/pool/ports.h"

#include "gtest/gtest.h"

namespace zenlead::pool {
namespace {

TEST(PortsFromContainersTest, NamesAndDeduplicates) {
  std::vector<ServicePort> ports = PortsFromContainers(
      {{"http", 8080, "TCP"}, {"", 9090, "UDP"}, {"http-again", 8080, "TCP"}});
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0].name, "http");
  EXPECT_EQ(ports[0].port, 8080);
  EXPECT_EQ(ports[0].target_port, 8080);
  EXPECT_EQ(ports[1].name, "udp-9090");
  EXPECT_EQ(ports[1].protocol, "UDP");
}

TEST(ResolveSlicePortsTest, NumericTargetPortUsedAsIs) {
  ServicePort sp{"web", 80, 8080, "", "TCP", "http"};
  auto slice = ResolveSlicePorts({sp}, {});
  ASSERT_TRUE(slice.ok()) << slice.status();
  ASSERT_EQ(slice->size(), 1u);
  EXPECT_EQ((*slice)[0].name, "web");
  EXPECT_EQ((*slice)[0].port, 8080);
  EXPECT_EQ((*slice)[0].app_protocol, "http");
}

TEST(ResolveSlicePortsTest, MissingTargetPortMeansSameAsPort) {
  ServicePort sp{"web", 80, 0, "", "TCP", ""};
  auto slice = ResolveSlicePorts({sp}, {});
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ((*slice)[0].port, 80);
}

TEST(ResolveSlicePortsTest, NamedTargetPortResolvedOnLeaderPod) {
  ServicePort sp{"web", 80, 0, "http", "TCP", ""};
  auto slice = ResolveSlicePorts(
      {sp}, {{"metrics", 9000, "TCP"}, {"http", 8081, "TCP"}});
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ((*slice)[0].port, 8081);
}

TEST(ResolveSlicePortsTest, NamedTargetPortMustMatchProtocol) {
  ServicePort sp{"dns", 53, 0, "dns", "UDP", ""};
  auto slice = ResolveSlicePorts({sp}, {{"dns", 5353, "TCP"}});
  EXPECT_EQ(slice.status().code(), absl::StatusCode::kNotFound);
}

TEST(ResolveSlicePortsTest, UnresolvableNamedPortFailsNamingIt) {
  ServicePort sp{"web", 80, 0, "http", "TCP", ""};
  auto slice = ResolveSlicePorts({sp}, {{"grpc", 9000, "TCP"}});
  ASSERT_FALSE(slice.ok());
  EXPECT_NE(slice.status().message().find("\"http\""), std::string::npos);
  EXPECT_NE(slice.status().message().find("\"web\""), std::string::npos);
}

// A pool of two workloads: the second's leader Service (its own container
// ports) must not route to the first's pod on a port that pod does not
// serve.
TEST(ResolveSlicePortsTest, WorkloadPortMustBeDeclaredByTheLeaderPod) {
  std::vector<ServicePort> second = PortsFromContainers({{"", 9090, "TCP"}});
  EXPECT_TRUE(second[0].target_must_be_declared);
  auto on_own_pod = ResolveSlicePorts(second, {{"", 9090, "TCP"}});
  ASSERT_TRUE(on_own_pod.ok()) << on_own_pod.status();
  EXPECT_EQ((*on_own_pod)[0].port, 9090);
  auto on_other_pod = ResolveSlicePorts(second, {{"http", 8080, "TCP"}});
  ASSERT_FALSE(on_other_pod.ok());
  EXPECT_NE(on_other_pod.status().message().find("9090"), std::string::npos);
  // Same number, other protocol: not the port either.
  EXPECT_FALSE(ResolveSlicePorts(second, {{"", 9090, "UDP"}}).ok());
  // The workload's own (older) pod during a rollout that adds the port.
  auto own_older_pod = ResolveSlicePorts(second, {{"http", 8080, "TCP"}},
                                         /*leader_of_this_source=*/true);
  ASSERT_TRUE(own_older_pod.ok()) << own_older_pod.status();
  EXPECT_EQ((*own_older_pod)[0].port, 9090);
}

}  // namespace
}  // namespace zenlead::pool
