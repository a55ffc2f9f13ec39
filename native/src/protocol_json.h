// The JSON edge: protocol/engine.ts shapes <-> the structs in types.h. Nothing else in the engine sees JSON.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "engine.h"
#include "types.h"

namespace pronto {

using json = nlohmann::json;

// Parses JSON text; throws BadRequest naming the problem (invalid UTF-8, malformed JSON, not an object).
json parse_json_object(const std::string& body);

// WebSocket `submit` -> Request (tokenized, validated). Throws BadRequest.
RequestPtr parse_submit(const json& msg, const Engine& engine);

// POST /v1/completions and /v1/chat/completions body -> Request (tokenized, validated) + stream flag.
struct OpenAiRequest {
  RequestPtr req;
  bool stream = false;
};
OpenAiRequest parse_openai(const json& body, const Engine& engine, bool chat);

// POST /tokenize body.
struct TokenizeRequest {
  std::string content;
  bool add_special = false, parse_special = false;
};
TokenizeRequest parse_tokenize(const json& body);

// The `model` field of a request: which loaded model serves it (absent: chat -> the chat model, else
// the completion model). Throws BadRequest not_found for a name that is not loaded.
ModelPurpose parse_model(const json& j, const Engine& engine, const char* where, bool chat);

// Shared validators for the HTTP endpoints.
void parse_sampling(const json& j, SamplingParams& out, const char* where);
void parse_limits(const json& j, Limits& out, const char* where);
// The limits of an OpenAI-style body: parse_limits plus n_predict (llama-server's max_tokens).
void parse_openai_limits(const json& body, Limits& out, const char* where);
void check_prompt_fits(const Engine& engine, Request& req);

std::string dump(const json& j);  // never throws on bad UTF-8 (replaces it)
json stats_json(const RequestStats& s);
std::string token_event(const std::string& id, const std::string& text);
std::string done_event(const std::string& id, const std::string& text, const std::string& reason,
                       const RequestStats& s);
std::string error_event(const std::string* id, const std::string& code, const std::string& message);
json error_body(const std::string& code, const std::string& message);
json model_info_json(const ModelInfo& m);
// [{id, purpose: ["completion"|"chat"...], meta}] of the loaded models (not the draft).
json loaded_models_json(const Engine& engine);

}  // namespace pronto
