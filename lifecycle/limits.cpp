#include "lifecycle/limits.hpp"

namespace edged::lifecycle {

lifecycle_limits lifecycle_limits::of(const config::config& cfg,
                                      const config::lifecycle_overrides& r) {
    const auto& d = cfg.lifecycle;
    lifecycle_limits l;
    l.max_wait_until = r.max_wait_until.value_or(d.max_wait_until);
    l.max_subrequests = r.max_subrequests.value_or(d.max_subrequests);
    l.budget.wall = r.wall_budget.value_or(d.wall_budget);
    l.budget.cpu = r.cpu_budget.value_or(d.cpu_budget);
    l.handler_timeout = cfg.server.timeouts.handler;
    return l;
}

}  // namespace edged::lifecycle
