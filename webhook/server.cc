#include "webhook/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "api/net/http_listener.h"
#include "api/net/socket.h"
#include "httplib.h"

namespace zenlead::webhook {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kTextPlain[] = "text/plain; charset=utf-8";
// Request line and headers larger than this get 431 (the API server's are
// well under 1 KiB).
constexpr size_t kMaxHeaderBytes = size_t{64} * 1024;
// A connection the server closes after an error answer is read from (and
// the bytes dropped) this long, so that the client reads the answer instead
// of a reset caused by the request bytes still arriving.
constexpr absl::Duration kDrainTime = absl::Seconds(1);
constexpr size_t kMaxDrainBytes = size_t{8} * 1024 * 1024;
// TLS 1.2 suites: forward secret and authenticated encryption only (TLS 1.3
// suites are all of that kind and keep OpenSSL's defaults).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// The first byte of a TLS handshake record.
constexpr unsigned char kTlsHandshakeRecord = 0x16;

// SIGPIPE from a write to a closed peer (OpenSSL writes with write(), not
// send(MSG_NOSIGNAL)) would end the process; the server's own threads block
// it, so the write fails with EPIPE instead, whatever the process does with
// the signal.
void BlockSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string OpenSslErrors() {
  std::vector<std::string> errors;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    errors.emplace_back(buf);
  }
  return errors.empty() ? "no detail from OpenSSL"
                        : absl::StrJoin(errors, "; ");
}

// ---------------------------------------------------------------------------
// Certificates.

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// An encrypted key cannot be used unattended: fail instead of prompting on
// the terminal, which is OpenSSL's default.
int NoPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return -1;
}

std::string FormatAsn1Time(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(std::max(n, 0L)));
}

// A server context for one certificate and key, checked.
absl::StatusOr<CtxPtr> BuildContext(const std::string& cert_pem,
                                    const std::string& key_pem) {
  ERR_clear_error();
  BioPtr cert_bio = MemoryBio(cert_pem);
  X509Ptr leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassword, nullptr));
  if (leaf == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate: no PEM certificate could be read (", OpenSslErrors(),
        "): expected \"-----BEGIN CERTIFICATE-----\", the serving "
        "certificate first, then any intermediates"));
  }
  std::vector<X509Ptr> chain;
  for (;;) {
    X509Ptr next(
        PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassword, nullptr));
    if (next == nullptr) break;
    chain.push_back(std::move(next));
  }
  ERR_clear_error();  // the end of the PEM data reads as an error

  BioPtr key_bio = MemoryBio(key_pem);
  PkeyPtr key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassword, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "private key: no unencrypted PEM private key could be read (",
        OpenSslErrors(),
        "): expected \"-----BEGIN PRIVATE KEY-----\" (or "
        "EC/RSA PRIVATE KEY)"));
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "private key: it does not belong to the certificate (its public key "
        "differs): give the key the certificate was issued for");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(leaf.get())) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate: not valid before ",
                     FormatAsn1Time(X509_get0_notBefore(leaf.get())),
                     ": is the clock of the issuer or of this node wrong?"));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "certificate: expired at ",
        FormatAsn1Time(X509_get0_notAfter(leaf.get())), ": issue a new one"));
  }

  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("TLS context: ", OpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                     SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx.get(), kTls12Ciphers) != 1 ||
      SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate: OpenSSL refused it (", OpenSslErrors(),
                     "): is the key too weak for the system's TLS policy?"));
  }
  for (const X509Ptr& c : chain) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), c.get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate: an intermediate was refused (", OpenSslErrors(), ")"));
    }
  }
  return ctx;
}

}  // namespace

// The context new handshakes use. Each certificate gets its own SSL_CTX,
// never changed after it is built; SSL_new takes a reference, so a swap
// leaves open connections on the context they started with.
class TlsContext {
 public:
  explicit TlsContext(CtxPtr ctx) : ctx_(std::move(ctx)) {}

  absl::Status Set(const std::string& cert_pem, const std::string& key_pem)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::StatusOr<CtxPtr> ctx = BuildContext(cert_pem, key_pem);
    if (!ctx.ok()) return ctx.status();
    absl::MutexLock lock(&mu_);
    ctx_ = std::move(*ctx);
    return absl::OkStatus();
  }

  // A server-side SSL on `fd`, or null.
  SSL* NewSsl(int fd) ABSL_LOCKS_EXCLUDED(mu_) {
    SSL* ssl = nullptr;
    {
      absl::MutexLock lock(&mu_);
      ssl = SSL_new(ctx_.get());
    }
    if (ssl == nullptr) return nullptr;
    if (SSL_set_fd(ssl, fd) != 1) {
      SSL_free(ssl);
      return nullptr;
    }
    SSL_set_accept_state(ssl);
    return ssl;
  }

 private:
  absl::Mutex mu_;
  CtxPtr ctx_ ABSL_GUARDED_BY(mu_);
};

