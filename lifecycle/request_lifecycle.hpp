#pragma once
// The per-request lifecycle object: begin -> respond -> flushed -> background -> closed.
//
// Responsibilities: own the request's context, filled once by begin() from everything the request
// brings; run the route's handler inside the context's scope (a throwing handler becomes a logged
// 500, an asynchronous one past its timeout a 504) and then the route's response hook (the
// after-actions); keep the bounded list of wait_until tasks; after the flush, run them
// concurrently under the request's wall budget (from the flush) and CPU budget (charged per run
// segment by tracking_executor); cancel what is still running when a budget is spent or the
// process shuts down; record exactly one outcome per registered task; write one summary line per
// request that had background work; go back to its thread's pool.
//
// The server drives it with three calls — begin(), respond() or respond_async(), flushed() —
// from its dispatch (server/dispatch.*), never from the HTTP session.
//
// Invariants:
// - Phases only move forward. Tasks start only after flushed(): the response never waits for
//   background work.
// - Every wait_until call ends in exactly one counted outcome (rejections at once).
// - One task's failure never cancels another (all-settled). Cancellation is all-or-nothing and
//   happens only for a budget or shutdown, with that reason.
// - The lifecycle is recycled only when both its owner (the connection) has let go of it and
//   every task has ended, so nothing a finished request started still runs after close.
// - While it has background work it holds its thread's shutdown gate (runtime::gate).
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
#include <boost/smart_ptr/local_shared_ptr.hpp>

#include "lifecycle/budget.hpp"
#include "lifecycle/context.hpp"
#include "lifecycle/fetch.hpp"
#include "lifecycle/handler.hpp"
#include "lifecycle/limits.hpp"
#include "lifecycle/message.hpp"
#include "lifecycle/outcome.hpp"
#include "lifecycle/stats.hpp"
#include "lifecycle/tracking_executor.hpp"

namespace edged::lifecycle {

class runtime;

// What the lifecycle needs of the route a request matched; built once with the route table, which
// owns the handler and the hook and outlives every request.
struct route_binding {
    std::string name;
    std::string prefix;  // the route's prefix, or its exact path
    lifecycle::handler* handler = nullptr;
    const response_hook* after = nullptr;  // null when the route has no after-actions
    lifecycle_limits limits;
    route_metrics* metrics = nullptr;  // where its requests count (null: the runtime's own slot)
};

// Everything a request brings to its lifecycle, handed over once by begin(). The views need only
// last until the response has been produced (the context copies what tasks may read later).
struct request_start {
    std::chrono::steady_clock::time_point received;  // the end of the request head
    std::string_view incoming_id;                    // the request's one X-Request-Id, or empty
    std::string_view traceparent;                    // the incoming traceparent, or empty
    std::string_view method, path, query, host;      // the normalised target
    std::string_view peer;                           // the connection's peer address
    std::string_view client;  // the client behind a trusted proxy, or empty (the peer)
    bool peer_trusted = false;
    // The request body, when it is streamed to the handler (handler::streams_request_body).
    std::shared_ptr<body_source> body;
    const route_binding* route = nullptr;      // null when no route matched
    const lifecycle_limits* limits = nullptr;  // without a route: the defaults (null: built-in)
    // The config the request started under (its route table, handlers, upstreams), kept until
    // the lifecycle closes: a reload never changes what a request in flight, or one of its
    // background tasks, uses. `via`: that config's transport for ctx.fetch (null: the runtime's).
    boost::local_shared_ptr<const void> pin;
    fetcher* via = nullptr;
};

class request_lifecycle final : public segment_sink,
                                public boost::intrusive::list_base_hook<
                                    boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    using clock = std::chrono::steady_clock;
    using executor = tracking_executor<boost::asio::io_context::executor_type>;
    // background: the response is flushed and tasks run; closed: every task has ended.
    enum class phase { idle, receiving, handling, responding, background, closed };

    explicit request_lifecycle(runtime& rt);
    ~request_lifecycle();

    context& ctx() { return ctx_; }
    phase state() const { return phase_; }
    // An executor whose work is charged to this request and runs in its context.
    executor get_executor() { return executor(io_executor(), this); }

    // A new request: takes its id (the incoming one when safe, else a fresh one), target, peer,
    // trace parent, route and limits. The budgets start full.
    void begin(const request_start& start);
    // Runs the route's synchronous handler in this request's context scope, then the route's
    // response hook. Never throws: an exception becomes a 500 and an error log line.
    response respond(const request& req);
    // The same for an asynchronous handler: it runs on get_executor() (its segments in this
    // request's context and charged to it) under the route's handler timeout; past it the
    // handler is cancelled, with its subrequests, and the answer is 504.
    boost::asio::awaitable<response> respond_async(const request& req);
    // The connection is being closed under a running asynchronous handler (shutdown past its
    // grace): the handler is cancelled, with its subrequests and offloaded work, and
    // respond_async returns a 503 nobody reads. Does nothing when no handler is running.
    void cancel_handler();
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
    // handler registered tasks, when the response hook runs, or when the background phase
    // starts; a request with no background work never reads the clock for it.
    std::chrono::microseconds handler_time();
    std::chrono::microseconds time_to_flush() const;  // from begin() to flushed()
    const budget& get_budget() const { return budget_; }
    std::size_t tasks_registered() const { return tasks_.size() + rejected_; }
    // This request's figures on this thread (its route's, or those of requests no route matched).
    route_stats& stats() { return *stats_; }

    // Thread CPU time the request's offloaded work used on the worker pool: charged to its CPU
    // budget like any segment of its own.
    void charge_offloaded(std::chrono::nanoseconds cpu);

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
    boost::asio::awaitable<response> run_async_handler(const request& req);
    void after_response(const request& req, const response& res);
    void start(task& t);
    void on_task_end(task& t, std::exception_ptr e);
    void reject(std::string_view name, std::error_code why);
    void start_background(clock::time_point from);
    void maybe_close();
    void close();
    void settle_handler();
    void check_cpu_budget();
    void owner_released();
    void recycle();

    runtime& runtime_;
    context ctx_;
    const route_binding* route_ = nullptr;
    route_stats* stats_ = nullptr;
    boost::local_shared_ptr<const void> pin_;
    fetcher* fetcher_ = nullptr;
    std::uint64_t generation_ = 0;  // per request; stale timer and posted callbacks check it
    phase phase_ = phase::idle;
    lifecycle_limits limits_;
    budget budget_;
    std::vector<std::unique_ptr<task>> tasks_;
    std::size_t running_ = 0;
    std::size_t rejected_ = 0;
    std::array<std::uint32_t, outcome_count> outcomes_{};
    boost::asio::steady_timer wall_timer_;
    boost::asio::steady_timer* handler_stop_ = nullptr;  // while respond_async awaits a handler
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
