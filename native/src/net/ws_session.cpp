#include "net/ws_session.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <cstdio>

#include "protocol_json.h"

namespace pronto::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;

namespace {

// Messages read but not yet handled by the workers; beyond this the connection stops reading.
constexpr int kMaxPendingMessages = 64;

std::string format_frame(const OutEvent& e) {
  switch (e.kind) {
    case OutEvent::Kind::kToken:
      return token_event(e.id, e.text);
    case OutEvent::Kind::kDone:
      return done_event(e.id, e.text, e.reason, e.stats);
    case OutEvent::Kind::kError:
      break;
  }
  return error_event(e.has_id ? &e.id : nullptr, e.reason, e.text);
}

}  // namespace

WsSession::WsSession(asio::ip::tcp::socket socket, ServerContext& ctx, ConnectionTicket ticket, std::string tenant)
    : executor_(socket.get_executor()),
      ws_(std::move(socket)),
      ctx_(ctx),
      ticket_(std::move(ticket)),
      tenant_(std::move(tenant)),
      state_(std::make_shared<State>()),
      messages_(asio::make_strand(ctx.workers.get_executor())),
      write_deadline_(executor_) {}

WsSession::~WsSession() { ctx_.registry.remove(this); }

void WsSession::accept(beast::http::request<beast::http::string_body> upgrade) {
  ctx_.registry.add(this, weak_from_this());
  outbox_ = make_connection_outbox(shared_from_this(), ctx_.opts.client_queue_bytes, &WsSession::pump,
                                   &WsSession::drop_queue_full);
  upgrade_ = std::move(upgrade);
  // The WebSocket keeps its own timers: none on the TCP stream underneath.
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = ctx_.opts.ws_idle_timeout;  // silent: a ping; silent for as long again: closed
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "pronto-engine"); }));
  ws_.read_message_max(ctx_.opts.max_body_bytes);
  ws_.async_accept(upgrade_, [self = shared_from_this()](const error_code& ec) { self->on_accept(ec); });
}

void WsSession::on_accept(const error_code& ec) {
  if (closed_) return;
  if (ec) return close_now();
  open_ = true;
  if (ctx_.stopping) return shutdown();
  read();
  write_next();
}

