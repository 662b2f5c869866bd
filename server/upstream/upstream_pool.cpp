#include "server/upstream/upstream_pool.hpp"

#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include "lifecycle/context.hpp"
#include "lifecycle/errors.hpp"
#include "lifecycle/request_id.hpp"
#include "server/http/chunk_frame.hpp"
#include "server/http/header_text.hpp"
#include "server/upstream/hop_by_hop.hpp"
#include "server/upstream/traceparent.hpp"

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

namespace {

using namespace boost::asio::experimental::awaitable_operators;
constexpr std::uint32_t response_header_limit = 64 * 1024;

// Runs `op` against a deadline; on expiry the operation is cancelled (terminal) and the result
// is net::error::timed_out. Built from a timer and parallel_group (no cancel_after in 1.81).
net::awaitable<error_code> with_deadline(net::awaitable<error_code> op, clock::time_point at) {
    net::steady_timer timer(co_await net::this_coro::executor, at);
    // as_tuple: the timer losing the race is the common case and must not throw.
    auto result = co_await (std::move(op) || timer.async_wait(token));
    if (result.index() == 1) co_return net::error::timed_out;
    co_return std::get<0>(result);
}

// The connection's timer cancels its socket at `at`.
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

// Headers the pool writes itself, or that only concern one hop; never copied from the caller.
// Expect too: edged answers it itself (the session sends 100 Continue when the body is wanted).
bool managed_header(std::string_view name) {
    return is_hop_by_hop(name) || iequals(name, "host") || iequals(name, "expect") ||
           iequals(name, "x-request-id") || iequals(name, "traceparent");
}

// Methods whose empty body is still announced with Content-Length: 0 (as Beast's
// prepare_payload does): a server may otherwise wait for a body or answer 411.
bool announces_empty_body(http::verb method) {
    return method == http::verb::post || method == http::verb::put || method == http::verb::patch ||
           method == http::verb::unknown;
}

// RFC 9110 §9.2.2: a request that may be sent twice with the effect of once.
bool idempotent(http::verb m) {
    return m == http::verb::get || m == http::verb::head || m == http::verb::options ||
           m == http::verb::trace || m == http::verb::put || m == http::verb::delete_;
}

subrequest_outcome outcome_of(error_code ec) {
    if (!ec) return subrequest_outcome::ok;
    if (ec == net::error::timed_out) return subrequest_outcome::timeout;
    if (ec == net::error::operation_aborted) return subrequest_outcome::cancelled;
    if (ec == http::error::body_limit) return subrequest_outcome::too_large;
    if (ec == lifecycle::errc::no_healthy_upstream) return subrequest_outcome::unavailable;
    return subrequest_outcome::error;
}

// How much of `in` is an interim answer (1xx other than 101) the origin sent while the request
// was still going out: its length once its head is whole, `incomplete` before, 0 when `in` is
// something else (a final answer, or not HTTP: the head read that follows says which).
constexpr std::size_t incomplete = std::string_view::npos;
std::size_t interim_length(std::string_view in) {
    static constexpr std::string_view version = "HTTP/1.";
    if (in.substr(0, version.size()) != version.substr(0, in.size())) return 0;
    if (in.size() < 12) return incomplete;  // "HTTP/1.1 103"
    if (in[8] != ' ' || in[9] != '1' || in.substr(9, 3) == "101") return 0;
    const std::size_t end = in.find("\r\n\r\n");
    if (end != std::string_view::npos) return end + 4;
    return in.size() > response_header_limit ? 0 : incomplete;
}

// Takes what the origin sent while the request still goes out (the socket is non-blocking) and
// sets `answered` when it is the origin's answer (a final head, or anything but an interim one;
// a close or a reset), left in the read buffer for the head read. Interim heads are taken out;
// the start of one stays for the next look.
bool origin_answered(upstream_conn& conn, bool& answered) {
    error_code rec;
    conn.buffer.commit(conn.socket.read_some(conn.buffer.prepare(4096), rec));
    if (rec && rec != net::error::would_block && rec != net::error::try_again)
        return answered = true;
    for (;;) {
        const auto* data = static_cast<const char*>(conn.buffer.data().data());
        const std::size_t len = interim_length(std::string_view(data, conn.buffer.size()));
        if (len == 0) return answered = true;
        if (len == incomplete) return false;
        conn.buffer.consume(len);
    }
}

// The origin has sent something (the kernel's count: a wait begun after the bytes came may not
// see them).
bool origin_sent(upstream_conn& conn) {
    error_code ec;
    return conn.socket.available(ec) > 0 || ec;
}

// Writes `parts` to the origin unless it answers first, as an origin may (a 413 or 401 before
// the body's end) and then stop reading: the write stops, `answered` is set and what the origin
// sent is left in the connection's read buffer for the head read. An interim answer is taken out
// of the buffer and the write goes on. Only a write the origin's window holds up looks (the
// caller looks between writes), and waits for either. The caller arms the connection's deadline.
net::awaitable<error_code> write_or_answer(upstream_conn& conn,
                                           std::array<net::const_buffer, 3> parts, bool& answered) {
    beast::buffers_suffix<std::array<net::const_buffer, 3>> rest(parts);
    for (bool look = false;; look = true) {
        bool arrived = look && origin_sent(conn);
        if (!arrived) {
            if (beast::buffer_bytes(rest) == 0) co_return error_code{};
            error_code wec;  // the socket is non-blocking
            rest.consume(conn.socket.write_some(rest, wec));
            if (wec && wec != net::error::would_block && wec != net::error::try_again)
                co_return wec;
            if (beast::buffer_bytes(rest) == 0) co_return error_code{};
            arrived = origin_sent(conn);
        }
        if (!arrived) {
            // Held up: wait for the origin to read on, or to answer.
            auto [order, ready_ec, read_ec] =
                co_await net::experimental::make_parallel_group(
                    conn.socket.async_wait(tcp::socket::wait_write, net::deferred),
                    conn.socket.async_wait(tcp::socket::wait_read, net::deferred))
                    .async_wait(net::experimental::wait_for_one(), net::use_awaitable);
            if (order[0] == 0) {
                if (ready_ec) co_return ready_ec;  // cancelled (the deadline)
                continue;
            }
            if (read_ec) co_return read_ec;
        }
        if (origin_answered(conn, answered)) co_return error_code{};
    }
}

}  // namespace

