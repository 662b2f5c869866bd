#pragma once
// The edged process: I/O workers, the admin listener, and the graceful shutdown sequence.
//
// Threads: `server.threads` workers, each with its own io_context and listeners; one control
// thread (the caller of run()) that owns signals, the admin listener and shutdown timers.
//
// Shutdown (shutdown()): readiness turns 503 at once; after `shutdown.drain_delay` every worker
// closes its listeners, closes idle connections and lets busy ones finish their response (sent
// with Connection: close); when no connection is left, or when `shutdown.grace` (counted from
// the shutdown call) has passed, the remaining connections are closed, the workers stop and run()
// returns. The close is obviously complete: every worker reports drained, or is forced.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "server/admin/admin.hpp"
#include "server/net.hpp"
#include "server/router.hpp"
#include "server/server_state.hpp"

namespace edged::server {

class worker;

struct shutdown_summary {
    std::uint64_t requests = 0;
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_rejected = 0;
    std::uint64_t connections_forced = 0;  // still open when the grace ran out
    bool graceful = true;                  // every connection finished before the grace
    std::uint64_t tasks_pending = 0;       // background tasks running when shutdown began
    std::uint64_t tasks_drained = 0;       // background tasks that ended on their own since
    std::uint64_t tasks_cancelled = 0;     // cancelled:shutdown
    std::chrono::milliseconds drain_time{0};
};

class server {
public:
    // Builds the route table; throws std::runtime_error for a config it cannot serve.
    explicit server(config::config cfg);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Replaces a route's handler with one written in C++; only before start().
    void set_handler(std::string_view route, std::unique_ptr<lifecycle::handler> h);
    // Binds every listener (throws boost::system::system_error naming the address on failure)
    // and starts the I/O threads. Logs one line per listener.
    void start();
    // Runs the control loop on the calling thread until shutdown completes.
    void run();
    // Thread-safe; starts the graceful shutdown. Further calls do nothing.
    void shutdown();

    net::io_context& control() { return control_; }
    const std::vector<tcp::endpoint>& endpoints() const { return endpoints_; }
    tcp::endpoint admin_endpoint() const { return admin_endpoint_; }
    const server_state& state() const { return state_; }
    const shutdown_summary& summary() const { return summary_; }
    unsigned threads() const { return threads_; }

private:
    void on_worker_drained();
    void finish();

    config::config cfg_;
    unsigned threads_;
    std::shared_ptr<router> routes_;  // mutable until start(), then shared read-only
    server_state state_;
    net::io_context control_;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
    admin admin_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<tcp::endpoint> endpoints_;
    tcp::endpoint admin_endpoint_;

    // Shutdown state, touched only on the control thread.
    std::atomic<bool> shutdown_requested_{false};
    bool finished_ = false;
    unsigned drained_workers_ = 0;
    std::chrono::steady_clock::time_point shutdown_started_{};
    net::steady_timer drain_timer_;
    net::steady_timer grace_timer_;
    shutdown_summary summary_;
    std::uint64_t tasks_ended_at_start_ = 0, tasks_cancelled_at_start_ = 0;
};

// "0.0.0.0:8080", "[::1]:0" -> endpoint; throws std::invalid_argument.
tcp::endpoint to_endpoint(const config::listen_address& addr);

}  // namespace edged::server
