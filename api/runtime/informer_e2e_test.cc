// The informer against a real API server (e2e/cluster; KUBECONFIG): while
// several writers create, update, relabel and delete ConfigMaps, the cache,
// the state rebuilt from the handlers' events and a fresh list converge,
// with no phantom or lost events; list pagination and indexes included; and
// informers sharing one client stop promptly, each on its own.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//   //api/runtime:informer_e2e_test
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/runtime/informer.h"
#include "api/runtime/meta.h"
#include "api/runtime/testing/informer_checks.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::NewE2eClient;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using testing::Converged;
using ::testing::IsEmpty;
using testing::Mirror;

const client::Resource kConfigMaps{"", "v1", "configmaps", true};
constexpr char kSelector[] = "test=e2e";

nlohmann::json ConfigMap(const std::string& name, int group, int value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", name},
            {"labels", {{"test", "e2e"}, {"group", std::to_string(group)}}}}},
          {"data", {{"value", std::to_string(value)}}}};
}

// Retries a write that may hit a transient error; fails the test otherwise.
template <typename Op>
void MustSucceed(Op op, const std::string& what) {
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    last = op();
    if (last.ok()) return;
  }
  ADD_FAILURE() << what << ": " << last;
}

TEST(InformerE2eTest, ConvergesWithConcurrentWriters) {
  std::unique_ptr<client::RestClient> client = NewE2eClient();
  ASSERT_NE(client, nullptr);
  TestNamespace ns(client.get(), "inf-e2e");
  // Objects before the informer starts: listed in pages of 7.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client
                    ->Create(kConfigMaps, ns.name(),
                             ConfigMap(absl::StrCat("pre-", i), i % 3, 0))
                    .ok());
  }
  // Not matching the selector: never in the cache.
  nlohmann::json other = ConfigMap("unselected", 0, 0);
  other["metadata"]["labels"]["test"] = "other";
  ASSERT_TRUE(client->Create(kConfigMaps, ns.name(), other).ok());

  // The writers' client: informers and writes share one client.
  InformerOptions options;
  options.resource = kConfigMaps;
  options.ns = ns.name();
  options.label_selector = kSelector;
  options.page_size = 7;
  Informer informer(client.get(), std::move(options));
  Mirror mirror;
  ASSERT_TRUE(informer.AddEventHandler(mirror.Handler()).ok());
  ASSERT_TRUE(informer.AddIndexer("group", IndexByLabel("group")).ok());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(informer.store().Size(), 20u);

  // Three writers, each on its own names: create, update twice, relabel out
  // of the selector, delete.
  std::vector<std::thread> writers;
  writers.reserve(3);
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      const std::string& n = ns.name();
      for (int i = 0; i < 15; ++i) {
        const std::string name = absl::StrCat("w", w, "-", i);
        MustSucceed(
            [&] {
              return client->Create(kConfigMaps, n, ConfigMap(name, i % 3, 0))
                  .status();
            },
            "create " + name);
      }
      for (int i = 0; i < 15; i += 2) {
        const std::string name = absl::StrCat("w", w, "-", i);
        for (int v = 1; v <= 2; ++v) {
          MustSucceed(
              [&] {
                return client
                    ->Patch(kConfigMaps, n, name, client::PatchType::kMerge,
                            {{"data", {{"value", std::to_string(v)}}}}, "")
                    .status();
              },
              "update " + name);
        }
      }
      for (int i = 1; i < 15; i += 4) {
        const std::string name = absl::StrCat("w", w, "-", i);
        MustSucceed(
            [&] {
              return client
                  ->Patch(kConfigMaps, n, name, client::PatchType::kMerge,
                          {{"metadata", {{"labels", {{"test", "other"}}}}}}, "")
                  .status();
            },
            "relabel " + name);
      }
      for (int i = 3; i < 15; i += 4) {
        MustSucceed(
            [&] {
              return client->Delete(kConfigMaps, n,
                                    absl::StrCat("w", w, "-", i),
                                    client::DeleteOptions());
            },
            "delete");
      }
      // Some of the objects that existed before the informer started.
      for (int i = w; i < 20; i += 6) {
        MustSucceed(
            [&] {
              return client->Delete(kConfigMaps, n, absl::StrCat("pre-", i),
                                    client::DeleteOptions());
            },
            "delete pre");
      }
    });
  }
  for (auto& writer : writers) writer.join();

  EXPECT_TRUE(WaitFor(
      [&] {
        return Converged(informer, mirror, *client, kConfigMaps, ns.name(),
                         kSelector);
      },
      absl::Seconds(60)))
      << "cache " << informer.store().Size() << " objects; "
      << mirror.Summary();
  EXPECT_THAT(mirror.anomalies(), IsEmpty());
  // 20 + 45 created; 12 deleted (3 x 4), 9 relabelled away (3 x 3) and 11
  // of the first 20 deleted (i = w, w+6, w+12, w+18 below 20).
  const testing::VersionMap server =
      testing::ServerState(*client, kConfigMaps, ns.name(), kSelector);
  EXPECT_EQ(server.size(), 65u - 12 - 9 - 11);
  EXPECT_EQ(informer.store().Size(), server.size());
  std::cout << "informer: " << server.size() << " objects, " << mirror.Summary()
            << ", watches " << informer.stats().watches << ", lists "
            << informer.stats().lists << "\n";

  // The index agrees with the server's view of label group=1.
  absl::StatusOr<std::vector<ObjectPtr>> group1 =
      informer.store().ByIndex("group", "1");
  ASSERT_TRUE(group1.ok());
  EXPECT_EQ(group1->size(), testing::ServerState(*client, kConfigMaps,
                                                 ns.name(), "test=e2e,group=1")
                                .size());
  informer.Stop();
}

