// The inference thread's state of one request (Job) and one sequence (Slot). Private to the engine:
// engine.cpp and decode_step.cpp.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "engine.h"

namespace pronto {

inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A request as the inference thread carries it, from submission to its final event (across
// preemptions).
struct Engine::Job {
  RequestPtr req;
  Priority priority;                // class in the wait queue: the request's, raised by aging (scheduler.h)
  int passes = 0;                   // admissions of a higher class since it waits (aging)
  uint64_t arrival;                 // submission order (WaitQueue: earlier first within a class)
  std::vector<llama_token> tokens;  // the prompt, then every accepted generated token
  size_t n_prompt;
  Sampler sampler;
  DraftControl ngram, model;  // adaptive draft length per source
  std::string pending, text;  // undecoded bytes; decoded text
  size_t sent = 0;            // bytes of `text` sent as token events
  int n_gen = 0;
  RequestStats stats;
  int64_t deadline_us = 0;  // 0: no time budget
  int64_t t_admit = 0, t_prompt_done = 0, t_last_token = 0;
  uint64_t admitted = 0;                                   // admission number of the current run
  int steps = 0;                                           // decode steps in the current run
  bool waited = false;                                     // counted once in pronto_admission_waits_total
  uint64_t clock_at_intake = 0;                            // the engine's step clock when it was taken in
  Priority run_priority() const { return req->priority; }  // preemption and batch order

  Job(RequestPtr r, uint64_t order, const std::vector<llama_token>* eog, int n_vocab, const DraftControl& ngram_prior,
      const DraftControl& model_prior)
      : req(std::move(r)),
        priority(req->priority),
        arrival(order),
        tokens(req->prompt.begin(), req->prompt.end()),
        n_prompt(tokens.size()),
        sampler(req->sampling, req->limits.ignore_eos ? eog : nullptr, n_vocab),
        ngram(ngram_prior),
        model(model_prior) {}
};

// One sequence of the context (and its scratch sequence, see decode_step.cpp).
struct Engine::Slot {
  int id = 0;
  int scratch = 0;
  std::vector<llama_token> cache;        // tokens whose KV is in sequence `id`, positions 0..n-1
  std::vector<KeptChunk> ahead;          // prompt chunks already in the KV beyond `cache` (chunk reuse)
  bool scratch_ready = false;            // scratch holds a copy of positions [0, cache.size())
  std::vector<llama_token> draft_cache;  // the draft context's copy of this sequence
  std::string tenant;                    // who wrote `cache`
  int64_t last_used = 0;
  JobPtr job;               // the request running here
  bool generating = false;  // prompt evaluated; `last` is the pending token
  llama_token last = -1;    // accepted, not yet in the KV
};

}  // namespace pronto
