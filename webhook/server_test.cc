#include "webhook/server.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "webhook/testing/test_certs.h"

namespace zenlead::webhook {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using testing::MakeTestCertificate;
using testing::TestCertificate;

// The header's example, as written there (cert/key and new_cert/new_key
// given).
class AllowAll : public AdmissionHandler {
  Decision Review(const k8s::AdmissionRequest&, absl::Time) override {
    return Decision::Allow("OutsidePool");
  }
};

absl::Status HeaderExample(const std::string& cert, const std::string& key,
                           const std::string& new_cert,
                           const std::string& new_key, int* port_out) {
  AllowAll pods;
  runtime::Registry metrics;
  ServerOptions options;
  options.host = "127.0.0.1";  // "0.0.0.0" in the pod
  options.port = 0;            // 9443 in the pod; 0 picks a free port
  options.cert_pem = cert;     // leaf first, then intermediates
  options.key_pem = key;
  options.metrics = &metrics;
  options.routes.push_back({kPodsPath, PodsRoute(), &pods});
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
  if (!server.ok()) return server.status();  // bad certificate, port in use
  int port = (*server)->port();
  absl::Status swapped = (*server)->SetCertificate(new_cert, new_key);
  (*server)->Stop();  // also done by the destructor
  *port_out = port;
  return swapped;
}

// A handler the test scripts; counts its calls.
class FakeHandler : public AdmissionHandler {
 public:
  Decision Review(const k8s::AdmissionRequest& request,
                  absl::Time deadline) override {
    ++calls;
    if (fn) return fn(request, deadline);
    return Decision::Allow("OutsidePool");
  }
  std::optional<Decision> Decide(
      const k8s::AdmissionRequest& request) override {
    ++decide_calls;
    if (decide) return decide(request);
    return std::nullopt;
  }
  bool MustDecide(const k8s::AdmissionRequest& request) override {
    return must_decide && must_decide(request);
  }
  std::function<Decision(const k8s::AdmissionRequest&, absl::Time)> fn;
  std::function<std::optional<Decision>(const k8s::AdmissionRequest&)> decide;
  std::function<bool(const k8s::AdmissionRequest&)> must_decide;
  std::atomic<int> calls{0};
  std::atomic<int> decide_calls{0};
};

std::string PodReview(const std::string& uid) {
  json review = json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
      "uid": "", "kind": {"group": "", "version": "v1", "kind": "Pod"},
      "resource": {"group": "", "version": "v1", "resource": "pods"},
      "namespace": "shop", "operation": "CREATE",
      "object": {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"generateName": "web-"},
                 "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    }
  })");
  review["request"]["uid"] = uid;
  return review.dump();
}

