#include "protocol_json.h"

#include <atomic>
#include <cmath>
#include <cstdio>

#include "errors.h"
#include "text.h"

namespace pronto {

static BadRequest bad(const std::string& msg) { return BadRequest{"bad_request", msg}; }

static constexpr int64_t kMaxGenerated = 4096;         // tokens one request may generate
static constexpr size_t kMaxText = 4u << 20;           // bytes per text field (prompt, prefix, message, ...)
static constexpr size_t kMaxMessages = 1024;           // chat messages per request
static constexpr size_t kMaxChatTemplate = 64u << 10;  // a built-in name or a template text

namespace {

// Walks a JSON text to name where parsing failed (`limits.max_tokens`, `messages[2].content`): the DOM
// parser only says "number overflow", and the client needs to know which of its fields was wrong.
struct JsonPathFinder : nlohmann::json_sax<json> {
  struct Frame {
    bool array;
    size_t index;
    std::string key;
  };
  std::vector<Frame> stack;
  std::string failed_at;

  void value() {
    if (!stack.empty() && stack.back().array) stack.back().index++;
  }
  std::string path() const {
    std::string p;
    for (const auto& f : stack) {
      if (f.array)
        p += "[" + std::to_string(f.index) + "]";
      else
        p += (p.empty() ? "" : ".") + f.key;
    }
    return p;
  }
  bool null() override { return value(), true; }
  bool boolean(bool) override { return value(), true; }
  bool number_integer(number_integer_t) override { return value(), true; }
  bool number_unsigned(number_unsigned_t) override { return value(), true; }
  bool number_float(number_float_t, const string_t&) override { return value(), true; }
  bool string(string_t&) override { return value(), true; }
  bool binary(binary_t&) override { return value(), true; }
  bool start_object(std::size_t) override { return stack.push_back({false, 0, ""}), true; }
  bool key(string_t& k) override { return stack.back().key = k, true; }
  bool end_object() override { return stack.pop_back(), value(), true; }
  bool start_array(std::size_t) override { return stack.push_back({true, 0, ""}), true; }
  bool end_array() override { return stack.pop_back(), value(), true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    failed_at = path();
    return false;
  }
};

}  // namespace

json parse_json_object(const std::string& body) {
  if (!utf8_is_valid(body)) throw bad("request is not valid UTF-8");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw bad(std::string("malformed JSON: ") + e.what());
  } catch (const json::exception& e) {
    // Valid syntax the parser cannot represent: a number beyond a double's range (1e400).
    JsonPathFinder finder;
    json::sax_parse(body, &finder);
    const std::string where = finder.failed_at.empty() ? "request" : finder.failed_at;
    std::string what = e.what();  // "[json.exception.out_of_range.406] number overflow parsing '1e400'"
    if (what.find("] ") != std::string::npos) what = what.substr(what.find("] ") + 2);
    throw bad(where + (e.id == 406 ? " is a number out of range (" + what + ")" : ": " + what));
  }
  if (!j.is_object()) throw bad("request must be a JSON object");
  return j;
}

static const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

static std::string get_string(const json& j, const char* key, const char* where, bool required, size_t max_len) {
  const json* v = field(j, key);
  if (!v) {
    if (required) throw bad(std::string(where) + "." + key + " is required");
    return {};
  }
  if (!v->is_string()) throw bad(std::string(where) + "." + key + " must be a string");
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() > max_len)
    throw bad(std::string(where) + "." + key + " is too long (" + std::to_string(s.size()) + " bytes, limit " +
              std::to_string(max_len) + ")");
  return s;
}

