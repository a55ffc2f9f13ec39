// The scheduler and inference loop.
//
// Why it looks like this
// ----------------------
// A code-completion engine is driven by keystrokes: almost every request shares nearly all of its
// prompt with a request seen a moment ago, in this file or in another one the user just left. So the
// context holds `n_parallel` sequences (kv_unified: one cell pool shared by all of them) and every
// sequence's token list is kept after its request ends. A new request is compared against EVERY
// resident sequence; the longest common prefix wins. If the winner is idle the request runs in it; if
// it is busy, its prefix is copied (llama_memory_seq_cp shares the cells, it does not duplicate them)
// into the least recently used idle sequence. Only the tokens after the common prefix are evaluated.
// The FIM layout (fim.cpp) puts the volatile text before the cursor LAST, so a keystroke only appends.
//
// One thread owns llama.cpp. Other threads only push requests into a queue and set `cancelled`
// flags; the loop checks the flags before every decode, so a cancel takes effect within one step.
// Each step builds ONE llama_batch with the next prompt chunk of every sequence still reading its
// prompt and the last token (+ draft tokens) of every generating sequence, and calls llama_decode once:
// requests from different clients are decoded together.
//
// Speculation: a generating sequence may append draft tokens (n-gram lookup in its own history, and/or
// a small draft model run in a second context mirroring the sequences). The target verifies them in
// the same decode. Greedy: accept while the target's argmax equals the draft. Sampling: accept draft
// token d with probability min(1, p(d)/q(d)), on rejection sample from norm(max(0, p - q)) (Leviathan
// et al. 2023, Chen et al. 2023), which leaves the target distribution exactly unchanged; an n-gram
// draft is a draft whose q is one-hot. The draft length adapts to the acceptance rate per sequence.
#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "text.h"

namespace pronto {

static int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
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

// Whether llama.cpp can keep this model's KV cache in q8_0 (see Engine::load): it shifts a quantized K
// only through its Hadamard attention rotation, which exists for head sizes divisible by 64 and can
// be switched off with LLAMA_ATTN_ROT_DISABLE.
static bool q8_kv_ok(const llama_model* model) {
  const int head_k = head_size_k(model);
  const char* rot_off = std::getenv("LLAMA_ATTN_ROT_DISABLE");
  return head_k > 0 && head_k % 64 == 0 && !(rot_off && std::atoi(rot_off) != 0);
}

struct Engine::Slot {
  int id = 0;
  std::vector<llama_token> cache;        // tokens whose KV is in sequence `id`, positions 0..n-1
  std::vector<llama_token> draft_cache;  // same for the draft context
  std::vector<KeptChunk> ahead;          // prompt chunks already in the KV beyond `cache` (chunk reuse)
  int scratch = 0;                       // sequence id for evaluating gaps before `ahead` chunks
  bool scratch_ready = false;            // scratch holds a copy of positions [0, cache.size())
  int64_t last_used = 0;
  RequestPtr req;
  bool generating = false;
  llama_token last = -1;  // sampled, not yet in the KV
  std::string pending, text;
  size_t sent = 0;
  int n_gen = 0;
  int draft_n = 4;  // adaptive draft length
  std::mt19937_64 rng;
  RequestStats stats;
  int64_t t_admit = 0, t_prompt_done = 0, t_last_token = 0;
};

Engine::Engine() = default;
Engine::~Engine() {
  stop();
  if (batch_ready_) llama_batch_free(batch_);
}

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

bool Engine::load(const EngineOptions& opts, std::string& error) {
  if (!check_gguf_file(opts.model_path, "model", error)) return false;
  if (!opts.draft_model_path.empty() && !check_gguf_file(opts.draft_model_path, "draft model", error)) return false;

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = opts.gpu_layers < 0 ? 999 : opts.gpu_layers;
  model_.reset(llama_model_load_from_file(opts.model_path.c_str(), mp));
  if (!model_) {
    error = "failed to load model (corrupt or unsupported GGUF): " + opts.model_path;
    return false;
  }
  vocab_ = llama_model_get_vocab(model_.get());
  n_vocab_ = llama_vocab_n_tokens(vocab_);
  model_info_ = describe_model(model_.get(), opts.model_path);
  for (llama_token t = 0; t < n_vocab_; t++)
    if (llama_vocab_is_eog(vocab_, t)) eog_tokens_.push_back(t);

  fim_info_.supported = llama_vocab_fim_pre(vocab_) != LLAMA_TOKEN_NULL &&
                        llama_vocab_fim_suf(vocab_) != LLAMA_TOKEN_NULL &&
                        llama_vocab_fim_mid(vocab_) != LLAMA_TOKEN_NULL;
  fim_info_.repo_level = fim_info_.supported && llama_vocab_fim_sep(vocab_) != LLAMA_TOKEN_NULL;
  fim_info_.order = fim_info_.supported ? (opts.fim_order == "psm" ? "psm" : "spm") : "none";

  n_parallel_ = std::max(1, opts.n_parallel);
  n_batch_ = std::max(32, opts.n_batch);
  int threads = opts.n_threads > 0 ? opts.n_threads : std::max(1u, std::thread::hardware_concurrency());

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = opts.n_ctx;
  cp.n_batch = n_batch_ + n_parallel_ * 17;
  cp.n_ubatch = cp.n_batch;
  cp.n_seq_max = 2 * n_parallel_;  // a scratch sequence per slot (chunk reuse across insertions)
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
  const bool q8_ok = q8_kv_ok(model_.get());
  if (opts.kv_type == "q8_0" && !q8_ok) {
    error = "--kv-type q8_0 needs a head size divisible by 64 (this model's is " +
            std::to_string(head_size_k(model_.get())) +
            ") and LLAMA_ATTN_ROT_DISABLE unset: llama.cpp cannot shift a quantized KV cache otherwise; use "
            "--kv-type f16 or auto";
    return false;
  }
  kv_type_ = opts.kv_type == "auto" ? (q8_ok ? "q8_0" : "f16") : opts.kv_type;
  cp.type_k = cp.type_v = kv_type_ == "q8_0" ? GGML_TYPE_Q8_0 : GGML_TYPE_F16;
  ctx_.reset(llama_init_from_model(model_.get(), cp));
  if (!ctx_) {
    error = "failed to create a context of " + std::to_string(opts.n_ctx) + " tokens for " + opts.model_path;
    return false;
  }
  attach_threadpool(threads);
  n_ctx_ = static_cast<int>(llama_n_ctx(ctx_.get()));
  can_shift_ = llama_memory_can_shift(llama_get_memory(ctx_.get()));
  cache_reuse_ = std::max(0, opts.cache_reuse);

  if (!opts.draft_model_path.empty()) {
    draft_.reset(llama_model_load_from_file(opts.draft_model_path.c_str(), mp));
    if (!draft_) {
      error = "failed to load draft model (corrupt or unsupported GGUF): " + opts.draft_model_path;
      return false;
    }
    draft_info_ = describe_model(draft_.get(), opts.draft_model_path);
    if (draft_info_.n_vocab != n_vocab_) {
      error = "draft model vocabulary (" + std::to_string(draft_info_.n_vocab) + " tokens) differs from the model's (" +
              std::to_string(n_vocab_) + "): " + opts.draft_model_path;
      return false;
    }
    llama_context_params dp = cp;
    dp.n_seq_max = n_parallel_;
    if (!q8_kv_ok(draft_.get())) dp.type_k = dp.type_v = GGML_TYPE_F16;  // the draft's heads may differ
    draft_ctx_.reset(llama_init_from_model(draft_.get(), dp));
    if (!draft_ctx_) {
      error = "failed to create the draft context for " + opts.draft_model_path;
      return false;
    }
    // Both contexts run on the inference thread, one after the other: they can share the pool.
    if (threadpool_.pool) llama_attach_threadpool(draft_ctx_.get(), threadpool_.pool, nullptr);
  }

  batch_ = llama_batch_init(n_batch_ + n_parallel_ * 17, 0, 1);
  batch_ready_ = true;
  for (int i = 0; i < n_parallel_; i++) {
    auto s = std::make_unique<Slot>();
    s->id = i;
    s->scratch = n_parallel_ + i;
    slots_.push_back(std::move(s));
  }
  return true;
}

void Engine::start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_) return;
    running_ = true;
  }
  thread_ = std::thread([this] { loop(); });
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<llama_token> Engine::tokenize(const std::string& text, bool add_special, bool parse_special) const {
  std::vector<llama_token> out(text.size() + 8);
  int n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                         static_cast<int32_t>(out.size()), add_special, parse_special);
  if (n < 0) {
    out.resize(-n);
    n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), add_special, parse_special);
  }
  out.resize(std::max(0, n));
  return out;
}

