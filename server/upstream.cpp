#include "server/upstream.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "lifecycle/context.hpp"
#include "lifecycle/errors.hpp"
#include "lifecycle/log.hpp"
#include "lifecycle/request_id.hpp"

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

std::string hex16(std::uint64_t v) {
    lifecycle::request_id id;
    id.set_generated(v);
    return std::string(id.view());
}

}  // namespace

std::string make_traceparent(std::string_view trace_id, std::uint64_t r1, std::uint64_t r2,
                             std::uint64_t r3) {
    std::string tp = "00-";
    if (trace_id.size() == 32) {
        tp += trace_id;
    } else {
        tp += hex16(r1);
        tp += hex16(r2);
    }
    tp += '-';
    tp += hex16(r3 | 1);  // a span id of all zeros is invalid
    tp += "-01";
    return tp;
}

upstream_pool::upstream_pool(net::io_context& ioc, const config::upstream_config& cfg)
    : ioc_(ioc), cfg_(cfg) {}

upstream_pool::~upstream_pool() = default;

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

void upstream_pool::give_back(tcp::socket socket) {
    idle_.push_back(std::move(socket));
    while (idle_.size() > cfg_.idle_connections) {
        error_code ec;
        idle_.front().close(ec);
        idle_.pop_front();
        --open_;
    }
    wake_one();
}

void upstream_pool::wake_one() {
    if (waiters_.empty()) return;
    waiter* w = waiters_.front();
    waiters_.pop_front();
    w->woken = true;
    w->timer.cancel();
}

net::awaitable<upstream_result> upstream_pool::send(http::request<http::string_body> req,
                                                    std::size_t max_body) {
    const auto start = std::chrono::steady_clock::now();
    const auto request_deadline = start + cfg_.timeout;
    upstream_result result;

    req.version(11);
    req.set(http::field::host,
            cfg_.port == 80 ? cfg_.host : cfg_.host + ":" + std::to_string(cfg_.port));
    if (!cfg_.base_path.empty()) req.target(cfg_.base_path + std::string(req.target()));
    if (const auto* ctx = lifecycle::current_context()) {
        thread_local lifecycle::id_generator gen = lifecycle::id_generator::seeded();
        req.set("X-Request-Id", ctx->id());
        req.set("traceparent", make_traceparent(ctx->trace_id(), gen(), gen(), gen()));
    }
    req.keep_alive(true);
    req.prepare_payload();

    // A connection: an idle one, a new one, or wait for one to be freed.
    std::optional<tcp::socket> socket;
    while (!socket) {
        if (!idle_.empty()) {
            socket.emplace(std::move(idle_.front()));
            idle_.pop_front();
        } else if (open_ < cfg_.max_connections) {
            ++open_;
            tcp::socket fresh(ioc_);
            auto connect_deadline = std::min(request_deadline, start + cfg_.connect_timeout);
            auto [ec, ok] = co_await with_deadline<bool>(
                [&]() -> net::awaitable<std::pair<error_code, bool>> {
                    co_return std::pair<error_code, bool>{co_await connect(fresh), true};
                }(),
                connect_deadline);
            if (ec) {
                --open_;
                wake_one();
                result.ec = ec;
                result.connect_failed = true;
                co_return result;
            }
            socket.emplace(std::move(fresh));
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
                co_return result;
            }
        }
    }

    // Write the request and read the response under the request deadline.
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    auto exchange = [&]() -> net::awaitable<std::pair<error_code, bool>> {
        auto [wec, wn] = co_await http::async_write(*socket, req, token);
        if (wec) co_return std::pair<error_code, bool>{wec, false};
        auto [rec, rn] = co_await http::async_read(*socket, buffer, parser, token);
        co_return std::pair<error_code, bool>{rec, true};
    };
    auto [ec, ok] = co_await with_deadline<bool>(exchange(), request_deadline);
    result.ec = ec;
    if (!ec) {
        result.response = parser.release();
        if (result.response.keep_alive() && buffer.size() == 0) {
            give_back(std::move(*socket));
            co_return result;
        }
    }
    // Errors, timeouts, cancellation, or a response that ends the connection: close it.
    error_code ignored;
    socket->shutdown(tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
    --open_;
    wake_one();
    co_return result;
}

upstream_set::upstream_set(net::io_context& ioc, const config::config& cfg) {
    for (const auto& u : cfg.upstreams) pools_.push_back(std::make_unique<upstream_pool>(ioc, u));
}

net::awaitable<lifecycle::fetch_result> upstream_set::fetch(std::string_view upstream,
                                                            lifecycle::request req,
                                                            std::size_t max_body) {
    lifecycle::fetch_result out;
    upstream_pool* pool = find(upstream);
    if (!pool) {
        out.ec = lifecycle::errc::unknown_upstream;
        co_return out;
    }
    auto r = co_await pool->send(std::move(req), max_body);
    out.ec = r.ec;
    out.timed_out = r.ec == net::error::timed_out;
    out.connect_failed = r.connect_failed;
    out.response = std::move(r.response);
    co_return out;
}

upstream_pool* upstream_set::find(std::string_view name) {
    for (auto& p : pools_)
        if (p->cfg().name == name) return p.get();
    return nullptr;
}

}  // namespace edged::server
