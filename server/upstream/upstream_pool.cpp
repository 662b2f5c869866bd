#include "server/upstream/upstream_pool.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "lifecycle/context.hpp"
#include "lifecycle/request_id.hpp"
#include "server/upstream/hop_by_hop.hpp"
#include "server/upstream/traceparent.hpp"

namespace edged::server {
namespace {

using namespace boost::asio::experimental::awaitable_operators;
constexpr auto token = net::as_tuple(net::use_awaitable);

// Runs `op` against a deadline; on expiry the operation is cancelled (terminal) and the result
// is net::error::timed_out. Built from a timer and parallel_group (no cancel_after in 1.81).
template <class T>
net::awaitable<std::pair<error_code, T>> with_deadline(net::awaitable<std::pair<error_code, T>> op,
                                                       std::chrono::steady_clock::time_point at) {
    net::steady_timer timer(co_await net::this_coro::executor, at);
    // as_tuple: the timer losing the race is the common case and must not throw.
    auto result = co_await (std::move(op) || timer.async_wait(token));
    if (result.index() == 1) co_return std::pair<error_code, T>{net::error::timed_out, T{}};
    co_return std::get<0>(std::move(result));
}

// Headers the pool writes itself, or that only concern one hop; never copied from the caller.
bool managed_header(std::string_view name) {
    return is_hop_by_hop(name) || beast::iequals(name, "host") ||
           beast::iequals(name, "x-request-id") || beast::iequals(name, "traceparent");
}

// Methods whose empty body is still announced with Content-Length: 0 (as Beast's
// prepare_payload does): a server may otherwise wait for a body or answer 411.
bool announces_empty_body(http::verb method) {
    return method == http::verb::post || method == http::verb::put || method == http::verb::patch ||
           method == http::verb::unknown;
}

}  // namespace

upstream_pool::upstream_pool(net::io_context& ioc, const config::upstream_config& cfg,
                             upstream_stats& stats)
    : ioc_(ioc),
      cfg_(cfg),
      host_header_(cfg.port == 80 ? cfg.host : cfg.host + ":" + std::to_string(cfg.port)),
      stats_(stats) {}

upstream_pool::~upstream_pool() {
    stats_.idle.add(-published_idle_);
    stats_.active.add(-published_active_);
}

void upstream_pool::publish() {
    const auto idle = static_cast<std::int64_t>(idle_.size());
    const auto active = static_cast<std::int64_t>(open_) - idle;
    stats_.idle.add(idle - published_idle_);
    stats_.active.add(active - published_active_);
    published_idle_ = idle;
    published_active_ = active;
}

upstream_result upstream_pool::counted(upstream_result r) {
    publish();
    subrequest_outcome o = subrequest_outcome::ok;
    if (r.pool_timeout)
        o = subrequest_outcome::busy;
    else if (r.ec == net::error::timed_out)
        o = subrequest_outcome::timeout;
    else if (r.ec == net::error::operation_aborted)
        o = subrequest_outcome::cancelled;
    else if (r.connect_failed)
        o = subrequest_outcome::connect_error;
    else if (r.ec == http::error::body_limit)
        o = subrequest_outcome::too_large;
    else if (r.ec)
        o = subrequest_outcome::error;
    stats_.count(o);
    return r;
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
    }
    return "error";
}

net::awaitable<error_code> upstream_pool::connect(tcp::socket& socket) {
    if (endpoints_.empty()) {
        tcp::resolver resolver(ioc_);
        auto [ec, results] =
            co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port), token);
        if (ec) co_return ec;
        for (const auto& r : results) endpoints_.push_back(r.endpoint());
        if (endpoints_.empty()) co_return net::error::host_not_found;
    }
    auto [ec, ep] = co_await net::async_connect(socket, endpoints_, token);
    if (ec) endpoints_.clear();  // resolve again next time
    if (!ec) socket.set_option(tcp::no_delay(true));
    co_return ec;
}

void upstream_pool::give_back(conn_ptr conn) {
    idle_.push_back(std::move(conn));
    while (idle_.size() > cfg_.idle_connections) {
        discard(*idle_.front());
        idle_.pop_front();
    }
    wake_one();
}

void upstream_pool::discard(upstream_conn& conn) {
    error_code ignored;
    conn.socket.close(ignored);
    --open_;
}

