#include "speculator.h"

#include <algorithm>

#include "kv_reuse.h"

namespace pronto {

int DraftControl::next(int room) {
  if (cooldown_ > 0) {
    cooldown_--;
    return 0;
  }
  return std::max(0, std::min({n_, room, kMaxDraft}));
}

void DraftControl::update(int drafted, int accepted) {
  if (drafted <= 0) return;
  if (accepted >= drafted) {
    n_ = std::min(n_ + 2, kMaxDraft);
    backoff_ = kFirstCooldown;
  } else if (accepted == 0) {
    // A fully rejected draft: pause this source, longer each time it fails again, and probe with one
    // token (a rejected draft token costs a wider verification batch, and a draft-model decode).
    n_ = 1;
    cooldown_ = backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxCooldown);
  } else {
    backoff_ = kFirstCooldown;
  }
}

void SpeculationGate::observe(double ms, int produced, bool drafted) {
  if (!enabled_ || produced <= 0 || !(ms >= 0)) return;
  const double per_token = ms / produced;
  auto average = [](double avg, int n, double x) { return n == 0 ? x : avg + 0.25 * (x - avg); };
  if (!drafted) {
    plain_ = average(plain_, n_plain_, per_token);
    n_plain_++;
    if (pause_ > 0) pause_--;
    return;
  }
  draft_ = average(draft_, n_draft_, per_token);
  n_draft_++;
  if (n_draft_ < kSamples) return;
  if (n_plain_ < kSamples) {  // nothing to compare with yet: measure plain steps first
    pause_ = kSamples - n_plain_;
    return;
  }
  if (draft_ > plain_ * kMargin) {
    pause_ = backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxPause);
    n_draft_ = 0;  // after the pause, decide on fresh probes
  } else {
    backoff_ = kFirstPause;
  }
}

std::vector<llama_token> ngram_draft(const std::vector<llama_token>& history, llama_token last, int n_max) {
  std::vector<llama_token> out;
  const auto& c = history;
  const size_t n = c.size() + 1;
  auto at = [&](size_t i) { return i < c.size() ? c[i] : last; };
  for (size_t key = 3; key >= 2 && out.empty() && n_max > 0; key--) {
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

llama_token verify_token(Sampler& sampler, const float* logits, llama_token draft, const Dist* q, bool& accepted,
                         std::vector<float>& dense_q) {
  if (sampler.greedy()) {
    const llama_token t = sampler.sample(logits);
    accepted = draft >= 0 && t == draft;
    return t;
  }
  Dist p;
  llama_token t = sampler.sample(logits, &p);
  if (draft < 0) {
    accepted = false;
    return t;
  }
  // Rejection sampling: accept d with probability min(1, p(d)/q(d)); otherwise sample from
  // norm(max(0, p - q)). A deterministic draft has a one-hot q.
  if (q)
    for (auto& [tok, pr] : *q) dense_q[tok] = pr;
  else
    dense_q[draft] = 1.0f;
  double pd = 0;
  for (auto& [tok, pr] : p)
    if (tok == draft) pd = pr;
  const double qd = dense_q[draft];
  if (qd > 0 && sampler.uniform() < std::min(1.0, pd / qd)) {
    t = draft;
  } else {
    double total = 0;
    for (auto& [tok, pr] : p) total += std::max(0.0, static_cast<double>(pr) - dense_q[tok]);
    if (total > 0) {  // total == 0 means p == q: the sample t drawn from p above stands
      const double x = sampler.uniform() * total;
      double cum = 0;
      t = p.back().first;
      for (auto& [tok, pr] : p) {
        const double r = std::max(0.0, static_cast<double>(pr) - dense_q[tok]);
        cum += r;
        if (r > 0 && x < cum) {
          t = tok;
          break;
        }
      }
    }
  }
  if (q)
    for (auto& [tok, pr] : *q) dense_q[tok] = 0.0f;
  dense_q[draft] = 0.0f;
  accepted = t == draft;
  return t;
}

DraftModel::DraftModel(llama_context* ctx, int n_batch)
    : ctx_(ctx), n_batch_(n_batch), batch_(llama_batch_init(n_batch, 0, 1)) {}

DraftModel::~DraftModel() { llama_batch_free(batch_); }

void DraftModel::drop(int seq, std::vector<llama_token>& cached) {
  llama_memory_seq_rm(llama_get_memory(ctx_), seq, -1, -1);
  cached.clear();
}

bool DraftModel::sync(int seq, std::vector<llama_token>& cached, const std::vector<llama_token>& history) {
  llama_memory_t mem = llama_get_memory(ctx_);
  size_t l = common_prefix(cached, history);
  if (l >= history.size()) l = history.size() - 1;  // the last token is evaluated again for its logits
  if (!llama_memory_seq_rm(mem, seq, static_cast<llama_pos>(l), -1)) {
    llama_memory_seq_rm(mem, seq, -1, -1);
    l = 0;
  }
  cached.resize(l);
  while (cached.size() < history.size()) {
    batch_.n_tokens = 0;
    const size_t start = cached.size();
    const size_t end = std::min(history.size(), start + n_batch_);
    for (size_t i = start; i < end; i++) {
      const int k = batch_.n_tokens++;
      batch_.token[k] = history[i];
      batch_.pos[k] = static_cast<llama_pos>(i);
      batch_.n_seq_id[k] = 1;
      batch_.seq_id[k][0] = seq;
      batch_.logits[k] = i + 1 == history.size();
    }
    if (llama_decode(ctx_, batch_) != 0) {
      drop(seq, cached);
      return false;
    }
    cached.insert(cached.end(), history.begin() + start, history.begin() + end);
  }
  return true;
}

std::vector<llama_token> DraftModel::draft(int seq, std::vector<llama_token>& cached,
                                           const std::vector<llama_token>& history, int n, Sampler& sampler,
                                           std::vector<Dist>* q) {
  std::vector<llama_token> out;
  if (n <= 0 || history.empty() || !sync(seq, cached, history)) return out;
  const float* logits = llama_get_logits_ith(ctx_, -1);
  for (int i = 0; i < n; i++) {
    // Greedy requests draft the argmax; sampling requests sample the draft's own distribution q (same
    // temperature/top-k/top-p/min-p) and keep q for the rejection test.
    llama_token pick;
    if (sampler.greedy()) {
      pick = sampler.sample(logits);
    } else {
      Dist dist;
      pick = sampler.sample(logits, &dist);
      q->push_back(std::move(dist));
    }
    out.push_back(pick);
    if (i + 1 == n) break;
    batch_.n_tokens = 1;
    batch_.token[0] = pick;
    batch_.pos[0] = static_cast<llama_pos>(cached.size());
    batch_.n_seq_id[0] = 1;
    batch_.seq_id[0][0] = seq;
    batch_.logits[0] = true;
    if (llama_decode(ctx_, batch_) != 0) break;
    cached.push_back(pick);
    logits = llama_get_logits_ith(ctx_, -1);
  }
  return out;
}

}  // namespace pronto