static std::string fmt_num(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

static double get_number(const json& j, const char* key, const char* where, double def, double lo, double hi) {
  const json* v = field(j, key);
  if (!v) return def;
  if (!v->is_number()) throw bad(std::string(where) + "." + key + " must be a number");
  double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    throw bad(std::string(where) + "." + key + " must be between " + fmt_num(lo) + " and " + fmt_num(hi) + ", got " +
              v->dump());
  return d;
}

static int64_t get_int(const json& j, const char* key, const char* where, int64_t def, int64_t lo, int64_t hi) {
  const json* v = field(j, key);
  if (!v) return def;
  if (!v->is_number_integer() && !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()))
    throw bad(std::string(where) + "." + key + " must be an integer");
  double d = v->get<double>();
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw bad(std::string(where) + "." + key + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
              ", got " + v->dump());
  return static_cast<int64_t>(d);
}

static bool get_bool(const json& j, const char* key, const char* where, bool def) {
  const json* v = field(j, key);
  if (!v) return def;
  if (!v->is_boolean()) throw bad(std::string(where) + "." + key + " must be a boolean");
  return v->get<bool>();
}

static const json* get_object(const json& j, const char* key, const char* where) {
  const json* v = field(j, key);
  if (v && !v->is_object()) throw bad(std::string(where) + "." + key + " must be an object");
  return v;
}

void parse_sampling(const json& s, SamplingParams& out, const char* where) {
  out.temperature = static_cast<float>(get_number(s, "temperature", where, 0.0, 0.0, 10.0));
  out.top_k = static_cast<int>(get_int(s, "top_k", where, 0, 0, 1000000));
  out.top_p = static_cast<float>(get_number(s, "top_p", where, 1.0, 0.0, 1.0));
  if (out.top_p <= 0.0f) throw bad(std::string(where) + ".top_p must be greater than 0");
  out.min_p = static_cast<float>(get_number(s, "min_p", where, 0.0, 0.0, 1.0));
  if (field(s, "seed")) {
    out.seed = static_cast<uint64_t>(get_int(s, "seed", where, 0, 0, 9007199254740991LL));
    out.has_seed = true;
  }
}

static void parse_stop(const json& st, std::vector<std::string>& out, const char* where) {
  const auto one = [&](const json& x) {
    if (!x.is_string()) throw bad(std::string(where) + ".stop must be a string or an array of strings");
    const auto& s = x.get_ref<const std::string&>();
    if (s.empty() || s.size() > 256) throw bad(std::string(where) + ".stop strings must be 1 to 256 bytes long");
    out.push_back(s);
  };
  if (st.is_string()) return one(st);
  if (!st.is_array()) throw bad(std::string(where) + ".stop must be a string or an array of strings");
  if (st.size() > 16) throw bad(std::string(where) + ".stop has more than 16 strings");
  for (auto& x : st) one(x);
}

void parse_limits(const json& l, Limits& out, const char* where) {
  out.max_tokens = static_cast<int>(get_int(l, "max_tokens", where, out.max_tokens, 1, kMaxGenerated));
  out.time_budget_ms = get_int(l, "time_budget_ms", where, 0, 0, 3600000);
  if (const json* st = field(l, "stop")) parse_stop(*st, out.stop, where);
  out.stop_at_eol = get_bool(l, "stop_at_eol", where, false);
  out.stop_at_block_end = get_bool(l, "stop_at_block_end", where, false);
  out.ignore_eos = get_bool(l, "ignore_eos", where, false);
}

void parse_openai_limits(const json& body, Limits& out, const char* where) {
  parse_limits(body, out, where);
  // llama-server's name for max_tokens: only the token count; the other limits stay as parsed.
  if (!field(body, "max_tokens"))
    out.max_tokens = static_cast<int>(get_int(body, "n_predict", where, out.max_tokens, 1, kMaxGenerated));
}

void check_prompt_fits(const Engine& engine, Request& req) {
  if (req.prompt.empty()) throw bad("prompt is empty");
  int n_ctx = engine.n_ctx();
  if (static_cast<int>(req.prompt.size()) >= n_ctx - 1)
    throw BadRequest{"prompt_too_long", "prompt is " + std::to_string(req.prompt.size()) +
                                            " tokens, the context holds " + std::to_string(n_ctx) + " (--ctx)"};
  // Generation stops at the end of the context ("length").
  req.limits.max_tokens = std::min(req.limits.max_tokens, n_ctx - 1 - static_cast<int>(req.prompt.size()));
}

