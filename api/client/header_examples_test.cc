// The usage examples at the top of api/client's headers, compiled and run
// (STYLE.md: examples must compile, or they rot). Each test's body is its
// header's example as written there; what the example leaves to the reader
// (the object to write, a handler, a placeholder helper) is defined here, and
// the test checks what the example's comments promise. When a test here stops
// compiling, the header's example no longer matches the API: fix both.
//
// The examples that create a RestClient talk to ExampleApiServer, a scripted
// HTTP peer on 127.0.0.1 that answers exactly the calls the example makes.
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/client/clock.h"
#include "api/client/config.h"
#include "api/client/errors.h"
#include "api/client/exceptions.h"
#include "api/client/rate_limiter.h"
#include "api/client/rest_client.h"
#include "api/client/retry.h"
#include "api/client/status_macros.h"
#include "api/client/testing/example_api_server.h"
#include "api/client/testing/fake_client.h"
#include "api/client/watch_decoder.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace zenlead::client {
namespace {

using testing::ExampleApiServer;
using testing::FakeClient;
using testing::ScopedKubeconfig;

constexpr absl::Duration kWait = absl::Seconds(10);  // real-time safety net

constexpr char kLeasePath[] =
    "/apis/coordination.k8s.io/v1/namespaces/ns/leases/db";
constexpr char kLeasesPath[] =
    "/apis/coordination.k8s.io/v1/namespaces/ns/leases";

// A metav1.Status body as the API server sends it with an error.
std::string StatusBody(int code, const std::string& reason) {
  return nlohmann::json{{"kind", "Status"},    {"apiVersion", "v1"},
                        {"status", "Failure"}, {"reason", reason},
                        {"message", reason},   {"code", code}}
      .dump();
}

void Json(httplib::Response& res, int code, const std::string& body) {
  res.status = code;
  res.set_content(body, "application/json");
}

// Serves a Lease watch that stays open, with no events, until the server
// stops.
void ServeQuietWatch(ExampleApiServer& server) {
  server.http().Get(
      kLeasesPath, [&server](const httplib::Request&, httplib::Response& res) {
        res.set_chunked_content_provider("application/json",
                                         [&server](size_t, httplib::DataSink&) {
                                           return server.AwaitStop();
                                         });
      });
}

// ------------------------------------------------------------- client.h

// What the server saw of the example's apply.
struct SeenApply {
  absl::Mutex mu;
  std::string content_type ABSL_GUARDED_BY(mu);
  std::string field_manager ABSL_GUARDED_BY(mu);
  std::string force ABSL_GUARDED_BY(mu);
  nlohmann::json body ABSL_GUARDED_BY(mu);
};

// client.h's example, in a function because ASSIGN_OR_RETURN returns.
absl::Status ClientHeaderExample(const nlohmann::json& desired,
                                 const WatchHandler& handler, bool* not_found,
                                 absl::Status* watch_result) {
  ASSIGN_OR_RETURN(auto config, LoadConfig());  // config.h
  ASSIGN_OR_RETURN(auto client, RestClient::Create(config));
  const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
  absl::StatusOr<nlohmann::json> lease = client->Get(kLeases, "ns", "db");
  if (IsNotFound(lease.status())) {
    *not_found = true;  // the example's "{ ... }"
  }

  ApplyOptions apply{.field_manager = "zen-lead", .force = true};
  // client.h says `client->Apply(kLeases, "ns", "db", desired, apply);`,
  // which does not compile: StatusOr is [[nodiscard]].
  absl::StatusOr<nlohmann::json> applied =
      client->Apply(kLeases, "ns", "db", desired, apply);
  RETURN_IF_ERROR(applied.status());

  auto cancel = std::make_shared<Cancellation>();
  WatchOptions watch;
  watch.cancel = cancel;
  absl::Status watched;
  std::thread watcher(
      [&] { watched = client->Watch(kLeases, "ns", watch, handler); });
  cancel->Cancel();  // this watch only: CancelledError within ms
  watcher.join();

  *watch_result = watched;
  return absl::OkStatus();
}

TEST(HeaderExamplesTest, ClientH) {
  ExampleApiServer server;
  server.http().Get(kLeasePath,
                    [](const httplib::Request&, httplib::Response& res) {
                      Json(res, 404, StatusBody(404, "NotFound"));
                    });
  SeenApply seen;
  server.http().Patch(
      kLeasePath, [&seen](const httplib::Request& req, httplib::Response& res) {
        absl::MutexLock lock(&seen.mu);
        seen.content_type = req.get_header_value("Content-Type");
        seen.field_manager = req.get_param_value("fieldManager");
        seen.force = req.get_param_value("force");
        seen.body = nlohmann::json::parse(req.body, nullptr, false);
        Json(res, 200, req.body);
      });
  ServeQuietWatch(server);
  server.Start();
  ScopedKubeconfig kubeconfig(server.Kubeconfig());

  const nlohmann::json desired = {
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata", {{"name", "db"}, {"namespace", "ns"}}},
      {"spec", {{"holderIdentity", "db-0"}}}};
  bool not_found = false;
  absl::Status watched;
  ASSERT_TRUE(
      ClientHeaderExample(
          desired, [](const WatchEvent&) { return true; }, &not_found, &watched)
          .ok());
  server.Stop();

  EXPECT_TRUE(not_found);
  EXPECT_TRUE(absl::IsCancelled(watched)) << watched;
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.content_type, "application/apply-patch+yaml");
  EXPECT_EQ(seen.field_manager, "zen-lead");
  EXPECT_EQ(seen.force, "true");
  EXPECT_EQ(seen.body, desired);
}

