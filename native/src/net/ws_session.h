// One WebSocket connection on /v1/stream (protocol/engine.ts): many requests in flight, each
// message a JSON text frame.
//
// Reading: the I/O thread reads frames and hands each message to the worker pool through a strand of
// its own, so messages of one connection are handled in order (a cancel never overtakes its submit)
// while a 4 MiB prompt being tokenized stalls nobody else. With too many messages waiting, reading
// pauses (backpressure).
// Writing: request sinks append to the connection's Outbox; the I/O thread formats and writes one
// frame at a time. A client that stops reading is dropped (queue over the limit, or a write making no
// progress), and closing, for any reason, cancels every request of the connection.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "net/context.h"
#include "net/deadline.h"
#include "net/outbox.h"

namespace pronto::net {

class WsSession : public Connection, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(boost::asio::ip::tcp::socket socket, ServerContext& ctx, ConnectionTicket ticket, std::string tenant);
  ~WsSession() override;
  void accept(boost::beast::http::request<boost::beast::http::string_body> upgrade);
  void shutdown() override;
  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  // What the worker jobs and the sinks share with the session (they may outlive it).
  struct State {
    std::mutex m;
    std::map<std::string, RequestPtr> inflight;
    bool closed = false;
  };

  void on_accept(const boost::system::error_code& ec);
  void read();
  void on_read(const boost::system::error_code& ec);
  void handle_message(const std::string& raw);  // on the worker pool
  void message_done();
  void push_error(const std::string* id, const std::string& code, const std::string& message);
  void pump();
  void write_next();
  void on_written(const boost::system::error_code& ec);
  void drop(const char* why);
  void drop_queue_full() { drop("queue_full"); }
  void close_now();

  const boost::asio::any_io_executor executor_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  ServerContext& ctx_;
  ConnectionTicket ticket_;
  const std::string tenant_;
  boost::beast::http::request<boost::beast::http::string_body> upgrade_;
  boost::beast::flat_buffer rbuf_;
  std::shared_ptr<State> state_;
  std::shared_ptr<Outbox> outbox_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> messages_;
  int messages_pending_ = 0;
  bool read_paused_ = false;
  std::deque<std::pair<std::string, size_t>> frames_;  // formatted frame, its cost in the outbox
  bool open_ = false, writing_ = false, closed_ = false, closing_ = false;
  Deadline write_deadline_;
};

}  // namespace pronto::net
