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
    for (const auto& c : by_outcome) sum += c.load();
    return sum;
}

}  // namespace edged::lifecycle
