// The engine: one llama.cpp model + context, several sequences in it, ONE inference thread fed by a
// queue. The protocol layer (protocol_json.cpp, http_server.cpp) turns JSON into `Request`s and hands
// them over with submit(); results come back through each request's `Sink`.
#pragma once
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "llama.h"
#include "metrics.h"
#include "types.h"

namespace pronto {

struct LlamaModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct LlamaContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
using ModelPtr = std::unique_ptr<llama_model, LlamaModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, LlamaContextDeleter>;

struct EngineOptions {
  std::string model_path;
  std::string draft_model_path;
  int gpu_layers = -1;  // -1 = all when a GPU is present
  int n_ctx = 4096;
  int n_parallel = 4;
  int n_threads = 0;  // 0 = hardware concurrency
  int n_batch = 512;
  int cache_reuse = 32;  // min chunk for reuse with position shift, 0 = off
  // KV cache element type: auto (default: q8_0 for head sizes divisible by 64, else f16), q8_0 or f16.
  // q8_0: half the memory, balanced CPU attention with several long sequences resident. Why: load().
  std::string kv_type = "auto";
  std::string fim_order = "spm";  // spm (reuse-friendly, default) | psm
};

struct ModelInfo {
  std::string path, name, arch;
  uint64_t n_params = 0, size_bytes = 0;
  int n_ctx_train = 0, n_vocab = 0;
};

struct DeviceInfo {
  std::string name, type;
  size_t memory_free = 0, memory_total = 0;
};

struct FimInfo {
  bool supported = false, repo_level = false;
  std::string order = "spm";
};

// Prompt tokens whose KV entries were kept (and moved) by chunk reuse, beyond the common prefix.
struct KeptChunk {
  size_t pos;
  std::vector<llama_token> tokens;
};

// Output of the pure prompt builders.
struct BuiltPrompt {
  std::vector<llama_token> tokens;
  std::string line_prefix;
};

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads the model(s) and creates the context. On failure returns false with a message.
  bool load(const EngineOptions& opts, std::string& error);
  void start();
  void stop();

  // Thread-safe. Tokenizes with the target vocabulary.
  std::vector<llama_token> tokenize(const std::string& text, bool add_special, bool parse_special) const;
  std::string token_piece(llama_token t) const;
  BuiltPrompt build_fim(const FimInput& fim, int max_tokens) const;
  // Applies `chat_template` (a llama.cpp built-in name or template text) when given, else the model's
  // own. Throws BadRequest no_chat_template when neither is one llama.cpp supports.
  std::string apply_chat_template(const std::vector<ChatMessage>& messages,
                                  const std::string& chat_template = "") const;

  // Thread-safe: queue a request (already validated); results arrive on its sink.
  void submit(RequestPtr req);
  // Thread-safe: stop the request within one decode step.
  void cancel(const RequestPtr& req);

  const ModelInfo& model_info() const { return model_info_; }
  const ModelInfo* draft_info() const { return draft_ ? &draft_info_ : nullptr; }
  const FimInfo& fim_info() const { return fim_info_; }
  int n_ctx() const { return n_ctx_; }
  const std::string& kv_type() const { return kv_type_; }
  int n_parallel() const { return n_parallel_; }
  int busy_sequences() const { return std::max(0, busy_.load()); }
  Metrics& metrics() { return metrics_; }
  double kv_usage() const { return kv_usage_.load(); }

 private:
  struct Slot;
  void loop();
  void admit(RequestPtr req, Slot& slot);
  bool step();  // one batched decode; returns false when idle
  void finish(Slot& s, const std::string& reason);
  void fail(Slot& s, const std::string& code, const std::string& message);
  void drop_ahead(Slot& s);
  bool unshare_beyond(Slot& s, size_t keep);
  void attach_threadpool(int n_threads);
  // Feeds one accepted token; returns false when the request has ended.
  bool accept_token(Slot& s, llama_token t);
  llama_token sample(Slot& s, const float* logits, std::vector<std::pair<llama_token, float>>* probs);
  std::vector<llama_token> ngram_draft(const Slot& s, int n_max) const;
  using Dist = std::vector<std::pair<llama_token, float>>;
  std::vector<llama_token> model_draft(Slot& s, int n_max, std::vector<Dist>* q);
  bool sync_draft(Slot& s);

  // A persistent CPU thread pool attached to the contexts (as llama-server does): without one, ggml
  // builds without OpenMP (the prebuilt libraries) create and join worker threads on every decode.
  struct ThreadPool {
    ggml_threadpool* pool = nullptr;
    void (*free_fn)(ggml_threadpool*) = nullptr;
    ~ThreadPool() {
      if (pool && free_fn) free_fn(pool);
    }
  };
  ThreadPool threadpool_;  // declared before the contexts: destroyed after them
  ModelPtr model_;
  ContextPtr ctx_;
  ModelPtr draft_;
  ContextPtr draft_ctx_;
  const llama_vocab* vocab_ = nullptr;
  ModelInfo model_info_, draft_info_;
  FimInfo fim_info_;
  std::vector<llama_token> eog_tokens_;
  int n_ctx_ = 0, n_parallel_ = 0, n_batch_ = 512, n_vocab_ = 0;
  std::string kv_type_;
  int64_t lru_clock_ = 0;
  bool can_shift_ = false;
  int cache_reuse_ = 32;

  llama_batch batch_{};
  bool batch_ready_ = false;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::deque<RequestPtr> queue_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool running_ = false;
  std::thread thread_;
  std::atomic<int> busy_{0};
  std::atomic<double> kv_usage_{0.0};
  Metrics metrics_;
};

ModelInfo describe_model(const llama_model* model, const std::string& path);

}  // namespace pronto