// Metric families and the children the hot paths use.
struct ServerMetrics {
  runtime::CounterFamily* requests = nullptr;
  runtime::HistogramFamily* latency = nullptr;
  runtime::CounterFamily* handshake_errors = nullptr;
  runtime::CounterFamily* rejected = nullptr;
  runtime::Gauge* open_connections = nullptr;

  void Reject(int code) const {
    rejected->WithLabels({absl::StrCat(code)})->Inc();
  }
  void HandshakeError(const char* reason) const {
    handshake_errors->WithLabels({reason})->Inc();
  }
};

namespace {

absl::StatusOr<std::unique_ptr<ServerMetrics>> RegisterMetrics(
    runtime::Registry& registry) {
  auto m = std::make_unique<ServerMetrics>();
  absl::StatusOr<runtime::CounterFamily*> requests = registry.AddCounter(
      "zen_lead_webhook_requests_total",
      "AdmissionReviews answered, by webhook, decision and reason.",
      {"webhook", "allowed", "reason"});
  if (!requests.ok()) return requests.status();
  m->requests = *requests;
  absl::StatusOr<runtime::HistogramFamily*> latency = registry.AddHistogram(
      "zen_lead_webhook_latency_seconds",
      "Time from a complete AdmissionReview request to its answer, by "
      "webhook.",
      {"webhook"}, runtime::ExponentialBuckets(0.00025, 2, 15));
  if (!latency.ok()) return latency.status();
  m->latency = *latency;
  absl::StatusOr<runtime::CounterFamily*> handshakes = registry.AddCounter(
      "zen_lead_webhook_tls_handshake_errors_total",
      "Connections that did not complete a TLS handshake, by reason "
      "(plain_http, not_tls, protocol, timeout, closed).",
      {"reason"});
  if (!handshakes.ok()) return handshakes.status();
  m->handshake_errors = *handshakes;
  absl::StatusOr<runtime::CounterFamily*> rejected = registry.AddCounter(
      "zen_lead_webhook_rejected_requests_total",
      "HTTP requests answered without a review (unknown path, wrong method, "
      "body too large, timeout, overload), by HTTP status.",
      {"code"});
  if (!rejected.ok()) return rejected.status();
  m->rejected = *rejected;
  absl::StatusOr<runtime::GaugeFamily*> open =
      registry.AddGauge("zen_lead_webhook_open_connections",
                        "Connections open on the webhook port.", {});
  if (!open.ok()) return open.status();
  m->open_connections = (*open)->WithLabels({});
  return m;
}

}  // namespace

// A fixed number of threads and a bounded queue of tasks.
class WorkerPool {
 public:
  // max_queued 0: unbounded.
  WorkerPool(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < std::max(threads, 1); ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }
  ~WorkerPool() { Stop(); }

  // False when the queue is full or the pool stopped: the task is dropped.
  bool Submit(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    if (max_queued_ > 0 && queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
    return true;
  }

  // Runs what is queued, then joins. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
    }
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  void Work() ABSL_LOCKS_EXCLUDED(mu_) {
    BlockSigpipe();
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &WorkerPool::HasWork));
        if (queue_.empty()) return;  // stopping, nothing left
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // touched by the constructor and Stop
};

namespace {

// A client connection: TLS state and the decrypted bytes not yet consumed.
// Exactly one thread holds it at a time (the waiter or one worker); the
// destructor closes it.
struct Connection {
  enum class Phase {
    kHandshake,  // TLS handshake in progress
    kIdle,       // waiting for the first byte of a request
    kRequest,    // collecting a request
    kDraining,   // answered and closing: reading and dropping what arrives
  };

  Connection(int fd, SSL* ssl, runtime::Gauge* open)
      : fd(fd), ssl(ssl), open(open) {
    open->Inc();
  }
  ~Connection() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) close(fd);
    open->Dec();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const int fd;
  SSL* const ssl;
  runtime::Gauge* const open;
  Phase phase = Phase::kHandshake;
  // The first byte was looked at (a TLS record, or plain HTTP?).
  bool checked_first_byte = false;
  // The TLS layer needs to write before it can go on.
  bool want_write = false;
  std::string buffer;
  absl::Time deadline;
  // The waiter has the whole request: a worker must not wait on the
  // network for more (a read past it fails, and the connection closes).
  bool complete = false;
  // The request's Content-Length is over the limit: its body is never read,
  // the answer is 413 and the connection closes.
  bool oversized = false;
  size_t drained = 0;
  int served = 0;
};
using ConnectionPtr = std::unique_ptr<Connection>;

enum class TlsIo { kDone, kWantRead, kWantWrite, kClosed, kFailed };

TlsIo Classify(SSL* ssl, int ret) {
  if (ret > 0) return TlsIo::kDone;
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
      return TlsIo::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return TlsIo::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return TlsIo::kClosed;
    case SSL_ERROR_SYSCALL:
      return (errno == 0 || errno == ECONNRESET || errno == EPIPE)
                 ? TlsIo::kClosed
                 : TlsIo::kFailed;
    default:
      return TlsIo::kFailed;
  }
}

