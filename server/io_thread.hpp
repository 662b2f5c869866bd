#pragma once
// One I/O thread: its own io_context, its own SO_REUSEPORT listeners, and every session they
// accept for its whole life (shared-nothing, like nginx workers), with the per-thread parts of
// the rest: the lifecycle runtime, the upstream pools, the dispatch, the session host.
//
// Responsibilities: accept (enforcing max_connections), keep the list of live sessions, sweep
// their timeouts, and run this thread's part of the shutdown.
//
// Shutdown, in one place (see also server::shut_down): shut_down() closes the listeners, tells
// every session to finish (idle ones close at once) and closes the thread's gate, which counts
// the open sessions and the lifecycles still running background tasks; `on_closed` runs when it
// is empty. stop() ends what is left — cancels every background task (cancelled:shutdown) and
// closes every session — then lets the loop run out and joins the thread.

#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/intrusive/list.hpp>

#include "config/config.hpp"
#include "lifecycle/gate.hpp"
#include "lifecycle/runtime.hpp"
#include "server/dispatch.hpp"
#include "server/generation.hpp"
#include "server/http/session.hpp"
#include "server/http/session_host.hpp"
#include "server/jobs/job_service.hpp"
#include "server/listener.hpp"
#include "server/net.hpp"
#include "server/router.hpp"
#include "server/server_state.hpp"
#include "server/upstream/health_check.hpp"

namespace edged::server {

// One I/O thread's own figures (one writer: the thread; see lifecycle/stats.hpp).
struct io_figures {
    lifecycle::owned_counter accepted;  // connections accepted, rejected ones included
    lifecycle::owned_counter rejected;  // over max_connections: 503 and closed
    lifecycle::owned_counter evicted;   // closed at max_connections while waiting for a head
    lifecycle::task_counters tasks;
};

class io_thread {
public:
    // Thread number `index` of the process, serving `boot` until use() gives another
    // generation. `jobs`: the process's job service, when routes have job handlers.
    io_thread(std::size_t index, std::shared_ptr<const generation> boot, server_state& state,
              lifecycle::worker_pool& pool, jobs::job_service* jobs = nullptr);
    ~io_thread();

    // Thread-safe: new requests (and new connections' limits and timeouts) follow `g` from
    // the thread's next turn; `done` then runs on the thread. Requests already begun keep theirs.
    void use(std::shared_ptr<const generation> g, std::function<void()> done = {});
    const io_figures& figures() const { return figures_; }

    // Opens a listener on `ep` with SO_REUSEPORT; returns the bound endpoint (port 0 resolved).
    tcp::endpoint listen(const tcp::endpoint& ep);
    // Starts accepting and the thread.
    void start();
    // Thread-safe: this thread's shutdown (above). `on_closed` runs on this thread.
    void shut_down(std::function<void()> on_closed);
    // Thread-safe: ends what is left and joins the thread.
    void stop();

private:
    void on_accept(tcp::socket socket, tcp::endpoint peer);
    void reject(tcp::socket socket);
    void arm_sweep();

    const std::size_t index_;
    server_state& state_;
    io_figures figures_;
    // The limits and timeouts sessions read (server.limits, server.timeouts), from the current
    // generation; replaced between turns of the loop, never under a running handler.
    config::server_config server_cfg_;
    // Before ioc_: a session still referenced by a queued handler leaves the gate and gives its
    // buffers back to the host when ioc_ is destroyed. (host_ only keeps references to ioc_ and
    // dispatch_, declared after it.)
    lifecycle::gate gate_;
    session_host host_;
    net::io_context ioc_;
    // After ioc_: lifecycles own timers on it. Destroyed only after ioc_.run() has returned, so
    // no handler that references them is left.
    std::unique_ptr<lifecycle::runtime> runtime_;
    // The generation the thread started with: job routes' exchanges use its upstreams (jobs.*
    // and their upstreams need a restart).
    thread_generation_ptr boot_;
    std::unique_ptr<jobs::job_worker> jobs_;  // null without a job service
    health_checker checks_;  // thread 0 runs every generation's active health checks
    route_dispatcher dispatch_;
    std::vector<std::unique_ptr<listener>> listeners_;
    using session_list =
        boost::intrusive::list<session, boost::intrusive::constant_time_size<false>>;
    session_list sessions_;
    net::steady_timer sweep_;
    bool sweeping_ = false;  // the sweep timer is armed
    bool stopping_ = false;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
    std::thread thread_;
};

}  // namespace edged::server
