#include "api/net/socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/net/testing/connect.h"
#include "gtest/gtest.h"

namespace zenlead {
namespace {

// socket.h's example as written there, on one end of a socket pair.
absl::Status HeaderExample(int conn, const char* data, size_t size,
                           absl::Time deadline) {
  net::Wakeup wakeup;  // an eventfd
  if (!wakeup.ok()) return absl::ResourceExhaustedError("no eventfd");
  std::vector<pollfd> fds = {{wakeup.fd(), POLLIN, 0}, {conn, POLLIN, 0}};
  poll(fds.data(), fds.size(), net::PollTimeout(deadline));
  if (fds[0].revents != 0) wakeup.Clear();  // another thread called Wake
  if (net::WaitFor(conn, POLLOUT, absl::Now() + absl::Seconds(5))) {
    send(conn, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  return absl::OkStatus();
}

TEST(SocketTest, HeaderExampleSends) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ASSERT_TRUE(HeaderExample(pair[0], "hi", 2, absl::Now()).ok());
  char got[2] = {};
  EXPECT_EQ(recv(pair[1], got, sizeof(got), MSG_DONTWAIT), 2);
  EXPECT_EQ(std::string(got, 2), "hi");
  close(pair[0]);
  close(pair[1]);
}

TEST(SocketTest, PollTimeoutRoundsUpAndStopsAtZero) {
  EXPECT_EQ(net::PollTimeout(absl::InfiniteFuture()), -1);
  EXPECT_EQ(net::PollTimeout(absl::Now() - absl::Seconds(1)), 0);
  const int ms = net::PollTimeout(absl::Now() + absl::Seconds(10));
  EXPECT_GT(ms, 9000);
  EXPECT_LE(ms, 10000);
}

TEST(SocketTest, WakeupMakesItsFdReadableUntilCleared) {
  net::Wakeup wakeup;
  ASSERT_TRUE(wakeup.ok());
  EXPECT_FALSE(net::WaitFor(wakeup.fd(), POLLIN, absl::Now()));
  wakeup.Wake();
  wakeup.Wake();
  EXPECT_TRUE(net::WaitFor(wakeup.fd(), POLLIN, absl::Now()));
  wakeup.Clear();
  EXPECT_FALSE(net::WaitFor(wakeup.fd(), POLLIN, absl::Now()));
}

TEST(SocketTest, SocketAddressNamesBothEnds) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  net::ReuseAddressOnly(listener);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(listen(listener, 1), 0);
  std::string ip;
  int port = 0;
  net::SocketAddress(listener, /*peer=*/false, ip, port);
  EXPECT_EQ(ip, "127.0.0.1");
  ASSERT_GT(port, 0);

  const int client = net::testing::ConnectLoopback(port);
  ASSERT_GE(client, 0);
  const int server = accept(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  ASSERT_GE(server, 0);
  std::string peer_ip;
  int peer_port = 0;
  net::SocketAddress(server, /*peer=*/true, peer_ip, peer_port);
  std::string client_ip;
  int client_port = 0;
  net::SocketAddress(client, /*peer=*/false, client_ip, client_port);
  EXPECT_EQ(peer_ip, "127.0.0.1");
  EXPECT_EQ(peer_port, client_port);

  net::SocketAddress(-1, /*peer=*/true, ip, port);
  EXPECT_EQ(ip, "");
  EXPECT_EQ(port, 0);
  close(server);
  close(client);
  close(listener);
}

TEST(SocketTest, RetryLaterOnlyForTransientErrors) {
  EXPECT_TRUE(net::RetryLater(EAGAIN));
  EXPECT_TRUE(net::RetryLater(EINTR));
  EXPECT_FALSE(net::RetryLater(ECONNRESET));
}

}  // namespace
}  // namespace zenlead
