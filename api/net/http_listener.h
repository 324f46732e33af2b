// The accept side shared by the processes' own HTTP servers, which replace
// cpp-httplib's connection handling with their own: binding (SO_REUSEADDR
// only, a raised listen backlog), httplib's accept loop on a thread of its
// own, and a Stop that works even right after the start. A subclass
// overrides process_and_close_socket to hand each accepted socket to its
// own threads, and StopConnections to end them.
//
//   class HandOver : public net::HttpListener {
//    public:
//     ~HandOver() override { Stop(); }
//    private:
//     bool process_and_close_socket(socket_t sock) override {
//       close(sock);  // a real server queues it for its own threads
//       return true;
//     }
//     void StopConnections() override {}  // closes what it queued
//   };
//   HandOver server;
//   server.Get("/", handler);                // httplib's routing as usual
//   absl::StatusOr<int> port = server.Listen("127.0.0.1", 0);  // 0: free
//   if (!port.ok()) return port.status();    // "Address already in use"
//   server.StartAccepting();
//   server.Stop();                           // also done by ~HandOver
//
// Compiled in http_listener_test.cc.
#ifndef ZEN_LEAD_API_NET_HTTP_LISTENER_H_
#define ZEN_LEAD_API_NET_HTTP_LISTENER_H_

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "httplib.h"

namespace zenlead::net {

class HttpListener : public httplib::Server {
 public:
  // Sets ReuseAddressOnly as the socket options, and a single thread for
  // httplib's accept loop: a subclass's process_and_close_socket only hands
  // connections over, so one is plenty.
  HttpListener();
  // A subclass's destructor calls Stop: StopConnections is its own.
  ~HttpListener() override = default;

  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds to `host` ("0.0.0.0": every IPv4 interface) and `port` (0: any
  // free one), so a port in use is reported here, and raises the listen
  // backlog. The bound port, or UnavailableError whose message is the
  // system's reason (the caller says which address it was).
  absl::StatusOr<int> Listen(const std::string& host, int port);

  // Runs httplib's accept loop on a background thread. Once, after Listen.
  void StartAccepting() ABSL_LOCKS_EXCLUDED(stop_mu_);

  // Stops accepting, joins the accept thread, then calls StopConnections.
  // Idempotent; thread-safe: a second caller returns once the first is
  // done.
  void Stop() ABSL_LOCKS_EXCLUDED(stop_mu_);

 private:
  // Ends the subclass's connections and joins its threads; connections
  // handed over later must be closed at once. Called once by Stop, after
  // the accept loop has returned.
  virtual void StopConnections() = 0;

  absl::Notification served_;  // listen_after_bind returned
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(stop_mu_);
};

}  // namespace zenlead::net

#endif  // ZEN_LEAD_API_NET_HTTP_LISTENER_H_
