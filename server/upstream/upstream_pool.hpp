#pragma once
// The upstream client of one I/O thread for one upstream: the addresses its name resolves to
// (address_table, shared by every thread), a keep-alive connection pool per address (connections
// never cross threads), load spread over the healthy addresses, connect and request timeouts,
// retries, and propagation of X-Request-Id and W3C traceparent from the calling request.
//
// Invariants:
// - A connection goes back to its address's idle pool only after a complete response whose
//   framing is known to be intact and that allows keep-alive. Any error, timeout or cancellation
//   closes it, and so does a streamed body left unread: a half-used connection is never reused.
// - At most `max_connections` connections (in use + idle) per address per thread; a request that
//   finds none free waits for one, within its own timeout.
// - A request is sent again only when nothing of a response has arrived: after a connect
//   failure or a reset (`retries`, idempotent methods), or once when a pooled connection turns
//   out to have been closed by the origin meanwhile (idempotent methods).
// - Cancellation (terminal) of the calling coroutine aborts the connect, write or read at once.
//
// Where it lives: upstream_pool.cpp (the pools, the balance, open(): the retry policy),
// upstream_exchange.cpp (one attempt on one connection, try_exchange()), upstream_body.cpp (the
// response body as the caller pulls it), upstream_conn.hpp (what those share).

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
#include "server/upstream/address_table.hpp"
#include "server/upstream/upstream_stats.hpp"

namespace edged::server {

class upstream_pool;
class upstream_body;

// Where an exchange that failed (ec says how) went wrong.
enum class exchange_failure : std::uint8_t {
    none,          // no failure, or one after the request went out
    connect,       // no connection: connecting failed or timed out, or the caller gave up waiting
    pool_timeout,  // no connection came free in time (max_connections)
    no_healthy,    // every address is ejected or failed its health check
    body,          // the streamed request body (the caller's side) failed
};
// Nothing of the request reached the origin.
constexpr bool before_sent(exchange_failure f) {
    return f == exchange_failure::connect || f == exchange_failure::pool_timeout ||
           f == exchange_failure::no_healthy;
}

struct upstream_result {
    error_code ec;  // connect/transport errors, net::error::timed_out, operation_aborted
    exchange_failure failure = exchange_failure::none;
    http::response<http::string_body> response;
};

// A response head with its body still to come, block by block (upstream_body).
struct upstream_stream {
    error_code ec;
    exchange_failure failure = exchange_failure::none;
    std::shared_ptr<upstream_body> body;  // set when ec is clear; holds the head too
};

// What a caller gives besides the request.
struct send_options {
    // Instead of the upstream's `timeout` (for a stream: until the head has arrived).
    std::optional<std::chrono::steady_clock::duration> timeout;
    std::string_view request_id;  // with trace_id: sent instead of the current request's
    std::string_view trace_id;
    unsigned retries = 0;                   // idempotent methods only
    std::optional<std::uint64_t> max_body;  // a longer body fails (too_large); none: no limit
    std::size_t block = 64 * 1024;          // a streamed body is read this much at a time
    // The request body, pulled block by block and sent as it comes (instead of req.body()).
    std::shared_ptr<lifecycle::body_source> body;
};

// One pooled connection to one address.
struct upstream_conn;

class upstream_pool {
public:
    // `table`: the upstream's addresses (shared by the threads); `stats`: this thread's figures
    // of the upstream (shared with the pools a reload replaced).
    upstream_pool(net::io_context& ioc, std::shared_ptr<address_table> table,
                  upstream_stats& stats);
    ~upstream_pool();

    const config::upstream_config& cfg() const { return table_->cfg(); }
    const address_table& table() const { return *table_; }

    // Sends `req` (target relative to the upstream's base path) and reads the whole response.
    // Sets Host, and X-Request-Id / traceparent from the current request; `req`'s own hop-by-hop
    // fields, Host, Content-Length, X-Request-Id and traceparent are never sent (callers may
    // copy an incoming request's fields as they are).
    net::awaitable<upstream_result> send(http::request<http::string_body> req, std::size_t max_body,
                                         send_options opts = {});
    // The same, up to the response head; the body is read as the caller pulls it, each read
    // under the upstream's read_timeout.
    net::awaitable<upstream_stream> open(const http::request<http::string_body>& req,
                                         send_options opts = {});

    std::size_t idle() const;
    std::size_t open_connections() const { return open_; }
    upstream_stats& stats() { return stats_; }

private:
    friend class upstream_body;
    friend struct upstream_conn;
    struct address_pool;
    using conn_ptr = std::shared_ptr<upstream_conn>;

