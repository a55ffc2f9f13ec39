// What every connection shares: the engine, the options, the worker pool, the metrics, and the
// registry of open connections (for the connection limit and for stop()). Internal to net/.
#pragma once
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine.h"
#include "metrics.h"
#include "net/outbox.h"
#include "net/server.h"

namespace pronto::net {

// A connection as the server sees it: something it can ask to wind down.
class Connection {
 public:
  virtual ~Connection() = default;
  // Thread-safe: posts to the connection's strand. Idle connections close; running replies finish.
  virtual void shutdown() = 0;
};

class Registry {
 public:
  void add(Connection* c, std::weak_ptr<Connection> w) {
    std::lock_guard<std::mutex> lock(m_);
    live_[c] = std::move(w);
  }
  void remove(Connection* c) {
    std::lock_guard<std::mutex> lock(m_);
    live_.erase(c);
  }
  std::vector<std::shared_ptr<Connection>> all() {
    std::lock_guard<std::mutex> lock(m_);
    std::vector<std::shared_ptr<Connection>> out;
    for (auto& [_, w] : live_)
      if (auto s = w.lock()) out.push_back(std::move(s));
    return out;
  }

 private:
  std::mutex m_;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> live_;
};

struct ServerContext {
  ServerContext(Engine& e, const NetOptions& o, boost::asio::thread_pool& w) : engine(e), opts(o), workers(w) {}
  Engine& engine;
  const NetOptions& opts;
  boost::asio::thread_pool& workers;
  NetMetrics metrics;
  Registry registry;
  std::atomic<int> open_connections{0};
  std::atomic<bool> stopping{false};
};

// Holds one place under --max-connections and one count in the open-connections gauge, for the life
// of a connection (moved from the HTTP session to the WebSocket session on upgrade).
class ConnectionTicket {
 public:
  explicit ConnectionTicket(ServerContext& ctx) : ctx_(&ctx) {
    ctx_->open_connections++;
    ctx_->metrics.http_open++;
  }
  ConnectionTicket(ConnectionTicket&& o) noexcept : ctx_(o.ctx_), ws_(o.ws_) { o.ctx_ = nullptr; }
  ConnectionTicket(const ConnectionTicket&) = delete;
  ConnectionTicket& operator=(const ConnectionTicket&) = delete;
  ConnectionTicket& operator=(ConnectionTicket&&) = delete;
  ~ConnectionTicket() {
    if (!ctx_) return;
    ctx_->open_connections--;
    (ws_ ? ctx_->metrics.ws_open : ctx_->metrics.http_open)--;
  }
  void become_websocket() {
    if (!ctx_ || ws_) return;
    ws_ = true;
    ctx_->metrics.http_open--;
    ctx_->metrics.ws_open++;
  }

 private:
  ServerContext* ctx_;
  bool ws_ = false;
};

// A connection's Outbox. Its callbacks run on whatever thread pushes (the inference thread, a worker):
// they hold the connection only weakly (a request's sink may outlive it) and post the member function
// to the connection's strand, where the I/O work happens. Session needs a public executor().
template <class Session>
std::shared_ptr<Outbox> make_connection_outbox(const std::shared_ptr<Session>& session, size_t limit_bytes,
                                               void (Session::*on_events)(), void (Session::*on_overflow)()) {
  std::weak_ptr<Session> weak = session;
  auto on_strand = [weak](void (Session::*fn)()) {
    return [weak, fn] {
      if (auto s = weak.lock()) {
        auto ex = s->executor();
        boost::asio::post(ex, [s = std::move(s), fn] { ((*s).*fn)(); });
      }
    };
  };
  return std::make_shared<Outbox>(limit_bytes, on_strand(on_events), on_strand(on_overflow));
}

}  // namespace pronto::net
