#include "server/router.hpp"

#include <algorithm>
#include <stdexcept>

#include "server/handlers/factory.hpp"

namespace edged::server {

bool route::matches_target(std::string_view req_host, std::string_view req_path) const {
    if (host && *host != req_host) return false;
    if (path) return *path == req_path;
    return req_path.starts_with(*prefix);
}

bool route::allows(std::string_view method) const {
    if (methods.empty()) return true;
    for (const auto& m : methods) {
        if (m == method) return true;
        if (method == "HEAD" && m == "GET") return true;
    }
    return false;
}

lifecycle::lifecycle_limits lifecycle_limits_of(const config::lifecycle_config& d,
                                                const config::lifecycle_overrides& r) {
    lifecycle::lifecycle_limits l;
    l.max_wait_until = r.max_wait_until.value_or(d.max_wait_until);
    l.max_subrequests = r.max_subrequests.value_or(d.max_subrequests);
    l.budget.wall = r.wall_budget.value_or(d.wall_budget);
    l.budget.cpu = r.cpu_budget.value_or(d.cpu_budget);
    return l;
}

router::router(const config::config& cfg) {
    routes_.reserve(cfg.routes.size());
    for (const auto& rc : cfg.routes) {
        route r;
        r.name = rc.name;
        r.path = rc.match.path;
        r.prefix = rc.match.prefix;
        r.host = rc.match.host;
        r.methods = rc.match.methods;
        r.handler = make_handler(rc);
        r.limits = lifecycle_limits_of(cfg.lifecycle, rc.lifecycle);
        if (!rc.after.empty()) {
            try {
                r.after = std::make_unique<after_actions>(rc.after);
            } catch (const std::invalid_argument& e) {
                throw std::runtime_error("routes." + rc.name + "." + e.what());
            }
        }
        routes_.push_back(std::move(r));
    }
}

void router::set_handler(std::string_view name, std::unique_ptr<lifecycle::handler> h) {
    for (auto& r : routes_) {
        if (r.name == name) {
            r.handler = std::move(h);
            return;
        }
    }
    throw std::invalid_argument("no route named " + std::string(name));
}

router::result router::match(std::string_view host, std::string_view path,
                             std::string_view method) const {
    result res;
    bool target_matched = false;
    for (const auto& r : routes_) {
        if (!r.matches_target(host, path)) continue;
        if (r.allows(method)) {
            res.matched = &r;
            return res;
        }
        target_matched = true;
    }
    if (!target_matched) return res;
    // 405: list the methods of every route that matched the target (rare path; allocation ok).
    std::vector<std::string> allowed;
    for (const auto& r : routes_) {
        if (!r.matches_target(host, path)) continue;
        for (const auto& m : r.methods) {
            if (std::find(allowed.begin(), allowed.end(), m) == allowed.end()) allowed.push_back(m);
            if (m == "GET" && std::find(allowed.begin(), allowed.end(), "HEAD") == allowed.end())
                allowed.push_back("HEAD");
        }
    }
    for (const auto& m : allowed) {
        if (!res.allow.empty()) res.allow += ", ";
        res.allow += m;
    }
    return res;
}

}  // namespace edged::server
