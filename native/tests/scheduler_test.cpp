// The scheduling policy (scheduler.h): the wait queue, whom to preempt, admission, batch order.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "scheduler.h"
#include "unit.h"

using namespace pronto;

namespace {
struct Waiting {
  Priority priority;
  uint64_t arrival;
  std::string name;
  int passes = 0;
};
using W = std::shared_ptr<Waiting>;
W job(Priority p, uint64_t arrival, const char* name) {
  return std::make_shared<Waiting>(Waiting{p, arrival, name, 0});
}
std::string order(WaitQueue<W> q) {
  std::string out;
  while (W w = q.front()) {
    out += w->name;
    q.pop_front();
  }
  return out;
}
constexpr Priority I = Priority::kInteractive, C = Priority::kChat, B = Priority::kBatch;
}  // namespace

TEST("wait queue: interactive before chat before batch, arrival order within a class") {
  WaitQueue<W> q(10);
  q.push(job(B, 1, "b"));
  q.push(job(C, 2, "c"));
  q.push(job(I, 3, "i"));
  q.push(job(C, 4, "d"));
  q.push(job(I, 5, "j"));
  CHECK_MSG(order(q) == "ijcdb", order(q));
}

TEST("wait queue: a resumed (preempted) job goes back ahead of its class by arrival") {
  WaitQueue<W> q(10);
  q.push(job(C, 5, "late"));
  q.push(job(C, 2, "resumed"), true);
  CHECK(order(q) == "resumedlate");
}

TEST("wait queue: when full, a newcomer of the same or a lower class is refused") {
  WaitQueue<W> q(2);
  q.push(job(I, 1, "a"));
  q.push(job(C, 2, "b"));
  W refused = q.push(job(C, 3, "c"));
  CHECK(refused && refused->name == "c");
  CHECK(order(q) == "ab");
}

TEST("wait queue: when full, a higher class takes the place of the newest lowest-class job") {
  WaitQueue<W> q(3);
  q.push(job(B, 1, "x"));
  q.push(job(B, 2, "y"));
  q.push(job(C, 3, "c"));
  W refused = q.push(job(I, 4, "i"));
  CHECK(refused && refused->name == "y");
  CHECK(order(q) == "icx");
}

TEST("wait queue: resumed jobs are never refused") {
  WaitQueue<W> q(1);
  q.push(job(I, 1, "a"));
  CHECK(!q.push(job(B, 0, "r"), true));
  CHECK(q.size() == 2);
}

TEST("wait queue: remove_if takes out exactly the matching jobs") {
  WaitQueue<W> q(10);
  for (uint64_t i = 0; i < 6; i++) q.push(job(i % 2 ? C : I, i, i % 3 == 0 ? "x" : "k"));
  auto removed = q.remove_if([](const W& w) { return w->name == "x"; });
  CHECK(removed.size() == 2 && q.size() == 4);
}

TEST("wait queue: a job passed over kAgingPasses times by a higher class moves up one class") {
  WaitQueue<W> q(10);
  q.push(job(B, 1, "b"));
  q.push(job(C, 2, "c"));
  for (int i = 0; i < kAgingPasses - 1; i++) q.passed_by(I);
  CHECK(q.front()->name == "c");
  q.push(job(C, 3, "d"));
  q.passed_by(I);  // c and b reach kAgingPasses: c -> interactive, b -> chat (ahead of d by arrival)
  CHECK_MSG(order(q) == "cbd", order(q));
}

TEST("wait queue: admissions of the same class do not age a job") {
  WaitQueue<W> q(10);
  q.push(job(C, 1, "c"));
  for (int i = 0; i < 3 * kAgingPasses; i++) q.passed_by(C);
  CHECK(q.front()->priority == C);
}

TEST("victim: the lowest class, the newest within it") {
  std::vector<RunningView> run = {{0, I, 1, 5}, {1, C, 2, 5}, {2, C, 3, 5}, {3, I, 4, 5}};
  CHECK(choose_victim(run, nullptr, false) == 2);
}

TEST("victim: only strictly below the waiting request's class, and only after progress when asked") {
  std::vector<RunningView> run = {{0, C, 1, 5}, {1, C, 2, 0}};
  const Priority chat = C, inter = I;
  CHECK(choose_victim(run, &chat, true) == -1);
  CHECK(choose_victim(run, &inter, true) == 0);  // slot 1 has not decoded since its admission
  CHECK(choose_victim(run, &inter, false) == 1);
}

TEST("victim: a request preempted before is protected for kStepsAfterResume steps after its resume") {
  const Priority inter = I;
  std::vector<RunningView> run = {{0, C, 1, kStepsAfterResume - 1, 1}};
  CHECK(choose_victim(run, &inter, true) == -1);
  run[0].steps = kStepsAfterResume;
  CHECK(choose_victim(run, &inter, true) == 0);
}

TEST("pressure victim: progressed first; a just-resumed request only when nothing else can yield") {
  // Slot 0: a chat resumed 1 step ago (preempted before); slot 1: a completion admitted, no step yet.
  std::vector<RunningView> run = {{0, C, 1, 1, 1}, {1, I, 2, 0}};
  CHECK(choose_pressure_victim(run) == 1);  // the newcomer yields, the resumed chat keeps its step
  run[1].steps = 1;                         // both progressed by their own measure? the chat not yet:
  CHECK(choose_pressure_victim(run) == 1);  // only the completion has made progress
  run[0].steps = kStepsAfterResume;         // now the chat is past its guard: the lowest class yields
  CHECK(choose_pressure_victim(run) == 0);
  std::vector<RunningView> guarded = {{0, C, 1, 0, 1}, {1, I, 2, 0, 2}};
  CHECK(choose_pressure_victim(guarded) == 0);  // all guarded, no progress: the lowest class, as before
}

TEST("admission: fits -> admit; nothing running -> admit; higher class -> preempt; else wait") {
  std::vector<RunningView> run = {{0, C, 1, 3}};
  CHECK(decide_admission(C, true, run).what == Admission::kAdmit);
  CHECK(decide_admission(B, false, {}).what == Admission::kAdmit);
  AdmissionDecision d = decide_admission(I, false, run);
  CHECK(d.what == Admission::kPreempt && d.victim == 0);
  CHECK(decide_admission(C, false, run).what == Admission::kWait);
  CHECK(decide_admission(B, false, run).what == Admission::kWait);
}

TEST("batch order: interactive first, then chat, then batch, each by admission") {
  std::vector<RunningView> run = {{0, B, 1, 1}, {1, C, 2, 1}, {2, I, 5, 1}, {3, I, 3, 1}};
  CHECK((batch_order(run) == std::vector<int>{3, 2, 1, 0}));
}

TEST("two models: the chat model decodes every iteration when no interactive work is on the completion model") {
  int deferred = 0;
  for (int i = 0; i < 3 * kChatStepEvery; i++) CHECK(chat_may_decode(false, deferred));
  CHECK(deferred == 0);
}

TEST("two models: with interactive work, the chat model decodes once every kChatStepEvery iterations") {
  int deferred = 0, decoded = 0, longest_gap = 0, gap = 0;
  for (int i = 0; i < 10 * kChatStepEvery; i++) {
    if (chat_may_decode(true, deferred)) {
      decoded++;
      gap = 0;
    } else {
      longest_gap = std::max(longest_gap, ++gap);
    }
  }
  CHECK(decoded == 10);                                      // slowed down, never stopped
  CHECK(longest_gap == kChatStepEvery - 1);                  // the bound a completion's latency counts on
  CHECK(chat_may_decode(false, deferred) && deferred == 0);  // the keystrokes stop: back to every step
}
