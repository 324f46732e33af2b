#include "api/net/http_listener.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "api/net/socket.h"

namespace zenlead::net {

HttpListener::HttpListener() {
  new_task_queue = [] { return new httplib::ThreadPool(1); };
  set_socket_options(ReuseAddressOnly);
}

absl::StatusOr<int> HttpListener::Listen(const std::string& host, int port) {
  errno = 0;
  if (port == 0) {
    port = bind_to_any_port(host);
  } else if (!bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    const int err = errno;
    return absl::UnavailableError(err != 0 ? std::strerror(err)
                                           : "bind failed");
  }
  // httplib listens with a backlog of 5: a burst of more connections than
  // that (stalled clients, say) made the next connect wait a second for the
  // SYN to be retransmitted, the kubelet's whole probe timeout. Listening
  // again on the bound socket raises it (Linux).
  ::listen(svr_sock_, SOMAXCONN);
  return port;
}

void HttpListener::StartAccepting() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_ || thread_.joinable()) return;
  thread_ = std::thread([this] {
    listen_after_bind();
    served_.Notify();
  });
}

void HttpListener::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    // httplib's stop() does nothing until the accept loop has started (it
    // checks is_running()), so a Stop right after StartAccepting repeats it
    // until the accept thread has returned.
    do {
      stop();
    } while (!served_.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
    thread_.join();
  }
  StopConnections();
}

}  // namespace zenlead::net
