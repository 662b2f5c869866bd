#pragma once
// How a registered background task ended. Every task registered with wait_until ends in exactly
// one outcome, and each outcome is counted once.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lifecycle/owned_counter.hpp"

namespace edged::lifecycle {

enum class outcome : std::uint8_t {
    completed,
    failed,
    cancelled_wall_budget,
    cancelled_cpu_budget,
    cancelled_shutdown,
    rejected_overflow,
};
inline constexpr std::size_t outcome_count = 6;

// "completed", "failed", "cancelled:wall_budget", ... (the names used in logs and metrics).
std::string_view to_string(outcome o);

// One I/O thread's task counters; its thread is their one writer (lifecycle/stats.hpp).
struct task_counters {
    std::array<owned_counter, outcome_count> by_outcome{};
    owned_counter registered;  // every wait_until call, accepted or not
    owned_gauge running;       // accepted and not yet ended
    owned_counter subrequests;
    owned_counter subrequests_rejected;

    void count(outcome o) { by_outcome[static_cast<std::size_t>(o)].add(); }
    std::uint64_t get(outcome o) const { return by_outcome[static_cast<std::size_t>(o)].get(); }
    std::uint64_t ended() const;  // every outcome, rejections included
};

// Every thread's task_counters summed (read by /stats, /metrics and the shutdown summary).
struct task_totals {
    std::array<std::uint64_t, outcome_count> by_outcome{};
    std::uint64_t registered = 0;
    std::int64_t running = 0;
    std::uint64_t subrequests = 0;
    std::uint64_t subrequests_rejected = 0;

    void add(const task_counters& c);
    std::uint64_t get(outcome o) const { return by_outcome[static_cast<std::size_t>(o)]; }
    std::uint64_t ended() const;
};

// The process-wide cap on background tasks (lifecycle.max_background_tasks): the one count
// every I/O thread shares, touched when a task is accepted and when it ends — admission, like
// max_connections, not a figure for metrics.
struct task_cap {
    std::atomic<std::int64_t> reserved{0};
};

// What a shutdown did to the background tasks: a mark taken when it starts, the tally when it
// ends. Rejections are not tasks that ran, so they count on neither side.
struct shutdown_mark {
    std::uint64_t running = 0;    // tasks running at the start
    std::uint64_t ran_ended = 0;  // tasks that had ended, rejections not counted
    std::uint64_t cancelled = 0;  // cancelled:shutdown so far
};
struct shutdown_tally {
    std::uint64_t pending = 0;    // running when the shutdown started
    std::uint64_t drained = 0;    // ended on their own since (completed, failed, own budgets)
    std::uint64_t cancelled = 0;  // cancelled:shutdown since
};
shutdown_mark mark_shutdown(const task_totals& c);
shutdown_tally tally_shutdown(const task_totals& c, const shutdown_mark& since);

}  // namespace edged::lifecycle
