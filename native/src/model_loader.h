// Model loading and the KV cache type policy: the GGUF checks, the target and draft models and
// contexts, and the CPU thread pool they share. RAII for every llama.cpp handle.
#pragma once
#include <memory>
#include <string>

#include "llama.h"

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
  std::string chat_model_path;  // --chat-model: an instruct model for chat, on the same scheduler
  int gpu_layers = -1;          // -1 = all when a GPU is present
  int n_ctx = 4096;
  int n_parallel = 4;
  int n_threads = 0;  // 0 = default_threads(): all cores but one
  int n_batch = 512;
  int cache_reuse = 32;  // min chunk for reuse with position shift, 0 = off
  // KV cache element type: auto (default: q8_0 for head sizes divisible by 64, else f16), q8_0 or f16.
  // q8_0: half the memory, balanced CPU attention with several long sequences resident. Why: load().
  std::string kv_type = "auto";
  std::string fim_order = "spm";         // spm (reuse-friendly, default) | psm
  int max_queue = 256;                   // requests waiting for a sequence or KV room; beyond: overloaded
  bool share_kv_across_tenants = false;  // let KV prefix reuse cross tenants (API keys)
  bool speculation_gate = true;          // pause drafting while it costs more per token (SpeculationGate)
  // How long the CPU pool's threads spin waiting for work before they sleep: 0 (sleep at once: yields
  // the cores to other programs) to 100 (spin: lowest latency on an idle machine). ggml's default, 50.
  int poll = 50;
};

struct ModelInfo {
  std::string path, name, arch;
  uint64_t n_params = 0, size_bytes = 0;
  int n_ctx_train = 0, n_vocab = 0;
};

ModelInfo describe_model(const llama_model* model, const std::string& path);

// CPU threads when --threads is not given: all cores but one (at least 1).
int default_threads();

// A persistent CPU thread pool attached to the contexts (as llama-server does): without one, ggml builds
// without OpenMP (the prebuilt libraries) create and join worker threads on every decode.
class ThreadPool {
 public:
  ThreadPool() = default;
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // Creates the pool (a no-op without a CPU backend) and attaches it to `ctx`.
  void create(int n_threads, int poll);
  void attach(llama_context* ctx) const;

 private:
  ggml_threadpool* pool_ = nullptr;
  void (*free_fn_)(ggml_threadpool*) = nullptr;
};

// Everything load() creates, in destruction order (the pool outlives the contexts that use it).
struct LoadedModels {
  ThreadPool threadpool;
  ModelPtr model;
  ContextPtr ctx;
  ModelPtr draft;
  ContextPtr draft_ctx;
  ModelInfo info, draft_info;
  std::string kv_type;  // q8_0 | f16, as chosen
  int n_batch = 0;      // tokens per decode batch (llama context n_batch)
};

// Loads the model(s) and creates the contexts (n_seq_max = 2 x n_parallel: a scratch sequence per
// slot). On failure returns false with a message naming the file and the cause.
// `shared_pool`: attach this CPU pool instead of creating one (the chat model's context, which runs on
// the same inference thread as the completion model's).
bool load_models(const EngineOptions& opts, LoadedModels& out, std::string& error,
                 const ThreadPool* shared_pool = nullptr);

}  // namespace pronto
