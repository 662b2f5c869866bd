#include "server/upstream/upstream_set.hpp"

#include "lifecycle/errors.hpp"

namespace edged::server {
namespace {

// How an exchange failed, as the handler API says it (fetch_result, stream_result).
template <class Result>
void report(Result& out, error_code ec, exchange_failure why) {
    out.ec = ec;
    out.timed_out = ec == net::error::timed_out || why == exchange_failure::pool_timeout;
    out.connect_failed = before_sent(why);
}

}  // namespace

upstream_set::upstream_set(net::io_context& ioc, const address_directory& addresses,
                           upstream_registry* stats, std::size_t thread) {
    if (!stats) {
        own_stats_ = std::make_unique<upstream_registry>(1);
        stats = own_stats_.get();
        thread = 0;
    }
    for (const auto& table : addresses.tables) {
        auto& figures = stats->get(table->cfg().name).at(thread);
        pools_.push_back(std::make_unique<upstream_pool>(ioc, table, figures));
    }
}

void upstream_set::count_rejected(std::string_view upstream) noexcept {
    if (upstream_pool* pool = find(upstream)) pool->stats().count(subrequest_outcome::rejected);
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
    report(out, r.ec, r.failure);
    out.response = std::move(r.response);
    co_return out;
}

net::awaitable<lifecycle::stream_result> upstream_set::open(std::string_view upstream,
                                                            const lifecycle::request& req,
                                                            lifecycle::stream_options opts) {
    lifecycle::stream_result out;
    upstream_pool* pool = find(upstream);
    if (!pool) {
        out.ec = lifecycle::errc::unknown_upstream;
        co_return out;
    }
    send_options o;
    o.retries = opts.retries;
    o.max_body = opts.max_body;
    o.block = opts.block;
    o.body = std::move(opts.body);
    auto r = co_await pool->open(req, o);
    report(out, r.ec, r.failure);
    out.unavailable = r.failure == exchange_failure::no_healthy;
    out.body_failed = r.failure == exchange_failure::body;
    if (r.body) {
        out.head = r.body->head();
        out.body = std::move(r.body);
    }
    co_return out;
}

upstream_pool* upstream_set::find(std::string_view name) {
    for (auto& p : pools_)
        if (p->cfg().name == name) return p.get();
    return nullptr;
}

}  // namespace edged::server
