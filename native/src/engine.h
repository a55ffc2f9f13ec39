// The engine: one llama.cpp model + context, several sequences in it, ONE inference thread fed by a
// queue. The protocol layer (protocol_json.cpp, http_server.cpp) turns JSON into `Request`s and hands
// them over with submit(); results come back through each request's `Sink`.
//
// Where things are (native/README.md has the map):
//   engine.cpp        this class: lifecycle, the inference loop (intake, waiting, admission,
//                     preemption, the exception boundary), finishing requests
//   decode_step.cpp   one batched decode: batch building, KV room, verification of drafts
//   scheduler.h       the policy: priorities, the bounded wait queue, whom to preempt (pure)
//   kv_reuse.h        which sequence a request runs in, chunk reuse with shifts (pure)
//   kv_cache.h        the sequence operations and the exact model of the cell pool (pure)
//   sampler.h         logits -> token (llama.cpp's sampler chain + the request's generator)
//   speculator.h      n-gram and draft-model drafts, verification, adaptive draft length
//   model_loader.h    model and context creation, the KV-type policy, the CPU thread pool
//   tokenizer.h       the one tokenize function;  fim.cpp  the FIM prompt
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kv_cache.h"
#include "kv_reuse.h"
#include "llama.h"
#include "metrics.h"
#include "model_loader.h"
#include "sampler.h"
#include "scheduler.h"
#include "speculator.h"
#include "tokenizer.h"
#include "types.h"

namespace pronto {

struct DeviceInfo {
  std::string name, type;
  size_t memory_free = 0, memory_total = 0;
};

struct FimInfo {
  bool supported = false, repo_level = false;
  std::string order = "spm";
};

// Output of the pure prompt builders.
struct BuiltPrompt {
  std::vector<llama_token> tokens;
  std::string line_prefix;
};

// The engine's sequence operations: llama.cpp's memory and the ledger that models it, in step.
class LlamaKv : public KvCache {
 public:
  LlamaKv(llama_context* ctx, KvLedger& ledger) : ctx_(ctx), ledger_(ledger) {}
  void seq_rm(int seq, int p0, int p1) override;
  void seq_cp(int src, int dst, int p0, int p1) override;
  void seq_add(int seq, int p0, int p1, int delta) override;
  void clear();

 private:
  llama_context* ctx_;
  KvLedger& ledger_;
};

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads the model(s) and creates the context; with opts.chat_model_path also the chat model, in an
  // Engine of its own that this one's inference thread drives (one scheduler for both). On failure
  // returns false with a message naming the file.
  bool load(const EngineOptions& opts, std::string& error);
  void start();
  void stop();

  // Thread-safe. Tokenizes with the target vocabulary (tokenizer.h: safe for any input).
  std::vector<llama_token> tokenize(const std::string& text, bool add_special, bool parse_special) const;
  std::string token_piece(llama_token t) const;
  BuiltPrompt build_fim(const FimInput& fim, int max_tokens) const;
  // Applies `chat_template` (a llama.cpp built-in name or template text) when given, else the model's
  // own. Throws EngineError no_chat_template when neither is one llama.cpp supports.
  std::string apply_chat_template(const std::vector<ChatMessage>& messages,
                                  const std::string& chat_template = "") const;

  // Thread-safe: queue a request (already validated, tokenized by serving(req->model)); results arrive
  // on its sink (from the inference thread), including `overloaded` when the wait queue is full.
  void submit(RequestPtr req);
  // Thread-safe: stop the request within one decode step.
  void cancel(const RequestPtr& req);

  // The engine that serves `purpose`: the chat model's when there is one, else this one.
  const Engine& serving(ModelPurpose purpose) const { return purpose == ModelPurpose::kChat && chat_ ? *chat_ : *this; }
  const Engine* chat_engine() const { return chat_.get(); }
  // The name clients select this model by (`model` field; /v1/models `id`): the model's name, made
  // distinct from the completion model's for the chat model.
  const std::string& model_id() const { return id_; }
  const ModelInfo& model_info() const { return models_.info; }
  const ModelInfo* draft_info() const { return models_.draft ? &models_.draft_info : nullptr; }
  const FimInfo& fim_info() const { return fim_info_; }
  int n_ctx() const { return n_ctx_; }
  const std::string& kv_type() const { return models_.kv_type; }
  int n_parallel() const { return n_parallel_; }
  int busy_sequences() const { return std::max(0, busy_.load()) + (chat_ ? chat_->busy_sequences() : 0); }
  Metrics& metrics() { return *metrics_; }
  double kv_usage() const { return kv_usage_.load(); }

