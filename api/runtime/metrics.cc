#include "api/runtime/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace zenlead::runtime {
namespace {

void AtomicAdd(std::atomic<double>& target, double v) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + v,
                                       std::memory_order_relaxed)) {
  }
}

bool IsMetricNameChar(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
      c == ':') {
    return true;
  }
  return !first && c >= '0' && c <= '9';
}

bool IsLabelNameChar(char c, bool first) {
  return c != ':' && IsMetricNameChar(c, first);
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string WithLabel(const std::string& labels, absl::string_view extra) {
  if (labels.empty()) return absl::StrCat("{", extra, "}");
  return absl::StrCat("{", labels, ",", extra, "}");
}

std::string Braced(const std::string& labels) {
  return labels.empty() ? "" : absl::StrCat("{", labels, "}");
}

}  // namespace

void Counter::Inc(double v) {
  if (!(v >= 0)) return;  // also rejects NaN
  AtomicAdd(value_, v);
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  // The first bucket whose upper bound is >= v ("le": less or equal).
  size_t i = 0;
  while (i < upper_bounds_.size() && v > upper_bounds_[i]) ++i;
  absl::MutexLock lock(&mu_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  absl::MutexLock lock(&mu_);
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    s.cumulative_counts.push_back(running);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::string FormatSampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Whole numbers as integers: the shortest %g writes 30 as "3e+01", which
  // parsers accept but people reading /metrics (and greps) do not expect.
  // Up to 2^53 every integer is exact; beyond it %g is shorter and exact.
  if (v == std::trunc(v) && std::fabs(v) <= 9007199254740992.0) {
    return absl::StrFormat("%.0f", v == 0 ? 0.0 : v);  // no "-0"
  }
  // Otherwise the shortest %g that reads back as the same double.
  for (int precision = 1; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(text.c_str(), nullptr) == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

std::string EscapeLabelValue(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace metrics_internal {

absl::string_view TypeName(const Counter*) { return "counter"; }
absl::string_view TypeName(const Gauge*) { return "gauge"; }
absl::string_view TypeName(const Histogram*) { return "histogram"; }

void RenderHeader(const std::string& name, const std::string& help,
                  absl::string_view type, std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ", EscapeHelp(help), "\n", "# TYPE ",
                  name, " ", type, "\n");
}

std::string RenderLabels(const std::vector<std::string>& names,
                         const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", names[i], "=\"",
                    EscapeLabelValue(values[i]), "\"");
  }
  return out;
}

void RenderSamples(const std::string& name, const std::string& labels,
                   const Counter& c, std::string* out) {
  absl::StrAppend(out, name, Braced(labels), " ", FormatSampleValue(c.Value()),
                  "\n");
}

void RenderSamples(const std::string& name, const std::string& labels,
                   const Gauge& g, std::string* out) {
  absl::StrAppend(out, name, Braced(labels), " ", FormatSampleValue(g.Value()),
                  "\n");
}

void RenderSamples(const std::string& name, const std::string& labels,
                   const Histogram& h, std::string* out) {
  const Histogram::Snapshot s = h.Read();
  for (size_t i = 0; i < s.cumulative_counts.size(); ++i) {
    const std::string le = i < s.upper_bounds.size()
                               ? FormatSampleValue(s.upper_bounds[i])
                               : "+Inf";
    absl::StrAppend(out, name, "_bucket",
                    WithLabel(labels, absl::StrCat("le=\"", le, "\"")), " ",
                    s.cumulative_counts[i], "\n");
  }
  absl::StrAppend(out, name, "_sum", Braced(labels), " ",
                  FormatSampleValue(s.sum), "\n", name, "_count",
                  Braced(labels), " ", s.count, "\n");
}

void ReportWrongArity(const std::string& name, size_t want, size_t got) {
  ABSL_RAW_LOG(ERROR,
               "metric %s: %zu label value(s) given, %zu expected; the sample "
               "is not exported",
               name.c_str(), got, want);
}

}  // namespace metrics_internal

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
          0.5,   1,      2.5,   5,    10,    30,   60};
}

absl::Status Registry::CheckNew(
    const std::string& name,
    const std::vector<std::string>& label_names) const {
  if (name.empty()) return absl::InvalidArgumentError("metric name is empty");
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsMetricNameChar(name[i], i == 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric name \"", name, "\" must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
    }
  }
  if (families_.count(name) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("metric \"", name, "\" is already registered"));
  }
  std::set<std::string> seen;
  for (const std::string& label : label_names) {
    bool valid = !label.empty() && label.rfind("__", 0) != 0;
    for (size_t i = 0; valid && i < label.size(); ++i) {
      valid = IsLabelNameChar(label[i], i == 0);
    }
    if (!valid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric \"", name, "\": label name \"", label,
          "\" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"));
    }
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric \"", name, "\": label \"", label, "\" appears twice"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<Family<T>*> Registry::Add(
    const std::string& name, const std::string& help,
    const std::vector<std::string>& label_names,
    std::function<std::unique_ptr<T>()> make) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckNew(name, label_names); !s.ok()) return s;
  auto family =
      std::make_unique<Family<T>>(name, help, label_names, std::move(make));
  Family<T>* raw = family.get();
  families_[name] = std::move(family);
  return raw;
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(
    const std::string& name, const std::string& help,
    const std::vector<std::string>& label_names) {
  return Add<Counter>(name, help, label_names,
                      [] { return std::make_unique<Counter>(); });
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(
    const std::string& name, const std::string& help,
    const std::vector<std::string>& label_names) {
  return Add<Gauge>(name, help, label_names,
                    [] { return std::make_unique<Gauge>(); });
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(
    const std::string& name, const std::string& help,
    const std::vector<std::string>& label_names,
    const std::vector<double>& upper_bounds) {
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) ||
        (i > 0 && upper_bounds[i] <= upper_bounds[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram \"", name,
          "\": bucket bounds must be finite and strictly increasing"));
    }
  }
  for (const std::string& label : label_names) {
    if (label == "le") {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram \"", name, "\": \"le\" is reserved for buckets"));
    }
  }
  return Add<Histogram>(name, help, label_names, [upper_bounds] {
    return std::make_unique<Histogram>(upper_bounds);
  });
}

std::string Registry::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) family->Render(&out);
  return out;
}

}  // namespace zenlead::runtime
