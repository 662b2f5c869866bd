#pragma once
// The upstream client: named upstreams from config, a keep-alive connection pool per upstream per
// I/O thread (connections never cross threads), connect and request timeouts, and propagation
// of X-Request-Id and W3C traceparent from the calling request.
//
// Invariants:
// - A connection goes back to the idle pool only after a complete response that allows
//   keep-alive. Any error, timeout or cancellation closes it: a half-used connection is never
//   reused.
// - At most `max_connections` connections (in use + idle) per upstream per thread; a request that
//   finds none free waits for one, within its own timeout.
// - Cancellation (terminal) of the calling coroutine aborts the connect, write or read at once.

#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/fetch.hpp"
#include "server/net.hpp"
#include "server/upstream/upstream_stats.hpp"

namespace edged::server {

struct upstream_result {
    error_code ec;  // connect/transport errors, net::error::timed_out, operation_aborted
    http::response<http::string_body> response;
    bool connect_failed = false;  // the failure happened before the request was sent
    bool pool_timeout = false;    // timed out waiting for a free connection (max_connections)
};

// One pooled connection to an upstream. Shared between the call that uses it and the deadline
// timer's handler, so a late timer handler never touches a freed connection.
struct upstream_conn {
    explicit upstream_conn(net::io_context& ioc) : socket(ioc), timer(ioc) {}
    tcp::socket socket;
    net::steady_timer timer;    // the deadline of the exchange in progress
    std::uint64_t armed = 0;    // bumped by arm() and disarm(): a stale expiry does nothing
    bool timed_out = false;     // the deadline fired during the exchange
    beast::flat_buffer buffer;  // read buffer, kept (with its capacity) between requests
};

// What a caller outside a request (an async job) gives instead of the current request.
struct send_options {
    std::optional<std::chrono::steady_clock::duration> timeout;  // instead of the upstream's
    std::string_view request_id;  // with trace_id: sent instead of the current request's
    std::string_view trace_id;
};

class upstream_pool {
public:
    // `stats`: this thread's figures of the upstream (shared with the pools a reload replaced).
    upstream_pool(net::io_context& ioc, const config::upstream_config& cfg, upstream_stats& stats);
    ~upstream_pool();

    const config::upstream_config& cfg() const { return cfg_; }
    // Sends `req` (target relative to the upstream's base path) and reads the response (body up
    // to `max_body` bytes). Sets Host, and X-Request-Id / traceparent from the current request;
    // `req`'s own hop-by-hop fields, Host, Content-Length, X-Request-Id and traceparent are
    // never sent (callers may copy an incoming request's fields as they are).
    net::awaitable<upstream_result> send(http::request<http::string_body> req, std::size_t max_body,
                                         send_options opts = {});

    std::size_t idle() const { return idle_.size(); }
    upstream_stats& stats() { return stats_; }
    std::size_t open() const { return open_; }

private:
    using conn_ptr = std::shared_ptr<upstream_conn>;
    net::awaitable<error_code> connect(tcp::socket& socket);
    void give_back(conn_ptr conn);
    void discard(upstream_conn& conn);  // closes a connection that is not going back to the pool
    // Writes the request line and headers for `req` (as sent: Host, X-Request-Id and traceparent
    // set here, hop-by-hop headers dropped, Content-Length computed) followed by the body.
    void serialise(const http::request<http::string_body>& req, const send_options& opts,
                   std::string& out) const;

    net::io_context& ioc_;
    config::upstream_config cfg_;
    std::vector<tcp::endpoint> endpoints_;  // resolved once, again after a connect failure
    std::string host_header_;               // "host" or "host:port"
    std::deque<conn_ptr> idle_;
    std::size_t open_ = 0;  // in use + idle
    struct waiter {
        net::steady_timer timer;
        bool woken = false;
    };
    void wake_one();  // a connection was returned or closed: the first waiter may go on
    void publish();   // moves the connection gauges by what changed since last time
    upstream_result counted(upstream_result r);  // counts how the subrequest ended
    std::list<waiter*> waiters_;                 // FIFO of calls waiting for a connection
    upstream_stats& stats_;
    std::int64_t published_idle_ = 0, published_active_ = 0;
};
}  // namespace edged::server
