#pragma once
// What the sessions of one I/O thread share, owned by that thread (server/io_thread.*): its event
// loop, the server settings, the dispatcher, the shutdown gate, pooled buffers, the cached Date
// and a coarse clock. Not thread-safe: everything here is touched only on that thread.

#include <atomic>
#include <chrono>
#include <cstdint>

#include <boost/intrusive/list.hpp>

#include "config/config.hpp"
#include "lifecycle/gate.hpp"
#include "server/http/buffer_pool.hpp"
#include "server/http/dispatcher.hpp"
#include "server/http/http_date.hpp"
#include "server/net.hpp"

namespace edged::server {

// A session still waiting for a request head: the first on its connection, or one whose head
// has begun to arrive. At max_connections these give way to a new connection, the one waiting
// longest first (io_thread::on_accept), so connections that trickle headers (slowloris) cannot
// hold every slot while a well-behaved client is turned away.
struct head_waiter_tag;
using head_waiter_hook =
    boost::intrusive::list_base_hook<boost::intrusive::tag<head_waiter_tag>,
                                     boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
struct head_waiter : head_waiter_hook {
    virtual void give_way() = 0;  // closes the connection at once

protected:
    ~head_waiter() = default;
};
using head_waiter_list =
    boost::intrusive::list<head_waiter, boost::intrusive::base_hook<head_waiter_hook>,
                           boost::intrusive::constant_time_size<false>>;

struct session_host {
    using clock = std::chrono::steady_clock;
    // Resolution of every session timeout: the thread's sweep runs this often while it has
    // sessions, and not at all while it has none.
    static constexpr std::chrono::milliseconds sweep_interval{100};

    session_host(net::io_context& ioc, const config::server_config& cfg, dispatcher& dispatch,
                 lifecycle::gate& gate, std::atomic<std::uint64_t>& open_sessions)
        : ioc(ioc), cfg(cfg), dispatch(dispatch), gate(gate), open_sessions(open_sessions) {}

    net::io_context& ioc;
    const config::server_config& cfg;  // limits and timeouts
    dispatcher& dispatch;
    lifecycle::gate& gate;  // every session holds it while it lives
    // Process-wide: counted in by the thread that accepts, out by the session when it ends.
    std::atomic<std::uint64_t>& open_sessions;
    buffer_pool buffers;
    http_date date;
    // Refreshed by every sweep (and when an accept wakes the sweep); for deadlines that
    // tolerate one sweep interval of error.
    clock::time_point coarse_now = clock::now();
    // Reads completed by this thread's sessions (read_pacing: was anyone else served?).
    std::uint64_t reads = 0;
    // The process is shutting down: finish the response in progress, then close.
    bool shutting_down = false;
    // This thread's sessions waiting for a request head, longest waiting first.
    head_waiter_list head_waiters;
};

}  // namespace edged::server
