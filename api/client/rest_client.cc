#include "api/client/rest_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <mutex>  // NOLINT(build/c++11): std::call_once for curl_global_init.
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "api/client/errors.h"
#include "api/client/exceptions.h"
#include "api/client/status_macros.h"
#include "api/client/watch_decoder.h"

namespace zenlead::client {
namespace {

// How much of a failed watch response body is kept for the error message.
constexpr size_t kMaxErrorBody = 1 << 20;
// The longest a curl_multi_poll sleeps before re-checking for Stop() or the
// call's cancellation; both also wake it up at once, this only bounds a
// missed wakeup.
constexpr int kPollMillis = 1000;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Dump(const nlohmann::json& obj) {
  // Replacing invalid UTF-8 instead of throwing: bad input must not crash.
  return obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool IsLoopbackServer(absl::string_view server) {
  absl::string_view rest = server;
  if (!absl::ConsumePrefix(&rest, "https://")) {
    absl::ConsumePrefix(&rest, "http://");
  }
  return absl::StartsWith(rest, "127.") || absl::StartsWith(rest, "[::1]") ||
         absl::StartsWith(rest, "localhost:") || rest == "localhost" ||
         absl::StartsWith(rest, "localhost/");
}

std::string ResourceLabel(const Resource& r) {
  return r.group.empty() ? r.resource : absl::StrCat(r.resource, ".", r.group);
}

absl::Status CheckName(absl::string_view what, absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is required"));
  }
  if (absl::StrContains(name, '/') || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", name, "\" is not a valid object name"));
  }
  return absl::OkStatus();
}

absl::Status CheckNamespace(const Resource& r, absl::string_view ns) {
  if (!r.namespaced) return absl::OkStatus();
  if (ns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(r.resource, " are namespaced: a namespace is required"));
  }
  return CheckName("namespace", ns);
}

absl::StatusOr<std::string> ObjectName(const nlohmann::json& obj) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError("the object must be a JSON object");
  }
  auto metadata = obj.find("metadata");
  if (metadata != obj.end() && metadata->is_object()) {
    auto name = metadata->find("name");
    if (name != metadata->end() && name->is_string()) {
      return name->get<std::string>();
    }
  }
  return absl::InvalidArgumentError("metadata.name is required");
}

const char* PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

const char* PropagationName(PropagationPolicy policy) {
  switch (policy) {
    case PropagationPolicy::kForeground:
      return "Foreground";
    case PropagationPolicy::kBackground:
      return "Background";
    case PropagationPolicy::kOrphan:
      return "Orphan";
    case PropagationPolicy::kDefault:
      break;
  }
  return "";
}

// Maps a curl failure to a Status; sets *sent to whether the request may
// have reached the server.
absl::Status CurlError(CURLcode code, const char* detail, bool* sent) {
  std::string text = absl::StrCat(curl_easy_strerror(code));
  if (detail != nullptr && detail[0] != '\0')
    absl::StrAppend(&text, ": ", detail);
  *sent = true;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
      *sent = false;
      return ConnectionError(text);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
      // Configuration problems: retrying will not help.
      *sent = false;
      return absl::FailedPreconditionError(absl::StrCat(
          "TLS setup with the API server failed (check the CA and client "
          "certificate): ",
          text));
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(
          absl::StrCat("request timed out: ", text));
    default:
      return ConnectionError(text);
  }
}

}  // namespace

// A curl multi handle with one easy handle: the multi owns the connection
// cache (so connections survive between requests) and can be woken up from
// another thread (Stop(), a call's cancellation).
struct RestClient::Connection {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;

  Connection() : multi(curl_multi_init()), easy(curl_easy_init()) {}
  ~Connection() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
};

struct RestClient::Request {
  const char* method = "GET";
  const char* verb = "get";
  std::string resource_label;
  std::string path;   // Without the query.
  std::string query;  // "" or "?...".
  const char* content_type = nullptr;
  std::optional<std::string> body;
  bool idempotent = true;
  absl::Duration timeout;
  // Watch only: where events go.
  const WatchHandler* handler = nullptr;
  // The caller's token (ListOptions/WatchOptions::cancel), kept alive for
  // the call; nullptr: only Stop() cancels.
  std::shared_ptr<Cancellation> cancel;
};

