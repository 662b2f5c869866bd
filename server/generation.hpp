#pragma once
// A config as the process serves it: built on the control thread at start and by each reload
// (server::reload), then read-only and shared by every I/O thread.
//
// A request pins the generation it began under until its lifecycle closes (the lifecycle's
// `pin`, a thread_generation): its route, handler, after-actions, budgets and upstream pools
// stay those of its own config however many reloads come meanwhile. A generation ends when the
// last request that pinned it closes, on the thread it served.

#include <cstdint>
#include <memory>

#include <boost/smart_ptr/local_shared_ptr.hpp>
#include <boost/smart_ptr/make_local_shared.hpp>

#include "config/config.hpp"
#include "lifecycle/limits.hpp"
#include "lifecycle/stats.hpp"
#include "server/http/trusted_proxies.hpp"
#include "server/net.hpp"
#include "server/router.hpp"
#include "server/upstream/upstream_set.hpp"

namespace edged::server {

// The access log's fields (log.access_fields), as bits in the order of
// config::access_log_field_names().
enum class access_field : std::uint8_t {
    request_id,
    method,
    path,
    query,
    status,
    bytes,
    duration_us,
    route,
    remote,
    peer,
    host,
    user_agent,
    referer,
    bytes_received,
    upstream,
    upstream_us
};
inline constexpr bool has(std::uint32_t mask, access_field f) {
    return (mask >> static_cast<unsigned>(f)) & 1u;
}

struct generation {
    // Builds the route table; throws std::runtime_error for a config it cannot serve.
    // `before`: the generation a reload replaces, whose upstreams' health carries over.
    generation(config::config c, std::uint64_t number, jobs::job_service* jobs,
               lifecycle::route_registry* stats, const generation* before = nullptr);

    const config::config cfg;
    const std::uint64_t number;  // 1 at start, +1 for each reload that took effect
    router routes;
    trusted_proxies trusted;      // server.trusted_proxies
    address_directory addresses;  // every upstream's addresses and their health
    std::uint32_t access_fields;  // log.access_fields as a mask (access_field bits)
};

// One I/O thread's part of a generation: its upstream pools (a thread's connections never
// cross threads) and the lifecycle defaults for requests no route answers. Built, used and
// released only on that thread, so its count of pins needs no atomics (local_shared_ptr).
struct thread_generation {
    thread_generation(net::io_context& ioc, std::shared_ptr<const generation> g,
                      upstream_registry* stats, std::size_t thread);

    std::shared_ptr<const generation> shared;
    upstream_set upstreams;
    lifecycle::lifecycle_limits defaults;
};

using thread_generation_ptr = boost::local_shared_ptr<thread_generation>;

}  // namespace edged::server
