#include "server/upstream/upstream_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "lifecycle/errors.hpp"
#include "server/upstream/upstream_conn.hpp"

namespace edged::server {
namespace {

// RFC 9110 §9.2.2: a request that may be sent twice with the effect of once.
bool idempotent(http::verb m) {
    return m == http::verb::get || m == http::verb::head || m == http::verb::options ||
           m == http::verb::trace || m == http::verb::put || m == http::verb::delete_;
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

net::awaitable<upstream_pool::acquired> upstream_pool::acquire(
    const std::shared_ptr<address_pool>& home, clock::time_point start,
    clock::time_point deadline) {
    address_pool& ap = *home;
    acquired out;
    for (;;) {
        if (!ap.idle.empty()) {
            out.conn = std::move(ap.idle.back());  // the most recently used: warmest
            ap.idle.pop_back();
            publish();
            out.reused = true;
            co_return out;
        }
        if (ap.open < cfg().max_connections) {
            ++ap.open;
            ++open_;
            publish();
            auto fresh = std::make_shared<upstream_conn>(ioc_, home);
            fresh->buffer.reserve(16 * 1024);  // Beast reads what the capacity allows
            const auto connect_deadline = std::min(deadline, start + cfg().connect_timeout);
            out.ec =
                co_await with_deadline(connect(fresh->socket, ap.addr->endpoint), connect_deadline);
            if (out.ec) {
                --ap.open;
                --open_;
                wake_one(ap);
                publish();
                out.failure = exchange_failure::connect;
                co_return out;
            }
            // Synchronous reads (upstream_body's fill) must not wait; async ones are unchanged.
            error_code ignored;
            fresh->socket.non_blocking(true, ignored);
            out.conn = std::move(fresh);
            co_return out;
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
            if (wec) {
                out.ec = net::error::operation_aborted;
                out.failure = exchange_failure::connect;
            } else {
                out.ec = net::error::timed_out;
                out.failure = exchange_failure::pool_timeout;
            }
            co_return out;
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

net::awaitable<upstream_stream> upstream_pool::open(const http::request<http::string_body>& req,
                                                    send_options opts) {
    const auto start = clock::now();
    const auto deadline = start + opts.timeout.value_or(cfg().timeout);
    upstream_stream out;
    const auto fail = [&](exchange_failure why, error_code ec, subrequest_outcome counted) {
        out.failure = why;
        out.ec = ec;
        count(counted);
        return out;
    };

    // The request goes out as one buffer written here, not through Beast's serializer.
    std::string wire;
    wire.reserve(256 + req.body().size());
    serialise(req, opts, wire);

    const bool may_repeat = idempotent(req.method());
    unsigned retries_left = may_repeat ? opts.retries : 0;
    bool stale_retry = may_repeat;  // once: a pooled connection the origin closed meanwhile
    const address_pool* avoid = nullptr;
    for (;;) {
        if (auto ec = co_await refresh_addresses())
            co_return fail(exchange_failure::connect, ec, subrequest_outcome::connect_error);
        // Held: keeps the address's pool alive across a change of the list.
        const std::shared_ptr<address_pool> home = pick(avoid);
        if (!home)
            co_return fail(exchange_failure::no_healthy, lifecycle::errc::no_healthy_upstream,
                           subrequest_outcome::unavailable);
        const auto retry_elsewhere = [&] {
            if (retries_left == 0 || clock::now() >= deadline) return false;
            --retries_left;
            avoid = home.get();
            return true;
        };
        attempt a = co_await try_exchange(home, req, wire, opts, start, deadline);
        switch (a.failure) {
            case exchange_failure::pool_timeout:
                co_return fail(a.failure, lifecycle::errc::upstream_busy, subrequest_outcome::busy);
            case exchange_failure::connect:
                if (a.ec == net::error::operation_aborted)
                    co_return fail(a.failure, a.ec, subrequest_outcome::cancelled);
                table_->failed(*home->addr, clock::now());
                table_->lookup_soon();            // the name may point elsewhere now
                if (retry_elsewhere()) continue;  // a connect timeout too
                co_return fail(a.failure, a.ec,
                               a.ec == net::error::timed_out ? subrequest_outcome::timeout
                                                             : subrequest_outcome::connect_error);
            case exchange_failure::body:  // nothing to send again
                co_return fail(a.failure, a.ec, subrequest_outcome::cancelled);
            default:
                break;
        }
        if (a.ec) {
            if (a.body_pulled) {  // that body is gone: the request cannot be sent again
                retries_left = 0;
                stale_retry = false;
            }
            const auto o = outcome_of(a.ec);
            if (o == subrequest_outcome::error || o == subrequest_outcome::timeout) {
                if (a.nothing_back && a.reused && stale_retry && o == subrequest_outcome::error) {
                    // The origin closed this idle connection as we reused it: not its failure.
                    stale_retry = false;
                    continue;
                }
                table_->failed(*home->addr, clock::now());
                if (a.nothing_back && o == subrequest_outcome::error && retry_elsewhere()) continue;
            }
            co_return fail(exchange_failure::none, a.ec, o);
        }

        // The head is here: the status tells the address's health.
        auto& body = *a.body;
        auto& p = body.parser_;
        if (p.get().result_int() >= 500)
            table_->failed(*home->addr, clock::now());
        else
            table_->succeeded(*home->addr);
        if (auto len = p.content_length()) body.length_ = *len;
        if (p.is_done()) {
            // Bodiless (HEAD, 1xx, 204, 304, Content-Length: 0): the connection is free now.
            body.done_ = true;
            body.finish(p.keep_alive() && p.get().result_int() != 101);
        }
        out.body = std::move(a.body);
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
    result.failure = st.failure;
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

}  // namespace edged::server
