// The informer across API server restarts (e2e/cluster; KUBECONFIG of a
// cluster started by e2e/cluster/up, whose kube-apiserver this test restarts
// with e2e/cluster/restart-apiserver — hence the "exclusive" tag: no other
// test runs meanwhile).
//
// - Restart mid-watch, with writers running before, during and after: the
//   cache, the handlers' view and a fresh list converge.
// - Several restarts with healthy watches in between, the informer on its
//   production backoff: after each, a change made once the API server is
//   back reaches the cache within seconds (the times are printed).
// - 410 Gone, provoked: the informer's watch is held off (a client wrapper
//   drops events and parks the watch), objects change, and the apiserver is
//   restarted with an etcd write in between, so its rebuilt watch cache
//   starts above the informer's resourceVersion. On resuming, the watch gets
//   410, the informer relists, and its handlers receive exactly what
//   changed: updates, adds, and deletes with final_state_unknown — nothing
//   lost, nothing invented.
//
//   e2e/cluster/up /tmp/c && source /tmp/c/env
//   bazel test --test_env=KUBECONFIG=$KUBECONFIG
//       //api/runtime:informer_restart_e2e_test
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/client/errors.h"
#include "api/client/rest_client.h"
#include "api/client/testing/e2e_env.h"
#include "api/client/testing/forwarding_client.h"
#include "api/runtime/informer.h"
#include "api/runtime/meta.h"
#include "api/runtime/testing/informer_checks.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zenlead::runtime {
namespace {

using client::testing::ClusterDir;
using client::testing::NewE2eClient;
using client::testing::SettleAfterRestarts;
using client::testing::TestNamespace;
using client::testing::WaitFor;
using testing::Converged;
using ::testing::IsEmpty;
using testing::Mirror;
using ::testing::UnorderedElementsAreArray;

const client::Resource kConfigMaps{"", "v1", "configmaps", true};
constexpr char kSelector[] = "test=e2e";

nlohmann::json ConfigMap(const std::string& name, int value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"test", "e2e"}}}}},
          {"data", {{"value", std::to_string(value)}}}};
}

absl::Status Touch(client::Client& client, const std::string& ns,
                   const std::string& name, int value) {
  return client
      .Patch(kConfigMaps, ns, name, client::PatchType::kMerge,
             {{"data", {{"value", std::to_string(value)}}}}, "")
      .status();
}

// Restarts the cluster's apiserver; --bump-etcd moves the etcd revision on
// while it is down (see e2e/cluster/restart-apiserver).
void RestartApiserver(const std::string& dir, bool bump_etcd = true) {
  const std::string command =
      absl::StrCat("e2e/cluster/restart-apiserver --request ",
                   bump_etcd ? "--bump-etcd " : "", dir, " >/dev/null");
  const absl::Time start = absl::Now();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::cout << "apiserver restarted in " << absl::Now() - start << "\n";
}

// Forwards to a RestClient; Pause() holds watches off: the next event is
// dropped (lost to the caller), the watch ends, and Watch does not return
// until Resume() — the caller is disconnected meanwhile — or until the
// watch's own cancellation (the informer's Stop()) releases it.
class PausableClient : public client::testing::ForwardingClient {
 public:
  explicit PausableClient(client::RestClient* inner)
      : ForwardingClient(inner), inner_(inner) {}

  absl::Status Watch(const client::Resource& r, absl::string_view ns,
                     const client::WatchOptions& options,
                     const client::WatchHandler& handler) override {
    // Registered and removed without mu_ held: the callback takes it.
    bool cancelled = false;  // guarded by mu_
    client::ScopedCancelCallback release(options.cancel.get(), [&] {
      absl::MutexLock lock(&mu_);
      cancelled = true;
    });
    absl::Status status =
        inner_->Watch(r, ns, options, [&](const client::WatchEvent& event) {
          if (Paused()) return false;  // this event never reaches the caller
          return handler(event);
        });
    absl::MutexLock lock(&mu_);
    parked_ = paused_ && !cancelled;
    auto resumed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !paused_ || cancelled;
    };
    mu_.Await(absl::Condition(&resumed));
    parked_ = false;
    return status;
  }

  void Pause() {
    absl::MutexLock lock(&mu_);
    paused_ = true;
  }
  void Resume() {
    absl::MutexLock lock(&mu_);
    paused_ = false;
  }
  // A watch is being held off.
  bool Parked() {
    absl::MutexLock lock(&mu_);
    return parked_;
  }

 private:
  bool Paused() {
    absl::MutexLock lock(&mu_);
    return paused_;
  }

  client::RestClient* const inner_;
  absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool parked_ ABSL_GUARDED_BY(mu_) = false;
};

