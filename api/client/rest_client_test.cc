// Unit tests of the REST transport: the watch stream decoder, the token
// bucket, the retry policy, URL building, and RestClient's HTTP behaviour
// (retries, connection reuse, streaming, Stop, token rotation, request
// shapes) against a scripted HTTP/1.1 peer on 127.0.0.1:0. The peer answers
// what each test scripts; it knows nothing of Kubernetes semantics, which are
// tested against a real API server in rest_client_e2e_test.cc.
#include "api/client/rest_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "api/client/errors.h"
#include "api/client/exceptions.h"
#include "api/client/rate_limiter.h"
#include "api/client/retry.h"
#include "api/client/testing/fake_client.h"
#include "api/client/testing/loopback.h"
#include "api/client/watch_decoder.h"
#include "gtest/gtest.h"

namespace zenlead::client {
namespace {

// ---------------------------------------------------------------- decoder

std::string EventLine(const std::string& type, const std::string& name,
                      const std::string& rv) {
  nlohmann::json event = {
      {"type", type},
      {"object",
       {{"kind", "ConfigMap"},
        {"metadata", {{"name", name}, {"resourceVersion", rv}}}}}};
  return event.dump() + "\n";
}

std::string Name(const WatchEvent& e) {
  return e.object["metadata"]["name"].get<std::string>();
}

TEST(WatchDecoderTest, DecodesCompleteEvents) {
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  std::string stream =
      EventLine("ADDED", "a", "1") + EventLine("MODIFIED", "a", "2") +
      EventLine("DELETED", "a", "3") + EventLine("BOOKMARK", "", "4");
  ASSERT_TRUE(decoder.Feed(stream, &events).ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(events[1].type, WatchEvent::Type::kModified);
  EXPECT_EQ(events[2].type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(events[3].type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(events[1].object["metadata"]["resourceVersion"], "2");
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_TRUE(decoder.Finish().ok());
}

TEST(WatchDecoderTest, SplitAtEveryByteGivesTheSameEvents) {
  std::string stream =
      EventLine("ADDED", "first", "10") + EventLine("MODIFIED", "second", "11");
  for (size_t split = 0; split <= stream.size(); ++split) {
    WatchDecoder decoder;
    std::vector<WatchEvent> events;
    ASSERT_TRUE(decoder.Feed(stream.substr(0, split), &events).ok());
    ASSERT_TRUE(decoder.Feed(stream.substr(split), &events).ok());
    ASSERT_EQ(events.size(), 2u) << "split at " << split;
    EXPECT_EQ(Name(events[0]), "first");
    EXPECT_EQ(Name(events[1]), "second");
    EXPECT_TRUE(decoder.Finish().ok());
  }
}

TEST(WatchDecoderTest, ByteByByteBuffersOnlyThePartialLine) {
  std::string line = EventLine("ADDED", "x", "1");
  std::string stream = line + line + line;
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  size_t max_buffered = 0;
  for (char c : stream) {
    ASSERT_TRUE(decoder.Feed(absl::string_view(&c, 1), &events).ok());
    max_buffered = std::max(max_buffered, decoder.buffered_bytes());
  }
  EXPECT_EQ(events.size(), 3u);
  EXPECT_LT(max_buffered, line.size());  // Never more than one event.
  EXPECT_EQ(decoder.events_decoded(), 3);
}

TEST(WatchDecoderTest, ToleratesBlankLinesAndCrLf) {
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  std::string line = EventLine("ADDED", "x", "1");
  line.insert(line.size() - 1, "\r");
  ASSERT_TRUE(decoder.Feed("\n\n" + line + "\r\n", &events).ok());
  EXPECT_EQ(events.size(), 1u);
}

TEST(WatchDecoderTest, PartialEventAtEndIsAnError) {
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  std::string line = EventLine("ADDED", "x", "1");
  ASSERT_TRUE(decoder.Feed(line + line.substr(0, 20), &events).ok());
  EXPECT_EQ(events.size(), 1u);
  absl::Status finish = decoder.Finish();
  EXPECT_EQ(finish.code(), absl::StatusCode::kInternal);
  EXPECT_NE(finish.message().find("middle of an event"),
            absl::string_view::npos);
}

TEST(WatchDecoderTest, MalformedJsonIsAnErrorAndSticks) {
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  absl::Status status = decoder.Feed(EventLine("ADDED", "ok", "1") +
                                         "{\"type\":\"ADDED\",\"object\":{\n" +
                                         EventLine("ADDED", "later", "2"),
                                     &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("malformed JSON"), absl::string_view::npos);
  ASSERT_EQ(events.size(), 1u);  // The good event before the bad one.
  EXPECT_EQ(Name(events[0]), "ok");
  EXPECT_FALSE(decoder.Feed(EventLine("ADDED", "x", "3"), &events).ok());
  EXPECT_EQ(events.size(), 1u);
  EXPECT_FALSE(decoder.Finish().ok());
}

TEST(WatchDecoderTest, StructuralErrors) {
  for (const char* line : {
           "[1,2,3]",
           R"({"object":{}})",
           R"({"type":"RENAMED","object":{}})",
           R"({"type":"ADDED"})",
           R"({"type":"ADDED","object":"text"})",
           R"({"type":7,"object":{}})",
       }) {
    absl::StatusOr<WatchEvent> event = WatchDecoder::DecodeEvent(line);
    EXPECT_EQ(event.status().code(), absl::StatusCode::kInternal) << line;
  }
}

TEST(WatchDecoderTest, ErrorEventCarriesA410Status) {
  nlohmann::json status = {
      {"kind", "Status"},    {"apiVersion", "v1"},
      {"status", "Failure"}, {"message", "too old resource version: 5 (900)"},
      {"reason", "Expired"}, {"code", 410}};
  std::string line =
      nlohmann::json({{"type", "ERROR"}, {"object", status}}).dump() + "\n";
  WatchDecoder decoder;
  std::vector<WatchEvent> events;
  ASSERT_TRUE(decoder.Feed(line, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kError);
  EXPECT_TRUE(IsGone(StatusFromKubernetesStatus(events[0].object)));
}

TEST(WatchDecoderTest, OversizedEventIsRejectedWithoutGrowingUnbounded) {
  WatchDecoder decoder(/*max_event_bytes=*/1000);
  std::vector<WatchEvent> events;
  std::string junk(600, 'x');
  ASSERT_TRUE(decoder.Feed(junk, &events).ok());
  absl::Status status = decoder.Feed(junk, &events);
  EXPECT_FALSE(status.ok());
  EXPECT_LE(decoder.buffered_bytes(), 1000u);
}

TEST(WatchDecoderTest, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  std::string alphabet = "{}[]\":,\n ADEOTYPbjcet0123456789\\";
  for (int round = 0; round < 300; ++round) {
    WatchDecoder decoder(/*max_event_bytes=*/4096);
    std::vector<WatchEvent> events;
    for (int chunk = 0; chunk < 10; ++chunk) {
      std::string bytes;
      int n = static_cast<int>(rng() % 64);
      for (int i = 0; i < n; ++i) {
        bytes.push_back(rng() % 4 == 0 ? static_cast<char>(rng() % 256)
                                       : alphabet[rng() % alphabet.size()]);
      }
      if (!decoder.Feed(bytes, &events).ok()) break;
    }
    (void)decoder.Finish();
  }
}

// ------------------------------------------------------------ token bucket

TEST(TokenBucketTest, BurstThenSteadyRate) {
  FakeClock clock;
  TokenBucket bucket(/*qps=*/2, /*burst=*/3, &clock);
  EXPECT_EQ(bucket.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(bucket.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(bucket.Reserve(), absl::ZeroDuration());
  // Empty: reservations queue at 1/qps apart.
  EXPECT_EQ(bucket.Reserve(), absl::Milliseconds(500));
  EXPECT_EQ(bucket.Reserve(), absl::Seconds(1));
  // One second later two tokens came back, both already promised.
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(bucket.Reserve(), absl::Milliseconds(500));
  clock.Advance(absl::Seconds(1));
  // +2 tokens: -1 -> +1 (one free now).
  EXPECT_EQ(bucket.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(bucket.Reserve(), absl::Milliseconds(500));
}

TEST(TokenBucketTest, RefillIsCappedAtBurst) {
  FakeClock clock;
  TokenBucket bucket(/*qps=*/10, /*burst=*/2, &clock);
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(bucket.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(bucket.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(bucket.Reserve(), absl::Milliseconds(100));
}

TEST(TokenBucketTest, ZeroQpsIsUnlimited) {
  FakeClock clock;
  TokenBucket bucket(/*qps=*/0, /*burst=*/1, &clock);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(bucket.Reserve(), absl::ZeroDuration());
  }
}

// ------------------------------------------------------------ retry policy

TEST(RetryDelayTest, ThrottlingRetriesEvenPostAndHonoursRetryAfter) {
  RetryPolicy policy;
  AttemptOutcome outcome;
  outcome.http_code = 429;
  outcome.retry_after = "2";
  EXPECT_EQ(RetryDelay(policy, 1, outcome, /*idempotent=*/false, 0.5),
            absl::Seconds(2));
  outcome.retry_after = "3600";
  EXPECT_EQ(RetryDelay(policy, 1, outcome, false, 0.5), policy.max_retry_after);
}

TEST(RetryDelayTest, ServerErrorsRetryOnlyIdempotentRequests) {
  RetryPolicy policy;
  for (int code : {500, 502, 503, 504}) {
    AttemptOutcome outcome;
    outcome.http_code = code;
    EXPECT_FALSE(RetryDelay(policy, 1, outcome, /*idempotent=*/false, 0.5))
        << code;
    EXPECT_TRUE(RetryDelay(policy, 1, outcome, /*idempotent=*/true, 0.5))
        << code;
  }
  AttemptOutcome with_after;
  with_after.http_code = 503;
  with_after.retry_after = "1";
  EXPECT_EQ(RetryDelay(policy, 1, with_after, true, 0.5), absl::Seconds(1));
}

TEST(RetryDelayTest, ClientErrorsNeverRetry) {
  RetryPolicy policy;
  for (int code : {400, 401, 403, 404, 409, 410, 422, 501}) {
    AttemptOutcome outcome;
    outcome.http_code = code;
    outcome.retry_after = "1";
    EXPECT_FALSE(RetryDelay(policy, 1, outcome, true, 0.5)) << code;
  }
}

TEST(RetryDelayTest, ConnectionErrors) {
  RetryPolicy policy;
  AttemptOutcome refused;
  refused.request_sent = false;
  EXPECT_TRUE(RetryDelay(policy, 1, refused, /*idempotent=*/false, 0.5));
  AttemptOutcome reset;  // request_sent defaults to true.
  EXPECT_FALSE(RetryDelay(policy, 1, reset, /*idempotent=*/false, 0.5));
  EXPECT_TRUE(RetryDelay(policy, 1, reset, /*idempotent=*/true, 0.5));
}

TEST(RetryDelayTest, ExponentialBackoffWithJitterAndBounds) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(100);
  policy.max_backoff = absl::Seconds(1);
  policy.max_retries = 6;
  AttemptOutcome outcome;
  outcome.http_code = 503;
  EXPECT_EQ(RetryDelay(policy, 1, outcome, true, 0.5), absl::Milliseconds(100));
  EXPECT_EQ(RetryDelay(policy, 2, outcome, true, 0.5), absl::Milliseconds(200));
  EXPECT_EQ(RetryDelay(policy, 3, outcome, true, 0.5), absl::Milliseconds(400));
  EXPECT_EQ(RetryDelay(policy, 3, outcome, true, 0.0), absl::Milliseconds(320));
  EXPECT_EQ(RetryDelay(policy, 3, outcome, true, 1.0), absl::Milliseconds(480));
  EXPECT_EQ(RetryDelay(policy, 6, outcome, true, 1.0), absl::Seconds(1));
  EXPECT_FALSE(RetryDelay(policy, 7, outcome, true, 0.5));  // Out of retries.
  // Unparseable Retry-After falls back to backoff.
  outcome.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT";
  EXPECT_EQ(RetryDelay(policy, 1, outcome, true, 0.5), absl::Milliseconds(100));
}

TEST(RetryDelayTest, ParseRetryAfter) {
  EXPECT_EQ(ParseRetryAfter("3"), absl::Seconds(3));
  EXPECT_EQ(ParseRetryAfter(" 0 "), absl::ZeroDuration());
  EXPECT_FALSE(ParseRetryAfter(""));
  EXPECT_FALSE(ParseRetryAfter("-1"));
  EXPECT_FALSE(ParseRetryAfter("soon"));
}

// ------------------------------------------------------------------- paths

TEST(PathTest, ResourcePaths) {
  const Resource kConfigMaps{"", "v1", "configmaps", true};
  const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
  const Resource kNamespaces{"", "v1", "namespaces", false};
  EXPECT_EQ(ResourcePath(kConfigMaps, "ns", "a"),
            "/api/v1/namespaces/ns/configmaps/a");
  EXPECT_EQ(ResourcePath(kConfigMaps, ""), "/api/v1/configmaps");
  EXPECT_EQ(ResourcePath(kLeases, "ns"),
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases");
  EXPECT_EQ(ResourcePath(kLeases, "ns", "db", "status"),
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases/db/status");
  EXPECT_EQ(ResourcePath(kNamespaces, "ignored", "kube-system"),
            "/api/v1/namespaces/kube-system");
  EXPECT_EQ(kLeases.ApiVersion(), "coordination.k8s.io/v1");
}

TEST(PathTest, QueryStringEncodesAndSkipsEmpty) {
  EXPECT_EQ(QueryString({{"labelSelector", "app in (a,b),tier!=db"},
                         {"fieldSelector", ""},
                         {"limit", "10"}}),
            "?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb&limit=10");
  EXPECT_EQ(QueryString({{"a", ""}}), "");
  EXPECT_EQ(PercentEncode("zen-lead/pool=x~y_z.w"),
            "zen-lead%2Fpool%3Dx~y_z.w");
}

// ----------------------------------------------------------------- ListAll

nlohmann::json Page(const std::vector<std::string>& names,
                    const std::string& token, const std::string& rv) {
  nlohmann::json items = nlohmann::json::array();
  for (const std::string& n : names)
    items.push_back({{"metadata", {{"name", n}}}});
  nlohmann::json page = {{"kind", "ConfigMapList"},
                         {"metadata", {{"resourceVersion", rv}}},
                         {"items", items}};
  if (!token.empty()) page["metadata"]["continue"] = token;
  return page;
}

TEST(ListAllTest, FollowsContinueTokensAndMergesItems) {
  testing::FakeClient fake;
  std::vector<ListOptions> calls;
  fake.list =
      [&](const Resource&, absl::string_view ns,
          const ListOptions& options) -> absl::StatusOr<nlohmann::json> {
    calls.push_back(options);
    if (options.continue_token.empty()) return Page({"a", "b"}, "t1", "10");
    if (options.continue_token == "t1") return Page({"c", "d"}, "t2", "10");
    return Page({"e"}, "", "10");
  };
  ListOptions options;
  options.limit = 2;
  options.label_selector = "x=y";
  options.resource_version = "0";
  absl::StatusOr<nlohmann::json> all =
      ListAll(fake, Resource{"", "v1", "configmaps", true}, "ns", options);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ((*all)["items"].size(), 5u);
  EXPECT_EQ((*all)["items"][4]["metadata"]["name"], "e");
  EXPECT_FALSE((*all)["metadata"].contains("continue"));
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].continue_token, "t1");
  EXPECT_EQ(calls[2].continue_token, "t2");
  EXPECT_EQ(calls[2].label_selector, "x=y");
  EXPECT_EQ(calls[2].limit, 2);
  EXPECT_EQ(calls[0].resource_version, "0");
  EXPECT_EQ(calls[1].resource_version, "");  // Not allowed with continue.
}

TEST(ListAllTest, ErrorsAndLoops) {
  testing::FakeClient fake;
  const Resource kCm{"", "v1", "configmaps", true};
  ListOptions options;
  options.limit = 1;
  fake.list = [](const Resource&, absl::string_view,
                 const ListOptions& o) -> absl::StatusOr<nlohmann::json> {
    if (o.continue_token.empty()) return Page({"a"}, "t1", "1");
    return StatusFromResponse(410, R"({"kind":"Status","reason":"Expired"})");
  };
  EXPECT_TRUE(IsGone(ListAll(fake, kCm, "ns", options).status()));

  fake.list = [](const Resource&, absl::string_view,
                 const ListOptions&) -> absl::StatusOr<nlohmann::json> {
    return Page({"a"}, "same", "1");
  };
  EXPECT_EQ(ListAll(fake, kCm, "ns", options).status().code(),
            absl::StatusCode::kInternal);
}

TEST(ListAllTest, StopsBeforeTheNextPageOnceCancelled) {
  testing::FakeClient fake;
  auto cancel = std::make_shared<Cancellation>();
  int calls = 0;
  fake.list = [&](const Resource&, absl::string_view,
                  const ListOptions&) -> absl::StatusOr<nlohmann::json> {
    ++calls;
    cancel->Cancel();  // while the first page is being read
    return Page({"a"}, "t1", "1");
  };
  ListOptions options;
  options.limit = 1;
  options.cancel = cancel;
  absl::StatusOr<nlohmann::json> all =
      ListAll(fake, Resource{"", "v1", "configmaps", true}, "ns", options);
  EXPECT_EQ(all.status().code(), absl::StatusCode::kCancelled) << all.status();
  EXPECT_EQ(calls, 1);
}

// ------------------------------------------------------------ Cancellation

TEST(CancellationTest, CancelRunsEachCallbackOnceAndNotRemovedOnes) {
  Cancellation cancel;
  int a = 0;
  int b = 0;
  auto removed = std::make_unique<ScopedCancelCallback>(&cancel, [&] { ++b; });
  {
    ScopedCancelCallback kept(&cancel, [&] { ++a; });
    removed.reset();
    EXPECT_FALSE(cancel.cancelled());
    cancel.Cancel();
    cancel.Cancel();  // Idempotent: callbacks are not run again.
  }
  EXPECT_TRUE(cancel.cancelled());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
}

TEST(CancellationTest, RegisteringAfterCancelRunsTheCallbackAtOnce) {
  Cancellation cancel;
  cancel.Cancel();
  int runs = 0;
  {
    ScopedCancelCallback late(&cancel, [&] { ++runs; });
  }
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(CancelRequested(&cancel));
  EXPECT_FALSE(CancelRequested(nullptr));
  ScopedCancelCallback none(nullptr, [&] { ++runs; });  // Does nothing.
  EXPECT_EQ(runs, 1);
}

TEST(CancellationTest, CancelFromAnotherThreadWakesAWaiter) {
  Cancellation cancel;
  absl::Notification woken;
  ScopedCancelCallback wake(&cancel, [&] { woken.Notify(); });
  std::thread canceller([&] { cancel.Cancel(); });
  EXPECT_TRUE(woken.WaitForNotificationWithTimeout(absl::Seconds(30)));
  canceller.join();
}

// ------------------------------------------------------- scripted HTTP peer

struct ReceivedRequest {
  std::string method;
  std::string target;                          // Path and query.
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

bool SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Reply(int code, absl::string_view body,
                  absl::string_view extra_headers = "") {
  return absl::StrCat("HTTP/1.1 ", code,
                      " Scripted\r\nContent-Type: application/json\r\n"
                      "Content-Length: ",
                      body.size(), "\r\n", extra_headers, "\r\n", body);
}

std::string Chunk(absl::string_view data) {
  return absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
}

constexpr char kStreamHeaders[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

std::string KubeStatus(int code, const std::string& reason) {
  return nlohmann::json({{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"status", "Failure"},
                         {"code", code},
                         {"reason", reason},
                         {"message", "scripted " + reason}})
      .dump();
}

// An HTTP/1.1 server on 127.0.0.1:0 that runs `handler` for each request
// (keep-alive: many requests per connection). Handlers that stream wait on
// release() before returning; the destructor releases them.
class ScriptedServer {
 public:
  // Writes the response to fd. Returning false closes the connection.
  using Handler = std::function<bool(const ReceivedRequest&, int fd)>;

  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = testing::BindLoopback(/*backlog=*/16, &port_);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~ScriptedServer() {
    release_.Notify();
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      absl::MutexLock lock(&mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : workers_) t.join();
    ::close(listen_fd_);
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  absl::Notification& release() { return release_; }
  int connections() const {
    absl::MutexLock lock(&mu_);
    return connections_;
  }
  std::vector<ReceivedRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  void AcceptLoop() {
    for (;;) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;  // Shut down.
      absl::MutexLock lock(&mu_);
      ++connections_;
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buffer;
    for (;;) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!Read(fd, &buffer)) return;
      }
      ReceivedRequest req;
      std::vector<std::string> lines =
          absl::StrSplit(buffer.substr(0, end), "\r\n");
      std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
      req.method = first[0];
      req.target = first.size() > 1 ? first[1] : "";
      for (size_t i = 1; i < lines.size(); ++i) {
        size_t colon = lines[i].find(':');
        if (colon == std::string::npos) continue;
        req.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
            std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      }
      buffer.erase(0, end + 4);
      size_t length = 0;
      auto it = req.headers.find("content-length");
      if (it != req.headers.end()) (void)absl::SimpleAtoi(it->second, &length);
      while (buffer.size() < length) {
        if (!Read(fd, &buffer)) return;
      }
      req.body = buffer.substr(0, length);
      buffer.erase(0, length);
      {
        absl::MutexLock lock(&mu_);
        requests_.push_back(req);
      }
      if (!handler_(req, fd)) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
    }
  }

  static bool Read(int fd, std::string* buffer) {
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  absl::Notification release_;
  mutable absl::Mutex mu_;
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<ReceivedRequest> requests_ ABSL_GUARDED_BY(mu_);
};

const Resource kConfigMaps{"", "v1", "configmaps", true};

// Records every attempt the client reports.
class Records {
 public:
  RequestObserver Observer() {
    return [this](const RequestRecord& r) {
      absl::MutexLock lock(&mu_);
      records_.push_back(r);
    };
  }
  std::vector<RequestRecord> Get() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<RequestRecord> records_ ABSL_GUARDED_BY(mu_);
};

std::unique_ptr<RestClient> NewClient(const std::string& url,
                                      Records* records = nullptr,
                                      Config config = Config()) {
  config.server = url;
  config.qps = 0;
  RestClientOptions options;
  options.retry.initial_backoff = absl::Milliseconds(1);
  options.retry.max_backoff = absl::Milliseconds(5);
  options.retry.max_retries = 3;
  if (records != nullptr) options.observer = records->Observer();
  absl::StatusOr<std::unique_ptr<RestClient>> client =
      RestClient::Create(config, options);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

const char kConfigMapJson[] =
    R"({"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"7"}})";

TEST(RestClientTest, RetriesGetOn503HonouringRetryAfter) {
  std::atomic<int> calls{0};
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    if (calls.fetch_add(1) < 2) {
      return SendAll(fd, Reply(503, KubeStatus(503, "ServiceUnavailable"),
                               "Retry-After: 0\r\n"));
    }
    return SendAll(fd, Reply(200, kConfigMapJson));
  });
  Records records;
  auto client = NewClient(server.url(), &records);
  absl::StatusOr<nlohmann::json> cm = client->Get(kConfigMaps, "ns", "a");
  ASSERT_TRUE(cm.ok()) << cm.status();
  EXPECT_EQ((*cm)["metadata"]["resourceVersion"], "7");
  std::vector<RequestRecord> r = records.Get();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].http_code, 503);
  EXPECT_EQ(r[0].code, absl::StatusCode::kUnavailable);
  EXPECT_EQ(r[2].http_code, 200);
  EXPECT_EQ(r[2].attempt, 3);
  EXPECT_EQ(r[2].verb, "get");
  EXPECT_EQ(r[2].resource, "configmaps");
  EXPECT_EQ(server.requests()[0].target, "/api/v1/namespaces/ns/configmaps/a");
}

TEST(RestClientTest, GivesUpAfterMaxRetries) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(503, KubeStatus(503, "ServiceUnavailable")));
  });
  Records records;
  auto client = NewClient(server.url(), &records);
  absl::StatusOr<nlohmann::json> cm = client->Get(kConfigMaps, "ns", "a");
  EXPECT_EQ(cm.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpCodeOf(cm.status()), 503);
  EXPECT_NE(
      cm.status().message().find("GET /api/v1/namespaces/ns/configmaps/a"),
      absl::string_view::npos)
      << cm.status();
  EXPECT_EQ(records.Get().size(), 4u);  // 1 + max_retries.
}

