// Prometheus metrics. Updated from the inference thread, rendered from HTTP threads.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "system_metrics.h"

namespace pronto {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v) {
    std::lock_guard<std::mutex> lock(m_);
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) i++;
    counts_[i]++;
    sum_ += v;
    n_++;
  }
  void render(std::ostringstream& o, const std::string& name, const std::string& help) const {
    std::lock_guard<std::mutex> lock(m_);
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds_.size(); i++) {
      cum += counts_[i];
      o << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cum << "\n";
    }
    cum += counts_.back();
    o << name << "_bucket{le=\"+Inf\"} " << cum << "\n"
      << name << "_sum " << sum_ << "\n"
      << name << "_count " << n_ << "\n";
  }

 private:
  mutable std::mutex m_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t n_ = 0;
};

struct Metrics {
  Histogram ttft{{0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10}};
  Histogram latency{{0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30}};
  Histogram per_token{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
  std::atomic<uint64_t> requests{0}, prompt_evaluated{0}, prompt_reused{0}, generated{0}, drafted{0}, accepted{0},
      cancellations{0}, evictions{0}, preemptions{0}, admission_waits{0}, queue_timeouts{0};
  std::atomic<int64_t> queue_depth{0};  // requests waiting for a sequence or KV room
  std::mutex errors_mutex;
  std::map<std::string, uint64_t> errors;

  void error(const std::string& kind) {
    std::lock_guard<std::mutex> lock(errors_mutex);
    errors[kind]++;
  }

  std::string render(double kv_usage, int busy, int n_parallel, int models_loaded) {
    std::ostringstream o;
    ttft.render(o, "pronto_time_to_first_token_seconds", "Time from submit to the first generated token.");
    latency.render(o, "pronto_request_latency_seconds", "Time from submit to the final event.");
    per_token.render(o, "pronto_per_token_latency_seconds", "Time between generated tokens.");
    auto counter = [&](const char* name, const char* help, uint64_t v) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n" << name << " " << v << "\n";
    };
    counter("pronto_requests_total", "Requests finished.", requests.load());
    counter("pronto_prompt_tokens_evaluated_total", "Prompt tokens evaluated.", prompt_evaluated.load());
    counter("pronto_prompt_tokens_reused_total", "Prompt tokens reused from the KV cache.", prompt_reused.load());
    counter("pronto_generated_tokens_total", "Tokens generated.", generated.load());
    counter("pronto_drafted_tokens_total", "Speculative tokens drafted.", drafted.load());
    counter("pronto_accepted_tokens_total", "Speculative tokens accepted.", accepted.load());
    counter("pronto_cancellations_total", "Requests cancelled.", cancellations.load());
    counter("pronto_kv_evictions_total", "Idle sequences evicted from the KV cache for room.", evictions.load());
    counter("pronto_preemptions_total",
            "Running requests that yielded their sequence (to a higher priority, or for KV room) and resumed later.",
            preemptions.load());
    counter("pronto_admission_waits_total", "Requests that had to wait for a free sequence or KV room.",
            admission_waits.load());
    counter("pronto_queue_timeouts_total", "Requests whose time budget ran out while they waited.",
            queue_timeouts.load());
    o << "# HELP pronto_errors_total Errors by kind.\n# TYPE pronto_errors_total counter\n";
    {
      std::lock_guard<std::mutex> lock(errors_mutex);
      for (const char* k : {"bad_request", "unauthorized", "not_found", "prompt_too_long", "overloaded", "internal"})
        if (!errors.count(k)) errors[k] = 0;
      for (auto& [k, v] : errors) o << "pronto_errors_total{kind=\"" << k << "\"} " << v << "\n";
    }
    auto gauge = [&](const char* name, const char* help, double v) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << v << "\n";
    };
    gauge("pronto_kv_cache_usage_ratio", "Share of KV cells held by resident sequences.", kv_usage);
    gauge("pronto_busy_sequences", "Sequences decoding a request.", busy);
    gauge("pronto_sequences", "Sequences in the context (--parallel).", n_parallel);
    gauge("pronto_models_loaded", "Models loaded (target and draft).", models_loaded);
    gauge("pronto_queue_depth", "Requests waiting for a free sequence or KV room.",
          static_cast<double>(queue_depth.load()));
    render_system_metrics(o);  // GPU, CPU and memory figures (system_metrics.h)
    return o.str();
  }
};

// The network side (native/src/net/): open connections, refusals, dropped clients, timeouts. Updated
// from the I/O and worker threads; appended to /metrics after the engine's own series.
struct NetMetrics {
  std::atomic<int64_t> http_open{0}, ws_open{0}, http_in_flight{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused_limit{0}, refused_host{0}, refused_origin{0};
  std::atomic<uint64_t> dropped_queue_full{0}, dropped_write_timeout{0};
  std::atomic<uint64_t> timeout_header{0}, timeout_body{0}, timeout_ws_idle{0};
  std::atomic<uint64_t> http_client_gone{0};

  std::string render() const {
    std::ostringstream o;
    o << "# HELP pronto_connections_open Client connections open, by protocol.\n"
         "# TYPE pronto_connections_open gauge\n"
      << "pronto_connections_open{kind=\"http\"} " << http_open.load() << "\n"
      << "pronto_connections_open{kind=\"websocket\"} " << ws_open.load() << "\n";
    o << "# HELP pronto_connections_accepted_total Client connections accepted.\n"
         "# TYPE pronto_connections_accepted_total counter\n"
      << "pronto_connections_accepted_total " << accepted.load() << "\n";
    o << "# HELP pronto_connections_refused_total Connections refused: over --max-connections, or a Host or "
         "Origin a web page would send.\n"
         "# TYPE pronto_connections_refused_total counter\n"
      << "pronto_connections_refused_total{reason=\"limit\"} " << refused_limit.load() << "\n"
      << "pronto_connections_refused_total{reason=\"host\"} " << refused_host.load() << "\n"
      << "pronto_connections_refused_total{reason=\"origin\"} " << refused_origin.load() << "\n";
    o << "# HELP pronto_clients_dropped_total Clients dropped for not reading what they asked for (their requests "
         "cancelled).\n"
         "# TYPE pronto_clients_dropped_total counter\n"
      << "pronto_clients_dropped_total{reason=\"queue_full\"} " << dropped_queue_full.load() << "\n"
      << "pronto_clients_dropped_total{reason=\"write_timeout\"} " << dropped_write_timeout.load() << "\n";
    o << "# HELP pronto_connections_timed_out_total Connections closed by a deadline: request header or body too "
         "slow, or a silent WebSocket.\n"
         "# TYPE pronto_connections_timed_out_total counter\n"
      << "pronto_connections_timed_out_total{phase=\"header\"} " << timeout_header.load() << "\n"
      << "pronto_connections_timed_out_total{phase=\"body\"} " << timeout_body.load() << "\n"
      << "pronto_connections_timed_out_total{phase=\"websocket_idle\"} " << timeout_ws_idle.load() << "\n";
    o << "# HELP pronto_http_completions_in_flight HTTP completion requests submitted to the engine and not "
         "finished.\n"
         "# TYPE pronto_http_completions_in_flight gauge\n"
      << "pronto_http_completions_in_flight " << http_in_flight.load() << "\n";
    o << "# HELP pronto_http_clients_gone_total HTTP clients that disconnected before their completion ended "
         "(the generation was cancelled).\n"
         "# TYPE pronto_http_clients_gone_total counter\n"
      << "pronto_http_clients_gone_total " << http_client_gone.load() << "\n";
    return o.str();
  }
};

}  // namespace pronto
