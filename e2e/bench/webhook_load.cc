#include "e2e/bench/webhook_load.h"

#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <numeric>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "httplib.h"

namespace zenlead::bench {
namespace {

using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Sleeps until `when` on CLOCK_MONOTONIC (steady_clock's clock on Linux),
// to the microsecond: the thread's timer slack is 1 ns (SetTimerSlack).
void SleepUntil(Clock::time_point when) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      when.time_since_epoch())
                      .count();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) ==
         EINTR) {
  }
}

// Linux lets a sleeping thread wake up to 50 us late by default, which
// would show up in every latency measured from the schedule.
void SetTimerSlack() { prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); }

// The body with every kIdToken replaced by the request's id.
class BodyTemplate {
 public:
  explicit BodyTemplate(std::string body) : body_(std::move(body)) {
    for (size_t at = body_.find(kIdToken); at != std::string::npos;
         at = body_.find(kIdToken, at + kIdTokenSize)) {
      offsets_.push_back(at);
    }
  }
  std::string For(int64_t index) const {
    std::string out = body_;
    const std::string id = RequestId(index);
    for (size_t at : offsets_) out.replace(at, id.size(), id);
    return out;
  }

 private:
  std::string body_;
  std::vector<size_t> offsets_;
};

std::unique_ptr<httplib::SSLClient> NewConnection(const LoadOptions& o) {
  auto c = std::make_unique<httplib::SSLClient>(o.host, o.port);
  c->set_ca_cert_path(o.ca_file);
  c->enable_server_certificate_verification(true);
  c->set_keep_alive(true);
  // As the API server's Go client: no Nagle delay on small writes.
  c->set_tcp_nodelay(true);
  const auto seconds = absl::ToInt64Seconds(o.timeout);
  const auto usec = absl::ToInt64Microseconds(o.timeout) % 1000000;
  c->set_connection_timeout(seconds, usec);
  c->set_read_timeout(seconds, usec);
  c->set_write_timeout(seconds, usec);
  return c;
}

// One POST; fills status, body and error of `s`.
void Send(httplib::SSLClient& c, const LoadOptions& o, const std::string& body,
          Sample& s) {
  static const httplib::Headers kHeaders = {{"Accept", "application/json"}};
  httplib::Result r = c.Post(o.path, kHeaders, body, "application/json");
  if (r) {
    s.status = r->status;
    s.body = std::move(r->body);
  } else {
    s.status = -1;
    s.error = httplib::to_string(r.error());
  }
}

}  // namespace

std::string RequestId(int64_t index) {
  return absl::StrFormat("%012x", static_cast<uint64_t>(index));
}

std::string RequestUid(int64_t index) {
  return absl::StrCat("5e0c0c1a-0000-4000-8000-", RequestId(index));
}

std::string ReviewTemplate(const webhook::RouteSpec& route,
                           const client::Resource& resource,
                           const std::string& operation, const std::string& ns,
                           const std::string& name,
                           const nlohmann::json& object) {
  k8s::AdmissionRequest request;
  request.uid = absl::StrCat("5e0c0c1a-0000-4000-8000-", kIdToken);
  request.kind = route.kind;
  request.resource.group = resource.group;
  request.resource.version = resource.version;
  request.resource.resource = resource.resource;
  request.request_kind = request.kind;
  request.request_resource = request.resource;
  if (!name.empty()) request.name = name;
  request.namespace_field = ns;
  request.operation = operation;
  k8s::UserInfo user;
  user.username = "system:serviceaccount:kube-system:replicaset-controller";
  user.uid = "2f1c0a52-7d5e-4c47-9a43-0c3f1c1e8e10";
  user.groups = {"system:serviceaccounts", "system:serviceaccounts:kube-system",
                 "system:authenticated"};
  request.user_info = user;
  request.object = object;
  request.dry_run = false;
  request.options = {{"kind", "CreateOptions"},
                     {"apiVersion", "meta.k8s.io/v1"}};
  k8s::AdmissionReview review;
  review.api_version = k8s::AdmissionReview::kApiVersion;
  review.kind = k8s::AdmissionReview::kKind;
  review.request = std::move(request);
  return webhook::DumpJson(review.ToJson());
}

