#include "api/runtime/runtime_metrics.h"

#include <utility>

#include "api/client/status_macros.h"

namespace zenlead::runtime {
namespace {

class QueueMetrics : public WorkQueueMetrics {
 public:
  QueueMetrics(Gauge* depth, Counter* adds, Counter* retries,
               Histogram* queue_duration, Histogram* work_duration)
      : depth_(depth),
        adds_(adds),
        retries_(retries),
        queue_duration_(queue_duration),
        work_duration_(work_duration) {}

  void SetDepth(int64_t depth) override {
    depth_->Set(static_cast<double>(depth));
  }
  void IncAdds() override { adds_->Inc(); }
  void IncRetries() override { retries_->Inc(); }
  void ObserveQueueLatency(absl::Duration d) override {
    queue_duration_->ObserveDuration(d);
  }
  void ObserveWorkDuration(absl::Duration d) override {
    work_duration_->ObserveDuration(d);
  }

 private:
  Gauge* const depth_;
  Counter* const adds_;
  Counter* const retries_;
  Histogram* const queue_duration_;
  Histogram* const work_duration_;
};

}  // namespace

absl::StatusOr<client::RequestObserver> NewRequestMetrics(Registry* registry) {
  ASSIGN_OR_RETURN(
      CounterFamily * requests,
      registry->AddCounter("zen_lead_api_requests_total",
                           "Kubernetes API requests (HTTP attempts) by verb, "
                           "resource and HTTP code (\"none\": no response).",
                           {"verb", "resource", "code"}));
  ASSIGN_OR_RETURN(
      CounterFamily * errors,
      registry->AddCounter("zen_lead_api_request_errors_total",
                           "Kubernetes API requests that got no response "
                           "(code \"none\") or a 4xx/5xx answer.",
                           {"verb", "resource", "code"}));
  ASSIGN_OR_RETURN(
      HistogramFamily * latency,
      registry->AddHistogram("zen_lead_api_request_duration_seconds",
                             "Kubernetes API request latency in seconds "
                             "(watches excluded).",
                             {"verb", "resource"}, LatencyBuckets()));
  return client::RequestObserver(
      [requests, errors, latency](const client::RequestRecord& r) {
        const std::string code =
            r.http_code == 0 ? "none" : std::to_string(r.http_code);
        requests->WithLabels({r.verb, r.resource, code})->Inc();
        if (r.http_code == 0 || r.http_code >= 400) {
          errors->WithLabels({r.verb, r.resource, code})->Inc();
        }
        if (r.verb != "watch") {
          latency->WithLabels({r.verb, r.resource})->ObserveDuration(r.latency);
        }
      });
}

absl::StatusOr<std::unique_ptr<WorkQueueMetricFamilies>>
WorkQueueMetricFamilies::Create(Registry* registry) {
  std::unique_ptr<WorkQueueMetricFamilies> f(new WorkQueueMetricFamilies());
  ASSIGN_OR_RETURN(
      f->depth_, registry->AddGauge("zen_lead_workqueue_depth",
                                    "Keys waiting in a work queue.", {"name"}));
  ASSIGN_OR_RETURN(
      f->adds_, registry->AddCounter("zen_lead_workqueue_adds_total",
                                     "Keys added to a work queue.", {"name"}));
  ASSIGN_OR_RETURN(f->retries_,
                   registry->AddCounter(
                       "zen_lead_workqueue_retries_total",
                       "Keys re-added through the rate limiter.", {"name"}));
  ASSIGN_OR_RETURN(
      f->queue_duration_,
      registry->AddHistogram("zen_lead_workqueue_queue_duration_seconds",
                             "Seconds a key waited in a work queue before a "
                             "worker took it.",
                             {"name"}, LatencyBuckets()));
  ASSIGN_OR_RETURN(
      f->work_duration_,
      registry->AddHistogram("zen_lead_workqueue_work_duration_seconds",
                             "Seconds a worker spent on a key.", {"name"},
                             LatencyBuckets()));
  return f;
}

std::unique_ptr<WorkQueueMetrics> WorkQueueMetricFamilies::ForQueue(
    const std::string& queue) const {
  return std::make_unique<QueueMetrics>(
      depth_->WithLabels({queue}), adds_->WithLabels({queue}),
      retries_->WithLabels({queue}), queue_duration_->WithLabels({queue}),
      work_duration_->WithLabels({queue}));
}

}  // namespace zenlead::runtime
