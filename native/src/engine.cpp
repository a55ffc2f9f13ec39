// The engine's lifecycle and its inference loop.
//
// One thread owns llama.cpp. Other threads only append submitted requests to a list and set
// `cancelled` flags; the loop checks the flags before every decode, so a cancel takes effect within one
// step. Each iteration of the loop:
//   1. takes the submitted requests into the wait queue (scheduler.h: bounded, by priority; a full
//      queue answers `overloaded`),
//   2. ends waiting requests that were cancelled or ran out of their time budget, and running requests
//      that were cancelled (before admission: the sidecar cancels a prefetch and submits the request
//      that replaces it together, and the new request may reuse — and move — what the old one holds),
//   3. admits waiting requests while a sequence is idle and the KV cache can hold them, preempting a
//      running request of a lower class for a higher one (scheduler.h),
//   4. runs one batched decode (decode_step.cpp).
// Anything thrown while serving one request ends that request with an error (abort_request). Anything
// else that escapes an iteration ends every request with an error and empties the KV cache (recover);
// when that happens three iterations in a row the loop cannot go on, and the process exits with status
// 70 so the sidecar restarts it.
#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "engine_state.h"
#include "errors.h"
#include "text.h"

namespace pronto {

void LlamaKv::seq_rm(int seq, int p0, int p1) {
  llama_memory_seq_rm(llama_get_memory(ctx_), seq, p0, p1);
  ledger_.seq_rm(seq, p0, p1);
}
void LlamaKv::seq_cp(int src, int dst, int p0, int p1) {
  llama_memory_seq_cp(llama_get_memory(ctx_), src, dst, p0, p1);
  ledger_.seq_cp(src, dst, p0, p1);
}
void LlamaKv::seq_add(int seq, int p0, int p1, int delta) {
  llama_memory_seq_add(llama_get_memory(ctx_), seq, p0, p1, delta);
  ledger_.seq_add(seq, p0, p1, delta);
}
void LlamaKv::clear() {
  llama_memory_clear(llama_get_memory(ctx_), true);
  ledger_.clear();
}

Engine::Engine() = default;
Engine::~Engine() {
  stop();
  if (batch_ready_) llama_batch_free(batch_);
}

bool Engine::load(const EngineOptions& opts, std::string& error) {
  if (!load_model(opts, error, nullptr)) return false;
  if (opts.chat_model_path.empty()) return true;
  // The chat model: its own context and sequences (--ctx and --parallel again), no draft model, the
  // same CPU pool; decoded by this engine's inference thread, one model after the other.
  EngineOptions co = opts;
  co.model_path = opts.chat_model_path;
  co.draft_model_path.clear();
  co.chat_model_path.clear();
  chat_ = std::make_unique<Engine>();
  chat_->metrics_ = metrics_;
  chat_->step_clock_ = step_clock_;
  if (!chat_->load_model(co, error, &models_.threadpool)) {
    error = "--chat-model " + opts.chat_model_path + ": " + error;
    chat_.reset();
    return false;
  }
  if (chat_->id_ == id_) chat_->id_ += "-chat";
  return true;
}

bool Engine::load_model(const EngineOptions& opts, std::string& error, const ThreadPool* shared_pool) {
  if (!load_models(opts, models_, error, shared_pool)) return false;
  id_ = models_.info.name;
  // Fault injection for the tests of the exception boundary (engine.errors.test.ts): an iteration with a
  // running request throws, once or every time.
  if (const char* fp = std::getenv("PRONTO_FAILPOINT")) {
    const std::string f = fp;
    failpoint_ = f == "iteration-once"     ? Failpoint::kOnce
                 : f == "iteration-always" ? Failpoint::kAlways
                                           : Failpoint::kNone;
  }
  vocab_ = llama_model_get_vocab(models_.model.get());
  tokenizer_ = Tokenizer(vocab_);
  n_vocab_ = llama_vocab_n_tokens(vocab_);
  for (llama_token t = 0; t < n_vocab_; t++)
    if (llama_vocab_is_eog(vocab_, t)) eog_tokens_.push_back(t);

  fim_info_.supported = llama_vocab_fim_pre(vocab_) != LLAMA_TOKEN_NULL &&
                        llama_vocab_fim_suf(vocab_) != LLAMA_TOKEN_NULL &&
                        llama_vocab_fim_mid(vocab_) != LLAMA_TOKEN_NULL;
  fim_info_.repo_level = fim_info_.supported && llama_vocab_fim_sep(vocab_) != LLAMA_TOKEN_NULL;
  fim_info_.order = fim_info_.supported ? (opts.fim_order == "psm" ? "psm" : "spm") : "none";

  n_parallel_ = std::max(1, opts.n_parallel);
  n_batch_ = std::max(32, opts.n_batch);
  n_ctx_ = static_cast<int>(llama_n_ctx(models_.ctx.get()));
  can_shift_ = llama_memory_can_shift(llama_get_memory(models_.ctx.get()));
  cache_reuse_ = std::max(0, opts.cache_reuse);
  share_kv_across_tenants_ = opts.share_kv_across_tenants;
  spec_gate_ = SpeculationGate(opts.speculation_gate);
  defer_lower_classes_ = opts.gpu_layers == 0;  // main.cpp sets 0 when there is no GPU
  waiting_ = WaitQueue<JobPtr>(static_cast<size_t>(std::max(1, opts.max_queue)));
  ledger_ = KvLedger(n_ctx_);
  kv_ = std::make_unique<LlamaKv>(models_.ctx.get(), ledger_);
  if (models_.draft_ctx) draft_ = std::make_unique<DraftModel>(models_.draft_ctx.get(), models_.n_batch);
  dense_q_.assign(n_vocab_, 0.0f);

  batch_ = llama_batch_init(models_.n_batch, 0, 1);
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
  return tokenizer_.tokenize(text, add_special, parse_special);
}

std::string Engine::token_piece(llama_token t) const { return tokenizer_.piece(t); }

// The chat template: the request's (a llama.cpp built-in name such as "chatml", or a template text
// llama.cpp recognises), else the model's own. Never a silent fallback: a model without a template
// llama.cpp supports gets a 4xx naming what to send instead (code no_chat_template).
std::string Engine::apply_chat_template(const std::vector<ChatMessage>& messages,
                                        const std::string& chat_template) const {
  const char* model_tmpl = llama_model_chat_template(models_.model.get(), nullptr);
  const bool from_request = !chat_template.empty();
  const char* use = from_request ? chat_template.c_str() : model_tmpl;
  static const char* kHint =
      "send chat_template with a llama.cpp built-in name (chatml, llama3, deepseek, mistral-v7, phi3, gemma, ...) or "
      "use a model that has a chat template";
  if (!use || !*use) throw EngineError("no_chat_template", std::string("the model has no chat template: ") + kHint);
  std::vector<llama_chat_message> msgs;
  for (auto& m : messages) msgs.push_back({m.role.c_str(), m.content.c_str()});
  size_t total = 0;
  for (auto& m : messages) total += m.content.size() + m.role.size() + 64;
  std::string buf(total + 1024, '\0');
  int n = llama_chat_apply_template(use, msgs.data(), msgs.size(), true, buf.data(), static_cast<int32_t>(buf.size()));
  if (n < 0)
    throw EngineError("no_chat_template",
                      from_request ? "chat_template \"" + chat_template.substr(0, 64) +
                                         "\" is not a template llama.cpp supports: " + kHint
                                   : std::string("the model's chat template is not one llama.cpp supports: ") + kHint);
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
    // The chat model's queue is guarded by this mutex too: loop() takes both.
    auto& to = req->model == ModelPurpose::kChat && chat_ ? chat_->submitted_ : submitted_;
    to.push_back(std::move(req));
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
// The inference thread
// ------------------------------------------------------------------------------------------------

bool Engine::has_running() const {
  return std::any_of(slots_.begin(), slots_.end(), [](auto& s) { return s->job != nullptr; });
}

// An interactive request runs or waits here: the chat model steps aside (chat_may_decode).
bool Engine::interactive_work() const {
  if (std::any_of(slots_.begin(), slots_.end(),
                  [](auto& s) { return s->job && s->job->run_priority() == Priority::kInteractive; }))
    return true;
  const JobPtr head = waiting_.front();
  return head && head->priority == Priority::kInteractive;
}

void Engine::loop() {
  while (true) {
    std::deque<RequestPtr> submitted, chat_submitted;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const bool active = has_running() || (chat_ && chat_->has_running());
      auto nothing_new = [&] { return submitted_.empty() && (!chat_ || chat_->submitted_.empty()); };
      if (!active && nothing_new()) {
        // Nothing runs: wait for work (waiting requests are re-checked now and then for their deadline).
        if (waiting_.empty() && (!chat_ || chat_->waiting_.empty()))
          cv_.wait(lock, [&] { return !running_ || !nothing_new(); });
        else
          cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return !running_ || !nothing_new(); });
      }
      if (!running_) break;
      submitted.swap(submitted_);
      if (chat_) chat_submitted.swap(chat_->submitted_);
    }
    iterate(submitted, true);
    if (chat_) chat_->iterate(chat_submitted, chat_may_decode(interactive_work(), chat_deferred_));
    metrics_->queue_depth = static_cast<int64_t>(waiting_.size() + (chat_ ? chat_->waiting_.size() : 0));
  }
  // Shutting down: end whatever is still running or waiting.
  std::deque<RequestPtr> submitted, chat_submitted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    submitted.swap(submitted_);
    if (chat_) chat_submitted.swap(chat_->submitted_);
  }
  drain(submitted);
  if (chat_) chat_->drain(chat_submitted);
}