upstream_pool::upstream_pool(net::io_context& ioc, std::shared_ptr<address_table> table,
                             upstream_stats& stats)
    : ioc_(ioc),
      table_(std::move(table)),
      least_outstanding_(table_->cfg().balance == "least_outstanding"),
      stats_(stats) {
    const auto& c = table_->cfg();
    host_header_ = c.port == 80 ? c.host : c.host + ":" + std::to_string(c.port);
}

upstream_pool::~upstream_pool() {
    // Idle connections point back at their address's pool: close them and break the cycle.
    for (auto& ap : pools_) {
        for (auto& c : ap->idle) {
            error_code ignored;
            c->socket.close(ignored);
        }
        ap->idle.clear();
    }
    stats_.idle.add(-published_idle_);
    stats_.active.add(-published_active_);
}

std::size_t upstream_pool::idle() const {
    std::size_t n = 0;
    for (const auto& ap : pools_) n += ap->idle.size();
    return n;
}

void upstream_pool::publish() {
    const auto idle_now = static_cast<std::int64_t>(idle());
    const auto active = static_cast<std::int64_t>(open_) - idle_now;
    stats_.idle.add(idle_now - published_idle_);
    stats_.active.add(active - published_active_);
    published_idle_ = idle_now;
    published_active_ = active;
}

void upstream_pool::count(subrequest_outcome o) {
    publish();
    stats_.count(o);
}

std::string_view to_string(subrequest_outcome o) {
    switch (o) {
        case subrequest_outcome::ok:
            return "ok";
        case subrequest_outcome::rejected:
            return "rejected";
        case subrequest_outcome::connect_error:
            return "connect_error";
        case subrequest_outcome::timeout:
            return "timeout";
        case subrequest_outcome::busy:
            return "busy";
        case subrequest_outcome::too_large:
            return "too_large";
        case subrequest_outcome::cancelled:
            return "cancelled";
        case subrequest_outcome::error:
            return "error";
        case subrequest_outcome::unavailable:
            return "unavailable";
    }
    return "error";
}