void upstream_pool::wake_one() {
    if (waiters_.empty()) return;
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->woken = true;
    w->timer.cancel();
}

void upstream_pool::serialise(const http::request<http::string_body>& req, const send_options& opts,
                              std::string& out) const {
    out += req.method_string();
    out += ' ';
    out += cfg_.base_path;
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
    const auto& body = req.body();
    if (!body.empty() || announces_empty_body(req.method())) {
        out += "Content-Length: ";
        out += std::to_string(body.size());
        out += "\r\n";
    }
    out += "\r\n";
    out += body;
}

net::awaitable<upstream_result> upstream_pool::send(http::request<http::string_body> req,
                                                    std::size_t max_body, send_options opts) {
    const auto start = std::chrono::steady_clock::now();
    const auto request_deadline = start + opts.timeout.value_or(cfg_.timeout);
    upstream_result result;

    // The request goes out as one buffer written here, not through Beast's serializer.
    std::string wire;
    wire.reserve(256 + req.body().size());
    serialise(req, opts, wire);

    // A connection: an idle one, a new one, or wait for one to be freed.
    conn_ptr conn;
    while (!conn) {
        if (!idle_.empty()) {
            conn = std::move(idle_.front());
            idle_.pop_front();
            publish();
        } else if (open_ < cfg_.max_connections) {
            ++open_;
            publish();
            auto fresh = std::make_shared<upstream_conn>(ioc_);
            auto connect_deadline = std::min(request_deadline, start + cfg_.connect_timeout);
            auto [ec, ok] = co_await with_deadline<bool>(
                [&]() -> net::awaitable<std::pair<error_code, bool>> {
                    co_return std::pair<error_code, bool>{co_await connect(fresh->socket), true};
                }(),
                connect_deadline);
            if (ec) {
                --open_;
                wake_one();
                result.ec = ec;
                result.connect_failed = true;
                co_return counted(std::move(result));
            }
            conn = std::move(fresh);
        } else {
            // Wait for a connection to be freed: each waiter has its own timer, set to its
            // deadline, and sits in a FIFO; wake_one() cancels the first waiter's timer. (One
            // shared timer would make each cancel scan every waiter: quadratic under backlog.)
            waiter w{net::steady_timer(ioc_, request_deadline)};
            auto it = waiters_.insert(waiters_.end(), &w);
            auto [ec] = co_await w.timer.async_wait(token);
            if (!w.woken) waiters_.erase(it);
            if (!w.woken) {
                // Expired (or the caller was cancelled): no connection came free in time.
                result.ec = ec ? error_code(net::error::operation_aborted)
                               : error_code(net::error::timed_out);
                result.connect_failed = true;
                result.pool_timeout = !ec;
                co_return counted(std::move(result));
            }
        }
    }

    // Write the request and read the response under the request deadline: the connection's
    // timer cancels its socket when the deadline passes. A cancellation of the calling coroutine
    // (terminal) reaches the socket operation directly and aborts it.
    upstream_conn& c = *conn;
    c.timed_out = false;
    c.timer.expires_at(request_deadline);
    c.timer.async_wait([conn, armed = ++c.armed](error_code ec) {
        if (ec || conn->armed != armed) return;
        conn->timed_out = true;
        error_code ignored;
        conn->socket.cancel(ignored);
    });
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    error_code ec;
    if (auto [wec, wn] = co_await net::async_write(c.socket, net::buffer(wire), token); wec) {
        ec = wec;
    } else if (c.timed_out) {
        ec = net::error::timed_out;  // expired between the write and the read
    } else {
        auto [rec, rn] = co_await http::async_read(c.socket, c.buffer, parser, token);
        ec = rec;
    }
    ++c.armed;  // a deadline handler still queued must not cancel this socket's next use
    c.timer.cancel();
    if (ec && c.timed_out) ec = net::error::timed_out;
    result.ec = ec;
    if (!ec) {
        result.response = parser.release();
        if (result.response.keep_alive() && c.buffer.size() == 0) {
            give_back(std::move(conn));
            co_return counted(std::move(result));
        }
    }
    // Errors, timeouts, cancellation, or a response that ends the connection: close it (never
    // back to the pool half-used).
    c.buffer.clear();
    discard(c);
    wake_one();
    co_return counted(std::move(result));
}

}  // namespace edged::server