void Engine::drain(std::deque<RequestPtr>& submitted) {
  for (auto& s : slots_)
    if (s->job) fail(*s, "internal", "engine is shutting down");
  for (auto& job : waiting_.remove_if([](const JobPtr&) { return true; }))
    report_error(*job, "internal", "engine is shutting down");
  for (auto& r : submitted) r->sink->on_error(r->id, "internal", "engine is shutting down");
}

// `decode`: run this iteration's batched decode (the chat model sits some out, scheduler.h).
void Engine::iterate(std::deque<RequestPtr>& submitted, bool decode) {
  try {
    take_submitted(submitted);
    expire_waiting();
    end_cancelled_running();
    admit_waiting();
    if (failpoint_ != Failpoint::kNone && has_running()) {
      if (failpoint_ == Failpoint::kOnce) failpoint_ = Failpoint::kNone;
      throw std::runtime_error("failpoint PRONTO_FAILPOINT");
    }
    if (decode) step();
    update_gauges();
    failed_iterations_ = 0;
    return;
  } catch (const std::exception& e) {
    recover(e.what());
  } catch (...) {
    recover("unknown exception");
  }
  if (++failed_iterations_ >= 3) {
    std::fprintf(stderr, "pronto-engine: fatal: the inference loop failed %d times in a row, exiting\n",
                 failed_iterations_);
    std::fflush(stderr);
    std::_Exit(70);
  }
}

