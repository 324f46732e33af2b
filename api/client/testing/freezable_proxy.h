// A TCP proxy on 127.0.0.1 for e2e tests of what a frozen connection does:
// it forwards every connection to one upstream address until Freeze(),
// then forwards nothing (connections stay open, bytes wait, new connections
// are accepted but not forwarded: the peer sees a hang, not an error) until
// Unfreeze(). A replica whose client goes through it can be cut off from the
// API server without being killed, as a network partition would.
//
//   FreezableProxy proxy("127.0.0.1", api_port);   // listens on 127.0.0.1:0
//   Config config = *LoadConfig();
//   config.server = proxy.Url("https");           // TLS passes through
//   ...
//   proxy.Freeze();    // requests in flight and new ones hang
//   proxy.Unfreeze();  // what waited is delivered
#ifndef ZEN_LEAD_API_CLIENT_TESTING_FREEZABLE_PROXY_H_
#define ZEN_LEAD_API_CLIENT_TESTING_FREEZABLE_PROXY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/client/testing/loopback.h"
#include "gtest/gtest.h"

namespace zenlead::client::testing {

class FreezableProxy {
 public:
  FreezableProxy(std::string upstream_host, int upstream_port)
      : upstream_host_(std::move(upstream_host)),
        upstream_port_(upstream_port) {
    listen_fd_ = BindLoopback(/*backlog=*/64, &port_);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  // Host and port of a server URL ("https://127.0.0.1:6443"); false when
  // it has no explicit port.
  static bool ParseServer(absl::string_view server, std::string* host,
                          int* port) {
    const size_t scheme = server.find("://");
    if (scheme == absl::string_view::npos) return false;
    absl::string_view rest = server.substr(scheme + 3);
    rest = rest.substr(0, rest.find('/'));
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) return false;
    *host = std::string(rest.substr(0, colon));
    return absl::SimpleAtoi(rest.substr(colon + 1), port);
  }

  ~FreezableProxy() {
    done_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    std::vector<std::thread> pumps;
    {
      absl::MutexLock lock(&mu_);
      pumps.swap(pumps_);
    }
    for (std::thread& t : pumps) t.join();
  }

  FreezableProxy(const FreezableProxy&) = delete;
  FreezableProxy& operator=(const FreezableProxy&) = delete;

  std::string Url(absl::string_view scheme) const {
    return absl::StrCat(scheme, "://127.0.0.1:", port_);
  }
  void Freeze() { frozen_ = true; }
  void Unfreeze() { frozen_ = false; }
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop() {
    for (;;) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;  // closed
      ++connections_;
      absl::MutexLock lock(&mu_);
      pumps_.emplace_back([this, client] { Pump(client); });
    }
  }

  int ConnectUpstream() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    ::inet_pton(AF_INET, upstream_host_.c_str(), &addr.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // Copies bytes both ways while not frozen; ends when either side closes
  // or the proxy is destroyed.
  void Pump(int client) {
    // A connection made while frozen is not forwarded yet either.
    while (frozen_.load() && !done_.load()) Nap();
    const int upstream = done_.load() ? -1 : ConnectUpstream();
    if (upstream < 0) {
      ::close(client);
      return;
    }
    char buffer[16384];
    bool open = true;
    while (open && !done_.load()) {
      if (frozen_.load()) {
        Nap();
        continue;
      }
      pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (::poll(fds, 2, 20) < 0) break;
      for (int i = 0; i < 2 && open; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::recv(fds[i].fd, buffer, sizeof(buffer), 0);
        if (n <= 0) {
          open = false;
          break;
        }
        const int to = i == 0 ? upstream : client;
        for (ssize_t sent = 0; sent < n;) {
          const ssize_t m = ::send(to, buffer + sent,
                                   static_cast<size_t>(n - sent), MSG_NOSIGNAL);
          if (m <= 0) {
            open = false;
            break;
          }
          sent += m;
        }
      }
    }
    ::close(upstream);
    ::close(client);
  }

  static void Nap() {
    // Frozen: the point is that nothing moves; re-check every 10 ms.
    ::poll(nullptr, 0, 10);
  }

  const std::string upstream_host_;
  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zenlead::client::testing

#endif  // ZEN_LEAD_API_CLIENT_TESTING_FREEZABLE_PROXY_H_
