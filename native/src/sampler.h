// Turns logits into the next token for one request.
//
// Greedy requests (temperature below kGreedyTemperature) take the argmax. Sampling requests run
// llama.cpp's sampler chain for the filtering (temperature, then top-k, min-p, top-p: each stage only
// when set, and none of them sorts the whole vocabulary when top-k is off), then draw from the softmax
// of what is left with the request's own generator. The draw is done here rather than by llama.cpp's
// `dist` sampler because speculative verification (speculator.h) needs the probabilities themselves
// and further draws from the same generator (rejection sampling).
//
// Logits that are NaN or +infinity (a model with corrupt weights) throw EngineError: the request ends
// with an error instead of sampling garbage or token -1.
#pragma once
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "llama.h"
#include "types.h"

namespace pronto {

// Temperatures this small act as greedy: dividing logits by them overflows a float (1e-40 turned every
// logit into infinity, and sampling then picked the least likely tokens).
constexpr float kGreedyTemperature = 1e-4f;
inline bool is_greedy(const SamplingParams& p) { return p.temperature < kGreedyTemperature; }

// A sampling distribution: (token, probability), probabilities summing to 1.
using Dist = std::vector<std::pair<llama_token, float>>;

class Sampler {
 public:
  // `masked`: tokens never sampled (end-of-generation tokens when the request ignores EOS), sorted.
  Sampler(const SamplingParams& params, const std::vector<llama_token>* masked, int n_vocab);
  bool greedy() const { return greedy_; }
  // Samples from `logits` (n_vocab floats). `dist`: when sampling (not greedy), receives the
  // distribution the token was drawn from.
  llama_token sample(const float* logits, Dist* dist = nullptr);
  // A uniform draw in [0, 1) from the request's generator.
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

 private:
  struct ChainDeleter {
    void operator()(llama_sampler* s) const { llama_sampler_free(s); }
  };
  bool masked(llama_token t) const;

  bool greedy_;
  int n_vocab_;
  const std::vector<llama_token>* masked_;
  std::unique_ptr<llama_sampler, ChainDeleter> chain_;
  std::vector<llama_token_data> candidates_;
  std::mt19937_64 rng_;
};

}  // namespace pronto