TEST(RestClientTest, PostIsNotRetriedOn500ButIsOn429) {
  std::atomic<int> calls{0};
  ScriptedServer server([&](const ReceivedRequest& req, int fd) {
    int n = calls.fetch_add(1);
    if (req.target.find("fivehundred") != std::string::npos) {
      return SendAll(fd, Reply(500, KubeStatus(500, "InternalError")));
    }
    if (n % 2 == 1) {
      return SendAll(fd, Reply(429, KubeStatus(429, "TooManyRequests"),
                               "Retry-After: 0\r\n"));
    }
    return SendAll(fd, Reply(201, kConfigMapJson));
  });
  auto client = NewClient(server.url());
  const nlohmann::json obj = {{"metadata", {{"name", "a"}}}};
  absl::StatusOr<nlohmann::json> failed =
      client->Create(kConfigMaps, "fivehundred", obj);
  EXPECT_EQ(HttpCodeOf(failed.status()), 500);
  EXPECT_EQ(server.requests().size(), 1u);  // Not retried.

  absl::StatusOr<nlohmann::json> created =
      client->Create(kConfigMaps, "ns", obj);  // 429 first, then 201.
  EXPECT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(RestClientTest, ConflictIsNotRetriedAndKeepsTheReason) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(409, KubeStatus(409, "Conflict")));
  });
  auto client = NewClient(server.url());
  absl::StatusOr<nlohmann::json> updated =
      client->Update(kConfigMaps, "ns",
                     {{"metadata", {{"name", "a"}, {"resourceVersion", "1"}}}});
  EXPECT_TRUE(IsConflict(updated.status())) << updated.status();
  EXPECT_EQ(ReasonOf(updated.status()), "Conflict");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(RestClientTest, SequentialRequestsReuseOneConnection) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(200, kConfigMapJson));
  });
  auto client = NewClient(server.url());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client->Get(kConfigMaps, "ns", "a").ok());
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(client->connections_opened(), 1);
}

