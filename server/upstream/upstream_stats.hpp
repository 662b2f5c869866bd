#pragma once
// One upstream's figures on one I/O thread (kept as lifecycle/stats.hpp describes: per thread,
// one writer, summed by a scrape): how its subrequests ended, and its pooled connections.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lifecycle/stats.hpp"

namespace edged::server {

// How one subrequest (ctx.fetch, a proxied request, an after-action, a job's exchange) ended.
enum class subrequest_outcome : std::uint8_t {
    ok,             // a response was read (any status)
    rejected,       // refused before it started: over lifecycle.max_subrequests
    connect_error,  // no connection could be made (refused, unreachable, name not resolved)
    timeout,        // the upstream's timeout (or the job's) ran out
    busy,           // no pooled connection came free in time (upstreams.*.max_connections)
    too_large,      // the response was over the caller's size limit
    cancelled,      // the caller was cancelled (a budget, a handler timeout, shutdown)
    error,          // anything else: a reset, a response that is not HTTP
    unavailable,    // no address was usable: all ejected or failing their health check
};
inline constexpr std::size_t subrequest_outcome_count = 9;
std::string_view to_string(subrequest_outcome o);

struct alignas(64) upstream_stats {
    std::array<lifecycle::owned_counter, subrequest_outcome_count> by_outcome{};
    lifecycle::owned_gauge idle;    // open and waiting in the pool
    lifecycle::owned_gauge active;  // open and carrying an exchange (or connecting)

    void count(subrequest_outcome o) { by_outcome[static_cast<std::size_t>(o)].add(); }
};

using upstream_metrics = lifecycle::per_thread<upstream_stats>;
using upstream_registry = lifecycle::stats_registry<upstream_stats>;

}  // namespace edged::server
