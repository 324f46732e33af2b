// How long one more client waits while other connections stall: the
// measurement behind docs/webhook.md's choice of server. Opens N
// connections to a local HTTPS server (silent after the TLS handshake,
// silent without one, or trickling one header byte a second for 12 s),
// then times one ordinary request.
//
//   bazel run //webhook:stall_probe -- httplib 8 silent
//   bazel run //webhook:stall_probe -- webhook 8 trickle
//
// Servers: "httplib" (cpp-httplib's SSLServer with its defaults) or
// "webhook" (webhook::Server with its defaults). Stalls: "silent",
// "tcp", "trickle".
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/net/testing/connect.h"
#include "httplib.h"
#include "webhook/server.h"
#include "webhook/testing/test_certs.h"

namespace zenlead::webhook {
namespace {

class AllowAll : public AdmissionHandler {
  Decision Review(const k8s::AdmissionRequest&, absl::Time) override {
    return Decision::Allow("Probe");
  }
};

int Probe(const std::string& server_kind, int stalls,
          const std::string& stall) {
  const testing::TestCertificate cert = testing::MakeTestCertificate("probe");
  const std::string review =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)"
      R"("request":{"uid":"p","kind":{"group":"","version":"v1","kind":"Pod"},)"
      R"("resource":{"group":"","version":"v1","resource":"pods"},)"
      R"("operation":"CREATE","object":{}}})";

  std::unique_ptr<httplib::SSLServer> plain;
  std::thread plain_thread;
  std::unique_ptr<Server> ours;
  AllowAll handler;
  int port = 0;
  if (server_kind == "httplib") {
    plain = std::make_unique<httplib::SSLServer>([&cert](SSL_CTX& ctx) {
      BIO* c = BIO_new_mem_buf(cert.cert_pem.data(),
                               static_cast<int>(cert.cert_pem.size()));
      BIO* k = BIO_new_mem_buf(cert.key_pem.data(),
                               static_cast<int>(cert.key_pem.size()));
      X509* x = PEM_read_bio_X509(c, nullptr, nullptr, nullptr);
      EVP_PKEY* key = PEM_read_bio_PrivateKey(k, nullptr, nullptr, nullptr);
      const bool ok = SSL_CTX_use_certificate(&ctx, x) == 1 &&
                      SSL_CTX_use_PrivateKey(&ctx, key) == 1;
      X509_free(x);
      EVP_PKEY_free(key);
      BIO_free(c);
      BIO_free(k);
      return ok;
    });
    plain->Post(kPodsPath, [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{}", "application/json");
    });
    port = plain->bind_to_any_port("127.0.0.1");
    plain_thread = std::thread([&] { plain->listen_after_bind(); });
    while (!plain->is_running()) absl::SleepFor(absl::Milliseconds(1));
  } else if (server_kind == "webhook") {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.cert_pem = cert.cert_pem;
    options.key_pem = cert.key_pem;
    options.routes.push_back({kPodsPath, PodsRoute(), &handler});
    absl::StatusOr<std::unique_ptr<Server>> started = Server::Start(options);
    if (!started.ok()) {
      std::fprintf(stderr, "%s\n", started.status().ToString().c_str());
      return 1;
    }
    ours = std::move(*started);
    port = ours->port();
  } else {
    std::fprintf(stderr, "server: httplib or webhook\n");
    return 2;
  }

  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  std::vector<int> fds;
  std::vector<SSL*> held;
  for (int i = 0; i < stalls; ++i) {
    const int fd = net::testing::ConnectLoopback(port);
    fds.push_back(fd);
    if (stall == "tcp" || fd < 0) continue;
    SSL* ssl = SSL_new(client_ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) std::fprintf(stderr, "handshake %d failed\n", i);
    held.push_back(ssl);
  }
  std::thread trickler;
  if (stall == "trickle") {
    trickler = std::thread([&held] {
      const std::string head = "POST /validate/pods HTTP/1.1\r\nX-Slow: abcdef";
      for (size_t i = 0; i < 12; ++i) {
        for (SSL* ssl : held) SSL_write(ssl, head.data() + i, 1);
        absl::SleepFor(absl::Seconds(1));
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(100));

  const absl::Time start = absl::Now();
  httplib::SSLClient client("127.0.0.1", port);
  client.enable_server_certificate_verification(false);
  client.set_read_timeout(60);
  client.set_tcp_nodelay(true);  // as the API server's Go client
  httplib::Result res = client.Post(kPodsPath, review, "application/json");
  const absl::Duration took = absl::Now() - start;
  std::printf(
      "server=%s stalls=%d stall=%s: one more request took %.3f s (%s)\n",
      server_kind.c_str(), stalls, stall.c_str(), absl::ToDoubleSeconds(took),
      res ? std::to_string(res->status).c_str()
          : httplib::to_string(res.error()).c_str());

  if (trickler.joinable()) trickler.join();
  for (SSL* ssl : held) SSL_free(ssl);
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  SSL_CTX_free(client_ctx);
  if (plain != nullptr) {
    plain->stop();
    plain_thread.join();
  }
  return 0;
}

}  // namespace
}  // namespace zenlead::webhook

int main(int argc, char** argv) {
  int stalls = 8;
  if (argc != 4 || !absl::SimpleAtoi(argv[2], &stalls)) {
    std::fprintf(stderr,
                 "usage: stall_probe httplib|webhook N silent|tcp|trickle\n");
    return 2;
  }
  return zenlead::webhook::Probe(argv[1], stalls, argv[3]);
}
