#include "server/upstream/upstream_conn.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "lifecycle/errors.hpp"

namespace edged::server {

using namespace boost::asio::experimental::awaitable_operators;

// Built from a timer and parallel_group (no cancel_after in 1.81).
net::awaitable<error_code> with_deadline(net::awaitable<error_code> op, clock::time_point at) {
    net::steady_timer timer(co_await net::this_coro::executor, at);
    // as_tuple: the timer losing the race is the common case and must not throw.
    auto result = co_await (std::move(op) || timer.async_wait(token));
    if (result.index() == 1) co_return net::error::timed_out;
    co_return std::get<0>(result);
}

void arm(const std::shared_ptr<upstream_conn>& conn, clock::time_point at) {
    upstream_conn& c = *conn;
    c.timed_out = false;
    c.timer.expires_at(at);
    c.timer.async_wait([conn, armed = ++c.armed](error_code ec) {
        if (ec || conn->armed != armed) return;
        conn->timed_out = true;
        error_code ignored;
        conn->socket.cancel(ignored);
    });
}
void disarm(upstream_conn& c) {
    ++c.armed;  // a deadline handler still queued must not cancel this socket's next use
    c.timer.cancel();
}

subrequest_outcome outcome_of(error_code ec) {
    if (!ec) return subrequest_outcome::ok;
    if (ec == net::error::timed_out) return subrequest_outcome::timeout;
    if (ec == net::error::operation_aborted) return subrequest_outcome::cancelled;
    if (ec == http::error::body_limit) return subrequest_outcome::too_large;
    if (ec == lifecycle::errc::no_healthy_upstream) return subrequest_outcome::unavailable;
    return subrequest_outcome::error;
}

}  // namespace edged::server
