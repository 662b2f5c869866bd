#pragma once
// The lifecycle side of one I/O thread: the lifecycle pool, the request id generator, the
// thread's task counters and the process-wide task cap, where its requests are counted, the clock
// budgets read, the background lane, and the list of lifecycles in their background phase (so a
// shutdown can cancel their tasks), and the way to the process's worker pool. Each of those
// lifecycles holds the thread's shutdown gate, when one is given, until it closes.

#include <chrono>
#include <cstddef>

#include <boost/asio/io_context.hpp>
#include <boost/intrusive/list.hpp>

#include "lifecycle/background_lane.hpp"
#include "lifecycle/budget.hpp"
#include "lifecycle/fetch.hpp"
#include "lifecycle/gate.hpp"
#include "lifecycle/outcome.hpp"
#include "lifecycle/pool/worker_pool.hpp"
#include "lifecycle/request_id.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "lifecycle/stats.hpp"

namespace edged::lifecycle {

class runtime {
public:
    runtime(boost::asio::io_context& ioc, task_counters& counters, std::size_t max_background_tasks,
            clock_source& clock = system_clock_source::instance(),
            unsigned background_share = background_lane::default_share, gate* g = nullptr,
            task_cap* cap = nullptr);
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    boost::asio::io_context& context() { return ioc_; }
    task_counters& counters() { return counters_; }
    clock_source& clock() { return clock_; }
    lifecycle_pool& pool() { return pool_; }
    background_lane& lane() { return lane_; }
    id_generator& ids() { return ids_; }
    // The transport behind ctx.fetch (the server's upstream pools of this thread).
    void set_fetcher(fetcher* f) { fetcher_ = f; }
    fetcher* get_fetcher() const { return fetcher_; }
    // The process's worker pool behind ctx.offload, and how long an item may wait and run.
    struct offload_limits {
        std::chrono::nanoseconds queue_timeout;
        std::chrono::nanoseconds run_timeout;
    };
    void set_worker_pool(worker_pool* pool, const config::worker_pool_config& cfg) {
        worker_pool_ = pool;
        offload_limits_ = {cfg.queue_timeout, cfg.run_timeout};
    }
    worker_pool* get_worker_pool() const { return worker_pool_; }
    const offload_limits& get_offload_limits() const { return offload_limits_; }

    // Where this thread's requests count (lifecycle/stats.hpp): its slot index in every
    // per_thread figure, and the figures of requests no route matched. Without it (a runtime
    // of its own, in tests) they count in a slot the runtime keeps.
    void set_stats(std::size_t thread_index, route_metrics* unrouted) {
        thread_index_ = thread_index;
        unrouted_ = unrouted;
    }
    std::size_t thread_index() const { return thread_index_; }
    route_stats& stats_of(route_metrics* route) {
        if (route) return route->at(thread_index_);
        return unrouted_ ? unrouted_->at(thread_index_) : own_stats_;
    }

    // Process-wide cap on background tasks (accepted and not yet ended).
    bool try_reserve_task();
    void release_task();

    // Cancels the tasks of every lifecycle in its background phase on this thread with `reason`.
    void cancel_all(outcome reason);
    // Lifecycles of this thread in their background phase.
    std::size_t in_background() const { return background_count_; }

private:
    friend class request_lifecycle;
    void track(request_lifecycle& lc);
    void untrack(request_lifecycle& lc);

    boost::asio::io_context& ioc_;
    task_counters& counters_;
    std::size_t max_background_tasks_;
    clock_source& clock_;
    gate* gate_;
    task_cap own_cap_;
    task_cap& cap_;  // shared by every thread of the process, or own_cap_
    std::size_t thread_index_ = 0;
    route_metrics* unrouted_ = nullptr;
    route_stats own_stats_;
    id_generator ids_;
    boost::intrusive::list<request_lifecycle, boost::intrusive::constant_time_size<false>>
        background_;
    std::size_t background_count_ = 0;
    fetcher* fetcher_ = nullptr;
    worker_pool* worker_pool_ = nullptr;
    offload_limits offload_limits_{config::worker_pool_config{}.queue_timeout,
                                   config::worker_pool_config{}.run_timeout};
    lifecycle_pool pool_;  // after background_: its lifecycles unlink from it when destroyed
    // Last, so destroyed first: functions still queued (a stopped loop) may refer to lifecycles.
    background_lane lane_;
};

}  // namespace edged::lifecycle
