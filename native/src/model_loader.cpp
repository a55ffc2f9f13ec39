#include "model_loader.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace pronto {

ModelInfo describe_model(const llama_model* model, const std::string& path) {
  ModelInfo info;
  info.path = path;
  char buf[512];
  if (llama_model_meta_val_str(model, "general.name", buf, sizeof buf) >= 0) info.name = buf;
  if (llama_model_meta_val_str(model, "general.architecture", buf, sizeof buf) >= 0) info.arch = buf;
  if (info.name.empty()) {
    llama_model_desc(model, buf, sizeof buf);
    info.name = buf;
  }
  info.n_params = llama_model_n_params(model);
  info.size_bytes = llama_model_size(model);
  info.n_ctx_train = llama_model_n_ctx_train(model);
  info.n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  return info;
}

static bool check_gguf_file(const std::string& path, const char* what, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = std::string(what) + " file not found or not readable: " + path;
    return false;
  }
  char magic[4] = {0, 0, 0, 0};
  size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  if (n != 4 || std::memcmp(magic, "GGUF", 4) != 0) {
    error = std::string(what) + " file is not a GGUF model (bad magic): " + path;
    return false;
  }
  return true;
}

// Size of one attention head's key vector: `<arch>.attention.key_length` when the model sets it, else
// n_embd / n_head.
static int head_size_k(const llama_model* model) {
  char arch[64] = {0}, buf[32] = {0};
  if (llama_model_meta_val_str(model, "general.architecture", arch, sizeof arch) > 0) {
    std::string key = std::string(arch) + ".attention.key_length";
    if (llama_model_meta_val_str(model, key.c_str(), buf, sizeof buf) > 0) return std::atoi(buf);
  }
  int n_head = llama_model_n_head(model);
  return n_head > 0 ? llama_model_n_embd(model) / n_head : 0;
}

// Whether llama.cpp can keep this model's KV cache in q8_0: it shifts a quantized K only through its
// Hadamard attention rotation, which exists for head sizes divisible by 64 and can be switched off with
// LLAMA_ATTN_ROT_DISABLE.
static bool q8_kv_ok(const llama_model* model) {
  const int head_k = head_size_k(model);
  const char* rot_off = std::getenv("LLAMA_ATTN_ROT_DISABLE");
  return head_k > 0 && head_k % 64 == 0 && !(rot_off && std::atoi(rot_off) != 0);
}

// All cores but one. A developer's machine is never idle: when another process takes a core, a decode
// whose threads must meet at every operation waits for the descheduled one. Measured here (bench/
// README.md, "busy machine"): with one core busy, 2 threads on 2 cores gave request latency p95 of
// 26 s (llama-server alike), 1 thread 1.9 s. On many cores one thread less costs little (decoding is
// bound by memory bandwidth).
int default_threads() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores - 1);
}

ThreadPool::~ThreadPool() {
  if (pool_ && free_fn_) free_fn_(pool_);
}

// The CPU backend is loaded at run time (one of several CPU variants), so its thread-pool functions are
// looked up through the backend registry, as llama.cpp's common library does. Without a CPU device (or
// on failure) the contexts keep ggml's default: a pool created per graph computation.
void ThreadPool::create(int n_threads, int poll) {
  ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (!cpu) return;
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
  using NewFn = ggml_threadpool* (*)(ggml_threadpool_params*);
  using FreeFn = void (*)(ggml_threadpool*);
  auto new_fn = reinterpret_cast<NewFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
  auto free_fn = reinterpret_cast<FreeFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
  if (!new_fn || !free_fn) return;
  ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
  tpp.poll = static_cast<uint32_t>(std::clamp(poll, 0, 100));
  pool_ = new_fn(&tpp);
  free_fn_ = free_fn;
}

void ThreadPool::attach(llama_context* ctx) const {
  // Both contexts run on the inference thread, one after the other: they can share the pool.
  if (pool_) llama_attach_threadpool(ctx, pool_, nullptr);
}