TEST(RestClientTest, ConnectionRefusedIsUnavailableAndRetried) {
  int port = 0;
  int fd = testing::BindLoopback(/*backlog=*/0, &port);
  ASSERT_GE(fd, 0);
  ::close(fd);  // Nothing listens on this port now.
  Records records;
  auto client = NewClient(absl::StrCat("http://127.0.0.1:", port), &records);
  // Even a POST retries: nothing was sent.
  absl::StatusOr<nlohmann::json> created =
      client->Create(kConfigMaps, "ns", {{"metadata", {{"name", "a"}}}});
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpCodeOf(created.status()), 0);
  EXPECT_TRUE(IsRetriable(created.status()));
  EXPECT_EQ(records.Get().size(), 4u);
}

TEST(RestClientTest, RequestShapes) {
  ScriptedServer server([&](const ReceivedRequest& req, int fd) {
    bool watch = req.target.find("watch=true") != std::string::npos;
    return SendAll(fd, Reply(200, watch ? "" : kConfigMapJson));  // No events.
  });
  auto client = NewClient(server.url());
  DeleteOptions del;
  del.propagation = PropagationPolicy::kForeground;
  del.uid = "u-1";
  del.grace_period_seconds = 0;
  ASSERT_TRUE(client->Delete(kConfigMaps, "ns", "a", del).ok());
  ApplyOptions apply;
  apply.field_manager = "zen-lead";
  apply.force = true;
  ASSERT_TRUE(client
                  ->Apply(kConfigMaps, "ns", "a",
                          {{"apiVersion", "v1"}, {"kind", "ConfigMap"}}, apply)
                  .ok());
  ASSERT_TRUE(client
                  ->Patch(kConfigMaps, "ns", "a", PatchType::kStrategicMerge,
                          {{"data", {{"k", "v"}}}}, "")
                  .ok());
  ListOptions list;
  list.label_selector = "app=x";
  list.limit = 10;
  list.continue_token = "tok";
  ASSERT_TRUE(client->List(kConfigMaps, "ns", list).ok());
  WatchOptions watch;
  watch.resource_version = "42";
  watch.timeout = absl::Seconds(30);
  ASSERT_TRUE(client
                  ->Watch(kConfigMaps, "", watch,
                          [](const WatchEvent&) { return true; })
                  .ok());

  std::vector<ReceivedRequest> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  nlohmann::json body = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], "u-1");
  EXPECT_EQ(body["gracePeriodSeconds"], 0);
  EXPECT_EQ(reqs[1].method, "PATCH");
  EXPECT_EQ(
      reqs[1].target,
      "/api/v1/namespaces/ns/configmaps/a?fieldManager=zen-lead&force=true");
  EXPECT_EQ(reqs[1].headers["content-type"], "application/apply-patch+yaml");
  EXPECT_EQ(reqs[2].headers["content-type"],
            "application/strategic-merge-patch+json");
  EXPECT_EQ(reqs[3].target,
            "/api/v1/namespaces/ns/configmaps?labelSelector=app%3Dx&limit=10&"
            "continue=tok");
  EXPECT_EQ(reqs[4].target,
            "/api/v1/configmaps?watch=true&resourceVersion=42&"
            "allowWatchBookmarks=true&timeoutSeconds=30");
  EXPECT_EQ(reqs[4].headers["user-agent"], "zen-lead");
}

