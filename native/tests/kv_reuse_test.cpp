// KV reuse (kv_reuse.h) and the cell model (kv_cache.h), run against KvLedger as the fake KV cache: after
// every placement the test evaluates what the engine would evaluate and checks that every sequence holds
// exactly the tokens the engine believes it holds.
#include <map>
#include <string>
#include <vector>

#include "kv_cache.h"
#include "kv_reuse.h"
#include "unit.h"

using namespace pronto;

namespace {

std::vector<Token> seq(Token from, size_t n) {
  std::vector<Token> v;
  for (size_t i = 0; i < n; i++) v.push_back(from + static_cast<Token>(i));
  return v;
}
std::vector<Token> cat(std::initializer_list<std::vector<Token>> parts) {
  std::vector<Token> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A few sequences over one ledger, with the engine's bookkeeping (tokens per slot, the kept chunks).
struct World {
  KvLedger kv{4096};
  struct Slot {
    std::vector<Token> tokens;
    std::vector<KeptChunk> ahead;
    std::string tenant;
    bool busy = false;
    int64_t last_used = 0;
  };
  std::vector<Slot> slots;
  bool check_moves = true;  // the engine asks the ledger before moving cells
  int64_t clock = 0;

  explicit World(int n) : slots(n) {}

  // A decode of the tokens [from, to) of `prompt` into sequence `s`.
  void evaluate(int s, const std::vector<Token>& prompt, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) kv.added(s, static_cast<int>(i), prompt[i]);
  }
  // Writes `tokens` into an empty sequence, as a finished request would leave it.
  void fill(int s, const std::vector<Token>& tokens, const std::string& tenant = "") {
    evaluate(s, tokens, 0, tokens.size());
    slots[s].tokens = tokens;
    slots[s].tenant = tenant;
    slots[s].last_used = ++clock;
  }
  std::vector<SlotView> views() const {
    std::vector<SlotView> v;
    for (auto& s : slots) v.push_back({&s.tokens, &s.tenant, s.busy, s.last_used});
    return v;
  }
  PlacementOptions options(size_t min_chunk, bool share = false) {
    PlacementOptions o;
    o.min_chunk = min_chunk;
    o.share_across_tenants = share;
    if (check_moves)
      o.movable = [this](int slot, size_t p0, size_t p1) {
        return !kv.shared(slot, static_cast<int>(p0), static_cast<int>(p1));
      };
    return o;
  }
  // What the engine does with a placement, then evaluates the rest of the prompt (gaps included).
  Placement run(const std::vector<Token>& prompt, const std::string& tenant = "", size_t min_chunk = 4,
                bool share = false) {
    Placement p = choose_placement(views(), prompt, tenant, options(min_chunk, share));
    if (p.target < 0) return p;
    Slot& t = slots[p.target];
    if (p.source != p.target || p.wipe) {
      kv.seq_rm(p.target, -1, -1);
      t.tokens.clear();
      t.ahead.clear();
    }
    if (p.source != p.target) {
      if (p.keep > 0) kv.seq_cp(p.source, p.target, 0, static_cast<int>(p.keep));
      t.tokens.assign(prompt.begin(), prompt.begin() + p.keep);
    } else if (!p.wipe) {
      apply_reuse(kv, p.target, p.reuse, t.tokens, t.ahead);
    }
    // Evaluate the gaps and the tail; kept chunks are already in place.
    size_t pos = t.tokens.size();
    for (auto& c : t.ahead) {
      evaluate(p.target, prompt, pos, c.pos);
      pos = c.pos + c.tokens.size();
    }
    evaluate(p.target, prompt, pos, prompt.size());
    t.tokens = prompt;
    t.ahead.clear();
    t.tenant = tenant;
    t.last_used = ++clock;
    return p;
  }
  // Every sequence holds exactly its tokens at positions 0..n-1.
  std::string consistent() const {
    for (size_t s = 0; s < slots.size(); s++) {
      std::map<int, Token> want;
      for (size_t i = 0; i < slots[s].tokens.size(); i++) want[static_cast<int>(i)] = slots[s].tokens[i];
      if (kv.contents(static_cast<int>(s)) != want) return "sequence " + std::to_string(s) + " differs from its tokens";
    }
    return "";
  }
};

}  // namespace

// ---- the cell model ----

TEST("ledger: a copy shares cells, removal frees a cell only when no sequence holds it") {
  KvLedger kv(100);
  for (int i = 0; i < 10; i++) kv.added(0, i, 100 + i);
  CHECK(kv.used() == 10 && kv.free() == 90);
  kv.seq_cp(0, 1, 0, 6);
  CHECK(kv.used() == 10);
  CHECK(kv.shared(1, 0, 6) && !kv.shared(0, 6, -1));
  CHECK(kv.exclusive_cells({0}) == 4);
  CHECK(kv.exclusive_cells({0, 1}) == 10);
  kv.seq_rm(0, -1, -1);
  CHECK(kv.used() == 6);
  CHECK(kv.contents(1).size() == 6 && kv.contents(1).at(5) == 105);
}

TEST("ledger: shifting a shared cell moves it for every sequence holding it (as llama.cpp does)") {
  KvLedger kv(100);
  for (int i = 0; i < 4; i++) kv.added(0, i, i);
  kv.seq_cp(0, 1, 0, 4);
  kv.seq_add(1, 2, 4, 10);
  CHECK(kv.contents(0).count(12) == 1 && kv.contents(0).count(2) == 0);
  kv.seq_add(0, 0, 1, -5);  // below position 0: the cell is gone
  CHECK(kv.contents(1).count(0) == 0 && kv.used() == 3);
}

// ---- placement ----

