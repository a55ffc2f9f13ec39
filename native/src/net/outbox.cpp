#include "net/outbox.h"

namespace pronto::net {

Outbox::Outbox(size_t limit_bytes, std::function<void()> wake, std::function<void()> overflow)
    : limit_(limit_bytes), wake_(std::move(wake)), overflow_(std::move(overflow)) {}

void Outbox::push(OutEvent e) {
  bool wake = false, overflow = false;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (closed_) return;
    pending_ += e.cost();
    if (pending_ > limit_) {
      // The client has not read what it already has: stop queueing for it; the I/O side drops it.
      closed_ = true;
      overflow = true;
      queue_.clear();
    } else {
      queue_.push_back(std::move(e));
      wake = !awake_;
      awake_ = true;
    }
  }
  if (overflow && overflow_) overflow_();
  if (wake && wake_) wake_();
}

std::vector<OutEvent> Outbox::take() {
  std::lock_guard<std::mutex> lock(m_);
  awake_ = false;
  std::vector<OutEvent> out;
  out.swap(queue_);
  return out;
}

void Outbox::release(size_t bytes) {
  std::lock_guard<std::mutex> lock(m_);
  pending_ = bytes > pending_ ? 0 : pending_ - bytes;
}

void Outbox::close() {
  std::lock_guard<std::mutex> lock(m_);
  closed_ = true;
  queue_.clear();
}

size_t Outbox::pending_bytes() const {
  std::lock_guard<std::mutex> lock(m_);
  return pending_;
}

void OutboxSink::on_token(const std::string& id, const std::string& text) {
  if (!forward_tokens_) return;
  OutEvent e;
  e.kind = OutEvent::Kind::kToken;
  e.id = id;
  e.text = text;
  out_->push(std::move(e));
}

void OutboxSink::on_done(const std::string& id, const std::string& text, const std::string& reason,
                         const RequestStats& stats) {
  OutEvent e;
  e.kind = OutEvent::Kind::kDone;
  e.id = id;
  e.text = text;
  e.reason = reason;
  e.stats = stats;
  if (on_final_) on_final_(id);  // first: a client that sees the final event may reuse the id at once
  out_->push(std::move(e));
}

void OutboxSink::on_error(const std::string& id, const std::string& code, const std::string& message) {
  OutEvent e;
  e.kind = OutEvent::Kind::kError;
  e.id = id;
  e.text = message;
  e.reason = code;
  if (on_final_) on_final_(id);
  out_->push(std::move(e));
}

}  // namespace pronto::net
