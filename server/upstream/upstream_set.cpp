#include "server/upstream/upstream_set.hpp"

#include "lifecycle/errors.hpp"

namespace edged::server {

upstream_set::upstream_set(net::io_context& ioc, const config::config& cfg,
                           upstream_registry* stats, std::size_t thread) {
    if (!stats) {
        own_stats_ = std::make_unique<upstream_registry>(1);
        stats = own_stats_.get();
        thread = 0;
    }
    for (const auto& u : cfg.upstreams) {
        auto& figures = stats->get(u.name).at(thread);
        pools_.push_back(std::make_unique<upstream_pool>(ioc, u, figures));
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
    out.ec = r.ec;
    out.timed_out = r.ec == net::error::timed_out;
    if (r.pool_timeout) out.ec = lifecycle::errc::upstream_busy;  // say why, not just "timed out"
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
