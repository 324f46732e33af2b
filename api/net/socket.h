// Socket mechanics shared by the processes' own HTTP servers (the operator's
// plain-HTTP endpoints and the webhook's HTTPS server): waiting on a
// non-blocking socket with a deadline, the addresses httplib asks a stream
// for, and a Wakeup that interrupts a poll() loop from another thread. Each
// server keeps its own policy (timeouts, TLS, threads); only these
// mechanics live here.
//
//   net::Wakeup wakeup;                       // an eventfd
//   if (!wakeup.ok()) return absl::ResourceExhaustedError("no eventfd");
//   std::vector<pollfd> fds = {{wakeup.fd(), POLLIN, 0}, {conn, POLLIN, 0}};
//   poll(fds.data(), fds.size(), net::PollTimeout(deadline));
//   if (fds[0].revents != 0) wakeup.Clear();  // another thread called Wake
//   if (net::WaitFor(conn, POLLOUT, absl::Now() + absl::Seconds(5))) {
//     send(conn, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
//   }
//
// Compiled in socket_test.cc.
#ifndef ZEN_LEAD_API_NET_SOCKET_H_
#define ZEN_LEAD_API_NET_SOCKET_H_

#include <string>

#include "absl/time/time.h"

namespace zenlead::net {

// poll()'s timeout for `deadline`: milliseconds, rounded up, 0 once passed,
// -1 (no timeout) for absl::InfiniteFuture().
int PollTimeout(absl::Time deadline);

// Waits until `fd` is ready for `events` (or hung up or failed: the next
// recv/send says which); false once `deadline` has passed.
bool WaitFor(int fd, short events, absl::Time deadline);

// Whether a non-blocking recv/send that failed with `err` may succeed later.
bool RetryLater(int err);

// The numeric address and port of `fd`'s peer (`peer`) or of its own end;
// "" and 0 when the socket has none.
void SocketAddress(int fd, bool peer, std::string& ip, int& port);

// Only SO_REUSEADDR (restart without waiting for TIME_WAIT). cpp-httplib's
// default also sets SO_REUSEPORT, which would let a second process bind the
// same port silently instead of failing. For
// httplib::Server::set_socket_options.
void ReuseAddressOnly(int sock);

// An eventfd a poll() loop watches so that other threads can wake it.
class Wakeup {
 public:
  Wakeup();
  ~Wakeup();

  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // False when the eventfd could not be made (errno says why).
  bool ok() const { return fd_ >= 0; }
  // For poll() with POLLIN.
  int fd() const { return fd_; }

  // Makes fd() readable. Thread-safe; never blocks.
  void Wake();
  // Makes fd() not readable again; for the polling thread once poll() has
  // reported it.
  void Clear();

 private:
  const int fd_;
};

}  // namespace zenlead::net

#endif  // ZEN_LEAD_API_NET_SOCKET_H_