std::string Engine::token_piece(llama_token t) const {
  char buf[256];
  int n = llama_token_to_piece(vocab_, t, buf, sizeof buf, 0, false);
  if (n < 0) {
    std::string big(-n, '\0');
    n = llama_token_to_piece(vocab_, t, big.data(), static_cast<int32_t>(big.size()), 0, false);
    big.resize(std::max(0, n));
    return big;
  }
  return std::string(buf, n);
}

// The chat template: the request's (a llama.cpp built-in name such as "chatml", or a template text
// llama.cpp recognises), else the model's own. Never a silent fallback: a model without a template
// llama.cpp supports gets a 4xx naming what to send instead (code no_chat_template).
std::string Engine::apply_chat_template(const std::vector<ChatMessage>& messages,
                                        const std::string& chat_template) const {
  const char* model_tmpl = llama_model_chat_template(model_.get(), nullptr);
  const bool from_request = !chat_template.empty();
  const char* use = from_request ? chat_template.c_str() : model_tmpl;
  static const char* kHint =
      "send chat_template with a llama.cpp built-in name (chatml, llama3, deepseek, mistral-v7, phi3, gemma, ...) or "
      "use a model that has a chat template";
  if (!use || !*use) throw BadRequest{"no_chat_template", std::string("the model has no chat template: ") + kHint};
  std::vector<llama_chat_message> msgs;
  for (auto& m : messages) msgs.push_back({m.role.c_str(), m.content.c_str()});
  size_t total = 0;
  for (auto& m : messages) total += m.content.size() + m.role.size() + 64;
  std::string buf(total + 1024, '\0');
  int n = llama_chat_apply_template(use, msgs.data(), msgs.size(), true, buf.data(), static_cast<int32_t>(buf.size()));
  if (n < 0)
    throw BadRequest{"no_chat_template",
                     from_request ? "chat_template \"" + chat_template.substr(0, 64) +
                                        "\" is not a template llama.cpp supports: " + kHint
                                  : std::string("the model's chat template is not one llama.cpp supports: ") + kHint};
  if (static_cast<size_t>(n) > buf.size()) {
    buf.resize(n);
    n = llama_chat_apply_template(use, msgs.data(), msgs.size(), true, buf.data(), static_cast<int32_t>(buf.size()));
  }
  buf.resize(n);
  return buf;
}

void Engine::submit(RequestPtr req) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    req->t_submit_us = now_us();
    queue_.push_back(std::move(req));
  }
  cv_.notify_all();
}

