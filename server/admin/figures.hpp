#pragma once
// The process's figures at one moment, as the admin listener shows them: GET /metrics in the
// Prometheus text format (through prometheus-cpp's serializer) and GET /stats as JSON, from the
// same snapshot, so the two always agree. The snapshot is taken at scrape time from the
// per-thread counters (lifecycle/stats.hpp): nothing is kept in a metrics library's own
// registry, and the request path never sees this file.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lifecycle/outcome.hpp"
#include "lifecycle/pool/worker_pool.hpp"
#include "lifecycle/stats.hpp"
#include "server/upstream/upstream_stats.hpp"

namespace edged::server {

struct route_figures {
    std::string name;
    std::vector<std::pair<unsigned, std::uint64_t>> by_status;  // statuses seen, ascending
    std::uint64_t other_status = 0;
    lifecycle::histogram_totals to_flush, post_response, cpu;
    std::array<std::uint64_t, lifecycle::outcome_count> tasks{};

    std::uint64_t requests() const;
    void add(const lifecycle::route_stats& s);  // one thread's slot
};

struct upstream_figures {
    std::string name;
    std::array<std::uint64_t, subrequest_outcome_count> by_outcome{};
    std::int64_t idle = 0, active = 0;
    // The addresses its name resolves to now (the current config's), with their health.
    struct address {
        std::string text;
        std::string state;  // healthy | ejected | unhealthy (the active check failed it)
        std::uint64_t ejections = 0;
        std::uint32_t failures = 0;  // consecutive, towards the next ejection
    };
    std::vector<address> addresses;
    std::string lookup_error;  // why the last lookup failed, "" when it did not

    void add(const upstream_stats& s);
};

struct job_figures {
    std::string store;
    std::int64_t pending = 0, running = 0;
    std::uint64_t unfinished = 0;  // pending, running or writing their end
    std::uint64_t submitted = 0, replayed = 0, rejected = 0, succeeded = 0, failed = 0,
                  cancelled = 0, store_errors = 0;
};

struct figures {
    bool ready = false;
    std::uint64_t generation = 0;  // the config generation serving new requests
    std::uint64_t connections_active = 0;
    std::uint64_t connections_accepted = 0, connections_rejected = 0;
    std::uint64_t connections_evicted = 0;  // gave way at max_connections, waiting for a head
    std::vector<route_figures> routes;      // configured routes, then "(none)"
    std::vector<upstream_figures> upstreams;
    lifecycle::task_totals tasks;
    std::optional<lifecycle::worker_pool::stats> pool;
    std::optional<job_figures> jobs;
    std::uint64_t reloads_ok = 0, reloads_error = 0;

    std::uint64_t requests() const;
};

// "text/plain; version=0.0.4" exposition of `f` (every metric edged_*; see README).
std::string to_prometheus(const figures& f);
// The /stats document.
nlohmann::json to_json(const figures& f);

}  // namespace edged::server
