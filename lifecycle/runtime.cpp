#include "lifecycle/runtime.hpp"

namespace edged::lifecycle {

runtime::runtime(boost::asio::io_context& ioc, task_counters& counters,
                 std::size_t max_background_tasks, clock_source& clock, unsigned background_share,
                 gate* g, task_cap* cap)
    : ioc_(ioc),
      counters_(counters),
      max_background_tasks_(max_background_tasks),
      clock_(clock),
      gate_(g),
      cap_(cap ? *cap : own_cap_),
      ids_(id_generator::seeded()),
      pool_(*this),
      lane_(ioc, clock, background_share) {}

runtime::~runtime() = default;

bool runtime::try_reserve_task() {
    auto reserved = cap_.reserved.fetch_add(1, std::memory_order_relaxed);
    if (reserved >= static_cast<std::int64_t>(max_background_tasks_)) {
        cap_.reserved.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    counters_.running.add(1);
    return true;
}

void runtime::release_task() {
    cap_.reserved.fetch_sub(1, std::memory_order_relaxed);
    counters_.running.add(-1);
}

void runtime::cancel_all(outcome reason) {
    for (auto& lc : background_) lc.cancel(reason);
}

void runtime::track(request_lifecycle& lc) {
    background_.push_back(lc);
    ++background_count_;
    if (gate_) gate_->enter();
}

void runtime::untrack(request_lifecycle& lc) {
    if (!lc.is_linked()) return;
    lc.unlink();
    --background_count_;
    if (gate_) gate_->leave();
}

}  // namespace edged::lifecycle
