#pragma once
// The addresses behind one upstream's name, shared by every I/O thread: what the name resolved
// to, and each address's health (passive outlier ejection, active checks). Each thread keeps its
// own connections per address (upstream_pool); what they learn about an address lands here, so
// an address one thread finds dead is left out by all.
//
// Invariants:
// - The list is replaced whole (a new snapshot and a new version) when a lookup returns a
//   different set; an address in both keeps its entry, and with it its health.
// - A failed lookup keeps the last list: a DNS outage never empties a working upstream.
// - At most outlier.max_ejected_percent of the addresses (rounded down) are ejected at once, so
//   passive detection alone never ejects an upstream's only address.
// - Health figures are atomics with relaxed order: they are advice for the next pick, and a
//   race between two threads costs at most one request's choice.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "server/net.hpp"

namespace edged::server {

class address_table {
public:
    using clock = std::chrono::steady_clock;

    struct entry {
        entry(tcp::endpoint e);
        const tcp::endpoint endpoint;
        const std::string text;                      // "127.0.0.1:8080", "[::1]:8080"
        std::atomic<std::uint32_t> failures{0};      // consecutive, for passive ejection
        std::atomic<std::int64_t> ejected_until{0};  // clock ticks; 0: not ejected
        std::atomic<std::uint32_t> ejections_in_row{0};
        std::atomic<std::uint64_t> ejections{0};  // in all, for /stats and metrics
        std::atomic<bool> checked_healthy{true};  // the active health check's verdict
        // The health checker's own counts (only it writes them).
        unsigned check_passes = 0, check_failures = 0;
    };
    using list = std::vector<std::shared_ptr<entry>>;

    explicit address_table(const config::upstream_config& cfg);
    // The same upstream (name, host and port) as served by the generation before a reload:
    // starts from its addresses and their health instead of afresh, so a reload neither sends
    // traffic back to an address that is out nor restarts its counts. What the new config no
    // longer asks for is not carried: ejections and failures when outlier detection is off on
    // either side, the active check's verdict once the check is gone or has another path.
    address_table(const config::upstream_config& cfg, const address_table& before);

    const config::upstream_config& cfg() const { return cfg_; }
    std::shared_ptr<const list> addresses() const;
    // Bumped by every change of the list.
    std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

    // A lookup is due (its interval passed, or a connect failure asked for one) and no other
    // thread has one under way: true once for the caller that should do it.
    bool claim_lookup(clock::time_point now);
    // The lookup's result (`ec` set: it failed and the list stays).
    void looked_up(error_code ec, std::vector<tcp::endpoint> found, clock::time_point now);
    // A connect failure: look the name up again at the next request.
    void lookup_soon();
    // When the last lookup failed, why (for the log and the answer); "" otherwise.
    std::string lookup_error() const;

    // Whether `e` may get requests now: not ejected and not failed by the active check.
    static bool usable(const entry& e, clock::time_point now);
    // Outcomes of exchanges with `e`, for passive ejection.
    void succeeded(entry& e);
    void failed(entry& e, clock::time_point now);

private:
    config::upstream_config cfg_;
    mutable std::mutex mu_;
    std::shared_ptr<const list> list_;
    std::string lookup_error_;
    std::atomic<std::uint64_t> version_{0};
    std::atomic<std::int64_t> next_lookup_{0};  // clock ticks
    std::atomic<bool> looking_up_{false};
};

// Looks the table's name up (getaddrinfo, off the I/O thread) and hands it the result.
net::awaitable<void> look_up(std::shared_ptr<address_table> table);

// Every upstream's table of one config generation, in config order.
struct address_directory {
    // `before`: the directory of the generation a reload replaces (same-named upstreams with
    // the same host and port carry their addresses' health over).
    explicit address_directory(const config::config& cfg,
                               const address_directory* before = nullptr);
    std::shared_ptr<address_table> find(std::string_view name) const;
    std::vector<std::shared_ptr<address_table>> tables;
};

}  // namespace edged::server