// Writes all of `data` through TLS, waiting at most until `deadline`.
bool TlsWriteAll(Connection& c, const char* data, size_t size,
                 absl::Time deadline) {
  size_t done = 0;
  while (done < size) {
    ERR_clear_error();
    errno = 0;
    const int n = SSL_write(
        c.ssl, data + done,
        static_cast<int>(std::min<size_t>(size - done, size_t{1} << 20)));
    switch (Classify(c.ssl, n)) {
      case TlsIo::kDone:
        done += static_cast<size_t>(n);
        break;
      case TlsIo::kWantRead:
        if (!net::WaitFor(c.fd, POLLIN, deadline)) return false;
        break;
      case TlsIo::kWantWrite:
        if (!net::WaitFor(c.fd, POLLOUT, deadline)) return false;
        break;
      default:
        ERR_clear_error();
        return false;
    }
  }
  return true;
}

// httplib's view of one request on a Connection: reads come from what the
// waiter collected (normally the whole request), then from TLS until
// `read_deadline`, a total for the request; writes have `write_timeout`
// from the first write.
class TlsStream : public httplib::Stream {
 public:
  TlsStream(Connection* conn, absl::Time read_deadline,
            absl::Duration write_timeout)
      : conn_(conn),
        read_deadline_(read_deadline),
        write_timeout_(write_timeout) {}

  bool is_readable() const override {
    return offset_ < conn_->buffer.size() ||
           (!conn_->complete &&
            (SSL_pending(conn_->ssl) > 0 ||
             net::WaitFor(conn_->fd, POLLIN, read_deadline_)));
  }
  bool is_writable() const override {
    return net::WaitFor(conn_->fd, POLLOUT, WriteDeadline());
  }

  ssize_t read(char* ptr, size_t size) override {
    if (offset_ == conn_->buffer.size()) {
      if (conn_->complete) {
        read_failed_ = true;
        return -1;
      }
      conn_->buffer.clear();
      offset_ = 0;
      if (!Fill()) return read_failed_ ? -1 : 0;
    }
    const size_t n = std::min(size, conn_->buffer.size() - offset_);
    std::memcpy(ptr, conn_->buffer.data() + offset_, n);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!TlsWriteAll(*conn_, ptr, size, WriteDeadline())) return -1;
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    net::SocketAddress(conn_->fd, /*peer=*/true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    net::SocketAddress(conn_->fd, /*peer=*/false, ip, port);
  }
  socket_t socket() const override { return conn_->fd; }

  // A read failed or was refused: what follows on the connection is not a
  // request boundary, so it must close after the answer.
  bool read_failed() const { return read_failed_; }

  // Leaves only the unread bytes in the connection's buffer.
  void KeepUnread() {
    conn_->buffer.erase(0, offset_);
    offset_ = 0;
  }

 private:
  absl::Time WriteDeadline() const {
    if (write_deadline_ == absl::InfinitePast()) {
      write_deadline_ = absl::Now() + write_timeout_;
    }
    return write_deadline_;
  }

  // Reads one TLS record's worth into the (empty) buffer; false at the end
  // of the stream (read_failed_ unset) or on failure or timeout (set).
  bool Fill() {
    char chunk[16384];  // the largest TLS record: one SSL_read takes it all
    for (;;) {
      ERR_clear_error();
      errno = 0;
      const int n = SSL_read(conn_->ssl, chunk, sizeof(chunk));
      switch (Classify(conn_->ssl, n)) {
        case TlsIo::kDone:
          conn_->buffer.assign(chunk, static_cast<size_t>(n));
          return true;
        case TlsIo::kWantRead:
          if (net::WaitFor(conn_->fd, POLLIN, read_deadline_)) continue;
          break;
        case TlsIo::kWantWrite:
          if (net::WaitFor(conn_->fd, POLLOUT, read_deadline_)) continue;
          break;
        case TlsIo::kClosed:
          return false;
        case TlsIo::kFailed:
          ERR_clear_error();
          break;
      }
      read_failed_ = true;
      return false;
    }
  }

  Connection* const conn_;
  const absl::Time read_deadline_;
  const absl::Duration write_timeout_;
  mutable absl::Time write_deadline_ = absl::InfinitePast();
  size_t offset_ = 0;
  bool read_failed_ = false;
};

// What the waiter does with the bytes a connection has collected.
enum class Collected {
  kIncomplete,       // wait for more
  kReady,            // hand to a worker
  kHeadersTooLarge,  // answer 431
};

