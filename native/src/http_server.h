#pragma once
#include <functional>
#include <string>

#include "engine.h"

namespace pronto {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string api_key;
};

// Binds (port 0 = any free port), calls on_bound(port), then serves until stop_server() is called.
// Returns false with `error` when the address cannot be bound.
bool run_server(Engine& engine, const ServerOptions& opts, const std::function<void(int)>& on_bound,
                std::string& error);
void stop_server();

}  // namespace pronto