void WsSession::shutdown() {
  asio::post(executor_, [self = shared_from_this()] {
    if (self->closed_ || self->closing_) return;
    if (!self->open_) return self->close_now();
    self->closing_ = true;
    // Tell the client why (1001 going away); the pending read ends when it answers, or the close
    // handshake times out, and close_now() cancels the connection's requests.
    self->ws_.async_close(websocket::close_code::going_away, [self](const error_code&) { self->close_now(); });
  });
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

void WsSession::read() {
  if (closed_ || read_paused_) return;
  ws_.async_read(rbuf_, [self = shared_from_this()](const error_code& ec, size_t) { self->on_read(ec); });
}

void WsSession::on_read(const error_code& ec) {
  if (closed_) return;
  if (ec) {
    if (ec == beast::error::timeout) ctx_.metrics.timeout_ws_idle++;
    return close_now();  // the client closed, vanished, sent an invalid frame or went silent
  }
  const bool text = ws_.got_text();
  std::string msg = beast::buffers_to_string(rbuf_.data());
  rbuf_.consume(rbuf_.size());
  if (!text) {
    push_error(nullptr, "bad_request", "binary frames are not supported: send JSON text frames");
  } else {
    messages_pending_++;
    asio::post(messages_, [self = shared_from_this(), msg = std::move(msg)] {
      self->handle_message(msg);
      asio::post(self->executor_, [self] { self->message_done(); });
    });
  }
  if (messages_pending_ >= kMaxPendingMessages) {
    read_paused_ = true;
    return;
  }
  read();
}

void WsSession::message_done() {
  messages_pending_--;
  if (read_paused_ && messages_pending_ < kMaxPendingMessages / 2) {
    read_paused_ = false;
    read();
  }
}

void WsSession::push_error(const std::string* id, const std::string& code, const std::string& message) {
  OutEvent e;
  e.kind = OutEvent::Kind::kError;
  e.has_id = id != nullptr;
  if (id) e.id = *id;
  e.reason = code;
  e.text = message;
  outbox_->push(std::move(e));
}

// On the worker pool, in message order for this connection.
void WsSession::handle_message(const std::string& raw) {
  Engine& engine = ctx_.engine;
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
        std::lock_guard<std::mutex> lock(state_->m);
        auto f = state_->inflight.find(id);
        if (f != state_->inflight.end()) r = f->second;
      }
      if (r) engine.cancel(r);  // unknown id: already finished, nothing to do
      return;
    }
    if (t != "submit")
      throw BadRequest{"bad_request", "unknown message type \"" + t + "\" (expected submit or cancel)"};
    RequestPtr req = parse_submit(msg, engine);
    req->tenant = tenant_;
    std::weak_ptr<State> weak_state = state_;
    req->sink = std::make_shared<OutboxSink>(outbox_, true, [weak_state](const std::string& done_id) {
      if (auto st = weak_state.lock()) {
        std::lock_guard<std::mutex> lock(st->m);
        st->inflight.erase(done_id);
      }
    });
    {
      std::lock_guard<std::mutex> lock(state_->m);
      if (state_->closed) return;  // the client left while this was parsed: nothing to run
      if (state_->inflight.count(req->id))
        throw BadRequest{"bad_request", "a request with id \"" + req->id + "\" is already in flight"};
      state_->inflight[req->id] = req;
    }
    engine.submit(req);
  } catch (const BadRequest& e) {
    engine.metrics().error(e.code);
    push_error(have_id ? &id : nullptr, e.code, e.message);
  } catch (const std::exception& e) {
    engine.metrics().error("internal");
    push_error(have_id ? &id : nullptr, "internal", e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

void WsSession::pump() {
  if (closed_) return;
  for (OutEvent& e : outbox_->take()) frames_.emplace_back(format_frame(e), e.cost());
  write_next();
}

void WsSession::write_next() {
  if (!open_ || writing_ || closed_ || frames_.empty()) return;
  writing_ = true;
  ws_.text(true);
  write_deadline_.arm(ctx_.opts.write_timeout, [self = shared_from_this()] { self->drop("write_timeout"); });
  ws_.async_write(asio::buffer(frames_.front().first),
                  [self = shared_from_this()](const error_code& ec, size_t) { self->on_written(ec); });
}

void WsSession::on_written(const error_code& ec) {
  writing_ = false;
  write_deadline_.disarm();
  if (closed_) return;
  if (ec) return close_now();
  outbox_->release(frames_.front().second);
  frames_.pop_front();
  write_next();
}

// ---------------------------------------------------------------------------------------------
// Ending the connection
// ---------------------------------------------------------------------------------------------

void WsSession::drop(const char* why) {
  if (closed_) return;
  const bool queue_full = std::string(why) == "queue_full";
  (queue_full ? ctx_.metrics.dropped_queue_full : ctx_.metrics.dropped_write_timeout)++;
  std::fprintf(stderr, "pronto-engine: dropped a WebSocket client that stopped reading (%s; %zu requests cancelled)\n",
               queue_full ? "its unsent output passed --client-queue-limit" : "a write made no progress", [this] {
                 std::lock_guard<std::mutex> lock(state_->m);
                 return state_->inflight.size();
               }());
  close_now();
}

void WsSession::close_now() {
  if (closed_) return;
  closed_ = true;
  std::vector<RequestPtr> orphans;
  {
    std::lock_guard<std::mutex> lock(state_->m);
    state_->closed = true;
    for (auto& [id, r] : state_->inflight) orphans.push_back(r);
    state_->inflight.clear();
  }
  for (auto& r : orphans) ctx_.engine.cancel(r);  // their sequences are freed within one decode step
  if (outbox_) outbox_->close();
  frames_.clear();
  write_deadline_.disarm();
  error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).close();
}

}  // namespace pronto::net