void Engine::cancel(const RequestPtr& req) {
  int not_yet = -1;
  req->steps_at_cancel.compare_exchange_strong(not_yet, req->decode_steps.load());
  req->cancelled = true;
  cv_.notify_all();
}

// ------------------------------------------------------------------------------------------------
// Inference thread
// ------------------------------------------------------------------------------------------------

void Engine::loop() {
  while (true) {
    std::deque<RequestPtr> incoming;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      bool any_active = std::any_of(slots_.begin(), slots_.end(), [](auto& s) { return s->req != nullptr; });
      if (!any_active) cv_.wait(lock, [&] { return !running_ || !queue_.empty(); });
      if (!running_) break;
      // Admit as many queued requests as there are free sequences (FIFO).
      for (auto& s : slots_) {
        (void)s;
      }
      int free = 0;
      for (auto& s : slots_) free += s->req == nullptr;
      while (free > 0 && !queue_.empty()) {
        incoming.push_back(std::move(queue_.front()));
        queue_.pop_front();
        free--;
      }
    }
    for (auto& req : incoming) {
      if (req->cancelled) {
        RequestStats st;
        st.t_total_ms = (now_us() - req->t_submit_us) / 1000.0;
        metrics_.cancellations++;
        req->sink->on_done(req->id, "", "cancelled", st);
        continue;
      }
      // Pick the sequence: longest common prefix over ALL resident sequences.
      Slot* target = nullptr;
      for (auto& s : slots_) {
        if (s->req) continue;
        if (!target || s->last_used < target->last_used) target = s.get();
      }
      if (!target) break;  // cannot happen: counted above
      admit(req, *target);
    }
    busy_ = static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return s->req != nullptr; }));
    step();
    size_t used = 0;
    for (auto& s : slots_) used += s->cache.size();
    kv_usage_ = n_ctx_ > 0 ? std::min(1.0, static_cast<double>(used) / n_ctx_) : 0.0;
    busy_ = static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return s->req != nullptr; }));
  }
  // Shutting down: end whatever is still running.
  for (auto& s : slots_)
    if (s->req) fail(*s, "internal", "engine is shutting down");
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& r : queue_) r->sink->on_error(r->id, "internal", "engine is shutting down");
  queue_.clear();
}

// The CPU backend is loaded at run time (one of several CPU variants), so its thread-pool functions are
// looked up through the backend registry, as llama.cpp's common library does. Without a CPU device
// (or on failure) the contexts keep ggml's default: a pool created per graph computation.
void Engine::attach_threadpool(int n_threads) {
  ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  if (!cpu) return;
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
  using NewFn = ggml_threadpool* (*)(ggml_threadpool_params*);
  using FreeFn = void (*)(ggml_threadpool*);
  auto new_fn = reinterpret_cast<NewFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
  auto free_fn = reinterpret_cast<FreeFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
  if (!new_fn || !free_fn) return;
  ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
  threadpool_.pool = new_fn(&tpp);
  threadpool_.free_fn = free_fn;
  if (threadpool_.pool) llama_attach_threadpool(ctx_.get(), threadpool_.pool, nullptr);
}

static size_t common_prefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) i++;
  return i;
}

// Chunk reuse after the common prefix (llama-server's --cache-reuse, generalized to insertions).
// Aligns the cached tokens after `lcp` with the prompt, monotonically: every run of at least
// `min_chunk` tokens found in both, in the same order, is kept and moved to its new position with
// llama_memory_seq_add (back over deleted text, forward over inserted text); everything else is
// removed. The prompt tokens between kept chunks (gaps) are evaluated in position order. llama_decode
// requires a sequence's batch positions to follow its highest cached position, so a gap that lies
// before a kept chunk is evaluated in the slot's SCRATCH sequence (a copy of everything before the
// gap, made with seq_cp: cells are shared, not duplicated) and then copied into the slot's sequence.
// Gap tokens thus see everything before them and nothing after (causal); kept chunks were computed
// with their old left context (as with llama-server): close to, not bit-equal with, a fresh evaluation.
// With `mem` null it only counts. Returns the number of prompt tokens whose KV is in place; then
// `cache` holds the common prefix and `ahead` the kept chunks beyond it.
static size_t reuse_chunks(llama_memory_t mem, int seq, std::vector<llama_token>& cache,
                           const std::vector<llama_token>& prompt, size_t lcp, size_t k,
                           std::vector<KeptChunk>* ahead) {
  struct Match {
    size_t hc, hp, n;
  };
  std::vector<Match> chunks;
  const size_t limit = prompt.size() - 1;  // the last prompt token is always evaluated (logits)
  if (k > 0 && lcp + k <= limit && cache.size() >= lcp + k) {
    auto gram = [k](const std::vector<llama_token>& v, size_t i) {
      uint64_t h = 1469598103934665603ull;
      for (size_t j = 0; j < k; j++) {
        h ^= static_cast<uint32_t>(v[i + j]);
        h *= 1099511628211ull;
      }
      return h;
    };
    std::unordered_map<uint64_t, std::vector<size_t>> index;
    for (size_t i = lcp; i + k <= cache.size(); i++) index[gram(cache, i)].push_back(i);
    size_t hp = lcp, hc = lcp;
    while (hp + k <= limit && hc < cache.size()) {
      size_t found = SIZE_MAX;
      auto it = index.find(gram(prompt, hp));
      if (it != index.end()) {
        int tries = 0;
        for (auto q = std::lower_bound(it->second.begin(), it->second.end(), hc); q != it->second.end() && tries < 8;
             ++q, ++tries) {
          if (std::equal(cache.begin() + *q, cache.begin() + *q + k, prompt.begin() + hp)) {
            found = *q;
            break;
          }
        }
      }
      if (found == SIZE_MAX) {  // a new token: part of a gap to evaluate
        hp++;
        continue;
      }
      size_t n = k;
      while (found + n < cache.size() && hp + n < limit && cache[found + n] == prompt[hp + n]) n++;
      // Greedy alignment guard: a short match far ahead would throw away everything cached before
      // it (e.g. the cursor moved up: the line now starting the suffix is still cached at the end of
      // the old prefix). Take it only if it keeps at least a quarter of what it skips.
      if (n * 4 < found - hc) {
        hp++;
        continue;
      }
      chunks.push_back({found, hp, n});
      hp += n;
      hc = found + n;
    }
  }
  size_t total = lcp;
  for (auto& c : chunks) total += c.n;
  if (!mem) return total;
  // Remove what is not kept (old positions), then move the kept chunks. Forward moves go last to
  // first and backward moves first to last, so a moved range never lands on one still to be moved.
  size_t cursor = lcp;
  for (auto& c : chunks) {
    if (c.hc > cursor) llama_memory_seq_rm(mem, seq, static_cast<llama_pos>(cursor), static_cast<llama_pos>(c.hc));
    cursor = c.hc + c.n;
  }
  llama_memory_seq_rm(mem, seq, static_cast<llama_pos>(cursor), -1);
  auto move = [&](const Match& c) {
    llama_memory_seq_add(mem, seq, static_cast<llama_pos>(c.hc), static_cast<llama_pos>(c.hc + c.n),
                         static_cast<llama_pos>(c.hp) - static_cast<llama_pos>(c.hc));
  };
  for (size_t i = chunks.size(); i-- > 0;)
    if (chunks[i].hp > chunks[i].hc) move(chunks[i]);
  for (auto& c : chunks)
    if (c.hp < c.hc) move(c);
  ahead->clear();
  for (auto& c : chunks)
    ahead->push_back({c.hp, std::vector<llama_token>(cache.begin() + c.hc, cache.begin() + c.hc + c.n)});
  cache.resize(lcp);
  return total;
}