// The state of one attempt, shared with curl's callbacks.
struct RestClient::Transfer {
  RestClient* client = nullptr;
  CURL* easy = nullptr;
  const WatchHandler* handler = nullptr;
  const Cancellation* cancel = nullptr;
  std::string body;
  std::string retry_after;
  int http_code = 0;
  const char* protocol = "";
  absl::Status status;  // The attempt's transport/stream outcome.
  // Something a callback ran (the watch handler, above all) threw; the
  // transfer was aborted with this error and is not retried.
  absl::Status callback_error;
  bool request_sent = true;
  bool cancelled = false;
  // Watch only.
  bool streaming = false;
  bool handler_stopped = false;
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  absl::Status stream_error;

  // libcurl calls these from C: an exception must never unwind through it
  // (std::terminate at best). Each catches everything and aborts the
  // transfer with the error instead (returning a short count).
  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    try {
      return t->Header(absl::string_view(data, size * n));
    } catch (...) {
      t->callback_error =
          StatusFromCurrentException("reading the HTTP response headers");
      return 0;
    }
  }

  static size_t OnWrite(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    try {
      return t->Write(data, size * n);
    } catch (...) {
      t->callback_error = StatusFromCurrentException(
          t->handler != nullptr ? "the watch event handler"
                                : "reading the HTTP response body");
      return 0;
    }
  }

  size_t Header(absl::string_view line) {
    const size_t len = line.size();
    if (absl::StartsWith(line, "HTTP/")) {
      retry_after.clear();  // A new response (after 100 Continue).
    } else if (absl::StartsWithIgnoreCase(line, "retry-after:")) {
      line.remove_prefix(sizeof("retry-after:") - 1);
      retry_after = std::string(absl::StripAsciiWhitespace(line));
    }
    return len;
  }

  size_t Write(const char* data, size_t len) {
    if (client->Cancelled(cancel)) {
      cancelled = true;
      return 0;  // Aborts the transfer.
    }
    if (handler != nullptr) {
      long code = 0;  // NOLINT(google-runtime-int): curl's type.
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
      if (code == 200) return OnStreamData(absl::string_view(data, len));
      if (body.size() + len > kMaxErrorBody) return len;  // Keep the head.
    }
    body.append(data, len);
    return len;
  }

  size_t OnStreamData(absl::string_view bytes) {
    streaming = true;
    events.clear();
    absl::Status decoded = decoder.Feed(bytes, &events);
    for (const WatchEvent& event : events) {
      if (event.type == WatchEvent::Type::kError) {
        stream_error = StatusFromKubernetesStatus(event.object);
        return 0;
      }
      if (!(*handler)(event)) {
        handler_stopped = true;
        return 0;
      }
      if (client->Cancelled(cancel)) {
        cancelled = true;
        return 0;
      }
    }
    if (!decoded.ok()) {
      stream_error = decoded;
      return 0;
    }
    return bytes.size();
  }
};

absl::StatusOr<std::unique_ptr<RestClient>> RestClient::Create(
    const Config& config, RestClientOptions options) {
  if (!absl::StartsWith(config.server, "https://") &&
      !absl::StartsWith(config.server, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.server \"", config.server,
                     "\" must start with https:// or http://"));
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "config: a client certificate needs its key and vice versa");
  }
  GlobalInit();
  curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  if (absl::StartsWith(config.server, "https://") &&
      (info->features & CURL_VERSION_SSL) == 0) {
    return absl::FailedPreconditionError("libcurl was built without TLS");
  }
  return std::unique_ptr<RestClient>(
      new RestClient(config, std::move(options)));
}

RestClient::RestClient(const Config& config, RestClientOptions options)
    : config_(config),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()),
      user_agent_header_(absl::StrCat("User-Agent: ", options_.user_agent)),
      proxy_bypass_(IsLoopbackServer(config.server)),
      rate_limiter_(config.qps, config.burst, clock_),
      tokens_(config, clock_) {}

RestClient::~RestClient() { Stop(); }

// Wakes the poll of every call in flight (each registered with stop_).
void RestClient::Stop() { stop_.Cancel(); }

absl::Status RestClient::CancelledStatus() const {
  // Which one matters: after Stop() the client is of no more use, whereas a
  // cancelled call says nothing about the client.
  return absl::CancelledError(stopped() ? "the client was stopped"
                                        : "the call was cancelled");
}

bool RestClient::SleepUnlessCancelled(absl::Duration d, Cancellation* cancel) {
  if (d <= absl::ZeroDuration()) return !Cancelled(cancel);
  absl::Mutex mu;
  bool woken = false;
  auto wake = [&mu, &woken] {
    absl::MutexLock lock(&mu);
    woken = true;
  };
  ScopedCancelCallback on_stop(&stop_, wake);
  ScopedCancelCallback on_cancel(cancel, wake);
  // Released before the callbacks are removed: Cancel() may be running one,
  // which takes mu.
  absl::MutexLock lock(&mu);
  mu.AwaitWithTimeout(absl::Condition(&woken), d);
  return !woken;
}

