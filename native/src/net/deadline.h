// A re-armable deadline on a connection's strand. arm() replaces any earlier deadline; disarm()
// cancels it. A generation counter makes a cancelled-but-already-queued expiry a no-op, so a
// deadline never fires for an operation that finished just in time.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace pronto::net {

class Deadline {
 public:
  explicit Deadline(const boost::asio::any_io_executor& ex) : timer_(ex) {}

  // on_expire runs on the strand if the deadline passes first; it should hold the connection alive
  // (capture its shared_ptr).
  template <class F>
  void arm(std::chrono::steady_clock::duration after, F on_expire) {
    const unsigned gen = ++gen_;
    timer_.expires_after(after);
    timer_.async_wait([this, gen, f = std::move(on_expire)](const boost::system::error_code& ec) mutable {
      if (!ec && gen == gen_) f();
    });
  }
  void disarm() {
    ++gen_;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  unsigned gen_ = 0;
};

}  // namespace pronto::net