// -------------------------------------------------------------- clock.h

// The component of clock.h's example: retries every 2 s on its clock until
// stopped.
class Elector {
 public:
  explicit Elector(Clock* clock) : clock_(clock), thread_([this] { Run(); }) {}
  ~Elector() { Stop(); }
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  // Waits in real time until `n` retries happened.
  bool AwaitRetries(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return retries_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  int retries() {
    absl::MutexLock lock(&mu_);
    return retries_;
  }

 private:
  void Run() {
    for (;;) {
      absl::MutexLock lock(&mu_);
      // Returns true when stopping_, false when 2 s passed on the clock.
      bool stopped = clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping_),
                                              absl::Seconds(2));
      if (stopped) return;
      ++retries_;
    }
  }

  Clock* const clock_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int retries_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: Run() uses the members above
};

TEST(HeaderExamplesTest, ClockH) {
  FakeClock clock;
  Elector elector(&clock);  // waits 2 s on `clock`
  ASSERT_TRUE(clock.AwaitWaiters(1, absl::Seconds(10)));
  clock.Advance(absl::Seconds(2));  // the wait above ends now

  EXPECT_TRUE(elector.AwaitRetries(1));
  elector.Stop();  // the condition ends the next wait, no time passes
  EXPECT_EQ(elector.retries(), 1);
}

// ------------------------------------------------------------- config.h

TEST(HeaderExamplesTest, ConfigH) {
  ScopedKubeconfig kubeconfig(
      "apiVersion: v1\nkind: Config\ncurrent-context: kind\n"
      "clusters:\n- name: kind\n  cluster: {server: "
      "\"https://127.0.0.1:6443\"}\n"
      "contexts:\n- name: kind\n  context: {cluster: kind, user: kind}\n"
      "users:\n- name: kind\n  user: {token: s3cret}\n");
  const std::string& path = kubeconfig.path();  // the example's path

  absl::StatusOr<Config> config = LoadConfig();  // $KUBECONFIG, in-cluster,
                                                 // then ~/.kube/config
  absl::StatusOr<Config> dev = LoadKubeconfig(path, "admin");
  if (!dev.ok()) std::cerr << dev.status();
  // INVALID_ARGUMENT: kubeconfig /tmp/c/kubeconfig: context "admin" not
  // found (contexts: kind)

  ASSERT_TRUE(config.ok()) << config.status();  // not in the example
  TokenSource tokens(*config, RealClock());     // re-reads token_file
  absl::StatusOr<std::string> bearer = tokens.Token();

  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dev.status().message(),
            absl::StrCat("kubeconfig ", path,
                         ": context \"admin\" not found (contexts: kind)"));
  ASSERT_TRUE(bearer.ok()) << bearer.status();
  EXPECT_EQ(*bearer, "s3cret");
}

// ------------------------------------------------------------- errors.h

TEST(HeaderExamplesTest, ErrorsH) {
  FakeClient fake;
  fake.get = [](const Resource&, absl::string_view, absl::string_view) {
    return FakeClient::JsonResult(
        StatusFromResponse(404, StatusBody(404, "NotFound")));
  };
  fake.create = [](const Resource&, absl::string_view,
                   const nlohmann::json& obj) {
    return FakeClient::JsonResult(obj);
  };
  fake.update = [](const Resource&, absl::string_view, const nlohmann::json&) {
    return FakeClient::JsonResult(
        StatusFromResponse(409, StatusBody(409, "Conflict")));
  };
  Client& client = fake;
  const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};
  const std::string ns = "ns";
  const std::string name = "db";
  const nlohmann::json fresh = {{"metadata", {{"name", "db"}}}};
  const nlohmann::json renewed = {
      {"metadata", {{"name", "db"}, {"resourceVersion", "6"}}}};
  const absl::Status watch_status =
      StatusFromResponse(410, StatusBody(410, "Expired"));

  absl::StatusOr<nlohmann::json> lease = client.Get(kLeases, ns, name);
  if (IsNotFound(lease.status())) lease = client.Create(kLeases, ns, fresh);
  absl::StatusOr<nlohmann::json> put = client.Update(kLeases, ns, renewed);
  bool reread = IsConflict(put.status());  // stale resourceVersion
  bool relist = IsGone(watch_status);      // 410: version too old
  std::string why =
      absl::StrCat(ReasonOf(put.status()), " ", HttpCodeOf(put.status()));
  // why == "Conflict 409"

  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(*lease, fresh);
  EXPECT_TRUE(reread);
  EXPECT_TRUE(relist);
  EXPECT_EQ(why, "Conflict 409");
}

