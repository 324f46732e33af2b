// A scripted HTTP peer on 127.0.0.1:0 for the header usage examples that
// need a real RestClient (header_examples_test.cc in api/client and
// api/runtime): the test registers handlers on http() for exactly the calls
// its example makes, then points $KUBECONFIG at the server so that the
// example's LoadConfig() finds it. It answers what the test scripts and
// knows no Kubernetes semantics; those are tested against the real API
// server in the e2e tests.
//
//   ExampleApiServer server;
//   server.http().Get("/api/v1/namespaces/ns/configmaps/a",
//                     [](const httplib::Request&, httplib::Response& res) {
//                       res.set_content(R"({"kind":"ConfigMap"})",
//                                       "application/json");
//                     });
//   server.Start();
//   ScopedKubeconfig kubeconfig(server.Kubeconfig());  // for LoadConfig()
//   RunTheExample();
//   server.Stop();  // before the handlers' captures go away
//
// Compiled (and used) in api/client/header_examples_test.cc.
#ifndef ZEN_LEAD_API_CLIENT_TESTING_EXAMPLE_API_SERVER_H_
#define ZEN_LEAD_API_CLIENT_TESTING_EXAMPLE_API_SERVER_H_

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace zenlead::client::testing {

class ExampleApiServer {
 public:
  ExampleApiServer() {
    // Idle keep-alive connections would hold Stop() up to this long.
    http_.set_keep_alive_timeout(1);
    port_ = http_.bind_to_any_port("127.0.0.1");
    EXPECT_GT(port_, 0) << "binding 127.0.0.1:0";
  }
  ~ExampleApiServer() { Stop(); }
  ExampleApiServer(const ExampleApiServer&) = delete;
  ExampleApiServer& operator=(const ExampleApiServer&) = delete;

  // Register every handler before Start (httplib's tables are not locked).
  httplib::Server& http() { return http_; }

  // Serves on a thread of its own. The socket listens from construction on,
  // so a client may connect at once.
  void Start() {
    thread_ = std::thread([this] { http_.listen_after_bind(); });
  }

  // Ends the handlers blocked in AwaitStop, then the server. Idempotent.
  void Stop() {
    if (!stopping_.HasBeenNotified()) stopping_.Notify();
    if (thread_.joinable()) {
      http_.stop();
      thread_.join();
    }
  }

  // For a watch that stays open and quiet until the test ends: use as a
  // chunked content provider; returns false (the stream ends) once Stop()
  // is called.
  bool AwaitStop() {
    stopping_.WaitForNotification();
    return false;
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

  // A kubeconfig whose current context is this server (no credentials).
  std::string Kubeconfig() const {
    return absl::StrCat(
        "apiVersion: v1\nkind: Config\ncurrent-context: example\n"
        "clusters:\n- name: example\n  cluster:\n    server: ",
        url(),
        "\ncontexts:\n- name: example\n  context:\n    cluster: example\n"
        "    user: example\n    namespace: ns\n"
        "users:\n- name: example\n  user: {}\n");
  }

 private:
  httplib::Server http_;
  int port_ = -1;
  absl::Notification stopping_;
  std::thread thread_;
};

// Writes a kubeconfig (e.g. ExampleApiServer::Kubeconfig()) under
// $TEST_TMPDIR and sets $KUBECONFIG to it for this object's lifetime (the
// previous value comes back after).
class ScopedKubeconfig {
 public:
  explicit ScopedKubeconfig(const std::string& text) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = absl::StrCat(dir != nullptr ? dir : "/tmp", "/kubeconfig-",
                         ::testing::UnitTest::GetInstance()->random_seed());
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    EXPECT_NE(f, nullptr) << path_;
    if (f != nullptr) {
      std::fwrite(text.data(), 1, text.size(), f);
      std::fclose(f);
    }
    if (const char* old = std::getenv("KUBECONFIG"); old != nullptr) {
      previous_ = old;
    }
    setenv("KUBECONFIG", path_.c_str(), /*overwrite=*/1);
  }
  ~ScopedKubeconfig() {
    if (previous_.has_value()) {
      setenv("KUBECONFIG", previous_->c_str(), 1);
    } else {
      unsetenv("KUBECONFIG");
    }
    std::remove(path_.c_str());
  }
  ScopedKubeconfig(const ScopedKubeconfig&) = delete;
  ScopedKubeconfig& operator=(const ScopedKubeconfig&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::optional<std::string> previous_;
};

}  // namespace zenlead::client::testing

#endif  // ZEN_LEAD_API_CLIENT_TESTING_EXAMPLE_API_SERVER_H_
