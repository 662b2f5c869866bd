#pragma once
// The built-in handler a route's `handler:` section configures.

#include <chrono>
#include <memory>

#include "config/config.hpp"
#include "lifecycle/handler.hpp"

namespace edged::server {

namespace jobs {
class job_service;
}

// What some handlers need besides their config.
struct handler_deps {
    jobs::job_service* jobs = nullptr;             // set when a route has a job handler
    std::chrono::milliseconds handler_timeout{0};  // the route's
};

// Throws std::runtime_error naming the route for a handler it cannot build.
std::unique_ptr<lifecycle::handler> make_handler(const config::route_config& rc,
                                                 const handler_deps& deps = {});

}  // namespace edged::server
