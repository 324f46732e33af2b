#include "api/net/http_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/net/testing/connect.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace zenlead {
namespace {

using ::testing::HasSubstr;

// http_listener.h's example class, counting what it is asked to do.
class HandOver : public net::HttpListener {
 public:
  ~HandOver() override { Stop(); }
  int stops() const { return stops_; }
  int accepted() const { return accepted_; }

 private:
  bool process_and_close_socket(socket_t sock) override {
    ++accepted_;
    close(sock);  // a real server queues it for its own threads
    return true;
  }
  void StopConnections() override { ++stops_; }  // closes what it queued

  std::atomic<int> accepted_{0};
  int stops_ = 0;
};

// The header's example as written there.
absl::Status HeaderExample(int* stops) {
  const httplib::Server::Handler handler = [](const httplib::Request&,
                                              httplib::Response&) {};
  HandOver server;
  server.Get("/", handler);  // httplib's routing as usual
  absl::StatusOr<int> port = server.Listen("127.0.0.1", 0);  // 0: free
  if (!port.ok()) return port.status();  // "Address already in use"
  server.StartAccepting();
  server.Stop();  // also done by ~HandOver
  *stops = server.stops();
  return absl::OkStatus();
}

TEST(HttpListenerTest, HeaderExampleStopsRightAfterTheStart) {
  int stops = 0;
  ASSERT_TRUE(HeaderExample(&stops).ok());
  EXPECT_EQ(stops, 1);
}

TEST(HttpListenerTest, HandsAcceptedSocketsToTheSubclass) {
  HandOver server;
  absl::StatusOr<int> port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.StartAccepting();
  const int fd = net::testing::ConnectLoopback(*port);
  ASSERT_GE(fd, 0);
  char byte;
  EXPECT_EQ(recv(fd, &byte, 1, 0), 0);  // closed by process_and_close_socket
  close(fd);
  EXPECT_EQ(server.accepted(), 1);
  server.Stop();
  server.Stop();
  EXPECT_EQ(server.stops(), 1);
  EXPECT_LT(net::testing::ConnectLoopback(*port), 0);  // no longer listening
}

TEST(HttpListenerTest, APortInUseIsReportedByListen) {
  HandOver first;
  absl::StatusOr<int> port = first.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  HandOver second;
  absl::StatusOr<int> again = second.Listen("127.0.0.1", *port);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(again.status().message(), HasSubstr("in use"));
}

TEST(HttpListenerTest, StopWithoutStartStillStopsConnections) {
  HandOver server;
  server.Stop();
  EXPECT_EQ(server.stops(), 1);
}

}  // namespace
}  // namespace zenlead