class InformerRestartE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = NewE2eClient();  // fails without KUBECONFIG, as every e2e test
    ASSERT_NE(client_, nullptr);
    dir_ = ClusterDir();
    if (dir_.empty()) {
      GTEST_SKIP() << "needs a cluster started by e2e/cluster/up (its DIR "
                      "holds `pids`): KUBECONFIG=DIR/kubeconfig";
    }
    watch_client_ = NewE2eClient();
    ASSERT_NE(watch_client_, nullptr);
  }
  // Later tests start on a settled cluster. Once, after the last case:
  // these cases use ConfigMaps only and need no controller.
  static void TearDownTestSuite() {
    if (ClusterDir().empty()) return;
    std::unique_ptr<client::RestClient> client = NewE2eClient();
    if (client != nullptr) SettleAfterRestarts(client.get());
  }
  InformerOptions Options(const std::string& ns) {
    InformerOptions options;
    options.resource = kConfigMaps;
    options.ns = ns;
    options.label_selector = kSelector;
    // Short backoffs: the apiserver is down for seconds only.
    options.backoff_initial = absl::Milliseconds(100);
    options.backoff_max = absl::Seconds(1);
    return options;
  }

  std::string dir_;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<client::RestClient> watch_client_;
};

TEST_F(InformerRestartE2eTest, ConvergesAcrossARestartMidWatch) {
  TestNamespace ns(client_.get(), "inf-restart");
  InformerOptions options = Options(ns.name());
  Informer informer(watch_client_.get(), std::move(options));
  Mirror mirror;
  ASSERT_TRUE(informer.AddEventHandler(mirror.Handler()).ok());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::Now() + absl::Seconds(30)));

  // A writer that keeps going through the outage: each step is retried
  // until the API server takes it.
  std::atomic<bool> stop_writing{false};
  std::atomic<int> steps{0};
  std::atomic<int> refused{0};
  std::thread writer([&] {
    for (int i = 0; !stop_writing.load(); ++i) {
      const std::string name = absl::StrCat("cm-", i % 40);
      for (;;) {
        absl::Status s =
            i < 40 ? client_->Create(kConfigMaps, ns.name(), ConfigMap(name, i))
                         .status()
                   : (i % 7 == 0 ? client_->Delete(kConfigMaps, ns.name(), name,
                                                   client::DeleteOptions())
                                 : Touch(*client_, ns.name(), name, i));
        if (s.ok() || client::IsNotFound(s) || client::IsAlreadyExists(s))
          break;
        ++refused;
        if (stop_writing.load()) return;
        absl::SleepFor(absl::Milliseconds(50));  // the apiserver is down
      }
      ++steps;
    }
  });
  ASSERT_TRUE(WaitFor([&] { return informer.store().Size() >= 20; },
                      absl::Seconds(30)));
  RestartApiserver(dir_);
  const int after_restart = steps.load();
  ASSERT_TRUE(WaitFor([&] { return steps.load() >= after_restart + 40; },
                      absl::Seconds(60)));
  stop_writing = true;
  writer.join();

  EXPECT_TRUE(WaitFor(
      [&] {
        return Converged(informer, mirror, *client_, kConfigMaps, ns.name(),
                         kSelector);
      },
      absl::Seconds(60)))
      << mirror.Summary();
  EXPECT_THAT(mirror.anomalies(), IsEmpty());
  const Informer::Stats stats = informer.stats();
  // The etcd bump put the informer's version below the rebuilt cache.
  EXPECT_GE(stats.gone, 1);
  std::cout << "writer steps " << steps.load() << " (refused during the outage "
            << refused.load() << "); informer: " << mirror.Summary()
            << "; lists " << stats.lists << ", watches " << stats.watches
            << ", 410s " << stats.gone << ", errors " << stats.errors << "\n";
  informer.Stop();
}