// --------------------------------------------------------- exceptions.h

TEST(HeaderExamplesTest, ExceptionsH) {
  // Someone else's handler: throws (nlohmann's at()) on an event whose
  // object has no spec.
  WatchHandler handler = [](const WatchEvent& e) {
    return e.object.at("spec").at("holderIdentity") == "db-0";
  };
  const WatchEvent event{WatchEvent::Type::kAdded, {{"metadata", {}}}};
  const int64_t before = CaughtExceptions();

  bool more = true;
  absl::Status s = CallCatchingExceptions("watch leases: handler",
                                          [&] { more = handler(event); });
  if (!s.ok()) std::cerr << "handler threw; event skipped: " << s << "\n";
  int64_t caught = CaughtExceptions();  // e.g. for a metric

  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StartsWith(s.message(),
                               "watch leases: handler threw an exception: "))
      << s;
  EXPECT_TRUE(more);  // the handler never returned
  EXPECT_EQ(caught, before + 1);
}

// ------------------------------------------------------- rate_limiter.h

TEST(HeaderExamplesTest, RateLimiterH) {
  FakeClock fake;
  const absl::Time start = fake.Now();

  Clock* clock = &fake;  // RealClock() in production
  TokenBucket bucket(/*qps=*/20, /*burst=*/30, clock);
  for (int i = 0; i < 30; ++i) {  // the burst: no wait
    ASSERT_EQ(bucket.Reserve(), absl::ZeroDuration());
  }
  std::thread caller([&] {
    absl::Duration wait = bucket.Reserve();  // zero while the burst lasts
    if (wait > absl::ZeroDuration()) clock->SleepFor(wait);
  });
  ASSERT_TRUE(fake.AwaitWaiters(1, kWait));  // the 31st waits 1/qps
  fake.Advance(absl::Milliseconds(50));
  caller.join();

  EXPECT_EQ(fake.Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(bucket.Reserve(), absl::Milliseconds(50));  // no token saved up
}

// -------------------------------------------------------- rest_client.h

// Stands in for the example's `metrics`: every attempt the client reports.
class RequestLog {
 public:
  void Observe(const RequestRecord& r) {
    absl::MutexLock lock(&mu_);
    records_.push_back(r);
  }
  std::vector<RequestRecord> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }

 private:
  absl::Mutex mu_;
  std::vector<RequestRecord> records_ ABSL_GUARDED_BY(mu_);
};
// Namespace scope, never destroyed: the example's observer captures nothing.
RequestLog& metrics = *new RequestLog();

const Resource kConfigMaps{"", "v1", "configmaps", true};
const Resource kLeases{"coordination.k8s.io", "v1", "leases", true};

bool Handle(const WatchEvent& e) { return e.type != WatchEvent::Type::kError; }

// rest_client.h's example, in a function because ASSIGN_OR_RETURN returns.
// Reports the ConfigMap, the watch's result and the client afterwards.
absl::Status RestClientHeaderExample(absl::StatusOr<nlohmann::json>* got,
                                     absl::Status* watch_result,
                                     absl::Status* after_stop) {
  ASSIGN_OR_RETURN(Config config, LoadConfig());
  RestClientOptions options;
  options.observer = [](const RequestRecord& r) { metrics.Observe(r); };
  ASSIGN_OR_RETURN(std::unique_ptr<RestClient> client,
                   RestClient::Create(config, options));
  absl::StatusOr<nlohmann::json> cm = client->Get(kConfigMaps, "ns", "a");

  // A watch blocks its calling thread; give it its own thread. Its
  // Cancellation (client.h) ends it alone; the client serves on.
  WatchOptions watch;
  watch.cancel = std::make_shared<Cancellation>();
  std::thread watcher([&] {
    absl::Status s =
        client->Watch(kLeases, "ns", watch, [](const WatchEvent& e) {
          return Handle(e);  // false stops it
        });
    *watch_result = s;  // not in the example: its `s` stays in the thread
  });
  watch.cancel->Cancel();  // this watch ends (Cancelled) within ms
  watcher.join();
  client->Stop();  // shutdown: ends every call in flight and later ones

  *got = cm;
  *after_stop = client->Get(kConfigMaps, "ns", "a").status();
  return absl::OkStatus();
}