TEST(RestClientTest, WatchListQuery) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(200, ""));
  });
  auto client = NewClient(server.url());
  WatchOptions watch;
  watch.allow_bookmarks = false;  // Forced on: the server requires it.
  watch.send_initial_events = true;
  watch.timeout = absl::Milliseconds(1500);  // Rounded up to 2 s.
  ASSERT_TRUE(client
                  ->Watch(kConfigMaps, "ns", watch,
                          [](const WatchEvent&) { return true; })
                  .ok());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target,
            "/api/v1/namespaces/ns/configmaps?watch=true&"
            "allowWatchBookmarks=true&sendInitialEvents=true&"
            "resourceVersionMatch=NotOlderThan&timeoutSeconds=2");
}

TEST(RestClientTest, RejectsBadArgumentsWithoutARequest) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(200, "{}"));
  });
  auto client = NewClient(server.url());
  EXPECT_EQ(client->Get(kConfigMaps, "", "a").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Get(kConfigMaps, "ns", "a/b").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Update(kConfigMaps, "ns", {{"data", {}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.requests().empty());
}

TEST(RestClientTest, WatchStreamsChunksAndEndsOnError410) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    std::string first = EventLine("ADDED", "a", "1");
    SendAll(fd, kStreamHeaders);
    SendAll(fd, Chunk(first.substr(0, 10)));  // An event split in two.
    SendAll(fd, Chunk(first.substr(10) + EventLine("MODIFIED", "a", "2")));
    SendAll(fd, Chunk(R"({"type":"ERROR","object":)" +
                      KubeStatus(410, "Expired") + "}\n"));
    server.release().WaitForNotification();  // Keep the stream open.
    return false;
  });
  auto client = NewClient(server.url());
  std::vector<WatchEvent> seen;
  absl::Status status = client->Watch(kConfigMaps, "ns", WatchOptions(),
                                      [&](const WatchEvent& e) {
                                        seen.push_back(e);
                                        return true;
                                      });
  EXPECT_TRUE(IsGone(status)) << status;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].type, WatchEvent::Type::kAdded);
  EXPECT_EQ(seen[1].type, WatchEvent::Type::kModified);
}

