// HTTP + WebSocket front end (cpp-httplib). Runs on httplib's worker threads; parses JSON into
// Requests (protocol_json.cpp), hands them to the Engine and turns Sink callbacks back into frames.
// Every handler funnels exceptions through one wrapper that answers with a JSON error.
#include "http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "httplib.h"
#include "protocol_json.h"

namespace pronto {

static httplib::Server* g_server = nullptr;
static std::mutex g_server_mutex;

void stop_server() {
  std::lock_guard<std::mutex> lock(g_server_mutex);
  if (g_server) g_server->stop();
}

static int status_for(const std::string& code) {
  if (code == "unauthorized") return 401;
  if (code == "not_found") return 404;
  if (code == "overloaded") return 503;
  if (code == "internal") return 500;
  return 400;
}

static void send_error(httplib::Response& res, const std::string& code, const std::string& message) {
  res.status = status_for(code);
  res.set_content(dump(error_body(code, message)), "application/json");
}

// ---------------------------------------------------------------------------------------------
// WebSocket /v1/stream
// ---------------------------------------------------------------------------------------------

struct WsConn {
  std::mutex m;
  httplib::ws::WebSocket* ws = nullptr;  // null once the socket is gone
  std::map<std::string, RequestPtr> inflight;
  void send(const std::string& frame) {
    std::lock_guard<std::mutex> lock(m);
    if (ws) ws->send(frame);
  }
};

struct WsSink : Sink {
  std::shared_ptr<WsConn> conn;
  explicit WsSink(std::shared_ptr<WsConn> c) : conn(std::move(c)) {}
  void on_token(const std::string& id, const std::string& text) override { conn->send(token_event(id, text)); }
  void on_done(const std::string& id, const std::string& text, const std::string& reason,
               const RequestStats& s) override {
    std::string frame = done_event(id, text, reason, s);
    std::lock_guard<std::mutex> lock(conn->m);
    conn->inflight.erase(id);
    if (conn->ws) conn->ws->send(frame);
  }
  void on_error(const std::string& id, const std::string& code, const std::string& message) override {
    std::string frame = error_event(&id, code, message);
    std::lock_guard<std::mutex> lock(conn->m);
    conn->inflight.erase(id);
    if (conn->ws) conn->ws->send(frame);
  }
};

static void handle_ws_message(Engine& engine, const std::shared_ptr<WsConn>& conn, const std::string& raw) {
  std::string id;
  bool have_id = false;
  try {
    json msg = parse_json_object(raw);
    if (auto it = msg.find("id"); it != msg.end() && it->is_string()) {
      id = it->get<std::string>();
      have_id = true;
    }
    auto type = msg.find("type");
    if (type == msg.end() || !type->is_string())
      throw BadRequest{"bad_request", "message.type must be \"submit\" or \"cancel\""};
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "cancel") {
      if (!have_id) throw BadRequest{"bad_request", "cancel.id must be a string"};
      RequestPtr r;
      {
        std::lock_guard<std::mutex> lock(conn->m);
        auto f = conn->inflight.find(id);
        if (f != conn->inflight.end()) r = f->second;
      }
      if (r) engine.cancel(r);  // unknown id: already finished, nothing to do
      return;
    }
    if (t != "submit")
      throw BadRequest{"bad_request", "unknown message type \"" + t + "\" (expected submit or cancel)"};
    RequestPtr req = parse_submit(msg, engine);
    req->sink = std::make_shared<WsSink>(conn);
    {
      std::lock_guard<std::mutex> lock(conn->m);
      if (conn->inflight.count(req->id))
        throw BadRequest{"bad_request", "a request with id \"" + req->id + "\" is already in flight"};
      conn->inflight[req->id] = req;
    }
    engine.submit(req);
  } catch (const BadRequest& e) {
    engine.metrics().error(e.code);
    conn->send(error_event(have_id ? &id : nullptr, e.code, e.message));
  } catch (const std::exception& e) {
    engine.metrics().error("internal");
    conn->send(error_event(have_id ? &id : nullptr, "internal", e.what()));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: a sink that queues events for the handler thread
// ---------------------------------------------------------------------------------------------

struct QueueSink : Sink {
  struct Event {
    int kind;  // 0 token, 1 done, 2 error
    std::string text, reason, code;
    RequestStats stats;
  };
  std::mutex m;
  std::condition_variable cv;
  std::deque<Event> events;
  void push(Event e) {
    {
      std::lock_guard<std::mutex> lock(m);
      events.push_back(std::move(e));
    }
    cv.notify_all();
  }
  void on_token(const std::string&, const std::string& text) override { push({0, text, "", "", {}}); }
  void on_done(const std::string&, const std::string& text, const std::string& reason, const RequestStats& s) override {
    push({1, text, reason, "", s});
  }
  void on_error(const std::string&, const std::string& code, const std::string& message) override {
    push({2, message, "", code, {}});
  }
  Event next() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return !events.empty(); });
    Event e = std::move(events.front());
    events.pop_front();
    return e;
  }
};

