#include "operator/http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "api/net/http_listener.h"
#include "api/net/socket.h"
#include "httplib.h"

namespace zenlead::op {
namespace {

constexpr char kTextPlain[] = "text/plain; charset=utf-8";
// A client that does not read its response is dropped after this long.
constexpr absl::Duration kWriteTimeout = absl::Seconds(10);
// Request headers larger than this close the connection (ours are tiny).
constexpr size_t kMaxHeaderBytes = size_t{64} * 1024;
// No endpoint takes a body.
constexpr size_t kMaxBodyBytes = size_t{64} * 1024;
// Requests on one kept-alive connection before it is closed.
constexpr int kMaxRequestsPerConnection = 100;

absl::Status BadAddress(absl::string_view address, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "bind address \"%s\": %s; expected \"host:port\", \":port\" or "
      "\"[ipv6]:port\" with a port in 0..65535 (0: any free port)",
      address, why));
}

// A client connection between requests or inside one. Owns `fd` by
// convention: whoever holds it last calls Close.
struct Connection {
  int fd = -1;
  // Received and not yet read by a request: headers being collected, or the
  // start of a pipelined next request.
  std::string buffer;
  // When the waiting thread gives up on it.
  absl::Time deadline;
  // Kept alive, and no byte of its next request has arrived yet.
  bool idle = false;
  int served = 0;
};

void Close(Connection& c) {
  if (c.fd < 0) return;
  shutdown(c.fd, SHUT_RDWR);
  close(c.fd);
  c.fd = -1;
}

bool HeadersComplete(const std::string& buffer) {
  return buffer.find("\r\n\r\n") != std::string::npos ||
         buffer.find("\n\n") != std::string::npos;
}

// httplib's view of one request on a Connection: reads come from what the
// waiting thread collected, then from the socket until `read_deadline` (a
// total for the request, not per read as in httplib's own SocketStream, so
// trickling bytes cannot hold a worker); writes until `write_deadline`.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(Connection* conn, absl::Time read_deadline,
                   absl::Time write_deadline)
      : conn_(conn),
        read_deadline_(read_deadline),
        write_deadline_(write_deadline) {}

  bool is_readable() const override {
    return offset_ < conn_->buffer.size() ||
           net::WaitFor(conn_->fd, POLLIN, read_deadline_);
  }
  bool is_writable() const override {
    return net::WaitFor(conn_->fd, POLLOUT, write_deadline_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (offset_ == conn_->buffer.size()) {
      conn_->buffer.clear();
      offset_ = 0;
      char chunk[4096];
      for (;;) {
        if (!net::WaitFor(conn_->fd, POLLIN, read_deadline_)) return -1;
        const ssize_t n = recv(conn_->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n > 0) {
          conn_->buffer.assign(chunk, static_cast<size_t>(n));
          break;
        }
        if (n == 0) return 0;
        if (!net::RetryLater(errno)) return -1;
      }
    }
    const size_t n = std::min(size, conn_->buffer.size() - offset_);
    std::memcpy(ptr, conn_->buffer.data() + offset_, n);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      if (!net::WaitFor(conn_->fd, POLLOUT, write_deadline_)) return -1;
      const ssize_t n =
          send(conn_->fd, ptr + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (net::RetryLater(errno)) continue;
        return -1;
      }
      done += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    net::SocketAddress(conn_->fd, /*peer=*/true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    net::SocketAddress(conn_->fd, /*peer=*/false, ip, port);
  }
  socket_t socket() const override { return conn_->fd; }

  // Leaves only the unread bytes in the connection's buffer.
  void KeepUnread() {
    conn_->buffer.erase(0, offset_);
    offset_ = 0;
  }

 private:
  Connection* const conn_;
  const absl::Time read_deadline_;
  const absl::Time write_deadline_;
  size_t offset_ = 0;
};

void ServeHealth(const std::vector<HealthCheck>& checks,
                 const httplib::Request& req, httplib::Response& res) {
  const bool verbose = req.has_param("verbose");
  bool healthy = true;
  std::string body;
  for (const HealthCheck& check : checks) {
    const absl::Status status = check.check ? check.check() : absl::OkStatus();
    if (status.ok()) {
      if (verbose) absl::StrAppend(&body, "[+]", check.name, " ok\n");
      continue;
    }
    healthy = false;
    absl::StrAppend(&body, "[-]", check.name, " failed: ",
                    absl::StrReplaceAll(status.message(), {{"\n", " "}}), "\n");
  }
  if (healthy && !verbose) {
    res.set_content("ok\n", kTextPlain);
    return;
  }
  absl::StrAppend(
      &body, healthy ? "healthz check passed\n" : "healthz check failed\n");
  res.status = healthy ? 200 : 500;
  res.set_content(body, kTextPlain);
}

}  // namespace

