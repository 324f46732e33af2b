// A small Prometheus registry: counters, gauges and histograms with labels,
// rendered in the text exposition format 0.0.4 for a /metrics endpoint.
// (Why not prometheus-cpp: see docs/client-runtime.md, "Metrics".)
//
//   Registry registry;
//   absl::StatusOr<CounterFamily*> changes = registry.AddCounter(
//       "zen_lead_leader_changes_total", "Leader changes per pool.", {"pool"});
//   (*changes)->WithLabels({"db"})->Inc();
//   absl::StatusOr<HistogramFamily*> latency = registry.AddHistogram(
//       "zen_lead_reconcile_duration_seconds", "Duration of one reconcile.",
//       {"result"}, LatencyBuckets());
//   (*latency)->WithLabels({"ok"})->Observe(0.042);
//   std::string body = registry.Render();  // serve with kPrometheusContentType
//
// Compiled in header_examples_test.cc.
//
// Families and their children live as long as the registry; the pointers
// returned stay valid, so hot paths look a child up once and keep it.
// Thread-safe.
#ifndef ZEN_LEAD_API_RUNTIME_METRICS_H_
#define ZEN_LEAD_API_RUNTIME_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace zenlead::runtime {

inline constexpr absl::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

class Counter {
 public:
  // Negative increments are ignored: counters only go up.
  void Inc(double v = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // upper_bounds: strictly increasing, finite (the +Inf bucket is implied).
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  struct Snapshot {
    std::vector<double> upper_bounds;
    // Cumulative, one per upper bound, then the +Inf bucket (== count).
    std::vector<uint64_t> cumulative_counts;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // per bucket, +Inf last
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace metrics_internal {
// Per-type pieces of Family<T>::Render, defined in metrics.cc.
absl::string_view TypeName(const Counter*);
absl::string_view TypeName(const Gauge*);
absl::string_view TypeName(const Histogram*);
// labels: rendered pairs without braces ('a="x",b="y"'), may be "".
void RenderSamples(const std::string& name, const std::string& labels,
                   const Counter& c, std::string* out);
void RenderSamples(const std::string& name, const std::string& labels,
                   const Gauge& g, std::string* out);
void RenderSamples(const std::string& name, const std::string& labels,
                   const Histogram& h, std::string* out);
void RenderHeader(const std::string& name, const std::string& help,
                  absl::string_view type, std::string* out);
std::string RenderLabels(const std::vector<std::string>& names,
                         const std::vector<std::string>& values);
void ReportWrongArity(const std::string& name, size_t want, size_t got);
}  // namespace metrics_internal

class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  // Appends HELP, TYPE and every child's samples to *out.
  virtual void Render(std::string* out) const = 0;
};

// The children of one metric name, one per combination of label values.
template <typename T>
class Family : public MetricFamily {
 public:
  Family(std::string name, std::string help,
         std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // The child for these label values (one per label name, in order), created
  // on first use. A wrong number of values is a programming error: it is
  // reported on stderr and the child returned works but is never exported.
  T* WithLabels(const std::vector<std::string>& values) {
    absl::MutexLock lock(&mu_);
    if (values.size() != label_names_.size()) {
      metrics_internal::ReportWrongArity(name_, label_names_.size(),
                                         values.size());
      detached_.push_back(make_());
      return detached_.back().get();
    }
    std::unique_ptr<T>& child = children_[values];
    if (child == nullptr) child = make_();
    return child.get();
  }

  void Render(std::string* out) const override {
    metrics_internal::RenderHeader(
        name_, help_,
        metrics_internal::TypeName(static_cast<const T*>(nullptr)), out);
    absl::MutexLock lock(&mu_);
    for (const auto& [values, child] : children_) {
      metrics_internal::RenderSamples(
          name_, metrics_internal::RenderLabels(label_names_, values), *child,
          out);
    }
  }

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  // Sorted by label values: deterministic output.
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<T>> detached_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// `count` bounds: start, start*factor, start*factor^2...
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// Latency buckets (seconds) for API requests and work items: 1 ms to 60 s.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  // Errors: InvalidArgument for a bad metric or label name (the message says
  // which and why), AlreadyExists for a name registered before.
  absl::StatusOr<CounterFamily*> AddCounter(
      const std::string& name, const std::string& help,
      const std::vector<std::string>& label_names);
  absl::StatusOr<GaugeFamily*> AddGauge(
      const std::string& name, const std::string& help,
      const std::vector<std::string>& label_names);
  absl::StatusOr<HistogramFamily*> AddHistogram(
      const std::string& name, const std::string& help,
      const std::vector<std::string>& label_names,
      const std::vector<double>& upper_bounds);

  // Every family, sorted by name, in the text exposition format 0.0.4.
  std::string Render() const;

 private:
  absl::Status CheckNew(const std::string& name,
                        const std::vector<std::string>& label_names) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  template <typename T>
  absl::StatusOr<Family<T>*> Add(const std::string& name,
                                 const std::string& help,
                                 const std::vector<std::string>& label_names,
                                 std::function<std::unique_ptr<T>()> make);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamily>> families_
      ABSL_GUARDED_BY(mu_);
};

// A sample value as Prometheus writes it: whole numbers up to 2^53 as
// integers ("30", "1000000"), other values as the shortest decimal that reads
// back as the same double ("0.25", "1e-07", "1e+20"), "+Inf", "-Inf", "NaN".
std::string FormatSampleValue(double v);
// Escapes \, " and newline in a label value.
std::string EscapeLabelValue(absl::string_view v);

}  // namespace zenlead::runtime

#endif  // ZEN_LEAD_API_RUNTIME_METRICS_H_