net::awaitable<error_code> upstream_pool::refresh_addresses() {
    if (table_->claim_lookup(clock::now())) {
        // The first request waits for the lookup; later ones go on with the addresses they have
        // while it runs.
        if (pools_.empty())
            co_await look_up(table_);
        else
            net::co_spawn(ioc_, look_up(table_), net::detached);
    }
    if (table_->version() != seen_version_) adopt(*table_->addresses());
    if (pools_.empty()) {
        // Another thread's lookup is under way, or the last one failed: look it up here.
        co_await look_up(table_);
        if (table_->version() != seen_version_) adopt(*table_->addresses());
        if (pools_.empty()) co_return net::error::host_not_found;
    }
    co_return error_code{};
}

void upstream_pool::adopt(const address_table::list& list) {
    seen_version_ = table_->version();
    std::vector<std::shared_ptr<address_pool>> fresh;
    fresh.reserve(list.size());
    for (const auto& e : list) {
        auto it = std::find_if(pools_.begin(), pools_.end(),
                               [&](const auto& ap) { return ap && ap->addr == e; });
        fresh.push_back(it != pools_.end() ? std::move(*it) : std::make_shared<address_pool>(e));
    }
    for (auto& ap : pools_) {
        if (!ap) continue;  // moved into fresh
        // Gone from the name: its idle connections close now, the busy ones when they end.
        ap->retired = true;
        for (auto& c : ap->idle) {
            error_code ignored;
            c->socket.close(ignored);
            --ap->open;
            --open_;
        }
        ap->idle.clear();
        while (!ap->waiters.empty()) wake_one(*ap);
    }
    pools_ = std::move(fresh);
    publish();
}

std::shared_ptr<upstream_pool::address_pool> upstream_pool::pick(const address_pool* avoid) {
    const auto now = clock::now();
    const std::size_t n = pools_.size();
    const std::shared_ptr<address_pool>* chosen = nullptr;
    const std::shared_ptr<address_pool>* fallback = nullptr;  // `avoid`, if the only usable one
    std::size_t at = 0;
    const bool least = least_outstanding_;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t k = (next_ + i) % n;
        const auto& ap = pools_[k];
        if (!address_table::usable(*ap->addr, now)) continue;
        if (ap.get() == avoid && n > 1) {
            fallback = &ap;
            continue;
        }
        if (!chosen || (least && ap->outstanding < (*chosen)->outstanding)) {
            chosen = &ap;
            at = k;
            if (!least) break;
        }
    }
    if (!chosen) return fallback ? *fallback : nullptr;
    next_ = at + 1;
    return *chosen;
}

net::awaitable<error_code> upstream_pool::connect(tcp::socket& socket, const tcp::endpoint& to) {
    auto [ec] = co_await socket.async_connect(to, token);
    if (!ec) socket.set_option(tcp::no_delay(true), ec);
    co_return ec;
}

net::awaitable<upstream_pool::conn_ptr> upstream_pool::acquire(
    const std::shared_ptr<address_pool>& home, clock::time_point start, clock::time_point deadline,
    error_code& ec, exchange_failure& why, bool& reused) {
    address_pool& ap = *home;
    for (;;) {
        if (!ap.idle.empty()) {
            conn_ptr conn = std::move(ap.idle.back());  // the most recently used: warmest
            ap.idle.pop_back();
            publish();
            reused = true;
            co_return conn;
        }
        if (ap.open < cfg().max_connections) {
            ++ap.open;
            ++open_;
            publish();
            auto fresh = std::make_shared<upstream_conn>(ioc_, home);
            fresh->buffer.reserve(16 * 1024);  // Beast reads what the capacity allows
            const auto connect_deadline = std::min(deadline, start + cfg().connect_timeout);
            ec =
                co_await with_deadline(connect(fresh->socket, ap.addr->endpoint), connect_deadline);
            if (ec) {
                --ap.open;
                --open_;
                wake_one(ap);
                publish();
                why.connect_failed = true;
                co_return nullptr;
            }
            // Synchronous reads (upstream_body's fill) must not wait; async ones are unchanged.
            fresh->socket.non_blocking(true, ec);
            ec = {};
            reused = false;
            co_return fresh;
        }
        // Wait for a connection to be freed: each waiter has its own timer, set to its deadline,
        // and sits in a FIFO; wake_one() cancels the first waiter's timer. (One shared timer
        // would make each cancel scan every waiter: quadratic under backlog.)
        address_pool::waiter w{net::steady_timer(ioc_, deadline)};
        auto it = ap.waiters.insert(ap.waiters.end(), &w);
        auto [wec] = co_await w.timer.async_wait(token);
        if (!w.woken) ap.waiters.erase(it);
        if (!w.woken) {
            // Expired (or the caller was cancelled): no connection came free in time.
            ec =
                wec ? error_code(net::error::operation_aborted) : error_code(net::error::timed_out);
            why.connect_failed = true;
            why.pool_timeout = !wec;
            co_return nullptr;
        }
    }
}

