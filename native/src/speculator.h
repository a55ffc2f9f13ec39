// Speculative decoding: proposing draft tokens and verifying them against the target's logits.
//
// Why it looks like this
// ----------------------
// A generating sequence may append draft tokens to its last token in the batch: an n-gram lookup in its
// own history (free), or a small draft model run in a second context that mirrors the sequences. The
// target verifies them in the same decode as everything else. Greedy: accept while the target's argmax
// equals the draft. Sampling: accept draft token d with probability min(1, p(d)/q(d)), on rejection
// sample from norm(max(0, p - q)) (Leviathan et al. 2023, Chen et al. 2023), which leaves the target
// distribution exactly unchanged; an n-gram draft (and a greedy draft model) is a draft whose q is
// one-hot.
//
// Drafting costs something even when nothing is accepted: a draft-model decode per drafted token and a
// wider target batch, which on CPU costs more than the one-token decode it replaces. DraftControl
// adapts each source's draft length: it starts at 1 and grows by 2 after a fully accepted draft (up to
// 16); after a fully rejected draft the source pauses (32 steps, doubling up to 512 while drafts keep
// failing, reset by an accepted one) and probes again with 1 token. A request starts from the state the
// previous request of the engine left (Engine keeps one per source), so a draft model that never
// matches is not re-probed at the start of every completion. Such a draft costs a few one-token probes
// per few hundred tokens (measured in `npm run bench:engine`, section speculation, bench/README.md).
#pragma once
#include <algorithm>
#include <vector>

#include "llama.h"
#include "sampler.h"

namespace pronto {

constexpr int kMaxDraft = 16;
constexpr int kFirstCooldown = 32;  // steps a source pauses after its first fully rejected draft
constexpr int kMaxCooldown = 512;   // the pause doubles up to this while drafts keep failing

class DraftControl {
 public:
  // Tokens to draft this step (0: paused or no room). Call once per step.
  int next(int room);
  // What next() would return, without counting the step.
  int peek(int room) const { return cooldown_ > 0 ? 0 : std::max(0, std::min({n_, room, kMaxDraft})); }
  // After verification of a draft of `drafted` tokens of which `accepted` were taken.
  void update(int drafted, int accepted);
  int length() const { return n_; }

 private:
  int n_ = 1;
  int cooldown_ = 0;
  int backoff_ = kFirstCooldown;
};

// Whether drafting pays on this machine at all, engine-wide. DraftControl adapts to acceptance; this
// adapts to cost: it compares the measured time per generated token of decode steps that verified
// drafts with steps that did not (exponential averages over steps in which every sequence was
// generating). On a CPU a 2-token verification batch can cost ~2.5x a 1-token decode (ggml's batched
// kernels), so even fully accepted drafts can slow decoding down: bench:completion found n-gram
// speculation 1.28x slower per token on the bench model. When drafting loses, it pauses (64 steps,
// doubling up to 2048 while it keeps losing) and then probes again; when there are no plain steps to
// compare with, it pauses briefly to measure some. Off (`--speculation-gate off`), drafting is left to
// DraftControl alone (the exactness and distribution tests use that).
class SpeculationGate {
 public:
  static constexpr int kSamples = 4;       // observations of each kind before a decision
  static constexpr int kFirstPause = 64;   // steps without drafts after drafting was found to lose
  static constexpr int kMaxPause = 2048;   // the pause doubles up to this while drafting keeps losing
  static constexpr double kMargin = 1.05;  // drafting must not cost more than 5% per token
  explicit SpeculationGate(bool enabled = true) : enabled_(enabled) {}
  bool allow() const { return !enabled_ || pause_ == 0; }
  // One decode step in which every sequence was generating: its duration, the tokens it produced, and
  // whether it verified drafts.
  void observe(double ms, int produced, bool drafted);
  double plain_ms_per_token() const { return plain_; }
  double draft_ms_per_token() const { return draft_; }

 private:
  bool enabled_;
  double plain_ = 0, draft_ = 0;
  int n_plain_ = 0, n_draft_ = 0;
  int pause_ = 0;
  int backoff_ = kFirstPause;
};

// The tokens that followed the most recent earlier occurrence of the history's last 3 (then 2) tokens.
// `history` = cached tokens, `last` = the pending token (not yet in the KV).
std::vector<llama_token> ngram_draft(const std::vector<llama_token>& history, llama_token last, int n_max);

// One verification step: the token to emit at a position whose target logits are `logits`, given draft
// token `draft` (or -1 for the bonus position after the last draft token) with draft distribution `q`
// (null: deterministic draft). `accepted` tells whether the result is the draft token taken as such.
// `dense_q`: scratch of n_vocab zeros (left zeroed).
llama_token verify_token(Sampler& sampler, const float* logits, llama_token draft, const Dist* q, bool& accepted,
                         std::vector<float>& dense_q);

// The draft model's context: one sequence per slot mirroring the slot's history, kept in step by common
// prefix (cheap for a growing sequence).
class DraftModel {
 public:
  DraftModel(llama_context* ctx, int n_batch);
  ~DraftModel();
  DraftModel(const DraftModel&) = delete;
  DraftModel& operator=(const DraftModel&) = delete;
  // Brings sequence `seq` (whose tokens are `cached`) to `history` and drafts up to `n` tokens with
  // `sampler` (greedy: argmax; sampling: draws, with their distributions in `q`). Empty on failure
  // (e.g. no room in the draft context); `cached` then is empty too.
  std::vector<llama_token> draft(int seq, std::vector<llama_token>& cached, const std::vector<llama_token>& history,
                                 int n, Sampler& sampler, std::vector<Dist>* q);
  void drop(int seq, std::vector<llama_token>& cached);

 private:
  bool sync(int seq, std::vector<llama_token>& cached, const std::vector<llama_token>& history);
  llama_context* ctx_;
  int n_batch_;
  llama_batch batch_;
};

}  // namespace pronto
