#pragma once
// Inside the upstream client (server/upstream/, not its users): one pooled connection, the pool
// of one address's connections on a thread, and the deadline every operation on a connection
// runs under. upstream_pool.cpp keeps the pools and the retry policy, upstream_exchange.cpp one
// exchange on one connection, upstream_body.cpp a response body read as the caller pulls it.

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>

#include "server/net.hpp"
#include "server/upstream/upstream_pool.hpp"

namespace edged::server {

using clock = std::chrono::steady_clock;

// One keep-alive connection to one address. Shared between the call that uses it and the
// deadline timer's handler, so a late timer handler never touches a freed connection.
struct upstream_conn {
    upstream_conn(net::io_context& ioc, std::shared_ptr<upstream_pool::address_pool> home)
        : socket(ioc), timer(ioc), home(std::move(home)) {}
    tcp::socket socket;
    net::steady_timer timer;    // the deadline of the exchange (or the body read) in progress
    std::uint64_t armed = 0;    // bumped by arm() and disarm(): a stale expiry does nothing
    bool timed_out = false;     // the deadline fired during the operation
    beast::flat_buffer buffer;  // read buffer, kept (with its capacity) between requests
    std::shared_ptr<upstream_pool::address_pool> home;
};

// One address's connections on this thread.
struct upstream_pool::address_pool {
    explicit address_pool(std::shared_ptr<address_table::entry> a) : addr(std::move(a)) {}
    struct waiter {
        net::steady_timer timer;
        bool woken = false;
    };
    std::shared_ptr<address_table::entry> addr;
    std::deque<conn_ptr> idle;
    std::size_t open = 0;         // in use + idle
    std::size_t outstanding = 0;  // exchanges under way (least_outstanding)
    std::list<waiter*> waiters;   // FIFO of calls waiting for a connection
    bool retired = false;         // gone from the table's list: connections close as they end
};

// Runs `op` against a deadline; on expiry the operation is cancelled (terminal) and the result
// is net::error::timed_out.
net::awaitable<error_code> with_deadline(net::awaitable<error_code> op, clock::time_point at);
// The connection's timer cancels its socket at `at` (conn->timed_out is then set).
void arm(const std::shared_ptr<upstream_conn>& conn, clock::time_point at);
// Ends the deadline: a handler still queued must not cancel the socket's next use.
void disarm(upstream_conn& c);
// How an exchange that ended with `ec` is counted.
subrequest_outcome outcome_of(error_code ec);

}  // namespace edged::server