void Engine::admit(RequestPtr req, Slot& free_slot) {
  llama_memory_t mem = llama_get_memory(ctx_.get());
  const auto& prompt = req->prompt;
  // Best match among every resident sequence, busy or idle.
  Slot* best = nullptr;
  size_t best_lcp = 0;
  for (auto& s : slots_) {
    size_t l = common_prefix(s->cache, prompt);
    if (!best || l > best_lcp || (l == best_lcp && !s->req && best->req)) {
      best_lcp = l;
      best = s.get();
    }
  }
  // Run in place in an idle sequence when that keeps at least half of what it holds; otherwise take
  // an empty or the least recently used idle sequence (so a short accidental match does not wipe a
  // long resident file) and copy the best prefix into it.
  Slot* target = nullptr;
  size_t target_lcp = 0;
  size_t target_score = 0;
  const size_t min_chunk = can_shift_ ? static_cast<size_t>(cache_reuse_) : 0;
  for (auto& s : slots_) {
    if (s->req) continue;
    size_t l = common_prefix(s->cache, prompt);
    size_t score = l < prompt.size() ? reuse_chunks(nullptr, s->id, s->cache, prompt, l, min_chunk, nullptr) : l;
    if (score > 0 && score * 2 >= s->cache.size() && (!target || score > target_score)) {
      target = s.get();
      target_lcp = l;
      target_score = score;
    }
  }
  if (!target) {
    for (auto& s : slots_) {
      if (s->req) continue;
      if (!target || (s->cache.empty() && !target->cache.empty()) ||
          (s->cache.empty() == target->cache.empty() && s->last_used < target->last_used))
        target = s.get();
    }
    target_lcp = common_prefix(target->cache, prompt);
    target_score = target_lcp;
  }
  (void)free_slot;
  if (target_score >= best_lcp) best = target;
  size_t best_lcp_in_place = target_lcp;
  size_t lcp = best == target ? best_lcp_in_place : best_lcp;
  if (lcp >= prompt.size()) lcp = prompt.size() - 1;  // re-evaluate the last token to get its logits
  if (best != target) {
    llama_memory_seq_rm(mem, target->id, -1, -1);
    target->cache.clear();
    target->ahead.clear();
    if (lcp > 0) llama_memory_seq_cp(mem, best->id, target->id, 0, static_cast<llama_pos>(lcp));
    target->cache.assign(prompt.begin(), prompt.begin() + lcp);
  } else {
    target->ahead.clear();
    if (target->scratch_ready) llama_memory_seq_rm(mem, target->scratch, -1, -1);
    target->scratch_ready = false;
    if (lcp < prompt.size() - 1 && min_chunk > 0 && !unshare_beyond(*target, lcp)) {
      // Another sequence still decoding shares cells past the common prefix: moving them would move
      // them under it. Evaluate what follows the common prefix instead.
      llama_memory_seq_rm(mem, target->id, static_cast<llama_pos>(lcp), -1);
      target->cache.resize(lcp);
    } else if (lcp < prompt.size() - 1 && min_chunk > 0) {
      lcp = reuse_chunks(mem, target->id, target->cache, prompt, lcp, min_chunk, &target->ahead);
    } else {
      if (!llama_memory_seq_rm(mem, target->id, static_cast<llama_pos>(lcp), -1)) {
        llama_memory_seq_rm(mem, target->id, -1, -1);
        lcp = 0;
      }
      target->cache.resize(lcp);
    }
  }
  Slot& s = *target;
  s.req = std::move(req);
  s.generating = false;
  s.last = -1;
  s.pending.clear();
  s.text.clear();
  s.sent = 0;
  s.n_gen = 0;
  s.draft_n = 4;
  s.rng.seed(s.req->sampling.has_seed ? s.req->sampling.seed : std::random_device{}());
  s.stats = RequestStats{};
  s.stats.prompt_tokens = static_cast<int>(prompt.size());
  s.stats.reused_tokens = static_cast<int>(lcp);
  // Counted as the prompt's batches are decoded (step()): a request cancelled or timed out mid-prompt
  // reports what it evaluated, not what it would have (the next request resumes from there, and
  // counting both would report the same tokens twice).
  s.stats.evaluated_tokens = 0;
  s.t_admit = now_us();
  s.stats.t_queue_ms = (s.t_admit - s.req->t_submit_us) / 1000.0;
  s.last_used = ++lru_clock_;
}

