#include "net/server.h"

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>

#include "net/api_replies.h"
#include "net/context.h"
#include "net/http_session.h"

namespace pronto::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// At most this many refusals (503 "too many connections") are being written at once; beyond it a
// connection over the limit is closed without a word rather than costing more file descriptors.
constexpr int kMaxRefusalsInFlight = 64;
constexpr int kSendBufferBytes = 256 * 1024;

// A connection over --max-connections: told so in one 503 reply, then closed (after a short drain, so
// the client reads the reply instead of a reset).
struct Refusal : std::enable_shared_from_this<Refusal> {
  Refusal(tcp::socket s, std::atomic<int>& in_flight, std::string reply)
      : socket(std::move(s)), timer(socket.get_executor()), in_flight(in_flight), reply(std::move(reply)) {
    in_flight++;
  }
  ~Refusal() { in_flight--; }
  void start() {
    timer.expires_after(std::chrono::seconds(2));
    timer.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->close();
    });
    asio::async_write(socket, asio::buffer(reply), [self = shared_from_this()](const error_code& ec, size_t) {
      if (ec) return self->close();
      error_code ignored;
      self->socket.shutdown(tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }
  void drain() {
    socket.async_read_some(asio::buffer(scratch), [self = shared_from_this()](const error_code& ec, size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }
  void close() {
    error_code ignored;
    timer.cancel();
    socket.close(ignored);
  }
  tcp::socket socket;
  asio::steady_timer timer;
  std::atomic<int>& in_flight;
  std::string reply;
  std::array<char, 1024> scratch{};
};

}  // namespace

struct Server::Impl {
  Impl(Engine& engine, NetOptions o)
      : opts(std::move(o)),
        ctx(engine, opts, workers),
        workers(opts.worker_threads),
        acceptor(asio::make_strand(ioc)) {}
  ~Impl() {
    // Jobs still queued hold sessions; they must go while the io_context and ctx exist.
    workers.stop();
    workers.join();
  }

  void accept();
  void on_accept(const error_code& ec, tcp::socket socket);
  void refuse(tcp::socket socket);
  void do_stop();

  NetOptions opts;
  // Declaration order is destruction order reversed: the pools (holding sessions) go before ctx.
  ServerContext ctx;
  asio::io_context ioc{1};
  asio::thread_pool workers;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry{ioc};
  std::atomic<bool> stop_requested{false};
  std::atomic<int> refusals_in_flight{0};
  int port = 0;
  bool warned_fd_limit = false;
};

Server::Server(Engine& engine, NetOptions opts) : impl_(std::make_unique<Impl>(engine, std::move(opts))) {}
Server::~Server() = default;
int Server::port() const { return impl_->port; }
NetMetrics& Server::metrics() { return impl_->ctx.metrics; }

bool Server::bind(std::string& error) {
  Impl& s = *impl_;
  error_code ec;
  tcp::resolver resolver(s.ioc);
  auto results = resolver.resolve(s.opts.host, std::to_string(s.opts.port), tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    error = "cannot resolve --host " + s.opts.host + ": " + (ec ? ec.message() : "no address");
    return false;
  }
  std::string last_error;
  for (const auto& entry : results) {
    const tcp::endpoint ep = entry.endpoint();
    s.acceptor.close(ec);
    s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) {
      s.port = s.acceptor.local_endpoint().port();
      return true;
    }
    last_error = ec.message();
  }
  error = "cannot bind to " + s.opts.host + ":" + (s.opts.port ? std::to_string(s.opts.port) : "(any port)") + ": " +
          last_error;
  return false;
}

void Server::run() {
  Impl& s = *impl_;
  if (s.stop_requested) return;
  s.accept();
  s.ioc.run();
}

void Server::stop() {
  Impl& s = *impl_;
  if (s.stop_requested.exchange(true)) return;
  asio::post(s.ioc, [&s] { s.do_stop(); });
}

void Server::Impl::do_stop() {
  ctx.stopping = true;
  error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  for (auto& c : ctx.registry.all()) c->shutdown();
}

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc),
                        [this](const error_code& ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void Server::Impl::on_accept(const error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || ctx.stopping) return;
  if (ec) {
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec.value() == ENFILE) {
      // Out of file descriptors: pending connections wait in the backlog; retry shortly instead of
      // spinning on the same error.
      if (!warned_fd_limit) {
        warned_fd_limit = true;
        std::fprintf(stderr, "pronto-engine: accept failed (%s): lower --max-connections or raise ulimit -n\n",
                     ec.message().c_str());
      }
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const error_code& e) {
        if (!e && !ctx.stopping) accept();
      });
      return;
    }
    return accept();
  }
  ctx.metrics.accepted++;
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // token frames are small and latency-bound
  // A fixed kernel send buffer instead of autotuning (up to tcp_wmem's 4 MB per connection): replies
  // are small, and a client that stops reading then shows up in its Outbox within a few hundred KB
  // rather than after megabytes held by the kernel for every such connection.
  socket.set_option(asio::socket_base::send_buffer_size(kSendBufferBytes), ignored);
  if (ctx.open_connections.load() >= opts.max_connections) {
    ctx.metrics.refused_limit++;
    refuse(std::move(socket));
  } else {
    std::make_shared<HttpSession>(std::move(socket), ctx, ConnectionTicket(ctx))->start();
  }
  accept();
}

void Server::Impl::refuse(tcp::socket socket) {
  if (refusals_in_flight.load() >= kMaxRefusalsInFlight) {
    error_code ignored;
    socket.close(ignored);
    return;
  }
  const std::string body =
      error_body_text("overloaded", "too many connections (--max-connections " + std::to_string(opts.max_connections) +
                                        "): the engine refused this one; retry later");
  std::string reply =
      "HTTP/1.1 503 Service Unavailable\r\nServer: pronto-engine\r\nContent-Type: application/json\r\n"
      "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  std::make_shared<Refusal>(std::move(socket), refusals_in_flight, std::move(reply))->start();
}

}  // namespace pronto::net
