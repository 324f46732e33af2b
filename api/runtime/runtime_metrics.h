// The client runtime's Prometheus metrics (metrics.h), registered once per
// Registry:
//
//   zen_lead_api_requests_total{verb,resource,code}        every HTTP attempt
//   zen_lead_api_request_errors_total{verb,resource,code}  attempts with no
//       response (code "none") or a 4xx/5xx answer
//   zen_lead_api_request_duration_seconds{verb,resource}   latency, watches
//       excluded (a watch lasts minutes by design)
//   zen_lead_workqueue_depth{name}, zen_lead_workqueue_adds_total{name},
//   zen_lead_workqueue_retries_total{name},
//   zen_lead_workqueue_queue_duration_seconds{name} (add to Get),
//   zen_lead_workqueue_work_duration_seconds{name} (Get to Done)
//
//   Registry registry;
//   ASSIGN_OR_RETURN(RequestObserver observer, NewRequestMetrics(&registry));
//   RestClientOptions options;
//   options.observer = observer;
//   ASSIGN_OR_RETURN(std::unique_ptr<WorkQueueMetricFamilies> queues,
//                    WorkQueueMetricFamilies::Create(&registry));
//   std::unique_ptr<WorkQueueMetrics> m = queues->ForQueue("trafficdirector");
//   WorkQueueOptions queue_options;
//   queue_options.metrics = m.get();
//
// Compiled in header_examples_test.cc.
#ifndef ZEN_LEAD_API_RUNTIME_RUNTIME_METRICS_H_
#define ZEN_LEAD_API_RUNTIME_RUNTIME_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "api/client/rest_client.h"
#include "api/runtime/metrics.h"
#include "api/runtime/workqueue.h"

namespace zenlead::runtime {

// Registers the API request families in *registry (which must outlive the
// observer) and returns the RestClientOptions::observer that feeds them.
absl::StatusOr<client::RequestObserver> NewRequestMetrics(Registry* registry);

class WorkQueueMetricFamilies {
 public:
  // Registers the work queue families in *registry (which must outlive
  // this object and every WorkQueueMetrics it makes).
  static absl::StatusOr<std::unique_ptr<WorkQueueMetricFamilies>> Create(
      Registry* registry);

  // The metrics of one queue, labelled name=`queue`.
  std::unique_ptr<WorkQueueMetrics> ForQueue(const std::string& queue) const;

 private:
  WorkQueueMetricFamilies() = default;
  GaugeFamily* depth_ = nullptr;
  CounterFamily* adds_ = nullptr;
  CounterFamily* retries_ = nullptr;
  HistogramFamily* queue_duration_ = nullptr;
  HistogramFamily* work_duration_ = nullptr;
};

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_RUNTIME_METRICS_H_