void Engine::take_submitted(std::deque<RequestPtr>& submitted) {
  while (!submitted.empty()) {
    RequestPtr req = std::move(submitted.front());
    submitted.pop_front();
    JobPtr job;
    try {
      job = std::make_shared<Job>(req, ++arrivals_, &eog_tokens_, n_vocab_, ngram_prior_, model_prior_);
    } catch (const std::exception& e) {
      metrics_->error("internal");
      req->sink->on_error(req->id, "internal", std::string("cannot start the request: ") + e.what());
      continue;
    }
    if (req->limits.time_budget_ms > 0) job->deadline_us = req->t_submit_us + req->limits.time_budget_ms * 1000;
    job->stats.prompt_tokens = static_cast<int>(job->n_prompt);
    job->clock_at_intake = *step_clock_;
    JobPtr refused = waiting_.push(job);
    if (refused)
      report_error(*refused, "overloaded",
                   "the engine is busy: " + std::to_string(waiting_.capacity()) +
                       " requests are waiting (--max-queue); retry later");
  }
}

void Engine::expire_waiting() {
  const int64_t now = now_us();
  for (auto& job : waiting_.remove_if(
           [&](const JobPtr& j) { return j->req->cancelled || (j->deadline_us > 0 && now >= j->deadline_us); })) {
    if (!job->req->cancelled) metrics_->queue_timeouts++;
    finish_waiting(*job, job->req->cancelled ? "cancelled" : "time");
  }
}

