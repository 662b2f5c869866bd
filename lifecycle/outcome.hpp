#pragma once
// How a registered background task ended. Every task registered with wait_until ends in exactly
// one outcome, and each outcome is counted once.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

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

// Process-wide task counters, shared by every I/O thread.
struct task_counters {
    std::array<std::atomic<std::uint64_t>, outcome_count> by_outcome{};
    std::atomic<std::uint64_t> registered{0};  // every wait_until call, accepted or not
    std::atomic<std::int64_t> running{0};      // accepted and not yet ended (process-wide cap)
    std::atomic<std::uint64_t> subrequests{0};
    std::atomic<std::uint64_t> subrequests_rejected{0};

    void count(outcome o) { by_outcome[static_cast<std::size_t>(o)].fetch_add(1); }
    std::uint64_t get(outcome o) const { return by_outcome[static_cast<std::size_t>(o)].load(); }
    std::uint64_t ended() const;  // every outcome, rejections included
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
shutdown_mark mark_shutdown(const task_counters& c);
shutdown_tally tally_shutdown(const task_counters& c, const shutdown_mark& since);

}  // namespace edged::lifecycle