static std::string openai_reason(const std::string& r) {
  if (r == "eos" || r == "stop") return "stop";
  if (r == "length" || r == "time") return "length";
  return r;
}

// /v1/completions and /v1/chat/completions share everything but the prompt and the reply shape.
static void handle_openai(Engine& engine, const httplib::Request& hreq, httplib::Response& res, bool chat) {
  OpenAiRequest parsed = parse_openai(parse_json_object(hreq.body), engine, chat);
  RequestPtr req = parsed.req;
  const bool stream = parsed.stream;
  auto sink = std::make_shared<QueueSink>();
  req->sink = sink;
  const std::string model = engine.model_info().name;
  const long created = static_cast<long>(std::time(nullptr));
  engine.submit(req);

  if (!stream) {
    while (true) {
      QueueSink::Event e = sink->next();
      if (e.kind == 0) continue;
      if (e.kind == 2) return send_error(res, e.code, e.text);
      json choice{{"index", 0}, {"finish_reason", openai_reason(e.reason)}};
      if (chat)
        choice["message"] = {{"role", "assistant"}, {"content", e.text}};
      else
        choice["text"] = e.text, choice["logprobs"] = nullptr;
      json out{{"id", req->id},
               {"object", chat ? "chat.completion" : "text_completion"},
               {"created", created},
               {"model", model},
               {"choices", json::array({choice})},
               {"usage",
                {{"prompt_tokens", e.stats.prompt_tokens},
                 {"completion_tokens", e.stats.generated_tokens},
                 {"total_tokens", e.stats.prompt_tokens + e.stats.generated_tokens}}},
               {"stats", stats_json(e.stats)}};
      res.set_content(dump(out), "application/json");
      return;
    }
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream",
                                   [&engine, req, sink, chat, model, created](size_t, httplib::DataSink& ds) {
                                     auto chunk = [&](const json& delta_or_text, const json& finish) {
                                       json choice{{"index", 0}, {"finish_reason", finish}};
                                       if (chat)
                                         choice["delta"] = delta_or_text;
                                       else
                                         choice["text"] = delta_or_text;
                                       json j{{"id", req->id},
                                              {"object", chat ? "chat.completion.chunk" : "text_completion"},
                                              {"created", created},
                                              {"model", model},
                                              {"choices", json::array({choice})}};
                                       return "data: " + dump(j) + "\n\n";
                                     };
                                     if (chat) {
                                       std::string first = chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr);
                                       if (!ds.write(first.data(), first.size())) {
                                         engine.cancel(req);
                                         return false;
                                       }
                                     }
                                     while (true) {
                                       QueueSink::Event e = sink->next();
                                       std::string out;
                                       if (e.kind == 0) {
                                         out = chunk(chat ? json{{"content", e.text}} : json(e.text), nullptr);
                                       } else if (e.kind == 1) {
                                         out = chunk(chat ? json::object() : json(""), openai_reason(e.reason));
                                         json usage{{"prompt_tokens", e.stats.prompt_tokens},
                                                    {"completion_tokens", e.stats.generated_tokens},
                                                    {"total_tokens", e.stats.prompt_tokens + e.stats.generated_tokens}};
                                         json tail{{"id", req->id},
                                                   {"object", chat ? "chat.completion.chunk" : "text_completion"},
                                                   {"created", created},
                                                   {"model", model},
                                                   {"choices", json::array()},
                                                   {"usage", usage},
                                                   {"stats", stats_json(e.stats)}};
                                         out += "data: " + dump(tail) + "\n\ndata: [DONE]\n\n";
                                       } else {
                                         out = "data: " + dump(error_body(e.code, e.text)) + "\n\ndata: [DONE]\n\n";
                                       }
                                       if (!ds.write(out.data(), out.size())) {
                                         engine.cancel(req);  // client went away: free the sequence
                                         if (e.kind == 0) {
                                           while (sink->next().kind == 0) {
                                           }  // drain until the engine lets go of the request
                                         }
                                         return false;
                                       }
                                       if (e.kind != 0) {
                                         ds.done();
                                         return true;
                                       }
                                     }
                                   });
}

// Wraps a handler: BadRequest -> 4xx JSON, anything else -> 500 JSON. The one error exit of the layer.
template <class F>
static httplib::Server::Handler wrap(Engine& engine, F f) {
  return [&engine, f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const BadRequest& e) {
      engine.metrics().error(e.code);
      send_error(res, e.code, e.message);
    } catch (const std::exception& e) {
      engine.metrics().error("internal");
      send_error(res, "internal", e.what());
    }
  };
}

