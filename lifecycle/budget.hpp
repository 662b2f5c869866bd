#pragma once
// The post-response budget of one request: wall time from the flush, and CPU time spent on
// behalf of the request. Pure logic over an injected clock, so tests drive time by hand.

#include <chrono>
#include <optional>

#include "config/config.hpp"
#include "lifecycle/outcome.hpp"

namespace edged::lifecycle {

// Where budgets read time. The server uses system_clock_source; tests use a manual one.
class clock_source {
public:
    using time_point = std::chrono::steady_clock::time_point;
    virtual ~clock_source() = default;
    virtual time_point now() = 0;
};

class system_clock_source final : public clock_source {
public:
    time_point now() override { return std::chrono::steady_clock::now(); }
    static system_clock_source& instance();
};

// Defaults are config's (lifecycle.wall_budget, lifecycle.cpu_budget), written once, there.
struct budget_limits {
    std::chrono::nanoseconds wall{config::lifecycle_config{}.wall_budget};
    std::chrono::nanoseconds cpu{config::lifecycle_config{}.cpu_budget};
};

class budget {
public:
    using time_point = clock_source::time_point;

    explicit budget(budget_limits limits = {}) : limits_(limits) {}
    void reset(budget_limits limits);

    // The wall budget runs from here (the response's flush).
    void start_wall(time_point flushed_at) { wall_deadline_ = flushed_at + limits_.wall; }
    // Adds CPU spent on behalf of the request (handler, tasks, completions).
    void charge(std::chrono::nanoseconds cpu) { cpu_used_ += cpu; }

    // The budget that has run out at `now`, if any; CPU is checked first.
    std::optional<outcome> exhausted(time_point now) const;
    bool cpu_exhausted() const { return cpu_used_ > limits_.cpu; }

    time_point wall_deadline() const { return wall_deadline_; }
    std::chrono::nanoseconds cpu_used() const { return cpu_used_; }
    std::chrono::nanoseconds cpu_left() const;
    std::chrono::nanoseconds wall_left(time_point now) const;
    const budget_limits& limits() const { return limits_; }

private:
    budget_limits limits_;
    time_point wall_deadline_ = time_point::max();
    std::chrono::nanoseconds cpu_used_{0};
};

}  // namespace edged::lifecycle