bool load_models(const EngineOptions& opts, LoadedModels& out, std::string& error, const ThreadPool* shared_pool) {
  if (!check_gguf_file(opts.model_path, "model", error)) return false;
  if (!opts.draft_model_path.empty() && !check_gguf_file(opts.draft_model_path, "draft model", error)) return false;

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = opts.gpu_layers < 0 ? 999 : opts.gpu_layers;
  out.model.reset(llama_model_load_from_file(opts.model_path.c_str(), mp));
  if (!out.model) {
    error = "failed to load model (corrupt or unsupported GGUF): " + opts.model_path;
    return false;
  }
  out.info = describe_model(out.model.get(), opts.model_path);

  const int n_parallel = std::max(1, opts.n_parallel);
  const int threads = opts.n_threads > 0 ? opts.n_threads : default_threads();
  out.n_batch = std::max(32, opts.n_batch) + n_parallel * 17;  // prompt chunk + (last + 16 drafts) per sequence

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = opts.n_ctx;
  cp.n_batch = out.n_batch;
  cp.n_ubatch = cp.n_batch;       // one ubatch per decode: a failed decode (no KV room) changed nothing
  cp.n_seq_max = 2 * n_parallel;  // a scratch sequence per slot (chunk reuse across insertions)
  cp.kv_unified = true;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  // KV element type: `auto` (the default) takes q8_0 where it works, else f16. Why q8_0: with one
  // unified cell pool, ggml's CPU flash attention for a single-token decode splits the KV range
  // [0, n_kv) evenly across threads when K and V are f16 (its split-KV path). The decoding sequence's
  // cells then sit in one thread's half whenever another long sequence is resident, so one thread does
  // all of the attention while the other only skips masked cells: measured here, a 2,500-token
  // sequence decoded at 0.76x of llama-server (which gives each slot its own KV stream) with one
  // 2,000-token sequence resident. With q8_0 K/V, ggml splits by attention head instead, balanced
  // whatever the cell layout: the same case ran at 1.0x, in half the memory. Where it does not work:
  // llama.cpp v0.5.0 shifts a quantized K (chunk reuse moves cached tokens) through a Hadamard
  // "attention rotation" that exists only for head sizes divisible by 64; for other models the shift
  // dereferences the missing rotation (SIGSEGV), so they get f16, and an explicit q8_0 is refused.
  const bool q8_ok = q8_kv_ok(out.model.get());
  if (opts.kv_type == "q8_0" && !q8_ok) {
    error = "--kv-type q8_0 needs a head size divisible by 64 (this model's is " +
            std::to_string(head_size_k(out.model.get())) +
            ") and LLAMA_ATTN_ROT_DISABLE unset: llama.cpp cannot shift a quantized KV cache otherwise; use "
            "--kv-type f16 or auto";
    return false;
  }
  out.kv_type = opts.kv_type == "auto" ? (q8_ok ? "q8_0" : "f16") : opts.kv_type;
  cp.type_k = cp.type_v = out.kv_type == "q8_0" ? GGML_TYPE_Q8_0 : GGML_TYPE_F16;
  out.ctx.reset(llama_init_from_model(out.model.get(), cp));
  if (!out.ctx) {
    error = "failed to create a context of " + std::to_string(opts.n_ctx) + " tokens for " + opts.model_path;
    return false;
  }
  if (shared_pool) {
    shared_pool->attach(out.ctx.get());
  } else {
    out.threadpool.create(threads, opts.poll);
    out.threadpool.attach(out.ctx.get());
  }

  if (!opts.draft_model_path.empty()) {
    out.draft.reset(llama_model_load_from_file(opts.draft_model_path.c_str(), mp));
    if (!out.draft) {
      error = "failed to load draft model (corrupt or unsupported GGUF): " + opts.draft_model_path;
      return false;
    }
    out.draft_info = describe_model(out.draft.get(), opts.draft_model_path);
    if (out.draft_info.n_vocab != out.info.n_vocab) {
      error = "draft model vocabulary (" + std::to_string(out.draft_info.n_vocab) +
              " tokens) differs from the model's (" + std::to_string(out.info.n_vocab) + "): " + opts.draft_model_path;
      return false;
    }
    llama_context_params dp = cp;
    dp.n_seq_max = n_parallel;
    if (!q8_kv_ok(out.draft.get())) dp.type_k = dp.type_v = GGML_TYPE_F16;  // the draft's heads may differ
    out.draft_ctx.reset(llama_init_from_model(out.draft.get(), dp));
    if (!out.draft_ctx) {
      error = "failed to create the draft context for " + opts.draft_model_path;
      return false;
    }
    out.threadpool.attach(out.draft_ctx.get());
  }
  return true;
}

}  // namespace pronto
