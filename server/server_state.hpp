#pragma once
// State shared by every I/O thread and the control thread. Only atomics: the hot path takes
// no locks.

#include <atomic>
#include <cstdint>

#include "lifecycle/outcome.hpp"

namespace edged::server {

struct server_state {
    std::atomic<bool> ready{false};  // /readyz answers 200 while true
    std::atomic<std::uint64_t> open_connections{0};
    std::atomic<std::uint64_t> connections_accepted{0};
    std::atomic<std::uint64_t> connections_rejected{0};  // over max_connections
    std::atomic<std::uint64_t> requests{0};
    lifecycle::task_counters tasks;
};

}  // namespace edged::server