std::string HttpPost(const std::string& path, const std::string& body,
                     const std::string& content_type = "application/json") {
  return absl::StrCat(
      "POST ", path,
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
}

struct HttpAnswer {
  int status = 0;
  std::string head;
  std::string body;
};

// One client connection driven by hand, plain or TLS, with blocking
// sockets that give up after 5 s so a broken server fails a test instead
// of hanging it.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  // The TLS handshake, offering at most `max_version` (0: the newest). No
  // verification: tests look at the certificate themselves.
  bool StartTls(int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (max_version != 0 && max_version < TLS1_2_VERSION) {
      // OpenSSL 3 offers TLS 1.0/1.1 only at security level 0.
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx_, TLS1_VERSION);
    }
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx_, max_version);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    const bool ok = SSL_connect(ssl_) == 1;
    ERR_clear_error();
    return ok;
  }

  int TlsVersion() const { return SSL_version(ssl_); }

  std::string PeerCommonName() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                              sizeof(cn));
    X509_free(cert);
    return cn;
  }

  bool Send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ssl_ != nullptr
                            ? SSL_write(ssl_, bytes.data() + done,
                                        static_cast<int>(bytes.size() - done))
                            : send(fd_, bytes.data() + done,
                                   bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // One HTTP response (with Content-Length), or nullopt when the
  // connection ended or stalled first.
  std::optional<HttpAnswer> ReadAnswer() {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Receive()) return std::nullopt;
    }
    HttpAnswer answer;
    answer.head = buffer_.substr(0, end);
    std::vector<std::string> words = absl::StrSplit(answer.head, ' ');
    if (words.size() < 2 || !absl::SimpleAtoi(words[1], &answer.status)) {
      return std::nullopt;
    }
    size_t length = 0;
    for (absl::string_view line : absl::StrSplit(answer.head, "\r\n")) {
      if (absl::StartsWithIgnoreCase(line, "content-length:")) {
        if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)),
                              &length)) {
          return std::nullopt;
        }
      }
    }
    while (buffer_.size() < end + 4 + length) {
      if (!Receive()) return std::nullopt;
    }
    answer.body = buffer_.substr(end + 4, length);
    buffer_.erase(0, end + 4 + length);
    return answer;
  }

  // True when the server closes the connection (before the 5 s timeout),
  // whatever it still sends first.
  bool ClosedByServer() {
    for (;;) {
      const Read r = ReceiveOnce();
      if (r == Read::kEnd) return true;
      if (r == Read::kTimeout) return false;
    }
  }

 private:
  enum class Read { kData, kEnd, kTimeout };

  Read ReceiveOnce() {
    char chunk[16384];
    errno = 0;
    const ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof(chunk))
                                      : recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return Read::kData;
    }
    ERR_clear_error();
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Read::kTimeout;
    }
    return Read::kEnd;
  }
  bool Receive() { return ReceiveOnce() == Read::kData; }

  int fd_ = -1;
  bool connected_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : cert_(MakeTestCertificate("first")) {}

  ServerOptions Options() {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.cert_pem = cert_.cert_pem;
    options.key_pem = cert_.key_pem;
    options.metrics = &registry_;
    options.routes.push_back({kPodsPath, PodsRoute(), &pods_});
    options.routes.push_back(
        {kLeaderPoliciesPath, LeaderPoliciesRoute(), &policies_});
    options.workers = 2;
    options.handler_threads = 2;
    options.request_timeout = absl::Seconds(3);
    options.handshake_timeout = absl::Seconds(3);
    return options;
  }

  void Start(const ServerOptions& options) {
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::unique_ptr<httplib::SSLClient> Client() {
    auto client =
        std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    client->enable_server_certificate_verification(false);
    client->set_connection_timeout(5);
    client->set_read_timeout(5);
    client->set_write_timeout(5);
    return client;
  }

  // A review on the pods route: 200 with an allowed answer echoing `uid`.
  void ExpectServes(const std::string& uid) {
    httplib::Result res =
        Client()->Post(kPodsPath, PodReview(uid), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    ASSERT_EQ(res->status, 200) << res->body;
    const json answer = json::parse(res->body);
    EXPECT_EQ(answer["response"]["uid"], uid);
    EXPECT_EQ(answer["response"]["allowed"], true);
  }

  // The value of one exported sample, e.g.
  // `zen_lead_webhook_tls_handshake_errors_total{reason="timeout"}`; 0 when
  // not exported.
  double Metric(const std::string& sample) const {
    for (absl::string_view line : absl::StrSplit(registry_.Render(), '\n')) {
      if (absl::StartsWith(line, sample + " ")) {
        double v = 0;
        if (absl::SimpleAtod(line.substr(sample.size() + 1), &v)) return v;
      }
    }
    return 0;
  }

  // Waits (up to 5 s) until Metric(sample) reaches `want`.
  bool MetricReaches(const std::string& sample, double want) const {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (Metric(sample) < want) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  TestCertificate cert_;
  runtime::Registry registry_;
  FakeHandler pods_;
  FakeHandler policies_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, HeaderExampleStartsSwapsAndStops) {
  const TestCertificate next = MakeTestCertificate("next");
  int port = 0;
  EXPECT_TRUE(HeaderExample(cert_.cert_pem, cert_.key_pem, next.cert_pem,
                            next.key_pem, &port)
                  .ok());
  EXPECT_GT(port, 0);
}

TEST_F(ServerTest, ValidReviewIsAnsweredWithTheHandlersDecision) {
  pods_.fn = [](const k8s::AdmissionRequest& request, absl::Time) {
    Decision d = Decision::Allow("OutsidePool");
    d.warnings = {absl::StrCat("seen ", request.namespace_field.value_or(""))};
    return d;
  };
  Start(Options());
  httplib::Result res =
      Client()->Post(kPodsPath, PodReview("uid-1"), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(res->body), json::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "response": {"uid": "uid-1", "allowed": true, "warnings": ["seen shop"]}
  })"));
  EXPECT_EQ(pods_.calls.load(), 1);
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\"pods\","
                   "allowed=\"true\",reason=\"OutsidePool\"}"),
            1);
  EXPECT_EQ(Metric("zen_lead_webhook_latency_seconds_count{webhook=\"pods\"}"),
            1);
}

