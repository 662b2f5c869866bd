#pragma once
// The route table: built once from config, read-only afterwards, shared by all I/O threads.
//
// Matching: routes are tried in file order; a route matches when its host (if any), its path
// (exact) or prefix, and its methods (if any) match; the first match wins. When some route
// matched host and path but none the method, the answer is 405 with Allow listing the methods of
// every route that matched host and path. A route that lists GET also answers HEAD.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "lifecycle/stats.hpp"
#include "server/after/after_actions.hpp"

namespace edged::server {

namespace jobs {
class job_service;
}

struct route {
    std::optional<std::string> path;
    std::optional<std::string> prefix;
    std::optional<std::string> host;
    std::vector<std::string> methods;             // empty = any
    std::shared_ptr<lifecycle::handler> handler;  // shared: a C++ handler outlives reloads
    std::unique_ptr<after_actions> after;         // null when the route has none
    // What its requests' lifecycles need: name, prefix, the two above, the lifecycle limits.
    lifecycle::route_binding binding;

    const std::string& name() const { return binding.name; }
    bool matches_target(std::string_view host, std::string_view path) const;
    // Its requests are dispatched once their head is read, the body streamed to the handler.
    bool streams_body() const {
        return handler->streams_request_body() && !(after && after->reads_request_body());
    }
    bool allows(std::string_view method) const;
};

class router {
public:
    // Builds every route's handler. Throws std::runtime_error naming the route when a handler
    // cannot be built (for example a handler kind this build does not serve yet).
    // `jobs`: the job service when a route has a job handler; the status API (jobs.prefix) is
    // then the first route, named "tasks".
    // `stats`: where each route's requests count, found by its name (null: in the runtime's own
    // slot, for tests).
    explicit router(const config::config& cfg, jobs::job_service* jobs = nullptr,
                    lifecycle::route_registry* stats = nullptr);
    router(router&&) = default;

    struct result {
        const route* matched = nullptr;  // set when a route matched
        std::string allow;               // set when only the method was wrong (405)
    };
    result match(std::string_view host, std::string_view path, std::string_view method) const;

    const std::vector<route>& routes() const { return routes_; }
    // Replaces the handler of the route `name` (for programs that embed edged and write their
    // handlers in C++). Throws std::invalid_argument for an unknown route.
    void set_handler(std::string_view name, std::shared_ptr<lifecycle::handler> h);

private:
    std::vector<route> routes_;
};

}  // namespace edged::server