absl::StatusOr<LoadRun> RunOpenLoop(const LoadOptions& o) {
  if (o.port <= 0 || o.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port: must be 1..65535, got ", o.port));
  }
  if (!(o.rate > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate: must be positive, got ", o.rate));
  }
  if (o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("duration: must be positive");
  }
  if (o.connections < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("connections: must be 1 or more, got ", o.connections));
  }
  const auto total = static_cast<int64_t>(
      std::llround(o.rate * absl::ToDoubleSeconds(o.duration)));
  if (total < 1) {
    return absl::InvalidArgumentError("rate x duration: less than one request");
  }
  const BodyTemplate body(o.body);
  const double period_ns = 1e9 / o.rate;

  LoadRun run;
  run.samples.resize(static_cast<size_t>(total));
  std::atomic<int64_t> next{0};
  absl::Mutex mu;
  int warmed = 0;
  std::string warm_error;
  absl::Notification go;
  Clock::time_point start;  // written before go.Notify()

  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(o.connections));
  for (int k = 0; k < o.connections; ++k) {
    workers.emplace_back([&, k] {
      SetTimerSlack();
      std::unique_ptr<httplib::SSLClient> c = NewConnection(o);
      // The connection's handshake, before the clock starts; ids past the
      // run's, so no answer is mistaken for a measured one.
      Sample warm;
      Send(*c, o, body.For(total + k), warm);
      {
        absl::MutexLock lock(&mu);
        if (warm.status != 200 && warm_error.empty()) {
          warm_error =
              warm.status < 0 ? warm.error : absl::StrCat("HTTP ", warm.status);
        }
        ++warmed;
      }
      go.WaitForNotification();
      if (!warm_error.empty()) return;
      for (int64_t i = next++; i < total; i = next++) {
        const Clock::time_point when =
            start + std::chrono::nanoseconds(static_cast<int64_t>(
                        std::llround(static_cast<double>(i) * period_ns)));
        SleepUntil(when);
        const Clock::time_point sent = Clock::now();
        Sample& s = run.samples[static_cast<size_t>(i)];
        Send(*c, o, body.For(i), s);
        const Clock::time_point done = Clock::now();
        s.scheduled_ms = MsBetween(start, when);
        s.send_lag_ms = MsBetween(when, sent);
        s.latency_ms = MsBetween(when, done);
      }
    });
  }
  {
    absl::MutexLock lock(&mu);
    struct Warmed {
      const int* warmed;
      int want;
      bool Done() const { return *warmed == want; }
    } all{&warmed, o.connections};
    mu.Await(absl::Condition(&all, &Warmed::Done));
    // A few milliseconds ahead, so request 0 is not late by construction.
    start = Clock::now() + std::chrono::milliseconds(5);
  }
  go.Notify();
  for (std::thread& t : workers) t.join();
  if (!warm_error.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot open a connection to https://", o.host, ":",
                     o.port, o.path, ": ", warm_error));
  }
  const Sample& last = *std::max_element(
      run.samples.begin(), run.samples.end(),
      [](const Sample& a, const Sample& b) {
        return a.scheduled_ms + a.latency_ms < b.scheduled_ms + b.latency_ms;
      });
  run.elapsed = absl::Microseconds(
      std::llround((last.scheduled_ms + last.latency_ms) * 1000));
  return run;
}

absl::Status CheckAnswer(const Sample& s, int64_t index, bool want_allowed) {
  if (s.status < 0) return absl::UnavailableError(s.error);
  if (s.status != 200) {
    return absl::InternalError(
        absl::StrCat("HTTP ", s.status, ": ", s.body.substr(0, 200)));
  }
  nlohmann::json parsed =
      nlohmann::json::parse(s.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InternalError("the answer is not JSON");
  }
  absl::StatusOr<k8s::AdmissionReview> review =
      k8s::AdmissionReview::FromJson(parsed);
  if (!review.ok()) return review.status();
  if (!review->response.has_value()) {
    return absl::InternalError("the answer has no response");
  }
  const k8s::AdmissionResponse& r = *review->response;
  if (r.uid != RequestUid(index)) {
    return absl::InternalError(absl::StrCat("the answer is for uid ", r.uid,
                                            ", not ", RequestUid(index)));
  }
  if (r.allowed != want_allowed) {
    return absl::InternalError(
        absl::StrCat(r.allowed ? "allowed" : "denied", ": ",
                     r.status.has_value() && r.status->message.has_value()
                         ? *r.status->message
                         : std::string("(no message)")));
  }
  return absl::OkStatus();
}

std::vector<double> LatenciesMs(const std::vector<Sample>& samples) {
  std::vector<double> out;
  out.reserve(samples.size());
  for (const Sample& s : samples) out.push_back(s.latency_ms);
  return out;
}

LatencySummary Summarize(std::vector<double> v) {
  LatencySummary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&v](double q) {
    const auto i =
        static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)));
    return v[std::min(i, v.size() - 1)];
  };
  s.mean =
      std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  s.p50 = at(0.5);
  s.p90 = at(0.9);
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  s.max = v.back();
  return s;
}

std::string Format(const LatencySummary& s) {
  return absl::StrFormat(
      "n=%d mean=%.3fms p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms "
      "max=%.3fms",
      s.n, s.mean, s.p50, s.p90, s.p99, s.p999, s.max);
}

}  // namespace zenlead::bench