 private:
  struct Job;
  struct Slot;
  using JobPtr = std::shared_ptr<Job>;

  // engine.cpp: the inference thread
  bool load_model(const EngineOptions& opts, std::string& error, const ThreadPool* shared_pool);
  void loop();
  void iterate(std::deque<RequestPtr>& submitted, bool decode);
  void drain(std::deque<RequestPtr>& submitted);
  bool has_running() const;
  bool interactive_work() const;
  void take_submitted(std::deque<RequestPtr>& submitted);
  void expire_waiting();
  void admit_waiting();
  bool has_idle_slot() const;
  int room_for(const Placement& p) const;
  void start_job(JobPtr job, const Placement& p);
  void preempt(Slot& s);
  bool make_room(int cells);
  bool free_one();
  void evict(Slot& s);
  void drop_ahead(Slot& s);
  void end_cancelled_running();
  Slot* idle_slot_with_seq(int seq) const;
  bool movable(const Slot& s, size_t p0, size_t p1) const;
  void unshare_moved(Slot& s, const ReusePlan& plan);
  std::vector<RunningView> running() const;
  std::vector<SlotView> slot_views() const;
  void finish(Slot& s, const std::string& reason);
  void fail(Slot& s, const std::string& code, const std::string& message);
  void finish_waiting(Job& job, const std::string& reason);
  void report_done(Job& job, const std::string& reason);
  void report_error(Job& job, const std::string& code, const std::string& message);
  void release(Slot& s);
  void abort_request(Slot& s, const std::exception& ex);
  void recover(const std::string& why);
  void update_gauges();

  // decode_step.cpp: one batched decode
  bool step();
  bool accept_token(Slot& s, llama_token t);
  void verify(Slot& s, int first, const std::vector<llama_token>& draft, const std::vector<Dist>& q,
              DraftControl* control);
  std::vector<llama_token> model_draft(Slot& s, int n, std::vector<Dist>* q);
  int draft_room(const Slot& s) const;

  LoadedModels models_;  // first: destroyed last
  std::unique_ptr<DraftModel> draft_;
  const llama_vocab* vocab_ = nullptr;
  Tokenizer tokenizer_;
  FimInfo fim_info_;
  std::vector<llama_token> eog_tokens_;
  int n_ctx_ = 0, n_parallel_ = 0, n_batch_ = 512, n_vocab_ = 0;
  bool can_shift_ = false;
  int cache_reuse_ = 32;
  bool share_kv_across_tenants_ = false;

  KvLedger ledger_;
  std::unique_ptr<LlamaKv> kv_;
  llama_batch batch_{};
  bool batch_ready_ = false;
  std::vector<float> dense_q_;  // verification scratch, n_vocab zeros
  std::vector<std::unique_ptr<Slot>> slots_;
  WaitQueue<JobPtr> waiting_;
  int64_t lru_clock_ = 0;
  uint64_t arrivals_ = 0, admissions_ = 0;
  int failed_iterations_ = 0;
  DraftControl ngram_prior_, model_prior_;  // where each draft source stood when the last request ended
  SpeculationGate spec_gate_;               // whether drafting pays on this machine (speculator.h)
  int64_t tokens_emitted_ = 0;              // tokens accepted into outputs, all requests (for spec_gate_)
  enum class Failpoint { kNone, kOnce, kAlways } failpoint_ = Failpoint::kNone;

  std::deque<RequestPtr> submitted_;  // guarded by mutex_
  std::mutex mutex_;
  std::condition_variable cv_;
  bool running_ = false;
  std::thread thread_;
  std::atomic<int> busy_{0};
  std::atomic<double> kv_usage_{0.0};
  Metrics own_metrics_;
  Metrics* metrics_ = &own_metrics_;  // the chat model's engine counts into the completion model's

  // The chat model (--chat-model): an engine without a thread of its own; loop() takes its submitted
  // requests (guarded by this engine's mutex_) and runs its iterations after this one's.
  std::unique_ptr<Engine> chat_;
  std::string id_;
  int chat_deferred_ = 0;             // iterations the chat model sat out (chat_may_decode)
  bool defer_lower_classes_ = false;  // on the CPU: chat sits out steps while completions run
  int lower_deferred_ = 0;            // steps the lower classes sat out (chat_may_decode)
  uint64_t own_step_clock_ = 0;       // decodes run, all models (RequestStats.engine_steps)
  uint64_t* step_clock_ = &own_step_clock_;
};

}  // namespace pronto