TEST_F(ServerTest, DenialCarriesCodeAndMessage) {
  policies_.fn = [](const k8s::AdmissionRequest&, absl::Time) {
    return Decision::Deny("InvalidPolicy",
                          "spec.renewDeadlineSeconds (12) must be less than "
                          "spec.leaseDurationSeconds (10)");
  };
  Start(Options());
  json review = json::parse(PodReview("p-1"));
  review["request"]["kind"] = {{"group", "coordination.kube-zen.io"},
                               {"version", "v1alpha1"},
                               {"kind", "LeaderPolicy"}};
  review["request"]["operation"] = "UPDATE";
  review["request"]["object"] = {
      {"apiVersion", "coordination.kube-zen.io/v1alpha1"},
      {"kind", "LeaderPolicy"}};
  httplib::Result res =
      Client()->Post(kLeaderPoliciesPath, review.dump(), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  const json answer = json::parse(res->body)["response"];
  EXPECT_EQ(answer["uid"], "p-1");
  EXPECT_EQ(answer["allowed"], false);
  EXPECT_EQ(answer["status"]["code"], 403);
  EXPECT_THAT(answer["status"]["message"].get<std::string>(),
              HasSubstr("spec.renewDeadlineSeconds (12)"));
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\""
                   "leaderpolicies\",allowed=\"false\",reason=\""
                   "InvalidPolicy\"}"),
            1);
}

TEST_F(ServerTest, BadBodiesGet400WithAReviewSayingWhy) {
  Start(Options());
  json wrong_version = json::parse(PodReview("x"));
  wrong_version["apiVersion"] = "admission.k8s.io/v1beta1";
  json wrong_kind = json::parse(PodReview("x"));
  wrong_kind["kind"] = "Status";
  json no_request = json::parse(PodReview("x"));
  no_request.erase("request");
  json no_uid = json::parse(PodReview("x"));
  no_uid["request"].erase("uid");
  const std::string valid = PodReview("x");
  const struct {
    std::string body;
    const char* message;
  } cases[] = {
      {"{\"apiVersion\": ", "not valid JSON"},
      {valid.substr(0, valid.size() - 3), "not valid JSON"},
      {"", "the request body is empty"},
      {wrong_version.dump(), "apiVersion: expected \"admission.k8s.io/v1\""},
      {wrong_kind.dump(), "kind: expected \"AdmissionReview\""},
      {no_request.dump(), "request: required field is missing"},
      {no_uid.dump(), "request.uid: required field is missing"},
  };
  for (const auto& c : cases) {
    httplib::Result res = Client()->Post(kPodsPath, c.body, "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 400) << c.message;
    const json answer = json::parse(res->body);
    EXPECT_EQ(answer["kind"], "AdmissionReview");
    EXPECT_EQ(answer["response"]["allowed"], false);
    EXPECT_EQ(answer["response"]["status"]["code"], 400);
    EXPECT_THAT(answer["response"]["status"]["message"].get<std::string>(),
                HasSubstr(c.message));
  }
  EXPECT_EQ(pods_.calls.load(), 0);
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\"pods\","
                   "allowed=\"false\",reason=\"BadRequest\"}"),
            7);
  ExpectServes("after-bad-bodies");
}

