#include "server/router.hpp"

#include <algorithm>
#include <stdexcept>

#include "server/handlers/factory.hpp"
#include "server/handlers/tasks_handler.hpp"

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

router::router(const config::config& cfg, jobs::job_service* jobs,
               lifecycle::route_registry* stats) {
    routes_.reserve(cfg.routes.size() + 1);
    if (jobs) {
        route r;
        r.prefix = jobs->cfg().prefix;
        r.methods = {"GET", "DELETE"};
        r.handler = std::make_unique<tasks_handler>(*jobs);
        r.binding.name = "tasks";
        r.binding.prefix = *r.prefix;
        r.binding.handler = r.handler.get();
        r.binding.limits = lifecycle::lifecycle_limits::of(cfg);
        // ?wait= may hold an answer for jobs.max_wait: the handler timeout must not cut it.
        r.binding.limits.handler_timeout = std::max<std::chrono::nanoseconds>(
            r.binding.limits.handler_timeout, jobs->cfg().max_wait + std::chrono::seconds(5));
        routes_.push_back(std::move(r));
    }
    for (const auto& rc : cfg.routes) {
        route r;
        r.path = rc.match.path;
        r.prefix = rc.match.prefix;
        r.host = rc.match.host;
        r.methods = rc.match.methods;
        const auto limits = lifecycle::lifecycle_limits::of(cfg, rc.lifecycle);
        r.handler = make_handler(
            rc,
            {jobs, std::chrono::duration_cast<std::chrono::milliseconds>(limits.handler_timeout)});
        if (!rc.after.empty()) {
            try {
                r.after = std::make_unique<after_actions>(rc.after);
            } catch (const std::invalid_argument& e) {
                throw std::runtime_error("routes." + rc.name + "." + e.what());
            }
        }
        r.binding.name = rc.name;
        r.binding.prefix = rc.match.prefix ? *rc.match.prefix : rc.match.path.value_or("");
        r.binding.handler = r.handler.get();
        r.binding.after = r.after.get();
        r.binding.limits = limits;
        routes_.push_back(std::move(r));
    }
    if (stats)
        for (auto& r : routes_) r.binding.metrics = &stats->get(r.binding.name);
}

void router::set_handler(std::string_view name, std::shared_ptr<lifecycle::handler> h) {
    for (auto& r : routes_) {
        if (r.name() == name) {
            r.handler = std::move(h);
            r.binding.handler = r.handler.get();
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
