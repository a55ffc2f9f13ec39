// Bodies of the HTTP API's replies: /health, /v1/models, /metrics, /tokenize and the OpenAI-compatible
// completion shapes (one JSON reply, or SSE chunks). JSON text comes from protocol_json's builders;
// the sessions only move the bytes.
#pragma once
#include <string>

#include "engine.h"
#include "metrics.h"
#include "net/outbox.h"

namespace pronto::net {

std::string health_body(const Engine& engine);
std::string models_body(const Engine& engine);
std::string metrics_body(Engine& engine, const NetMetrics& net);
// Parses a /tokenize body and tokenizes it (CPU-heavy for a large body: run on a worker). Throws BadRequest.
std::string tokenize_body(const Engine& engine, const std::string& request_body);
std::string error_body_text(const std::string& code, const std::string& message);

// HTTP status for an error code (the one mapping of the layer).
unsigned status_for(const std::string& code);

// The OpenAI shapes of one completion request.
class OpenAiReply {
 public:
  OpenAiReply(std::string id, bool chat, std::string model, long created)
      : id_(std::move(id)), chat_(chat), model_(std::move(model)), created_(created) {}
  // Non-streamed: the whole reply for the final event (done).
  std::string whole(const OutEvent& done) const;
  // Streamed (SSE): the opening chunk (chat: the assistant role), one chunk per token event, and the
  // end (finish reason + usage + [DONE], or an error + [DONE]).
  std::string sse_open() const;
  std::string sse_event(const OutEvent& e) const;

 private:
  std::string chunk(const std::string& delta_or_text, bool is_json_delta, const char* finish) const;
  std::string id_;
  bool chat_;
  std::string model_;
  long created_;
};

}  // namespace pronto::net