TEST(RestClientTest, WatchEndsCleanlyWhenTheServerCloses) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    SendAll(fd, kStreamHeaders);
    SendAll(fd, Chunk(EventLine("ADDED", "a", "1")));
    SendAll(fd, "0\r\n\r\n");
    return true;
  });
  auto client = NewClient(server.url());
  int events = 0;
  EXPECT_TRUE(client
                  ->Watch(kConfigMaps, "ns", WatchOptions(),
                          [&](const WatchEvent&) { return ++events > 0; })
                  .ok());
  EXPECT_EQ(events, 1);
}

TEST(RestClientTest, WatchMalformedStreamIsAnError) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    SendAll(fd, kStreamHeaders);
    SendAll(fd, Chunk("{not json\n"));
    server.release().WaitForNotification();
    return false;
  });
  auto client = NewClient(server.url());
  absl::Status status = client->Watch(kConfigMaps, "ns", WatchOptions(),
                                      [](const WatchEvent&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
}

TEST(RestClientTest, Watch410ResponseIsGoneAndNotRetried) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(410, KubeStatus(410, "Gone")));
  });
  auto client = NewClient(server.url());
  absl::Status status = client->Watch(kConfigMaps, "ns", WatchOptions(),
                                      [](const WatchEvent&) { return true; });
  EXPECT_TRUE(IsGone(status)) << status;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(RestClientTest, HandlerReturningFalseStopsTheWatch) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    SendAll(fd, kStreamHeaders);
    SendAll(fd,
            Chunk(EventLine("ADDED", "a", "1") + EventLine("ADDED", "b", "2") +
                  EventLine("ADDED", "c", "3")));
    server.release().WaitForNotification();  // Never ends by itself.
    return false;
  });
  auto client = NewClient(server.url());
  int calls = 0;
  absl::Status status =
      client->Watch(kConfigMaps, "ns", WatchOptions(),
                    [&](const WatchEvent&) { return ++calls < 2; });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 2);
}