void upstream_pool::release(conn_ptr conn, bool reusable) {
    address_pool& ap = *conn->home;
    --ap.outstanding;
    if (reusable && !ap.retired && conn->buffer.size() == 0 && cfg().idle_connections > 0) {
        ap.idle.push_back(std::move(conn));
        while (ap.idle.size() > cfg().idle_connections) {
            error_code ignored;
            ap.idle.front()->socket.close(ignored);
            ap.idle.pop_front();
            --ap.open;
            --open_;
        }
    } else {
        // Errors, timeouts, cancellation, a body left unread, or a response that ends the
        // connection: close it (never back to the pool half-used).
        disarm(*conn);
        error_code ignored;
        conn->socket.close(ignored);
        --ap.open;
        --open_;
    }
    wake_one(ap);
    publish();
}

void upstream_pool::wake_one(address_pool& ap) {
    if (ap.waiters.empty()) return;
    auto* w = ap.waiters.front();
    ap.waiters.pop_front();
    w->woken = true;
    w->timer.cancel();
}

void upstream_pool::serialise(const http::request<http::string_body>& req, const send_options& opts,
                              std::string& out) const {
    out += req.method_string();
    out += ' ';
    out += cfg().base_path;
    out += req.target();
    out += " HTTP/1.1\r\nHost: ";
    out += host_header_;
    out += "\r\n";
    for (const auto& f : req) {
        if (managed_header(f.name_string())) continue;
        out += f.name_string();
        out += ": ";
        out += f.value();
        out += "\r\n";
    }
    thread_local lifecycle::id_generator gen = lifecycle::id_generator::seeded();
    if (!opts.request_id.empty()) {
        out += "X-Request-Id: ";
        out += opts.request_id;
        out += "\r\ntraceparent: ";
        append_traceparent(out, opts.trace_id, gen(), gen(), gen());
        out += "\r\n";
    } else if (const auto* ctx = lifecycle::current_context()) {
        out += "X-Request-Id: ";
        out += ctx->id();
        out += "\r\ntraceparent: ";
        append_traceparent(out, ctx->trace_id(), gen(), gen(), gen());
        out += "\r\n";
    }
    if (opts.body) {
        // Streamed: the body follows as it is pulled (send_body), with the length the client
        // announced, else chunked.
        if (auto len = opts.body->length()) {
            out += "Content-Length: ";
            out += std::to_string(*len);
            out += "\r\n\r\n";
        } else {
            out += "Transfer-Encoding: chunked\r\n\r\n";
        }
        return;
    }
    const auto& body = req.body();
    if (!body.empty() || announces_empty_body(req.method())) {
        out += "Content-Length: ";
        out += std::to_string(body.size());
        out += "\r\n";
    }
    out += "\r\n";
    out += body;
}