bool run_server(Engine& engine, const ServerOptions& opts, const std::function<void(int)>& on_bound,
                std::string& error) {
  httplib::Server svr;
  svr.new_task_queue = [] { return new httplib::ThreadPool(8, 256); };
  svr.set_payload_max_length(64u << 20);

  const std::string api_key = opts.api_key;
  svr.set_pre_routing_handler([&engine, api_key](const httplib::Request& req, httplib::Response& res) {
    if (api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    std::string auth = req.get_header_value("Authorization");
    std::string want = "Bearer " + api_key;
    bool ok = auth.size() == want.size();
    unsigned char diff = 0;
    for (size_t i = 0; ok && i < want.size(); i++) diff |= static_cast<unsigned char>(auth[i] ^ want[i]);
    if (ok && diff == 0) return httplib::Server::HandlerResponse::Unhandled;
    engine.metrics().error("unauthorized");
    send_error(res, "unauthorized", auth.empty() ? "missing Authorization: Bearer <api key>" : "invalid API key");
    res.set_header("WWW-Authenticate", "Bearer");
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404)
      send_error(res, "not_found", "no route for " + req.method + " " + req.path);
    else if (res.status == 413)
      send_error(res, "bad_request", "request body too large");
    else if (res.status >= 400 && res.status < 500) {
      int st = res.status;
      send_error(res, "bad_request", "bad HTTP request (status " + std::to_string(st) + ")");
      res.status = st;
    }
  });
  svr.set_exception_handler([&engine](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
    }
    engine.metrics().error("internal");
    send_error(res, "internal", msg);
  });

  svr.Get("/health", [&engine](const httplib::Request&, httplib::Response& res) {
    json j{{"status", "ok"},
           {"busy_sequences", engine.busy_sequences()},
           {"n_parallel", engine.n_parallel()},
           {"protocol", kProtocolVersion}};
    res.set_content(dump(j), "application/json");
  });
  svr.Get("/v1/models", wrap(engine, [&engine](const httplib::Request&, httplib::Response& res) {
            json data = json::array();
            data.push_back({{"id", engine.model_info().name},
                            {"object", "model"},
                            {"owned_by", "pronto"},
                            {"meta", model_info_json(engine.model_info())}});
            if (const ModelInfo* d = engine.draft_info())
              data.push_back({{"id", d->name},
                              {"object", "model"},
                              {"owned_by", "pronto"},
                              {"role", "draft"},
                              {"meta", model_info_json(*d)}});
            res.set_content(dump(json{{"object", "list"}, {"data", data}}), "application/json");
          }));
  svr.Post("/tokenize", wrap(engine, [&engine](const httplib::Request& req, httplib::Response& res) {
             TokenizeRequest t = parse_tokenize(parse_json_object(req.body));
             auto toks = engine.tokenize(t.content, t.add_special, t.parse_special);
             res.set_content(dump(json{{"tokens", toks}}), "application/json");
           }));
  svr.Post("/v1/completions", wrap(engine, [&engine](const httplib::Request& req, httplib::Response& res) {
             handle_openai(engine, req, res, false);
           }));
  svr.Post("/v1/chat/completions", wrap(engine, [&engine](const httplib::Request& req, httplib::Response& res) {
             handle_openai(engine, req, res, true);
           }));
  svr.Get("/metrics", [&engine](const httplib::Request&, httplib::Response& res) {
    int models = 1 + (engine.draft_info() ? 1 : 0);
    res.set_content(engine.metrics().render(engine.kv_usage(), engine.busy_sequences(), engine.n_parallel(), models),
                    "text/plain; version=0.0.4");
  });
  svr.WebSocket("/v1/stream", [&engine](const httplib::Request&, httplib::ws::WebSocket& ws) {
    auto conn = std::make_shared<WsConn>();
    conn->ws = &ws;
    std::string msg;
    while (true) {
      auto r = ws.read(msg);
      if (r == httplib::ws::ReadResult::Fail) break;
      if (r == httplib::ws::ReadResult::Timeout) continue;
      if (r == httplib::ws::ReadResult::Binary) {
        conn->send(error_event(nullptr, "bad_request", "binary frames are not supported: send JSON text frames"));
        continue;
      }
      handle_ws_message(engine, conn, msg);
    }
    // The client is gone: cancel its requests (their sequences are freed within one step).
    std::vector<RequestPtr> orphans;
    {
      std::lock_guard<std::mutex> lock(conn->m);
      conn->ws = nullptr;
      for (auto& [id, r] : conn->inflight) orphans.push_back(r);
    }
    for (auto& r : orphans) engine.cancel(r);
  });

  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host);
    if (port < 0) {
      error = "cannot bind to " + opts.host + " (any port)";
      return false;
    }
  } else if (!svr.bind_to_port(opts.host, port)) {
    error = "cannot bind to " + opts.host + ":" + std::to_string(port) + " (in use or not permitted)";
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(g_server_mutex);
    g_server = &svr;
  }
  on_bound(port);
  svr.listen_after_bind();
  std::lock_guard<std::mutex> lock(g_server_mutex);
  g_server = nullptr;
  return true;
}

}  // namespace pronto
