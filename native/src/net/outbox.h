// The hand-over from the inference thread to the network: a bounded queue per connection.
//
// The engine calls a request's Sink on its one inference thread. A sink here only appends an event to
// its connection's Outbox (a mutex held for a push_back) and, if the I/O side is not already awake,
// posts one wake-up to the connection's strand. The I/O thread formats and writes. Bytes count as
// pending from the push until their write completes; when a client stops reading, the pending bytes
// grow past the limit and the connection is dropped (its requests cancelled) instead of stalling the
// engine or eating memory.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "types.h"

namespace pronto::net {

struct OutEvent {
  enum class Kind { kToken, kDone, kError };
  Kind kind = Kind::kToken;
  std::string id;
  std::string text;    // token text, the final text, or the error message
  std::string reason;  // finish reason (done) or error code (error)
  RequestStats stats;
  bool has_id = true;  // false: an error about a message that carried no usable id
  // What the event costs against the limit: its text plus the frame around it.
  size_t cost() const { return id.size() + text.size() + reason.size() + (kind == Kind::kDone ? 512 : 64); }
};

class Outbox {
 public:
  // wake: called from the pushing thread (outside the lock) when events arrive and the I/O side has
  // not been woken since its last take(). overflow: called once when pending bytes exceed limit_bytes.
  Outbox(size_t limit_bytes, std::function<void()> wake, std::function<void()> overflow);

  // Any thread. Never blocks on I/O. After close() or an overflow, events are dropped.
  void push(OutEvent e);
  // I/O side: everything queued so far (their bytes stay pending until release()).
  std::vector<OutEvent> take();
  // I/O side: `bytes` of taken events have been written.
  void release(size_t bytes);
  // The connection is gone: accept nothing more.
  void close();
  size_t pending_bytes() const;

 private:
  mutable std::mutex m_;
  std::vector<OutEvent> queue_;
  size_t pending_ = 0;
  const size_t limit_;
  bool awake_ = false, closed_ = false;
  std::function<void()> wake_, overflow_;
};

// A request's Sink that feeds an Outbox. on_final (optional) runs on the inference thread just
// before the final event is queued (e.g. to forget the request in the connection's in-flight map).
class OutboxSink : public Sink {
 public:
  OutboxSink(std::shared_ptr<Outbox> out, bool forward_tokens, std::function<void(const std::string&)> on_final = {})
      : out_(std::move(out)), forward_tokens_(forward_tokens), on_final_(std::move(on_final)) {}
  void on_token(const std::string& id, const std::string& text) override;
  void on_done(const std::string& id, const std::string& text, const std::string& reason,
               const RequestStats& stats) override;
  void on_error(const std::string& id, const std::string& code, const std::string& message) override;

 private:
  std::shared_ptr<Outbox> out_;
  bool forward_tokens_;
  std::function<void(const std::string&)> on_final_;
};

}  // namespace pronto::net
