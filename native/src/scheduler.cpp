#include "scheduler.h"

namespace pronto {

int choose_victim(const std::vector<RunningView>& running, const Priority* below, bool require_progress) {
  const RunningView* victim = nullptr;
  for (const auto& r : running) {
    if (below && static_cast<int>(r.priority) <= static_cast<int>(*below)) continue;
    if (require_progress && r.steps < (r.preemptions > 0 ? kStepsAfterResume : 1)) continue;
    if (!victim || r.priority > victim->priority || (r.priority == victim->priority && r.admitted > victim->admitted))
      victim = &r;
  }
  return victim ? victim->slot : -1;
}

int choose_pressure_victim(const std::vector<RunningView>& running) {
  int victim = choose_victim(running, nullptr, true);
  if (victim >= 0) return victim;
  std::vector<RunningView> unguarded;
  for (const auto& r : running)
    if (r.preemptions == 0) unguarded.push_back(r);
  victim = choose_victim(unguarded, nullptr, false);
  return victim >= 0 ? victim : choose_victim(running, nullptr, false);
}

AdmissionDecision decide_admission(Priority head, bool fits, const std::vector<RunningView>& running) {
  // Alone, every request fits (its prompt and generation are capped to the context): with nothing
  // running, idle sequences are dropped for it.
  if (fits || running.empty()) return {Admission::kAdmit, -1};
  const int victim = choose_victim(running, &head, true);
  if (victim >= 0) return {Admission::kPreempt, victim};
  return {Admission::kWait, -1};
}

std::vector<int> batch_order(std::vector<RunningView> running) {
  std::stable_sort(running.begin(), running.end(), [](const RunningView& a, const RunningView& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.admitted < b.admitted;
  });
  std::vector<int> out;
  for (auto& r : running) out.push_back(r.slot);
  return out;
}

bool chat_may_decode(bool interactive_work, int& deferred) {
  if (!interactive_work || ++deferred >= kChatStepEvery) {
    deferred = 0;
    return true;
  }
  return false;
}

}  // namespace pronto
