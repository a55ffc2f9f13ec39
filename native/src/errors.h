// The engine's own error type. Engine code throws it (or reports it on a request's sink); the protocol
// layer (protocol_json.cpp, http_server.cpp) maps `code` to an HTTP status or an error event.
#pragma once
#include <stdexcept>
#include <string>

namespace pronto {

struct EngineError : std::runtime_error {
  // One of the protocol's error codes (protocol/engine.ts engineErrorCodeSchema): bad_request,
  // prompt_too_long, overloaded, internal.
  std::string code;
  EngineError(std::string error_code, const std::string& message)
      : std::runtime_error(message), code(std::move(error_code)) {}
};

}  // namespace pronto
