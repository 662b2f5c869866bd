#pragma once
// One I/O thread: its own io_context, its own SO_REUSEPORT listeners, and every connection they
// accept for their whole life (shared-nothing, like nginx workers).
//
// Responsibilities: accept (enforcing max_connections), keep the list of live connections, sweep
// their timeouts, drain them on shutdown, and own the per-thread pools the connections use.
//
// Draining on shutdown waits for both the connections and the background tasks of this thread;
// force_close() cancels the tasks (cancelled:shutdown) and closes the connections.

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/intrusive/list.hpp>

#include "config/config.hpp"
#include "lifecycle/request_id.hpp"
#include "lifecycle/request_lifecycle.hpp"
#include "lifecycle/runtime.hpp"
#include "server/http/buffer_pool.hpp"
#include "server/connection.hpp"
#include "server/http/http_date.hpp"
#include "server/net.hpp"
#include "server/router.hpp"
#include "server/server_state.hpp"
#include "server/upstream/upstream_set.hpp"

namespace edged::server {

class worker {
public:
    worker(unsigned index, const config::config& cfg, std::shared_ptr<const router> routes,
           server_state& state);
    ~worker();

    // Opens a listener on `ep` with SO_REUSEPORT; returns the bound endpoint (port 0 resolved).
    tcp::endpoint listen(const tcp::endpoint& ep);
    // Starts the thread. `on_drained` is called (on this worker's thread) once draining has
    // finished: listeners closed and no connection left.
    void start(std::function<void()> on_drained);
    // Thread-safe: stop accepting, let busy connections finish, close idle ones.
    void begin_drain();
    // Thread-safe: close every connection now.
    void force_close();
    // Thread-safe: stop the thread and join it.
    void stop();

    // --- used by connections (on this worker's thread) ---
    const config::config& cfg() const { return cfg_; }
    const router& routes() const { return *routes_; }
    lifecycle::runtime& runtime() { return *runtime_; }
    upstream_set& upstreams() { return *upstreams_; }
    const lifecycle::lifecycle_limits& default_limits() const { return default_limits_; }
    lifecycle::id_generator& ids() { return ids_; }
    http_date& date() { return date_; }
    buffer_pool& buffers() { return buffers_; }
    server_state& state() { return state_; }
    bool draining() const { return draining_; }
    net::io_context& context() { return ioc_; }
    void connection_closed();
    // Reads completed by this thread's connections (read_pacing: was anyone else served?).
    std::uint64_t reads() const { return reads_; }
    void count_read() { ++reads_; }
    // Refreshed by every sweep (and when an accept wakes the sweep); for deadlines that
    // tolerate one sweep interval of error.
    std::chrono::steady_clock::time_point coarse_now() const { return coarse_now_; }
    // Resolution of every connection timeout: the sweep runs this often while the thread has
    // connections, and not at all while it has none.
    static constexpr std::chrono::milliseconds sweep_interval{100};

private:
    net::awaitable<void> accept_loop(tcp::acceptor& acceptor);
    void reject(tcp::socket socket);
    void arm_sweep();
    void check_drained();

    unsigned index_;
    const config::config& cfg_;
    std::shared_ptr<const router> routes_;
    server_state& state_;
    lifecycle::lifecycle_limits default_limits_;
    lifecycle::id_generator ids_;
    http_date date_;
    // Before ioc_: connections still referenced by queued handlers give their buffers back when
    // ioc_ is destroyed.
    buffer_pool buffers_;
    std::chrono::steady_clock::time_point coarse_now_ = std::chrono::steady_clock::now();
    std::uint64_t reads_ = 0;
    bool sweeping_ = false;  // the sweep timer is armed
    bool draining_ = false;
    bool stopping_ = false;
    bool drained_notified_ = false;
    std::function<void()> on_drained_;
    using connection_list =
        boost::intrusive::list<connection, boost::intrusive::constant_time_size<false>>;
    connection_list connections_;

    net::io_context ioc_;
    // After ioc_: lifecycles own timers on it. Destroyed only after ioc_.run() has returned, so
    // no handler that references them is left.
    std::unique_ptr<lifecycle::runtime> runtime_;
    std::unique_ptr<upstream_set> upstreams_;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
    net::steady_timer sweep_;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
    std::thread thread_;
};

}  // namespace edged::server
