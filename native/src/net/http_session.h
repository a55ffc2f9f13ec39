// One HTTP/1.1 connection: reads a request under a header deadline and a body deadline and size
// limit, checks Host/Origin and the API key, routes it, writes the reply; keeps the connection for the
// next request (keep-alive) or hands it to a WebSocket session on an upgrade to /v1/stream.
//
// Completions: parsing and tokenizing run on the worker pool; the request's sink feeds an Outbox that
// this session drains into one JSON reply or an SSE stream. While a completion runs the session keeps
// a read pending, so a client that disconnects is noticed at once and its generation cancelled.
#pragma once
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/api_replies.h"
#include "net/context.h"
#include "net/deadline.h"
#include "net/outbox.h"
#include "protocol_json.h"

namespace pronto::net {

class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, ServerContext& ctx, ConnectionTicket ticket);
  ~HttpSession() override;
  void start();
  void shutdown() override;
  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  struct Reply {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    bool close = false;  // the request body was not read: the connection cannot be reused
    std::vector<std::pair<std::string, std::string>> headers;
  };
  enum class Phase { kReading, kWorking, kWriting, kClosed };

  // Reading and checking a request.
  void read_header();
  void arm_read_deadline(std::chrono::seconds timeout, std::atomic<uint64_t>& timeouts);
  void on_header(const boost::system::error_code& ec);
  void read_body();
  void on_body(const boost::system::error_code& ec);
  void on_read_error(const boost::system::error_code& ec);
  void handle();
  std::optional<std::string> authenticate(std::string_view authorization) const;
  void upgrade();

  // Work off the I/O thread.
  void run_on_worker(std::function<Reply()> job);
  void start_completion(bool chat);
  void submit(OpenAiRequest parsed);
  void pump();  // outbox -> reply or SSE bytes

  // Writing.
  void write_reply(Reply r);
  void on_reply_written(const boost::system::error_code& ec);
  void start_sse();
  void append_sse(const std::string& data, size_t cost);
  void write_sse();
  void on_sse_written(const boost::system::error_code& ec);
  void finish_exchange();

  // Noticing a client that left while its completion runs.
  void watch();
  void on_watch(const boost::system::error_code& ec, size_t n);
  void unwatch_then(std::function<void()> next);

  // Ending the connection.
  void client_gone();
  void drop_slow_reader();
  void linger_close();
  void drain();
  void close_now();

  Reply error_reply(const std::string& code, const std::string& message) const;
  // Replies with an error and closes (the rest of the request is not read). status 0: status_for(code).
  void close_with(const std::string& code, const std::string& message, unsigned status = 0);
  void add_common_headers(std::string& raw_head) const;

  const boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::socket socket_;
  ServerContext& ctx_;
  ConnectionTicket ticket_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Deadline read_deadline_, write_deadline_;
  Phase phase_ = Phase::kReading;
  bool closed_ = false, stopping_ = false;

  // The request being served.
  bool keep_alive_ = true;
  bool chunked_ok_ = true;   // HTTP/1.1 (chunked SSE) rather than 1.0
  std::string cors_origin_;  // its Origin, when allowed: echoed in CORS headers
  std::string tenant_;

  // A completion in progress.
  RequestPtr req_;
  std::shared_ptr<Outbox> outbox_;
  std::optional<OpenAiReply> openai_;
  bool chat_ = false, streaming_ = false, sse_started_ = false, final_seen_ = false;
  bool in_flight_ = false;  // counted in pronto_http_completions_in_flight
  void set_in_flight(bool v);

  // Writing.
  std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> res_;
  std::string sse_out_, sse_writing_;
  size_t sse_out_cost_ = 0, sse_writing_cost_ = 0;
  bool writing_ = false;
  std::shared_ptr<std::array<char, 4096>> drain_buf_;

  // The disconnect watch.
  bool watching_ = false;
  std::function<void()> after_watch_;
};

}  // namespace pronto::net
