// A TCP client connection to a local server, for tests and probes that
// drive a server's sockets by hand (stalled or trickling clients).
//
//   int fd = net::testing::ConnectLoopback(server->port());
//   if (fd < 0) return;  // refused: nothing listens there
//   send(fd, "GET", 3, MSG_NOSIGNAL);
//   close(fd);
#ifndef ZEN_LEAD_API_NET_TESTING_CONNECT_H_
#define ZEN_LEAD_API_NET_TESTING_CONNECT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace zenlead::net::testing {

// A blocking TCP connection to 127.0.0.1:port, or -1.
inline int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace zenlead::net::testing

#endif  // ZEN_LEAD_API_NET_TESTING_CONNECT_H_