// The handler runs inside libcurl's write callback, a C frame: an exception
// unwinding through it used to end the process.
TEST(RestClientTest, AThrowingWatchHandlerEndsTheWatchWithAnError) {
  ScriptedServer server([&](const ReceivedRequest& req, int fd) {
    if (req.target.find("watch=true") == std::string::npos) {
      return SendAll(fd, Reply(200, kConfigMapJson));
    }
    SendAll(fd, kStreamHeaders);
    SendAll(fd,
            Chunk(EventLine("ADDED", "a", "1") + EventLine("ADDED", "b", "2") +
                  EventLine("ADDED", "c", "3")));
    server.release().WaitForNotification();
    return false;
  });
  auto client = NewClient(server.url());
  const int64_t caught = CaughtExceptions();
  std::vector<std::string> seen;
  absl::Status status = client->Watch(
      kConfigMaps, "ns", WatchOptions(), [&](const WatchEvent& e) {
        seen.push_back(Name(e));
        // A handler reading a field of the wrong JSON type.
        if (seen.size() == 2) (void)e.object.at("metadata").get<int>();
        return true;
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_NE(status.message().find("the watch event handler threw"),
            absl::string_view::npos)
      << status;
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(CaughtExceptions(), caught + 1);
  EXPECT_EQ(server.requests().size(), 1u);  // not retried
  // The client (and the process) carry on.
  EXPECT_TRUE(client->Get(kConfigMaps, "ns", "a").ok());
}

TEST(RestClientTest, StopEndsABlockedWatchAndLaterCalls) {
  absl::Notification streaming;
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    SendAll(fd, kStreamHeaders);  // Then silence.
    streaming.Notify();
    server.release().WaitForNotification();
    return false;
  });
  auto client = NewClient(server.url());
  absl::Status status;
  std::thread watcher([&] {
    status = client->Watch(kConfigMaps, "ns", WatchOptions(),
                           [](const WatchEvent&) { return true; });
  });
  ASSERT_TRUE(streaming.WaitForNotificationWithTimeout(absl::Seconds(30)));
  client->Stop();
  watcher.join();  // Would hang (until the watch timeout) without Stop.
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(client->Get(kConfigMaps, "ns", "a").status().code(),
            absl::StatusCode::kCancelled);
  client->Stop();  // Idempotent.
}

