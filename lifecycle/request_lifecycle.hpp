#pragma once
// The per-request lifecycle object: receive -> handle -> flush -> drain -> close.
//
// Responsibilities: own the request's context; run the handler inside the context's scope (a
// throwing handler becomes a logged 500); keep the bounded list of wait_until tasks; after the
// flush, run them concurrently under the request's wall budget (from the flush) and CPU budget
// (charged per run segment by tracking_executor); cancel what is still running when a budget is
// spent or the process shuts down; record exactly one outcome per registered task; write one
// summary line per request that had background work; go back to its thread's pool.
//
// Invariants:
// - Phases only move forward. Tasks start only after flushed(): the response never waits for
//   background work.
// - Every wait_until call ends in exactly one counted outcome (rejections at once).
// - One task's failure never cancels another (all-settled). Cancellation is all-or-nothing and
//   happens only for a budget or shutdown, with that reason.
// - The lifecycle is recycled only when both its owner (the connection) has let go of it and
//   every task has ended, so nothing a finished request started still runs after close.
// - All of it runs on the owning I/O thread: no locks.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list_hook.hpp>

#include "lifecycle/budget.hpp"
#include "lifecycle/context.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/message.hpp"
#include "lifecycle/outcome.hpp"
#include "lifecycle/tracking_executor.hpp"

namespace edged::lifecycle {

class runtime;

// Per-route limits of one request's lifecycle.
struct lifecycle_limits {
    std::size_t max_wait_until = 16;
    std::size_t max_subrequests = 50;
    budget_limits budget;
};

class request_lifecycle final : public segment_sink,
                                public boost::intrusive::list_base_hook<
                                    boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    using clock = std::chrono::steady_clock;
    using executor = tracking_executor<boost::asio::io_context::executor_type>;
    enum class phase { idle, receiving, handling, responding, draining, closed };

    explicit request_lifecycle(runtime& rt);
    ~request_lifecycle();

    context& ctx() { return ctx_; }
    phase state() const { return phase_; }
    // An executor whose work is charged to this request and runs in its context.
    executor get_executor() { return executor(io_executor(), this); }

    // The request's header has been received at `at`.
    void begin(clock::time_point at, const lifecycle_limits& limits);
    // The matched route's limits (before the handler runs).
    void set_limits(const lifecycle_limits& limits);
    // Runs the handler in this request's context scope. Never throws: an exception becomes a
    // 500 response and an error log line with the request id.
    response handle(handler& h, const request& req);
    // The same for an asynchronous handler; spawn it on get_executor() so its segments run in
    // this request's context and are charged to it.
    boost::asio::awaitable<response> handle_async(handler& h, const request& req);
    // The response has been handed to the kernel at `at`: starts the registered tasks, or closes
    // at once when there are none.
    void flushed(clock::time_point at);
    // The same, reading the clock only when something is measured from the flush (background
    // work): a request without it closes at once. time_to_flush() is then not available.
    void flushed_now();
    // Ends the lifecycle without a flush (the connection died first): its tasks still run,
    // under the budget counted from now.
    void abandon();

    std::error_code wait_until(std::string name, boost::asio::awaitable<void> task);
    // Cancels every running task with `reason` (a cancelled:* outcome).
    void cancel(outcome reason);

    // Time from the start of the request's handling to the end of its handler. For a
    // synchronous handler it is taken (and charged to the CPU budget) on first need: when the
    // handler registered tasks, when after-actions ask for ${timing.handler_us}, or when the
    // drain starts; a request with no background work never reads the clock for it.
    std::chrono::microseconds handler_time();
    std::chrono::microseconds time_to_flush() const;  // from begin() to flushed()
    const budget& get_budget() const { return budget_; }
    std::size_t tasks_registered() const { return tasks_.size() + rejected_; }

    // segment_sink
    void begin_segment() noexcept override;
    void end_segment() noexcept override;
    background_lane* lane() noexcept override;

private:
    friend class lifecycle_pool;
    friend class runtime;
    friend class context;

    struct task {
        std::string name;
        std::optional<boost::asio::awaitable<void>> body;  // until started
        boost::asio::cancellation_signal cancel;
        std::optional<outcome> cancel_reason;
        bool running = false;
        bool ended = false;
    };

    boost::asio::io_context::executor_type io_executor() const;
    void start(task& t);
    void on_task_end(task& t, std::exception_ptr e);
    void reject(std::string_view name, std::error_code why);
    void start_drain(clock::time_point from);
    void maybe_close();
    void close();
    void settle_handler();
    void owner_released();
    void recycle();

    runtime& runtime_;
    context ctx_;
    std::uint64_t generation_ = 0;  // per request; stale timer and posted callbacks check it
    phase phase_ = phase::idle;
    lifecycle_limits limits_;
    budget budget_;
    std::vector<std::unique_ptr<task>> tasks_;
    std::size_t running_ = 0;
    std::size_t rejected_ = 0;
    std::array<std::uint32_t, outcome_count> outcomes_{};
    boost::asio::steady_timer wall_timer_;
    bool cancelling_ = false;
    bool owner_released_ = false;
    bool cpu_check_posted_ = false;
    bool handler_settled_ = false;  // handled_at_ is set and the handler's time charged
    bool recycle_after_segment_ = false;

    // Segment bookkeeping (tracking_executor): nesting depth, start, the scope it replaced.
    int segment_depth_ = 0;
    clock::time_point segment_start_{};
    const context* segment_previous_ = nullptr;

    clock::time_point received_at_{}, handler_started_{}, handled_at_{}, flushed_at_{};
};

// A per-thread free list of lifecycle objects: a request reuses the context (and its locals'
// capacity) of an earlier one instead of allocating.
class lifecycle_pool {
public:
    struct deleter {
        void operator()(request_lifecycle* lc) const;
    };
    using handle = std::unique_ptr<request_lifecycle, deleter>;

    explicit lifecycle_pool(runtime& rt) : runtime_(rt) {}
    ~lifecycle_pool();
    lifecycle_pool(const lifecycle_pool&) = delete;
    lifecycle_pool& operator=(const lifecycle_pool&) = delete;

    handle acquire();
    std::size_t idle() const { return free_.size(); }
    std::size_t live() const { return live_; }

private:
    friend class request_lifecycle;
    void recycle(request_lifecycle* lc);

    runtime& runtime_;
    std::vector<request_lifecycle*> free_;
    std::size_t live_ = 0;
    static constexpr std::size_t max_idle_ = 1024;
};

}  // namespace edged::lifecycle
