#include "sampler.h"

#include <algorithm>
#include <cmath>

#include "errors.h"

namespace pronto {

Sampler::Sampler(const SamplingParams& params, const std::vector<llama_token>* masked, int n_vocab)
    : greedy_(is_greedy(params)), n_vocab_(n_vocab), masked_(masked) {
  rng_.seed(params.has_seed ? params.seed : std::random_device{}());
  if (greedy_) return;
  llama_sampler_chain_params cp = llama_sampler_chain_default_params();
  cp.no_perf = true;
  chain_.reset(llama_sampler_chain_init(cp));
  llama_sampler_chain_add(chain_.get(), llama_sampler_init_temp(params.temperature));
  if (params.top_k > 0) llama_sampler_chain_add(chain_.get(), llama_sampler_init_top_k(params.top_k));
  if (params.min_p > 0.0f) llama_sampler_chain_add(chain_.get(), llama_sampler_init_min_p(params.min_p, 1));
  if (params.top_p < 1.0f) llama_sampler_chain_add(chain_.get(), llama_sampler_init_top_p(params.top_p, 1));
  candidates_.resize(n_vocab);
}

bool Sampler::masked(llama_token t) const { return masked_ && std::binary_search(masked_->begin(), masked_->end(), t); }

llama_token Sampler::sample(const float* logits, Dist* dist) {
  for (int t = 0; t < n_vocab_; t++)
    if (!(logits[t] < INFINITY))
      throw EngineError("internal", "the model produced non-finite logits (NaN or infinity): its weights are corrupt");
  if (greedy_) {
    llama_token best = -1;
    float best_logit = -INFINITY;
    for (llama_token t = 0; t < n_vocab_; t++) {
      if (logits[t] > best_logit && !masked(t)) {
        best_logit = logits[t];
        best = t;
      }
    }
    if (best < 0) throw EngineError("internal", "no token can be sampled (every logit is -infinity or masked)");
    return best;
  }
  for (llama_token t = 0; t < n_vocab_; t++) candidates_[t] = {t, masked(t) ? -INFINITY : logits[t], 0.0f};
  llama_token_data_array cur{candidates_.data(), candidates_.size(), -1, false};
  llama_sampler_apply(chain_.get(), &cur);
  float max_logit = -INFINITY;
  for (size_t i = 0; i < cur.size; i++) max_logit = std::max(max_logit, cur.data[i].logit);
  if (!(max_logit > -INFINITY))
    throw EngineError("internal", "no token can be sampled (every logit is -infinity or masked)");
  double sum = 0;
  for (size_t i = 0; i < cur.size; i++) {
    const double p = cur.data[i].logit > -INFINITY ? std::exp(static_cast<double>(cur.data[i].logit - max_logit)) : 0.0;
    cur.data[i].p = static_cast<float>(p);
    sum += p;
  }
  const double x = uniform() * sum;
  double cum = 0;
  llama_token pick = -1;
  for (size_t i = 0; i < cur.size && pick < 0; i++) {
    cum += cur.data[i].p;
    if (cur.data[i].p > 0 && x < cum) pick = cur.data[i].id;
  }
  if (pick < 0)  // rounding at the very end of the range
    for (size_t i = cur.size; i-- > 0 && pick < 0;)
      if (cur.data[i].p > 0) pick = cur.data[i].id;
  if (dist) {
    dist->clear();
    for (size_t i = 0; i < cur.size; i++)
      if (cur.data[i].p > 0) dist->emplace_back(cur.data[i].id, static_cast<float>(cur.data[i].p / sum));
  }
  return pick;
}

}  // namespace pronto