RestClient::Connection* RestClient::AcquireConnection() {
  absl::MutexLock lock(&pool_mu_);
  if (!idle_.empty()) {
    Connection* conn = idle_.back();  // Most recently used: likely alive.
    idle_.pop_back();
    return conn;
  }
  auto conn = std::make_unique<Connection>();
  if (conn->multi == nullptr || conn->easy == nullptr) return nullptr;
  connections_.push_back(std::move(conn));
  return connections_.back().get();
}

void RestClient::ReleaseConnection(Connection* conn) {
  absl::MutexLock lock(&pool_mu_);
  if (idle_.size() < options_.max_idle_connections) {
    idle_.push_back(conn);
    return;
  }
  auto it = std::find_if(
      connections_.begin(), connections_.end(),
      [conn](const std::unique_ptr<Connection>& c) { return c.get() == conn; });
  if (it != connections_.end()) connections_.erase(it);
}

void RestClient::Perform(Request& req, const std::string& token,
                         Transfer& transfer) {
  Connection* conn = AcquireConnection();
  if (conn == nullptr) {
    transfer.status =
        absl::ResourceExhaustedError("curl handle allocation failed");
    transfer.request_sent = false;
    return;
  }
  CURL* easy = conn->easy;
  // Forgets the options of the last request; the connection cache lives in
  // the multi handle and is kept.
  curl_easy_reset(easy);
  transfer.client = this;
  transfer.easy = easy;
  transfer.handler = req.handler;
  transfer.cancel = req.cancel.get();

  const std::string url = absl::StrCat(config_.server, req.path, req.query);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                   options_.http_version == HttpVersion::kHttp2
                       ? CURL_HTTP_VERSION_2TLS
                       : CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(  // NOLINT
                       config_.connect_timeout)));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(  // NOLINT(google-runtime-int)
                       absl::ToInt64Milliseconds(req.timeout)));
  if (proxy_bypass_) curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  if (req.handler == nullptr) {
    // Compressed lists are much smaller; watches are never compressed.
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  }

  // TLS from memory. curl copies the blobs.
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!config_.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(config_.ca_pem.data()),
                 config_.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca);
    // Trust only this CA, not also the system bundle.
    curl_easy_setopt(easy, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
  }
  if (!config_.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(config_.client_cert_pem.data()),
                   config_.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(config_.client_key_pem.data()),
                  config_.client_key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key);
  }

  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, user_agent_header_.c_str());
  headers = curl_slist_append(headers, "Expect:");  // No 100-continue wait.
  if (req.content_type != nullptr) {
    headers = curl_slist_append(
        headers, absl::StrCat("Content-Type: ", req.content_type).c_str());
  }
  if (!token.empty()) {
    headers = curl_slist_append(
        headers, absl::StrCat("Authorization: Bearer ", token).c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);

  if (req.body.has_value()) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(req.body->size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body->data());
  }
  if (absl::string_view(req.method) == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (absl::string_view(req.method) != "POST" || !req.body) {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req.method);
  }
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::OnWrite);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);

  // Drive the transfer through the multi handle so that Stop() and the
  // call's cancellation can wake the poll; a watch on a quiet resource would
  // otherwise sit in recv(). curl_multi_wakeup is the one multi call that is
  // safe from another thread; the callbacks are removed (and so never run
  // again) before the connection is released.
  CURLcode result = CURLE_OK;
  bool finished = false;
  CURLMcode mc = CURLM_OK;
  {
    CURLM* const multi = conn->multi;
    auto wake = [multi] { curl_multi_wakeup(multi); };
    ScopedCancelCallback on_stop(&stop_, wake);
    ScopedCancelCallback on_cancel(req.cancel.get(), wake);
    mc = curl_multi_add_handle(multi, easy);
    while (mc == CURLM_OK) {
      int running = 0;
      mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) break;
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
        if (msg->msg == CURLMSG_DONE) {
          result = msg->data.result;
          finished = true;
        }
      }
      if (finished || running == 0) break;
      if (Cancelled(req.cancel.get())) {
        transfer.cancelled = true;
        break;
      }
      mc = curl_multi_poll(multi, nullptr, 0, kPollMillis, nullptr);
    }
    curl_multi_remove_handle(multi, easy);
  }  // No wake-up reaches the connection from here on.

  long code = 0;  // NOLINT(google-runtime-int): curl's type.
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  transfer.http_code = static_cast<int>(code);
  long version = 0;  // NOLINT(google-runtime-int)
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  transfer.protocol = version == CURL_HTTP_VERSION_2_0   ? "HTTP/2"
                      : version == CURL_HTTP_VERSION_1_1 ? "HTTP/1.1"
                      : version == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0"
                                                         : "";
  long connects = 0;  // NOLINT(google-runtime-int)
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
  connections_opened_.fetch_add(connects);
  // Nothing may point into this stack frame once it is gone.
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(headers);

  if (transfer.cancelled ||
      (Cancelled(req.cancel.get()) && result != CURLE_OK)) {
    transfer.cancelled = true;
    transfer.status = CancelledStatus();
  } else if (!transfer.callback_error.ok()) {
    transfer.status = transfer.callback_error;
  } else if (mc != CURLM_OK) {
    transfer.status = absl::InternalError(
        absl::StrCat("curl multi: ", curl_multi_strerror(mc)));
  } else if (!transfer.stream_error.ok()) {
    transfer.status = transfer.stream_error;
  } else if (transfer.handler_stopped) {
    transfer.status = absl::OkStatus();
  } else if (result != CURLE_OK) {
    transfer.status = CurlError(result, error_buffer, &transfer.request_sent);
    if (transfer.http_code != 0) transfer.request_sent = true;
  } else if (transfer.streaming) {
    transfer.status = transfer.decoder.Finish();
  }
  ReleaseConnection(conn);
}