TEST_F(ServerTest, WrongObjectIsDeniedWithTheUidEchoed) {
  Start(Options());
  json deployment = json::parse(PodReview("d-1"));
  deployment["request"]["kind"] = {
      {"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  httplib::Result res =
      Client()->Post(kPodsPath, deployment.dump(), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  const json answer = json::parse(res->body)["response"];
  EXPECT_EQ(answer["uid"], "d-1");
  EXPECT_EQ(answer["allowed"], false);
  EXPECT_EQ(answer["status"]["code"], 400);
  EXPECT_THAT(answer["status"]["message"].get<std::string>(),
              HasSubstr("request.kind: the pods webhook reviews v1, Kind=Pod"));
  EXPECT_EQ(pods_.calls.load(), 0);
}

TEST_F(ServerTest, WrongContentTypeIs415) {
  Start(Options());
  httplib::Result res = Client()->Post(kPodsPath, PodReview("t"), "text/plain");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 415);
  EXPECT_THAT(res->body, HasSubstr("Content-Type: expected application/json"));
}

TEST_F(ServerTest, UnknownPathIs404AndGetIs405) {
  Start(Options());
  httplib::Result res = Client()->Post("/validate/deployments", PodReview("u"),
                                       "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 404);
  EXPECT_THAT(res->body, HasSubstr("/validate/pods, /validate/leaderpolicies"));
  httplib::Result get = Client()->Get(kPodsPath);
  ASSERT_TRUE(get) << httplib::to_string(get.error());
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  EXPECT_EQ(Metric("zen_lead_webhook_rejected_requests_total{code=\"404\"}"),
            1);
  EXPECT_EQ(Metric("zen_lead_webhook_rejected_requests_total{code=\"405\"}"),
            1);
}

TEST_F(ServerTest, BodyOverTheLimitIs413AndTheConnectionCloses) {
  ServerOptions options = Options();
  options.max_body_bytes = size_t{64} * 1024;
  Start(options);
  const std::string big(size_t{200} * 1024, ' ');
  httplib::Result res =
      Client()->Post(kPodsPath, PodReview("big") + big, "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 413);
  EXPECT_THAT(res->body, HasSubstr("over 65536 bytes"));

  RawClient raw(server_->port());
  ASSERT_TRUE(raw.StartTls());
  ASSERT_TRUE(raw.Send(HttpPost(kPodsPath, PodReview("big") + big)));
  std::optional<HttpAnswer> answer = raw.ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 413);
  EXPECT_THAT(answer->head, HasSubstr("Connection: close"));
  EXPECT_TRUE(raw.ClosedByServer());
  EXPECT_EQ(pods_.calls.load(), 0);
  ExpectServes("after-big");
}

TEST_F(ServerTest, HeadersOver64KiBAre431) {
  Start(Options());
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.StartTls());
  ASSERT_TRUE(raw.Send(absl::StrCat("POST ", kPodsPath, " HTTP/1.1\r\nX-Big: ",
                                    std::string(size_t{70} * 1024, 'a'))));
  std::optional<HttpAnswer> answer = raw.ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 431);
  EXPECT_TRUE(raw.ClosedByServer());
  EXPECT_EQ(Metric("zen_lead_webhook_rejected_requests_total{code=\"431\"}"),
            1);
  ExpectServes("after-431");
}

TEST_F(ServerTest, PlainHttpGets400AndTheServerKeepsServing) {
  Start(Options());
  RawClient plain(server_->port());
  ASSERT_TRUE(plain.connected());
  ASSERT_TRUE(plain.Send(HttpPost(kPodsPath, PodReview("plain"))));
  std::optional<HttpAnswer> answer = plain.ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 400);
  EXPECT_THAT(answer->body, HasSubstr("HTTPS only"));
  EXPECT_TRUE(plain.ClosedByServer());
  EXPECT_EQ(Metric("zen_lead_webhook_tls_handshake_errors_total{reason=\""
                   "plain_http\"}"),
            1);

  RawClient binary(server_->port());
  ASSERT_TRUE(binary.Send(std::string("\x00\x01\x02garbage", 10)));
  EXPECT_TRUE(binary.ClosedByServer());
  EXPECT_EQ(Metric("zen_lead_webhook_tls_handshake_errors_total{reason=\""
                   "not_tls\"}"),
            1);
  ExpectServes("after-plain");
  EXPECT_EQ(pods_.calls.load(), 1);
}

