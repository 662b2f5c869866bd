#pragma once
// The edged process: the I/O threads, the admin listener, and the graceful shutdown.
//
// Threads: `server.threads` I/O threads, each with its own io_context and listeners; one control
// thread (the caller of run()) that owns signals, the admin listener and the shutdown sequence.
//
// Shutdown (shut_down(), a coroutine on the control thread, reads top to bottom): readiness turns
// 503 at once; after `shutdown.drain_delay` every I/O thread closes its listeners and its gate
// (idle sessions close, busy ones finish their response with Connection: close, background
// tasks run on); when every gate is empty, or when `shutdown.grace` (counted from the signal,
// drain_delay included) has passed, the I/O threads are stopped — what is left is closed and
// its tasks cancelled as cancelled:shutdown, with the offloaded work they await — then the
// worker pool (what is still queued is cancelled, running items' tokens fire, its threads are
// joined) and run() returns.
//
// Reload (reload(), on the control thread, for SIGHUP): the file is read and checked again; an
// invalid one changes nothing (every error logged, counted as a reload error). A valid one
// becomes the next generation (server/generation.hpp): each I/O thread serves its next requests
// with it — routes, handlers, upstreams, budgets, after-actions, server.limits and
// server.timeouts, log.*, shutdown.* — while requests in flight, and their background tasks,
// finish under the generation they began with. Keys the running process cannot change
// (restart_keys) keep their running values, and the log line names them.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "lifecycle/outcome.hpp"
#include "lifecycle/pool/worker_pool.hpp"
#include "server/admin/admin.hpp"
#include "server/admin/figures.hpp"
#include "server/generation.hpp"
#include "server/jobs/job_service.hpp"
#include "server/listener.hpp"
#include "server/net.hpp"
#include "server/router.hpp"
#include "server/server_state.hpp"

namespace edged::server {

class io_thread;

struct shutdown_summary {
    std::uint64_t requests = 0;
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_rejected = 0;
    std::uint64_t connections_forced = 0;  // still open when the grace ran out
    bool graceful = true;                  // every connection finished before the grace
    // From the lifecycle's tally (lifecycle::shutdown_tally):
    std::uint64_t tasks_pending = 0;    // background tasks running when shutdown began
    std::uint64_t tasks_drained = 0;    // background tasks that ended on their own since
    std::uint64_t tasks_cancelled = 0;  // cancelled:shutdown
    // Offloaded work (ctx.offload) on the worker pool: queued and running when shutdown began,
    // submitted since, and how items ended from then until the pool stopped. Each is counted
    // once: queued + running + submitted = completed + failed + cancelled.
    std::uint64_t offload_queued = 0, offload_running = 0, offload_submitted = 0;
    std::uint64_t offload_completed = 0, offload_failed = 0, offload_cancelled = 0;
    std::chrono::milliseconds drain_time{0};
};

// What one reload did.
struct reload_result {
    bool ok = false;
    std::vector<std::string> errors;          // why it was refused (ok false)
    std::vector<std::string> restart_needed;  // changed keys that keep their running value
    std::uint64_t generation = 0;             // serving new requests afterwards
};

// The keys a reload cannot change (they shape threads, sockets and the process-wide pools).
inline constexpr std::array<std::string_view, 7> restart_keys = {"server.listen",
                                                                 "server.threads",
                                                                 "admin",
                                                                 "worker_pool",
                                                                 "jobs",
                                                                 "lifecycle.max_background_tasks",
                                                                 "lifecycle.background_share"};

class server {
public:
    // Builds the route table; throws std::runtime_error for a config it cannot serve.
    explicit server(config::config cfg);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Replaces a route's handler with one written in C++ (for programs that embed edged); only
    // before start(). It stays the route's handler across reloads.
    void set_handler(std::string_view route, std::unique_ptr<lifecycle::handler> h);
    // Control thread (or before start()): reads `path` and applies it as above, logging the
    // outcome. Never throws.
    reload_result reload(const std::string& path);
    // The same with a config already loaded and checked.
    reload_result reload(config::config next);
    // Binds every listener (throws boost::system::system_error naming the address on failure)
    // and starts the I/O threads. Logs one line per listener.
    void start();
    // Runs the control loop on the calling thread until shutdown completes.
    void run();
    // Thread-safe; starts the graceful shutdown (shut_down()). Further calls do nothing.
    void shutdown();

    net::io_context& control() { return control_; }
    const std::vector<tcp::endpoint>& endpoints() const { return endpoints_; }
    tcp::endpoint admin_endpoint() const { return admin_endpoint_; }
    const server_state& state() const { return state_; }
    // The generation new requests are served with.
    std::shared_ptr<const generation> current() const;
    const shutdown_summary& summary() const { return summary_; }
    unsigned threads() const { return threads_; }
    // Accept errors of the admin listener (each one followed by a back-off).
    std::uint64_t admin_accept_errors() const { return admin_listener_.accept_errors(); }

    // The figures /stats and /metrics show (any thread).
    figures snapshot() const;
    // What /stats answers (any thread).
    nlohmann::json stats() const { return to_json(snapshot()); }

private:
    net::awaitable<void> shut_down();
    // `before`: the generation a reload replaces (upstream health carries over), or none.
    std::shared_ptr<generation> build(config::config cfg, std::uint64_t number,
                                      const generation* before = nullptr);

    const config::config boot_;  // as started: the source of every restart key
    unsigned threads_;
    server_state state_;
    std::unique_ptr<jobs::job_service> jobs_;  // before the generations: job routes refer to it
    // Handlers given by set_handler, applied to every generation.
    std::vector<std::pair<std::string, std::shared_ptr<lifecycle::handler>>> overrides_;
    mutable std::mutex current_mutex_;     // current_ is read by snapshot() on any thread
    std::shared_ptr<generation> current_;  // mutable until start() (set_handler), then read-only
    std::atomic<std::uint64_t> reloads_ok_{0}, reloads_error_{0};
    net::io_context control_;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
    admin admin_;
    listener admin_listener_;
    std::vector<std::unique_ptr<io_thread>> io_threads_;
    // After io_threads_, so destroyed (stopped and joined) first: a pool thread may still post a
    // completion to an I/O thread's loop, which must exist (stopped is fine).
    std::unique_ptr<lifecycle::worker_pool> pool_;
    std::vector<tcp::endpoint> endpoints_;
    tcp::endpoint admin_endpoint_;

    std::atomic<bool> shutdown_requested_{false};
    // Touched only by shut_down(), on the control thread.
    std::size_t open_gates_ = 0;
    net::steady_timer gates_closed_;  // cancelled when the last I/O thread's gate is empty
    shutdown_summary summary_;
};

// "0.0.0.0:8080", "[::1]:0" -> endpoint; throws std::invalid_argument.
tcp::endpoint to_endpoint(const config::listen_address& addr);

}  // namespace edged::server