// fim.budget: {prefix_tokens?, suffix_tokens?, extra_tokens?}, each a non-negative integer; unknown
// fields are rejected so a misspelt budget does not silently do nothing.
static constexpr int64_t kMaxBudgetTokens = 1 << 20;

static void parse_fim_budget(const json& b, FimBudget& out) {
  for (auto it = b.begin(); it != b.end(); ++it)
    if (it.key() != "prefix_tokens" && it.key() != "suffix_tokens" && it.key() != "extra_tokens")
      throw bad("fim.budget." + it.key() + " is not a known field (prefix_tokens, suffix_tokens, extra_tokens)");
  out.prefix_tokens = static_cast<int>(get_int(b, "prefix_tokens", "fim.budget", -1, 0, kMaxBudgetTokens));
  out.suffix_tokens = static_cast<int>(get_int(b, "suffix_tokens", "fim.budget", -1, 0, kMaxBudgetTokens));
  out.extra_tokens = static_cast<int>(get_int(b, "extra_tokens", "fim.budget", -1, 0, kMaxBudgetTokens));
}

// priority: "interactive" | "chat" | "batch" (scheduler.h); absent: the default of the request's kind.
static Priority parse_priority(const json& j, const char* where, Priority def) {
  const json* v = field(j, "priority");
  if (!v) return def;
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s == "interactive") return Priority::kInteractive;
    if (s == "chat") return Priority::kChat;
    if (s == "batch") return Priority::kBatch;
  }
  throw bad(std::string(where) + ".priority must be \"interactive\", \"chat\" or \"batch\"");
}

// model: a model id from /v1/models or a purpose ("completion", "chat"); absent or empty: chat requests
// go to the chat model (the completion model when there is no --chat-model), the rest to the completion
// model. Unknown: not_found (HTTP 404) naming the field and what is loaded.
static const std::string kPurposeNames[] = {"completion", "chat"};

ModelPurpose parse_model(const json& j, const Engine& engine, const char* where, bool chat) {
  const std::string name = get_string(j, "model", where, false, 512);
  if (name.empty()) return chat ? ModelPurpose::kChat : ModelPurpose::kCompletion;
  const Engine* chat_engine = engine.chat_engine();
  if (name == engine.model_id() || name == kPurposeNames[0]) return ModelPurpose::kCompletion;
  if (name == kPurposeNames[1] || (chat_engine && name == chat_engine->model_id())) return ModelPurpose::kChat;
  std::string loaded = "\"" + engine.model_id() + "\" (completion" + (chat_engine ? "" : ", chat") + ")";
  if (chat_engine) loaded += ", \"" + chat_engine->model_id() + "\" (chat)";
  throw BadRequest{"not_found", std::string(where) + ".model \"" + name.substr(0, 128) +
                                    "\" is not a loaded model; this engine serves " + loaded +
                                    " (or send \"completion\" / \"chat\", or leave model out)"};
}

// messages: [{role, content}], the same rules on the WebSocket and over HTTP.
static std::vector<ChatMessage> parse_messages(const json* messages, const char* where) {
  const std::string w(where);
  if (!messages || !messages->is_array() || messages->empty())
    throw bad(w + ".messages must be a non-empty array of {role, content}");
  if (messages->size() > kMaxMessages)
    throw bad(w + ".messages has more than " + std::to_string(kMaxMessages) + " items");
  std::vector<ChatMessage> ms;
  for (auto& m : *messages) {
    if (!m.is_object()) throw bad(w + ".messages items must be objects {role, content}");
    ChatMessage cm{get_string(m, "role", "messages[]", true, 32),
                   get_string(m, "content", "messages[]", true, kMaxText)};
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant")
      throw bad("messages[].role must be system, user or assistant, got \"" + cm.role + "\"");
    ms.push_back(std::move(cm));
  }
  return ms;
}