TEST_F(ServerTest, SlowClientsHoldNoWorkerAndAreCutAtTheirDeadline) {
  ServerOptions options = Options();
  options.workers = 1;
  options.handler_threads = 1;
  options.handshake_timeout = absl::Milliseconds(500);
  options.request_timeout = absl::Milliseconds(500);
  Start(options);

  // More stalled connections than workers, in every phase: no handshake,
  // half the headers, headers and part of the body.
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 3; ++i) {
    silent.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(silent.back()->connected());
  }
  const absl::Time sent = absl::Now();
  std::vector<std::unique_ptr<RawClient>> partial;
  const std::string request = HttpPost(kPodsPath, PodReview("slow"));
  for (size_t cut : {size_t{20}, request.size() - 10}) {
    for (int i = 0; i < 2; ++i) {
      partial.push_back(std::make_unique<RawClient>(server_->port()));
      ASSERT_TRUE(partial.back()->StartTls());
      ASSERT_TRUE(partial.back()->Send(request.substr(0, cut)));
    }
  }

  auto quiet = std::make_unique<RawClient>(server_->port());
  ASSERT_TRUE(quiet->StartTls());  // and then nothing

  // Others are served meanwhile.
  ExpectServes("while-stalled-1");
  ExpectServes("while-stalled-2");

  for (auto& client : partial) {
    std::optional<HttpAnswer> answer = client->ReadAnswer();
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status, 408);
    EXPECT_TRUE(client->ClosedByServer());
  }
  EXPECT_GE(absl::Now() - sent, options.request_timeout);
  for (auto& client : silent) EXPECT_TRUE(client->ClosedByServer());
  EXPECT_TRUE(quiet->ClosedByServer());
  EXPECT_EQ(Metric("zen_lead_webhook_tls_handshake_errors_total{reason=\""
                   "timeout\"}"),
            3);
  EXPECT_EQ(Metric("zen_lead_webhook_rejected_requests_total{code=\"408\"}"),
            4);
  EXPECT_EQ(pods_.calls.load(), 2);
  ExpectServes("after-stalled");
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  Start(Options());
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.StartTls());
  for (int i = 0; i < 3; ++i) {
    const std::string uid = absl::StrCat("ka-", i);
    ASSERT_TRUE(raw.Send(HttpPost(kPodsPath, PodReview(uid))));
    std::optional<HttpAnswer> answer = raw.ReadAnswer();
    ASSERT_TRUE(answer.has_value()) << i;
    EXPECT_EQ(answer->status, 200);
    EXPECT_THAT(answer->head, ::testing::Not(HasSubstr("Connection: close")));
    EXPECT_EQ(json::parse(answer->body)["response"]["uid"], uid);
  }
  // Pipelined: two requests in one write, two answers in order.
  ASSERT_TRUE(raw.Send(HttpPost(kPodsPath, PodReview("pipe-1")) +
                       HttpPost(kPodsPath, PodReview("pipe-2"))));
  for (const char* uid : {"pipe-1", "pipe-2"}) {
    std::optional<HttpAnswer> answer = raw.ReadAnswer();
    ASSERT_TRUE(answer.has_value()) << uid;
    EXPECT_EQ(json::parse(answer->body)["response"]["uid"], uid);
  }
  EXPECT_EQ(pods_.calls.load(), 5);
  EXPECT_EQ(Metric("zen_lead_webhook_open_connections"), 1);
}

TEST_F(ServerTest, ExpectContinueAndChunkedBodiesAreReadByTheWorker) {
  Start(Options());
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.StartTls());
  const std::string body = PodReview("expect");
  ASSERT_TRUE(raw.Send(
      absl::StrCat("POST ", kPodsPath,
                   " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Expect: 100-continue\r\nContent-Length: ",
                   body.size(), "\r\n\r\n")));
  std::optional<HttpAnswer> go_ahead = raw.ReadAnswer();
  ASSERT_TRUE(go_ahead.has_value());
  EXPECT_EQ(go_ahead->status, 100);
  ASSERT_TRUE(raw.Send(body));
  std::optional<HttpAnswer> answer = raw.ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(json::parse(answer->body)["response"]["uid"], "expect");

  const std::string chunked = PodReview("chunked");
  const size_t half = chunked.size() / 2;
  ASSERT_TRUE(raw.Send(
      absl::StrCat("POST ", kPodsPath,
                   " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n",
                   absl::Hex(half), "\r\n", chunked.substr(0, half), "\r\n",
                   absl::Hex(chunked.size() - half), "\r\n",
                   chunked.substr(half), "\r\n0\r\n\r\n")));
  answer = raw.ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(json::parse(answer->body)["response"]["uid"], "chunked");
  EXPECT_EQ(pods_.calls.load(), 2);
}

TEST_F(ServerTest, TlsBelow12IsRefusedAnd13IsPreferred) {
  Start(Options());
  RawClient old(server_->port());
  EXPECT_FALSE(old.StartTls(TLS1_1_VERSION));
  // The server refused the ClientHello (not the client giving up alone).
  EXPECT_TRUE(MetricReaches(
      "zen_lead_webhook_tls_handshake_errors_total{reason=\"protocol\"}", 1));

  RawClient tls12(server_->port());
  ASSERT_TRUE(tls12.StartTls(TLS1_2_VERSION));
  EXPECT_EQ(tls12.TlsVersion(), TLS1_2_VERSION);
  ASSERT_TRUE(tls12.Send(HttpPost(kPodsPath, PodReview("tls12"))));
  std::optional<HttpAnswer> answer = tls12.ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);

  RawClient newest(server_->port());
  ASSERT_TRUE(newest.StartTls());
  EXPECT_EQ(newest.TlsVersion(), TLS1_3_VERSION);
}

