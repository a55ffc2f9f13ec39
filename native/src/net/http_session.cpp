#include "net/http_session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstdio>
#include <ctime>

#include "net/ws_session.h"

namespace pronto::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;
// Bytes a client may send ahead (pipelining) while its completion runs; beyond this we stop reading
// until the reply is out.
constexpr size_t kMaxReadAhead = 64 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);

bool is_http_parse_error(const error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_target).category();
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string hex(size_t n) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

HttpSession::HttpSession(asio::ip::tcp::socket socket, ServerContext& ctx, ConnectionTicket ticket)
    : executor_(socket.get_executor()),
      socket_(std::move(socket)),
      ctx_(ctx),
      ticket_(std::move(ticket)),
      read_deadline_(executor_),
      write_deadline_(executor_) {}

HttpSession::~HttpSession() { ctx_.registry.remove(this); }

void HttpSession::start() {
  ctx_.registry.add(this, weak_from_this());
  asio::dispatch(executor_, [self = shared_from_this()] { self->read_header(); });
}

void HttpSession::shutdown() {
  asio::post(executor_, [self = shared_from_this()] {
    self->stopping_ = true;
    if (self->phase_ == Phase::kReading) self->close_now();
  });
}

// ---------------------------------------------------------------------------------------------
// Reading and checking a request
// ---------------------------------------------------------------------------------------------

void HttpSession::read_header() {
  phase_ = Phase::kReading;
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(ctx_.opts.max_body_bytes);
  // One deadline from the end of the last reply (or the accept) to the end of the header: an idle
  // keep-alive connection and a client trickling its header a byte at a time both end here.
  arm_read_deadline(ctx_.opts.header_timeout, ctx_.metrics.timeout_header);
  http::async_read_header(socket_, buffer_, *parser_,
                          [self = shared_from_this()](const error_code& ec, size_t) { self->on_header(ec); });
}

// A read that does not complete in time closes the connection and counts the timeout.
void HttpSession::arm_read_deadline(std::chrono::seconds timeout, std::atomic<uint64_t>& timeouts) {
  read_deadline_.arm(timeout, [self = shared_from_this(), &timeouts] {
    timeouts++;
    self->close_now();
  });
}

void HttpSession::on_header(const error_code& ec) {
  read_deadline_.disarm();
  if (closed_) return;
  if (ec) return on_read_error(ec);
  auto& req = parser_->get();
  keep_alive_ = req.keep_alive();
  chunked_ok_ = req.version() >= 11;
  cors_origin_.clear();
  tenant_.clear();
  const bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;

  std::optional<std::string_view> origin;
  if (auto it = req.find(http::field::origin); it != req.end()) origin = it->value();
  auto verdict = ctx_.opts.site.check(req[http::field::host], origin, req["Sec-Fetch-Site"]);
  if (verdict != SitePolicy::Verdict::kAllowed) {
    (verdict == SitePolicy::Verdict::kBadHost ? ctx_.metrics.refused_host : ctx_.metrics.refused_origin)++;
    return close_with("forbidden", ctx_.opts.site.explain(verdict, req[http::field::host], origin));
  }
  if (origin) cors_origin_ = std::string(*origin);

  if (req.method() == http::verb::options) {
    // CORS preflight. Only an allowed origin gets this far (a foreign one got 403 above).
    Reply r{204, "", "", has_body, {}};
    if (!cors_origin_.empty()) {
      r.headers = {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                   {"Access-Control-Allow-Headers", "Authorization, Content-Type"},
                   {"Access-Control-Max-Age", "600"}};
      if (iequals(req["Access-Control-Request-Private-Network"], "true"))
        r.headers.push_back({"Access-Control-Allow-Private-Network", "true"});
    } else {
      r.headers = {{"Allow", "GET, POST, OPTIONS"}};
    }
    return write_reply(std::move(r));
  }

  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/health" && !ctx_.opts.keys.empty()) {
    const std::string_view auth = req[http::field::authorization];
    auto tenant = authenticate(auth);
    if (!tenant) {
      ctx_.engine.metrics().error("unauthorized");
      Reply r =
          error_reply("unauthorized", auth.empty() ? "missing Authorization: Bearer <api key>" : "invalid API key");
      r.headers.push_back({"WWW-Authenticate", "Bearer"});
      r.close = has_body;
      return write_reply(std::move(r));
    }
    tenant_ = std::move(*tenant);
  }

  if (beast::websocket::is_upgrade(req)) {
    if (path == "/v1/stream") return upgrade();
    return close_with("not_found", "no WebSocket route " + std::string(path) + " (use /v1/stream)");
  }
  if (!has_body) return handle();
  if (iequals(req[http::field::expect], "100-continue")) {
    // curl asks before sending a large body; say yes (the size was checked against the limit above).
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    write_deadline_.arm(ctx_.opts.write_timeout, [self = shared_from_this()] { self->close_now(); });
    return asio::async_write(socket_, asio::buffer(kContinue),
                             [self = shared_from_this()](const error_code& e, size_t) {
                               self->write_deadline_.disarm();
                               if (self->closed_) return;
                               if (e) return self->close_now();
                               self->read_body();
                             });
  }
  read_body();
}

