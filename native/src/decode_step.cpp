// One batched decode.
//
// Each step builds ONE llama_batch with the last token (+ draft tokens, speculator.h) of every
// generating sequence and then the next prompt chunk of every sequence still reading its prompt, in
// priority order while the batch has room, and calls llama_decode once: requests from different clients
// are decoded together. Before the decode, the KV cache is made to hold what the batch adds (idle
// sequences dropped, then the lowest class preempted: Engine::make_room).
//
// Chunk reuse (kv_reuse.h) can leave prompt chunks already in the KV beyond a sequence's evaluated
// prefix (`ahead`). llama_decode requires a sequence's batch positions to follow its highest cached
// position, so a gap before a kept chunk is evaluated in the slot's SCRATCH sequence (a seq_cp of
// everything before the gap: cells are shared, not duplicated) and then copied into the slot's sequence.
// Gap tokens thus see everything before them and nothing after (causal).
#include <algorithm>
#include <cstdio>

#include "engine_state.h"
#include "errors.h"
#include "text.h"

namespace pronto {

namespace {

// One sequence's part of the batch.
struct Entry {
  explicit Entry(int s) : slot(s) {}
  int slot;
  int first = 0;  // index in the batch
  int n = 0;      // tokens in the batch
  // generating: the draft after `last`, its distributions (empty: deterministic), its source
  std::vector<llama_token> draft;
  std::vector<Dist> q;
  DraftControl* control = nullptr;
  bool generating = false;
  // reading the prompt: first position in this batch, through the scratch sequence, last chunk
  size_t start = 0;
  bool via_scratch = false;
  bool prompt_done = false;
};

}  // namespace

// Draft tokens a generating sequence may add: up to its token limit and the context's end.
int Engine::draft_room(const Slot& s) const {
  const Job& job = *s.job;
  const int room = std::min(job.req->limits.max_tokens - job.n_gen, n_ctx_ - static_cast<int>(s.cache.size()) - 2);
  return std::max(0, std::min(room - 1, kMaxDraft));
}

std::vector<llama_token> Engine::model_draft(Slot& s, int n, std::vector<Dist>* q) {
  std::vector<llama_token> history = s.cache;
  history.push_back(s.last);
  auto d = draft_->draft(s.id, s.draft_cache, history, n, s.job->sampler, q);
  if (d.empty() && s.draft_cache.empty()) {
    // No room in the draft context: idle sequences' drafts are only a cache.
    bool dropped = false;
    for (auto& o : slots_)
      if (!o->job && !o->draft_cache.empty()) draft_->drop(o->id, o->draft_cache), dropped = true;
    if (dropped) d = draft_->draft(s.id, s.draft_cache, history, n, s.job->sampler, q);
  }
  return d;
}

bool Engine::step() {
  // Cancellations and spent time budgets first: such a request stops before the next decode.
  const int64_t now = now_us();
  for (auto& s : slots_) {
    if (!s->job) continue;
    if (s->job->req->cancelled)
      finish(*s, "cancelled");
    else if (s->job->deadline_us > 0 && now >= s->job->deadline_us)
      finish(*s, "time");
  }

  // On the CPU a decode costs about as much per token as alone: while an interactive request runs, the
  // lower classes (chat) sit out all but every kChatStepEvery-th step, as the chat model does
  // (scheduler.h), so a keystroke's completion does not pay for the chat's tokens. On a GPU a batch of
  // a few sequences costs about one, and they stay batched.
  const bool interactive = std::any_of(
      slots_.begin(), slots_.end(), [](auto& s) { return s->job && s->job->run_priority() == Priority::kInteractive; });
  const bool lower_classes = !defer_lower_classes_ || chat_may_decode(interactive, lower_deferred_);
  auto sits_out = [&](const Slot& s) { return !lower_classes && s.job->run_priority() != Priority::kInteractive; };

  // Plan what each running sequence adds, make the KV cache hold it (which may preempt some), plan again.
  std::vector<Entry> plan;
  for (int attempt = 0;; attempt++) {
    plan.clear();
    int planned = 0;
    const std::vector<int> order = batch_order(running());
    for (int id : order) {  // generating: last token + the draft it may get
      const Slot& s = *slots_[id];
      if (!s.generating || sits_out(s)) continue;
      const Job& job = *s.job;
      const int room = draft_room(s);
      const bool drafting = spec_gate_.allow();
      const int ngram = drafting && job.req->spec.ngram ? job.ngram.peek(room) : 0;
      const int model = drafting && job.req->spec.draft && draft_ ? job.model.peek(room) : 0;
      plan.emplace_back(id);
      planned += 1 + std::max(ngram, model);
    }
    for (int id : order) {  // reading the prompt: the next chunk, while the batch has room
      const Slot& s = *slots_[id];
      if (s.generating || sits_out(s)) continue;
      const int room = n_batch_ - planned;
      if (room <= 0) break;
      const int n = static_cast<int>(std::min(s.job->tokens.size() - s.cache.size(), static_cast<size_t>(room)));
      plan.emplace_back(id);
      plan.back().n = n;
      planned += n;
    }
    if (plan.empty()) return false;
    if (ledger_.free() >= planned) break;
    const size_t before = running().size();
    make_room(planned);
    if (running().size() == before || attempt >= n_parallel_) break;  // nothing preempted: the plan holds
  }

  llama_batch& batch = batch_;
  batch.n_tokens = 0;
  auto add = [&](llama_token t, size_t pos, int seq, bool logits) {
    const int k = batch.n_tokens++;
    batch.token[k] = t;
    batch.pos[k] = static_cast<llama_pos>(pos);
    batch.n_seq_id[k] = 1;
    batch.seq_id[k][0] = seq;
    batch.logits[k] = logits;
  };
  std::vector<Entry> entries;
  for (Entry e : plan) {
    Slot& s = *slots_[e.slot];
    if (!s.job) continue;  // preempted or ended while making room
    Job& job = *s.job;
    if (s.generating) {
      // Last token + draft: n-gram lookup first (free), else the draft model.
      try {
        const int room = spec_gate_.allow() ? draft_room(s) : 0;
        if (job.req->spec.ngram && room > 0) {
          const int n = job.ngram.next(room);
          if (n > 0) e.draft = ngram_draft(s.cache, s.last, n), e.control = &job.ngram;
        }
        if (e.draft.empty() && job.req->spec.draft && draft_ && room > 0) {
          const int n = job.model.next(room);
          if (n > 0) e.draft = model_draft(s, n, &e.q), e.control = &job.model;
        }
      } catch (const std::exception& ex) {
        abort_request(s, ex);
        continue;
      }
      e.first = batch.n_tokens;
      add(s.last, s.cache.size(), s.id, true);
      for (size_t j = 0; j < e.draft.size(); j++) add(e.draft[j], s.cache.size() + 1 + j, s.id, true);
      e.n = 1 + static_cast<int>(e.draft.size());
      e.generating = true;
      job.stats.drafted_tokens += static_cast<int>(e.draft.size());
      entries.push_back(std::move(e));
      continue;
    }
    // Reading the prompt: chunks already in the KV join the sequence; the next gap goes in the batch.
    const auto& p = job.tokens;
    while (!s.ahead.empty() && s.ahead.front().pos == s.cache.size()) {
      s.cache.insert(s.cache.end(), s.ahead.front().tokens.begin(), s.ahead.front().tokens.end());
      s.ahead.erase(s.ahead.begin());
      if (s.scratch_ready) kv_->seq_rm(s.scratch, -1, -1);  // lacks the chunk now
      s.scratch_ready = false;
    }
    const size_t start = s.cache.size();
    const size_t stop = s.ahead.empty() ? p.size() : s.ahead.front().pos;
    const size_t end =
        std::min(stop, start + static_cast<size_t>(std::max(0, std::min(e.n, n_batch_ - batch.n_tokens))));
    if (end <= start) continue;
    int seq = s.id;
    if (!s.ahead.empty()) {  // a gap before a kept chunk: evaluate it in the scratch sequence
      if (!s.scratch_ready) {
        kv_->seq_rm(s.scratch, -1, -1);
        kv_->seq_cp(s.id, s.scratch, 0, static_cast<int>(start));
        s.scratch_ready = true;
      }
      seq = s.scratch;
    }
    e.first = batch.n_tokens;
    e.n = static_cast<int>(end - start);
    e.start = start;
    e.via_scratch = seq != s.id;
    e.prompt_done = end == p.size();
    for (size_t i = start; i < end; i++) add(p[i], i, seq, i + 1 == p.size());
    entries.push_back(std::move(e));
  }
  if (batch.n_tokens == 0) return false;

  const int64_t emitted_before = tokens_emitted_;
  const int rc = llama_decode(models_.ctx.get(), batch);
  if (rc == 1) {
    // llama.cpp found no room although the ledger did: free one more sequence and plan again.
    std::fprintf(stderr, "pronto-engine: warning: no KV room for %d tokens with %d cells free by count\n",
                 batch.n_tokens, ledger_.free());
    if (free_one()) return true;
  }
  if (rc != 0) {
    // Nothing of this batch is kept: empty the sequences involved (their KV may be partly written).
    for (auto& e : entries) {
      Slot& s = *slots_[e.slot];
      drop_ahead(s);
      kv_->seq_rm(s.id, -1, -1);
      s.cache.clear();
      if (!s.job) continue;
      if (rc == 1)
        fail(s, "overloaded", "the KV cache is full: too many concurrent tokens for --ctx " + std::to_string(n_ctx_));
      else
        fail(s, "internal", "llama_decode failed with code " + std::to_string(rc));
    }
    return true;
  }
  for (int k = 0; k < batch.n_tokens; k++) ledger_.added(batch.seq_id[k][0], batch.pos[k], batch.token[k]);
  ++*step_clock_;

  for (auto& e : entries) {
    Slot& s = *slots_[e.slot];
    if (!s.job) continue;
    s.job->req->decode_steps++;
    s.job->steps++;
  }
  for (auto& e : entries) {
    Slot& s = *slots_[e.slot];
    if (!s.job) continue;
    try {
      Job& job = *s.job;
      if (!s.generating) {
        const auto& p = job.tokens;
        if (e.via_scratch)  // the gap joins the slot's own sequence (shared cells, no copy of data)
          kv_->seq_cp(s.scratch, s.id, static_cast<int>(e.start), static_cast<int>(e.start + e.n));
        s.cache.insert(s.cache.end(), p.begin() + s.cache.size(), p.begin() + s.cache.size() + e.n);
        job.stats.evaluated_tokens += e.n;
        if (!e.prompt_done) continue;
        job.t_prompt_done = now_us();
        job.stats.t_prompt_ms = (job.t_prompt_done - job.t_admit) / 1000.0;
        s.generating = true;
        const llama_token t = job.sampler.sample(llama_get_logits_ith(models_.ctx.get(), e.first + e.n - 1));
        if (accept_token(s, t)) s.last = t;
        continue;
      }
      verify(s, e.first, e.draft, e.q, e.control);
    } catch (const std::exception& ex) {
      abort_request(s, ex);
    }
  }
  // What drafting costs here: only steps in which every sequence was generating compare like with like.
  bool all_generating = true, drafted = false;
  for (const auto& e : entries) {
    all_generating = all_generating && e.generating;
    drafted = drafted || !e.draft.empty();
  }
  if (all_generating && !entries.empty())
    spec_gate_.observe((now_us() - now) / 1000.0, static_cast<int>(tokens_emitted_ - emitted_before), drafted);
  return true;
}

// Verification of `last` + draft: batch[first + i] holds (last, d0, d1, ...); the logits at i predict
// the token after it. Keeps `last` and the accepted drafts in the KV, drops the rest.
void Engine::verify(Slot& s, int first, const std::vector<llama_token>& draft, const std::vector<Dist>& q,
                    DraftControl* control) {
  const JobPtr hold = s.job;  // accept_token may end the request; the job (and `control`) must outlive this
  Job& job = *hold;
  const size_t base = s.cache.size();
  int n_valid = 1;  // `last` is now in the KV
  llama_token next = -1;
  bool alive = true;
  int accepted = 0;
  for (int i = 0; i <= static_cast<int>(draft.size()); i++) {
    const bool has_draft = i < static_cast<int>(draft.size());
    bool hit = false;
    const llama_token t =
        verify_token(job.sampler, llama_get_logits_ith(models_.ctx.get(), first + i), has_draft ? draft[i] : -1,
                     i < static_cast<int>(q.size()) ? &q[i] : nullptr, hit, dense_q_);
    next = t;
    if (hit) {
      accepted++;
      job.stats.accepted_tokens++;  // before accept_token: it may finish the request and report stats
    }
    if (!accept_token(s, t)) {
      alive = false;
      break;
    }
    if (!hit) break;
    n_valid++;
  }
  s.cache.push_back(s.last);
  for (int j = 0; j < n_valid - 1; j++) s.cache.push_back(draft[j]);
  kv_->seq_rm(s.id, static_cast<int>(base + n_valid), -1);
  if (control) control->update(static_cast<int>(draft.size()), accepted);
  if (alive) s.last = next;
}

// Feeds one accepted token: end of generation, text, stop conditions, limits. Returns false when the
// request has ended.
bool Engine::accept_token(Slot& s, llama_token t) {
  Job& job = *s.job;
  const Request& r = *job.req;
  const int64_t now = now_us();
  if (job.n_gen == 0) {
    job.stats.t_first_token_ms = (now - r.t_submit_us) / 1000.0;
    metrics_->ttft.observe(job.stats.t_first_token_ms / 1000.0);
  } else if (job.t_last_token > 0) {
    metrics_->per_token.observe((now - job.t_last_token) / 1e6);
  }
  job.t_last_token = now;
  if (!r.limits.ignore_eos && llama_vocab_is_eog(vocab_, t)) {
    finish(s, "eos");
    return false;
  }
  job.tokens.push_back(t);
  job.n_gen++;
  tokens_emitted_++;
  job.pending += token_piece(t);
  utf8_take_complete(job.pending, job.text, false);
  const StopResult st = check_stops(job.text, r.limits, r.line_prefix);
  if (st.stop) {
    job.text.resize(st.keep_len);
    job.pending.clear();
    if (job.text.size() > job.sent) r.sink->on_token(r.id, job.text.substr(job.sent));
    job.sent = job.text.size();
    finish(s, "stop");
    return false;
  }
  if (st.emit_len > job.sent) {
    r.sink->on_token(r.id, job.text.substr(job.sent, st.emit_len - job.sent));
    job.sent = st.emit_len;
  }
  if (job.n_gen >= r.limits.max_tokens) {
    finish(s, "length");
    return false;
  }
  if (job.deadline_us > 0 && now >= job.deadline_us) {
    finish(s, "time");
    return false;
  }
  if (static_cast<int>(job.tokens.size()) + 1 >= n_ctx_) {
    finish(s, "length");
    return false;
  }
  return true;
}

}  // namespace pronto