// llama.cpp's seq_add moves a KV cell for every sequence that holds it, and the unified cell pool
// shares cells between sequences (seq_cp copies a prefix by reference: a prefetch, a second slot
// starting from this one's file). Before chunk reuse moves `s`'s cells past `keep`, no other
// sequence may share them: idle sequences that might (their tokens equal `s`'s past `keep`) are cut
// back to `keep`, and a cancelled request is ended first. Returns false when a request still
// decoding might share them (the caller then does not move anything). Seen as "inconsistent
// sequence positions" from llama_decode when the other sequence decoded next.
bool Engine::unshare_beyond(Slot& s, size_t keep) {
  llama_memory_t mem = llama_get_memory(ctx_.get());
  bool free_to_move = true;
  for (auto& o : slots_) {
    if (o.get() == &s) continue;
    if (o->req && o->req->cancelled) finish(*o, "cancelled");  // it would end before its next step anyway
    if (common_prefix(o->cache, s.cache) <= keep) continue;
    if (o->req) {
      free_to_move = false;
      continue;
    }
    llama_memory_seq_rm(mem, o->id, static_cast<llama_pos>(keep), -1);
    o->cache.resize(keep);
  }
  return free_to_move;
}

// A request that ends during its prompt may leave reused chunks beyond `cache` in the KV: drop them.
void Engine::drop_ahead(Slot& s) {
  llama_memory_t mem = llama_get_memory(ctx_.get());
  if (s.scratch_ready) llama_memory_seq_rm(mem, s.scratch, -1, -1);
  s.scratch_ready = false;
  if (s.ahead.empty()) return;
  llama_memory_seq_rm(mem, s.id, static_cast<llama_pos>(s.cache.size()), -1);
  s.ahead.clear();
}

void Engine::finish(Slot& s, const std::string& reason) {
  int64_t t = now_us();
  s.stats.t_total_ms = (t - s.req->t_submit_us) / 1000.0;
  if (s.t_prompt_done == 0) s.stats.t_prompt_ms = (t - s.t_admit) / 1000.0;
  s.stats.generated_tokens = s.n_gen;
  s.stats.decode_steps = s.req->decode_steps.load();
  const int at_cancel = s.req->steps_at_cancel.load();
  s.stats.steps_after_cancel = at_cancel >= 0 ? s.stats.decode_steps - at_cancel : 0;
  metrics_.requests++;
  metrics_.prompt_evaluated += s.stats.evaluated_tokens;
  metrics_.prompt_reused += s.stats.reused_tokens;
  metrics_.generated += s.n_gen;
  metrics_.drafted += s.stats.drafted_tokens;
  metrics_.accepted += s.stats.accepted_tokens;
  metrics_.latency.observe(s.stats.t_total_ms / 1000.0);
  if (reason == "cancelled") metrics_.cancellations++;
  // Flush what was held back (a possible stop-string prefix) when the request did not stop on it.
  utf8_take_complete(s.pending, s.text, true);
  std::string final_text = s.text;
  if (reason != "stop") {
    if (final_text.size() > s.sent) s.req->sink->on_token(s.req->id, final_text.substr(s.sent));
  }
  busy_--;  // before the client hears "done", so /metrics read right after it is already true
  s.req->sink->on_done(s.req->id, final_text, reason, s.stats);
  drop_ahead(s);
  s.req.reset();
  s.last_used = ++lru_clock_;
  s.t_prompt_done = 0;
}

void Engine::fail(Slot& s, const std::string& code, const std::string& message) {
  metrics_.error(code);
  busy_--;
  s.req->sink->on_error(s.req->id, code, message);
  drop_ahead(s);
  s.req.reset();
  s.last_used = ++lru_clock_;
  s.t_prompt_done = 0;
}

bool Engine::accept_token(Slot& s, llama_token t) {
  const Request& r = *s.req;
  int64_t now = now_us();
  if (s.n_gen == 0) {
    s.stats.t_first_token_ms = (now - r.t_submit_us) / 1000.0;
    metrics_.ttft.observe(s.stats.t_first_token_ms / 1000.0);
  } else {
    metrics_.per_token.observe((now - s.t_last_token) / 1e6);
  }
  s.t_last_token = now;
  if (!r.limits.ignore_eos && llama_vocab_is_eog(vocab_, t)) {
    finish(s, "eos");
    return false;
  }
  s.n_gen++;
  s.pending += token_piece(t);
  utf8_take_complete(s.pending, s.text, false);
  StopResult st = check_stops(s.text, r.limits, r.line_prefix);
  if (st.stop) {
    s.text.resize(st.keep_len);
    s.pending.clear();
    if (s.text.size() > s.sent) s.req->sink->on_token(r.id, s.text.substr(s.sent));
    s.sent = s.text.size();
    finish(s, "stop");
    return false;
  }
  if (st.emit_len > s.sent) {
    s.req->sink->on_token(r.id, s.text.substr(s.sent, st.emit_len - s.sent));
    s.sent = st.emit_len;
  }
  if (s.n_gen >= r.limits.max_tokens) {
    finish(s, "length");
    return false;
  }
  if (r.limits.time_budget_ms > 0 && (now - s.t_admit) / 1000 >= r.limits.time_budget_ms) {
    finish(s, "time");
    return false;
  }
  if (static_cast<int>(s.cache.size()) + 2 >= n_ctx_) {
    finish(s, "length");
    return false;
  }
  return true;
}