std::optional<std::string> HttpSession::authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() < kBearer.size() || !iequals(authorization.substr(0, kBearer.size()), kBearer))
    return std::nullopt;
  std::string_view key = authorization.substr(kBearer.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  return ctx_.opts.keys.tenant_for(key);
}

void HttpSession::read_body() {
  arm_read_deadline(ctx_.opts.body_timeout, ctx_.metrics.timeout_body);
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](const error_code& ec, size_t) { self->on_body(ec); });
}

void HttpSession::on_body(const error_code& ec) {
  read_deadline_.disarm();
  if (closed_) return;
  if (ec) return on_read_error(ec);
  handle();
}

// A request that could not be read: answered when it was malformed or too large (then closed, its
// rest unread), else (reset, closed mid-request) the connection just closes.
void HttpSession::on_read_error(const error_code& ec) {
  if (ec == http::error::header_limit) return close_with("bad_request", "request header is larger than 16 KiB", 431);
  if (ec == http::error::body_limit) {
    ctx_.engine.metrics().error("payload_too_large");
    return close_with("payload_too_large",
                      "request body is larger than " + std::to_string(ctx_.opts.max_body_bytes) + " bytes");
  }
  if (is_http_parse_error(ec) && ec != http::error::end_of_stream)
    return close_with("bad_request", "malformed HTTP request: " + ec.message());
  close_now();
}

void HttpSession::close_with(const std::string& code, const std::string& message, unsigned status) {
  Reply r = error_reply(code, message);
  if (status) r.status = status;
  r.close = true;
  write_reply(std::move(r));
}

void HttpSession::handle() {
  auto& req = parser_->get();
  const std::string_view target = req.target();
  const std::string path(target.substr(0, target.find('?')));
  const bool get = req.method() == http::verb::get, post = req.method() == http::verb::post;
  Engine& engine = ctx_.engine;
  if (get && path == "/health") return write_reply({200, health_body(engine), "application/json", false, {}});
  if (get && path == "/v1/models") return write_reply({200, models_body(engine), "application/json", false, {}});
  if (get && path == "/metrics")
    return write_reply({200, metrics_body(engine, ctx_.metrics), "text/plain; version=0.0.4", false, {}});
  if (post && path == "/tokenize") {
    auto body = std::make_shared<std::string>(std::move(req.body()));
    return run_on_worker([&engine, body]() -> Reply {
      return {200, tokenize_body(engine, *body), "application/json", false, {}};
    });
  }
  if (post && (path == "/v1/completions" || path == "/v1/chat/completions"))
    return start_completion(path == "/v1/chat/completions");
  engine.metrics().error("not_found");
  write_reply(error_reply("not_found", "no route for " + std::string(req.method_string()) + " " + path));
}

void HttpSession::upgrade() {
  closed_ = true;  // this session is done: the socket belongs to the WebSocket session now
  phase_ = Phase::kClosed;
  ticket_.become_websocket();
  auto ws = std::make_shared<WsSession>(std::move(socket_), ctx_, std::move(ticket_), tenant_);
  ws->accept(parser_->release());
}

// ---------------------------------------------------------------------------------------------
// Work off the I/O thread
// ---------------------------------------------------------------------------------------------

void HttpSession::run_on_worker(std::function<Reply()> job) {
  phase_ = Phase::kWorking;
  watch();
  asio::post(ctx_.workers, [self = shared_from_this(), job = std::move(job)] {
    Reply r;
    try {
      r = job();
    } catch (const BadRequest& e) {
      self->ctx_.engine.metrics().error(e.code);
      r = self->error_reply(e.code, e.message);
    } catch (const std::exception& e) {
      self->ctx_.engine.metrics().error("internal");
      r = self->error_reply("internal", e.what());
    }
    asio::post(self->executor_, [self, r = std::move(r)]() mutable {
      if (self->closed_) return;
      self->unwatch_then([self, r = std::move(r)]() mutable { self->write_reply(std::move(r)); });
    });
  });
}