// cpp-httplib's server with its connection handling replaced: httplib's own
// gives each connection a worker thread from accept until the connection
// closes, waiting up to its read timeout per read, so stalled clients held
// every thread. Here one thread waits on all connections that have no
// complete request yet (each with a deadline), and workers only run requests
// whose headers have arrived. httplib still accepts, parses, routes and
// writes responses.
class ConnectionServer : public net::HttpListener {
 public:
  ConnectionServer(int threads, absl::Duration header_timeout,
                   absl::Duration idle_timeout, size_t max_waiting)
      : header_timeout_(header_timeout),
        idle_timeout_(idle_timeout),
        max_waiting_(std::max<size_t>(max_waiting, 1)),
        workers_(static_cast<size_t>(std::max(threads, 1))),
        waiter_([this] { WaitLoop(); }) {
    // Only what responses advertise in their Keep-Alive header.
    set_keep_alive_timeout(absl::ToInt64Seconds(idle_timeout));
    set_keep_alive_max_count(kMaxRequestsPerConnection);
  }

  ~ConnectionServer() override { Stop(); }

  bool ok() const { return wakeup_.ok(); }

 private:
  // Closes waiting connections, lets running requests finish and joins the
  // threads; connections handed over later are closed at once.
  void StopConnections() override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      wakeup_.Wake();
    }
    waiter_.join();
    std::vector<Connection> left;
    {
      absl::MutexLock lock(&mu_);
      left.swap(handed_);
    }
    for (Connection& c : left) Close(c);
    workers_.shutdown();
  }

  // Called by httplib's accept loop for each new connection.
  bool process_and_close_socket(socket_t sock) override {
    Connection c;
    c.fd = sock;
    c.deadline = absl::Now() + header_timeout_;
    Wait(std::move(c));
    return true;
  }

  // Hands `c` to the waiting thread (closed when stopping).
  void Wait(Connection c) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        handed_.push_back(std::move(c));
        wakeup_.Wake();
        return;
      }
    }
    Close(c);
  }

  void Dispatch(Connection c) {
    workers_.enqueue([this, c = std::move(c)]() mutable { Run(std::move(c)); });
  }

  // Reads what arrived on `c`; false when it closed, failed or sent more
  // header bytes than allowed.
  bool Receive(Connection& c, absl::Time now) {
    char chunk[4096];
    const ssize_t n = recv(c.fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n == 0) return false;
    if (n < 0) return net::RetryLater(errno);
    if (c.idle) {
      c.idle = false;
      c.deadline = now + header_timeout_;
    }
    c.buffer.append(chunk, static_cast<size_t>(n));
    return c.buffer.size() <= kMaxHeaderBytes;
  }

  // The waiting thread: the only one touching `waiting`.
  void WaitLoop() ABSL_LOCKS_EXCLUDED(mu_) {
    std::deque<Connection> waiting;  // longest waiting first
    std::vector<pollfd> fds;
    for (;;) {
      std::vector<Connection> arrived;
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        arrived.swap(handed_);
      }
      for (Connection& c : arrived) {
        if (HeadersComplete(c.buffer)) {  // pipelined
          Dispatch(std::move(c));
        } else {
          waiting.push_back(std::move(c));
        }
      }
      while (waiting.size() > max_waiting_) {
        Close(waiting.front());
        waiting.pop_front();
      }

      absl::Time next = absl::InfiniteFuture();
      fds.assign(1, pollfd{wakeup_.fd(), POLLIN, 0});
      for (const Connection& c : waiting) {
        fds.push_back(pollfd{c.fd, POLLIN, 0});
        next = std::min(next, c.deadline);
      }
      if (poll(fds.data(), fds.size(), net::PollTimeout(next)) < 0 &&
          errno != EINTR) {
        break;  // cannot happen with valid arguments; Stop cleans up
      }
      if (fds[0].revents != 0) wakeup_.Clear();

      const absl::Time now = absl::Now();
      std::deque<Connection> still;
      for (size_t i = 0; i < waiting.size(); ++i) {
        Connection& c = waiting[i];
        const bool failed = fds[i + 1].revents != 0 && !Receive(c, now);
        if (!failed && HeadersComplete(c.buffer)) {
          Dispatch(std::move(c));
        } else if (failed || now >= c.deadline) {
          Close(c);
        } else {
          still.push_back(std::move(c));
        }
      }
      waiting.swap(still);
    }
    for (Connection& c : waiting) Close(c);
  }

  // On a worker: one request, then the connection waits for its next one or
  // closes.
  void Run(Connection c) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        Close(c);
        return;
      }
    }
    const absl::Time start = absl::Now();
    ConnectionStream stream(&c, start + header_timeout_, start + kWriteTimeout);
    const bool last = c.served + 1 >= kMaxRequestsPerConnection;
    bool closed = false;
    const bool answered = process_request(stream, last, closed, nullptr);
    ++c.served;
    if (!answered || closed || last) {
      Close(c);
      return;
    }
    stream.KeepUnread();
    c.idle = c.buffer.empty();
    c.deadline = absl::Now() + (c.idle ? idle_timeout_ : header_timeout_);
    Wait(std::move(c));
  }

  const absl::Duration header_timeout_;
  const absl::Duration idle_timeout_;
  const size_t max_waiting_;
  net::Wakeup wakeup_;
  absl::Mutex mu_;
  std::vector<Connection> handed_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  httplib::ThreadPool workers_;
  std::thread waiter_;  // last: starts once the rest is built
};