    // The address list as the table has it now (looked up first when there is none).
    net::awaitable<error_code> refresh_addresses();
    void adopt(const address_table::list& list);
    // The address the next request goes to (balance), or null when none is usable; `avoid` is
    // passed over when another address is usable.
    std::shared_ptr<address_pool> pick(const address_pool* avoid);
    // A connection to `ap`: an idle one, a new one, or one freed within `deadline`.
    struct acquired {
        conn_ptr conn;  // null: failed (connect or pool_timeout, ec says how)
        error_code ec;
        exchange_failure failure = exchange_failure::none;
        bool reused = false;  // from the idle pool (the origin may have closed it meanwhile)
    };
    net::awaitable<acquired> acquire(const std::shared_ptr<address_pool>& ap,
                                     std::chrono::steady_clock::time_point start,
                                     std::chrono::steady_clock::time_point deadline);
    // One attempt on one connection to `home`, up to the response head; the facts of how it
    // ended, which open() (the retry policy) judges. `wire`: the serialised request head (and
    // whole body, when not streamed).
    struct attempt {
        error_code ec;                                      // clear: `body` holds the head
        exchange_failure failure = exchange_failure::none;  // connect, pool_timeout, body
        std::shared_ptr<upstream_body> body;
        bool reused = false;        // on a pooled connection (it may have gone stale)
        bool nothing_back = false;  // no byte of a response arrived
        bool body_pulled = false;   // a block of the streamed body went: it cannot go again
    };
    net::awaitable<attempt> try_exchange(const std::shared_ptr<address_pool>& home,
                                         const http::request<http::string_body>& req,
                                         const std::string& wire, const send_options& opts,
                                         std::chrono::steady_clock::time_point start,
                                         std::chrono::steady_clock::time_point deadline);
    net::awaitable<error_code> connect(tcp::socket& socket, const tcp::endpoint& to);
    // An exchange ended on `conn`: back to its idle pool (`reusable`), or closed.
    void release(conn_ptr conn, bool reusable);
    void wake_one(address_pool& ap);
    void publish();  // moves the connection gauges by what changed since last time
    void count(subrequest_outcome o);
    // Writes the request line and headers for `req` (as sent: Host, X-Request-Id and traceparent
    // set here, hop-by-hop headers dropped, Content-Length computed) followed by the body.
    // With a streamed body (opts.body) only the head, framed for the body to follow.
    void serialise(const http::request<http::string_body>& req, const send_options& opts,
                   std::string& out) const;
    // Pulls the streamed request body and writes it to `conn` (chunked when it has no length).
    // `pulled`: a block was taken (the request cannot be sent again); `caller_failed`: the
    // source failed (the client's side), not the origin.
    // `answered`: the origin answered before the body's end, which stopped the sending.
    net::awaitable<error_code> send_body(const conn_ptr& conn, lifecycle::body_source& body,
                                         bool& pulled, bool& caller_failed, bool& answered);

    net::io_context& ioc_;
    std::shared_ptr<address_table> table_;
    bool least_outstanding_;   // balance: least_outstanding (else round_robin)
    std::string host_header_;  // "host" or "host:port"
    std::vector<std::shared_ptr<address_pool>> pools_;  // the table's list, in its order
    std::uint64_t seen_version_ = ~std::uint64_t{0};
    std::size_t next_ = 0;  // round robin position
    std::size_t open_ = 0;  // in use + idle, every address
    upstream_stats& stats_;
    std::int64_t published_idle_ = 0, published_active_ = 0;
};

// A streamed response body from an upstream: the head, and the body read block by block as the
// caller pulls it. Holds its connection until the body ends (then it goes back to the pool) or
// the source is dropped or cancelled first (then it is closed, and the origin sees the close).
class upstream_body final : public lifecycle::body_source {
public:
    ~upstream_body() override;
    const http::response_header<>& head() const { return parser_.get().base(); }
    std::optional<std::uint64_t> length() const override { return length_; }
    net::awaitable<std::pair<std::error_code, std::string_view>> next() override;
    void cancel() noexcept override;
    bool at_end() const override { return done_; }

private:
    friend class upstream_pool;
    upstream_body(upstream_pool& pool, std::shared_ptr<upstream_conn> conn, std::size_t block);
    void finish(bool reusable);

    upstream_pool& pool_;
    std::shared_ptr<upstream_conn> conn_;  // null once given back or closed
    http::response_parser<http::buffer_body> parser_;
    // The read block, allocated at the first next() (an exchange still waiting for its head, as
    // a pending after-action is, holds none), no larger than a known body; never zero-filled.
    std::size_t block_bytes_;
    std::unique_ptr<char[]> block_;
    std::size_t block_size_ = 0;
    std::optional<std::uint64_t> length_;
    error_code pending_error_;  // met while filling a block: reported by the next call
    // A whole-exchange deadline (send()): no read goes past it, whatever read_timeout says.
    std::optional<std::chrono::steady_clock::time_point> until_;
    bool done_ = false;
    bool early_ = false;  // answered before the request's end: its connection is not reused
};

std::string_view to_string(subrequest_outcome o);

}  // namespace edged::server
