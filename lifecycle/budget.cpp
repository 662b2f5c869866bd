#include "lifecycle/budget.hpp"

#include <algorithm>

namespace edged::lifecycle {

system_clock_source& system_clock_source::instance() {
    static system_clock_source c;
    return c;
}

void budget::reset(budget_limits limits) {
    limits_ = limits;
    wall_deadline_ = time_point::max();
    cpu_used_ = std::chrono::nanoseconds{0};
}

std::optional<outcome> budget::exhausted(time_point now) const {
    if (cpu_exhausted()) return outcome::cancelled_cpu_budget;
    if (now >= wall_deadline_) return outcome::cancelled_wall_budget;
    return std::nullopt;
}

std::chrono::nanoseconds budget::cpu_left() const {
    return std::max(std::chrono::nanoseconds{0}, limits_.cpu - cpu_used_);
}

std::chrono::nanoseconds budget::wall_left(time_point now) const {
    if (wall_deadline_ == time_point::max()) return limits_.wall;
    return std::max(std::chrono::nanoseconds{0},
                    std::chrono::duration_cast<std::chrono::nanoseconds>(wall_deadline_ - now));
}

}  // namespace edged::lifecycle
