// Plain request/response structs shared by the protocol layer (JSON) and the engine (no JSON here).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pronto {

struct ContextChunk {
  std::string filename;
  std::string text;
};

// Token budgets for the parts of a FIM prompt (-1 = no budget; the context size still applies).
struct FimBudget {
  int prefix_tokens = -1;  // keep the LAST n tokens of the prefix (cut moved forward to a line start when cheap)
  int suffix_tokens = -1;  // keep the FIRST n tokens of the suffix
  int extra_tokens = -1;   // extra chunks, nearest to the file first, whole chunks only
};

struct FimInput {
  std::string prefix;
  std::string suffix;
  std::string filename;
  std::vector<ContextChunk> extra;
  FimBudget budget;
};

struct ChatMessage {
  std::string role;
  std::string content;
};

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;
  float min_p = 0.0f;
  uint64_t seed = 0;
  bool has_seed = false;
};

struct Limits {
  int max_tokens = 64;
  int64_t time_budget_ms = 0;  // 0 = none
  std::vector<std::string> stop;
  bool stop_at_eol = false;
  bool stop_at_block_end = false;
  bool ignore_eos = false;
};

struct SpeculativeParams {
  bool draft = true;
  bool ngram = true;
};

struct RequestStats {
  int prompt_tokens = 0;
  int reused_tokens = 0;
  int evaluated_tokens = 0;
  int generated_tokens = 0;
  int drafted_tokens = 0;
  int accepted_tokens = 0;
  double t_queue_ms = 0, t_prompt_ms = 0, t_first_token_ms = 0, t_total_ms = 0;
  int decode_steps = 0;        // batched decodes the request took part in
  int steps_after_cancel = 0;  // of those, after its cancel arrived (bounded by 1; 0 if not cancelled)
  int preemptions = 0;         // times it yielded its sequence to a higher class or for KV room
  // Decodes the engine ran (every model, every request) from when the inference thread took the request
  // in to its end: how long it waited in steps, whatever else was decoding (chat on another model).
  int engine_steps = 0;
};

// Where a request's results go. Called from the inference thread; implementations must not block long.
struct Sink {
  virtual ~Sink() = default;
  virtual void on_token(const std::string& id, const std::string& text) = 0;
  virtual void on_done(const std::string& id, const std::string& text, const std::string& finish_reason,
                       const RequestStats& stats) = 0;
  virtual void on_error(const std::string& id, const std::string& code, const std::string& message) = 0;
};

// Scheduling class: interactive completions are decoded ahead of chat, chat ahead of batch work, and
// under KV pressure the lowest class is preempted first.
enum class Priority { kInteractive = 0, kChat = 1, kBatch = 2 };

// What a loaded model is for: --model serves completions (and chat when there is no --chat-model),
// --chat-model serves chat.
enum class ModelPurpose { kCompletion = 0, kChat = 1 };

// Version of the wire protocol (protocol/engine.ts ENGINE_PROTOCOL_VERSION), reported in the ready line
// and /health so the sidecar can refuse a mismatched engine.
constexpr int kProtocolVersion = 2;

// A request as the protocol layer hands it to the engine: already parsed and tokenized.
struct Request {
  std::string id;
  std::vector<int32_t> prompt;  // llama_token
  std::string line_prefix;      // text of the cursor line before the cursor (for stop_at_block_end)
  SamplingParams sampling;
  Limits limits;
  SpeculativeParams spec;
  std::shared_ptr<Sink> sink;
  // Who sent it (derived from the API key by the protocol layer; empty = the only tenant). KV prefix
  // reuse never crosses tenants unless the operator allows it.
  std::string tenant;
  Priority priority = Priority::kInteractive;
  // Which loaded model serves it (the protocol layer resolves the `model` field): the completion model
  // (--model) or the chat model (--chat-model, when the engine has one).
  ModelPurpose model = ModelPurpose::kCompletion;
  std::atomic<bool> cancelled{false};
  int64_t t_submit_us = 0;
  // Decode steps this request took part in (written by the inference thread) and the count when its
  // cancel arrived (-1: not cancelled). Their difference bounds cancellation latency in steps.
  std::atomic<int> decode_steps{0};
  std::atomic<int> steps_at_cancel{-1};
};
using RequestPtr = std::shared_ptr<Request>;

// Thrown by the protocol layer for a request that is wrong; becomes a 4xx / an error event.
struct BadRequest {
  std::string code;  // bad_request | prompt_too_long | unauthorized | not_found | overloaded
  std::string message;
};

}  // namespace pronto
