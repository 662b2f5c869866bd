#pragma once
// One listening socket and its accept loop, for the public listeners (one per I/O thread and
// address, with SO_REUSEPORT) and the admin listener alike.
//
// An accept error other than the listener's own close (EMFILE, ENFILE, ENOBUFS, ...) is logged
// and followed by a pause of `backoff` before the next accept: the pending connection stays in
// the kernel's queue, so retrying at once would spin on the same error.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "server/net.hpp"

namespace edged::server {

class listener {
public:
    using accept_handler = std::function<void(tcp::socket, tcp::endpoint)>;
    static constexpr std::chrono::milliseconds default_backoff{50};

    // `name` says which listener a log line is about ("public", "admin").
    listener(net::io_context& ioc, std::string name);
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    // Opens, binds and listens on `ep` (SO_REUSEPORT when asked: several threads or processes may
    // share the address); returns the bound endpoint (port 0 resolved). Throws system_error.
    tcp::endpoint open(const tcp::endpoint& ep, bool reuse_port);
    // Accepts until close(), handing each connection and its peer to `on_accept` (on the
    // listener's io_context).
    void start(accept_handler on_accept, std::chrono::milliseconds backoff = default_backoff);
    // Stops accepting (also during a back-off pause); safe to call more than once. On the
    // listener's io_context.
    void close();

    // Accept errors seen (each followed by a back-off). Any thread may read it.
    std::uint64_t accept_errors() const { return accept_errors_.load(std::memory_order_relaxed); }

private:
    net::awaitable<void> accept_loop();

    net::io_context& ioc_;
    std::string name_;
    tcp::acceptor acceptor_;
    net::steady_timer pause_;  // the back-off after an accept error
    accept_handler on_accept_;
    std::chrono::milliseconds backoff_{default_backoff};
    std::atomic<std::uint64_t> accept_errors_{0};
};

}  // namespace edged::server