TEST_F(ServerTest, CertificateSwapIsSeenByNewConnections) {
  Start(Options());
  RawClient before(server_->port());
  ASSERT_TRUE(before.StartTls());
  EXPECT_EQ(before.PeerCommonName(), "first");

  const TestCertificate second = MakeTestCertificate("second");
  ASSERT_TRUE(server_->SetCertificate(second.cert_pem, second.key_pem).ok());
  RawClient after(server_->port());
  ASSERT_TRUE(after.StartTls());
  EXPECT_EQ(after.PeerCommonName(), "second");

  // The connection opened before the swap still works.
  ASSERT_TRUE(before.Send(HttpPost(kPodsPath, PodReview("old-conn"))));
  std::optional<HttpAnswer> answer = before.ReadAnswer();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 200);

  // Bad pairs are refused and leave the second certificate in use.
  const TestCertificate expired =
      MakeTestCertificate("expired", absl::Hours(-2), absl::Hours(-1));
  const TestCertificate future =
      MakeTestCertificate("future", absl::Hours(1), absl::Hours(2));
  absl::Status garbage = server_->SetCertificate("not a pem", second.key_pem);
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(garbage.message()), HasSubstr("certificate:"));
  absl::Status no_key = server_->SetCertificate(second.cert_pem, "");
  EXPECT_EQ(no_key.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_key.message()), HasSubstr("private key:"));
  absl::Status mismatch =
      server_->SetCertificate(second.cert_pem, cert_.key_pem);
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mismatch.message()),
              HasSubstr("does not belong to the certificate"));
  absl::Status old = server_->SetCertificate(expired.cert_pem, expired.key_pem);
  EXPECT_EQ(old.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(old.message()), HasSubstr("expired at"));
  absl::Status early = server_->SetCertificate(future.cert_pem, future.key_pem);
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(early.message()), HasSubstr("not valid before"));

  RawClient last(server_->port());
  ASSERT_TRUE(last.StartTls());
  EXPECT_EQ(last.PeerCommonName(), "second");
}

TEST_F(ServerTest, CertificateChainIsServed) {
  // A leaf followed by another certificate: both are read, the leaf is
  // served (the second is sent as a chain certificate).
  const TestCertificate extra = MakeTestCertificate("intermediate");
  ServerOptions options = Options();
  options.cert_pem = cert_.cert_pem + extra.cert_pem;
  Start(options);
  RawClient raw(server_->port());
  ASSERT_TRUE(raw.StartTls());
  EXPECT_EQ(raw.PeerCommonName(), "first");
}

TEST_F(ServerTest, HandlerThatThrowsIsAnErrorAnswer) {
  pods_.fn = [](const k8s::AdmissionRequest&, absl::Time) -> Decision {
    throw std::runtime_error("cache not synced");
  };
  Start(Options());
  httplib::Result res =
      Client()->Post(kPodsPath, PodReview("boom"), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  const json answer = json::parse(res->body)["response"];
  EXPECT_EQ(answer["uid"], "boom");
  EXPECT_EQ(answer["allowed"], false);
  EXPECT_EQ(answer["status"]["code"], 500);
  EXPECT_THAT(answer["status"]["message"].get<std::string>(),
              HasSubstr("the pods webhook failed: cache not synced"));
  pods_.fn = nullptr;
  ExpectServes("after-throw");
}

// A route that leaves undecided reviews to the failure policy answers
// them with an HTTP error instead of a denial; its decisions are as before.
TEST_F(ServerTest, UndecidedReviewFailsTheCallWhenTheRouteAsks) {
  pods_.fn = [](const k8s::AdmissionRequest& request, absl::Time) -> Decision {
    if (request.uid == "boom") throw std::runtime_error("cache not synced");
    return Decision::Deny("PoolHeld", "held");
  };
  ServerOptions options = Options();
  for (Route& route : options.routes) {
    route.undecided_fails_call = route.path == kPodsPath;
  }
  Start(options);
  httplib::Result res =
      Client()->Post(kPodsPath, PodReview("boom"), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 500);
  EXPECT_THAT(res->body,
              HasSubstr("the pods webhook failed: cache not synced"));
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\"pods\","
                   "allowed=\"false\",reason=\"HandlerError\"}"),
            1);
  // A decision, even a denial, is still an AdmissionReview.
  res = Client()->Post(kPodsPath, PodReview("held"), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["response"]["allowed"], false);
  pods_.fn = nullptr;
}