TEST(HeaderExamplesTest, RestClientH) {
  ExampleApiServer server;
  server.http().Get("/api/v1/namespaces/ns/configmaps/a",
                    [](const httplib::Request&, httplib::Response& res) {
                      Json(res, 200,
                           R"({"kind":"ConfigMap","metadata":{"name":"a"}})");
                    });
  ServeQuietWatch(server);
  server.Start();
  ScopedKubeconfig kubeconfig(server.Kubeconfig());

  absl::StatusOr<nlohmann::json> cm;
  absl::Status watched;
  absl::Status after_stop;
  ASSERT_TRUE(RestClientHeaderExample(&cm, &watched, &after_stop).ok());
  server.Stop();

  ASSERT_TRUE(cm.ok()) << cm.status();
  EXPECT_EQ((*cm)["metadata"]["name"], "a");
  EXPECT_TRUE(absl::IsCancelled(watched)) << watched;
  EXPECT_TRUE(absl::IsCancelled(after_stop)) << after_stop;
  std::vector<RequestRecord> records = metrics.records();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].verb, "get");
  EXPECT_EQ(records[0].resource, "configmaps");
  EXPECT_EQ(records[0].http_code, 200);
}

// -------------------------------------------------------------- retry.h

TEST(HeaderExamplesTest, RetryH) {
  AttemptOutcome outcome{.http_code = 429, .retry_after = "2"};
  std::optional<absl::Duration> wait =
      RetryDelay(RetryPolicy(), /*attempt=*/1, outcome,
                 /*idempotent=*/false, /*jitter=*/0.5);
  // wait == 2s: 429 means the server did not act, so even POST retries.

  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, absl::Seconds(2));
}

// ------------------------------------------------------ status_macros.h

// The helpers status_macros.h's example calls, besides ReadFileToString: a
// "config" file here is one line, the server URL.
absl::Status Validate(const std::string& text) {
  if (!absl::StartsWith(text, "https://")) {
    return absl::InvalidArgumentError("the server must be an https:// URL");
  }
  return absl::OkStatus();
}
absl::StatusOr<Config> Parse(const std::string& text) {
  Config config;
  config.server = text;
  return config;
}

absl::StatusOr<Config> Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  RETURN_IF_ERROR(Validate(text));
  return Parse(text);
}

TEST(HeaderExamplesTest, StatusMacrosH) {
  ScopedKubeconfig good("https://127.0.0.1:6443");  // any file will do
  absl::StatusOr<Config> config = Load(good.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");

  ScopedKubeconfig bad("http://127.0.0.1:6443");
  EXPECT_EQ(Load(bad.path()).status().message(),
            "the server must be an https:// URL");  // RETURN_IF_ERROR

  absl::StatusOr<Config> missing = Load("/nonexistent/zen-lead/config");
  EXPECT_FALSE(missing.ok());  // ASSIGN_OR_RETURN
  EXPECT_TRUE(absl::StrContains(missing.status().message(),
                                "/nonexistent/zen-lead/config"))
      << missing.status();
}

// ------------------------------------------------------ watch_decoder.h

// watch_decoder.h's example, in a function because RETURN_IF_ERROR returns.
absl::Status DecodeStream(
    const std::vector<std::string>& chunks,
    const std::function<void(const WatchEvent&)>& handle) {
  WatchDecoder decoder;
  for (absl::string_view chunk : chunks) {  // as the bytes arrive
    std::vector<WatchEvent> events;
    RETURN_IF_ERROR(decoder.Feed(chunk, &events));  // 0..n whole events
    for (const WatchEvent& e : events) handle(e);
  }
  RETURN_IF_ERROR(decoder.Finish());  // at the end: was an event cut off?
  return absl::OkStatus();
}

TEST(HeaderExamplesTest, WatchDecoderH) {
  const std::string stream =
      R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"
      "\n"
      R"({"type":"DELETED","object":{"metadata":{"name":"a"}}})"
      "\n";
  std::vector<std::string> names;
  auto handle = [&](const WatchEvent& e) {
    names.push_back(
        absl::StrCat(WatchDecoder::TypeName(e.type), " ",
                     e.object["metadata"]["name"].get<std::string>()));
  };
  // Chunks cut anywhere, here in the middle of both events.
  ASSERT_TRUE(DecodeStream({stream.substr(0, 20), stream.substr(20, 50),
                            stream.substr(70)},
                           handle)
                  .ok());
  EXPECT_EQ(names, (std::vector<std::string>{"ADDED a", "DELETED a"}));

  names.clear();
  absl::Status cut = DecodeStream({stream.substr(0, 70)}, handle);
  EXPECT_EQ(cut.code(), absl::StatusCode::kInternal) << cut;
  EXPECT_EQ(names, (std::vector<std::string>{"ADDED a"}));
}

}  // namespace
}  // namespace zenlead::client
