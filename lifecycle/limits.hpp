#pragma once
// The limits one request's lifecycle runs under: config's `lifecycle` section with the matched
// route's overrides, and the handler timeout. Built once per route with the route table; the
// defaults are config's (config/config.hpp), written once, there.

#include <chrono>
#include <cstddef>

#include "config/config.hpp"
#include "lifecycle/budget.hpp"

namespace edged::lifecycle {

struct lifecycle_limits {
    std::size_t max_wait_until = config::lifecycle_config{}.max_wait_until;
    std::size_t max_subrequests = config::lifecycle_config{}.max_subrequests;
    budget_limits budget;
    // An asynchronous handler's own time (server.timeouts.handler); past it: 504.
    std::chrono::nanoseconds handler_timeout{config::timeouts_config{}.handler};

    // `cfg`'s lifecycle defaults and handler timeout with a route's overrides applied.
    static lifecycle_limits of(const config::config& cfg,
                               const config::lifecycle_overrides& route = {});
};

}  // namespace edged::lifecycle