net::awaitable<error_code> upstream_pool::send_body(const conn_ptr& conn,
                                                    lifecycle::body_source& body, bool& pulled,
                                                    bool& caller_failed, bool& answered) {
    const bool chunked = !body.length();
    const std::uint64_t length = body.length().value_or(0);
    std::uint64_t sent = 0;
    const auto executor = co_await net::this_coro::executor;
    for (;;) {
        if (!chunked && sent >= length) {
            // All of it has gone: the origin may answer now, and that answer is not an early
            // one (watching for it here would take it for one and close a sound connection).
            // The end is taken from the client without a look at the origin.
            const auto end = co_await body.next();
            if (end.first) {
                caller_failed = true;
                co_return end.first;
            }
            co_return error_code{};
        }
        // The wait for the next block is the client's (its body_read timeout); each write to
        // the origin is bounded by read_timeout, the idle-between-bytes limit. The origin may
        // answer meanwhile (a client that sends slowly, or waits): whichever comes first.
        if (origin_sent(*conn)) {
            if (origin_answered(*conn, answered)) co_return error_code{};
            continue;
        }
        std::pair<std::error_code, std::string_view> pulled_block;
        if (body.ready()) {
            // The block is here: no wait, so nothing to race (the look above found the origin
            // silent). A client that keeps up costs no watch of the origin per block.
            pulled_block = co_await body.next();
        } else {
            auto [order, failure, raced_block, wait_ec] =
                co_await net::experimental::make_parallel_group(
                    net::co_spawn(executor, body.next(), net::deferred),
                    conn->socket.async_wait(tcp::socket::wait_read, net::deferred))
                    .async_wait(net::experimental::wait_for_one(), net::use_awaitable);
            if (failure) std::rethrow_exception(failure);
            if (order[0] == 1) {
                if (wait_ec) co_return wait_ec;
                if (origin_answered(*conn, answered)) co_return error_code{};
                // Only an interim head: a block the pull got before its cancel still goes.
                const std::error_code cancelled = error_code(net::error::operation_aborted);
                if (raced_block.first == cancelled) continue;
            }
            pulled_block = raced_block;
        }
        auto [bec, block] = pulled_block;
        if (bec) {
            caller_failed = true;
            co_return bec;
        }
        pulled = true;
        if (block.empty() && !chunked) co_return error_code{};
        const chunk_frame frame(block, chunked);
        const auto parts = frame.buffers();
        arm(conn, clock::now() + cfg().read_timeout);
        const error_code wec = co_await write_or_answer(*conn, parts, answered);
        const bool expired = conn->timed_out;
        disarm(*conn);
        if (expired) co_return net::error::timed_out;
        if (wec || answered) co_return wec;
        if (block.empty()) co_return error_code{};  // the last chunk
        sent += block.size();
    }
}