// Engine calls made while parsing (prompt building, tokenizing) report EngineError; to the client it is
// a bad request like any other.
template <class F>
static void build_prompt(F&& f) {
  try {
    f();
  } catch (const EngineError& e) {
    throw BadRequest{e.code, e.what()};
  }
}

RequestPtr parse_submit(const json& msg, const Engine& engines) {
  auto req = std::make_shared<Request>();
  req->id = get_string(msg, "id", "submit", true, 256);
  if (req->id.empty()) throw bad("submit.id must not be empty");
  const json* fim = get_object(msg, "fim", "submit");
  const json* prompt = field(msg, "prompt");
  const json* messages = field(msg, "messages");
  int kinds = (fim != nullptr) + (prompt != nullptr) + (messages != nullptr);
  if (kinds != 1) throw bad("submit needs exactly one of fim, prompt, messages");
  req->model = parse_model(msg, engines, "submit", messages != nullptr);
  const Engine& engine = engines.serving(req->model);
  req->priority = parse_priority(msg, "submit", messages ? Priority::kChat : Priority::kInteractive);
  if (const json* s = get_object(msg, "sampling", "submit")) parse_sampling(*s, req->sampling, "sampling");
  if (const json* l = get_object(msg, "limits", "submit")) parse_limits(*l, req->limits, "limits");
  if (const json* sp = get_object(msg, "speculative", "submit")) {
    req->spec.draft = get_bool(*sp, "draft", "speculative", true);
    req->spec.ngram = get_bool(*sp, "ngram", "speculative", true);
  }
  if (fim) {
    FimInput in;
    in.prefix = get_string(*fim, "prefix", "fim", false, kMaxText);
    in.suffix = get_string(*fim, "suffix", "fim", false, kMaxText);
    in.filename = get_string(*fim, "filename", "fim", false, 4096);
    if (const json* ex = field(*fim, "extra")) {
      if (!ex->is_array()) throw bad("fim.extra must be an array of {filename?, text}");
      if (ex->size() > 256) throw bad("fim.extra has more than 256 chunks");
      for (auto& c : *ex) {
        if (!c.is_object()) throw bad("fim.extra items must be objects {filename?, text}");
        in.extra.push_back({get_string(c, "filename", "fim.extra[]", false, 4096),
                            get_string(c, "text", "fim.extra[]", true, kMaxText)});
      }
    }
    if (const json* b = get_object(*fim, "budget", "fim")) parse_fim_budget(*b, in.budget);
    build_prompt([&] {
      BuiltPrompt bp = engine.build_fim(in, req->limits.max_tokens);
      req->prompt = std::move(bp.tokens);
      req->line_prefix = std::move(bp.line_prefix);
    });
  } else if (prompt) {
    const std::string p = get_string(msg, "prompt", "submit", true, kMaxText);
    build_prompt([&] { req->prompt = engine.tokenize(p, true, true); });
  } else {
    std::vector<ChatMessage> ms = parse_messages(messages, "submit");
    const std::string tmpl = get_string(msg, "chat_template", "submit", false, kMaxChatTemplate);
    build_prompt([&] { req->prompt = engine.tokenize(engine.apply_chat_template(ms, tmpl), true, true); });
  }
  if (!messages && field(msg, "chat_template")) throw bad("submit.chat_template is only for messages");
  check_prompt_fits(engine, *req);
  return req;
}

