#include "lifecycle/outcome.hpp"

namespace edged::lifecycle {

std::string_view to_string(outcome o) {
    switch (o) {
        case outcome::completed:
            return "completed";
        case outcome::failed:
            return "failed";
        case outcome::cancelled_wall_budget:
            return "cancelled:wall_budget";
        case outcome::cancelled_cpu_budget:
            return "cancelled:cpu_budget";
        case outcome::cancelled_shutdown:
            return "cancelled:shutdown";
        case outcome::rejected_overflow:
            return "rejected:overflow";
    }
    return "unknown";
}

std::uint64_t task_counters::ended() const {
    std::uint64_t sum = 0;
    for (const auto& c : by_outcome) sum += c.get();
    return sum;
}

void task_totals::add(const task_counters& c) {
    for (std::size_t i = 0; i < outcome_count; ++i) by_outcome[i] += c.by_outcome[i].get();
    registered += c.registered.get();
    running += c.running.get();
    subrequests += c.subrequests.get();
    subrequests_rejected += c.subrequests_rejected.get();
}

std::uint64_t task_totals::ended() const {
    std::uint64_t sum = 0;
    for (auto n : by_outcome) sum += n;
    return sum;
}

shutdown_mark mark_shutdown(const task_totals& c) {
    shutdown_mark m;
    const auto running = c.running;
    m.running = running > 0 ? static_cast<std::uint64_t>(running) : 0;
    m.ran_ended = c.ended() - c.get(outcome::rejected_overflow);
    m.cancelled = c.get(outcome::cancelled_shutdown);
    return m;
}

shutdown_tally tally_shutdown(const task_totals& c, const shutdown_mark& since) {
    shutdown_tally t;
    t.pending = since.running;
    t.cancelled = c.get(outcome::cancelled_shutdown) - since.cancelled;
    t.drained = c.ended() - c.get(outcome::rejected_overflow) - since.ran_ended - t.cancelled;
    return t;
}

}  // namespace edged::lifecycle
