// An open-loop HTTPS load generator for the admission webhook benchmark
// (e2e/bench/webhook_bench.cc): AdmissionReviews POSTed at a fixed rate over
// kept-alive TLS connections, each request timed from the moment the
// schedule says it should leave, not from when a connection was free to
// send it. A server that stalls therefore shows every request it delayed
// (no coordinated omission), as the API server's callers would see them;
// a closed-loop generator (wrk, or h2load's --rps, which times from the
// actual send) reports one slow request instead.
//
// Request i of a run leaves at start + i / rate on whichever connection is
// free; with all connections busy it waits, and that wait is part of its
// latency. Every occurrence of kIdToken in the body is replaced by
// RequestId(i), so each review carries its own uid (RequestUid(i)) and
// CheckAnswer can tell a response to another request from its own.
//
//   LoadOptions load;
//   load.port = server->port();
//   load.ca_file = "/tmp/ca.crt";   // the CA the server's certificate is from
//   load.path = webhook::kPodsPath;
//   load.body = ReviewTemplate(webhook::PodsRoute(),
//   k8s::PodClient::Resource(),
//                              k8s::AdmissionRequest::kOperationCREATE, "shop",
//                              "", pod.ToJson());
//   load.rate = 1000;
//   load.duration = absl::Seconds(10);
//   absl::StatusOr<LoadRun> run = RunOpenLoop(load);
//   for (size_t i = 0; i < run->samples.size(); ++i) {
//     absl::Status answer = CheckAnswer(run->samples[i], i, true);
//   }
//   LatencySummary s = Summarize(LatenciesMs(run->samples));  // s.p99 ...
//
// Compiled in webhook_load_test.cc.
#ifndef ZEN_LEAD_E2E_BENCH_WEBHOOK_LOAD_H_
#define ZEN_LEAD_E2E_BENCH_WEBHOOK_LOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/client/client.h"
#include "api/types/admissionreview.h"
#include "nlohmann/json.hpp"
#include "webhook/admission_review.h"

namespace zenlead::bench {

// Replaced in a request body by RequestId(i); as long as the id, so a body
// keeps its length.
inline constexpr char kIdToken[] = "@@@@@@@@@@@@";
inline constexpr size_t kIdTokenSize = sizeof(kIdToken) - 1;

// Twelve lowercase hex digits: valid in a uid and in an object's name.
std::string RequestId(int64_t index);
// The uid ReviewTemplate gives request `index`.
std::string RequestUid(int64_t index);

// An AdmissionReview as the API server sends it (admission.k8s.io/v1,
// request with kind, resource, requestKind, requestResource, userInfo,
// options, dryRun false) for `object`, its uid ending in kIdToken. `name`
// may contain kIdToken too (and so may the object).
std::string ReviewTemplate(const webhook::RouteSpec& route,
                           const client::Resource& resource,
                           const std::string& operation, const std::string& ns,
                           const std::string& name,
                           const nlohmann::json& object);

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  // PEM file of the CA the server's certificate chains to; the server's
  // certificate is verified (and its IP or DNS name against `host`), as the
  // API server verifies it against the caBundle.
  std::string ca_file;
  std::string path;
  // The request body (application/json), with kIdToken where each
  // request's id goes.
  std::string body;
  double rate = 1000;  // requests per second
  absl::Duration duration = absl::Seconds(10);
  // Kept-alive connections, opened (and used once each) before the clock
  // starts, as the API server's are already open; a connection the server
  // closes is reopened by the next request on it, inside its latency.
  int connections = 16;
  // A request not answered by then is an error (status -1).
  absl::Duration timeout = absl::Seconds(3);
};

struct Sample {
  double scheduled_ms = 0;  // when it should leave, since the run's start
  double send_lag_ms = 0;   // how much later it left (a busy connection)
  double latency_ms = 0;    // answer received - scheduled
  int status = -1;          // HTTP status; -1: no answer (connection, TLS)
  std::string body;         // the answer
  std::string error;        // why there was no answer
};

struct LoadRun {
  std::vector<Sample> samples;  // request i at index i
  absl::Duration elapsed;       // start of the schedule to the last answer
};

// InvalidArgument for options that cannot run (no port, rate or duration,
// no connections); Unavailable when a connection cannot be opened before
// the start. Errors of single requests are in their samples.
absl::StatusOr<LoadRun> RunOpenLoop(const LoadOptions& options);

// OK when the sample is HTTP 200 with an AdmissionReview answering request
// `index` (its uid) with response.allowed == want_allowed; otherwise an
// error saying what came instead.
absl::Status CheckAnswer(const Sample& sample, int64_t index,
                         bool want_allowed);

std::vector<double> LatenciesMs(const std::vector<Sample>& samples);

struct LatencySummary {
  size_t n = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};
// Quantile q is the sorted sample at round(q * (n - 1)), the rule
// plot_webhook.sh uses, so printed figures and pictures agree.
LatencySummary Summarize(std::vector<double> values);
// "n=... mean=...ms p50=...ms p90 p99 p99.9 max".
std::string Format(const LatencySummary& s);

}  // namespace zenlead::bench

#endif  // ZEN_LEAD_E2E_BENCH_WEBHOOK_LOAD_H_
