// The engine's network front end: HTTP/1.1 + WebSocket on Boost.Beast/Asio, event-driven.
//
//   acceptor ──▶ HttpSession (one per connection; timeouts, limits, Host/Origin/key checks, routes)
//                  └─ upgrade on /v1/stream ──▶ WsSession (one per WebSocket)
//   I/O thread: moves bytes only. Worker pool: JSON parsing, tokenizing, FIM assembly (a 4 MiB prompt
//   never stalls other connections). Inference thread: calls sinks, which only append to a
//   connection's bounded Outbox (outbox.h).
//
// See native/README.md ("Network and security") for the limits and the security model.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "engine.h"
#include "metrics.h"
#include "net/access.h"

namespace pronto::net {

struct NetOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  ApiKeys keys;  // empty = no authentication (loopback only; main.cpp enforces it)
  SitePolicy site;
  int max_connections = 1024;                // HTTP + WebSocket; beyond it: 503 and close
  std::chrono::seconds header_timeout{15};   // idle connection or request header not complete
  std::chrono::seconds body_timeout{60};     // request body not complete
  std::chrono::seconds write_timeout{30};    // one write making no progress: client dropped
  std::chrono::seconds ws_idle_timeout{60};  // silent WebSocket: ping, then close after twice this
  size_t max_body_bytes = 64u << 20;         // HTTP body and WebSocket message; over: 413 / close
  size_t client_queue_bytes = 1u << 20;      // unsent output per connection before it is dropped
  int worker_threads = 2;                    // parsing and tokenizing
};

class Server {
 public:
  Server(Engine& engine, NetOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Resolves --host and listens. On failure returns false with a message.
  bool bind(std::string& error);
  int port() const;
  // Serves until stop(); returns once every connection has closed.
  void run();
  // Any thread, any time (also before run(), which then returns at once). Stops accepting, closes idle
  // connections and WebSockets, lets running HTTP replies finish.
  void stop();
  NetMetrics& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pronto::net