TEST_F(InformerRestartE2eTest, RelistAfterGoneDeliversExactlyWhatChanged) {
  TestNamespace ns(client_.get(), "inf-gone");
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(
        client_
            ->Create(kConfigMaps, ns.name(), ConfigMap(absl::StrCat("a", i), 0))
            .ok());
  }
  PausableClient pausable(watch_client_.get());
  InformerOptions options = Options(ns.name());
  Informer informer(&pausable, std::move(options));
  Mirror mirror;
  ASSERT_TRUE(informer.AddEventHandler(mirror.Handler()).ok());
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(
      WaitFor([&] { return mirror.log().size() == 8; }, absl::Seconds(10)));

  // Disconnected from here on.
  pausable.Pause();
  const std::string& n = ns.name();
  ASSERT_TRUE(Touch(*client_, n, "a0", 1).ok());
  ASSERT_TRUE(Touch(*client_, n, "a1", 1).ok());
  ASSERT_TRUE(
      client_->Delete(kConfigMaps, n, "a2", client::DeleteOptions()).ok());
  ASSERT_TRUE(
      client_->Delete(kConfigMaps, n, "a3", client::DeleteOptions()).ok());
  ASSERT_TRUE(client_->Create(kConfigMaps, n, ConfigMap("b0", 0)).ok());
  ASSERT_TRUE(client_->Create(kConfigMaps, n, ConfigMap("b1", 0)).ok());
  // Deleted and created again: a different object under the same name.
  ASSERT_TRUE(
      client_->Delete(kConfigMaps, n, "a4", client::DeleteOptions()).ok());
  ASSERT_TRUE(client_->Create(kConfigMaps, n, ConfigMap("a4", 9)).ok());
  // The first change ended the watch; the informer is held off.
  ASSERT_TRUE(WaitFor([&] { return pausable.Parked(); }, absl::Seconds(30)));
  const std::string version_before = informer.LastResourceVersion();

  RestartApiserver(dir_);
  pausable.Resume();

  EXPECT_TRUE(WaitFor(
      [&] {
        return Converged(informer, mirror, *client_, kConfigMaps, n, kSelector);
      },
      absl::Seconds(60)))
      << mirror.Summary();
  std::vector<std::string> log = mirror.log();
  std::vector<std::string> after(log.begin() + 8, log.end());
  const std::string p = n + "/";
  EXPECT_THAT(after, UnorderedElementsAreArray<std::string>({
                         "update " + p + "a0",
                         "update " + p + "a1",
                         "delete " + p + "a2 (unknown)",
                         "delete " + p + "a3 (unknown)",
                         "add " + p + "b0",
                         "add " + p + "b1",
                         "delete " + p + "a4 (unknown)",
                         "add " + p + "a4",
                     }));
  EXPECT_THAT(mirror.anomalies(), IsEmpty());
  const Informer::Stats stats = informer.stats();
  EXPECT_GE(stats.gone, 1);
  EXPECT_EQ(stats.lists, 2);
  std::cout << "resumed from resourceVersion " << version_before << ": 410s "
            << stats.gone << ", lists " << stats.lists
            << "; after the relist: " << ::testing::PrintToString(after)
            << "\n";
  informer.Stop();
}

// Each API server restart used to grow the informer's retry backoff further
// (it was reset only when a watch ended cleanly, never by an error after a
// healthy watch): after a few restarts it waited 30 s before watching again,
// and a failover stayed unrouted for 14-16 s.
TEST_F(InformerRestartE2eTest,
       SeesChangesWithinSecondsAfterEachOfSeveralRestarts) {
  TestNamespace ns(client_.get(), "inf-restarts");
  InformerOptions options;  // the production backoff, not the short one
  options.resource = kConfigMaps;
  options.ns = ns.name();
  options.label_selector = kSelector;
  Informer informer(watch_client_.get(), std::move(options));
  ASSERT_TRUE(informer.Start().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(
      client_->Create(kConfigMaps, ns.name(), ConfigMap("probe", 0)).ok());
  auto cached = [&] {
    ObjectPtr cm = informer.store().Get(ns.name(), "probe");
    if (cm == nullptr) return std::string();
    return cm->value("data", nlohmann::json::object()).value("value", "");
  };
  ASSERT_TRUE(WaitFor([&] { return cached() == "0"; }, absl::Seconds(30)));

  // Six: the old doubling (800 ms per restart) reached 12.8 s to 25.6 s by
  // the sixth, however long the API server was down.
  constexpr int kRestarts = 6;
  std::vector<absl::Duration> after_write;
  for (int i = 1; i <= kRestarts; ++i) {
    // A healthy watch first: it delivers an event and stays open past
    // Informer::kHealthyWatch, as a watch does for minutes in production.
    ASSERT_TRUE(Touch(*client_, ns.name(), "probe", 100 * i).ok());
    ASSERT_TRUE(WaitFor([&] { return cached() == std::to_string(100 * i); },
                        absl::Seconds(10)));
    absl::SleepFor(Informer::kHealthyWatch + absl::Seconds(1));

    RestartApiserver(dir_, /*bump_etcd=*/false);
    const absl::Time ready = absl::Now();
    const std::string value = std::to_string(100 * i + 1);
    ASSERT_TRUE(WaitFor(
        [&] { return Touch(*client_, ns.name(), "probe", 100 * i + 1).ok(); },
        absl::Seconds(30)));
    const absl::Time written = absl::Now();
    ASSERT_TRUE(WaitFor([&] { return cached() == value; }, absl::Seconds(60)))
        << "restart " << i << ": the change never reached the informer";
    const absl::Time seen = absl::Now();
    after_write.push_back(seen - written);
    std::cout << "restart " << i << ": change seen " << seen - written
              << " after the write (" << seen - ready
              << " after the API server was ready)\n";
  }
  const Informer::Stats stats = informer.stats();
  std::cout << "informer: watches " << stats.watches << ", lists "
            << stats.lists << ", 410s " << stats.gone << ", errors "
            << stats.errors << "\n";
  for (int i = 0; i < kRestarts; ++i) {
    // The wait while disconnected is at most 2 s: the retry after the API
    // server is back comes within that, plus a relist.
    EXPECT_LE(after_write[i], absl::Seconds(4))
        << "restart " << i + 1 << ": the informer was blind for "
        << after_write[i];
  }
  informer.Stop();
}

}  // namespace
}  // namespace zenlead::runtime
