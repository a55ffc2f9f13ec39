// KV reuse: which sequence a request runs in and which of its cached tokens it keeps. Pure logic over
// token lists and the KvCache interface (native/tests/kv_reuse_test.cpp runs it against KvLedger).
//
// Why it looks like this
// ----------------------
// A code-completion engine is driven by keystrokes: almost every request shares nearly all of its
// prompt with a request seen a moment ago, in this file or in another one the user just left. So the
// context holds `n_parallel` sequences and every sequence's tokens are kept after its request ends. A
// new request is compared against every resident sequence it may see (same tenant, unless the
// operator shares the cache across tenants); the longest common prefix wins. If the winner is idle the
// request runs in it; if it is busy, its prefix is copied (llama_memory_seq_cp shares cells, it does
// not duplicate them) into an idle sequence. Only the tokens after what is kept are evaluated.
//
// Chunk reuse (llama-server's --cache-reuse, generalized to insertions): after the common prefix, the
// cached tokens are aligned with the prompt in order; every run of at least `min_chunk` tokens found in
// both is kept and moved to its new position with seq_add (back over deleted text, forward over
// inserted text); everything else is removed. Cells shared with another sequence are never moved (a
// move would move them for that sequence too): such chunks are evaluated again instead. The gaps
// between kept chunks are evaluated in position order by the engine (through a scratch sequence, see
// decode_step.cpp). Kept chunks were computed with their old left context (as with llama-server):
// close to, not bit-equal with, a fresh evaluation.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kv_cache.h"

namespace pronto {

// Prompt tokens whose KV entries are already in place beyond the common prefix (after chunk reuse).
struct KeptChunk {
  size_t pos;  // first prompt position
  std::vector<Token> tokens;
};

size_t common_prefix(const std::vector<Token>& a, const std::vector<Token>& b);

// Chunk reuse for one sequence: cached tokens [from, from + n) move to prompt positions [to, to + n).
struct ReusePlan {
  struct Chunk {
    size_t from, to, n;
  };
  size_t prefix = 0;  // common prefix, kept in place
  std::vector<Chunk> chunks;
  size_t reused() const;
};

// `movable(p0, p1)`: whether the cells at cached positions [p0, p1) may be shifted (not shared).
ReusePlan plan_reuse(const std::vector<Token>& cache, const std::vector<Token>& prompt, size_t prefix, size_t min_chunk,
                     const std::function<bool(size_t, size_t)>& movable);

// Performs the plan on sequence `seq`: removes what is not kept, moves the chunks. Afterwards `cache`
// holds the prefix and `ahead` the kept chunks beyond it (the gaps between them are still to evaluate).
void apply_reuse(KvCache& kv, int seq, const ReusePlan& plan, std::vector<Token>& cache, std::vector<KeptChunk>& ahead);

// What the placement needs to know of one sequence.
struct SlotView {
  const std::vector<Token>* tokens;  // resident tokens, positions 0..n-1
  const std::string* tenant;         // who wrote them
  bool busy;                         // running a request
  int64_t last_used;                 // LRU clock
};

struct Placement {
  int target = -1;    // slot the request runs in (idle)
  int source = -1;    // slot whose prefix is copied into the target; == target: reuse in place
  size_t keep = 0;    // prompt tokens taken over from the source's common prefix (copy) or in place
  ReusePlan reuse;    // in place only: chunk reuse beyond `keep`
  bool wipe = false;  // the target's tokens belong to another tenant (or are replaced by a copy): clear it
  size_t reused() const { return source == target ? reuse.reused() : keep; }
};

struct PlacementOptions {
  size_t min_chunk = 0;               // chunk reuse: minimum run, 0 = off
  bool share_across_tenants = false;  // --share-kv-across-tenants
  // movable(slot, p0, p1): whether the slot's cells at [p0, p1) may be shifted
  std::function<bool(int, size_t, size_t)> movable;
};

// Chooses the sequence for a prompt among `slots` (at least one idle). Only sequences of the same
// tenant (or every sequence with share_across_tenants) are looked at for reuse.
Placement choose_placement(const std::vector<SlotView>& slots, const std::vector<Token>& prompt,
                           const std::string& tenant, const PlacementOptions& opts);

}  // namespace pronto