TEST("placement: a prompt extending an idle sequence runs in place and keeps all of it") {
  World w(2);
  w.fill(0, seq(1, 50));
  const auto prompt = cat({seq(1, 50), seq(500, 5)});
  Placement p = w.run(prompt);
  CHECK(p.target == 0 && p.source == 0 && p.reused() == 50);
  CHECK(w.consistent().empty());
}

TEST("placement: an identical prompt keeps all but its last token (its logits are needed)") {
  World w(1);
  w.fill(0, seq(1, 30));
  Placement p = w.run(seq(1, 30));
  CHECK(p.reused() == 29);
  CHECK(w.consistent().empty());
}

TEST("placement: the prefix of a busy sequence is copied into an idle one") {
  World w(2);
  w.fill(0, seq(1, 40));
  w.slots[0].busy = true;
  Placement p = w.run(cat({seq(1, 30), seq(900, 3)}));
  CHECK(p.target == 1 && p.source == 0 && p.keep == 30);
  CHECK(w.kv.shared(1, 0, 30));
  CHECK(w.consistent().empty());
}

TEST("placement: a short accidental match does not wipe a long resident file") {
  World w(2);
  w.fill(0, seq(1, 200));
  Placement p = w.run(cat({seq(1, 2), seq(700, 20)}));
  CHECK(p.target == 1);
  CHECK(w.slots[0].tokens == seq(1, 200));
  CHECK(w.consistent().empty());
}

TEST("chunk reuse: text inserted after the prefix moves the cached rest forward") {
  World w(1);
  const auto head = seq(1, 20), body = seq(100, 40), tail = seq(300, 10);
  w.fill(0, cat({head, body, tail}));
  const auto prompt = cat({head, seq(900, 7), body, tail});
  Placement p = w.run(prompt);
  CHECK(p.target == 0 && p.reuse.chunks.size() == 1);
  CHECK_MSG(p.reused() == 20 + 40 + 9, std::to_string(p.reused()));  // the last token is evaluated
  CHECK(w.consistent().empty());
}

TEST("chunk reuse: deleted text moves the cached rest back") {
  World w(1);
  const auto head = seq(1, 20), gone = seq(900, 12), body = seq(100, 40);
  w.fill(0, cat({head, gone, body}));
  Placement p = w.run(cat({head, body}));
  CHECK(p.reused() == 20 + 39);
  CHECK(w.consistent().empty());
}

TEST("chunk reuse never moves cells another sequence holds (regression: 'internal' decode errors)") {
  // Sequence 1 got the prefix head+body copied from busy sequence 0 (shared cells). An insertion after
  // head would move body: for sequence 0 too, whose next decode then fails llama.cpp's position check.
  World w(2);
  const auto head = seq(1, 20), body = seq(100, 40);
  w.fill(0, cat({head, body, seq(700, 5)}));
  w.slots[0].busy = true;
  w.run(cat({head, body, seq(800, 5)}));  // copied into sequence 1
  CHECK(w.kv.shared(1, 20, 60));
  w.slots[0].busy = false;
  w.slots[0].last_used = 1000;  // sequence 1 is the better match
  Placement p = w.run(cat({head, seq(900, 7), body, seq(800, 5)}));
  CHECK(p.target == 1);
  CHECK(p.reuse.chunks.empty() || p.reuse.chunks[0].from >= 60);
  CHECK(w.consistent().empty());
}

TEST("without the sharing check the same edit corrupts the other sequence (the test has teeth)") {
  World w(2);
  w.check_moves = false;
  const auto head = seq(1, 20), body = seq(100, 40);
  w.fill(0, cat({head, body, seq(700, 5)}));
  w.slots[0].busy = true;
  w.run(cat({head, body, seq(800, 5)}));
  w.slots[0].busy = false;
  w.slots[0].last_used = 1000;
  w.run(cat({head, seq(900, 7), body, seq(800, 5)}));
  CHECK(!w.consistent().empty());
}

// ---- tenants ----

TEST("tenants: a prompt is never matched against another tenant's sequences") {
  World w(2);
  const auto secret = seq(1, 64);
  w.fill(0, secret, "alice");
  Placement p = w.run(cat({secret, seq(900, 2)}), "bob");
  CHECK_MSG(p.reused() == 0, std::to_string(p.reused()));
  CHECK(w.slots[0].tokens == secret);  // bob ran in the empty sequence
  CHECK(w.consistent().empty());
}

TEST("tenants: no copy from another tenant's busy sequence, and its sequence is wiped when taken") {
  World w(1);
  w.fill(0, seq(1, 64), "alice");
  Placement p = w.run(cat({seq(1, 64), seq(900, 2)}), "bob");
  CHECK(p.target == 0 && p.reused() == 0 && p.wipe);
  CHECK(w.slots[0].tenant == "bob");
  World busy(2);
  busy.fill(0, seq(1, 64), "alice");
  busy.slots[0].busy = true;
  Placement q = busy.run(cat({seq(1, 64), seq(900, 2)}), "bob");
  CHECK(q.target == 1 && q.source == 1 && q.reused() == 0);
  CHECK(busy.consistent().empty());
}

TEST("tenants: the same tenant reuses; --share-kv-across-tenants lets tenants reuse each other's") {
  World w(2);
  w.fill(0, seq(1, 64), "alice");
  CHECK(w.run(cat({seq(1, 64), seq(900, 2)}), "alice").reused() == 64);
  World shared(2);
  shared.fill(0, seq(1, 64), "alice");
  CHECK(shared.run(cat({seq(1, 64), seq(900, 2)}), "bob", 4, true).reused() == 64);
}

TEST("tenants: the empty tenant (no API keys) is one tenant") {
  World w(1);
  w.fill(0, seq(1, 32));
  CHECK(w.run(cat({seq(1, 32), seq(900, 2)})).reused() == 32);
}
