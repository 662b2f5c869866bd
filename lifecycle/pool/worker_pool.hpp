#pragma once
// The worker pool: threads for CPU-heavy work, so that it never runs on an I/O thread (the idea
// of the npm `workerpool` library: reuse of threads, a maximum, idle timeouts, cancellation,
// stats). One pool per process; context::offload (lifecycle/context.hpp, lifecycle/offload.cpp)
// is how requests use it.
//
// Responsibilities and invariants:
// - Threads start on demand, when an item is queued and no thread is idle, up to max_threads;
//   a thread above min_threads exits after idle_timeout without work. Pool threads run pool items
//   only: they never run an I/O thread's handlers and never touch a connection.
// - The queue is bounded: submit() past it refuses the item at once (counted `rejected`).
// - Each item has its own stop source. cancel() acts on that item only: a queued item is removed
//   and never runs; a running one has its stop token fired. A cancel that arrives after the item
//   ended finds it `done` and does nothing, so it can never reach the next item on that thread.
// - An item's function and whatever it captured live until it returns, even when its caller
//   stopped waiting; when it returns, its `on_done` runs on the pool thread (the caller's side
//   posts from there to its own thread).
// - Every item offered is counted once: refused ones as `rejected`; the others as `submitted`,
//   and again when they end, as completed, failed (it threw), cancelled or timed_out. A running
//   item whose stop token fired ends (and is counted) when it returns, so at any moment
//   submitted = completed + failed + cancelled + timed_out + queued + busy. One that was
//   cancelled while running and took longer than `overrun_after` to return is also counted (and
//   logged) as overrunning its cancel.
// - stop() removes what is queued (cancelled), fires every running item's token and joins the
//   threads.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace edged::lifecycle {

class worker_pool {
public:
    using clock = std::chrono::steady_clock;
    // A cancelled item that takes longer than this to return is overrunning its cancel.
    static constexpr std::chrono::milliseconds overrun_after{100};

    struct settings {
        unsigned min_threads = 0;
        unsigned max_threads = 4;
        std::chrono::milliseconds idle_timeout{30000};
        std::size_t queue = 1024;
        int nice = 10;  // applied to each pool thread (Linux: per thread)
    };

    enum class state : std::uint8_t { queued, running, done, cancelled };
    enum class cancel_reason : std::uint8_t { cancelled, timed_out };

    class item {
    public:
        // Read by on_done (after the function returned) or by the caller's side once done.
        std::exception_ptr error;         // what the function threw, if anything
        std::chrono::nanoseconds cpu{0};  // thread CPU time it used
        // When it started running (zero while queued); any thread may read it.
        clock::time_point started_at() const {
            return clock::time_point(clock::duration(started_.load(std::memory_order_acquire)));
        }

    private:
        friend class worker_pool;
        std::function<void(std::stop_token)> fn_;
        std::function<void(item&)> on_done_;
        std::stop_source stop_;
        state state_ = state::queued;  // guarded by the pool's mutex
        std::atomic<clock::rep> started_{0};
        clock::time_point stop_requested_{};               // guarded by the pool's mutex
        cancel_reason reason_ = cancel_reason::cancelled;  // why its token fired; likewise
    };
    using item_ptr = std::shared_ptr<item>;

    struct stats {
        std::size_t threads = 0, busy = 0, idle = 0, queued = 0;
        std::uint64_t submitted = 0;  // accepted into the queue
        std::uint64_t completed = 0, failed = 0, cancelled = 0, timed_out = 0, rejected = 0;
        std::uint64_t overrun = 0;
        double cpu_seconds = 0;
    };

    explicit worker_pool(settings s);
    ~worker_pool();
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    // Queues `fn`; `on_done` runs on the pool thread after it returned. Null when the queue is
    // full or the pool has stopped (counted rejected).
    item_ptr submit(std::function<void(std::stop_token)> fn, std::function<void(item&)> on_done);
    // See above. Returns the state the item was in: queued (now removed, on_done never runs),
    // running (its token fired, unless `queued_only`), done or cancelled (nothing happened).
    state cancel(item& it, cancel_reason why = cancel_reason::cancelled, bool queued_only = false);
    // Removes the queued items, fires the running items' tokens, joins every thread.
    void stop();

    stats get_stats() const;

private:
    struct thread_slot {
        std::thread thread;
        bool exited = false;  // set (under mutex_) as the thread's last act: join is instant
    };
    void run_thread(thread_slot& self);
    void start_thread_locked();
    void count_cancelled_locked(cancel_reason why);

    settings settings_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<item_ptr> queue_;
    std::vector<item_ptr> running_;
    std::list<thread_slot> threads_;  // exited ones are joined when the next thread starts
    std::size_t live_threads_ = 0, idle_threads_ = 0;
    bool stopping_ = false;
    stats counts_;  // the counters part; gauges are computed in get_stats()
    std::int64_t cpu_ns_ = 0;
};

}  // namespace edged::lifecycle