bool Engine::has_idle_slot() const {
  return std::any_of(slots_.begin(), slots_.end(), [](auto& s) { return s->job == nullptr; });
}

std::vector<SlotView> Engine::slot_views() const {
  std::vector<SlotView> views;
  for (auto& s : slots_) views.push_back({&s->cache, &s->tenant, s->job != nullptr, s->last_used});
  return views;
}

std::vector<RunningView> Engine::running() const {
  std::vector<RunningView> out;
  for (auto& s : slots_)
    if (s->job)
      out.push_back({s->id, s->job->run_priority(), s->job->admitted, s->job->steps, s->job->stats.preemptions});
  return out;
}

// KV cells free for a request placed as `p` once the idle sequences are dropped, except its source and
// the tokens it keeps in its target.
int Engine::room_for(const Placement& p) const {
  std::vector<int> droppable;
  for (int i = 0; i < static_cast<int>(slots_.size()); i++) {
    const Slot& s = *slots_[i];
    if (s.job || (i == p.source && p.source != p.target)) continue;
    droppable.push_back(s.id);
    droppable.push_back(s.scratch);
  }
  const int kept = p.source == p.target ? static_cast<int>(p.reused()) : 0;
  return ledger_.free() + ledger_.exclusive_cells(droppable) - kept;
}

void Engine::end_cancelled_running() {
  for (auto& s : slots_)
    if (s->job && s->job->req->cancelled) finish(*s, "cancelled");
}

void Engine::admit_waiting() {
  while (JobPtr job = waiting_.front()) {
    bool fits = false;
    Placement p;
    if (has_idle_slot()) {
      PlacementOptions po;
      po.min_chunk = can_shift_ ? static_cast<size_t>(cache_reuse_) : 0;
      po.share_across_tenants = share_kv_across_tenants_;
      po.movable = [this](int slot, size_t p0, size_t p1) { return movable(*slots_[slot], p0, p1); };
      p = choose_placement(slot_views(), job->tokens, job->req->tenant, po);
      const int need = static_cast<int>(job->tokens.size() - p.reused()) + 1;
      fits = p.target >= 0 && need <= room_for(p);
    }
    const AdmissionDecision d = decide_admission(job->priority, fits, running());
    if (d.what == Admission::kAdmit) {
      waiting_.pop_front();
      waiting_.passed_by(job->priority);
      start_job(job, p);
    } else if (d.what == Admission::kPreempt) {
      preempt(*slots_[d.victim]);
    } else {
      if (!job->waited) metrics_->admission_waits++;
      job->waited = true;
      return;
    }
  }
}

void Engine::start_job(JobPtr job, const Placement& p) {
  Slot& s = *slots_[p.target];
  const auto& tokens = job->tokens;
  if (p.source != p.target || p.wipe) {
    kv_->seq_rm(s.id, -1, -1);
    s.cache.clear();
    drop_ahead(s);
  }
  if (p.source != p.target) {
    if (p.keep > 0) kv_->seq_cp(slots_[p.source]->id, s.id, 0, static_cast<int>(p.keep));
    s.cache.assign(tokens.begin(), tokens.begin() + p.keep);
  } else if (!p.wipe) {
    drop_ahead(s);
    unshare_moved(s, p.reuse);
    apply_reuse(*kv_, s.id, p.reuse, s.cache, s.ahead);
  }
  if (s.tenant != job->req->tenant && draft_) draft_->drop(s.id, s.draft_cache);  // the draft's copy too
  s.tenant = job->req->tenant;
  s.generating = false;
  s.last = -1;
  s.last_used = ++lru_clock_;
  const int64_t now = now_us();
  if (job->admitted == 0) {  // first admission (not a resume after preemption)
    job->stats.reused_tokens = static_cast<int>(p.reused());
    job->stats.t_queue_ms = (now - job->req->t_submit_us) / 1000.0;
    job->t_admit = now;
  }
  // evaluated_tokens grows as the prompt's batches are decoded (decode_step.cpp): a request that ends
  // or is preempted mid-prompt counts what it evaluated, not what it would have; whoever resumes from
  // there counts the rest (counting the plan counted those tokens twice).
  job->admitted = ++admissions_;
  job->steps = 0;
  s.job = std::move(job);
  busy_++;
}