// Whether `buffer` holds a request a worker can run without waiting on the
// network: headers, and the body when Content-Length gives its size (then
// `complete`). A chunked body and an "Expect: 100-continue" (the client
// waits for the server's go-ahead) go to a worker after the headers, which
// reads the rest until the request's deadline. A body over `max_body` is
// never read (`oversized`); a request without a length has no body.
Collected CollectedRequest(const std::string& buffer, size_t max_body,
                           bool& complete, bool& oversized) {
  complete = false;
  oversized = false;
  size_t end = buffer.find("\r\n\r\n");
  size_t separator = 4;
  const size_t lf = buffer.find("\n\n");
  if (lf != std::string::npos && (end == std::string::npos || lf < end)) {
    end = lf;
    separator = 2;
  }
  if (end == std::string::npos) {
    return buffer.size() > kMaxHeaderBytes ? Collected::kHeadersTooLarge
                                           : Collected::kIncomplete;
  }
  if (end > kMaxHeaderBytes) return Collected::kHeadersTooLarge;
  const absl::string_view head(buffer.data(), end);
  std::optional<uint64_t> length;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(head, '\n')) {
    if (first) {  // the request line
      first = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    const std::string name = absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(line.substr(0, colon)));
    const absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (name == "transfer-encoding" || name == "expect") {
      return Collected::kReady;
    }
    if (name == "content-length") {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) {  // httplib answers 400
        complete = true;
        return Collected::kReady;
      }
      length = n;
    }
  }
  if (!length.has_value()) {
    complete = true;
    return Collected::kReady;
  }
  if (*length > max_body) {
    complete = true;
    oversized = true;
    return Collected::kReady;
  }
  if (buffer.size() - (end + separator) < *length) {
    return Collected::kIncomplete;
  }
  complete = true;
  return Collected::kReady;
}

std::string PlainResponse(int code, absl::string_view reason,
                          absl::string_view message) {
  return absl::StrCat(
      "HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", kTextPlain,
      "\r\nConnection: close\r\nContent-Length: ", message.size(), "\r\n\r\n",
      message);
}

}  // namespace

// cpp-httplib's Server with its connection handling replaced: httplib's
// own (and SSLServer's) keeps each connection on one worker thread from
// accept until close, handshake and keep-alive waits included, with a read
// timeout per read, so a few slow or idle clients hold every thread. Here
// one thread (the waiter) does the TLS handshakes and collects requests on
// all connections at once, with deadlines; workers run only complete
// requests. httplib still accepts, parses, routes and writes responses.
class ConnectionLoop : public net::HttpListener {
 public:
  ConnectionLoop(const ServerOptions& options, TlsContext* tls,
                 const ServerMetrics* metrics, WorkerPool* reviews)
      : options_(options),
        tls_(tls),
        metrics_(metrics),
        reviews_(reviews),
        workers_(options.workers, /*max_queued=*/0),
        waiter_([this] { WaitLoop(); }) {
    // Only what responses advertise in their Keep-Alive header.
    set_keep_alive_timeout(
        std::max<int64_t>(absl::ToInt64Seconds(options.idle_timeout), 1));
    set_keep_alive_max_count(
        static_cast<size_t>(std::max(options.max_requests_per_connection, 1)));
    set_payload_max_length(options.max_body_bytes);
  }

  ~ConnectionLoop() override { Stop(); }

  bool ok() const { return wakeup_.ok(); }