// The usage example of client.h: one watch of a shared client is cancelled,
// another watch on the same client keeps streaming, other requests go on.
TEST(RestClientTest, CancelEndsOneWatchAndNotTheOthers) {
  absl::Mutex mu;
  int streaming = 0;
  absl::Notification send_to_b;
  ScriptedServer server([&](const ReceivedRequest& req, int fd) {
    if (req.target.find("watch=true") == std::string::npos) {
      return SendAll(fd, Reply(200, kConfigMapJson));
    }
    SendAll(fd, kStreamHeaders);  // Then silence.
    {
      absl::MutexLock lock(&mu);
      ++streaming;
    }
    if (req.target.find("labelSelector=b") != std::string::npos) {
      send_to_b.WaitForNotification();
      SendAll(fd, Chunk(EventLine("ADDED", "after-cancel", "5")));
    }
    server.release().WaitForNotification();
    return false;
  });
  auto client = NewClient(server.url());
  WatchOptions a;
  a.label_selector = "a";
  a.cancel = std::make_shared<Cancellation>();
  WatchOptions b;
  b.label_selector = "b";
  b.cancel = std::make_shared<Cancellation>();
  absl::Status a_status;
  absl::Status b_status;
  std::vector<std::string> b_seen;
  absl::Notification a_done;
  std::thread a_watcher([&] {
    a_status = client->Watch(kConfigMaps, "ns", a,
                             [](const WatchEvent&) { return true; });
    a_done.Notify();
  });
  std::thread b_watcher([&] {
    b_status = client->Watch(kConfigMaps, "ns", b, [&](const WatchEvent& e) {
      b_seen.push_back(Name(e));
      return false;
    });
  });
  {
    absl::MutexLock lock(&mu);
    auto both = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return streaming == 2;
    };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(30)));
  }
  a.cancel->Cancel();
  // Would hang (until the watch timeout) without the cancellation.
  ASSERT_TRUE(a_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  a_watcher.join();
  EXPECT_EQ(a_status.code(), absl::StatusCode::kCancelled) << a_status;
  EXPECT_NE(a_status.message().find("the call was cancelled"),
            absl::string_view::npos)
      << a_status;
  EXPECT_FALSE(client->stopped());
  EXPECT_TRUE(client->Get(kConfigMaps, "ns", "a").ok());
  // b is still open and still receives events.
  send_to_b.Notify();
  b_watcher.join();
  EXPECT_TRUE(b_status.ok()) << b_status;
  EXPECT_EQ(b_seen, std::vector<std::string>{"after-cancel"});
}

