#pragma once
// Errors the handler API reports to its callers (wait_until, fetch).

#include <system_error>

namespace edged::lifecycle {

enum class errc {
    wait_until_overflow = 1,  // more than lifecycle.max_wait_until tasks for this request
    background_full,          // lifecycle.max_background_tasks tasks already running
    subrequest_overflow,      // more than lifecycle.max_subrequests for this request
    lifecycle_closed,         // the request's lifecycle has already closed
    unknown_upstream,
    upstream_busy,          // no upstream connection came free within the upstream's timeout
    no_healthy_upstream,    // every address of the upstream is ejected or failed its check
    no_worker_pool,         // ctx.offload without a worker pool (an embedding without one)
    offload_rejected,       // the worker pool's queue is full
    offload_cancelled,      // the awaiting side was cancelled (budget, timeout, shutdown)
    offload_queue_timeout,  // not started within worker_pool.queue_timeout: it never runs
    offload_run_timeout,    // ran past worker_pool.run_timeout: its stop token fired
};

const std::error_category& lifecycle_category();
inline std::error_code make_error_code(errc e) {
    return {static_cast<int>(e), lifecycle_category()};
}

}  // namespace edged::lifecycle

template <>
struct std::is_error_code_enum<edged::lifecycle::errc> : std::true_type {};