void HttpSession::start_completion(bool chat) {
  phase_ = Phase::kWorking;
  chat_ = chat;
  streaming_ = sse_started_ = final_seen_ = false;
  outbox_ = make_connection_outbox(shared_from_this(), ctx_.opts.client_queue_bytes, &HttpSession::pump,
                                   &HttpSession::drop_slow_reader);
  watch();
  auto body = std::make_shared<std::string>(std::move(parser_->get().body()));
  asio::post(ctx_.workers, [self = shared_from_this(), body, chat, outbox = outbox_, tenant = tenant_] {
    std::optional<Reply> failed;
    try {
      OpenAiRequest parsed = parse_openai(parse_json_object(*body), self->ctx_.engine, chat);
      parsed.req->tenant = tenant;
      parsed.req->sink = std::make_shared<OutboxSink>(outbox, parsed.stream);
      asio::post(self->executor_, [self, parsed = std::move(parsed)]() mutable { self->submit(std::move(parsed)); });
      return;
    } catch (const BadRequest& e) {
      self->ctx_.engine.metrics().error(e.code);
      failed = self->error_reply(e.code, e.message);
    } catch (const std::exception& e) {
      self->ctx_.engine.metrics().error("internal");
      failed = self->error_reply("internal", e.what());
    }
    asio::post(self->executor_, [self, r = std::move(*failed)]() mutable {
      if (self->closed_) return;
      self->unwatch_then([self, r = std::move(r)]() mutable { self->write_reply(std::move(r)); });
    });
  });
}

void HttpSession::submit(OpenAiRequest parsed) {
  if (closed_) return;  // the client left while its request was parsed: nothing to cancel
  req_ = std::move(parsed.req);
  streaming_ = parsed.stream;
  openai_.emplace(req_->id, chat_, ctx_.engine.serving(req_->model).model_id(), static_cast<long>(std::time(nullptr)));
  set_in_flight(true);
  ctx_.engine.submit(req_);
}

void HttpSession::set_in_flight(bool v) {
  if (v == in_flight_) return;
  in_flight_ = v;
  (v ? ctx_.metrics.http_in_flight++ : ctx_.metrics.http_in_flight--);
}