TEST(RestClientTest, CallsCancelledBeforeTheyStartSendNothing) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(200, kConfigMapJson));
  });
  auto client = NewClient(server.url());
  auto cancel = std::make_shared<Cancellation>();
  cancel->Cancel();
  WatchOptions watch;
  watch.cancel = cancel;
  int events = 0;
  EXPECT_EQ(client
                ->Watch(kConfigMaps, "ns", watch,
                        [&](const WatchEvent&) { return ++events > 0; })
                .code(),
            absl::StatusCode::kCancelled);
  ListOptions list;
  list.cancel = cancel;
  EXPECT_EQ(client->List(kConfigMaps, "ns", list).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(events, 0);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_TRUE(client->Get(kConfigMaps, "ns", "a").ok());
}

TEST(RestClientTest, CancelEndsAListInFlight) {
  absl::Notification listing;
  ScriptedServer server([&](const ReceivedRequest& req, int fd) {
    if (req.target.find("labelSelector=slow") != std::string::npos) {
      listing.Notify();
      server.release().WaitForNotification();  // Never answers.
      return false;
    }
    return SendAll(fd, Reply(200, kConfigMapJson));
  });
  auto client = NewClient(server.url());
  ListOptions list;
  list.label_selector = "slow";
  list.cancel = std::make_shared<Cancellation>();
  absl::Status status;
  std::thread lister(
      [&] { status = client->List(kConfigMaps, "ns", list).status(); });
  ASSERT_TRUE(listing.WaitForNotificationWithTimeout(absl::Seconds(30)));
  list.cancel->Cancel();
  lister.join();  // Would wait for the request timeout without the cancel.
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_TRUE(client->Get(kConfigMaps, "ns", "a").ok());
}

TEST(RestClientTest, CancelEndsARetryWait) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    // The longest wait a server can ask for (RetryDelay caps it at 30 s).
    return SendAll(fd, Reply(503, KubeStatus(503, "ServiceUnavailable"),
                             "Retry-After: 30\r\n"));
  });
  absl::Notification attempted;
  Config config;
  config.server = server.url();
  config.qps = 0;
  RestClientOptions options;
  options.observer = [&](const RequestRecord&) {
    if (!attempted.HasBeenNotified()) attempted.Notify();
  };
  absl::StatusOr<std::unique_ptr<RestClient>> client =
      RestClient::Create(config, options);
  ASSERT_TRUE(client.ok()) << client.status();
  WatchOptions watch;
  watch.cancel = std::make_shared<Cancellation>();
  absl::Status status;
  std::thread watcher([&] {
    status = (*client)->Watch(kConfigMaps, "ns", watch,
                              [](const WatchEvent&) { return true; });
  });
  ASSERT_TRUE(attempted.WaitForNotificationWithTimeout(absl::Seconds(30)));
  watch.cancel->Cancel();
  watcher.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(server.requests().size(), 1u);  // The retry never happened.
}

TEST(RestClientTest, WatchDoesNotBlockOtherRequests) {
  absl::Notification streaming;
  ScriptedServer server([&](const ReceivedRequest& req, int fd) {
    if (req.target.find("watch=true") != std::string::npos) {
      SendAll(fd, kStreamHeaders);
      streaming.Notify();
      server.release().WaitForNotification();
      return false;
    }
    return SendAll(fd, Reply(200, kConfigMapJson));
  });
  auto client = NewClient(server.url());
  std::thread watcher([&] {
    (void)client->Watch(kConfigMaps, "ns", WatchOptions(),
                        [](const WatchEvent&) { return true; });
  });
  ASSERT_TRUE(streaming.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(client->Get(kConfigMaps, "ns", "a").ok());
  client->Stop();
  watcher.join();
}

std::string WriteTempFile(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path;
}

TEST(RestClientTest, RereadsARotatedTokenAfter401) {
  ScriptedServer server([&](const ReceivedRequest& req, int fd) {
    auto it = req.headers.find("authorization");
    if (it == req.headers.end() || it->second != "Bearer new-token") {
      return SendAll(fd, Reply(401, KubeStatus(401, "Unauthorized")));
    }
    return SendAll(fd, Reply(200, kConfigMapJson));
  });
  Config config;
  config.token_file = WriteTempFile("token", "old-token\n");
  auto client = NewClient(server.url(), nullptr, config);
  EXPECT_EQ(client->Get(kConfigMaps, "ns", "a").status().code(),
            absl::StatusCode::kUnauthenticated);
  WriteTempFile("token", "new-token\n");  // Rotated; the cache is still warm.
  EXPECT_TRUE(client->Get(kConfigMaps, "ns", "a").ok());
  std::vector<ReceivedRequest> reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);  // 401, 401 (re-read, same) | 401, 200.
  EXPECT_EQ(reqs[2].headers["authorization"], "Bearer old-token");
  EXPECT_EQ(reqs[3].headers["authorization"], "Bearer new-token");
}

TEST(RestClientTest, ConcurrentCallersShareTheClient) {
  ScriptedServer server([&](const ReceivedRequest&, int fd) {
    return SendAll(fd, Reply(200, kConfigMapJson));
  });
  auto client = NewClient(server.url());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (client->Get(kConfigMaps, "ns", "a").ok()) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_LE(server.connections(), 8);  // At most one per concurrent caller.
}

}  // namespace
}  // namespace zenlead::client