absl::StatusOr<BindAddress> ParseBindAddress(absl::string_view address) {
  BindAddress out;
  absl::string_view port;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find("]:");
    if (close == absl::string_view::npos) {
      return BadAddress(address, "an IPv6 host needs \"]:port\"");
    }
    out.host = std::string(address.substr(1, close - 1));
    if (out.host.empty()) return BadAddress(address, "empty IPv6 host");
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return BadAddress(address, "no port");
    }
    out.host = std::string(address.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return BadAddress(address, "write IPv6 hosts in brackets");
    }
    port = address.substr(colon + 1);
  }
  if (port.empty() ||
      port.find_first_not_of("0123456789") != absl::string_view::npos) {
    return BadAddress(address, "the port is not a number");
  }
  if (!absl::SimpleAtoi(port, &out.port) || out.port > 65535) {
    return BadAddress(address, "the port is out of range");
  }
  return out;
}

std::string FormatBindAddress(const BindAddress& address) {
  if (address.host.empty()) return absl::StrCat("0.0.0.0:", address.port);
  if (address.host.find(':') != std::string::npos) {
    return absl::StrCat("[", address.host, "]:", address.port);
  }
  return absl::StrCat(address.host, ":", address.port);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options) {
  absl::StatusOr<BindAddress> bind = ParseBindAddress(options.address);
  if (!bind.ok()) return bind.status();
  const std::string host = bind->host.empty() ? "0.0.0.0" : bind->host;

  auto server = std::make_unique<ConnectionServer>(
      options.threads, options.header_timeout, options.idle_timeout,
      static_cast<size_t>(std::max(options.max_waiting_connections, 1)));
  if (!server->ok()) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("HTTP server for \"%s\": no eventfd (%s)",
                        options.address, std::strerror(errno)));
  }
  server->set_payload_max_length(kMaxBodyBytes);

  if (options.metrics != nullptr) {
    const runtime::Registry* metrics = options.metrics;
    server->Get("/metrics",
                [metrics](const httplib::Request&, httplib::Response& res) {
                  res.set_content(metrics->Render(),
                                  std::string(runtime::kPrometheusContentType));
                });
  }
  if (options.probes) {
    server->Get("/healthz",
                [checks = options.health_checks](const httplib::Request& req,
                                                 httplib::Response& res) {
                  ServeHealth(checks, req, res);
                });
    std::function<bool()> ready = options.ready;
    server->Get(
        "/readyz", [ready](const httplib::Request&, httplib::Response& res) {
          if (!ready || ready()) {
            res.set_content("ok\n", kTextPlain);
          } else {
            res.status = 503;
            res.set_content("not ready: caches not synced yet\n", kTextPlain);
          }
        });
  }
  server->set_error_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        if (res.status == 404) {
          res.set_content(absl::StrCat("404 not found: ", req.path, "\n"),
                          kTextPlain);
        }
      });
  server->set_exception_handler([](const httplib::Request&,
                                   httplib::Response& res,
                                   const std::exception_ptr&) {
    res.status = 500;
    res.set_content("internal error\n", kTextPlain);
  });

  absl::StatusOr<int> port = server->Listen(host, bind->port);
  if (!port.ok()) {
    return absl::UnavailableError(absl::StrFormat(
        "cannot listen on \"%s\" (%s): is the port in use, or the host not "
        "an address of this machine?",
        options.address, port.status().message()));
  }
  server->StartAccepting();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(server), *port));
}

HttpServer::HttpServer(std::unique_ptr<ConnectionServer> server, int port)
    : server_(std::move(server)), port_(port) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() { server_->Stop(); }

}  // namespace zenlead::op
