#include "operator/http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace zenlead::op {
namespace {

constexpr char kTextPlain[] = "text/plain; charset=utf-8";

absl::Status BadAddress(absl::string_view address, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "bind address \"%s\": %s; expected \"host:port\", \":port\" or "
      "\"[ipv6]:port\" with a port in 0..65535 (0: any free port)",
      address, why));
}

// Only SO_REUSEADDR (restart without waiting for TIME_WAIT). cpp-httplib's
// default also sets SO_REUSEPORT, which would let a second process bind the
// same port silently instead of failing.
void ReuseAddressOnly(int sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

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
    HttpServerOptions options) {
  absl::StatusOr<BindAddress> bind = ParseBindAddress(options.address);
  if (!bind.ok()) return bind.status();
  const std::string host = bind->host.empty() ? "0.0.0.0" : bind->host;

  auto server = std::make_unique<httplib::Server>();
  const int threads = options.threads < 1 ? 1 : options.threads;
  server->new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server->set_socket_options(ReuseAddressOnly);

  if (options.metrics != nullptr) {
    const client::Registry* metrics = options.metrics;
    server->Get("/metrics",
                [metrics](const httplib::Request&, httplib::Response& res) {
                  res.set_content(metrics->Render(),
                                  std::string(client::kPrometheusContentType));
                });
  }
  if (options.probes) {
    server->Get("/healthz",
                [](const httplib::Request&, httplib::Response& res) {
                  res.set_content("ok\n", kTextPlain);
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

  int port = bind->port;
  errno = 0;
  if (port == 0) {
    port = server->bind_to_any_port(host);
  } else if (!server->bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    const int err = errno;
    return absl::UnavailableError(absl::StrFormat(
        "cannot listen on \"%s\" (%s): is the port in use, or the host not "
        "an address of this machine?",
        options.address, err != 0 ? std::strerror(err) : "bind failed"));
  }
  std::unique_ptr<HttpServer> out(
      new HttpServer(std::move(options), std::move(server), port));
  {
    absl::MutexLock lock(&out->stop_mu_);
    out->thread_ = std::thread([s = out.get()] { s->Serve(); });
  }
  return out;
}

HttpServer::HttpServer(HttpServerOptions options,
                       std::unique_ptr<httplib::Server> server, int port)
    : options_(std::move(options)), server_(std::move(server)), port_(port) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Serve() {
  server_->listen_after_bind();
  served_.Notify();
}

void HttpServer::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing until the accept loop has started (it
  // checks is_running()), so a Stop right after Start repeats it until the
  // serving thread has returned.
  do {
    server_->stop();
  } while (!served_.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  thread_.join();
}

}  // namespace zenlead::op