absl::StatusOr<RestClient::Response> RestClient::Execute(Request& req) {
  const std::string context = absl::StrCat(req.method, " ", req.path);
  bool reauthenticated = false;
  Cancellation* const cancel = req.cancel.get();
  for (int attempt = 1;; ++attempt) {
    if (Cancelled(cancel)) {
      return WithContext(CancelledStatus(), context);
    }
    if (!SleepUnlessCancelled(rate_limiter_.Reserve(), cancel)) continue;
    absl::StatusOr<std::string> token = tokens_.Token();
    if (!token.ok()) return WithContext(token.status(), context);

    Transfer transfer;
    const absl::Time start = absl::Now();
    Perform(req, *token, transfer);
    const absl::Duration latency = absl::Now() - start;

    absl::Status status = transfer.status;
    if (status.ok() && !transfer.streaming && !transfer.handler_stopped) {
      status = StatusFromResponse(transfer.http_code, transfer.body);
    }
    if (options_.observer) {
      RequestRecord record;
      record.verb = req.verb;
      record.method = req.method;
      record.resource = req.resource_label;
      record.http_code = transfer.http_code;
      record.protocol = transfer.protocol;
      record.code = status.code();
      record.latency = latency;
      record.attempt = attempt;
      options_.observer(record);
    }
    if (status.ok()) {
      return Response{transfer.http_code, std::move(transfer.body)};
    }
    if (transfer.cancelled || transfer.streaming ||
        !transfer.callback_error.ok()) {
      // A watch that got going is not retried: the caller re-watches from
      // the last version it saw. Nor is what a callback threw on.
      return WithContext(status, context);
    }
    if (transfer.http_code == 401 && !config_.token_file.empty() &&
        !reauthenticated) {
      // The token may have rotated since it was cached.
      reauthenticated = true;
      tokens_.Invalidate();
      continue;
    }
    AttemptOutcome outcome;
    outcome.http_code = transfer.http_code;
    outcome.request_sent = transfer.request_sent;
    outcome.retry_after = transfer.retry_after;
    if (status.code() == absl::StatusCode::kFailedPrecondition &&
        transfer.http_code == 0) {
      return WithContext(status, context);  // TLS configuration: final.
    }
    // A cheap, thread-safe jitter source (splitmix64 step).
    uint64_t z = jitter_seed_.fetch_add(0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const double jitter = static_cast<double>(z >> 11) / 9007199254740992.0;
    std::optional<absl::Duration> wait =
        RetryDelay(options_.retry, attempt, outcome, req.idempotent, jitter);
    if (!wait.has_value()) return WithContext(status, context);
    if (!SleepUnlessCancelled(*wait, cancel)) {
      return WithContext(CancelledStatus(), context);
    }
  }
}

absl::StatusOr<nlohmann::json> RestClient::ExecuteJson(Request& req) {
  ASSIGN_OR_RETURN(Response response, Execute(req));
  if (response.body.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr,
                                                /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InternalError(absl::StrCat(
        req.method, " ", req.path, ": the API server answered HTTP ",
        response.http_code,
        " with a body that is not JSON: ", response.body.substr(0, 200)));
  }
  return parsed;
}

absl::StatusOr<nlohmann::json> RestClient::Get(const Resource& r,
                                               absl::string_view ns,
                                               absl::string_view name) {
  RETURN_IF_ERROR(CheckNamespace(r, ns));
  RETURN_IF_ERROR(CheckName("name", name));
  Request req;
  req.verb = "get";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns, name);
  req.timeout = config_.request_timeout;
  return ExecuteJson(req);
}

