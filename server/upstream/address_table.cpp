#include "server/upstream/address_table.hpp"

#include <algorithm>

#include "lifecycle/log.hpp"

namespace edged::server {
namespace {

std::int64_t ticks(address_table::clock::time_point t) {
    return t.time_since_epoch().count();
}

std::string endpoint_text(const tcp::endpoint& e) {
    const auto a = e.address();
    return a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(e.port())
                     : a.to_string() + ":" + std::to_string(e.port());
}

}  // namespace

address_table::entry::entry(tcp::endpoint e) : endpoint(e), text(endpoint_text(e)) {}

address_table::address_table(const config::upstream_config& cfg)
    : cfg_(cfg), list_(std::make_shared<const list>()) {}

address_table::address_table(const config::upstream_config& cfg, const address_table& before)
    : address_table(cfg) {
    const bool carry_ejections =
        cfg.outlier.consecutive_failures > 0 && before.cfg().outlier.consecutive_failures > 0;
    const bool carry_verdict =
        !cfg.health_check.path.empty() && cfg.health_check.path == before.cfg().health_check.path;
    auto carried = std::make_shared<list>();
    for (const auto& old : *before.addresses()) {
        auto e = std::make_shared<entry>(old->endpoint);
        e->ejections.store(old->ejections.load(std::memory_order_relaxed));
        if (carry_ejections) {
            e->failures.store(old->failures.load(std::memory_order_relaxed));
            e->ejected_until.store(old->ejected_until.load(std::memory_order_relaxed));
            e->ejections_in_row.store(old->ejections_in_row.load(std::memory_order_relaxed));
        }
        if (carry_verdict) e->checked_healthy.store(old->checked_healthy.load());
        // (The old generation's checker may still be counting: its counts are not read here.)
        carried->push_back(std::move(e));
    }
    list_ = std::move(carried);
    // Looked up again at the first use, as at start: entries in both lists keep their health.
}

std::shared_ptr<const address_table::list> address_table::addresses() const {
    std::lock_guard lock(mu_);
    return list_;
}

std::string address_table::lookup_error() const {
    std::lock_guard lock(mu_);
    return lookup_error_;
}

bool address_table::claim_lookup(clock::time_point now) {
    if (ticks(now) < next_lookup_.load(std::memory_order_relaxed)) return false;
    return !looking_up_.exchange(true, std::memory_order_acq_rel);
}

void address_table::lookup_soon() {
    next_lookup_.store(0, std::memory_order_relaxed);
}

void address_table::looked_up(error_code ec, std::vector<tcp::endpoint> found,
                              clock::time_point now) {
    // After a failure, again within a second (or the interval, if shorter); after a success,
    // after the interval (0: not until a connect failure asks).
    const auto interval = std::chrono::duration_cast<clock::duration>(cfg_.resolve_interval);
    clock::duration next = interval.count() > 0 ? interval : clock::duration::max() / 4;
    if (ec) next = std::min<clock::duration>(next, std::chrono::seconds(1));
    next_lookup_.store(ticks(now + next), std::memory_order_relaxed);
    {
        std::lock_guard lock(mu_);
        if (ec) {
            lookup_error_ = ec.message();
        } else {
            lookup_error_.clear();
            std::sort(found.begin(), found.end());
            found.erase(std::unique(found.begin(), found.end()), found.end());
            bool same = found.size() == list_->size();
            for (std::size_t i = 0; same && i < found.size(); ++i)
                same = (*list_)[i]->endpoint == found[i];
            if (!same) {
                auto fresh = std::make_shared<list>();
                for (const auto& ep : found) {
                    auto old = std::find_if(list_->begin(), list_->end(),
                                            [&](const auto& e) { return e->endpoint == ep; });
                    fresh->push_back(old != list_->end() ? *old : std::make_shared<entry>(ep));
                }
                list_ = std::move(fresh);
                version_.fetch_add(1, std::memory_order_acq_rel);
            }
        }
    }
    if (ec)
        lifecycle::log::event("upstream lookup failed")
            .str("upstream", cfg_.name)
            .str("host", cfg_.host)
            .str("error", ec.message())
            .warn();
    looking_up_.store(false, std::memory_order_release);
}

bool address_table::usable(const entry& e, clock::time_point now) {
    return e.checked_healthy.load(std::memory_order_relaxed) &&
           e.ejected_until.load(std::memory_order_relaxed) <= ticks(now);
}

void address_table::succeeded(entry& e) {
    if (e.failures.load(std::memory_order_relaxed) != 0)
        e.failures.store(0, std::memory_order_relaxed);
    // Back from an ejection (it was picked, so its time ran out) and serving: the next ejection
    // starts again from ejection_time.
    if (e.ejections_in_row.load(std::memory_order_relaxed) != 0) {
        e.ejections_in_row.store(0, std::memory_order_relaxed);
        e.ejected_until.store(0, std::memory_order_relaxed);
    }
}

void address_table::failed(entry& e, clock::time_point now) {
    const auto& o = cfg_.outlier;
    const auto failures = e.failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (o.consecutive_failures == 0 || failures < o.consecutive_failures) return;
    if (e.ejected_until.load(std::memory_order_relaxed) > ticks(now)) return;  // already out
    const auto current = addresses();
    std::size_t out = 0;
    for (const auto& a : *current)
        if (a.get() != &e && a->ejected_until.load(std::memory_order_relaxed) > ticks(now)) ++out;
    const std::size_t allowed = current->size() * o.max_ejected_percent / 100;
    if (out + 1 > allowed) return;  // keep serving from it: too many are out already
    // Each ejection in a row doubles the time, up to the maximum.
    const auto in_row = std::min<std::uint32_t>(e.ejections_in_row.fetch_add(1), 16u);
    auto length = std::chrono::duration_cast<clock::duration>(o.ejection_time) * (1u << in_row);
    length = std::min(length, std::chrono::duration_cast<clock::duration>(o.max_ejection_time));
    e.ejected_until.store(ticks(now + length), std::memory_order_relaxed);
    e.failures.store(0, std::memory_order_relaxed);
    e.ejections.fetch_add(1, std::memory_order_relaxed);
    lifecycle::log::event("upstream address ejected")
        .str("upstream", cfg_.name)
        .str("address", e.text)
        .unum("failures", failures)
        .num("for_ms", std::chrono::duration_cast<std::chrono::milliseconds>(length).count())
        .warn();
}

net::awaitable<void> look_up(std::shared_ptr<address_table> table) {
    tcp::resolver resolver(co_await net::this_coro::executor);
    const auto& cfg = table->cfg();
    auto [ec, results] = co_await resolver.async_resolve(cfg.host, std::to_string(cfg.port),
                                                         net::as_tuple(net::use_awaitable));
    std::vector<tcp::endpoint> found;
    if (!ec)
        for (const auto& r : results) found.push_back(r.endpoint());
    if (!ec && found.empty()) ec = net::error::host_not_found;
    table->looked_up(ec, std::move(found), address_table::clock::now());
}

address_directory::address_directory(const config::config& cfg, const address_directory* before) {
    for (const auto& u : cfg.upstreams) {
        const auto old = before ? before->find(u.name) : nullptr;
        if (old && old->cfg().host == u.host && old->cfg().port == u.port)
            tables.push_back(std::make_shared<address_table>(u, *old));
        else
            tables.push_back(std::make_shared<address_table>(u));
    }
}

std::shared_ptr<address_table> address_directory::find(std::string_view name) const {
    for (const auto& t : tables)
        if (t->cfg().name == name) return t;
    return nullptr;
}

}  // namespace edged::server
