#include "kv_reuse.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

namespace pronto {

size_t common_prefix(const std::vector<Token>& a, const std::vector<Token>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) i++;
  return i;
}

size_t ReusePlan::reused() const {
  size_t total = prefix;
  for (auto& c : chunks) total += c.n;
  return total;
}

ReusePlan plan_reuse(const std::vector<Token>& cache, const std::vector<Token>& prompt, size_t prefix, size_t min_chunk,
                     const std::function<bool(size_t, size_t)>& movable) {
  ReusePlan plan;
  plan.prefix = prefix;
  const size_t k = min_chunk;
  if (prompt.empty()) return plan;
  const size_t limit = prompt.size() - 1;  // the last prompt token is always evaluated (its logits)
  if (k == 0 || prefix + k > limit || cache.size() < prefix + k) return plan;
  auto gram = [k](const std::vector<Token>& v, size_t i) {
    uint64_t h = 1469598103934665603ull;
    for (size_t j = 0; j < k; j++) {
      h ^= static_cast<uint32_t>(v[i + j]);
      h *= 1099511628211ull;
    }
    return h;
  };
  std::unordered_map<uint64_t, std::vector<size_t>> index;
  for (size_t i = prefix; i + k <= cache.size(); i++) index[gram(cache, i)].push_back(i);
  size_t hp = prefix, hc = prefix;
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
    // Greedy alignment guard: a short match far ahead would throw away everything cached before it
    // (e.g. the cursor moved up: the line now starting the suffix is still cached at the end of the old
    // prefix). Take it only if it keeps at least a quarter of what it skips.
    if (n * 4 < found - hc) {
      hp++;
      continue;
    }
    // A chunk that must move but whose cells another sequence also holds is evaluated again instead.
    if (found != hp && movable && !movable(found, found + n)) {
      hp += n;
      continue;
    }
    plan.chunks.push_back({found, hp, n});
    hp += n;
    hc = found + n;
  }
  return plan;
}

void apply_reuse(KvCache& kv, int seq, const ReusePlan& plan, std::vector<Token>& cache,
                 std::vector<KeptChunk>& ahead) {
  // Remove what is not kept (old positions), then move the kept chunks. Forward moves go last to first
  // and backward moves first to last, so a moved range never lands on one still to be moved.
  size_t cursor = plan.prefix;
  for (auto& c : plan.chunks) {
    if (c.from > cursor) kv.seq_rm(seq, static_cast<int>(cursor), static_cast<int>(c.from));
    cursor = c.from + c.n;
  }
  kv.seq_rm(seq, static_cast<int>(cursor), -1);
  auto move = [&](const ReusePlan::Chunk& c) {
    kv.seq_add(seq, static_cast<int>(c.from), static_cast<int>(c.from + c.n),
               static_cast<int>(c.to) - static_cast<int>(c.from));
  };
  for (size_t i = plan.chunks.size(); i-- > 0;)
    if (plan.chunks[i].to > plan.chunks[i].from) move(plan.chunks[i]);
  for (auto& c : plan.chunks)
    if (c.to < c.from) move(c);
  ahead.clear();
  for (auto& c : plan.chunks)
    ahead.push_back({c.to, std::vector<Token>(cache.begin() + c.from, cache.begin() + c.from + c.n)});
  cache.resize(plan.prefix);
}

Placement choose_placement(const std::vector<SlotView>& slots, const std::vector<Token>& prompt,
                           const std::string& tenant, const PlacementOptions& opts) {
  const int n = static_cast<int>(slots.size());
  auto visible = [&](int i) { return opts.share_across_tenants || *slots[i].tenant == tenant; };
  std::vector<size_t> lcp(n, 0);
  for (int i = 0; i < n; i++)
    if (visible(i)) lcp[i] = common_prefix(*slots[i].tokens, prompt);

  // Best match among every visible sequence, busy or idle (an idle one on ties).
  int best = -1;
  for (int i = 0; i < n; i++)
    if (best < 0 || lcp[i] > lcp[best] || (lcp[i] == lcp[best] && !slots[i].busy && slots[best].busy)) best = i;

  // Run in place in an idle sequence when that keeps at least half of what it holds; otherwise take an
  // empty or the least recently used idle sequence (so a short accidental match does not wipe a long
  // resident file) and copy the best prefix into it.
  Placement p;
  size_t target_score = 0;
  for (int i = 0; i < n; i++) {
    if (slots[i].busy || !visible(i)) continue;
    ReusePlan plan{lcp[i], {}};
    if (lcp[i] < prompt.size() && opts.min_chunk > 0) {
      auto movable = [&](size_t p0, size_t p1) { return !opts.movable || opts.movable(i, p0, p1); };
      plan = plan_reuse(*slots[i].tokens, prompt, lcp[i], opts.min_chunk, movable);
    }
    const size_t score = plan.reused();
    if (score > 0 && score * 2 >= slots[i].tokens->size() && (p.target < 0 || score > target_score)) {
      p.target = i;
      p.reuse = std::move(plan);
      target_score = score;
    }
  }
  if (p.target < 0) {
    for (int i = 0; i < n; i++) {
      if (slots[i].busy) continue;
      const int t = p.target;
      const bool empty = slots[i].tokens->empty();
      if (t < 0 || (empty && !slots[t].tokens->empty()) ||
          (empty == slots[t].tokens->empty() && slots[i].last_used < slots[t].last_used))
        p.target = i;
    }
    if (p.target < 0) return p;  // no idle sequence: the caller checks first
    p.reuse = ReusePlan{lcp[p.target], {}};
    target_score = lcp[p.target];
  }
  const size_t last = prompt.empty() ? 0 : prompt.size() - 1;  // the last token is evaluated for its logits
  p.wipe = !visible(p.target);
  if (best >= 0 && target_score < lcp[best] && lcp[best] > 0) {
    p.source = best;
    p.keep = std::min(lcp[best], last);
    p.wipe = true;
    p.reuse = ReusePlan{};
    return p;
  }
  p.source = p.target;
  if (p.wipe) p.reuse = ReusePlan{};
  if (p.reuse.prefix > last) p.reuse.prefix = last;  // a full match: the last token is evaluated again
  p.keep = p.reuse.prefix;
  return p;
}

}  // namespace pronto