 private:
  // Closes waiting connections, lets running requests finish and joins
  // the threads, then lets the reviews they started finish; connections
  // handed over later are closed at once.
  void StopConnections() override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      wakeup_.Wake();
    }
    waiter_.join();
    workers_.Stop();
    {
      absl::MutexLock lock(&mu_);
      handed_.clear();
    }
    reviews_->Stop();
  }

  // Called by httplib's accept loop for each new connection.
  bool process_and_close_socket(socket_t sock) override {
    // Only this thread opens connections, others only close them: the
    // check cannot race past the limit.
    if (metrics_->open_connections->Value() >= options_.max_connections) {
      close(sock);
      metrics_->Reject(503);
      return true;
    }
    const int flags = fcntl(sock, F_GETFL, 0);
    fcntl(sock, F_SETFL, flags | O_NONBLOCK);
    int yes = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    SSL* ssl = tls_->NewSsl(sock);
    if (ssl == nullptr) {
      close(sock);
      metrics_->HandshakeError("protocol");
      return true;
    }
    auto c =
        std::make_unique<Connection>(sock, ssl, metrics_->open_connections);
    c->deadline = absl::Now() + options_.handshake_timeout;
    Wait(std::move(c));
    return true;
  }

  // Hands `c` to the waiter (closed when stopping).
  void Wait(ConnectionPtr c) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // `c` closes
    handed_.push_back(std::move(c));
    wakeup_.Wake();
  }

  void Dispatch(ConnectionPtr c) {
    Connection* raw = c.release();
    // The pool runs every queued task, also when stopping: no leak.
    workers_.Submit([this, raw] { Run(ConnectionPtr(raw)); });
  }

  // Closes `c` after a best-effort answer: waits for the bytes still on
  // their way (dropping them) so the client reads the answer rather than a
  // connection reset. Returns the connection to keep in the waiting set, or
  // null when it closed at once.
  ConnectionPtr AnswerAndDrain(ConnectionPtr c, const std::string& answer) {
    if (!answer.empty()) {
      if (c->phase == Connection::Phase::kHandshake) {
        (void)!send(c->fd, answer.data(), answer.size(),
                    MSG_DONTWAIT | MSG_NOSIGNAL);
      } else {
        TlsWriteAll(*c, answer.data(), answer.size(), absl::Now());
      }
    }
    return StartDraining(std::move(c));
  }

  ConnectionPtr StartDraining(ConnectionPtr c) {
    if (c->phase != Connection::Phase::kHandshake) {
      ERR_clear_error();
      SSL_shutdown(c->ssl);  // close_notify, best effort
      ERR_clear_error();
    }
    shutdown(c->fd, SHUT_WR);
    c->phase = Connection::Phase::kDraining;
    c->deadline = absl::Now() + kDrainTime;
    c->buffer.clear();
    c->buffer.shrink_to_fit();
    return c;
  }

  // Drops what arrived; false when the connection is done.
  static bool Drain(Connection& c) {
    char chunk[16384];
    for (;;) {
      const ssize_t n = recv(c.fd, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n == 0) return false;
      if (n < 0) return net::RetryLater(errno);
      c.drained += static_cast<size_t>(n);
      if (c.drained > kMaxDrainBytes) return false;
    }
  }

  // One step of the handshake. Returns the connection to keep waiting, or
  // null when it closed.
  ConnectionPtr Handshake(ConnectionPtr c) {
    if (!c->checked_first_byte) {
      unsigned char first = 0;
      const ssize_t n = recv(c->fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0 && net::RetryLater(errno)) return c;
      if (n <= 0) {
        metrics_->HandshakeError("closed");
        return nullptr;
      }
      c->checked_first_byte = true;
      if (first != kTlsHandshakeRecord) {
        if (absl::ascii_isupper(first)) {  // "POST /validate/pods HTTP/1.1"
          metrics_->HandshakeError("plain_http");
          return AnswerAndDrain(
              std::move(c),
              PlainResponse(400, "Bad Request",
                            "This port serves HTTPS only (TLS 1.2 or 1.3); "
                            "the client sent plain HTTP.\n"));
        }
        metrics_->HandshakeError("not_tls");
        return nullptr;
      }
    }
    ERR_clear_error();
    errno = 0;
    const int r = SSL_accept(c->ssl);
    switch (Classify(c->ssl, r)) {
      case TlsIo::kDone:
        c->want_write = false;
        c->phase = Connection::Phase::kIdle;
        // The API server sends its request right after the handshake.
        c->deadline = absl::Now() + options_.request_timeout;
        return Collect(std::move(c));
      case TlsIo::kWantRead:
        c->want_write = false;
        return c;
      case TlsIo::kWantWrite:
        c->want_write = true;
        return c;
      case TlsIo::kClosed:
        ERR_clear_error();
        metrics_->HandshakeError("closed");
        return nullptr;
      case TlsIo::kFailed:
        ERR_clear_error();
        metrics_->HandshakeError("protocol");
        return nullptr;
    }
    return nullptr;
  }

  // Reads what TLS has for `c`; dispatches a complete request. Returns the
  // connection to keep waiting, or null when it was handed on or closed.
  ConnectionPtr Collect(ConnectionPtr c) {
    char chunk[16384];
    c->want_write = false;
    for (;;) {
      ERR_clear_error();
      errno = 0;
      const int n = SSL_read(c->ssl, chunk, sizeof(chunk));
      const TlsIo io = Classify(c->ssl, n);
      if (io == TlsIo::kWantRead) break;
      if (io == TlsIo::kWantWrite) {
        c->want_write = true;
        break;
      }
      if (io != TlsIo::kDone) {
        ERR_clear_error();
        return nullptr;
      }
      if (c->phase == Connection::Phase::kIdle) {
        c->phase = Connection::Phase::kRequest;
        c->deadline = absl::Now() + options_.request_timeout;
      }
      c->buffer.append(chunk, static_cast<size_t>(n));
      buffered_ += static_cast<size_t>(n);
      if (buffered_ > options_.max_buffered_bytes) {
        metrics_->Reject(503);
        return AnswerAndDrain(
            std::move(c),
            PlainResponse(503, "Service Unavailable",
                          "The webhook is collecting too many requests at "
                          "once; retry.\n"));
      }
    }
    return ReadyOrWait(std::move(c));
  }

  ConnectionPtr ReadyOrWait(ConnectionPtr c) {
    if (c->buffer.empty()) return c;
    c->phase = Connection::Phase::kRequest;
    switch (CollectedRequest(c->buffer, options_.max_body_bytes, c->complete,
                             c->oversized)) {
      case Collected::kIncomplete:
        return c;
      case Collected::kHeadersTooLarge:
        metrics_->Reject(431);
        return AnswerAndDrain(
            std::move(c),
            PlainResponse(431, "Request Header Fields Too Large",
                          absl::StrCat("Request headers over ", kMaxHeaderBytes,
                                       " bytes.\n")));
      case Collected::kReady:
        Dispatch(std::move(c));
        return nullptr;
    }
    return nullptr;
  }

  // What to do when `c`'s deadline passed.
  ConnectionPtr Expire(ConnectionPtr c) {
    switch (c->phase) {
      case Connection::Phase::kHandshake:
        metrics_->HandshakeError("timeout");
        return nullptr;
      case Connection::Phase::kRequest:
        metrics_->Reject(408);
        return AnswerAndDrain(
            std::move(c),
            PlainResponse(
                408, "Request Timeout",
                absl::StrCat("The request did not arrive within ",
                             absl::FormatDuration(options_.request_timeout),
                             ".\n")));
      default:  // idle or drained long enough
        return nullptr;
    }
  }

  ConnectionPtr Progress(ConnectionPtr c) {
    switch (c->phase) {
      case Connection::Phase::kHandshake:
        return Handshake(std::move(c));
      case Connection::Phase::kDraining:
        if (!Drain(*c)) return nullptr;
        return c;
      default:
        return Collect(std::move(c));
    }
  }

  // The waiter: the only thread touching `waiting`.
  void WaitLoop() ABSL_LOCKS_EXCLUDED(mu_) {
    BlockSigpipe();
    std::vector<ConnectionPtr> waiting;
    std::vector<pollfd> fds;
    for (;;) {
      std::vector<ConnectionPtr> arrived;
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        arrived.swap(handed_);
      }
      buffered_ = 0;
      for (const ConnectionPtr& c : waiting) buffered_ += c->buffer.size();
      for (ConnectionPtr& c : arrived) {
        // Back from a worker: TLS may hold bytes poll() cannot see.
        if (c->phase == Connection::Phase::kIdle ||
            c->phase == Connection::Phase::kRequest) {
          buffered_ += c->buffer.size();
          c = Collect(std::move(c));
        }
        if (c != nullptr) waiting.push_back(std::move(c));
      }

      absl::Time next = absl::InfiniteFuture();
      fds.assign(1, pollfd{wakeup_.fd(), POLLIN, 0});
      for (const ConnectionPtr& c : waiting) {
        const short events = c->want_write ? POLLOUT : POLLIN;
        fds.push_back(pollfd{c->fd, events, 0});
        next = std::min(next, c->deadline);
      }
      if (poll(fds.data(), fds.size(), net::PollTimeout(next)) < 0 &&
          errno != EINTR) {
        break;  // cannot happen with valid arguments; Stop cleans up
      }
      if (fds[0].revents != 0) wakeup_.Clear();

      const absl::Time now = absl::Now();
      std::vector<ConnectionPtr> still;
      for (size_t i = 0; i < waiting.size(); ++i) {
        ConnectionPtr c = std::move(waiting[i]);
        if (fds[i + 1].revents != 0) {
          c = Progress(std::move(c));
        }
        if (c != nullptr && now >= c->deadline) c = Expire(std::move(c));
        if (c != nullptr) still.push_back(std::move(c));
      }
      waiting.swap(still);
    }
    waiting.clear();  // closes them
  }

  // On a worker: one request, then the connection waits for its next one
  // or closes.
  void Run(ConnectionPtr c) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    TlsStream stream(c.get(), absl::Now() + options_.request_timeout,
                     options_.write_timeout);
    const bool last = c->served + 1 >= options_.max_requests_per_connection;
    bool closed = false;
    const bool answered =
        process_request(stream, last || c->oversized, closed, nullptr);
    ++c->served;
    if (!answered) return;  // the client is gone or too slow: close
    if (closed || last || c->oversized || stream.read_failed()) {
      Wait(StartDraining(std::move(c)));
      return;
    }
    stream.KeepUnread();
    c->phase = c->buffer.empty() ? Connection::Phase::kIdle
                                 : Connection::Phase::kRequest;
    c->deadline = absl::Now() + (c->buffer.empty() ? options_.idle_timeout
                                                   : options_.request_timeout);
    Wait(std::move(c));
  }

  const ServerOptions options_;
  TlsContext* const tls_;
  const ServerMetrics* const metrics_;
  WorkerPool* const reviews_;  // the handlers' pool, stopped after workers_
  net::Wakeup wakeup_;
  // Bytes collected by waiting connections (the waiter's own count).
  size_t buffered_ = 0;
  absl::Mutex mu_;
  std::vector<ConnectionPtr> handed_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  WorkerPool workers_;
  std::thread waiter_;  // last: starts once the rest is built
};