// The request leaves its sequence and waits again, ahead of its class; its sequence keeps the tokens
// (idle, so a resume finds them unless they were dropped for room).
void Engine::preempt(Slot& s) {
  JobPtr job = std::move(s.job);
  drop_ahead(s);
  s.generating = false;
  s.last = -1;
  s.last_used = ++lru_clock_;
  busy_--;
  metrics_->preemptions++;
  job->stats.preemptions++;
  job->priority = job->run_priority();
  job->passes = 0;
  waiting_.push(std::move(job), true);
}

void Engine::evict(Slot& s) {
  kv_->seq_rm(s.id, -1, -1);
  kv_->seq_rm(s.scratch, -1, -1);
  s.cache.clear();
  s.ahead.clear();
  s.scratch_ready = false;
  metrics_->evictions++;
}

// Frees KV cells until `cells` are free (by the ledger's count). False when nothing more can be freed.
bool Engine::make_room(int cells) {
  while (ledger_.free() < cells)
    if (!free_one()) return false;
  return true;
}

// Frees what can be freed next: the least recently used idle sequence, else the lowest-class, newest
// running request is preempted (never the only one: alone, every request fits by construction).
bool Engine::free_one() {
  Slot* idle = nullptr;
  for (auto& s : slots_)
    if (!s->job && (!s->cache.empty() || !s->ahead.empty()) && (!idle || s->last_used < idle->last_used))
      idle = s.get();
  if (idle) {
    evict(*idle);
    return true;
  }
  const auto run = running();
  if (run.size() <= 1) return false;
  preempt(*slots_[choose_pressure_victim(run)]);
  return true;
}

// A request that ends during its prompt may leave reused chunks beyond `cache` in the KV: drop them.
Engine::Slot* Engine::idle_slot_with_seq(int seq) const {
  for (auto& o : slots_)
    if (o->id == seq && !o->job) return o.get();
  return nullptr;
}

// Chunk reuse may shift the cells of `s` at cached positions [p0, p1) when no sequence that must keep
// them shares them: a shift moves a shared cell for every holder (kv_cache.h). Sharers that may give
// them up: `s`'s own scratch (dropped at admission) and idle sequences — typically a prefetch or a
// second request that copied this file's prefix, whose copy is cut back to before the moved cells
// (unshare_moved) rather than making this request evaluate its whole prompt again (measured: a
// definition chunk inserted ahead of a 1,000-token prefix while a prefetch's copy shared it).
bool Engine::movable(const Slot& s, size_t p0, size_t p1) const {
  for (int other : ledger_.sharers(s.id, static_cast<int>(p0), static_cast<int>(p1)))
    if (other != s.scratch && !idle_slot_with_seq(other)) return false;
  return true;
}

void Engine::unshare_moved(Slot& s, const ReusePlan& plan) {
  for (const auto& c : plan.chunks) {
    if (c.from == c.to) continue;
    for (int other : ledger_.sharers(s.id, static_cast<int>(c.from), static_cast<int>(c.from + c.n))) {
      Slot* o = idle_slot_with_seq(other);
      if (!o) continue;  // s's scratch: dropped already (drop_ahead)
      kv_->seq_rm(o->id, static_cast<int>(c.from), -1);
      if (o->cache.size() > c.from) o->cache.resize(c.from);
    }
  }
}

void Engine::drop_ahead(Slot& s) {
  if (s.scratch_ready) kv_->seq_rm(s.scratch, -1, -1);
  s.scratch_ready = false;
  if (s.ahead.empty()) return;
  kv_->seq_rm(s.id, static_cast<int>(s.cache.size()), -1);
  s.ahead.clear();
}

