// Scheduling policy: who waits, who runs, who yields. Pure (native/tests/scheduler_test.cpp); the
// inference loop (engine.cpp) applies the decisions.
//
// Why it looks like this
// ----------------------
// The engine has `n_parallel` sequences and one pool of `n_ctx` KV cells shared by all of them
// (native/README.md, "Memory"). A request is admitted when a sequence is idle and the pool can hold its
// prompt (after dropping idle cached sequences, which are only a cache); otherwise it waits in a
// bounded queue, highest priority first (interactive completions, then chat, then batch work), in
// arrival order within a class. It waits at most its time budget; `overloaded` is answered only when
// the queue is full. A waiting request of a higher class preempts the lowest-class running one (the
// newest of that class, once it has taken part in a decode step, so every admission makes progress).
// When running requests grow and the pool is full, idle sequences are dropped first, then the
// lowest-class, newest running request is preempted. A preempted request keeps its output so far and
// goes back to the queue ahead of its class; when admitted again it evaluates prompt + generated
// tokens (most of them usually still cached) and continues where it stopped. So no request fails
// because another one grew. Against starvation: a waiting job passed over by kAgingPasses admissions
// of a higher class moves up one class in the queue, and a resumed job runs kStepsAfterResume steps
// before it can be preempted again.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "types.h"

namespace pronto {

constexpr int kPriorityClasses = 3;
// A waiting job passed over this many times by admissions of a higher class moves up one class in the
// queue (aging): lower classes are delayed by a stream of higher-class work, never starved.
constexpr int kAgingPasses = 4;

// A bounded queue of waiting jobs: any pointer-like type with `->priority` (its class in the queue,
// raised by aging), `->arrival` and `->passes`.
template <class JobPtr>
class WaitQueue {
 public:
  explicit WaitQueue(size_t capacity = 256) : capacity_(capacity) {}

  // Adds a job. When the queue is full it returns the job to refuse: the newcomer, or the newest job of
  // a lower class, which the newcomer replaces. `resumed`: a preempted job, never refused.
  JobPtr push(JobPtr job, bool resumed = false) {
    JobPtr refused{};
    if (!resumed && size() >= capacity_) {
      int lowest = kPriorityClasses - 1;
      while (lowest >= 0 && classes_[lowest].empty()) lowest--;
      if (lowest < 0 || lowest <= static_cast<int>(job->priority)) return job;
      refused = classes_[lowest].back();
      classes_[lowest].pop_back();
    }
    auto& q = classes_[static_cast<int>(job->priority)];
    auto at = std::upper_bound(q.begin(), q.end(), job,
                               [](const JobPtr& a, const JobPtr& b) { return a->arrival < b->arrival; });
    q.insert(at, std::move(job));
    return refused;
  }
  // A job of class `admitted` was admitted: every waiting job of a lower class was passed over once.
  void passed_by(Priority admitted) {
    for (int c = static_cast<int>(admitted) + 1; c < kPriorityClasses; c++) {
      auto& q = classes_[c];
      for (auto it = q.begin(); it != q.end();) {
        if (++(*it)->passes < kAgingPasses) {
          ++it;
          continue;
        }
        JobPtr job = std::move(*it);
        it = q.erase(it);
        job->passes = 0;
        job->priority = static_cast<Priority>(c - 1);
        auto& up = classes_[c - 1];
        up.insert(std::upper_bound(up.begin(), up.end(), job,
                                   [](const JobPtr& a, const JobPtr& b) { return a->arrival < b->arrival; }),
                  std::move(job));
      }
    }
  }
  // The job to admit next: the highest class, the earliest arrival. Null when empty.
  JobPtr front() const {
    for (auto& q : classes_)
      if (!q.empty()) return q.front();
    return JobPtr{};
  }
  void pop_front() {
    for (auto& q : classes_)
      if (!q.empty()) return q.pop_front();
  }
  // Removes the jobs for which `pred` holds and returns them.
  template <class Pred>
  std::vector<JobPtr> remove_if(Pred pred) {
    std::vector<JobPtr> out;
    for (auto& q : classes_) {
      for (auto it = q.begin(); it != q.end();) {
        if (pred(*it)) {
          out.push_back(std::move(*it));
          it = q.erase(it);
        } else {
          ++it;
        }
      }
    }
    return out;
  }
  size_t size() const {
    size_t n = 0;
    for (auto& q : classes_) n += q.size();
    return n;
  }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  std::deque<JobPtr> classes_[kPriorityClasses];
};

// What the policy needs to know of a running request.
struct RunningView {
  int slot;
  Priority priority;
  uint64_t admitted;    // admission order: larger = newer
  int steps;            // decode steps since its admission
  int preemptions = 0;  // times it was preempted before
};

// Decode steps a request runs after a resume before a higher class may preempt it again: without it, a
// chat under a stream of completions (one per keystroke) would advance one token per completion.
constexpr int kStepsAfterResume = 8;

// The running request to preempt: the lowest class (strictly below `below` when given), newest first;
// with `require_progress`, only one that took part in a decode step since its admission (in
// kStepsAfterResume steps, when it was preempted before). -1: none.
int choose_victim(const std::vector<RunningView>& running, const Priority* below, bool require_progress);

// The running request to preempt when the KV cache cannot hold the next decode step: one that made
// progress first (lowest class, newest), else one that is not within its kStepsAfterResume steps after
// a resume, else any. Without the middle tier a resumed request whose KV was dropped could be preempted
// at its first step again and again by a stream of higher-class requests, never generating a token
// (found by engine.scheduler.test.ts on a busy machine: a chat stuck at 360 of 400 tokens).
int choose_pressure_victim(const std::vector<RunningView>& running);

enum class Admission { kAdmit, kPreempt, kWait };
struct AdmissionDecision {
  Admission what;
  int victim = -1;  // kPreempt: the slot to preempt
};

// For the first waiting request (class `head`): admit it when it fits (an idle sequence and KV room) or
// nothing runs, else preempt a running request of a lower class that has made progress, else wait.
AdmissionDecision decide_admission(Priority head, bool fits, const std::vector<RunningView>& running);

// The order in which running requests get room in a batch: class, then admission order.
std::vector<int> batch_order(std::vector<RunningView> running);

// Two models on the one inference thread (--chat-model): each iteration of the loop decodes the
// completion model's batch, then the chat model's. While an interactive request runs or waits on the
// completion model, the chat model decodes only every kChatStepEvery-th iteration: a keystroke's
// completion takes about one chat step per kChatStepEvery of its own instead of one per step, and a
// stream of keystrokes slows a chat answer down, never stops it. On one model, on the CPU, the same rule
// decides whether the lower classes join a batch that has interactive requests (decode_step.cpp).
constexpr int kChatStepEvery = 8;

// Whether the chat model decodes in this iteration. `deferred` counts the iterations it has sat out in
// a row (updated here).
bool chat_may_decode(bool interactive_work, int& deferred);

}  // namespace pronto