namespace {

// A handler's answer, handed from the handler thread to the worker.
struct PendingReview {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  Decision decision ABSL_GUARDED_BY(mu);
};

// `call`'s decision, or a HandlerError denial for what it throws.
template <typename Call>
auto Guarded(const std::string& webhook, Call call) -> decltype(call()) {
  try {
    return call();
  } catch (const std::exception& e) {
    return Decision::Deny(
        "HandlerError",
        absl::StrCat("the ", webhook, " webhook failed: ", e.what()), 500);
  } catch (...) {
    return Decision::Deny(
        "HandlerError",
        absl::StrCat("the ", webhook, " webhook failed: unknown exception"),
        500);
  }
}

// The handler's decision, or a denial when it cannot run now or does not
// answer by `deadline`.
Decision Review(const Route& route, WorkerPool& reviews,
                const std::shared_ptr<const k8s::AdmissionReview>& review,
                absl::Time deadline) {
  auto pending = std::make_shared<PendingReview>();
  const bool queued =
      reviews.Submit([pending, review, deadline, handler = route.handler,
                      webhook = route.spec.webhook] {
        Decision decision =
            absl::Now() < deadline
                ? Guarded(webhook,
                          [&] {
                            return handler->Review(*review->request, deadline);
                          })
                : Decision::Deny("HandlerTimeout", "", 504);  // nobody waits
        absl::MutexLock lock(&pending->mu);
        pending->decision = std::move(decision);
        pending->done = true;
      });
  if (!queued) {
    return Decision::Deny(
        "ServerBusy",
        absl::StrCat("the ", route.spec.webhook,
                     " webhook has too many reviews in progress; retry"),
        503);
  }
  absl::MutexLock lock(&pending->mu);
  if (!pending->mu.AwaitWithDeadline(absl::Condition(&pending->done),
                                     deadline)) {
    return Decision::Deny(
        "HandlerTimeout",
        absl::StrCat("the ", route.spec.webhook,
                     " webhook did not decide in time; retry"),
        504);
  }
  return pending->decision;
}

// The handler's MustDecide; true when it throws (the request may be a
// guarded pod's).
bool MustDecide(const Route& route, const k8s::AdmissionRequest& request) {
  try {
    return route.handler->MustDecide(request);
  } catch (...) {
    return true;
  }
}

struct Answer {
  int http_status = 200;
  std::string body;
  bool allowed = false;
  std::string reason;
};

// The whole AdmissionReview exchange of one request on `route`.
Answer Exchange(const Route& route, WorkerPool& reviews,
                absl::Duration handler_timeout, const httplib::Request& req) {
  const absl::Time deadline = absl::Now() + handler_timeout;
  Answer answer;
  const std::string content_type = req.get_header_value("Content-Type");
  if (!absl::StartsWithIgnoreCase(content_type, kJson)) {
    answer.http_status = 415;
    answer.reason = "UnsupportedMediaType";
    answer.body = ErrorReviewJson(absl::InvalidArgumentError(absl::StrCat(
        "Content-Type: expected ", kJson, ", got \"", content_type, "\"")));
    return answer;
  }
  absl::StatusOr<k8s::AdmissionReview> decoded = DecodeReview(req.body);
  if (!decoded.ok()) {
    answer.http_status = 400;
    answer.reason = "BadRequest";
    answer.body = ErrorReviewJson(decoded.status());
    return answer;
  }
  auto review =
      std::make_shared<const k8s::AdmissionReview>(std::move(*decoded));
  const std::string& uid = review->request->uid;
  Decision decision;
  absl::Status fits = CheckRoute(route.spec, *review->request);
  if (!fits.ok()) {
    decision = Decision::Error("WrongObject", fits);
  } else {
    // Decided on this worker when memory alone can; else on a handler
    // thread, with the deadline.
    std::optional<Decision> now =
        Guarded(route.spec.webhook, [&]() -> std::optional<Decision> {
          return route.handler->Decide(*review->request);
        });
    decision = now.has_value() ? std::move(*now)
                               : Review(route, reviews, review, deadline);
  }
  if (decision.reason.empty()) {
    decision.reason = decision.allowed ? "Allowed" : "Denied";
  }
  const bool undecided =
      !decision.allowed &&
      (decision.reason == "HandlerError" ||
       decision.reason == "HandlerTimeout" || decision.reason == "ServerBusy");
  if (undecided && route.undecided_fails_call) {
    if (fits.ok() && MustDecide(route, *review->request)) {
      absl::StrAppend(&decision.message, decision.message.empty() ? "" : "; ",
                      "a pod of a pool that allows one active pod is never "
                      "admitted undecided: its controller retries");
    } else {
      answer.http_status = decision.code;
      answer.reason = decision.reason;
      answer.body = ErrorReviewJson(absl::Status(
          decision.code == 504   ? absl::StatusCode::kDeadlineExceeded
          : decision.code == 503 ? absl::StatusCode::kUnavailable
                                 : absl::StatusCode::kInternal,
          decision.message));
      return answer;
    }
  }
  answer.allowed = decision.allowed;
  answer.reason = decision.reason;
  answer.body = EncodeResponse(uid, decision);
  return answer;
}

absl::Status CheckOptions(const ServerOptions& options) {
  std::set<std::string> paths;
  for (const Route& route : options.routes) {
    if (route.path.empty() || route.path[0] != '/' ||
        route.path.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO"
                                     "PQRSTUVWXYZ0123456789/-_") !=
            std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "route \"", route.path,
          "\": a path starts with / and has only letters, digits, / - _"));
    }
    if (!paths.insert(route.path).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("route \"", route.path, "\" is given twice"));
    }
    if (route.handler == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("route \"", route.path, "\" has no handler"));
    }
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port ", options.port, " is not in 0..65535"));
  }
  return absl::OkStatus();
}

