#include "net/api_replies.h"

#include "protocol_json.h"

namespace pronto::net {

std::string health_body(const Engine& engine) {
  json models = json::array();
  for (auto& m : loaded_models_json(engine)) models.push_back({{"id", m["id"]}, {"purpose", m["purpose"]}});
  return dump(json{{"status", "ok"},
                   {"busy_sequences", engine.busy_sequences()},
                   {"n_parallel", engine.n_parallel()},
                   {"models", models},
                   {"protocol", kProtocolVersion}});
}

std::string models_body(const Engine& engine) {
  json data = json::array();
  for (auto& m : loaded_models_json(engine)) {
    m["object"] = "model";
    m["owned_by"] = "pronto";
    data.push_back(std::move(m));
  }
  if (const ModelInfo* d = engine.draft_info())
    data.push_back({{"id", d->name},
                    {"object", "model"},
                    {"owned_by", "pronto"},
                    {"role", "draft"},
                    {"meta", model_info_json(*d)}});
  return dump(json{{"object", "list"}, {"data", data}});
}

std::string metrics_body(Engine& engine, const NetMetrics& net) {
  int models = 1 + (engine.draft_info() ? 1 : 0) + (engine.chat_engine() ? 1 : 0);
  return engine.metrics().render(engine.kv_usage(), engine.busy_sequences(), engine.n_parallel(), models) +
         net.render();
}

std::string tokenize_body(const Engine& engine, const std::string& request_body) {
  const json body = parse_json_object(request_body);
  TokenizeRequest t = parse_tokenize(body);
  const Engine& vocab = engine.serving(parse_model(body, engine, "tokenize", false));
  auto toks = vocab.tokenize(t.content, t.add_special, t.parse_special);
  return dump(json{{"tokens", toks}});
}

std::string error_body_text(const std::string& code, const std::string& message) {
  return dump(error_body(code, message));
}

unsigned status_for(const std::string& code) {
  if (code == "unauthorized") return 401;
  if (code == "forbidden") return 403;
  if (code == "not_found") return 404;
  if (code == "payload_too_large") return 413;
  if (code == "overloaded") return 503;
  if (code == "internal") return 500;
  return 400;
}

static std::string openai_reason(const std::string& r) {
  if (r == "eos" || r == "stop") return "stop";
  if (r == "length" || r == "time") return "length";
  return r;
}

static json usage_json(const RequestStats& s) {
  return json{{"prompt_tokens", s.prompt_tokens},
              {"completion_tokens", s.generated_tokens},
              {"total_tokens", s.prompt_tokens + s.generated_tokens}};
}

std::string OpenAiReply::whole(const OutEvent& done) const {
  json choice{{"index", 0}, {"finish_reason", openai_reason(done.reason)}};
  if (chat_)
    choice["message"] = {{"role", "assistant"}, {"content", done.text}};
  else
    choice["text"] = done.text, choice["logprobs"] = nullptr;
  return dump(json{{"id", id_},
                   {"object", chat_ ? "chat.completion" : "text_completion"},
                   {"created", created_},
                   {"model", model_},
                   {"choices", json::array({choice})},
                   {"usage", usage_json(done.stats)},
                   {"stats", stats_json(done.stats)}});
}

std::string OpenAiReply::chunk(const std::string& text, bool is_delta, const char* finish) const {
  json choice{{"index", 0}, {"finish_reason", finish ? json(finish) : json(nullptr)}};
  if (chat_)
    choice["delta"] = is_delta ? json{{"content", text}} : json::object();
  else
    choice["text"] = text;
  json j{{"id", id_},
         {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
         {"created", created_},
         {"model", model_},
         {"choices", json::array({choice})}};
  return "data: " + dump(j) + "\n\n";
}

std::string OpenAiReply::sse_open() const {
  if (!chat_) return "";
  json choice{{"index", 0}, {"finish_reason", nullptr}, {"delta", {{"role", "assistant"}, {"content", ""}}}};
  json j{{"id", id_},
         {"object", "chat.completion.chunk"},
         {"created", created_},
         {"model", model_},
         {"choices", json::array({choice})}};
  return "data: " + dump(j) + "\n\n";
}

std::string OpenAiReply::sse_event(const OutEvent& e) const {
  switch (e.kind) {
    case OutEvent::Kind::kToken:
      return chunk(e.text, true, nullptr);
    case OutEvent::Kind::kDone: {
      const std::string reason = openai_reason(e.reason);
      std::string out = chunk("", false, reason.c_str());
      json tail{{"id", id_},
                {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
                {"created", created_},
                {"model", model_},
                {"choices", json::array()},
                {"usage", usage_json(e.stats)},
                {"stats", stats_json(e.stats)}};
      return out + "data: " + dump(tail) + "\n\ndata: [DONE]\n\n";
    }
    case OutEvent::Kind::kError:
      return "data: " + dump(error_body(e.reason, e.text)) + "\n\ndata: [DONE]\n\n";
  }
  return "";
}

}  // namespace pronto::net
