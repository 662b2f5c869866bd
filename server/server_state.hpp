#pragma once
// What every I/O thread and the control thread share. The request path reads `ready` and
// writes nothing here but its own thread's slots of the figures (lifecycle/stats.hpp); the one
// shared count it moves is open_connections, at accept and close — admission for
// max_connections, which is per process.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lifecycle/outcome.hpp"
#include "lifecycle/stats.hpp"
#include "server/upstream/upstream_stats.hpp"

namespace edged::server {

struct server_state {
    explicit server_state(std::size_t threads)
        : routes(threads), upstreams(threads), unrouted(&routes.get(lifecycle::unrouted_name)) {}

    std::atomic<bool> ready{false};  // /readyz answers 200 while true
    std::atomic<std::uint64_t> open_connections{0};
    lifecycle::task_cap tasks;  // lifecycle.max_background_tasks, process-wide
    // Figures by route and by upstream, one slot per I/O thread, kept across reloads.
    lifecycle::route_registry routes;
    upstream_registry upstreams;
    lifecycle::route_metrics* unrouted;  // requests no route matched
};

}  // namespace edged::server