std::string RouteList(const std::vector<Route>& routes) {
  std::vector<std::string> paths;
  paths.reserve(routes.size());
  for (const Route& r : routes) paths.push_back(r.path);
  return absl::StrJoin(paths, ", ");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options) {
  absl::Status valid = CheckOptions(options);
  if (!valid.ok()) return valid;
  absl::StatusOr<CtxPtr> ctx = BuildContext(options.cert_pem, options.key_pem);
  if (!ctx.ok()) return ctx.status();

  std::unique_ptr<runtime::Registry> own_registry;
  if (options.metrics == nullptr) {
    own_registry = std::make_unique<runtime::Registry>();
  }
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics = RegisterMetrics(
      options.metrics != nullptr ? *options.metrics : *own_registry);
  if (!metrics.ok()) return metrics.status();
  auto tls = std::make_unique<TlsContext>(std::move(*ctx));
  auto reviews = std::make_unique<WorkerPool>(
      options.handler_threads,
      static_cast<size_t>(std::max(options.max_queued_reviews, 1)));
  auto loop = std::make_unique<ConnectionLoop>(options, tls.get(),
                                               metrics->get(), reviews.get());
  if (!loop->ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "webhook server: no eventfd (", std::strerror(errno), ")"));
  }

  const ServerMetrics* m = metrics->get();
  WorkerPool* pool = reviews.get();
  const std::string served = RouteList(options.routes);
  for (const Route& route : options.routes) {
    loop->Post(
        route.path, [route, pool, m, timeout = options.handler_timeout](
                        const httplib::Request& req, httplib::Response& res) {
          const absl::Time start = absl::Now();
          Answer answer = Exchange(route, *pool, timeout, req);
          res.status = answer.http_status;
          res.set_content(answer.body, kJson);
          m->requests
              ->WithLabels({route.spec.webhook,
                            answer.allowed ? "true" : "false", answer.reason})
              ->Inc();
          m->latency->WithLabels({route.spec.webhook})
              ->ObserveDuration(absl::Now() - start);
        });
    const httplib::Server::Handler post_only = [m](const httplib::Request&,
                                                   httplib::Response& res) {
      m->Reject(405);
      res.status = 405;
      res.set_header("Allow", "POST");
      res.set_content("405 method not allowed: AdmissionReviews are POSTed\n",
                      kTextPlain);
    };
    loop->Get(route.path, post_only);
    loop->Put(route.path, post_only);
    loop->Patch(route.path, post_only);
    loop->Delete(route.path, post_only);
  }
  // Called for every answer of status 400 or more; the reviews' own have a
  // body (and their count in requests_total) already.
  loop->set_error_handler(httplib::Server::HandlerWithResponse(
      [m, served, max_body = options.max_body_bytes](
          const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        m->Reject(res.status);
        std::string message;
        switch (res.status) {
          case 404:
            message =
                absl::StrCat("404 not found: ", req.path,
                             " (this server answers POST on ", served, ")\n");
            break;
          case 413:
            message = absl::StrCat("413 the request body is over ", max_body,
                                   " bytes\n");
            break;
          default:
            message = absl::StrCat(res.status, " the request was refused\n");
        }
        res.set_content(message, kTextPlain);
        return httplib::Server::HandlerResponse::Handled;
      }));
  loop->set_exception_handler([](const httplib::Request&,
                                 httplib::Response& res,
                                 const std::exception_ptr&) {
    res.status = 500;
    res.set_content("500 internal error\n", kTextPlain);
  });

  const std::string host = options.host.empty() ? "0.0.0.0" : options.host;
  absl::StatusOr<int> port = loop->Listen(host, options.port);
  if (!port.ok()) {
    return absl::UnavailableError(absl::StrFormat(
        "webhook server: cannot listen on %s:%d (%s): is the port in use, or "
        "the host not an address of this machine?",
        host, options.port, port.status().message()));
  }
  loop->StartAccepting();
  return std::unique_ptr<Server>(
      new Server(*port, std::move(own_registry), std::move(*metrics),
                 std::move(tls), std::move(reviews), std::move(loop)));
}

Server::Server(int port, std::unique_ptr<runtime::Registry> own_registry,
               std::unique_ptr<ServerMetrics> metrics,
               std::unique_ptr<TlsContext> tls,
               std::unique_ptr<WorkerPool> reviews,
               std::unique_ptr<ConnectionLoop> loop)
    : port_(port),
      own_registry_(std::move(own_registry)),
      metrics_(std::move(metrics)),
      tls_(std::move(tls)),
      reviews_(std::move(reviews)),
      loop_(std::move(loop)) {}

Server::~Server() { Stop(); }

absl::Status Server::SetCertificate(const std::string& cert_pem,
                                    const std::string& key_pem) {
  return tls_->Set(cert_pem, key_pem);
}

void Server::Stop() { loop_->Stop(); }

}  // namespace zenlead::webhook