net::awaitable<upstream_stream> upstream_pool::open(const http::request<http::string_body>& req,
                                                    send_options opts) {
    const auto start = clock::now();
    const auto deadline = start + opts.timeout.value_or(cfg().timeout);
    upstream_stream out;

    // The request goes out as one buffer written here, not through Beast's serializer.
    std::string wire;
    wire.reserve(256 + req.body().size());
    serialise(req, opts, wire);

    const bool may_repeat = idempotent(req.method());
    unsigned retries_left = may_repeat ? opts.retries : 0;
    bool stale_retry = may_repeat;  // once: a pooled connection the origin closed meanwhile
    const address_pool* avoid = nullptr;
    for (;;) {
        if (auto ec = co_await refresh_addresses()) {
            out.ec = ec;
            out.connect_failed = true;
            count(subrequest_outcome::connect_error);
            co_return out;
        }
        // Held: keeps the address's pool alive across a change of the list.
        const std::shared_ptr<address_pool> home = pick(avoid);
        address_pool* ap = home.get();
        if (!ap) {
            out.ec = lifecycle::errc::no_healthy_upstream;
            out.connect_failed = true;
            out.no_healthy = true;
            count(subrequest_outcome::unavailable);
            co_return out;
        }
        ++ap->outstanding;
        error_code ec;
        bool body_pulled = false, caller_failed = false;
        exchange_failure why;
        bool reused = false;
        conn_ptr conn = co_await acquire(home, start, deadline, ec, why, reused);
        if (!conn) {
            --ap->outstanding;
            const bool cancelled = ec == net::error::operation_aborted;
            if (!why.pool_timeout && !cancelled) {
                table_->failed(*ap->addr, clock::now());
                table_->lookup_soon();  // the name may point elsewhere now
                if (retries_left > 0 && clock::now() < deadline) {  // a connect timeout too
                    --retries_left;
                    avoid = ap;
                    continue;
                }
            }
            out.ec = why.pool_timeout ? error_code(lifecycle::errc::upstream_busy) : ec;
            static_cast<exchange_failure&>(out) = why;
            if (why.pool_timeout)
                count(subrequest_outcome::busy);
            else if (cancelled)
                count(subrequest_outcome::cancelled);
            else if (ec == net::error::timed_out)
                count(subrequest_outcome::timeout);
            else
                count(subrequest_outcome::connect_error);
            co_return out;
        }

        std::shared_ptr<upstream_body> body(new upstream_body(*this, conn, opts.block));
        const auto prepare = [&](http::response_parser<http::buffer_body>& p) {
            p.header_limit(response_header_limit);
            p.skip(req.method() == http::verb::head);  // its answer's head is all there is
            if (opts.max_body)
                p.body_limit(*opts.max_body);
            else
                p.body_limit(boost::none);
        };
        prepare(body->parser_);
        arm(conn, deadline);
        // An origin may answer before the request's end (a 413, a 401): the rest is not sent,
        // and the connection, its framing broken, is not reused.
        bool answered = false;
        std::array<net::const_buffer, 3> head_parts{net::buffer(wire), net::const_buffer(),
                                                    net::const_buffer()};
        error_code wec = co_await write_or_answer(*conn, head_parts, answered);
        if (!wec && !answered && !conn->timed_out && opts.body) {
            disarm(*conn);
            wec = co_await send_body(conn, *opts.body, body_pulled, caller_failed, answered);
            // The origin answers once it has the body: the wait for the head runs from here.
            if (!wec) arm(conn, clock::now() + opts.timeout.value_or(cfg().timeout));
        }
        // An origin that answered and closed may fail the write first (a reset): its answer,
        // if it came before, is still there to read.
        error_code write_error;
        if ((wec == net::error::broken_pipe || wec == net::error::connection_reset) &&
            !caller_failed) {
            write_error = wec;
            wec = {};
            answered = true;
        }
        if (wec) {
            ec = wec;
        } else if (conn->timed_out) {
            ec = net::error::timed_out;  // expired between the write and the read
        } else {
            for (;;) {
                auto [rec, rn] = co_await http::async_read_header(conn->socket, conn->buffer,
                                                                  body->parser_, token);
                ec = rec;
                // An interim answer (103 Early Hints, a 100 Continue) is not the response: skip
                // it and read the next head on the same connection. (101 is an upgrade: answered
                // as it is, and the connection is not reused.)
                const unsigned status = body->parser_.get().result_int();
                if (ec || status >= 200 || status == 101) break;
                body->conn_ = nullptr;
                body.reset(new upstream_body(*this, conn, opts.block));
                prepare(body->parser_);
            }
        }
        auto& p = body->parser_;
        body->early_ = answered;
        disarm(*conn);
        if (ec && conn->timed_out) ec = net::error::timed_out;
        if (ec && write_error) ec = write_error;
        if (ec) {
            const bool nothing_back = !p.got_some();
            body->conn_ = nullptr;
            release(std::move(conn), false);
            body.reset();
            if (caller_failed) {
                // The client's body failed (cut, over body_bytes, too slow): not the origin's
                // fault, and nothing to send again.
                out.ec = ec;
                out.body_failed = true;
                count(subrequest_outcome::cancelled);
                co_return out;
            }
            if (body_pulled) {  // that body is gone: the request cannot be sent again
                retries_left = 0;
                stale_retry = false;
            }
            const auto o = outcome_of(ec);
            if (o == subrequest_outcome::error || o == subrequest_outcome::timeout) {
                if (nothing_back && reused && stale_retry && o == subrequest_outcome::error) {
                    // The origin closed this idle connection as we reused it: not its failure.
                    stale_retry = false;
                    continue;
                }
                table_->failed(*ap->addr, clock::now());
                if (nothing_back && o == subrequest_outcome::error && retries_left > 0 &&
                    clock::now() < deadline) {
                    --retries_left;
                    avoid = ap;
                    continue;
                }
            }
            out.ec = ec;
            count(o);
            co_return out;
        }

        // The head is here: the status tells the address's health.
        if (p.get().result_int() >= 500)
            table_->failed(*ap->addr, clock::now());
        else
            table_->succeeded(*ap->addr);
        if (auto len = p.content_length()) body->length_ = *len;
        if (p.is_done()) {
            // Bodiless (HEAD, 1xx, 204, 304, Content-Length: 0): the connection is free now.
            body->done_ = true;
            body->finish(p.keep_alive() && p.get().result_int() != 101);
        }
        out.body = std::move(body);
        co_return out;
    }
}

net::awaitable<upstream_result> upstream_pool::send(http::request<http::string_body> req,
                                                    std::size_t max_body, send_options opts) {
    // The timeout covers the whole exchange here, body included.
    const auto deadline = clock::now() + opts.timeout.value_or(cfg().timeout);
    opts.max_body = max_body;
    auto st = co_await open(req, opts);
    upstream_result result;
    static_cast<exchange_failure&>(result) = st;
    result.ec = st.ec;
    if (st.ec) co_return result;
    st.body->until_ = deadline;
    result.response.base() = st.body->head();
    auto& text = result.response.body();
    for (;;) {
        auto [ec, block] = co_await st.body->next();
        if (ec) {
            result.ec = ec;
            break;
        }
        if (block.empty()) break;
        text.append(block);
    }
    co_return result;
}

