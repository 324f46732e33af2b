// A TCP socket on 127.0.0.1 with a free port, for tests that stand up a
// server or a proxy of their own.
//
//   int port = 0;
//   int fd = BindLoopback(/*backlog=*/16, &port);   // listening
//   int unused = BindLoopback(/*backlog=*/0, &port);  // bound only
#ifndef ZEN_LEAD_API_CLIENT_TESTING_LOOPBACK_H_
#define ZEN_LEAD_API_CLIENT_TESTING_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace zenlead::client::testing {

// Binds a new socket to 127.0.0.1 on a port the kernel picks and, when
// backlog > 0, listens. Returns the socket and sets *port; a failure fails
// the test (and returns -1).
inline int BindLoopback(int backlog, int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            (backlog <= 0 || ::listen(fd, backlog) == 0);
  socklen_t len = sizeof(addr);
  ok = ok && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  EXPECT_TRUE(ok) << "binding 127.0.0.1:0";
  if (!ok) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace zenlead::client::testing

#endif  // ZEN_LEAD_API_CLIENT_TESTING_LOOPBACK_H_