OpenAiRequest parse_openai(const json& body, const Engine& engines, bool chat) {
  static std::atomic<uint64_t> counter{0};
  auto req = std::make_shared<Request>();
  req->id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(++counter);
  const char* where = chat ? "chat.completions" : "completions";
  req->model = parse_model(body, engines, where, chat);
  const Engine& engine = engines.serving(req->model);
  req->limits.max_tokens = chat ? 256 : 16;
  parse_sampling(body, req->sampling, where);
  parse_openai_limits(body, req->limits, where);
  req->priority = parse_priority(body, where, chat ? Priority::kChat : Priority::kInteractive);
  OpenAiRequest out;
  out.stream = get_bool(body, "stream", where, false);
  if (chat) {
    std::vector<ChatMessage> ms = parse_messages(field(body, "messages"), where);
    const std::string tmpl = get_string(body, "chat_template", where, false, kMaxChatTemplate);
    build_prompt([&] { req->prompt = engine.tokenize(engine.apply_chat_template(ms, tmpl), true, true); });
  } else {
    const json* prompt = field(body, "prompt");
    if (!prompt || !prompt->is_string()) throw bad("completions.prompt must be a string");
    FimInput in;
    in.prefix = get_string(body, "prompt", where, true, kMaxText);
    if (field(body, "suffix")) {
      in.suffix = get_string(body, "suffix", where, false, kMaxText);
      build_prompt([&] {
        BuiltPrompt bp = engine.build_fim(in, req->limits.max_tokens);
        req->prompt = std::move(bp.tokens);
        req->line_prefix = std::move(bp.line_prefix);
      });
    } else {
      build_prompt([&] { req->prompt = engine.tokenize(in.prefix, true, true); });
    }
  }
  check_prompt_fits(engine, *req);
  out.req = std::move(req);
  return out;
}

TokenizeRequest parse_tokenize(const json& body) {
  TokenizeRequest t;
  const json* content = field(body, "content");
  if (!content || !content->is_string()) throw bad("tokenize.content must be a string");
  t.content = get_string(body, "content", "tokenize", true, kMaxText);
  t.add_special = get_bool(body, "add_special", "tokenize", false);
  t.parse_special = get_bool(body, "parse_special", "tokenize", false);
  return t;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json stats_json(const RequestStats& s) {
  return json{{"prompt_tokens", s.prompt_tokens},
              {"reused_tokens", s.reused_tokens},
              {"evaluated_tokens", s.evaluated_tokens},
              {"generated_tokens", s.generated_tokens},
              {"drafted_tokens", s.drafted_tokens},
              {"accepted_tokens", s.accepted_tokens},
              {"t_queue_ms", s.t_queue_ms},
              {"t_prompt_ms", s.t_prompt_ms},
              {"t_first_token_ms", s.t_first_token_ms},
              {"t_total_ms", s.t_total_ms},
              {"decode_steps", s.decode_steps},
              {"steps_after_cancel", s.steps_after_cancel},
              {"preemptions", s.preemptions},
              {"engine_steps", s.engine_steps}};
}

std::string token_event(const std::string& id, const std::string& text) {
  return dump(json{{"type", "token"}, {"id", id}, {"text", text}});
}

std::string done_event(const std::string& id, const std::string& text, const std::string& reason,
                       const RequestStats& s) {
  return dump(json{{"type", "done"}, {"id", id}, {"text", text}, {"finish_reason", reason}, {"stats", stats_json(s)}});
}

json error_body(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}};
}

std::string error_event(const std::string* id, const std::string& code, const std::string& message) {
  json j{{"type", "error"}, {"error", {{"code", code}, {"message", message}}}};
  if (id) j["id"] = *id;
  return dump(j);
}

json model_info_json(const ModelInfo& m) {
  return json{{"path", m.path},
              {"name", m.name},
              {"arch", m.arch},
              {"n_params", m.n_params},
              {"size_bytes", m.size_bytes},
              {"n_ctx_train", m.n_ctx_train},
              {"n_vocab", m.n_vocab}};
}

// The loaded models with the purposes each serves (/health, /v1/models, the ready line).
json loaded_models_json(const Engine& engine) {
  const Engine* chat = engine.chat_engine();
  json models = json::array();
  models.push_back({{"id", engine.model_id()},
                    {"purpose", chat ? json::array({"completion"}) : json::array({"completion", "chat"})},
                    {"meta", model_info_json(engine.model_info())}});
  if (chat)
    models.push_back(
        {{"id", chat->model_id()}, {"purpose", json::array({"chat"})}, {"meta", model_info_json(chat->model_info())}});
  return models;
}

}  // namespace pronto