upstream_body::upstream_body(upstream_pool& pool, std::shared_ptr<upstream_conn> conn,
                             std::size_t block)
    : pool_(pool), conn_(std::move(conn)), block_bytes_(std::max<std::size_t>(block, 1)) {}

upstream_body::~upstream_body() {
    // Dropped before its end (the client went away, an error): the connection closes.
    if (conn_) {
        pool_.release(std::move(conn_), false);
        pool_.count(subrequest_outcome::cancelled);
    }
}

void upstream_body::cancel() noexcept {
    // Closing the socket ends a read in progress (operation_aborted); the connection itself is
    // released by next() or the destructor, never under a pending read.
    if (conn_) {
        error_code ignored;
        conn_->socket.close(ignored);
    }
}

void upstream_body::finish(bool reusable) {
    pool_.release(std::move(conn_), reusable && !early_);
    conn_ = nullptr;
    pool_.count(subrequest_outcome::ok);
}

net::awaitable<std::pair<std::error_code, std::string_view>> upstream_body::next() {
    // (Named results, not braced temporaries in co_return: GCC 12 mishandles those.)
    std::pair<std::error_code, std::string_view> out;
    if (done_) co_return out;
    if (!conn_ || pending_error_) {
        out.first = pending_error_ ? std::error_code(pending_error_)
                                   : std::make_error_code(std::errc::operation_canceled);
        if (conn_) {
            auto conn = std::move(conn_);
            pool_.release(std::move(conn), false);
            pool_.count(outcome_of(pending_error_));
        }
        co_return out;
    }
    const auto read_timeout = pool_.cfg().read_timeout;
    if (!block_) {
        block_size_ = block_bytes_;
        if (auto len = parser_.content_length(); len && *len < block_size_)
            block_size_ = std::max<std::size_t>(static_cast<std::size_t>(*len), 1);
        block_.reset(new char[block_size_]);
    }
    auto& b = parser_.get().body();
    for (;;) {
        b.data = block_.get();
        b.size = block_size_;
        b.more = true;
        auto conn = conn_;  // the deadline's handler holds it too
        auto at = clock::now() + read_timeout;
        if (until_) at = std::min(at, *until_);
        arm(conn, at);
        auto [ec, n] = co_await http::async_read_some(conn->socket, conn->buffer, parser_, token);
        disarm(*conn);
        if (ec == http::error::need_buffer) ec = {};
        if (ec && conn->timed_out) ec = net::error::timed_out;
        if (!ec && !conn->socket.is_open()) ec = net::error::operation_aborted;  // cancel()
        if (ec) {
            conn_ = nullptr;
            pool_.release(std::move(conn), false);
            pool_.count(outcome_of(ec));
            out.first = ec;
            co_return out;
        }
        // While more is already here, fill the block without waiting (the socket is
        // non-blocking for synchronous reads): fewer, larger writes, and fewer pool items when
        // compressing; a trickle (an event stream) still goes out as it comes. Waiting here
        // could hold back bytes already read until the origin sends more.
        while (!parser_.is_done() && b.size > 0) {
            error_code aec;
            if (conn->socket.available(aec) == 0 || aec) break;
            error_code rec;
            http::read_some(conn->socket, conn->buffer, parser_, rec);
            if (rec == http::error::need_buffer) continue;
            if (rec == net::error::would_block || rec == net::error::try_again) break;
            if (rec) {
                pending_error_ = rec;  // after the bytes this call already has
                break;
            }
        }
        const std::size_t got = block_size_ - b.size;
        if (parser_.is_done()) {
            done_ = true;
            finish(parser_.keep_alive());
        }
        if (got > 0) {
            out.second = std::string_view(block_.get(), got);
            co_return out;
        }
        if (done_) co_return out;
        if (pending_error_) {
            out.first = pending_error_;
            auto c = std::move(conn_);
            pool_.release(std::move(c), false);
            pool_.count(outcome_of(pending_error_));
            co_return out;
        }
    }
}

}  // namespace edged::server