absl::StatusOr<nlohmann::json> RestClient::GetPath(absl::string_view path) {
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("path \"", path, "\" must start with /"));
  }
  Request req;
  req.verb = "get";
  req.resource_label = std::string(path);
  req.path = std::string(path);
  req.timeout = config_.request_timeout;
  return ExecuteJson(req);
}

absl::StatusOr<nlohmann::json> RestClient::List(const Resource& r,
                                                absl::string_view ns,
                                                const ListOptions& options) {
  if (!ns.empty()) RETURN_IF_ERROR(CheckName("namespace", ns));
  Request req;
  req.verb = "list";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns);
  req.query = QueryString({
      {"labelSelector", options.label_selector},
      {"fieldSelector", options.field_selector},
      {"limit", options.limit > 0 ? absl::StrCat(options.limit) : ""},
      {"continue", options.continue_token},
      {"resourceVersion", options.resource_version},
  });
  req.timeout = config_.request_timeout;
  req.cancel = options.cancel;
  return ExecuteJson(req);
}

absl::StatusOr<nlohmann::json> RestClient::Create(const Resource& r,
                                                  absl::string_view ns,
                                                  const nlohmann::json& obj) {
  RETURN_IF_ERROR(CheckNamespace(r, ns));
  if (!obj.is_object()) {
    return absl::InvalidArgumentError("the object must be a JSON object");
  }
  Request req;
  req.method = "POST";
  req.verb = "create";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns);
  req.query = QueryString({{"fieldManager", options_.field_manager}});
  req.content_type = "application/json";
  req.body = Dump(obj);
  req.idempotent = false;
  req.timeout = config_.request_timeout;
  return ExecuteJson(req);
}

absl::StatusOr<nlohmann::json> RestClient::Update(const Resource& r,
                                                  absl::string_view ns,
                                                  const nlohmann::json& obj) {
  RETURN_IF_ERROR(CheckNamespace(r, ns));
  ASSIGN_OR_RETURN(std::string name, ObjectName(obj));
  RETURN_IF_ERROR(CheckName("metadata.name", name));
  Request req;
  req.method = "PUT";
  req.verb = "update";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns, name);
  req.query = QueryString({{"fieldManager", options_.field_manager}});
  req.content_type = "application/json";
  req.body = Dump(obj);
  req.timeout = config_.request_timeout;
  return ExecuteJson(req);
}

absl::StatusOr<nlohmann::json> RestClient::UpdateStatus(
    const Resource& r, absl::string_view ns, const nlohmann::json& obj) {
  RETURN_IF_ERROR(CheckNamespace(r, ns));
  ASSIGN_OR_RETURN(std::string name, ObjectName(obj));
  RETURN_IF_ERROR(CheckName("metadata.name", name));
  Request req;
  req.method = "PUT";
  req.verb = "update";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns, name, "status");
  req.query = QueryString({{"fieldManager", options_.field_manager}});
  req.content_type = "application/json";
  req.body = Dump(obj);
  req.timeout = config_.request_timeout;
  return ExecuteJson(req);
}

absl::Status RestClient::Delete(const Resource& r, absl::string_view ns,
                                absl::string_view name,
                                const DeleteOptions& options) {
  RETURN_IF_ERROR(CheckNamespace(r, ns));
  RETURN_IF_ERROR(CheckName("name", name));
  nlohmann::json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (options.propagation != PropagationPolicy::kDefault) {
    body["propagationPolicy"] = PropagationName(options.propagation);
  }
  if (options.uid.has_value()) body["preconditions"]["uid"] = *options.uid;
  if (options.resource_version.has_value()) {
    body["preconditions"]["resourceVersion"] = *options.resource_version;
  }
  if (options.grace_period_seconds.has_value()) {
    body["gracePeriodSeconds"] = *options.grace_period_seconds;
  }
  Request req;
  req.method = "DELETE";
  req.verb = "delete";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns, name);
  req.content_type = "application/json";
  req.body = Dump(body);
  req.timeout = config_.request_timeout;
  return Execute(req).status();
}