// A request the handler must decide (a guarded pod) is denied when
// undecided, on a route that otherwise fails the call: under the failure
// policy Ignore, an HTTP error would admit it.
TEST_F(ServerTest, UndecidedReviewTheHandlerMustDecideIsADenial) {
  absl::Notification release;
  pods_.fn = [&](const k8s::AdmissionRequest& request, absl::Time) {
    if (request.uid == "boom") throw std::runtime_error("cache not synced");
    release.WaitForNotification();
    return Decision::Allow("Late");
  };
  pods_.must_decide = [](const k8s::AdmissionRequest& request) {
    if (request.uid == "odd") throw std::runtime_error("no answer");
    return request.uid != "free";
  };
  ServerOptions options = Options();
  options.handler_timeout = absl::Milliseconds(300);
  for (Route& route : options.routes) {
    route.undecided_fails_call = route.path == kPodsPath;
  }
  Start(options);
  for (const std::string uid : {"guarded", "boom", "odd"}) {
    httplib::Result res =
        Client()->Post(kPodsPath, PodReview(uid), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200) << uid;
    const json answer = json::parse(res->body)["response"];
    EXPECT_EQ(answer["uid"], uid);
    EXPECT_EQ(answer["allowed"], false) << uid;
    EXPECT_THAT(answer["status"]["message"].get<std::string>(),
                HasSubstr("never admitted undecided"))
        << uid;
  }
  // One the handler need not decide goes to the failure policy.
  httplib::Result res =
      Client()->Post(kPodsPath, PodReview("free"), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 504);
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\"pods\","
                   "allowed=\"false\",reason=\"HandlerTimeout\"}"),
            3);
  release.Notify();
  server_->Stop();  // before `release` goes out of scope
  pods_.fn = nullptr;
  pods_.must_decide = nullptr;
}

TEST_F(ServerTest, HandlerThatHangsTimesOutAndOthersAreServed) {
  absl::Notification release;
  policies_.fn = [&](const k8s::AdmissionRequest&, absl::Time) {
    release.WaitForNotification();
    return Decision::Allow("Late");
  };
  ServerOptions options = Options();
  options.handler_timeout = absl::Milliseconds(300);
  Start(options);
  json review = json::parse(PodReview("hang"));
  review["request"]["kind"] = {{"group", "coordination.kube-zen.io"},
                               {"version", "v1alpha1"},
                               {"kind", "LeaderPolicy"}};
  review["request"]["object"] = json::object();
  httplib::Result res =
      Client()->Post(kLeaderPoliciesPath, review.dump(), "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  const json answer = json::parse(res->body)["response"];
  EXPECT_EQ(answer["uid"], "hang");
  EXPECT_EQ(answer["allowed"], false);
  EXPECT_EQ(answer["status"]["code"], 504);
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\""
                   "leaderpolicies\",allowed=\"false\",reason=\""
                   "HandlerTimeout\"}"),
            1);
  // One handler thread is stuck; the other still serves pods.
  ExpectServes("while-hung");
  release.Notify();
  server_->Stop();  // before `release` goes out of scope
}

TEST_F(ServerTest, ReviewsBeyondHandlersAndQueueAreServerBusy) {
  absl::Notification release;
  pods_.fn = [&](const k8s::AdmissionRequest&, absl::Time) {
    release.WaitForNotification();
    return Decision::Allow("OutsidePool");
  };
  ServerOptions options = Options();
  options.workers = 4;
  options.handler_threads = 1;
  options.max_queued_reviews = 1;
  options.handler_timeout = absl::Seconds(10);
  Start(options);

  absl::Mutex mu;
  std::vector<std::string> answers;  // allowed / reason, in arrival order
  auto post = [&](const std::string& uid) {
    httplib::Result res =
        Client()->Post(kPodsPath, PodReview(uid), "application/json");
    std::string got = "no answer";
    if (res && res->status == 200) {
      const json r = json::parse(res->body)["response"];
      got = r["allowed"].get<bool>()
                ? "allowed"
                : absl::StrCat("denied ", r["status"]["code"].get<int>());
    }
    absl::MutexLock lock(&mu);
    answers.push_back(got);
  };
  std::thread running(post, "running");
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (pods_.calls.load() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(pods_.calls.load(), 1);
  // One of these two is queued behind it, the other finds the queue full.
  std::thread second(post, "second");
  std::thread third(post, "third");
  {
    absl::MutexLock lock(&mu);
    auto one_answer = [&answers] { return answers.size() >= 1; };
    EXPECT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(&one_answer), absl::Seconds(5)));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0], "denied 503");
  }
  release.Notify();
  running.join();
  second.join();
  third.join();
  EXPECT_EQ(answers,
            (std::vector<std::string>{"denied 503", "allowed", "allowed"}));
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\"pods\","
                   "allowed=\"false\",reason=\"ServerBusy\"}"),
            1);
  server_->Stop();  // before `release` goes out of scope
}

