#include "api/net/socket.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace zenlead::net {

int PollTimeout(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
      int64_t{24} * 3600 * 1000));
}

bool WaitFor(int fd, short events, absl::Time deadline) {
  for (;;) {
    pollfd p = {fd, events, 0};
    const int n = poll(&p, 1, PollTimeout(deadline));
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

bool RetryLater(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

void SocketAddress(int fd, bool peer, std::string& ip, int& port) {
  ip.clear();
  port = 0;
  sockaddr_storage addr = {};
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) != 0) {
    return;
  }
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (getnameinfo(sa, len, host, sizeof(host), service, sizeof(service),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return;
  }
  ip = host;
  if (!absl::SimpleAtoi(service, &port)) port = 0;
}

void ReuseAddressOnly(int sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

Wakeup::Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

Wakeup::~Wakeup() {
  if (fd_ >= 0) close(fd_);
}

void Wakeup::Wake() {
  const uint64_t one = 1;
  // A full counter already wakes the loop.
  (void)!::write(fd_, &one, sizeof(one));
}

void Wakeup::Clear() {
  uint64_t count;
  (void)!::read(fd_, &count, sizeof(count));
}

}  // namespace zenlead::net
