// Adaptive draft length and the n-gram drafter (speculator.h).
#include <string>
#include <vector>

#include "speculator.h"
#include "unit.h"

using namespace pronto;

TEST("draft length grows after fully accepted drafts, up to 16") {
  DraftControl c;
  for (int i = 0; i < 20; i++) {
    const int n = c.next(100);
    c.update(n, n);
  }
  CHECK(c.length() == kMaxDraft);
  CHECK(c.next(5) == 5);  // never more than the room
}

TEST("a draft that never matches: a few one-token probes, with growing pauses") {
  DraftControl c;
  int drafting_steps = 0, drafted = 0;
  for (int step = 0; step < 128; step++) {
    const int n = c.next(16);
    if (n > 0) drafting_steps++, drafted += n;
    c.update(n, 0);
  }
  CHECK_MSG(drafting_steps <= 3 && drafted <= 3, std::to_string(drafting_steps) + " " + std::to_string(drafted));
  for (int step = 128; step < 2000; step++) {
    const int n = c.next(16);
    if (n > 0) drafting_steps++, drafted += n;
    c.update(n, 0);
  }
  CHECK_MSG(drafted <= 8, std::to_string(drafted));  // pauses reach kMaxCooldown steps
}

TEST("an accepted draft ends the backoff: the next pause is short again") {
  DraftControl c;
  for (int i = 0; i < 3; i++) {
    while (c.next(16) == 0) {
    }
    c.update(1, 0);
  }
  CHECK(c.next(16) == 0 && c.peek(16) == 0);
  int steps = 1;
  while (c.next(16) == 0) steps++;
  CHECK_MSG(steps == 4 * kFirstCooldown, std::to_string(steps));  // 16, 32, 64: the third pause
  c.update(1, 1);
  CHECK(c.next(16) > 0);
  c.update(1, 0);
  steps = 0;
  while (c.next(16) == 0) steps++;
  CHECK_MSG(steps == kFirstCooldown, std::to_string(steps));
}

TEST("n-gram draft: proposes what followed the last occurrence of the last tokens") {
  const std::vector<llama_token> history = {1, 2, 3, 4, 5, 9, 9, 1, 2};
  auto d = ngram_draft(history, 3, 3);  // ...1 2 3 seen before, followed by 4 5 9
  CHECK((d == std::vector<llama_token>{4, 5, 9}));
  CHECK(ngram_draft({7, 8}, 6, 4).empty());
}

// The gate sees a step as (ms, tokens produced, drafted); the loop below plays a decoder whose plain
// steps cost `plain` ms per token and whose drafted steps produce 2 tokens for `drafted` ms.
static int drafted_steps(SpeculationGate& g, double plain, double drafted, int steps) {
  int n = 0;
  for (int i = 0; i < steps; i++) {
    if (g.allow()) {
      g.observe(drafted, 2, true);
      n++;
    } else {
      g.observe(plain, 1, false);
    }
  }
  return n;
}

TEST("speculation gate: drafting that costs more per token than plain decoding pauses, probes rarely") {
  SpeculationGate g;
  // 2 tokens for 40 ms (20 ms/token) against 16 ms/token plain: drafting loses.
  const int n = drafted_steps(g, 16, 40, 4000);
  CHECK_MSG(n < 4000 / 20, std::to_string(n) + " of 4000 steps drafted");
  CHECK(g.draft_ms_per_token() > g.plain_ms_per_token());
}

TEST("speculation gate: drafting that pays is never paused once measured") {
  SpeculationGate g;
  // 2 tokens for 20 ms (10 ms/token) against 16 ms/token: every step drafts after the first plain ones.
  const int n = drafted_steps(g, 16, 20, 1000);
  CHECK_MSG(n >= 1000 - 2 * SpeculationGate::kSamples, std::to_string(n) + " of 1000 steps drafted");
}

TEST("speculation gate: off, it never pauses; bad observations are ignored") {
  SpeculationGate off(false);
  CHECK(drafted_steps(off, 16, 400, 100) == 100);
  SpeculationGate g;
  g.observe(-1, 1, true);
  g.observe(5, 0, true);
  CHECK(g.allow() && g.draft_ms_per_token() == 0);
}