// What Decide answers never waits for a handler thread: with the only one
// stuck and its queue full, such reviews are still answered at once, and
// what Decide throws is a HandlerError like what Review throws.
TEST_F(ServerTest, DecideAnswersOnTheWorkerWhileHandlersAreBusy) {
  absl::Notification release;
  pods_.fn = [&](const k8s::AdmissionRequest&, absl::Time) {
    release.WaitForNotification();
    return Decision::Allow("Late");
  };
  pods_.decide =
      [](const k8s::AdmissionRequest& request) -> std::optional<Decision> {
    if (request.uid == "throws") throw std::runtime_error("index broken");
    if (absl::StartsWith(request.uid, "fast-")) {
      return Decision::Allow("OutsidePool");
    }
    return std::nullopt;
  };
  ServerOptions options = Options();
  options.workers = 3;  // two wait for the handler thread, one is free
  options.handler_threads = 1;
  options.max_queued_reviews = 1;
  options.handler_timeout = absl::Seconds(10);
  Start(options);
  auto post = [this](const std::string& uid) {
    return Client()->Post(kPodsPath, PodReview(uid), "application/json");
  };
  std::thread held([&] { post("held"); });
  std::thread queued([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (pods_.calls.load() < 1 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    post("queued");
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (pods_.decide_calls.load() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(pods_.calls.load(), 1);
  for (int i = 0; i < 20; ++i) {
    const std::string uid = absl::StrCat("fast-", i);
    httplib::Result res = post(uid);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    ASSERT_EQ(res->status, 200);
    const json answer = json::parse(res->body)["response"];
    EXPECT_EQ(answer["uid"], uid);
    EXPECT_EQ(answer["allowed"], true);
  }
  EXPECT_EQ(pods_.calls.load(), 1);  // none of them reached Review
  httplib::Result res = post("throws");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  const json answer = json::parse(res->body)["response"];
  EXPECT_EQ(answer["allowed"], false);
  EXPECT_EQ(answer["status"]["code"], 500);
  EXPECT_THAT(answer["status"]["message"].get<std::string>(),
              HasSubstr("the pods webhook failed: index broken"));
  EXPECT_EQ(Metric("zen_lead_webhook_requests_total{webhook=\"pods\","
                   "allowed=\"true\",reason=\"OutsidePool\"}"),
            20);
  release.Notify();
  held.join();
  queued.join();
  EXPECT_EQ(pods_.calls.load(), 2);
  server_->Stop();  // before `release` goes out of scope
}

TEST_F(ServerTest, StartRefusesBadOptions) {
  ServerOptions bad_cert = Options();
  bad_cert.cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n";
  EXPECT_EQ(Server::Start(bad_cert).status().code(),
            absl::StatusCode::kInvalidArgument);
  ServerOptions twice = Options();
  twice.routes.push_back({kPodsPath, PodsRoute(), &pods_});
  EXPECT_EQ(Server::Start(twice).status().code(),
            absl::StatusCode::kInvalidArgument);
  ServerOptions no_handler = Options();
  no_handler.routes[0].handler = nullptr;
  EXPECT_EQ(Server::Start(no_handler).status().code(),
            absl::StatusCode::kInvalidArgument);

  Start(Options());
  runtime::Registry other;
  ServerOptions same_port = Options();
  same_port.metrics = &other;
  same_port.port = server_->port();
  absl::StatusOr<std::unique_ptr<Server>> second = Server::Start(same_port);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("is the port in use"));
}

TEST_F(ServerTest, StopRightAfterStartAndTwice) {
  Start(Options());
  server_->Stop();
  server_->Stop();
}

}  // namespace
}  // namespace zenlead::webhook