void HttpSession::pump() {
  if (closed_ || !outbox_ || !openai_) return;
  for (OutEvent& e : outbox_->take()) {
    const size_t cost = e.cost();
    if (final_seen_) {
      outbox_->release(cost);
      continue;
    }
    const bool final = e.kind != OutEvent::Kind::kToken;
    if (final) set_in_flight(false);
    if (!streaming_ || (!sse_started_ && e.kind == OutEvent::Kind::kError)) {
      // A whole JSON reply; also for a streamed request that fails before its first byte (e.g.
      // overloaded: a 503 with Retry-After beats an error inside a 200 stream).
      outbox_->release(cost);
      if (!final) continue;
      final_seen_ = true;
      Reply r = e.kind == OutEvent::Kind::kDone ? Reply{200, openai_->whole(e), "application/json", false, {}}
                                                : error_reply(e.reason, e.text);
      unwatch_then([self = shared_from_this(), r = std::move(r)]() mutable { self->write_reply(std::move(r)); });
      continue;
    }
    if (!sse_started_) start_sse();
    append_sse(openai_->sse_event(e), cost);
    if (final) {
      final_seen_ = true;
      if (chunked_ok_) sse_out_ += "0\r\n\r\n";
    }
  }
  write_sse();
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

HttpSession::Reply HttpSession::error_reply(const std::string& code, const std::string& message) const {
  Reply r{status_for(code), error_body_text(code, message), "application/json", false, {}};
  if (code == "overloaded") r.headers.push_back({"Retry-After", "1"});
  return r;
}

void HttpSession::write_reply(Reply r) {
  if (closed_) return;
  phase_ = Phase::kWriting;
  if (r.close || stopping_) keep_alive_ = false;
  auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
  res->set(http::field::server, "pronto-engine");
  if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
  if (!cors_origin_.empty()) {
    res->set(http::field::access_control_allow_origin, cors_origin_);
    res->set(http::field::vary, "Origin");
  }
  for (auto& [k, v] : r.headers) res->set(k, v);
  res->body() = std::move(r.body);
  res->keep_alive(keep_alive_);
  res->prepare_payload();
  res_ = res;
  write_deadline_.arm(ctx_.opts.write_timeout, [self = shared_from_this()] {
    self->ctx_.metrics.dropped_write_timeout++;
    self->close_now();
  });
  http::async_write(socket_, *res_,
                    [self = shared_from_this()](const error_code& ec, size_t) { self->on_reply_written(ec); });
}

void HttpSession::on_reply_written(const error_code& ec) {
  write_deadline_.disarm();
  res_.reset();
  if (closed_) return;
  if (ec) return close_now();
  finish_exchange();
}

void HttpSession::add_common_headers(std::string& head) const {
  head += "Server: pronto-engine\r\n";
  if (!cors_origin_.empty()) head += "Access-Control-Allow-Origin: " + cors_origin_ + "\r\nVary: Origin\r\n";
}

void HttpSession::start_sse() {
  sse_started_ = true;
  phase_ = Phase::kWriting;
  if (!chunked_ok_ || stopping_) keep_alive_ = false;
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n";
  add_common_headers(head);
  if (chunked_ok_) head += "Transfer-Encoding: chunked\r\n";
  head += keep_alive_ ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  sse_out_ += head;
  append_sse(openai_->sse_open(), 0);
}

void HttpSession::append_sse(const std::string& data, size_t cost) {
  sse_out_cost_ += cost;
  if (data.empty()) return;
  if (chunked_ok_) {
    sse_out_ += hex(data.size());
    sse_out_ += "\r\n";
    sse_out_ += data;
    sse_out_ += "\r\n";
  } else {
    sse_out_ += data;
  }
}

void HttpSession::write_sse() {
  if (writing_ || closed_ || sse_out_.empty()) return;
  writing_ = true;
  sse_writing_.swap(sse_out_);
  sse_out_.clear();
  sse_writing_cost_ = sse_out_cost_;
  sse_out_cost_ = 0;
  write_deadline_.arm(ctx_.opts.write_timeout, [self = shared_from_this()] {
    self->ctx_.metrics.dropped_write_timeout++;
    self->close_now();
  });
  asio::async_write(socket_, asio::buffer(sse_writing_),
                    [self = shared_from_this()](const error_code& ec, size_t) { self->on_sse_written(ec); });
}

void HttpSession::on_sse_written(const error_code& ec) {
  writing_ = false;
  write_deadline_.disarm();
  if (closed_) return;
  if (ec) return client_gone();
  outbox_->release(sse_writing_cost_);
  sse_writing_.clear();
  if (!sse_out_.empty()) return write_sse();
  if (final_seen_) unwatch_then([self = shared_from_this()] { self->finish_exchange(); });
}

void HttpSession::finish_exchange() {
  req_.reset();
  outbox_.reset();
  openai_.reset();
  streaming_ = sse_started_ = final_seen_ = false;
  if (keep_alive_ && !stopping_) return read_header();
  linger_close();
}

// ---------------------------------------------------------------------------------------------
// The disconnect watch
// ---------------------------------------------------------------------------------------------

void HttpSession::watch() {
  if (watching_ || closed_ || buffer_.size() >= kMaxReadAhead) return;
  watching_ = true;
  socket_.async_read_some(buffer_.prepare(4096),
                          [self = shared_from_this()](const error_code& ec, size_t n) { self->on_watch(ec, n); });
}

void HttpSession::on_watch(const error_code& ec, size_t n) {
  watching_ = false;
  if (!ec) buffer_.commit(n);  // a pipelined request: kept for the next read
  if (closed_) return;
  if (ec && ec != asio::error::operation_aborted) return client_gone();
  if (after_watch_) {
    auto next = std::move(after_watch_);
    after_watch_ = nullptr;
    return next();
  }
  if (!ec) watch();
}

void HttpSession::unwatch_then(std::function<void()> next) {
  if (!watching_) return next();
  after_watch_ = std::move(next);
  error_code ignored;
  socket_.cancel(ignored);
}

// ---------------------------------------------------------------------------------------------
// Ending the connection
// ---------------------------------------------------------------------------------------------

void HttpSession::client_gone() {
  if (closed_) return;
  if (req_ && !final_seen_) ctx_.metrics.http_client_gone++;
  close_now();
}

void HttpSession::drop_slow_reader() {
  if (closed_) return;
  ctx_.metrics.dropped_queue_full++;
  std::fprintf(stderr, "pronto-engine: dropped an HTTP client that stopped reading its stream (%zu bytes unsent)\n",
               outbox_ ? outbox_->pending_bytes() : size_t{0});
  close_now();
}

// Closing right after a reply whose request body was not read would make the kernel answer the
// client's remaining bytes with a reset, and the client could lose the reply. So: half-close, read and
// discard for a moment, then close.
void HttpSession::linger_close() {
  phase_ = Phase::kClosed;
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  read_deadline_.arm(kLingerTime, [self = shared_from_this()] { self->close_now(); });
  drain_buf_ = std::make_shared<std::array<char, 4096>>();
  drain();
}

void HttpSession::drain() {
  socket_.async_read_some(asio::buffer(*drain_buf_), [self = shared_from_this()](const error_code& ec, size_t) {
    if (self->closed_) return;
    if (ec) return self->close_now();
    self->drain();
  });
}

void HttpSession::close_now() {
  if (closed_) return;
  closed_ = true;
  phase_ = Phase::kClosed;
  if (req_ && !final_seen_) ctx_.engine.cancel(req_);  // its sequence is freed within one decode step
  set_in_flight(false);
  if (outbox_) outbox_->close();
  after_watch_ = nullptr;
  read_deadline_.disarm();
  write_deadline_.disarm();
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace pronto::net