TEST(InformerE2eTest, StopEndsAQuietWatchPromptly) {
  std::unique_ptr<client::RestClient> client = NewE2eClient();
  ASSERT_NE(client, nullptr);
  TestNamespace ns(client.get(), "inf-stop");
  InformerOptions options;
  options.resource = kConfigMaps;
  options.ns = ns.name();
  options.label_selector = kSelector;
  Informer informer(client.get(), std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(WaitFor([&] { return informer.stats().watches >= 1; },
                      absl::Seconds(10)));
  const absl::Time start = absl::Now();
  informer.Stop();
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(2));
  std::cout << "Stop() took " << took << "\n";
  EXPECT_FALSE(client->stopped());
}

// One cache per process: several informers on one client, each with a live
// and then quiet watch, stop one by one within a second each, and the client
// serves on (a write, a new informer).
TEST(InformerE2eTest, InformersSharingOneClientStopPromptly) {
  std::unique_ptr<client::RestClient> client = NewE2eClient();
  ASSERT_NE(client, nullptr);
  TestNamespace ns(client.get(), "inf-shared");
  constexpr int kInformers = 3;
  std::vector<std::unique_ptr<Informer>> informers;
  for (int group = 0; group < kInformers; ++group) {
    InformerOptions options;
    options.resource = kConfigMaps;
    options.ns = ns.name();
    options.label_selector = absl::StrCat(kSelector, ",group=", group);
    informers.push_back(std::make_unique<Informer>(client.get(), options));
    ASSERT_TRUE(informers.back()->Start().ok());
  }
  for (int group = 0; group < kInformers; ++group) {
    ASSERT_TRUE(informers[group]->WaitForSync(absl::Now() + absl::Seconds(30)));
    ASSERT_TRUE(client
                    ->Create(kConfigMaps, ns.name(),
                             ConfigMap(absl::StrCat("g", group), group, 0))
                    .ok());
  }
  // Each object arrived through its informer's watch: every watch is live.
  for (int group = 0; group < kInformers; ++group) {
    ASSERT_TRUE(WaitFor([&] { return informers[group]->store().Size() == 1; },
                        absl::Seconds(30)))
        << "informer " << group << " saw no watch event";
  }

  for (int group = 0; group < kInformers; ++group) {
    const absl::Time start = absl::Now();
    informers[group]->Stop();
    const absl::Duration took = absl::Now() - start;
    EXPECT_LT(took, absl::Seconds(1)) << "informer " << group;
    std::cout << "informer " << group << " of " << kInformers
              << " on one client: Stop() took " << took << "\n";
  }

  EXPECT_FALSE(client->stopped());
  ASSERT_TRUE(
      client->Create(kConfigMaps, ns.name(), ConfigMap("after", 0, 1)).ok());
  InformerOptions options;
  options.resource = kConfigMaps;
  options.ns = ns.name();
  options.label_selector = kSelector;
  Informer later(client.get(), std::move(options));
  ASSERT_TRUE(later.Start().ok());
  ASSERT_TRUE(later.WaitForSync(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(later.store().Size(), static_cast<size_t>(kInformers) + 1);
  later.Stop();
}

}  // namespace
}  // namespace zenlead::runtime