// Turns logits into the request's sampling distribution (sorted, highest first), then samples.
// Greedy returns the argmax and leaves `probs` empty.
llama_token Engine::sample(Slot& s, const float* logits, std::vector<std::pair<llama_token, float>>* probs) {
  const SamplingParams& sp = s.req->sampling;
  bool ignore_eos = s.req->limits.ignore_eos;
  auto masked = [&](llama_token t) {
    return ignore_eos && std::binary_search(eog_tokens_.begin(), eog_tokens_.end(), t);
  };
  if (sp.temperature <= 0.0f) {
    llama_token best = -1;
    float bv = -INFINITY;
    for (llama_token t = 0; t < n_vocab_; t++) {
      if (logits[t] > bv && !masked(t)) {
        bv = logits[t];
        best = t;
      }
    }
    return best;
  }
  std::vector<std::pair<llama_token, float>> c;
  c.reserve(n_vocab_);
  for (llama_token t = 0; t < n_vocab_; t++)
    if (!masked(t)) c.emplace_back(t, logits[t] / sp.temperature);
  auto desc = [](const std::pair<llama_token, float>& a, const std::pair<llama_token, float>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  if (sp.top_k > 0 && static_cast<size_t>(sp.top_k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + sp.top_k, c.end(), desc);  // O(n log k), not a full sort
    c.resize(sp.top_k);
  } else {
    std::sort(c.begin(), c.end(), desc);
  }
  float mx = c.front().second;
  double sum = 0;
  for (auto& p : c) {
    p.second = std::exp(p.second - mx);
    sum += p.second;
  }
  for (auto& p : c) p.second = static_cast<float>(p.second / sum);
  if (sp.min_p > 0.0f) {
    float th = c.front().second * sp.min_p;
    size_t k = 1;
    while (k < c.size() && c[k].second >= th) k++;
    c.resize(k);
  }
  if (sp.top_p < 1.0f) {
    double cum = 0;
    size_t k = 0;
    while (k < c.size()) {
      cum += c[k].second;
      k++;
      if (cum >= sp.top_p) break;
    }
    c.resize(k);
  }
  sum = 0;
  for (auto& p : c) sum += p.second;
  for (auto& p : c) p.second = static_cast<float>(p.second / sum);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double x = u(s.rng), cum = 0;
  llama_token pick = c.back().first;
  for (auto& p : c) {
    cum += p.second;
    if (x < cum) {
      pick = p.first;
      break;
    }
  }
  if (probs) *probs = std::move(c);
  return pick;
}

std::vector<llama_token> Engine::ngram_draft(const Slot& s, int n_max) const {
  // History = KV tokens + the pending last token. Find the most recent earlier occurrence of its last
  // n tokens (n = 3, then 2) and propose what followed it.
  std::vector<llama_token> out;
  const auto& c = s.cache;
  const size_t n = c.size() + 1;
  auto at = [&](size_t i) { return i < c.size() ? c[i] : s.last; };
  for (size_t key = 3; key >= 2 && out.empty(); key--) {
    if (n <= key) continue;
    for (size_t start = n - key; start-- > 0;) {
      bool match = true;
      for (size_t k = 0; k < key && match; k++) match = at(start + k) == at(n - key + k);
      if (!match) continue;
      for (size_t j = start + key; j < n && static_cast<int>(out.size()) < n_max; j++) out.push_back(at(j));
      break;
    }
  }
  return out;
}

bool Engine::sync_draft(Slot& s) {
  // Bring the draft sequence to history = cache + last.
  llama_memory_t mem = llama_get_memory(draft_ctx_.get());
  std::vector<llama_token> hist = s.cache;
  hist.push_back(s.last);
  size_t l = common_prefix(s.draft_cache, hist);
  if (l >= hist.size()) l = hist.size() - 1;
  if (!llama_memory_seq_rm(mem, s.id, static_cast<llama_pos>(l), -1)) {
    llama_memory_seq_rm(mem, s.id, -1, -1);
    l = 0;
  }
  s.draft_cache.resize(l);
  llama_batch b = llama_batch_init(n_batch_, 0, 1);
  bool ok = true;
  while (s.draft_cache.size() < hist.size() && ok) {
    b.n_tokens = 0;
    size_t start = s.draft_cache.size();
    size_t end = std::min(hist.size(), start + n_batch_);
    for (size_t i = start; i < end; i++) {
      int k = b.n_tokens++;
      b.token[k] = hist[i];
      b.pos[k] = static_cast<llama_pos>(i);
      b.n_seq_id[k] = 1;
      b.seq_id[k][0] = s.id;
      b.logits[k] = i + 1 == hist.size();
    }
    if (llama_decode(draft_ctx_.get(), b) != 0) {
      ok = false;
      break;
    }
    s.draft_cache.insert(s.draft_cache.end(), hist.begin() + start, hist.begin() + end);
  }
  llama_batch_free(b);
  if (!ok) {
    llama_memory_seq_rm(mem, s.id, -1, -1);
    s.draft_cache.clear();
  }
  return ok;
}

std::vector<llama_token> Engine::model_draft(Slot& s, int n_max, std::vector<Dist>* q) {
  std::vector<llama_token> out;
  if (!sync_draft(s)) return out;
  const bool greedy = s.req->sampling.temperature <= 0.0f;
  llama_batch b = llama_batch_init(1, 0, 1);
  const float* logits = llama_get_logits_ith(draft_ctx_.get(), -1);
  for (int i = 0; i < n_max; i++) {
    // Greedy requests draft the argmax. Sampling requests sample the draft's own distribution q
    // (same temperature/top-k/top-p/min-p) and keep q for the rejection test.
    llama_token pick;
    if (greedy) {
      pick = sample(s, logits, nullptr);
    } else {
      Dist dist;
      pick = sample(s, logits, &dist);
      q->push_back(std::move(dist));
    }
    out.push_back(pick);
    if (i + 1 == n_max) break;
    b.n_tokens = 1;
    b.token[0] = pick;
    b.pos[0] = static_cast<llama_pos>(s.draft_cache.size());
    b.n_seq_id[0] = 1;
    b.seq_id[0][0] = s.id;
    b.logits[0] = true;
    if (llama_decode(draft_ctx_.get(), b) != 0) break;
    s.draft_cache.push_back(pick);
    logits = llama_get_logits_ith(draft_ctx_.get(), -1);
  }
  llama_batch_free(b);
  return out;
}

bool Engine::step() {
  // Cancellations first: a cancelled request stops before the next decode.
  for (auto& s : slots_)
    if (s->req && s->req->cancelled) finish(*s, "cancelled");

  struct Entry {
    Slot* s;
    int first;  // index in the batch
    int n;
    std::vector<llama_token> draft;  // for generating slots
    std::vector<Dist> q;             // draft distributions (empty: the drafts are deterministic)
    size_t start = 0;                // prompt slots: first position in this batch
    bool via_scratch = false;        // prompt slots: evaluated in the scratch sequence
    bool prompt_done = false;        // prompt slot whose last prompt token is in this batch
  };
  std::vector<Entry> entries;
  llama_batch& batch = batch_;  // allocated once in load(): n_batch + 17 per sequence
  batch.n_tokens = 0;
  auto add = [&](llama_token t, llama_pos pos, int seq, bool logits) {
    int k = batch.n_tokens++;
    batch.token[k] = t;
    batch.pos[k] = pos;
    batch.n_seq_id[k] = 1;
    batch.seq_id[k][0] = seq;
    batch.logits[k] = logits;
  };
  // Generating sequences: last token + draft.
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.req || !s.generating) continue;
    Entry e{&s, batch.n_tokens, 0, {}, {}, 0, false, false};
    int room = std::min(s.req->limits.max_tokens - s.n_gen, n_ctx_ - static_cast<int>(s.cache.size()) - 2);
    int n_draft = std::min({s.draft_n, room - 1, 16});
    if (n_draft > 0 && s.req->spec.ngram) e.draft = ngram_draft(s, n_draft);
    if (n_draft > 0 && e.draft.empty() && s.req->spec.draft && draft_ctx_) e.draft = model_draft(s, n_draft, &e.q);
    add(s.last, static_cast<llama_pos>(s.cache.size()), s.id, true);
    for (size_t j = 0; j < e.draft.size(); j++)
      add(e.draft[j], static_cast<llama_pos>(s.cache.size() + 1 + j), s.id, true);
    e.n = 1 + static_cast<int>(e.draft.size());
    s.stats.drafted_tokens += static_cast<int>(e.draft.size());
    entries.push_back(std::move(e));
  }
  // Prompt chunks, in admission order, while the batch has room.
  llama_memory_t mem0 = llama_get_memory(ctx_.get());
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.req || s.generating) continue;
    int room = n_batch_ - batch.n_tokens;
    if (room <= 0) break;
    const auto& p = s.req->prompt;
    while (!s.ahead.empty() && s.ahead.front().pos == s.cache.size()) {  // already in the KV
      s.cache.insert(s.cache.end(), s.ahead.front().tokens.begin(), s.ahead.front().tokens.end());
      s.ahead.erase(s.ahead.begin());
      if (s.scratch_ready) llama_memory_seq_rm(mem0, s.scratch, -1, -1);  // lacks the chunk now
      s.scratch_ready = false;
    }
    size_t start = s.cache.size();
    size_t stop = s.ahead.empty() ? p.size() : s.ahead.front().pos;
    size_t end = std::min(stop, start + static_cast<size_t>(room));
    int seq = s.id;
    if (!s.ahead.empty()) {  // a gap before a kept chunk: evaluate it in the scratch sequence
      if (!s.scratch_ready) {
        llama_memory_seq_rm(mem0, s.scratch, -1, -1);
        llama_memory_seq_cp(mem0, s.id, s.scratch, 0, static_cast<llama_pos>(start));
        s.scratch_ready = true;
      }
      seq = s.scratch;
    }
    Entry e{&s, batch.n_tokens, static_cast<int>(end - start), {}, {}, start, seq != s.id, end == p.size()};
    for (size_t i = start; i < end; i++) add(p[i], static_cast<llama_pos>(i), seq, i + 1 == p.size());
    entries.push_back(std::move(e));
  }
  if (batch.n_tokens == 0) {
    return false;
  }

  int rc = llama_decode(ctx_.get(), batch);
  while (rc == 1) {
    // No room in the KV cache: evict the least recently used idle sequence and retry.
    Slot* victim = nullptr;
    for (auto& s : slots_)
      if (!s->req && !s->cache.empty() && (!victim || s->last_used < victim->last_used)) victim = s.get();
    if (!victim) break;
    llama_memory_seq_rm(llama_get_memory(ctx_.get()), victim->id, -1, -1);
    victim->cache.clear();
    metrics_.evictions++;
    rc = llama_decode(ctx_.get(), batch);
  }
  if (rc != 0) {
    llama_memory_t mem = llama_get_memory(ctx_.get());
    for (auto& e : entries) {
      llama_memory_seq_rm(mem, e.s->id, static_cast<llama_pos>(e.s->cache.size()), -1);
      if (e.s->scratch_ready) llama_memory_seq_rm(mem, e.s->scratch, -1, -1);
      e.s->scratch_ready = false;
      e.s->ahead.clear();
      if (e.s->req) {
        if (rc == 1)
          fail(*e.s, "overloaded",
               "the KV cache is full: too many concurrent tokens for --ctx " + std::to_string(n_ctx_));
        else
          fail(*e.s, "internal", "llama_decode failed with code " + std::to_string(rc));
      }
    }
    return true;
  }

  llama_memory_t mem = llama_get_memory(ctx_.get());
  for (auto& e : entries)
    if (e.s->req) e.s->req->decode_steps++;
  for (auto& e : entries) {
    Slot& s = *e.s;
    if (!s.req) continue;
    if (!s.generating) {
      const auto& p = s.req->prompt;
      if (e.via_scratch)  // the gap joins the slot's own sequence (shared cells, no copy of data)
        llama_memory_seq_cp(mem, s.scratch, s.id, static_cast<llama_pos>(e.start),
                            static_cast<llama_pos>(e.start + e.n));
      s.cache.insert(s.cache.end(), p.begin() + s.cache.size(), p.begin() + s.cache.size() + e.n);
      s.stats.evaluated_tokens += e.n;
      if (!e.prompt_done) continue;
      s.t_prompt_done = now_us();
      s.stats.t_prompt_ms = (s.t_prompt_done - s.t_admit) / 1000.0;
      s.generating = true;
      llama_token t = sample(s, llama_get_logits_ith(ctx_.get(), e.first + e.n - 1), nullptr);
      s.last = t;
      if (!accept_token(s, t)) continue;
      continue;
    }
    // Verify: batch[e.first + i] holds (last, d0, d1, ...); logits at i predict the token after it.
    const size_t base = s.cache.size();
    int n_valid = 1;  // `last` is now in the KV
    llama_token next = -1;
    bool alive = true;
    bool greedy = s.req->sampling.temperature <= 0.0f;
    int accepted = 0;
    for (int i = 0; i <= static_cast<int>(e.draft.size()); i++) {
      const float* logits = llama_get_logits_ith(ctx_.get(), e.first + i);
      bool has_draft = i < static_cast<int>(e.draft.size());
      llama_token t;
      if (greedy) {
        t = sample(s, logits, nullptr);
      } else {
        std::vector<std::pair<llama_token, float>> probs;
        t = sample(s, logits, &probs);
        if (has_draft) {
          // Rejection sampling (Leviathan et al. 2023; Chen et al. 2023): accept the draft token d with
          // probability min(1, p(d)/q(d)); otherwise sample from norm(max(0, p - q)). A deterministic
          // draft (n-gram, greedy draft model) has a one-hot q.
          llama_token d = e.draft[i];
          const Dist* q = i < static_cast<int>(e.q.size()) ? &e.q[i] : nullptr;
          auto q_of = [&](llama_token x) -> double {
            if (!q) return x == d ? 1.0 : 0.0;
            for (auto& pr : *q)
              if (pr.first == x) return pr.second;
            return 0.0;
          };
          double pd = 0;
          for (auto& pr : probs)
            if (pr.first == d) pd = pr.second;
          double qd = q_of(d);
          std::uniform_real_distribution<double> u(0.0, 1.0);
          if (qd > 0 && u(s.rng) < std::min(1.0, pd / qd)) {
            t = d;
          } else {
            std::vector<double> r(probs.size());
            double total = 0;
            for (size_t k = 0; k < probs.size(); k++) {
              r[k] = std::max(0.0, static_cast<double>(probs[k].second) - q_of(probs[k].first));
              total += r[k];
            }
            if (total > 0) {
              double x = u(s.rng) * total, cum = 0;
              t = probs.back().first;
              for (size_t k = 0; k < probs.size(); k++) {
                cum += r[k];
                if (r[k] > 0 && x < cum) {
                  t = probs[k].first;
                  break;
                }
              }
            }  // total == 0 means p == q: the sample t drawn from p above stands
          }
        }
      }
      next = t;
      const bool hit = has_draft && t == e.draft[i];
      if (hit) {
        accepted++;
        s.stats.accepted_tokens++;  // before accept_token: it may finish the request and report stats
      }
      if (!accept_token(s, t)) {
        alive = false;
        break;
      }
      if (hit) {
        n_valid++;
        continue;
      }
      break;
    }
    // Keep `last` + accepted drafts in the KV, drop the rest.
    s.cache.push_back(s.last);
    for (int j = 0; j < n_valid - 1; j++) s.cache.push_back(e.draft[j]);
    llama_memory_seq_rm(mem, s.id, static_cast<llama_pos>(base + n_valid), -1);
    if (!e.draft.empty()) {
      if (accepted == static_cast<int>(e.draft.size()))
        s.draft_n = std::min(s.draft_n + 2, 16);
      else if (accepted == 0)
        s.draft_n = std::max(1, s.draft_n / 2);
    }
    if (alive) s.last = next;
  }
  return true;
}

}  // namespace pronto