void Engine::report_done(Job& job, const std::string& reason) {
  // The next request starts from where this one left each draft source it used (its pause counts on).
  if (job.req->spec.ngram) ngram_prior_ = job.ngram;
  if (job.req->spec.draft && draft_) model_prior_ = job.model;
  RequestStats& st = job.stats;
  const int64_t t = now_us();
  st.t_total_ms = (t - job.req->t_submit_us) / 1000.0;
  if (job.t_prompt_done == 0 && job.t_admit > 0) st.t_prompt_ms = (t - job.t_admit) / 1000.0;
  st.generated_tokens = job.n_gen;
  st.decode_steps = job.req->decode_steps.load();
  const int at_cancel = job.req->steps_at_cancel.load();
  st.steps_after_cancel = at_cancel >= 0 ? st.decode_steps - at_cancel : 0;
  st.engine_steps = static_cast<int>(*step_clock_ - job.clock_at_intake);
  metrics_->requests++;
  metrics_->prompt_evaluated += st.evaluated_tokens;
  metrics_->prompt_reused += st.reused_tokens;
  metrics_->generated += job.n_gen;
  metrics_->drafted += st.drafted_tokens;
  metrics_->accepted += st.accepted_tokens;
  metrics_->latency.observe(st.t_total_ms / 1000.0);
  if (reason == "cancelled") metrics_->cancellations++;
  // Flush what was held back (a possible stop-string prefix) when the request did not stop on it.
  utf8_take_complete(job.pending, job.text, true);
  try {
    if (reason != "stop" && job.text.size() > job.sent) job.req->sink->on_token(job.req->id, job.text.substr(job.sent));
    job.req->sink->on_done(job.req->id, job.text, reason, st);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pronto-engine: request %s: its final event could not be delivered: %s\n", job.req->id.c_str(),
                 e.what());
  }
}

void Engine::report_error(Job& job, const std::string& code, const std::string& message) {
  metrics_->error(code);
  try {
    job.req->sink->on_error(job.req->id, code, message);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pronto-engine: request %s: its error could not be delivered: %s\n", job.req->id.c_str(),
                 e.what());
  }
}

void Engine::release(Slot& s) {
  drop_ahead(s);
  s.job.reset();
  s.generating = false;
  s.last = -1;
  s.last_used = ++lru_clock_;
}

void Engine::finish(Slot& s, const std::string& reason) {
  JobPtr job = s.job;
  busy_--;  // before the client hears "done", so /metrics read right after it is already true
  release(s);
  report_done(*job, reason);
}

void Engine::fail(Slot& s, const std::string& code, const std::string& message) {
  JobPtr job = s.job;
  busy_--;
  release(s);
  report_error(*job, code, message);
}

void Engine::finish_waiting(Job& job, const std::string& reason) { report_done(job, reason); }

// An exception while serving one request (non-finite logits, a token outside the vocabulary, a sink
// that throws, ...) ends that request with an error; its sequence is emptied, since its KV may not
// match `cache` any more.
void Engine::abort_request(Slot& s, const std::exception& ex) {
  const auto* ee = dynamic_cast<const EngineError*>(&ex);
  std::fprintf(stderr, "pronto-engine: request %s failed: %s\n", s.job->req->id.c_str(), ex.what());
  drop_ahead(s);
  kv_->seq_rm(s.id, -1, -1);
  s.cache.clear();
  if (draft_) draft_->drop(s.id, s.draft_cache);
  fail(s, ee ? ee->code : "internal", ex.what());
}

// Something failed that belongs to no single request: end them all and start from an empty cache.
void Engine::recover(const std::string& why) try {
  std::fprintf(stderr, "pronto-engine: inference loop error: %s; ending every request\n", why.c_str());
  const std::string message = "engine error: " + why;
  for (auto& s : slots_) {
    if (s->job) {
      JobPtr job = std::move(s->job);
      busy_--;
      report_error(*job, "internal", message);
    }
    s->cache.clear();
    s->ahead.clear();
    s->scratch_ready = false;
    s->generating = false;
    if (draft_) draft_->drop(s->id, s->draft_cache);
  }
  for (auto& job : waiting_.remove_if([](const JobPtr&) { return true; })) report_error(*job, "internal", message);
  kv_->clear();
  busy_ = 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pronto-engine: fatal: cannot recover from an inference loop error (%s), exiting\n", e.what());
  std::fflush(stderr);
  std::_Exit(70);
}

void Engine::update_gauges() {
  kv_usage_ = n_ctx_ > 0 ? std::min(1.0, static_cast<double>(ledger_.used()) / n_ctx_) : 0.0;
  busy_ = static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return s->job != nullptr; }));
}

}  // namespace pronto