absl::StatusOr<nlohmann::json> RestClient::Patch(
    const Resource& r, absl::string_view ns, absl::string_view name,
    PatchType type, const nlohmann::json& patch,
    absl::string_view subresource) {
  RETURN_IF_ERROR(CheckNamespace(r, ns));
  RETURN_IF_ERROR(CheckName("name", name));
  Request req;
  req.method = "PATCH";
  req.verb = "patch";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns, name, subresource);
  req.query = QueryString({{"fieldManager", options_.field_manager}});
  req.content_type = PatchContentType(type);
  req.body = Dump(patch);
  // A JSON patch may append to lists or test-and-set: repeating it after an
  // unknown outcome is not safe. Merge patches converge.
  req.idempotent = type != PatchType::kJson;
  req.timeout = config_.request_timeout;
  return ExecuteJson(req);
}

absl::StatusOr<nlohmann::json> RestClient::Apply(
    const Resource& r, absl::string_view ns, absl::string_view name,
    const nlohmann::json& obj, const ApplyOptions& options,
    absl::string_view subresource) {
  RETURN_IF_ERROR(CheckNamespace(r, ns));
  RETURN_IF_ERROR(CheckName("name", name));
  if (options.field_manager.empty()) {
    return absl::InvalidArgumentError(
        "server-side apply needs a field manager (ApplyOptions.field_manager)");
  }
  if (!obj.is_object()) {
    return absl::InvalidArgumentError("the object must be a JSON object");
  }
  Request req;
  req.method = "PATCH";
  req.verb = "apply";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns, name, subresource);
  req.query = QueryString({{"fieldManager", options.field_manager},
                           {"force", options.force ? "true" : ""}});
  // JSON is YAML: the apply content type takes it as is.
  req.content_type = "application/apply-patch+yaml";
  req.body = Dump(obj);
  req.timeout = config_.request_timeout;
  return ExecuteJson(req);
}

absl::Status RestClient::Watch(const Resource& r, absl::string_view ns,
                               const WatchOptions& options,
                               const WatchHandler& handler) {
  if (!ns.empty()) RETURN_IF_ERROR(CheckName("namespace", ns));
  if (!handler) return absl::InvalidArgumentError("watch handler is empty");
  int64_t timeout_seconds = std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(options.timeout, absl::Seconds(1))));
  Request req;
  req.verb = "watch";
  req.resource_label = ResourceLabel(r);
  req.path = ResourcePath(r, ns);
  req.query = QueryString({
      {"watch", "true"},
      {"labelSelector", options.label_selector},
      {"fieldSelector", options.field_selector},
      {"resourceVersion", options.resource_version},
      {"allowWatchBookmarks",
       options.allow_bookmarks || options.send_initial_events ? "true" : ""},
      {"sendInitialEvents", options.send_initial_events ? "true" : ""},
      {"resourceVersionMatch",
       options.send_initial_events ? "NotOlderThan" : ""},
      {"timeoutSeconds", absl::StrCat(timeout_seconds)},
  });
  // The server ends the watch after timeoutSeconds; the client-side limit
  // only catches a server that went silent.
  req.timeout = absl::Seconds(timeout_seconds) + config_.request_timeout;
  req.handler = &handler;
  req.cancel = options.cancel;
  return Execute(req).status();
}

std::string PercentEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string QueryString(
    const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    absl::StrAppend(&out, out.empty() ? "?" : "&", PercentEncode(key), "=",
                    PercentEncode(value));
  }
  return out;
}

std::string ResourcePath(const Resource& r, absl::string_view ns,
                         absl::string_view name,
                         absl::string_view subresource) {
  std::string path = r.group.empty()
                         ? absl::StrCat("/api/", r.version)
                         : absl::StrCat("/apis/", r.group, "/", r.version);
  if (r.namespaced && !ns.empty()) {
    absl::StrAppend(&path, "/namespaces/", PercentEncode(ns));
  }
  absl::StrAppend(&path, "/", r.resource);
  if (!name.empty()) {
    absl::StrAppend(&path, "/", PercentEncode(name));
    if (!subresource.empty()) absl::StrAppend(&path, "/", subresource);
  }
  return path;
}

}  // namespace zenlead::client
